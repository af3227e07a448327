"""Encoded corpora: ragged ids on disk, length-bucketed padded batches in memory.

An encoded corpus is plain numpy (ids, offsets, labels, vocabulary), cached as
one `.npz` so a machine with only numpy + jax can run every later stage.
"""

import dataclasses
import hashlib
import os
from typing import Mapping, Sequence

import numpy as np

from faithjax import FaithjaxError
from faithjax import io
from faithjax.data import text

SPLITS = ('train', 'valid', 'test')
MIN_WIDTH = 8


@dataclasses.dataclass
class EncodedSplit:
  """One split. `ids` is flat int32; example i is ids[offsets[i]:offsets[i+1]]."""
  ids: np.ndarray
  offsets: np.ndarray
  labels: np.ndarray
  rationale: np.ndarray | None = None  # flat bool beside ids, synthetic corpus only

  @classmethod
  def from_lists(cls, id_lists: Sequence[Sequence[int]], labels: Sequence[int] | np.ndarray,
                 rationales: Sequence[Sequence[bool]] | None = None) -> 'EncodedSplit':
    """A split of the documents `id_lists` (their ids), labels [n] and, optionally, rationale masks beside them."""
    lengths = np.array([len(x) for x in id_lists], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat = np.fromiter((i for x in id_lists for i in x), np.int32, count=int(offsets[-1]))
    rat = None
    if rationales is not None:
      rat = np.fromiter((r for x in rationales for r in x), bool, count=int(offsets[-1]))
    return cls(flat, offsets, np.asarray(labels, np.int32), rat)

  def __len__(self):
    return len(self.labels)

  @property
  def lengths(self) -> np.ndarray:
    """<int32>[len(self)] tokens per example."""
    return np.diff(self.offsets).astype(np.int32)

  def padded(self, indices: Sequence[int] | np.ndarray, width: int, values: np.ndarray | None = None) -> np.ndarray:
    """`values` (default ids) of the examples `indices`, right-padded: [len(indices), width]."""
    values = self.ids if values is None else values
    out = np.zeros((len(indices), width), values.dtype)
    for row, i in enumerate(indices):
      x = values[self.offsets[i]:self.offsets[i + 1]][:width]
      out[row, :len(x)] = x
    return out

  def scatter(self, indices: Sequence[int] | np.ndarray, padded: np.ndarray, out: np.ndarray) -> None:
    """Writes the rows of `padded` [..., len(indices), width] into the ragged `out` [..., tokens] (aligned with ids)
    at the examples `indices`, each example's first length values: what `padded` reads, written back."""
    for row, i in enumerate(indices):
      start, stop = self.offsets[i], self.offsets[i + 1]
      out[..., start:stop] = padded[..., row, :stop - start]

  def subset_values(self, indices: Sequence[int] | np.ndarray, values: np.ndarray) -> np.ndarray:
    """A ragged array aligned with ids (e.g. a feature map) [tokens], restricted to examples `indices`."""
    parts = [values[self.offsets[i]:self.offsets[i + 1]] for i in indices]
    return np.concatenate(parts) if parts else values[:0]

  def subset(self, indices: Sequence[int] | np.ndarray) -> 'EncodedSplit':
    """The examples `indices` as a split of their own."""
    indices = np.asarray(indices)
    offsets = np.concatenate([[0], np.cumsum(self.lengths[indices])]).astype(np.int64)
    rationale = None if self.rationale is None else self.subset_values(indices, self.rationale)
    return EncodedSplit(self.subset_values(indices, self.ids).astype(np.int32), offsets, self.labels[indices],
                        rationale)


@dataclasses.dataclass
class EncodedCorpus:
  name: str
  vocab: list
  splits: dict
  num_classes: int = 2  # labels are 0..num_classes-1

  def vocab_sha256(self) -> str:
    """The hash of the vocabulary in id order: two corpora with equal hashes give every word the same id."""
    return hashlib.sha256('\n'.join(self.vocab).encode('utf-8')).hexdigest()

  def save(self, path: str | os.PathLike) -> None:
    """Writes the corpus to one .npz at `path` (io.save_npz)."""
    arrays = {'vocab': np.array(self.vocab, dtype=str), 'name': np.array(self.name),
              'num_classes': np.array(self.num_classes)}
    for split, data in self.splits.items():
      arrays[f'{split}_ids'] = data.ids
      arrays[f'{split}_offsets'] = data.offsets
      arrays[f'{split}_labels'] = data.labels
      if data.rationale is not None:
        arrays[f'{split}_rationale'] = data.rationale
    io.save_npz(path, **arrays)

  @classmethod
  def load(cls, path: str | os.PathLike) -> 'EncodedCorpus':
    """The corpus `save` wrote to `path`; a FaithjaxError if it cannot be read."""
    try:
      arrays = io.load_npz(path)
      splits = {
          s: EncodedSplit(arrays[f'{s}_ids'], arrays[f'{s}_offsets'], arrays[f'{s}_labels'],
                          arrays.get(f'{s}_rationale'))
          for s in SPLITS}
      # a corpus.npz written before num_classes was stored is binary
      return cls(str(arrays['name']), [str(w) for w in arrays['vocab']], splits, int(arrays.get('num_classes', 2)))
    except (OSError, KeyError, ValueError) as e:
      raise FaithjaxError(f'cannot read encoded corpus {path}: {e}; delete it to re-encode') from e


def check_learnable(corpus: EncodedCorpus, name: str) -> None:
  """Refuses, before any training, a corpus too small or one-sided to train and select a classifier on: a split
  without documents, or a train or valid split without every class (the validation ROC-AUC that selects the
  epoch needs both), or one with a single class."""
  if corpus.num_classes < 2:
    raise FaithjaxError(f'{name}: every document has the same label; a classifier needs two or more classes')
  for split in SPLITS:
    labels = corpus.splits[split].labels
    if not len(labels):
      raise FaithjaxError(f'{name}: the {split} split has no document with a token; the corpus is too small')
    missing = sorted(set(range(corpus.num_classes)) - set(labels.tolist()))
    if missing and split != 'test':
      raise FaithjaxError(f'{name}: the {split} split has no document of class {missing[0]} (of its {len(labels)}); '
                          'training and selecting a classifier needs every class in train and valid')


def _rows(columns, rows):
  """The documents `rows` of one raw split (docs, labels[, ...]), every column indexed alike."""
  return tuple(np.asarray(c)[rows] if isinstance(c, np.ndarray) else [c[i] for i in rows] for c in columns)


def filter_by_length(raw_splits: Mapping[str, tuple], min_length: int | None = None,
                     max_length: int | None = None) -> tuple[dict[str, tuple], dict[str, int]]:
  """Jain & Wallace's length filter (their DatasetBC `filterbylength`), on every split.

  Keeps a document of n tokens when min_length < n < max_length, both strict; a
  bound of None is the split's own shortest or longest document, so, as in their
  code, it drops the documents of exactly that length. Returns (raw_splits,
  {split: number dropped}).
  """
  kept, dropped = {}, {}
  for split, columns in raw_splits.items():
    lengths = np.array([len(d) for d in columns[0]])
    low = lengths.min() if min_length is None else min_length
    high = lengths.max() if max_length is None else max_length
    rows = np.flatnonzero((lengths > low) & (lengths < high))
    dropped[split] = len(lengths) - len(rows)
    kept[split] = _rows(columns, rows) if dropped[split] else columns
  return kept, dropped


def drop_empty(raw_splits: Mapping[str, tuple]) -> tuple[dict[str, tuple], dict[str, int]]:
  """`raw_splits` without its documents that have no token; returns (raw_splits, {split: number dropped}).

  An empty document (empty, whitespace or only characters the cleaning
  drops) has nothing to explain or delete: every evaluation would be
  undefined for it (a deletion rate of 1 by convention, NaN completeness).
  """
  kept, dropped = {}, {}
  for split, (docs, *columns) in raw_splits.items():
    rows = [i for i, doc in enumerate(docs) if len(doc)]
    dropped[split] = len(docs) - len(rows)
    kept[split] = (docs, *columns) if not dropped[split] else _rows((docs, *columns), rows)
  return kept, dropped


def encode_corpus(name: str, raw_splits: Mapping[str, tuple], min_df: int = 1, max_len: int | None = None,
                  vocabulary_docs: Sequence[list[str]] | None = None,
                  num_classes: int = 2) -> tuple['EncodedCorpus', dict[str, int]]:
  """`raw_splits`: {split: (token lists, labels in 0..num_classes-1[, rationales])}; vocabulary from
  `vocabulary_docs` (token lists, default the train split's; Jain & Wallace build it before their length filter).

  Documents longer than `max_len` tokens are truncated to it (the documented
  maximum; counted in the returned `truncated`); None keeps every token.
  """
  if max_len is not None and max_len < 1:  # 0 would keep everything and a negative one cut from the end
    raise FaithjaxError(f'max_len must be a positive number of tokens or None, not {max_len!r}')
  vocab = text.Vocabulary.build(raw_splits['train'][0] if vocabulary_docs is None else vocabulary_docs,
                                min_df=min_df)
  splits, truncated = {}, {}
  for split in SPLITS:
    docs, labels, *rest = raw_splits[split]
    rationales = rest[0] if rest else None
    cut = (lambda x: x) if max_len is None else (lambda x: x[:max_len])
    truncated[split] = sum(1 for d in docs if max_len is not None and len(d) > max_len)
    splits[split] = EncodedSplit.from_lists(
        [cut(vocab.encode(d)) for d in docs], labels,
        None if rationales is None else [cut(r) for r in rationales])
  return EncodedCorpus(name, vocab.words, splits, num_classes), truncated


def bucket_width(length: int) -> int:
  """Smallest power of two >= max(length, MIN_WIDTH): few widths, few recompiles."""
  return max(MIN_WIDTH, 1 << int(np.ceil(np.log2(max(int(length), 1)))))


def batches(lengths: Sequence[int] | np.ndarray, batch_size: int,
            rng: np.random.Generator | None = None) -> list[tuple[np.ndarray, int]]:
  """Yields (indices, width): examples grouped by bucket width.

  Without `rng` the order is deterministic (sorted by length); with it, examples
  are shuffled within buckets and the batch order is shuffled.
  """
  lengths = np.asarray(lengths)
  widths = np.array([bucket_width(n) for n in lengths])
  out = []
  for w in np.unique(widths):
    members = np.flatnonzero(widths == w)
    members = rng.permutation(members) if rng is not None else members[np.argsort(lengths[members], kind='stable')]
    out += [(members[i:i + batch_size], int(w)) for i in range(0, len(members), batch_size)]
  if rng is not None:
    out = [out[i] for i in rng.permutation(len(out))]
  return out
