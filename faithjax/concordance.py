"""Kendall's coefficient of concordance W: how far several raters (here: faithfulness evaluations) agree on the
ranking of the same items (explainers)."""

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


def kendalls_w(scores: ArrayLike) -> float:
  """Kendall's W with the tie correction: scores [raters, items] -> W in [0, 1].

  Each rater's scores are turned into average ranks (ties share them), so every
  rater must score in the same orientation (e.g. higher = more faithful). With
  R_i the rank sum of item i over the m raters and T_j = sum (t^3 - t) over
  rater j's groups of t tied items,
    W = 12 sum_i (R_i - mean R)^2 / (m^2 (n^3 - n) - m sum_j T_j);
  NaN when every rater ties every item.
  """
  ranks = stats.rankdata(np.asarray(scores, np.float64), axis=-1)
  m, n = ranks.shape
  spread = ((ranks.sum(0) - m * (n + 1) / 2) ** 2).sum()
  ties = sum(((counts ** 3) - counts).sum() for counts in (np.unique(row, return_counts=True)[1] for row in ranks))
  denominator = m ** 2 * (n ** 3 - n) - m * ties
  return float(12 * spread / denominator) if denominator > 0 else float('nan')
