"""Rank agreement between evaluations."""

import itertools

import numpy as np
import pytest
from scipy import stats

from faithjax.faithfulness import agreement


def tau_by_counting(a, b):
  """Kendall tau-a from concordant and discordant pairs (no ties in the inputs)."""
  pairs = list(itertools.combinations(range(len(a)), 2))
  sign = lambda i, j: np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
  return sum(sign(i, j) for i, j in pairs) / len(pairs)


def test_kendall_tau_matches_pair_counting():
  rng = np.random.default_rng(0)
  for _ in range(20):
    a, b = rng.normal(size=6), rng.normal(size=6)
    np.testing.assert_allclose(agreement.kendall_tau(a, b), tau_by_counting(a, b), atol=1e-12)


def test_exact_permutation_p_value_for_four_explainers():
  tau, p = agreement.kendall_permutation_test([1, 2, 3, 4], [10, 20, 30, 40])
  assert tau == 1.0 and np.isclose(p, 2 / 24)  # only the identity and the reversal reach |tau| = 1
  tau, p = agreement.kendall_permutation_test([1, 2, 3, 4], [40, 30, 20, 10])
  assert tau == -1.0 and np.isclose(p, 2 / 24)


def test_orientation_makes_low_deletion_rate_agree_with_high_tvd():
  scores = {'deletion_rate': {'ig': 0.1, 'ixg': 0.2, 'att': 0.5, 'sal': 0.6},
            'shuffle_tvd': {'ig': 0.4, 'ixg': 0.3, 'att': 0.2, 'sal': 0.1}}
  (row,) = agreement.pairwise_agreement(scores)
  assert row['tau'] == 1.0 and row['explainers'] == ['att', 'ig', 'ixg', 'sal']
  assert agreement.ranking(scores['deletion_rate'], 'deletion_rate') == ['ig', 'ixg', 'att', 'sal']


def test_one_shared_explainer_has_no_order_to_agree_on_and_gives_no_rows(recwarn):
  scores = {'deletion_rate': {'ig': 0.1, 'att': 0.5}, 'shuffle_tvd': {'ig': 0.4}}  # only 'ig' scored by both
  assert agreement.pairwise_agreement(scores) == []
  assert not recwarn.list  # before: 10 rows of tau 0 and scipy's small-sample warning


def test_spearman_ci_brackets_the_estimate_and_detects_dependence():
  rng = np.random.default_rng(1)
  x = rng.normal(size=300)
  related = agreement.spearman_with_ci(x, x + 0.5 * rng.normal(size=300))
  assert related['low'] <= related['rho'] <= related['high'] and related['low'] > 0.5
  # Independent data: a 95% interval should cover 0 in about 19 of 20 draws.
  covered = [agreement.spearman_with_ci(rng.normal(size=200), rng.normal(size=200), n_resamples=200)
             for _ in range(20)]
  assert sum(c['low'] < 0 < c['high'] for c in covered) >= 16


def partial_correlation_from_precision(x, y, covariates):
  """The textbook route: -P_xy / sqrt(P_xx P_yy) of the inverse of the rank correlation matrix."""
  ranks = np.array([stats.rankdata(v) for v in (x, y, *covariates)])
  precision = np.linalg.inv(np.corrcoef(ranks))
  return -precision[0, 1] / np.sqrt(precision[0, 0] * precision[1, 1])


def test_partial_spearman_equals_the_precision_matrix_route_and_plain_spearman_without_covariates():
  rng = np.random.default_rng(0)
  for _ in range(5):
    n = int(rng.integers(20, 200))
    length, margin = rng.integers(5, 60, n), rng.random(n)  # integer lengths: ties in the ranks
    x, y = length + rng.normal(size=n) * 10, length * margin + rng.normal(size=n)
    assert agreement.partial_spearman(x, y, [length, margin]) == pytest.approx(
        partial_correlation_from_precision(x, y, [length, margin]), abs=1e-10)
    assert agreement.partial_spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


@pytest.mark.filterwarnings('ignore::scipy.stats.ConstantInputWarning')  # scipy's reference on the constant row
def test_spearman_along_last_axis_is_scipys_and_the_precision_routes_row_by_row():
  """Stacks of rows [resamples, seeds, n] with ties, plain and with two covariates; a constant row is NaN, as
  scipy's, and a constant covariate drops out."""
  rng = np.random.default_rng(2)
  x = np.round(rng.normal(size=(3, 4, 30)), 1)
  y = np.round(x + rng.normal(size=x.shape), 1)
  length, margin = rng.integers(5, 9, x.shape), rng.random(x.shape)
  x[0, 0] = 1.
  plain = [[stats.spearmanr(*pair).statistic for pair in zip(*rows)] for rows in zip(x, y)]
  np.testing.assert_allclose(agreement.spearman_along_last_axis(x, y), plain, atol=1e-12)
  partial = [[np.nan if np.ptp(a) == 0 else partial_correlation_from_precision(a, b, [c, d])
              for a, b, c, d in zip(*rows)] for rows in zip(x, y, length, margin)]
  np.testing.assert_allclose(agreement.spearman_along_last_axis(x, y, length, margin), partial, atol=1e-10)
  assert agreement.spearman_along_last_axis(x[1, 1], y[1, 1], np.full(30, 3.)) == pytest.approx(plain[1][1])


def test_a_correlation_that_only_a_covariate_makes_vanishes_when_it_is_partialled_out():
  rng = np.random.default_rng(1)
  length = rng.normal(size=500)
  x, y = length + 0.3 * rng.normal(size=500), length + 0.3 * rng.normal(size=500)  # related only through length
  plain, partial = (agreement.spearman_with_ci(x, y, covariates=c, n_resamples=300) for c in ((), [length]))
  # ranks are not linear in each other, so a little is left (about .1), against .86 without the covariate
  assert plain['low'] > 0.7 and abs(partial['rho']) < 0.2 and partial['high'] < plain['low']
