"""Tokenisation and the vocabulary (built from the training split only)."""

import collections
import contextlib
import contextvars
import re
from typing import Iterable, Iterator, Sequence

PAD, UNK = '<pad>', '<unk>'
PAD_ID, UNK_ID = 0, 1

_WORD = re.compile(r"\w+(?:'\w+)?", re.UNICODE)
# With punctuation: every other non-space character is a token of its own ('!', ',', '.'), as spaCy's tokens
# keep punctuation (Jain & Wallace's preprocess/vectorizer.py `cleaner`); runs such as '...' give one per mark.
_WORD_OR_MARK = re.compile(r"\w+(?:'\w+)?|[^\w\s]", re.UNICODE)
_PUNCTUATION = contextvars.ContextVar('punctuation', default=False)


@contextlib.contextmanager
def keeping_punctuation(keep: bool = True) -> Iterator[None]:
  """Within the block, `tokenize` (and so every corpus cleaner) keeps punctuation marks as tokens
  (RunConfig.punctuation; the encode stage enters it)."""
  token = _PUNCTUATION.set(keep)
  try:
    yield
  finally:
    _PUNCTUATION.reset(token)


def tokenize(text: str, punctuation: bool | None = None) -> list[str]:
  """Lowercased word tokens: runs of word characters, keeping inner apostrophes; with `punctuation` (default:
  the enclosing `keeping_punctuation`, else False) each punctuation mark is a token too."""
  keep = _PUNCTUATION.get() if punctuation is None else punctuation
  return (_WORD_OR_MARK if keep else _WORD).findall(text.lower())


class Vocabulary:
  """Maps tokens to ids: PAD 0, UNK 1, then words by falling document frequency."""

  def __init__(self, words: Iterable[str]):
    self.words = list(words)
    if self.words[:2] != [PAD, UNK]:
      raise ValueError(f'a vocabulary starts with {PAD!r}, {UNK!r}; got {self.words[:2]}')
    # PAD is left out: a real token spelt '<pad>' (by another tokenizer) becomes UNK, never padding
    self.index = {w: i for i, w in enumerate(self.words) if i != PAD_ID}

  @classmethod
  def build(cls, documents: Iterable[list[str]], min_df: int = 1) -> 'Vocabulary':
    """`documents`: token lists; words in at least `min_df` documents are kept."""
    df = collections.Counter()
    for tokens in documents:
      df.update(set(tokens))
    kept = sorted((w for w, c in df.items() if c >= min_df), key=lambda w: (-df[w], w))
    return cls([PAD, UNK] + [w for w in kept if w not in (PAD, UNK)])

  def __len__(self) -> int:
    return len(self.words)

  def encode(self, tokens: Sequence[str]) -> list[int]:
    """Token ids, UNK for a word outside the vocabulary."""
    return [self.index.get(t, UNK_ID) for t in tokens]

  def decode(self, ids: Sequence[int]) -> list[str]:
    """The words of `ids`."""
    return [self.words[i] for i in ids]
