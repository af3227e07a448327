"""The map-property probe's constructions against plain per-document loops (faithjax/faithfulness/probe_maps.py)."""

import numpy as np
import pytest

from faithjax.data import encode
from faithjax.data import synthetic
from faithjax.faithfulness import probe_maps


def random_batch(seed=0, batch=6, seq=11):
  """Scores with ties and zeros, right-padded rows of varied length (one empty), a random rationale."""
  rng = np.random.default_rng(seed)
  lengths = np.array([seq, 1, 0, 5, 8, 3])[:batch]
  mask = np.arange(seq) < lengths[:, None]
  scores = np.where(mask, rng.choice([-2., -0.5, 0., 0.5, 1., 3.], size=(batch, seq)), 0.)
  rationale = mask & (rng.random((batch, seq)) < 0.3)
  return scores, mask, rationale


def by_document(fn, scores, mask):
  """fn(values of the real tokens) per row, placed back into a zero-filled padded array: the obvious reference."""
  out = np.zeros(scores.shape)
  for row in range(len(scores)):
    n = int(mask[row].sum())
    out[row, :n] = fn(list(scores[row, :n]))
  return out


def test_ground_truth_and_sign_flip():
  scores, mask, rationale = random_batch()
  truth = probe_maps.ground_truth(rationale, mask)
  expected = by_document(lambda values: values, rationale.astype(float), mask)
  np.testing.assert_array_equal(truth, expected)
  np.testing.assert_array_equal(probe_maps.sign_flipped(scores, mask),
                                by_document(lambda values: [-v for v in values], scores, mask))


@pytest.mark.parametrize('k', [0, 1, 2, 4, 20])
def test_top_k_keeps_the_k_highest_earlier_first_on_ties(k):
  scores, mask, _ = random_batch()

  def keep_top(values):
    order = sorted(range(len(values)), key=lambda i: (-values[i], i))  # ties: earlier position first
    kept = set(order[:k])
    return [v if i in kept else 0. for i, v in enumerate(values)]
  np.testing.assert_array_equal(probe_maps.top_k(scores, mask, k), by_document(keep_top, scores, mask))


@pytest.mark.parametrize('temperature', [0.25, 1., 3.])
def test_temperature_is_a_signed_power(temperature):
  scores, mask, _ = random_batch()
  power = lambda values: [(1 if v > 0 else -1 if v < 0 else 0) * abs(v) ** (1 / temperature) for v in values]
  np.testing.assert_allclose(probe_maps.with_temperature(scores, mask, temperature), by_document(power, scores, mask),
                             rtol=1e-12)


def test_noise_is_added_on_real_tokens_only():
  scores, mask, _ = random_batch()
  noise = np.random.default_rng(3).standard_normal(mask.shape)
  expected = np.zeros(scores.shape)
  for row, col in zip(*np.nonzero(mask)):
    expected[row, col] = scores[row, col] + 0.7 * noise[row, col]
  np.testing.assert_allclose(probe_maps.noisy(np.random.default_rng(3), scores, mask, 0.7), expected, rtol=1e-12)


def test_permuted_is_a_permutation_of_each_documents_values_and_mixes_positions():
  scores, mask, _ = random_batch()
  rng = np.random.default_rng(1)
  permutations = [probe_maps.permuted(rng, scores, mask) for _ in range(200)]
  for out in permutations:
    assert np.all(out[~mask] == 0)
    for row in range(len(scores)):
      assert sorted(out[row, mask[row]]) == sorted(scores[row, mask[row]])
  # Every position of the full row receives the row's largest value sometimes (not a fixed reordering).
  top = np.argmax(scores[0])
  assert len({int(np.argmax(out[0] == scores[0, top])) for out in permutations}) == mask[0].sum()


def test_attention_like_is_a_softmax_over_real_tokens():
  scores, mask, _ = random_batch()

  def softmax(values):
    exps = [np.exp(v) for v in values]
    return [e / sum(exps) for e in exps]
  out = probe_maps.attention_like(scores, mask)
  np.testing.assert_allclose(out, by_document(softmax, scores, mask), rtol=1e-12)
  np.testing.assert_allclose(out.sum(-1), (mask.sum(-1) > 0).astype(float), rtol=1e-12)


def test_constructed_maps_vary_one_property_of_the_truth_or_the_base():
  _, mask, rationale = random_batch()
  maps = probe_maps.constructed_maps(np.random.default_rng(0), rationale, mask)
  names = {name for family in probe_maps.FAMILIES.values() for _, name in family} | set(probe_maps.SINGLE)
  assert names == set(maps)
  base = maps[probe_maps.BASE]
  for name, values in maps.items():
    assert values.shape == mask.shape and np.all(values[~mask] == 0), name
  np.testing.assert_array_equal(maps['truth_flipped'], -maps['truth'])
  assert np.all((maps['topk_1'] != 0).sum(-1) == np.minimum(mask.sum(-1), 1))
  np.testing.assert_array_equal(np.sort(maps['random_topk_4'], -1), np.sort(maps['topk_4'], -1))
  # Temperature and the attention form keep the base's ranking of the real tokens.
  for name in ('temperature_0.25', 'temperature_4', 'attention_like'):
    for row in range(len(mask)):
      n = mask[row].sum()
      np.testing.assert_array_equal(np.argsort(-maps[name][row, :n], kind='stable'),
                                    np.argsort(-base[row, :n], kind='stable'))


def test_split_maps_are_ragged_like_each_splits_ids():
  corpus, _ = encode.encode_corpus('synthetic', synthetic.generate(sizes={'train': 9, 'valid': 3, 'test': 5}))
  maps = probe_maps.split_maps(corpus, 0)
  assert set(maps) == set(probe_maps.NAMES)
  for name, split in corpus.splits.items():
    np.testing.assert_array_equal(maps['truth'][name], split.rationale.astype(np.float32))
    for i in range(len(split)):  # attention-like sums to 1 within each document's own span
      assert maps['attention_like'][name][split.offsets[i]:split.offsets[i + 1]].sum() == pytest.approx(1, abs=1e-6)
