"""Agreement statistics with power (issue 15, item 4): each fast path against a plain loop or a hand case."""

import numpy as np
import pytest
from scipy import stats

from faithjax import metrics
from faithjax.data.encode import EncodedSplit
from faithjax.faithfulness import agreement
from faithjax.faithfulness import diagnostics


def loop_hierarchical(values, statistic, draws):
  """The two-level bootstrap one resample, one seed slot at a time: values [explainers, seeds, n]."""
  seeds, examples = draws
  boot = np.zeros((values[0].shape[0], len(seeds)))
  for e in range(values[0].shape[0]):
    for b in range(len(seeds)):
      per_slot = [statistic(*(v[e, seeds[b, k]][examples[b, k]] for v in values)) for k in range(seeds.shape[1])]
      boot[e, b] = np.mean(per_slot)
  return boot


def test_hierarchical_bootstrap_matches_a_loop_for_a_mean_and_for_f1():
  rng = np.random.default_rng(0)
  draws = metrics.hierarchical_draws(n_seeds=3, n=7, n_resamples=40, seed=1)
  rates = rng.random((2, 3, 7))
  estimate, boot = metrics.hierarchical_bootstrap((rates,), lambda x: np.mean(x, -1), draws)
  np.testing.assert_allclose(estimate, rates.mean((1, 2)))
  np.testing.assert_allclose(boot, loop_hierarchical((rates,), np.mean, draws))
  labels = np.broadcast_to(rng.integers(0, 2, (1, 3, 7)), (2, 3, 7))
  predictions = rng.integers(0, 2, (2, 3, 7))
  _, boot = metrics.hierarchical_bootstrap((labels, predictions), metrics.f1_along_last_axis, draws)
  np.testing.assert_allclose(boot, loop_hierarchical((labels, predictions), metrics.f1, draws))


def test_one_seed_is_the_example_bootstrap_and_seeds_vary_between_resamples():
  seeds, examples = metrics.hierarchical_draws(n_seeds=1, n=5, n_resamples=30)
  assert not seeds.any() and examples.shape == (30, 1, 5)
  values = np.arange(5.)[None, None]
  _, boot = metrics.hierarchical_bootstrap((values,), lambda x: np.mean(x, -1), (seeds, examples))
  np.testing.assert_allclose(boot[0], values[0, 0][examples[:, 0]].mean(-1))
  seeds, _ = metrics.hierarchical_draws(n_seeds=4, n=5, n_resamples=200)
  assert len({tuple(np.sort(s)) for s in seeds}) > 10  # seeds are drawn with replacement, not kept fixed


@pytest.mark.filterwarnings('ignore::scipy.stats.ConstantInputWarning')  # constant rows: scipy's nan, our 0
def test_rank_statistics_match_scipy_with_ties():
  rng = np.random.default_rng(2)
  a, b = rng.integers(0, 4, (50, 6)).astype(float), rng.integers(0, 4, (50, 6)).astype(float)
  for row_a, row_b, tau, rho in zip(a, b, agreement.kendall_tau_b(a, b), agreement.spearman_rho(a, b)):
    np.testing.assert_allclose(tau, agreement.kendall_tau(row_a, row_b), atol=1e-12)
    expected = stats.spearmanr(row_a, row_b).statistic
    np.testing.assert_allclose(rho, expected if np.isfinite(expected) else 0., atol=1e-12)


def test_pair_differences_call_overlapping_pairs_ties():
  boot = np.array([[1., 1.1, 0.9, 1.05], [0., 0.1, -0.1, 0.05], [0.5, 1.5, 0.2, 1.2]])
  rows = agreement.pair_differences(['x', 'y', 'z'], boot.mean(1), boot)
  verdicts = {(r['a'], r['b']): r['verdict'] for r in rows}
  assert verdicts == {('x', 'y'): 'x', ('x', 'z'): 'tie', ('y', 'z'): 'z'}
  assert rows[0]['difference'] == 1.0 and rows[0]['ci95'][0] == rows[0]['ci95'][1] == 1.0


def test_rank_agreement_is_uncertain_when_explainers_are_tied():
  rng = np.random.default_rng(3)
  clear = np.array([3., 2., 1., 0.])[:, None] + 0.01 * rng.standard_normal((4, 500))
  tied = np.array([1., 1., 0., 0.])[:, None] + 0.1 * rng.standard_normal((4, 500))
  sure = agreement.rank_agreement(clear.mean(1), clear, clear.mean(1), clear)
  assert sure['kendall_tau']['ci95'] == [1., 1.] and sure['spearman_rho']['value'] == 1.
  unsure = agreement.rank_agreement(clear.mean(1), clear, tied.mean(1), tied)['kendall_tau']
  assert unsure['ci95'][0] <= 1 / 3 and unsure['ci95'][1] == 1.  # the two ties flip between resamples
  pooled = agreement.rank_agreement(np.stack([clear.mean(1)] * 2), np.stack([clear, clear]),
                                    np.stack([clear.mean(1), tied.mean(1)]), np.stack([clear, tied]))['kendall_tau']
  np.testing.assert_allclose(pooled['value'], (1 + unsure['value']) / 2)  # the mean over corpora
  assert unsure['ci95'][0] < pooled['ci95'][0] and pooled['ci95'][1] == 1.


def tiny_split():
  return EncodedSplit.from_lists([[5, 6, 7, 8], [9, 10], [11, 12, 13]], [0, 1, 1])


def test_removed_tokens_match_a_per_document_loop():
  split, rng = tiny_split(), np.random.default_rng(4)
  scores = rng.integers(0, 3, len(split.ids)).astype(np.float32)  # ties: the earlier position goes first
  indices, rates = np.array([2, 0]), np.array([2 / 3, 0.5])
  removed = diagnostics.removed_tokens(split, indices, scores, rates)
  for row, (i, rate) in enumerate(zip(indices, rates)):
    doc = scores[split.offsets[i]:split.offsets[i + 1]]
    order = sorted(range(len(doc)), key=lambda t: (-doc[t], t))
    expected = np.zeros(removed.shape[1], bool)
    expected[order[:round(rate * len(doc))]] = True
    np.testing.assert_array_equal(removed[row], expected)


def test_opposing_share_fixed_class_maps_and_leakage_by_hand():
  split = tiny_split()
  effects = np.array([1., -2., 3., -1., -1., 2., 0.5, 0.5, -3.], np.float32)
  removed = np.array([[True, True, False, False], [True, True, False, False]])
  share = diagnostics.opposing_share(split, np.array([0, 1]), removed, effects)
  assert share == {'removed': 4, 'opposing': 0.5, 'all_tokens': 0.5}  # removed: 1, -2 | -1, -1; all: 3 of 6
  flipped = diagnostics.fixed_class_maps(split, effects, np.array([1, 0, 1]))
  np.testing.assert_array_equal(flipped, np.concatenate([effects[:4], -effects[4:6], effects[6:]]))
  result = diagnostics.leakage(labels=[0, 1, 1, 0], classifier_predictions=[1, 1, 0, 0], weak_predictions=[1, 1, 1, 1])
  assert result['classifier_wrong'] == 2 and result['follows_classifier_when_wrong'] == 0.5
  assert result['agrees_with_classifier'] == 0.5 and result['accuracy'] == 0.5
