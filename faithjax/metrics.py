"""Classification metrics, distances and confidence intervals (numpy, host side)."""

import numpy as np
from scipy import stats


def accuracy(labels, predictions):
  return float(np.mean(np.asarray(labels) == np.asarray(predictions)))


def f1(labels, predictions, positive=1):
  labels, predictions = np.asarray(labels), np.asarray(predictions)
  tp = np.sum((predictions == positive) & (labels == positive))
  fp = np.sum((predictions == positive) & (labels != positive))
  fn = np.sum((predictions != positive) & (labels == positive))
  return float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else 0.0


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


def tvd(p, q, axis=-1):
  """Total variation distance 1/2 sum |p - q| over the class axis (numpy or jax arrays)."""
  return 0.5 * abs(p - q).sum(axis=axis)


def bootstrap_ci(values, statistic=np.mean, n_resamples=1000, level=0.95, seed=0):
  """Percentile bootstrap CI of `statistic` over examples: (low, high)."""
  values = np.asarray(values)
  rng = np.random.default_rng(seed)
  draws = rng.integers(0, len(values), size=(n_resamples, len(values)))
  # The mean vectorises over resamples; other statistics go one resample at a time.
  boot = values[draws].mean(1) if statistic is np.mean else np.array([statistic(values[d]) for d in draws])
  tail = (1 - level) / 2
  return float(np.quantile(boot, tail)), float(np.quantile(boot, 1 - tail))


def mean_with_ci(values):
  """The summary every per-example evaluation reports: mean, bootstrap 95% CI, count."""
  low, high = bootstrap_ci(values)
  return {'mean': float(np.mean(values)), 'ci95': [low, high], 'n': int(len(values))}
