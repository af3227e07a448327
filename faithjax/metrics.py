"""Classification metrics, distances and confidence intervals (numpy, host side)."""

import numpy as np
from scipy import stats


def accuracy(labels, predictions):
  return float(np.mean(np.asarray(labels) == np.asarray(predictions)))


def _f1(labels, predictions, positive):
  """F1 of the positive class along the last axis: [..., n] -> [...] (0 where it has no support)."""
  is_label, is_predicted = labels == positive, predictions == positive
  tp = np.sum(is_predicted & is_label, -1)
  wrong = np.sum(is_predicted != is_label, -1)  # fp + fn
  return 2 * tp / np.maximum(2 * tp + wrong, 1)


def f1(labels, predictions, positive=1):
  return float(_f1(np.asarray(labels), np.asarray(predictions), positive))


def macro_f1(labels, predictions, num_classes=2):
  return float(np.mean([f1(labels, predictions, c) for c in range(num_classes)]))


def roc_auc(labels, scores):
  """Area under the ROC curve from the Mann-Whitney statistic (ties count half)."""
  labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
  pos, neg = labels == 1, labels != 1
  if not pos.any() or not neg.any():
    return float('nan')
  ranks = stats.rankdata(scores)
  return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * neg.sum()))


def classification_report(labels, probs):
  """probs: [n, classes] -> accuracy, F1 (positive class and macro), ROC-AUC."""
  probs = np.asarray(probs)
  predictions = probs.argmax(-1)
  return {
      'accuracy': accuracy(labels, predictions),
      'f1': f1(labels, predictions),
      'macro_f1': macro_f1(labels, predictions, probs.shape[-1]),
      'roc_auc': roc_auc(labels, probs[:, 1]),
  }


def test_report(labels, probs):
  """classification_report plus bootstrap 95% CIs of accuracy and F1: what Tables 2 and 4 publish."""
  labels, predictions = np.asarray(labels), np.asarray(probs).argmax(-1)
  return {**classification_report(labels, probs), 'accuracy_ci95': list(bootstrap_ci(labels == predictions)),
          'f1_ci95': list(f1_ci(labels, predictions))}


def tvd(p, q, axis=-1):
  """Total variation distance 1/2 sum |p - q| over the class axis (numpy or jax arrays)."""
  return 0.5 * abs(p - q).sum(axis=axis)


def _resamples(n, n_resamples, seed):
  """Bootstrap draws of example indices: [n_resamples, n]."""
  return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def _percentiles(boot, level):
  tail = (1 - level) / 2
  return float(np.quantile(boot, tail)), float(np.quantile(boot, 1 - tail))


def bootstrap_ci(values, statistic=np.mean, n_resamples=1000, level=0.95, seed=0):
  """Percentile bootstrap CI of `statistic` over examples: (low, high)."""
  values = np.asarray(values)
  draws = _resamples(len(values), n_resamples, seed)
  # The mean vectorises over resamples; other statistics go one resample at a time.
  boot = values[draws].mean(1) if statistic is np.mean else np.array([statistic(values[d]) for d in draws])
  return _percentiles(boot, level)


def f1_ci(labels, predictions, positive=1, n_resamples=1000, level=0.95, seed=0):
  """Percentile bootstrap CI of the positive-class F1, resampling (label, prediction) pairs: (low, high)."""
  labels, predictions = np.asarray(labels), np.asarray(predictions)
  draws = _resamples(len(labels), n_resamples, seed)
  return _percentiles(_f1(labels[draws], predictions[draws], positive), level)


def mean_with_ci(values):
  """The summary every per-example evaluation reports: mean, bootstrap 95% CI, count."""
  low, high = bootstrap_ci(values)
  return {'mean': float(np.mean(values)), 'ci95': [low, high], 'n': int(len(values))}


def paired_difference(a, b, statistic=None, n_resamples=1000, level=0.95, seed=0):
  """statistic(*a) - statistic(*b) with its percentile bootstrap CI, the units of a and b resampled together.

  a, b: an array over the same n units ([n], e.g. deletion rates of two maps on
  the same examples), or a tuple of them (e.g. (labels, predictions) with
  statistic=f1_along_last_axis). statistic: vectorised over the last axis
  (default the mean). scipy.stats.bootstrap draws the resamples.
  Returns {'difference', 'ci95': [low, high], 'n'}.
  """
  a, b = (x if isinstance(x, tuple) else (x,) for x in (a, b))
  statistic = statistic or (lambda values: np.mean(values, -1))

  def difference(*arrays, axis=-1):
    del axis  # scipy passes the resampled axis; it is the last
    return statistic(*arrays[:len(a)]) - statistic(*arrays[len(a):])
  samples = [np.asarray(x) for x in a + b]
  result = stats.bootstrap(samples, difference, paired=True, vectorized=True, axis=-1, n_resamples=n_resamples,
                           confidence_level=level, method='percentile', random_state=np.random.default_rng(seed))
  interval = result.confidence_interval
  return {'difference': float(difference(*samples)), 'ci95': [float(interval.low), float(interval.high)],
          'n': len(samples[0])}


def unpaired_difference(a, b, statistic=None, n_resamples=1000, level=0.95, seed=0):
  """statistic(*a) - statistic(*b) with a percentile bootstrap CI, a and b resampled independently.

  For two sets of units that are not the same examples (e.g. two test splits):
  a, b as in paired_difference, but over n_a and n_b units; the arrays of one
  side's tuple stay paired with each other. Returns {'difference', 'ci95', 'n': n_a + n_b}.
  """
  a, b = (x if isinstance(x, tuple) else (x,) for x in (a, b))
  statistic = statistic or (lambda values: np.mean(values, -1))
  a, b = [np.asarray(x) for x in a], [np.asarray(x) for x in b]
  rng = np.random.default_rng(seed)
  draws_a, draws_b = (rng.integers(0, len(side[0]), size=(n_resamples, len(side[0]))) for side in (a, b))
  boot = statistic(*(x[draws_a] for x in a)) - statistic(*(x[draws_b] for x in b))
  low, high = _percentiles(boot, level)
  return {'difference': float(statistic(*a) - statistic(*b)), 'ci95': [low, high], 'n': len(a[0]) + len(b[0])}


def f1_along_last_axis(labels, predictions, positive=1):
  """Positive-class F1 over the last axis: [..., n] x2 -> [...] (paired_difference's statistic for F1)."""
  return _f1(labels, predictions, positive)


def hierarchical_draws(n_seeds, n, n_resamples=1000, seed=0):
  """Two-level bootstrap draws: seeds with replacement, then examples with replacement within each drawn seed.

  Returns (seeds <int>[n_resamples, n_seeds], examples <int>[n_resamples, n_seeds, n]): slot k of resample b
  reads seed seeds[b, k] at examples[b, k]. A seed drawn twice gets two independent example draws. With
  n_seeds = 1 every seed draw is 0: the plain example bootstrap.
  """
  rng = np.random.default_rng(seed)
  return rng.integers(0, n_seeds, (n_resamples, n_seeds)), rng.integers(0, n, (n_resamples, n_seeds, n))


def hierarchical_bootstrap(units, statistic, draws):
  """A per-seed statistic averaged over seeds, and its two-level bootstrap distribution.

  units: a tuple of arrays [..., n_seeds, n] (leading axes, e.g. explainers, are
  carried along, so every explainer is resampled with the same draws: paired);
  statistic: vectorised over the last axis ([..., n] -> [...]);
  draws: hierarchical_draws(n_seeds, n, ...). Returns (estimate [...], boot
  [..., n_resamples]): the mean over seeds of statistic(seed's units), and its
  value on each resample.
  """
  seeds, examples = draws
  estimate = statistic(*units).mean(-1)
  resampled = [np.asarray(u)[..., seeds[..., None], examples] for u in units]  # [..., n_resamples, n_seeds, n]
  return estimate, statistic(*resampled).mean(-1)


def percentile_interval(boot, level=0.95):
  """Percentile CI along the last axis: [..., n_resamples] -> (low [...], high [...]); NaN draws ignored."""
  tail = (1 - level) / 2
  return tuple(np.nanquantile(boot, [tail, 1 - tail], axis=-1))
