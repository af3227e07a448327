"""Kendall's coefficient of concordance W: how far several raters (here: faithfulness evaluations) agree on the
ranking of the same items (explainers)."""

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


def kendalls_w(scores: ArrayLike) -> np.ndarray:
  """Kendall's W with the tie correction: scores [..., raters, items] -> W in [0, 1], [...] (a float for one table).

  Each rater's scores are turned into average ranks (ties share them), so every
  rater must score in the same orientation (e.g. higher = more faithful). With
  R_i the rank sum of item i over the m raters and T_j = sum (t^3 - t) over
  rater j's groups of t tied items,
    W = 12 sum_i (R_i - mean R)^2 / (m^2 (n^3 - n) - m sum_j T_j);
  NaN when every rater ties every item. Leading axes (bootstrap resamples) are computed at once.
  """
  ranks = stats.rankdata(np.asarray(scores, np.float64), axis=-1)
  m, n = ranks.shape[-2:]
  spread = ((ranks.sum(-2) - m * (n + 1) / 2) ** 2).sum(-1)
  # A group of t tied items adds t^3 - t: t items, each tied with t - 1 others and itself, add t_i^2 - 1 each.
  tied = (ranks[..., :, None] == ranks[..., None, :]).sum(-1)  # [..., m, n]: the size of each item's group
  denominator = m ** 2 * (n ** 3 - n) - m * (tied ** 2 - 1).sum((-2, -1))
  return np.divide(12 * spread, denominator, out=np.full(np.shape(spread), np.nan), where=denominator > 0)[()]
