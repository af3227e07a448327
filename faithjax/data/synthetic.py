"""The embedded default corpus: deterministic, no files, known rationales.

Each document is filler words with a few planted evidence words of its label's
class ('pos*' for 1, 'neg*' for 0) at random positions. The label is decided by
the evidence alone, so the planted positions are the true rationale: a
faithful explainer should rank them first.
"""

import numpy as np

SIZES = {'train': 2000, 'valid': 400, 'test': 400}


def vocabulary_words(n_filler: int = 400, n_evidence: int = 8) -> tuple[list[str], list[str], list[str]]:
  """(filler words, negative evidence words, positive evidence words)."""
  filler = [f'w{i}' for i in range(n_filler)]
  return filler, [f'neg{i}' for i in range(n_evidence)], [f'pos{i}' for i in range(n_evidence)]


def generate(seed: int = 0, sizes: dict[str, int] | None = None, min_len: int = 8, max_len: int = 48,
             evidence: tuple[int, int] = (1, 3)) -> dict[str, tuple[list[list[str]], np.ndarray, list[list[bool]]]]:
  """Returns {split: (token lists, labels [n], rationale masks as bool lists)}."""
  sizes = sizes or SIZES
  filler, neg, pos = vocabulary_words()
  rng = np.random.default_rng(seed)
  splits = {}
  for split, n in sizes.items():
    docs, labels, rationales = [], np.zeros(n, np.int32), []
    for i in range(n):
      label = int(rng.integers(2))
      length = int(rng.integers(min_len, max_len + 1))
      tokens = list(rng.choice(filler, size=length))
      k = int(rng.integers(evidence[0], evidence[1] + 1))
      where = rng.choice(length, size=k, replace=False)
      for p in where:
        tokens[p] = str(rng.choice(pos if label else neg))
      rationale = [False] * length
      for p in where:
        rationale[p] = True
      docs.append([str(t) for t in tokens])
      labels[i] = label
      rationales.append(rationale)
    splits[split] = (docs, labels, rationales)
  return splits
