"""Classification metrics and bootstrap CIs against plain-loop references."""

import numpy as np
import pytest
from scipy import stats

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


# Two-level (seeds x test examples) bootstrap. Simulated scores y[s, i] = seed effect + example effect +
# interaction, with true mean 0: crossed, every seed scores the same examples (one example effect per column);
# nested, each seed its own examples.
N_SEEDS, N_EXAMPLES, N_DATA_SETS, N_RESAMPLES = 5, 40, 500, 200
SEED_DOMINATED, EXAMPLE_DOMINATED = (0.2, 0.1, 0.3), (0.05, 0.4, 0.1)  # sd of seed, example, interaction effects


def simulated(design, sds, seed):
  """N_DATA_SETS data sets [N_DATA_SETS, N_SEEDS, N_EXAMPLES] of the design, true mean 0."""
  rng = np.random.default_rng(seed)
  seed_sd, example_sd, interaction_sd = sds
  examples = (1 if design == 'crossed' else N_SEEDS, N_EXAMPLES)
  return (rng.normal(0, seed_sd, (N_DATA_SETS, N_SEEDS, 1)) + rng.normal(0, example_sd, (N_DATA_SETS, *examples))
          + rng.normal(0, interaction_sd, (N_DATA_SETS, N_SEEDS, N_EXAMPLES)))


def mean_along_last_axis(values):
  return np.mean(values, -1)


def coverage(low, high):
  return float(np.mean((low <= 0) & (0 <= high)))


@pytest.mark.parametrize('design', metrics.DESIGNS)
@pytest.mark.parametrize('sds', [SEED_DOMINATED, EXAMPLE_DOMINATED], ids=['seed_dominated', 'example_dominated'])
def test_two_level_intervals_cover_the_true_mean_95_percent_of_the_time(design, sds):
  """500 simulated data sets of 5 seeds: the share of 95% intervals that contain the true mean is within 3 points
  of 95% (its Monte Carlo sd is 1 point). The nested two-level percentile bootstrap this replaced covered .69 of
  crossed data sets whose example effects dominate, and the crossed one (seeds and one shared example draw) .87
  where 5 seeds' spread dominates (test_a_percentile_interval_undercovers_with_five_seeds)."""
  values = simulated(design, sds, seed=len(design) + int(10 * sds[0]))
  draws = metrics.two_level_draws(N_SEEDS, N_EXAMPLES, design, N_RESAMPLES, seed=1)
  estimate, boot = metrics.two_level_bootstrap((values,), mean_along_last_axis, draws)
  assert abs(coverage(*draws.interval(estimate, boot)) - 0.95) <= 0.03


def test_a_percentile_interval_undercovers_with_five_seeds():
  """Why draws.interval is a t interval: the percentile interval of the crossed two-level bootstrap (seeds with
  replacement and one example draw shared by them, in one resample), written out here, covers the true mean of
  seed-dominated data well under 95% with 5 seeds."""
  values = simulated('crossed', SEED_DOMINATED, seed=7)
  rng = np.random.default_rng(2)
  seeds = rng.integers(0, N_SEEDS, (N_RESAMPLES, N_SEEDS))
  examples = rng.integers(0, N_EXAMPLES, (N_RESAMPLES, N_EXAMPLES))
  boot = values[:, seeds[..., None], examples[:, None, :]].mean((-2, -1))  # [N_DATA_SETS, N_RESAMPLES]
  assert coverage(*np.quantile(boot, [0.025, 0.975], -1)) < 0.9


def loop_two_level_variances(values, statistic, n_resamples, seed):
  """The variances of the three resampled parts, one resample and one seed at a time with an RNG of its own:
  values, a tuple of [n_seeds, n]; statistic of [n] arrays."""
  rng = np.random.default_rng(seed)
  n_seeds, n = values[0].shape
  of_seeds = lambda seeds, draw: np.mean([statistic(*(v[s][draw(k)] for v in values)) for k, s in enumerate(seeds)])
  seed_part, shared, per_seed = [], [], []
  for _ in range(n_resamples):
    seed_part.append(of_seeds(rng.integers(0, n_seeds, n_seeds), lambda k: slice(None)))
    draw = rng.integers(0, n, n)
    shared.append(of_seeds(range(n_seeds), lambda k: draw))
    draws = rng.integers(0, n, (n_seeds, n))
    per_seed.append(of_seeds(range(n_seeds), lambda k: draws[k]))
  return np.var(seed_part), np.var(shared), np.var(per_seed)


@pytest.mark.parametrize('seed', range(2))
def test_two_level_bootstrap_parts_match_a_loop_with_its_own_draws(seed):
  """The three parts' variances for a mean and for F1 equal those of a plain loop that draws its own resamples
  (within their Monte Carlo error, 2000 resamples each: about 3% of a variance), and the estimate is the mean over
  seeds of the per-seed statistic."""
  rng = np.random.default_rng(seed)
  labels = np.broadcast_to(rng.integers(0, 2, 30), (4, 30))  # crossed: the seeds share the examples' labels
  predictions = np.where(rng.random((4, 30)) < 0.7 + 0.05 * np.arange(4)[:, None], labels, 1 - labels)
  rates = rng.random((4, 30)) + rng.random((4, 1))
  draws = metrics.two_level_draws(4, 30, 'crossed', 2000, seed=seed + 10)
  for units, fast, slow in [((rates,), mean_along_last_axis, np.mean),
                            ((labels, predictions), metrics.f1_along_last_axis, metrics.f1)]:
    estimate, boot = metrics.two_level_bootstrap(units, fast, draws)
    assert estimate == pytest.approx(np.mean([slow(*(u[k] for u in units)) for k in range(4)]))
    expected = loop_two_level_variances(units, slow, 2000, seed=seed + 20)
    np.testing.assert_allclose(np.var(np.split(boot, 3), -1), expected, rtol=0.15)


def test_two_level_interval_reduces_to_its_parts():
  """One seed: the example bootstrap's t interval. Nested: only the seeds' spread, with a t of n_seeds - 1
  degrees of freedom. Crossed: no spread between seeds leaves the examples' t interval."""
  rng = np.random.default_rng(3)
  one = rng.random((1, 50))
  draws = metrics.two_level_draws(1, 50, 'crossed', 1000)
  estimate, boot = metrics.two_level_bootstrap((one,), mean_along_last_axis, draws)
  low, high = draws.interval(estimate, boot)
  t_49 = stats.t.ppf(0.975, 49)
  assert (high - low) / 2 == pytest.approx(t_49 * np.std(np.split(boot, 3)[1], ddof=1) * np.sqrt(50 / 49))
  seeds = rng.random((5, 1)) + rng.random((5, 50))
  nested = metrics.two_level_draws(5, 50, 'nested', 1000)
  estimate, boot = metrics.two_level_bootstrap((seeds,), mean_along_last_axis, nested)
  low, high = nested.interval(estimate, boot)
  seed_means = seeds.mean(1)
  assert (high - low) / 2 == pytest.approx(stats.t.ppf(0.975, 4) * np.std(seed_means, ddof=1) / np.sqrt(5), rel=0.1)
  shared = np.broadcast_to(rng.random(50), (5, 50))
  estimate, boot = metrics.two_level_bootstrap((shared,), mean_along_last_axis, draws := metrics.two_level_draws(
      5, 50, 'crossed', 1000))
  low, high = draws.interval(estimate, boot)
  assert (high - low) / 2 == pytest.approx(t_49 * np.std(shared[0], ddof=1) / np.sqrt(50), rel=0.1)
  with pytest.raises(ValueError, match='design'):
    metrics.two_level_draws(2, 5, 'paired')


@pytest.mark.parametrize('seed', range(3))
def test_three_class_f1_and_roc_auc_are_the_macro_means_of_per_class_loops(seed):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 3, 90)
  probs = rng.dirichlet(np.ones(3), 90).round(1)  # coarse, so ties occur
  predictions = probs.argmax(-1)
  macro = np.mean([loop_f1(labels, predictions, c) for c in range(3)])
  one_vs_rest = np.mean([loop_roc_auc((labels == c).astype(int), probs[:, c]) for c in range(3)])
  report = metrics.test_report(labels, probs)
  assert report['f1'] == pytest.approx(macro) and report['macro_f1'] == pytest.approx(macro)
  assert report['f1_average'] == 'macro' and report['roc_auc'] == pytest.approx(one_vs_rest)
  assert report['f1'] != pytest.approx(loop_f1(labels, predictions))  # not class 1's
  pairs = np.stack([labels, predictions], 1)
  expected = metrics.bootstrap_ci(pairs, statistic=lambda p: np.mean([loop_f1(p[:, 0], p[:, 1], c) for c in range(3)]),
                                  n_resamples=200, seed=seed)
  assert metrics.f1_ci(labels, predictions, 3, n_resamples=200, seed=seed) == pytest.approx(expected)


def test_two_class_report_keeps_the_positive_class_f1_and_its_auc():
  rng = np.random.default_rng(4)
  labels = rng.integers(0, 2, 80)
  probs = rng.dirichlet(np.ones(2), 80)
  report = metrics.test_report(labels, probs)
  assert report['f1'] == pytest.approx(loop_f1(labels, probs.argmax(-1))) and report['f1_average'] == 'binary'
  assert report['roc_auc'] == pytest.approx(loop_roc_auc(labels, probs[:, 1]))
  # the one-vs-rest mean over both classes is the same number: p0 = 1 - p1 ranks the examples in reverse
  assert report['roc_auc'] == pytest.approx(np.mean([loop_roc_auc(labels == c, probs[:, c]) for c in range(2)]))


@pytest.mark.filterwarnings("ignore:An input array is constant")
def test_masked_spearman_is_scipys_per_document():
  rng = np.random.default_rng(0)
  a = rng.integers(0, 4, (40, 9)).astype(float)  # many ties
  b = a + rng.normal(0, 1, a.shape) * (rng.random((40, 1)) < 0.5)  # half the rows: b == a
  lengths = rng.integers(0, 10, 40)
  mask = np.arange(9) < lengths[:, None]
  mask[0], mask[1] = True, np.arange(9) < 1  # a full row; a one-token row (nan)
  a[2] = 1.  # a constant map (nan)
  a[~mask], b[~mask] = 5., -5.  # what PAD holds must not matter
  rho = metrics.masked_spearman(a, b, mask)
  expected = [stats.spearmanr(x[m], y[m]).statistic if m.sum() > 1 else np.nan for x, y, m in zip(a, b, mask)]
  np.testing.assert_allclose(rho, expected, rtol=1e-12, equal_nan=True)
  assert np.isnan(rho[[1, 2]]).all() and np.sum(rho == 1) >= 10
