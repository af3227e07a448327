"""Occlusion, SmoothGrad, GradientSHAP, KernelSHAP, LIME and the map transforms against slow
per-example definitions in float64 (the same random draws, loops over tokens, samples and
coalitions, numpy least squares), plus exact Shapley values by enumeration; and every explainer
that takes a `target` against its reference under the targets other than the default."""

import functools
import inspect
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from faithjax import FaithjaxError
from faithjax import config as config_lib
from faithjax import explain
from faithjax import io
from faithjax import pipeline
from faithjax import plugins
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.models import contract
from tests.test_explain import random_batch
from tests.test_explain import reference_forward
from tests.test_explain import reference_gradient
from tests.test_explain import reference_scores
from tests.test_explain import reference_value
from tests.test_explain import tiny_model
from tests.test_explain import x64  # noqa: F401  (fixture)

SAMPLES = 5
COALITIONS = 64  # > the 12 tokens of random_batch: every least-squares problem has one solution
KEY = jax.random.key(7)


class Example:
  """One document of the batch, evaluated by the plain definitions."""

  def __init__(self, model, params, ids, mask, row, target='prob'):
    self.model, self.params, self.target = model, params, target
    self.mask = mask[row:row + 1]
    self.emb = contract.embed(model, params, ids[row:row + 1])
    self.label = int(jnp.argmax(self.logits(self.emb, self.mask)))
    self.value = self.f(self.emb, self.mask)

  def logits(self, emb, mask):
    return reference_forward(self.model, self.params, emb, mask, False)[0]

  def f(self, emb, mask):
    return float(reference_value(self.logits(emb, mask), self.label, self.target))

  def without(self, keep, removal):
    """f with the tokens where keep [seq] is False removed ('pad': masked, and stepped over with a zero input
    along the original text, the fixed rule that test_departures checks against the LSTM step by step; with
    none kept, f of the empty document, one PAD position)."""
    kept = self.emb * keep[None, :, None]
    if removal != 'pad':
      return self.f(kept, self.mask)
    if not (self.mask[0] & keep).any():
      return self.f(contract.embed(self.model, self.params, np.zeros((1, 1), int)), np.zeros((1, 1), bool))
    logits, _ = contract.logits_from_inputs(self.model, self.params, contract.inputs_from_embeddings(
        self.model, self.params, kept), self.mask & keep, span=contract.text_span(self.mask))
    return float(reference_value(logits, self.label, self.target))

  def grad(self, emb):
    return reference_gradient(self.model, self.params, emb, self.mask, self.target, False, self.label)[0]


def with_lstm_biases(params):
  """params with non-zero LSTM biases, as after training: with zero ones, a zero input leaves the state at zero
  and a document without its tokens scores the same at every width whatever removal makes of it."""
  return {**params, **{name: {**layer, 'bias': jax.random.normal(jax.random.key(i), layer['bias'].shape,
                                                                 layer['bias'].dtype)}
                       for i, (name, layer) in enumerate(params.items()) if name.startswith('recurrences_')}}


def per_example(fn, model, params, ids, mask, **kwargs):
  """[batch, seq] from fn(example, row) -> scores [seq], 0 on PAD."""
  rows = [np.where(mask[row], fn(Example(model, params, ids, mask, row, **kwargs), row), 0.)
          for row in range(len(ids))]
  return np.stack(rows)


def reference_occlusion(example, row, removal):
  positions = np.arange(example.mask.shape[1])
  return np.array([example.value - example.without(positions != t, removal) if example.mask[0, t] else 0.
                   for t in positions])


def reference_smoothgrad(example, row, batch_shape, sigma):
  maps = []
  for n in range(SAMPLES):
    noise = explain.smoothgrad_noise(KEY, n, batch_shape, jnp.float64)[row]
    maps.append(np.linalg.norm(example.grad(example.emb + sigma * noise * example.mask[0, :, None]), axis=-1))
  return np.mean(maps, 0)


def reference_gradient_shap(example, row, pool, batch):
  maps = []
  for n in range(SAMPLES):
    rows, alphas = explain.gradient_shap_draws(KEY, n, batch, len(pool))
    baseline = pool[rows[row]][None]
    maps.append(np.sum((example.emb - baseline) * example.grad(baseline + alphas[row] * (example.emb - baseline)),
                       -1)[0])
  return np.mean(maps, 0)


def coalition_values(example, coalitions, removal):
  return np.array([example.without(keep, removal) for keep in coalitions])


def reference_kernel_shap(example, row, coalitions, removal='zero'):
  """Least squares with sum(phi) = f(x) - f(empty), by substituting the last real token's phi."""
  real = np.flatnonzero(example.mask[0])
  z = np.asarray(coalitions[:, row][:, real], float)
  empty = example.without(np.zeros(example.mask.shape[1], bool), removal)
  y = coalition_values(example, coalitions[:, row], removal) - empty
  gap = example.value - empty
  free = z[:, :-1] - z[:, -1:]
  phi_free = np.linalg.lstsq(free, y - z[:, -1] * gap, rcond=None)[0]
  scores = np.zeros(example.mask.shape[1])
  scores[real] = np.append(phi_free, gap - phi_free.sum())
  return scores


def reference_lime(example, row, coalitions, ridge=1., removal='zero'):
  """Weighted ridge with a free intercept: centre by the weighted means, then the normal equations."""
  real = np.flatnonzero(example.mask[0])
  z = np.asarray(coalitions[:, row][:, real], float)
  y = coalition_values(example, coalitions[:, row], removal)
  cosine = np.array([zi.sum() / (np.linalg.norm(zi) * np.sqrt(len(real))) if zi.any() else 0. for zi in z])
  weights = np.sqrt(np.exp(-(100 * (1 - cosine))**2 / 25**2))  # the lime package's kernel
  z_c = z - weights @ z / weights.sum()
  y_c = y - weights @ y / weights.sum()
  scores = np.zeros(example.mask.shape[1])
  scores[real] = np.linalg.solve(z_c.T @ (weights[:, None] * z_c) + ridge * np.eye(len(real)),
                                 z_c.T @ (weights * y_c))
  return scores


def fast(name, model, params, ids, mask, **options):
  scores = explain.make_explainer(name, model, **options)(params, ids, mask, KEY)
  assert scores.dtype == jnp.float64
  return np.asarray(scores)


def check(fast_scores, expected, rtol=1e-9):
  assert np.abs(expected).max() > 1e-6  # not vacuous
  np.testing.assert_allclose(fast_scores, expected, rtol=rtol, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize('removal', explain.REMOVALS)
@pytest.mark.parametrize('kind', ['bilstm', 'lstm'])
def test_occlusion_matches_leave_one_out_loop(x64, removal, kind):
  model, params = tiny_model(kind)
  params = with_lstm_biases(params)  # the one-token document's removal: the empty document, not its padding
  ids, mask = random_batch()
  # path_tokens=100: 2 positions per chunk, so several chunks and a partial last one.
  scores = fast('occlusion', model, params, ids, mask, removal=removal, path_tokens=100)
  check(scores, per_example(lambda e, row: reference_occlusion(e, row, removal), model, params, ids, mask))


@pytest.mark.parametrize('kind', ['bilstm', 'lstm'])
def test_smoothgrad_matches_noisy_saliency_loop(x64, kind):
  model, params = tiny_model(kind)
  ids, mask = random_batch()
  scores = fast('smoothgrad', model, params, ids, mask, samples=SAMPLES, sigma=0.5, path_tokens=100)
  check(scores, per_example(lambda e, row: reference_smoothgrad(e, row, (*ids.shape, 16), 0.5),
                            model, params, ids, mask))


def test_smoothgrad_without_noise_is_saliency(x64):
  model, params = tiny_model('bilstm')
  ids, mask = random_batch()
  check(fast('smoothgrad', model, params, ids, mask, samples=2, sigma=0.),
        reference_scores('saliency', model, params, ids, mask))


@pytest.mark.parametrize('pool_from', ['batch', 'documents', 'first_two_documents'])
def test_gradient_shap_matches_path_sample_loop(x64, pool_from):
  model, params = tiny_model('bilstm')
  ids, mask = random_batch()
  if pool_from == 'batch':
    options, pool = {}, contract.embed(model, params, ids)
  else:  # 3 other documents, one longer than the batch (cut) and one shorter (PAD-filled)
    baseline_ids = np.random.default_rng(5).integers(2, 50, (3, 15))
    baseline_ids[1, 6:] = 0
    options, pool = dict(baseline_ids=baseline_ids), contract.embed(model, params, baseline_ids[:, :12])
    if pool_from == 'first_two_documents':  # its option baseline_documents: the first 2 rows of baseline_ids
      options, pool = dict(options, baseline_documents=2), pool[:2]
  scores = fast('gradient_shap', model, params, ids, mask, samples=SAMPLES, path_tokens=100, **options)
  check(scores, per_example(lambda e, row: reference_gradient_shap(e, row, pool, len(ids)), model, params, ids, mask))


@pytest.mark.parametrize('removal', explain.REMOVALS)
def test_kernel_shap_matches_constrained_least_squares_per_example(x64, removal):
  model, params = tiny_model('bilstm')
  params = with_lstm_biases(params)  # f(no token) under 'pad': the empty document, not the padded one
  ids, mask = random_batch()
  scores = fast('kernel_shap', model, params, ids, mask, samples=COALITIONS, ridge=0., removal=removal,
                path_tokens=500)
  coalitions = np.asarray(explain.kernel_shap_coalitions(KEY, mask, COALITIONS))
  check(scores, per_example(lambda e, row: reference_kernel_shap(e, row, coalitions, removal),
                            model, params, ids, mask), rtol=1e-7)


def test_kernel_shap_is_efficient_and_its_ridge_changes_little(x64):
  model, params = tiny_model('bilstm')
  ids, mask = random_batch()
  exact = fast('kernel_shap', model, params, ids, mask, samples=COALITIONS, ridge=0.)
  default = fast('kernel_shap', model, params, ids, mask, samples=COALITIONS)
  gaps = [e.value - e.without(np.zeros(12, bool), 'zero') for e in (Example(model, params, ids, mask, r)
                                                                     for r in range(len(ids)))]
  np.testing.assert_allclose(default.sum(-1), gaps, rtol=1e-9)
  np.testing.assert_allclose(default, exact, atol=1e-3 * np.abs(exact).max())


def exact_shapley(example, removal='zero'):
  """Shapley values by enumerating every coalition of the real tokens: [seq]."""
  real = list(np.flatnonzero(example.mask[0]))
  m = len(real)

  def value(subset):
    keep = np.zeros(example.mask.shape[1], bool)
    keep[list(subset)] = True
    return example.without(keep, removal)

  scores = np.zeros(example.mask.shape[1])
  for t in real:
    others = [s for s in real if s != t]
    for size in range(m):
      for subset in itertools.combinations(others, size):
        weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
        scores[t] += weight * (value(subset + (t,)) - value(subset))
  return scores


def test_kernel_shap_converges_to_exact_shapley_values(x64):
  model, params = tiny_model('bilstm')
  ids, mask = random_batch()
  ids, mask = ids[2:4], mask[2:4]  # 5 and 1 real tokens
  scores = fast('kernel_shap', model, params, ids, mask, samples=4000, ridge=0.)
  expected = np.stack([exact_shapley(Example(model, params, ids, mask, row)) for row in range(2)])
  np.testing.assert_allclose(scores, expected, atol=0.05 * np.abs(expected).max())


def test_kernel_shap_coalitions_follow_the_shapley_kernel():
  mask = np.zeros((2, 9), bool)
  mask[0, :6] = True
  mask[1, 2] = True  # one token: kept
  coalitions = np.asarray(explain.kernel_shap_coalitions(jax.random.key(0), jnp.asarray(mask), 20000))
  assert not coalitions[:, ~mask].any() and coalitions[:, 1, 2].all()
  sizes = coalitions[:, 0].sum(-1)
  kernel = np.array([1 / (k * (6 - k)) for k in range(1, 6)])
  np.testing.assert_allclose(np.bincount(sizes, minlength=7)[1:6] / len(sizes), kernel / kernel.sum(), atol=0.01)
  assert sizes.min() >= 1 and sizes.max() <= 5
  np.testing.assert_allclose(coalitions[:, 0, :6].mean(0), 0.5, atol=0.02)  # every token equally often


@pytest.mark.parametrize('kind', ['bilstm', 'lstm'])
def test_lime_matches_weighted_ridge_per_example(x64, kind):
  model, params = tiny_model(kind)
  ids, mask = random_batch()
  scores = fast('lime', model, params, ids, mask, samples=COALITIONS, path_tokens=500)
  coalitions = np.asarray(explain.lime_coalitions(KEY, mask, COALITIONS))
  assert coalitions[0][mask].all() and not coalitions[:, ~mask].any()
  check(scores, per_example(lambda e, row: reference_lime(e, row, coalitions), model, params, ids, mask),
        rtol=1e-7)


def looped(reference):
  """reference(example, row, model, params, ids) -> [seq] as a batch reference (model, params, ids, mask, target)."""
  return lambda model, params, ids, mask, target: per_example(
      lambda e, row: reference(e, row, model, params, ids), model, params, ids, mask, target=target)


# Every explainer with a `target` option: (options, reference(model, params, ids, mask, target) -> [batch, seq]).
IG_OPTIONS = dict(steps=3, quadrature='gauss_legendre')
TARGET_REFERENCES = {
    'saliency': ({}, functools.partial(reference_scores, 'saliency')),
    'input_x_gradient': ({}, functools.partial(reference_scores, 'input_x_gradient')),
    'integrated_gradients': (IG_OPTIONS, functools.partial(reference_scores, 'integrated_gradients', **IG_OPTIONS)),
    'occlusion': ({}, looped(lambda e, row, *_: reference_occlusion(e, row, 'pad'))),
    'smoothgrad': (dict(samples=SAMPLES, sigma=0.5), looped(
        lambda e, row, model, params, ids: reference_smoothgrad(e, row, (*ids.shape, model.emb_dim), 0.5))),
    'gradient_shap': (dict(samples=SAMPLES), looped(lambda e, row, model, params, ids: reference_gradient_shap(
        e, row, contract.embed(model, params, ids), len(ids)))),
    'kernel_shap': (dict(samples=COALITIONS, ridge=0.), looped(lambda e, row, model, params, ids: reference_kernel_shap(
        e, row, np.asarray(explain.kernel_shap_coalitions(KEY, ids != 0, COALITIONS))))),
    'lime': (dict(samples=COALITIONS), looped(lambda e, row, model, params, ids: reference_lime(
        e, row, np.asarray(explain.lime_coalitions(KEY, ids != 0, COALITIONS))))),
}


TARGETED = [n for n, r in plugins.EXPLAINERS.items() if 'target' in inspect.signature(r.fn).parameters]
OTHER_TARGETS = [t for t in explain.TARGETS if t != 'prob']  # 'prob', the default: the tests above


# Each explainer under one target other than the default, the two taking turns (each case is a compile of
# its own: all pairs cost twice as much and check the same threading of `target` through shared helpers).
@pytest.mark.parametrize('name, target', [(n, OTHER_TARGETS[i % len(OTHER_TARGETS)]) for i, n in enumerate(TARGETED)])
def test_every_explainer_explains_its_target_as_its_reference(x64, name, target):
  """A new explainer with a `target` fails here (KeyError) until it has a reference."""
  options, reference = TARGET_REFERENCES[name]
  model, params = tiny_model('lstm')
  ids, mask = random_batch()
  check(fast(name, model, params, ids, mask, target=target, **options),
        reference(model, params, ids, mask, target=target), rtol=1e-7)


@pytest.mark.parametrize('transforms, expected', [
    ('.abs', lambda s: np.abs(s)),
    ('.l1', lambda s: s / np.abs(s).sum(-1, keepdims=True)),
    ('.l2', lambda s: s / np.linalg.norm(s, axis=-1, keepdims=True)),
    ('.abs.l1', lambda s: np.abs(s) / np.abs(s).sum(-1, keepdims=True)),
])
def test_map_transforms(x64, transforms, expected):
  model, params = tiny_model('lstm')
  ids, mask = random_batch()
  ids[3] = 0  # a document without tokens stays all zero
  mask = ids != 0
  signed = reference_scores('input_x_gradient', model, params, ids, mask)
  with np.errstate(invalid='ignore'):
    want = np.nan_to_num(expected(signed))
  check(fast('input_x_gradient' + transforms, model, params, ids, mask), want)


def test_occlusion_batched_equals_per_example_and_padding_changes_nothing(x64):
  """Also for the one-token document, whose token removed leaves no real token (the empty document)."""
  model, params = tiny_model('bilstm')
  params = with_lstm_biases(params)
  fn = explain.make_explainer('occlusion', model)
  ids, mask = random_batch()
  batched = np.asarray(fn(params, ids, mask))
  padded_ids, padded_mask = random_batch(extra_pad=4)
  alone = np.concatenate([fn(params, padded_ids[i:i + 1], padded_mask[i:i + 1]) for i in range(len(ids))])
  assert np.all(alone[~padded_mask] == 0)
  np.testing.assert_allclose(alone[:, :ids.shape[1]], batched, rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize('name', [n for n, r in plugins.EXPLAINERS.items() if r.needs_key])
def test_sampling_explainers_need_a_key(name):
  model, params = tiny_model('lstm')
  ids, mask = random_batch()
  with pytest.raises(FaithjaxError, match='PRNG key'):
    explain.make_explainer(name, model)(params, ids, mask)


@pytest.mark.slow  # compiles KernelSHAP for three widths: about a minute on a loaded 2-core machine
@pytest.mark.filterwarnings('ignore:An input array is constant')
def test_seed_stability_is_the_per_document_spearman_of_two_keys_maps():
  model, params = tiny_model('lstm')
  ids, mask = random_batch()
  split = encode.EncodedSplit.from_lists([row[m] for row, m in zip(ids, mask)] + [[5]], np.zeros(5))
  fn = explain.make_explainer('kernel_shap', model, samples=8)
  keys = jax.random.split(KEY)
  rho = explain.seed_stability(fn, params, split, 2, keys)
  maps = [explain.explain_split(fn, params, split, 2, key) for key in keys]
  document = lambda m, i: m[split.offsets[i]:split.offsets[i + 1]]
  expected = [stats.spearmanr(document(maps[0], i), document(maps[1], i)).statistic for i in range(4)]
  np.testing.assert_allclose(rho[:4], expected, rtol=1e-6)
  assert np.isnan(rho[4]) and np.any(rho[:4] < 1)  # one token: undefined; 8 coalitions: seed-dependent
  same = explain.seed_stability(fn, params, split, 2, [KEY, KEY])
  np.testing.assert_array_equal(same, np.where(np.isnan(rho), np.nan, 1.))  # nan: a constant map or one token


@pytest.mark.parametrize('name, options, message', [
    ('saliency.sqrt', {}, 'map transform'),
    ('occlusion', dict(removal='unk'), 'removal'),
    ('smoothgrad', dict(samples=0), 'samples'),
    ('smoothgrad', dict(sigma=-1.), 'sigma'),
    ('lime', dict(steps=3), 'takes the options'),
])
def test_bad_options_are_refused(name, options, message):
  with pytest.raises(FaithjaxError, match=message):
    explain.make_explainer(name, tiny_model('lstm')[0], **options)


@pytest.mark.slow  # a whole pipeline run with nine explainers: CI's second step
def test_pipeline_runs_sampling_explainers_and_transforms_through_every_evaluation(tmp_path):
  """GradientSHAP with training-document baselines, and |KernelSHAP|, on the smoke preset."""
  names = ('gradient_shap', 'kernel_shap.abs')
  config = config_lib.make_config('synthetic', preset='smoke', explainers=names, test_subset=40)
  results = pipeline.run_pipeline(config, tmp_path / 'w')
  evaluated = results['stages']['evaluate']
  for name in names:
    maps = io.load_npz(workdir_lib.Workdir(str(tmp_path / 'w')).maps(name))
    assert all(np.isfinite(m).all() and np.abs(m).max() > 0 for m in maps.values())
    assert 0 <= evaluated['deletion'][name]['mean'] <= 1 and name in evaluated['shuffle']
    assert 0 <= evaluated['weak_learner'][name]['f1'] <= 1
  assert (maps['test'] >= 0).all()  # the .abs transform
  quality = results['stages']['explain']['quality']
  assert 'precision_at_k' in quality['gradient_shap']
  for name in names:  # the sampling explainers' seed stability, on every test document of the smoke corpus
    stability = quality[name]['seed_stability']
    assert -1 <= stability['median_spearman'] <= 1 and 0 < stability['documents'] <= explain.STABILITY_DOCUMENTS
