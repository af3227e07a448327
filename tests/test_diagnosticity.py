"""Diagnosticity: degradations of a map, cascading randomisation, and the share of pairs an evaluation gets right."""

import itertools

import jax
import numpy as np
import pytest

import conftest

from faithjax.faithfulness import diagnosticity
from faithjax.faithfulness import eraser
from faithjax.models import contract

VOCAB, WIDTH = 30, 8


@pytest.fixture(scope='module')
def maps():
  """scores [12, WIDTH] on documents of 0..WIDTH real tokens (first), and the mask."""
  rng = np.random.default_rng(0)
  lengths = np.concatenate([[0, 1, WIDTH], rng.integers(2, WIDTH + 1, 9)])
  mask = np.arange(WIDTH) < lengths[:, None]
  return rng.standard_normal(mask.shape).astype(np.float32), mask


def test_permuted_moves_values_among_real_tokens_only(maps):
  scores, mask = maps
  draws = [np.asarray(diagnosticity.permuted(scores, mask, jax.random.key(seed))) for seed in range(400)]
  for got in draws[:5]:
    np.testing.assert_array_equal(got[~mask], scores[~mask])
    for row in range(len(scores)):
      np.testing.assert_array_equal(np.sort(got[row][mask[row]]), np.sort(scores[row][mask[row]]))
  # Uniform: the full row's first value lands on each of its WIDTH positions 1/WIDTH of the time.
  landed = np.array([np.flatnonzero(got[2] == scores[2, 0])[0] for got in draws])
  assert np.abs(np.bincount(landed, minlength=WIDTH) / len(draws) - 1 / WIDTH).max() < 0.07


def test_noise_is_relative_to_each_documents_scale(maps):
  scores, mask = maps
  scaled = scores * np.array([1, 1, 100, *[1] * 9], np.float32)[:, None]  # one document on another scale
  level = 0.5
  draws = np.stack([np.asarray(diagnosticity.noisy(scaled, mask, jax.random.key(seed), level))
                    for seed in range(300)])
  np.testing.assert_array_equal(draws[:, ~mask], np.broadcast_to(scaled[~mask], draws[:, ~mask].shape))
  for row in range(len(scores)):
    real = scaled[row][mask[row]]
    if len(real):
      rms = np.sqrt(np.mean(real.astype(np.float64) ** 2))
      noise = draws[:, row][:, mask[row]] - real
      assert abs(noise.std() / (level * rms) - 1) < 0.1 and abs(noise.mean()) < 0.1 * level * rms


def test_degradations_are_named_and_sign_flip_negates(maps):
  scores, mask = maps
  got = diagnosticity.degradations(scores, mask, jax.random.key(0), levels=(0.1, 1, 10))
  assert list(got) == ['permuted', 'noise_0.1', 'noise_1', 'noise_10', 'sign_flipped']
  np.testing.assert_array_equal(got['sign_flipped'], np.where(mask, -scores, scores))
  # Larger noise moves the map further.
  moved = [np.abs(np.asarray(got[f'noise_{level}']) - scores).sum() for level in ('0.1', '1', '10')]
  assert moved[0] < moved[1] < moved[2]


def test_cascading_randomisation_replaces_one_more_module_each_step():
  model = conftest.tiny_classifier('bilstm', VOCAB)
  params = contract.init(model, jax.random.key(0))
  order = ['output', 'attention', 'recurrences_1']
  cascade = diagnosticity.randomised_layers(model, params, jax.random.key(1), order)
  assert len(cascade) == len(order)
  same = lambda a, b: all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(np.array_equal(x, y)), a, b)))
  for depth, randomised in enumerate(cascade, 1):
    assert set(randomised) == set(params)
    for name in params:
      assert same(randomised[name], params[name]) == (name not in order[:depth]), (depth, name)
  with pytest.raises(ValueError, match='decoder'):
    diagnosticity.randomised_layers(model, params, jax.random.key(1), ['output', 'decoder'])


def diagnosticity_loop(original, degraded, orientation, n_resamples, seed):
  """Share of preferred pairs and a crossed bootstrap written out: one example draw for every map."""
  original, degraded = np.atleast_2d(original), np.atleast_2d(degraded)
  maps, examples = original.shape
  def share(rows):
    total = 0.
    for m in range(maps):
      for e in rows:
        a, b = (original[m, e], degraded[m, e]) if orientation > 0 else (degraded[m, e], original[m, e])
        total += 1. if a > b else 0.5 if a == b else 0.
    return total / (maps * len(rows))
  rng = np.random.default_rng(seed + 1)  # draws of its own
  boot = sorted(share([rng.integers(examples) for _ in range(examples)]) for _ in range(n_resamples))
  return share(range(examples)), (boot[int(0.025 * n_resamples)], boot[int(0.975 * n_resamples) - 1])


@pytest.mark.parametrize('orientation', [1, -1])
def test_diagnosticity_matches_loop(orientation):
  rng = np.random.default_rng(5)
  original = rng.integers(0, 4, (3, 60)).astype(float)  # ties among the pairs
  degraded = rng.integers(0, 4, (3, 60)) + rng.standard_normal(60).round()  # correlated over maps, per example
  got = diagnosticity.diagnosticity(original, degraded, orientation, n_resamples=2000)
  share, (low, high) = diagnosticity_loop(original, degraded, orientation, 2000, seed=0)
  assert got.share == pytest.approx(share) and (got.pairs, got.examples) == (180, 60)
  assert got.ci95[0] == pytest.approx(low, abs=0.02) and got.ci95[1] == pytest.approx(high, abs=0.02)
  one = diagnosticity.diagnosticity(original[0], degraded[0], orientation)
  assert one.share == pytest.approx(diagnosticity_loop(original[0], degraded[0], orientation, 10, 0)[0])
  assert one.pairs == 60


def test_a_crossed_interval_is_wider_than_independent_pairs_would_give():
  rng = np.random.default_rng(6)
  example_effect = rng.standard_normal(200)  # a document every map wins or loses on
  original = example_effect + 0.1 * rng.standard_normal((5, 200))
  got = diagnosticity.diagnosticity(original, np.zeros((5, 200)))
  pairs = diagnosticity.diagnosticity(original.ravel(), np.zeros(1000))
  assert np.ptp(got.ci95) > 1.5 * np.ptp(pairs.ci95)


def test_preferences_reject_missing_scores():
  with pytest.raises(ValueError, match='NaN'):
    diagnosticity.preferences([1., np.nan], [0., 0.])


def test_a_maximally_comprehensive_map_beats_its_degradations():
  """Planted: on each short document the map that orders its tokens as the best ordering of all does (found by
  ERASER over every permutation) is truly the most comprehensive; its degraded copies can only tie or lose."""
  model = conftest.tiny_classifier('bilstm', VOCAB)
  params = contract.init(model, jax.random.key(3))
  rng = np.random.default_rng(7)
  n, documents = 5, 16
  ids = np.zeros((documents, WIDTH), np.int32)
  ids[:, :n] = rng.integers(2, VOCAB, (documents, n))
  orderings = np.array(list(itertools.permutations(range(n))))
  ranked = np.zeros((len(orderings), WIDTH), np.float32)
  np.put_along_axis(ranked, orderings, np.arange(n, 0, -1, dtype=np.float32)[None], 1)
  best = np.stack([ranked[np.argmax(eraser.eraser_scores(model, params, np.broadcast_to(doc, ranked.shape), ranked)
                                    ['aopc_comprehensiveness'])] for doc in ids])
  degraded = diagnosticity.degradations(best, ids != 0, jax.random.key(0))
  comprehensiveness = lambda scores: np.asarray(eraser.eraser_scores(model, params, ids, np.asarray(scores))
                                                ['aopc_comprehensiveness'])
  original = comprehensiveness(best)
  for name in ('permuted', 'noise_4', 'sign_flipped'):
    assert diagnosticity.diagnosticity(original, comprehensiveness(degraded[name])).share > 0.9, name
  crossed = diagnosticity.diagnosticity(np.stack([original] * len(degraded)),
                                        np.stack([comprehensiveness(m) for m in degraded.values()]))
  assert crossed.share >= 0.5 and crossed.pairs == len(degraded) * documents
  itself = diagnosticity.diagnosticity(original, comprehensiveness(best))
  assert itself.share == 0.5 and itself.ci95 == (0.5, 0.5)


def test_cost_per_example():
  cost = diagnosticity.cost_of([11, 11, 31, 3], seconds=2.)
  assert (cost.forwards_per_example, cost.seconds_per_example) == (14, 0.5)
