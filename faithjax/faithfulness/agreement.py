"""Do the evaluations agree? Rank agreement between evaluations, per corpus and per example.

Each evaluation gives every explainer a score; oriented so that higher means
"more faithful" (evaluations.SCORES' orientation: deletion rate and ERASER
sufficiency are negated), the evaluations agree when they rank the explainers alike.
"""

import itertools

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from faithjax import metrics
from faithjax.faithfulness.evaluations import oriented


def kendall_tau(a: ArrayLike, b: ArrayLike) -> float:
  """Kendall tau-b between two score vectors [explainers] over the same explainers."""
  tau = stats.kendalltau(a, b).statistic
  return float(tau) if np.isfinite(tau) else 0.0


def kendall_permutation_test(a: ArrayLike, b: ArrayLike, max_exact: int = 8, n_resamples: int = 10000,
                             seed: int = 0) -> tuple[float, float]:
  """(tau, two-sided p) of H0 "the rankings are unrelated", by permuting b; a, b [explainers].

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


def pairwise_agreement(scores: dict[str, dict[str, float]]) -> list[dict]:
  """scores: {evaluation: {explainer: value}} -> rows of (eval a, eval b, tau, p).

  Only the explainers every evaluation scored are compared; fewer than two have no order to agree on: no rows.
  """
  explainers = sorted(set.intersection(*(set(v) for v in scores.values())))
  if len(explainers) < 2:
    return []
  rows = []
  for ea, eb in itertools.combinations(sorted(scores), 2):
    a = oriented(ea, [scores[ea][x] for x in explainers])
    b = oriented(eb, [scores[eb][x] for x in explainers])
    tau, p = kendall_permutation_test(a, b)
    rows.append({'a': ea, 'b': eb, 'tau': tau, 'p': p, 'explainers': explainers})
  return rows


def spearman_along_last_axis(x: ArrayLike, y: ArrayLike, *covariates: ArrayLike) -> np.ndarray:
  """Spearman rho of x and y [..., n] along the last axis, each covariate [..., n] partialled out: [...].

  The ranks of x and y are regressed on the covariates' ranks (least squares with an intercept) and correlated
  by their residuals: what x and y share beyond what, e.g., document length explains of both. Without covariates
  it is the plain Spearman rho (ties share their mean rank, as scipy's). NaN where a residual is constant.
  Leading axes (bootstrap resamples, seeds) are computed at once.
  """
  ranks = stats.rankdata(np.stack(np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (x, y, *covariates)))),
                         axis=-1)  # [2 + k, ..., n]
  ranks = np.moveaxis(ranks - ranks.mean(-1, keepdims=True), 0, -1)  # [..., n, 2 + k], centred: the intercept
  targets, design = ranks[..., :2], ranks[..., 2:]
  if covariates:  # normal equations: [..., k, k] systems (pinv: a constant covariate drops out)
    gram = np.swapaxes(design, -1, -2) @ design
    targets = targets - design @ (np.linalg.pinv(gram) @ (np.swapaxes(design, -1, -2) @ targets))
  ra, rb = targets[..., 0], targets[..., 1]
  norm = np.sqrt(np.sum(ra * ra, -1) * np.sum(rb * rb, -1))
  return np.divide(np.sum(ra * rb, -1), norm, out=np.full(norm.shape, np.nan), where=norm > 1e-9 * ra.shape[-1] ** 3)


def partial_spearman(x: ArrayLike, y: ArrayLike, covariates: ArrayLike = ()) -> float:
  """Spearman rho between x and y [n] with the covariates [k, n] partialled out of their ranks
  (spearman_along_last_axis); without covariates the plain Spearman rho."""
  return float(spearman_along_last_axis(x, y, *covariates))


def spearman_with_ci(x: ArrayLike, y: ArrayLike, n_resamples: int = 1000, level: float = 0.95, seed: int = 0,
                     covariates: ArrayLike = ()) -> dict[str, float]:
  """Spearman rho between paired per-example values x, y [n], with a percentile bootstrap CI: {'rho', 'low',
  'high'}; with covariates [k, n], the partial rho (`partial_spearman`), resampled with them."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  covariates = np.asarray(covariates, np.float64).reshape(-1, len(x))
  if len(covariates):
    rho = lambda idx: partial_spearman(x[idx], y[idx], covariates[:, idx])
  else:
    rho = lambda idx: stats.spearmanr(x[idx], y[idx]).statistic
  observed = float(rho(np.arange(len(x))))
  rng = np.random.default_rng(seed)
  boot = np.array([rho(rng.integers(0, len(x), len(x))) for _ in range(n_resamples)])
  boot = boot[np.isfinite(boot)]
  tail = (1 - level) / 2
  low, high = (np.quantile(boot, [tail, 1 - tail]) if len(boot) else (np.nan, np.nan))
  return {'rho': observed, 'low': float(low), 'high': float(high)}


def ranking(scores: dict[str, float], evaluation: str) -> list[str]:
  """Explainers from most to least faithful under one evaluation: {explainer: value} -> names."""
  return sorted(scores, key=lambda x: -oriented(evaluation, scores[x]))


def kendall_tau_b(a: ArrayLike, b: ArrayLike) -> np.ndarray:
  """Kendall tau-b of many pairs of rankings at once: [..., explainers] x2 -> [...] (0 where one is all ties).

  Vectorised over the leading axes (bootstrap resamples); tau-b as scipy.stats.kendalltau computes it.
  """
  sign = lambda x: np.sign(x[..., :, None] - x[..., None, :])  # [..., e, e], each pair counted twice
  sa, sb = sign(np.asarray(a, np.float64)), sign(np.asarray(b, np.float64))
  untied = np.sqrt(np.sum(sa * sa, (-2, -1)) * np.sum(sb * sb, (-2, -1)))
  return np.divide(np.sum(sa * sb, (-2, -1)), untied, out=np.zeros(untied.shape), where=untied > 0)


def spearman_rho(a: ArrayLike, b: ArrayLike) -> np.ndarray:
  """Spearman rho of many pairs of rankings at once: [..., explainers] x2 -> [...] (0 where one is constant)."""
  ra, rb = (stats.rankdata(x, axis=-1) for x in (a, b))
  ra, rb = ra - ra.mean(-1, keepdims=True), rb - rb.mean(-1, keepdims=True)
  norm = np.sqrt(np.sum(ra * ra, -1) * np.sum(rb * rb, -1))
  return np.divide(np.sum(ra * rb, -1), norm, out=np.zeros(norm.shape), where=norm > 0)


RANK_STATISTICS = {'kendall_tau': kendall_tau_b, 'spearman_rho': spearman_rho}


def pair_differences(explainers: list[str], estimate: np.ndarray, boot: np.ndarray, layout: tuple[int, int, str] | None = None,
                     level: float = 0.95) -> list[dict]:
  """Every explainer pair's oriented difference with its bootstrap CI; a CI covering 0 is a tie.

  estimate: [explainers] oriented scores (higher = more faithful); boot:
  [explainers, n_resamples] the same on paired resamples. Returns rows
  {'a', 'b', 'difference', 'ci95', 'verdict'} with a − b oriented: 'a' / 'b'
  (the more faithful one) or 'tie'. Without layout, boot is a plain bootstrap
  and the CI its percentile interval. With layout = (n_seeds, n, design) of a
  metrics.two_level_bootstrap, the CI is metrics.two_level_interval's, each row
  adds its 'p' (difference 0) and 'p_bh': the p corrected for the family of all
  the pairs by Benjamini–Hochberg (scipy.stats.false_discovery_control), and the
  verdict is a tie unless p_bh < 1 - level.
  """
  pairs = list(itertools.combinations(range(len(explainers)), 2))
  differences = np.array([estimate[i] - estimate[j] for i, j in pairs])
  boots = np.stack([boot[i] - boot[j] for i, j in pairs])
  if layout is None:
    low, high = metrics.percentile_interval(boots, level)
    separated = (low > 0) | (high < 0)
    tests = [{}] * len(pairs)
  else:
    low, high = metrics.two_level_interval(differences, boots, *layout, level)
    p = metrics.two_level_p_value(differences, boots, *layout)
    p_bh = stats.false_discovery_control(p)
    separated = p_bh < 1 - level
    tests = [{'p': float(a), 'p_bh': float(b)} for a, b in zip(p, p_bh)]
  rows = []
  for (i, j), d, lo, hi, apart, test in zip(pairs, differences, low, high, separated, tests):
    verdict = (explainers[i] if d > 0 else explainers[j]) if apart else 'tie'
    rows.append({'a': explainers[i], 'b': explainers[j], 'difference': float(d),
                 'ci95': [float(lo), float(hi)], 'verdict': verdict, **test})
  return rows


def rank_agreement(estimate_a: np.ndarray, boot_a: np.ndarray, estimate_b: np.ndarray, boot_b: np.ndarray,
                   layout: tuple[int, int, str] | None = None, level: float = 0.95) -> dict[str, dict]:
  """Kendall tau-b and Spearman rho between two evaluations' oriented scores, with bootstrap CIs.

  estimate_*: [..., explainers]; boot_*: [..., explainers, n_resamples], drawn
  with the same resamples (so ties between explainers make tau's CI wide).
  Leading axes (corpora) are pooled: the statistic is the mean over them, on
  each resample. Without layout the CI is the percentile interval; with layout
  = (n_seeds, n, design) of a metrics.two_level_bootstrap it is
  metrics.two_level_interval's (clipped to [-1, 1]) and each statistic adds its
  'p' (the statistic is 0). Returns {statistic: {'value', 'ci95'[, 'p']}}.
  """
  result = {}
  for name, statistic in RANK_STATISTICS.items():
    boot = statistic(np.moveaxis(boot_a, -1, 0), np.moveaxis(boot_b, -1, 0))  # [n_resamples, ...]
    boot = boot.reshape(len(boot), -1).mean(1)
    value = float(np.mean(statistic(estimate_a, estimate_b)))
    if layout is None:
      low, high = metrics.percentile_interval(boot, level)
      result[name] = {'value': value, 'ci95': [float(low), float(high)]}
    else:
      low, high = np.clip(metrics.two_level_interval(value, boot, *layout, level), -1, 1)
      result[name] = {'value': value, 'ci95': [float(low), float(high)],
                      'p': float(metrics.two_level_p_value(value, boot, *layout))}
  return result
