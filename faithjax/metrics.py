"""Classification metrics, distances and confidence intervals (numpy, host side)."""

import dataclasses
from typing import TYPE_CHECKING, Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

if TYPE_CHECKING:  # tvd takes jax arrays too; this module is numpy
  import jax


def accuracy(labels: ArrayLike, predictions: ArrayLike) -> float:
  """The share of predictions [n] equal to their labels [n]."""
  return float(np.mean(np.asarray(labels) == np.asarray(predictions)))


def _f1(labels, predictions, positive):
  """F1 of the positive class along the last axis: [..., n] -> [...] (0 where it has no support)."""
  is_label, is_predicted = labels == positive, predictions == positive
  tp = np.sum(is_predicted & is_label, -1)
  wrong = np.sum(is_predicted != is_label, -1)  # fp + fn
  return 2 * tp / np.maximum(2 * tp + wrong, 1)


def f1(labels: ArrayLike, predictions: ArrayLike, positive: int = 1) -> float:
  """F1 of class `positive`: labels, predictions [n] -> a number (0 where it has no support)."""
  return float(_f1(np.asarray(labels), np.asarray(predictions), positive))


def _macro_f1(labels, predictions, num_classes):
  """The mean over the classes of each one's F1 along the last axis: [..., n] -> [...]."""
  return np.mean([_f1(labels, predictions, c) for c in range(num_classes)], 0)


def macro_f1(labels: ArrayLike, predictions: ArrayLike, num_classes: int = 2) -> float:
  """The mean over the `num_classes` classes of each one's F1: labels, predictions [n] -> a number."""
  return float(_macro_f1(np.asarray(labels), np.asarray(predictions), num_classes))


def f1_along_last_axis(labels: np.ndarray, predictions: np.ndarray, num_classes: int = 2) -> np.ndarray:
  """The F1 that tables report, over the last axis: [..., n] x2 -> [...]. Two classes: the positive class's
  (class 1, as the paper); more: the macro average over the `num_classes` classes (a positive class means nothing
  there). Also paired_difference's statistic for F1."""
  return _f1(labels, predictions, 1) if num_classes == 2 else _macro_f1(labels, predictions, num_classes)


def roc_auc(labels: ArrayLike, scores: ArrayLike) -> float:
  """Area under the ROC curve of scores [n] for labels [n] (1 positive), from the Mann-Whitney statistic (ties
  count half)."""
  labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
  pos, neg = labels == 1, labels != 1
  if not pos.any() or not neg.any():
    return float('nan')
  ranks = stats.rankdata(scores)
  return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * neg.sum()))


def class_roc_auc(labels: ArrayLike, probs: ArrayLike) -> float:
  """ROC-AUC of probs [n, classes]: class 1's probability for two classes; for more, the macro one-vs-rest mean
  of each class's AUC (its probability against the other classes) over the classes that occur (NaN if none
  has both sides). For two classes the one-vs-rest mean equals class 1's AUC, p0 being 1 - p1."""
  probs = np.asarray(probs)
  if probs.shape[-1] == 2:
    return roc_auc(labels, probs[:, 1])
  per_class = [roc_auc(np.asarray(labels) == c, probs[:, c]) for c in range(probs.shape[-1])]
  return float(np.nanmean(per_class)) if not np.all(np.isnan(per_class)) else float('nan')


def classification_report(labels: ArrayLike, probs: ArrayLike) -> dict[str, float]:
  """probs: [n, classes] -> accuracy, F1 (f1_along_last_axis: the positive class's for two classes, macro for
  more), macro F1, ROC-AUC (class_roc_auc); numbers only (training logs and histories hold them)."""
  probs = np.asarray(probs)
  predictions, num_classes = probs.argmax(-1), probs.shape[-1]
  return {
      'accuracy': accuracy(labels, predictions),
      'f1': float(f1_along_last_axis(np.asarray(labels), predictions, num_classes)),
      'macro_f1': macro_f1(labels, predictions, num_classes),
      'roc_auc': class_roc_auc(labels, probs),
  }


def test_report(labels: ArrayLike, probs: ArrayLike) -> dict:
  """classification_report plus bootstrap 95% CIs of accuracy and F1, and which F1 it is ('f1_average', sklearn's
  names: 'binary' for class 1's, 'macro'): what Tables 2 and 4 publish. labels [n], probs [n, classes]."""
  labels, predictions, num_classes = np.asarray(labels), np.asarray(probs).argmax(-1), np.shape(probs)[-1]
  return {**classification_report(labels, probs), 'f1_average': 'binary' if num_classes == 2 else 'macro',
          'accuracy_ci95': list(bootstrap_ci(labels == predictions)),
          'f1_ci95': list(f1_ci(labels, predictions, num_classes))}


def tvd(p: 'np.ndarray | jax.Array', q: 'np.ndarray | jax.Array', axis: int = -1) -> 'np.ndarray | jax.Array':
  """Total variation distance 1/2 sum |p - q| over the class axis (numpy or jax arrays): [..., classes] -> [...]."""
  return 0.5 * abs(p - q).sum(axis=axis)


def masked_spearman(a: ArrayLike, b: ArrayLike, mask: ArrayLike) -> np.ndarray:
  """Spearman rho of each row's two maps over its real tokens: a, b <float>[batch, seq], mask <bool>[batch, seq].

  Returns [batch]: scipy.stats.spearmanr of a[i][mask[i]] and b[i][mask[i]] (ties share their mean rank); nan
  where a row has under 2 tokens or a constant map, as scipy's.
  """
  mask = np.asarray(mask, bool)
  n = np.maximum(mask.sum(-1, keepdims=True), 1)
  # PAD ranks after every real token (inf), so the real tokens' ranks are those of the row's real tokens alone.
  ranks = [stats.rankdata(np.where(mask, np.asarray(x, np.float64), np.inf), axis=-1) for x in (a, b)]
  ra, rb = (np.where(mask, r - np.sum(np.where(mask, r, 0), -1, keepdims=True) / n, 0) for r in ranks)
  norm = np.sqrt(np.sum(ra * ra, -1) * np.sum(rb * rb, -1))
  return np.divide(np.sum(ra * rb, -1), norm, out=np.full(norm.shape, np.nan), where=norm > 0)


def _resamples(n, n_resamples, seed):
  """Bootstrap draws of example indices: [n_resamples, n]."""
  return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def _percentiles(boot, level):
  tail = (1 - level) / 2
  return float(np.quantile(boot, tail)), float(np.quantile(boot, 1 - tail))


def bootstrap_p_value(boot: ArrayLike) -> float:
  """Two-sided p of "the statistic is 0" from its bootstrap values [n_resamples]: twice the smaller share of
  resamples on either side of 0 (each counted with the +1 that keeps p above 0), at most 1: p < 1 - level about
  where the percentile interval at that level excludes 0."""
  boot = np.asarray(boot)
  below, above = ((np.sum(side) + 1) / (len(boot) + 1) for side in (boot <= 0, boot >= 0))
  return float(min(1., 2 * min(below, above)))


def bootstrap_ci(values: ArrayLike, statistic: Callable[[np.ndarray], float] = np.mean, n_resamples: int = 1000,
                 level: float = 0.95, seed: int = 0) -> tuple[float, float]:
  """Percentile bootstrap CI of `statistic` over examples, values [n]: (low, high)."""
  values = np.asarray(values)
  draws = _resamples(len(values), n_resamples, seed)
  # The mean vectorises over resamples; other statistics go one resample at a time.
  boot = values[draws].mean(1) if statistic is np.mean else np.array([statistic(values[d]) for d in draws])
  return _percentiles(boot, level)


def f1_ci(labels: ArrayLike, predictions: ArrayLike, num_classes: int = 2, n_resamples: int = 1000,
          level: float = 0.95, seed: int = 0) -> tuple[float, float]:
  """Percentile bootstrap CI of the F1 tables report (f1_along_last_axis), resampling (label, prediction) pairs:
  (low, high)."""
  labels, predictions = np.asarray(labels), np.asarray(predictions)
  draws = _resamples(len(labels), n_resamples, seed)
  return _percentiles(f1_along_last_axis(labels[draws], predictions[draws], num_classes), level)


def mean_with_ci(values: np.ndarray) -> dict:
  """The summary every per-example evaluation reports of values [n]: mean, bootstrap 95% CI, count."""
  low, high = bootstrap_ci(values)
  return {'mean': float(np.mean(values)), 'ci95': [low, high], 'n': int(len(values))}


def paired_difference(a: ArrayLike | tuple, b: ArrayLike | tuple, statistic: Callable[..., np.ndarray] | None = None,
                      n_resamples: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
  """statistic(*a) - statistic(*b) with its percentile bootstrap CI, the units of a and b resampled together.

  a, b: an array over the same n units ([n], e.g. deletion rates of two maps on
  the same examples), or a tuple of them (e.g. (labels, predictions) with
  statistic=f1_along_last_axis). statistic: vectorised over the last axis
  (default the mean). scipy.stats.bootstrap draws the resamples.
  Returns {'difference', 'ci95': [low, high], 'n', 'p'} (p: bootstrap_p_value of the resamples).
  """
  a, b = (x if isinstance(x, tuple) else (x,) for x in (a, b))
  statistic = statistic or (lambda values: np.mean(values, -1))

  def difference(*arrays: np.ndarray, axis: int = -1) -> np.ndarray:
    del axis  # scipy passes the resampled axis; it is the last
    return statistic(*arrays[:len(a)]) - statistic(*arrays[len(a):])
  samples = [np.asarray(x) for x in a + b]
  result = stats.bootstrap(samples, difference, paired=True, vectorized=True, axis=-1, n_resamples=n_resamples,
                           confidence_level=level, method='percentile', random_state=np.random.default_rng(seed))
  interval = result.confidence_interval
  return {'difference': float(difference(*samples)), 'ci95': [float(interval.low), float(interval.high)],
          'n': len(samples[0]), 'p': bootstrap_p_value(result.bootstrap_distribution)}


def unpaired_difference(a: ArrayLike | tuple, b: ArrayLike | tuple,
                        statistic: Callable[..., np.ndarray] | None = None, n_resamples: int = 1000,
                        level: float = 0.95, seed: int = 0) -> dict:
  """statistic(*a) - statistic(*b) with a percentile bootstrap CI, a and b resampled independently.

  For two sets of units that are not the same examples (e.g. two test splits):
  a, b as in paired_difference, but over n_a and n_b units; the arrays of one
  side's tuple stay paired with each other. Returns {'difference', 'ci95', 'n': n_a + n_b, 'p'}.
  """
  a, b = (x if isinstance(x, tuple) else (x,) for x in (a, b))
  statistic = statistic or (lambda values: np.mean(values, -1))
  a, b = [np.asarray(x) for x in a], [np.asarray(x) for x in b]
  rng = np.random.default_rng(seed)
  draws_a, draws_b = (rng.integers(0, len(side[0]), size=(n_resamples, len(side[0]))) for side in (a, b))
  boot = statistic(*(x[draws_a] for x in a)) - statistic(*(x[draws_b] for x in b))
  low, high = _percentiles(boot, level)
  return {'difference': float(statistic(*a) - statistic(*b)), 'ci95': [low, high], 'n': len(a[0]) + len(b[0]),
          'p': bootstrap_p_value(boot)}


DESIGNS = ('crossed', 'nested')
CHUNK = 200  # resamples gathered at once by two_level_bootstrap: [..., CHUNK, n_seeds, n] in memory


@dataclasses.dataclass(frozen=True)
class TwoLevelDraws:
  """Bootstrap draws for a statistic of units [..., n_seeds, n] (seeds x test examples), and its 95% interval.

  design: 'crossed' when every seed evaluated the same n examples (one data split: an example's effect is shared
  by the seeds), 'nested' when each seed saw its own examples. Three parts of n_resamples each, every one
  resampling one source of variance with the other held fixed:
  seeds <int>[n_resamples, n_seeds]: seeds with replacement, every example kept;
  shared <int>[n_resamples, n]: one draw of examples used by every seed, the seeds kept;
  per_seed <int>[n_resamples, n_seeds, n]: an independent draw of examples for each seed, the seeds kept.
  variance_parts combines their variances into the variance of the seeds' mean, two_level_interval into a t interval.
  """
  design: str
  seeds: np.ndarray
  shared: np.ndarray
  per_seed: np.ndarray

  @property
  def n_seeds(self) -> int:
    return self.seeds.shape[1]

  @property
  def n(self) -> int:
    return self.shared.shape[1]

  @property
  def layout(self) -> tuple:
    """(n_seeds, n, design): what two_level_interval and two_level_p_value read with a bootstrap of these draws."""
    return self.n_seeds, self.n, self.design

  def interval(self, estimate: np.ndarray, boot: np.ndarray, level: float = 0.95) -> tuple:
    """two_level_interval of a bootstrap of these draws."""
    return two_level_interval(estimate, boot, *self.layout, level)


def variance_parts(boot: np.ndarray, n_seeds: int, n: int, design: str) -> tuple:
  """(seed part, example part) of the variance of a statistic from its two_level_bootstrap values
  boot [..., 3 * n_resamples] -> ([...], [...]).

  A bootstrap's plug-in variance of a mean of k units is (k - 1) / k of the unbiased one, so each part is
  scaled by k / (k - 1) (k = n_seeds for the seed draws, n for the example draws). One seed: (0, the example
  bootstrap's variance). Otherwise the seed part is the seed bootstrap's; it already holds each seed's own
  example noise. Nested, the seeds' means are independent, so that is all. Crossed, the examples' shared
  effect adds: for a mean, the shared draw's variance is sigma_example^2 / n + sigma_interaction^2 /
  (n_seeds n) and the per-seed draws' (sigma_example^2 + sigma_interaction^2) / (n_seeds n), so n_seeds /
  (n_seeds - 1) times their difference (floored at 0) is sigma_example^2 / n, the interaction not counted twice.
  """
  seed_boot, shared, per_seed = np.split(np.asarray(boot, np.float64), 3, axis=-1)
  variance = lambda part, k: k / (k - 1) * np.nanvar(part, -1, ddof=1)
  if n_seeds == 1:
    return np.zeros(np.shape(boot)[:-1]), variance(shared, n)
  seed_part = variance(seed_boot, n_seeds)
  if design == 'nested':
    return seed_part, np.zeros_like(seed_part)
  scale = n_seeds / (n_seeds - 1)
  return seed_part, scale * np.maximum(variance(shared, n) - variance(per_seed, n), 0.)


def _standard_error(boot, n_seeds, n, design):
  """(standard error [...], Welch-Satterthwaite degrees of freedom [...]) from variance_parts: n_seeds - 1 for the
  seed part and n - 1 for the example part."""
  seed_part, example_part = variance_parts(boot, n_seeds, n, design)
  total = seed_part + example_part
  spread = seed_part ** 2 / max(n_seeds - 1, 1) + example_part ** 2 / (n - 1)
  return np.sqrt(total), np.divide(total ** 2, spread, out=np.full(np.shape(total), np.inf), where=spread > 0)


def two_level_interval(estimate: np.ndarray, boot: np.ndarray, n_seeds: int, n: int, design: str,
                       level: float = 0.95) -> tuple:
  """t interval of estimate [...] with boot [..., 3 * n_resamples] (two_level_bootstrap's, or a difference of
  such): estimate +- t * sqrt(seed part + example part) (variance_parts) -> (low [...], high [...]).

  5 seeds whose spread dominates get t_4 = 2.78, a cell the test set's size dominates about 1.96. A percentile
  interval of the two-level bootstrap undercovers with 5 seeds (its seed variance is 4/5 of the unbiased one
  and its quantiles are normal ones): tests/test_metrics.py measures both.
  """
  se, df = _standard_error(boot, n_seeds, n, design)
  half = stats.t.ppf(0.5 + level / 2, df) * se
  return np.asarray(estimate) - half, np.asarray(estimate) + half


def two_level_p_value(estimate: np.ndarray, boot: np.ndarray, n_seeds: int, n: int, design: str) -> np.ndarray:
  """Two-sided p of "the statistic is 0" from two_level_interval's t: [...] (with no variance: 1 where the
  estimate is 0, else 0)."""
  se, df = _standard_error(boot, n_seeds, n, design)
  estimate = np.abs(estimate)
  t = np.divide(estimate, se, out=np.where(estimate > 0, np.inf, 0.), where=se > 0)
  return 2 * stats.t.sf(t, df)


def two_level_draws(n_seeds: int, n: int, design: str, n_resamples: int = 1000, seed: int = 0) -> TwoLevelDraws:
  """TwoLevelDraws of the design ('crossed' or 'nested') for units [..., n_seeds, n]."""
  if design not in DESIGNS:
    raise ValueError(f'design must be one of {DESIGNS}; got {design!r}')
  rng = np.random.default_rng(seed)
  return TwoLevelDraws(design, rng.integers(0, n_seeds, (n_resamples, n_seeds)), rng.integers(0, n, (n_resamples, n)),
                       rng.integers(0, n, (n_resamples, n_seeds, n)))


def two_level_bootstrap(units: tuple, statistic: Callable[..., np.ndarray], draws: TwoLevelDraws) -> tuple:
  """A per-seed statistic averaged over seeds, and its values on the draws' three parts.

  units: a tuple of arrays [..., n_seeds, n] (leading axes, e.g. explainers, are carried along, so every
  explainer is resampled with the same draws: paired); statistic: vectorised over the last axis ([..., n] ->
  [...]). Returns (estimate [...], boot [..., 3 * n_resamples]): the mean over seeds of statistic(seed's units),
  and its value on the seed, shared-example and per-seed-example resamples, in that order (draws.interval reads
  them; any function applied to every resample alike, e.g. a difference of two explainers, keeps that layout).
  """
  units = [np.asarray(u) for u in units]
  per_seed = statistic(*units)  # [..., n_seeds]
  every_seed = np.arange(draws.n_seeds)[:, None]  # [n_seeds, 1]

  # [resamples, n_seeds or 1, n] -> [..., resamples], a chunk at a time (memory)
  def examples_drawn(examples: np.ndarray) -> np.ndarray:
    return np.concatenate([statistic(*(u[..., every_seed, chunk] for u in units)).mean(-1)
                           for chunk in np.array_split(examples, max(1, len(examples) // CHUNK))], -1)
  boot = np.concatenate([per_seed[..., draws.seeds].mean(-1), examples_drawn(draws.shared[:, None, :]),
                         examples_drawn(draws.per_seed)], -1)
  return per_seed.mean(-1), boot


def percentile_interval(boot: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
  """Percentile CI along the last axis: [..., n_resamples] -> (low [...], high [...]); NaN draws ignored."""
  tail = (1 - level) / 2
  return tuple(np.nanquantile(boot, [tail, 1 - tail], axis=-1))
