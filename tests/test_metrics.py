"""Classification metrics and bootstrap CIs against plain-loop references."""

import numpy as np
import pytest

from faithjax import metrics


def loop_f1(labels, predictions, positive=1):
  tp = fp = fn = 0
  for label, prediction in zip(labels, predictions):
    tp += prediction == positive and label == positive
    fp += prediction == positive and label != positive
    fn += prediction != positive and label == positive
  return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def loop_roc_auc(labels, scores):
  """The probability that a random positive outscores a random negative, ties half."""
  pairs = [(p, n) for p, lp in zip(scores, labels) if lp == 1 for n, ln in zip(scores, labels) if ln != 1]
  return np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])


@pytest.mark.parametrize('seed', range(5))
def test_f1_accuracy_and_roc_auc_match_loops(seed):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 2, 60)
  predictions = np.where(rng.random(60) < 0.7, labels, 1 - labels)
  scores = np.round(rng.random(60), 1)  # coarse, so ties occur
  assert metrics.f1(labels, predictions) == pytest.approx(loop_f1(labels, predictions))
  assert metrics.f1(labels, predictions, positive=0) == pytest.approx(loop_f1(labels, predictions, 0))
  assert metrics.accuracy(labels, predictions) == pytest.approx(np.mean(labels == predictions))
  assert metrics.roc_auc(labels, scores) == pytest.approx(loop_roc_auc(labels, scores))


def test_f1_without_positive_support_is_zero():
  assert metrics.f1([0, 0, 0], [0, 0, 0]) == 0.0


def test_f1_ci_equals_a_loop_over_the_same_resamples():
  rng = np.random.default_rng(3)
  labels = rng.integers(0, 2, 200)
  predictions = np.where(rng.random(200) < 0.8, labels, 1 - labels)
  pairs = np.stack([labels, predictions], 1)
  expected = metrics.bootstrap_ci(pairs, statistic=lambda p: loop_f1(p[:, 0], p[:, 1]), n_resamples=300, seed=5)
  assert metrics.f1_ci(labels, predictions, n_resamples=300, seed=5) == pytest.approx(expected)


def test_cis_bracket_the_estimate_and_shrink_with_more_examples():
  rng = np.random.default_rng(0)

  def width(n):
    labels = rng.integers(0, 2, n)
    predictions = np.where(rng.random(n) < 0.8, labels, 1 - labels)
    report = metrics.test_report(labels, np.eye(2)[predictions])
    for key in ('accuracy', 'f1'):
      low, high = report[f'{key}_ci95']
      assert low <= report[key] <= high
    return report['f1_ci95'][1] - report['f1_ci95'][0]

  assert width(4000) < width(100) / 3


def test_paired_difference_matches_a_loop_bootstrap_of_the_differences():
  rng = np.random.default_rng(4)
  a = rng.random(400)
  b = a - 0.1 + 0.2 * rng.standard_normal(400)
  result = metrics.paired_difference(a, b)
  assert result['difference'] == pytest.approx(np.mean(a) - np.mean(b), abs=1e-12)
  # A plain loop: resample example indices, the same ones for both maps (scipy draws others: a tolerance).
  loop = [np.mean(a[d]) - np.mean(b[d]) for d in rng.integers(0, 400, size=(2000, 400))]
  np.testing.assert_allclose(result['ci95'], np.quantile(loop, [0.025, 0.975]), atol=0.004)
  assert metrics.paired_difference(a, a)['ci95'] == [0., 0.]  # paired: identical maps never differ


def test_unpaired_difference_matches_the_normal_interval_of_two_independent_means():
  rng = np.random.default_rng(6)
  a, b = rng.normal(0.3, 1.0, 900), rng.normal(0.1, 0.5, 400)
  result = metrics.unpaired_difference(a, b, n_resamples=4000)
  assert result['difference'] == pytest.approx(a.mean() - b.mean(), abs=1e-12) and result['n'] == 1300
  half = 1.96 * np.sqrt(a.var() / 900 + b.var() / 400)  # the two sides' variances add: nothing cancels
  np.testing.assert_allclose(result['ci95'], [result['difference'] - half, result['difference'] + half], atol=0.012)
  same = metrics.unpaired_difference(a, a)
  assert same['difference'] == 0 and same['ci95'][0] < -0.05 < 0.05 < same['ci95'][1]  # unlike paired_difference


def test_unpaired_difference_of_f1_keeps_each_sides_labels_with_its_predictions():
  rng = np.random.default_rng(7)
  labels_a, labels_b = rng.integers(0, 2, 600), rng.integers(0, 2, 300)
  perfect = metrics.unpaired_difference((labels_a, labels_a), (labels_b, labels_b), metrics.f1_along_last_axis)
  assert perfect['difference'] == 0 and perfect['ci95'] == [0., 0.]  # resampled pairs stay correct predictions


def test_paired_difference_of_f1_resamples_labels_and_both_predictions_together():
  rng = np.random.default_rng(5)
  labels = rng.integers(0, 2, 500)
  good, poor = (np.where(rng.random(500) < p, labels, 1 - labels) for p in (0.9, 0.7))
  result = metrics.paired_difference((labels, good), (labels, poor), metrics.f1_along_last_axis)
  assert result['difference'] == pytest.approx(metrics.f1(labels, good) - metrics.f1(labels, poor), abs=1e-12)
  loop = [metrics.f1(labels[d], good[d]) - metrics.f1(labels[d], poor[d]) for d in rng.integers(0, 500, (2000, 500))]
  np.testing.assert_allclose(result['ci95'], np.quantile(loop, [0.025, 0.975]), atol=0.01)
