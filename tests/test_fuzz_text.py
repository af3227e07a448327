"""Fuzzing the text pipeline with arbitrary unicode: tokenizer, vocabulary, cleaners, encoding, .npz cache."""

import os
import tempfile

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import numpy as np
import pytest

from faithjax import FaithjaxError
from faithjax.data import corpora
from faithjax.data import encode
from faithjax.data import text

FAST = settings(max_examples=150, deadline=None)

# Arbitrary unicode (hypothesis leaves out surrogates, which no decoded file holds),
# mixed with fragments the cleaners treat specially so their branches are reached.
FRAGMENTS = ['<br />', '-LRB-', '-RRB-', '\\/', "'s", '``', "''", ' #39;', ' quot;', '&amp;', '&#8364;', '<b>',
             '\\', '1,900', '3.5', '42', '\n', '\n\n', '\n--\n', '> quoted', '| quoted', 'In article <x@y>',
             'he writes:', 'Subject: x', '\u2028', '\x85', '\t', ' ', "don't", 'İ', 'ΑΣ', '٣', '²']
raw_texts = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=12), max_size=25).map(''.join)

# Token lists as the pipeline makes them: word tokens, often repeated across documents.
COMMON = ['the', 'film', 'is', 'good', 'bad', 'qqq', "isn't", 'é', '日本']
tokens = st.lists(st.sampled_from(COMMON) | st.text(max_size=10).map(text.tokenize).filter(bool).map(lambda t: t[0]),
                  max_size=30)
documents = st.lists(tokens, max_size=12)


def is_word_token(token):
  return isinstance(token, str) and token != '' and not any(c.isspace() for c in token)


# ----------------------------------------------------------------------------- tokenizer and vocabulary

@FAST
@given(raw_texts)
def test_tokenize_gives_lowercase_word_tokens_and_is_stable(raw):
  tokens = text.tokenize(raw)
  assert all(is_word_token(t) and t == t.lower() for t in tokens)
  assert text.tokenize(' '.join(tokens)) == tokens  # tokenizing its own output changes nothing


@FAST
@given(documents, documents, st.integers(1, 3))
def test_vocabulary_round_trips_known_words_and_maps_unknown_to_unk(train, other, min_df):
  vocab = text.Vocabulary.build(train, min_df)
  assert vocab.words[:2] == [text.PAD, text.UNK] and len(set(vocab.words)) == len(vocab)
  df = {w: sum(w in set(d) for d in train) for d in train for w in d}
  assert set(vocab.words[2:]) == {w for w, n in df.items() if n >= min_df}
  for doc in train + other:
    ids = vocab.encode(doc)
    assert len(ids) == len(doc) and all(0 < i < len(vocab) for i in ids)  # PAD 0 is never a real token
    assert [i == text.UNK_ID for i in ids] == [t not in vocab.index for t in doc]
    assert [w for w, i in zip(vocab.decode(ids), ids) if i != text.UNK_ID] == [t for t in doc if t in vocab.index]


@FAST
@given(st.lists(st.sampled_from([text.PAD, text.UNK]) | st.text(max_size=6), max_size=10))
def test_no_token_string_encodes_to_pad(doc):
  # Another tokenizer may well emit '<pad>': it must not turn a real token into padding.
  vocab = text.Vocabulary.build([doc])
  assert text.PAD_ID not in vocab.encode(doc)


# ----------------------------------------------------------------------------- corpus cleaners

@pytest.mark.parametrize('clean', [corpora.clean_imdb, corpora.clean_sst, corpora.clean_ag_news,
                                   corpora.clean_newsgroup, corpora.qqq_tokens], ids=lambda f: f.__name__)
@FAST
@given(raw=raw_texts)
def test_cleaners_give_non_empty_tokens_without_whitespace(clean, raw):
  tokens = clean(raw)
  assert isinstance(tokens, list) and all(is_word_token(t) for t in tokens)


@FAST
@given(raw_texts)
def test_qqq_tokens_leave_no_digit(raw):
  assert all(t == 'qqq' or not any(c.isdigit() for c in t) for t in corpora.qqq_tokens(raw))


# ----------------------------------------------------------------------------- encoding and the .npz cache

def raw_splits(data, with_rationales):
  """{split: (docs, labels[, rationales])} drawn from `data`."""
  out = {}
  for split in encode.SPLITS:
    docs = data.draw(documents, label=split)
    labels = data.draw(st.lists(st.integers(0, 1), min_size=len(docs), max_size=len(docs)))
    rationales = [data.draw(st.lists(st.booleans(), min_size=len(d), max_size=len(d))) for d in docs]
    out[split] = (docs, labels, rationales) if with_rationales else (docs, labels)
  return out


@FAST
@given(st.data(), st.none() | st.integers(1, 20), st.booleans())
def test_encode_corpus_truncates_exactly_at_max_len(data, max_len, with_rationales):
  raw = raw_splits(data, with_rationales)
  corpus, truncated = encode.encode_corpus('fuzz', raw, max_len=max_len)
  vocab = text.Vocabulary(corpus.vocab)
  limit = max_len or float('inf')
  for split in encode.SPLITS:
    docs, labels, *rationales = raw[split]
    encoded = corpus.splits[split]
    assert truncated[split] == sum(len(d) > limit for d in docs)
    assert encoded.lengths.tolist() == [min(len(d), limit) for d in docs]
    for i, doc in enumerate(docs):
      ids = encoded.ids[encoded.offsets[i]:encoded.offsets[i + 1]].tolist()
      assert ids == vocab.encode(doc[:len(ids)])  # a prefix of the document, nothing else
      if rationales:
        assert encoded.rationale[encoded.offsets[i]:encoded.offsets[i + 1]].tolist() == rationales[0][i][:len(ids)]
    assert encoded.labels.tolist() == list(labels)


@settings(max_examples=20, deadline=None)
@given(st.integers(-5, 0))
def test_encode_corpus_refuses_a_max_len_below_one(max_len):
  raw = {split: ([['a', 'b']], [0]) for split in encode.SPLITS}
  with pytest.raises(FaithjaxError, match='max_len'):
    encode.encode_corpus('fuzz', raw, max_len=max_len)


def assert_identical(a, b):
  assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# numpy str arrays drop trailing NUL characters, so a name (or word) ending in one would not
# come back; corpus names are CORPORA keys and words come from the tokenizers, which emit no NUL.
@settings(max_examples=60, deadline=None)
@given(st.data(), st.booleans(), st.text(min_size=1, max_size=12).filter(lambda s: not s.endswith('\0')))
def test_encoded_corpus_save_load_is_bit_identical(data, with_rationales, name):
  corpus, _ = encode.encode_corpus(name, raw_splits(data, with_rationales), max_len=16)
  with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, 'corpus.npz')
    corpus.save(path)
    loaded = encode.EncodedCorpus.load(path)
  assert loaded.name == corpus.name and loaded.vocab == corpus.vocab
  for split in encode.SPLITS:
    a, b = corpus.splits[split], loaded.splits[split]
    for field in ('ids', 'offsets', 'labels'):
      assert_identical(getattr(a, field), getattr(b, field))
    assert (a.rationale is None) == (b.rationale is None)
    if a.rationale is not None:
      assert_identical(a.rationale, b.rationale)
