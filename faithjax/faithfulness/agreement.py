"""Do the evaluations agree? Rank agreement between evaluations, per corpus and per example.

Each evaluation gives every explainer a score; oriented so that higher means
"more faithful" (evaluations.EVALUATIONS' orientation: deletion rate and ERASER
sufficiency are negated), the evaluations agree when they rank the explainers alike.
"""

import itertools

import numpy as np
from scipy import stats

from faithjax.faithfulness.evaluations import oriented


def kendall_tau(a, b):
  """Kendall tau-b between two score vectors over the same explainers."""
  tau = stats.kendalltau(a, b).statistic
  return float(tau) if np.isfinite(tau) else 0.0


def kendall_permutation_test(a, b, max_exact=8, n_resamples=10000, seed=0):
  """(tau, two-sided p) of H0 "the rankings are unrelated", by permuting b.

  Exact over all permutations for up to `max_exact` explainers (4! = 24 in the
  study: the smallest attainable p is 1/24 * ties), Monte Carlo above.
  """
  a, b = np.asarray(a), np.asarray(b)
  observed = kendall_tau(a, b)
  if len(b) <= max_exact:
    null = np.array([kendall_tau(a, b[list(p)]) for p in itertools.permutations(range(len(b)))])
  else:
    rng = np.random.default_rng(seed)
    null = np.array([kendall_tau(a, rng.permutation(b)) for _ in range(n_resamples)])
  return observed, float(np.mean(np.abs(null) >= abs(observed) - 1e-12))


def pairwise_agreement(scores):
  """scores: {evaluation: {explainer: value}} -> rows of (eval a, eval b, tau, p).

  Only the explainers every evaluation scored are compared.
  """
  explainers = sorted(set.intersection(*(set(v) for v in scores.values())))
  rows = []
  for ea, eb in itertools.combinations(sorted(scores), 2):
    a = oriented(ea, [scores[ea][x] for x in explainers])
    b = oriented(eb, [scores[eb][x] for x in explainers])
    tau, p = kendall_permutation_test(a, b)
    rows.append({'a': ea, 'b': eb, 'tau': tau, 'p': p, 'explainers': explainers})
  return rows


def spearman_with_ci(x, y, n_resamples=1000, level=0.95, seed=0):
  """Spearman rho between paired per-example values, with a percentile bootstrap CI."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  rho = lambda idx: stats.spearmanr(x[idx], y[idx]).statistic
  observed = float(rho(np.arange(len(x))))
  rng = np.random.default_rng(seed)
  boot = np.array([rho(rng.integers(0, len(x), len(x))) for _ in range(n_resamples)])
  boot = boot[np.isfinite(boot)]
  tail = (1 - level) / 2
  low, high = (np.quantile(boot, [tail, 1 - tail]) if len(boot) else (np.nan, np.nan))
  return {'rho': observed, 'low': float(low), 'high': float(high)}


def ranking(scores, evaluation):
  """Explainers from most to least faithful under one evaluation: {explainer: value} -> names."""
  return sorted(scores, key=lambda x: -oriented(evaluation, scores[x]))
