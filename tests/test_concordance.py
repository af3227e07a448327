"""Kendall's W against its formula written out by hand, and against scipy where a relation holds."""

import numpy as np
import pytest
from scipy import stats

from faithjax import concordance


def average_ranks(values):
  """1-based ranks, tied values sharing the mean of the ranks they span: a loop over one rater's values."""
  ordered = sorted(values)
  return [np.mean([i + 1 for i, v in enumerate(ordered) if v == value]) for value in values]


def w_loop(scores):
  m, n = len(scores), len(scores[0])
  ranks = [average_ranks(list(row)) for row in scores]
  sums = [sum(ranks[j][i] for j in range(m)) for i in range(n)]
  spread = sum((s - sum(sums) / n) ** 2 for s in sums)
  ties = sum(t ** 3 - t for row in scores for t in (list(row).count(v) for v in set(row)))
  return 12 * spread / (m ** 2 * (n ** 3 - n) - m * ties)


def test_hand_made_rankings():
  assert concordance.kendalls_w([[1, 2, 3, 4]] * 3) == pytest.approx(1)
  assert concordance.kendalls_w([[1, 2, 3, 4], [4, 3, 2, 1]]) == pytest.approx(0)
  # Rank sums 2, 4.5, 5.5 around 4: S = 6.5; one tie of two: T = 6; W = 12 * 6.5 / (4 * 24 - 2 * 6).
  assert concordance.kendalls_w([[1, 2, 3], [10, 20, 20]]) == pytest.approx(78 / 84)
  assert np.isnan(concordance.kendalls_w([[1, 1, 1], [2, 2, 2]]))


def test_matches_the_formula_on_random_scores_with_ties():
  rng = np.random.default_rng(0)
  for m, n in [(2, 3), (3, 5), (6, 10)]:
    scores = rng.integers(0, 4, (m, n)).astype(float)
    assert concordance.kendalls_w(scores) == pytest.approx(w_loop(scores.tolist()))


def test_friedman_statistic_is_m_n_minus_one_w():
  rng = np.random.default_rng(1)
  for m, n in [(3, 4), (5, 6), (10, 9)]:
    scores = rng.integers(0, 5, (m, n)).astype(float)  # ties: scipy's Friedman statistic corrects for them too
    friedman = stats.friedmanchisquare(*scores.T).statistic
    assert friedman == pytest.approx(m * (n - 1) * concordance.kendalls_w(scores))


def test_two_raters_is_spearman_shifted():
  rng = np.random.default_rng(2)
  for n in (3, 7, 12):
    scores = rng.standard_normal((2, n))
    assert concordance.kendalls_w(scores) == pytest.approx((stats.spearmanr(*scores).statistic + 1) / 2)


def test_invariant_to_each_raters_scale_but_not_to_one_raters_reversal():
  rng = np.random.default_rng(3)
  scores = rng.standard_normal((4, 8))
  rescaled = scores * np.array([1, 10, 0.1, 3])[:, None] + 5
  assert concordance.kendalls_w(rescaled) == pytest.approx(concordance.kendalls_w(scores))
  assert concordance.kendalls_w(-scores) == pytest.approx(concordance.kendalls_w(scores))
  agreeing = np.stack([np.arange(8.)] * 4)
  assert concordance.kendalls_w(agreeing * np.array([1, 1, 1, -1])[:, None]) < 0.5


def test_a_stack_of_tables_is_each_tables_w():
  rng = np.random.default_rng(4)
  scores = rng.integers(0, 3, (7, 2, 4, 6)).astype(float)  # e.g. resamples x corpora of [raters, items], ties
  scores[0, 0] = 1.  # every rater ties every item: NaN
  expected = [[w_loop(table.tolist()) if i or j else np.nan for j, table in enumerate(tables)]
              for i, tables in enumerate(scores)]
  np.testing.assert_allclose(concordance.kendalls_w(scores), expected)
