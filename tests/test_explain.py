"""Explainers against slow per-example definitions, finite differences, completeness,
invariances, and the planted evidence of the synthetic corpus."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import conftest

from faithjax import FaithjaxError
from faithjax import config as config_lib
from faithjax import explain
from faithjax import pipeline
from faithjax.data import encode
from faithjax.models import contract

LENGTHS = (12, 9, 5, 1)
REFERENCE_STEPS = 7


@pytest.fixture
def x64():
  with jax.enable_x64(True):
    yield


# Every explainer is checked on each classifier of faithjax.models.
TINY_MODELS = {kind: conftest.tiny_classifier(kind, vocab_size=50) for kind in conftest.TINY_CLASSIFIERS}


def tiny_model(kind):
  """Random params; float64 inside the x64 fixture."""
  model = TINY_MODELS[kind]
  params = _float32_params(model)
  return model, jax.tree.map(lambda p: jnp.asarray(p, jnp.result_type(float)), params)


@functools.cache
def _float32_params(model):
  with jax.enable_x64(False):  # Flax's zeros initializer would make float64 biases
    return jax.jit(contract.init, static_argnums=0)(model, jax.random.key(0))


def random_batch(extra_pad=0):
  """ids, mask [4, 12 + extra_pad] of LENGTHS real tokens; row 1 has a deleted (PAD) token inside."""
  ids = np.random.default_rng(1).integers(2, 50, (len(LENGTHS), max(LENGTHS)))
  ids[np.arange(ids.shape[1]) >= np.array(LENGTHS)[:, None]] = 0
  ids[1, 3] = 0
  ids = np.pad(ids, ((0, 0), (0, extra_pad)))
  return ids, ids != 0


# --- The slow reference: plain definitions, one example at a time, jax.grad on embeddings.

def reference_value(logits, label, target):
  """logits [1, classes] -> the scalar explained."""
  log_prob = logits[0, label] - jax.scipy.special.logsumexp(logits[0])
  return {'logit': logits[0, label], 'log_prob': log_prob, 'prob': jnp.exp(log_prob)}[target]


@functools.partial(jax.jit, static_argnums=(0, 4))
def reference_forward(model, params, emb, mask, detach_attention):
  return contract.logits_from_embeddings(model, params, emb, mask, detach_attention)


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def reference_gradient(model, params, emb, mask, target, detach_attention, label):
  """d f / d emb for one example: emb [1, seq, emb_dim]."""
  value = lambda e: reference_value(reference_forward(model, params, e, mask, detach_attention)[0], label, target)
  return jax.grad(value)(emb)


def reference_scores(name, model, params, ids, mask, target='prob', detach_attention=False,
                     steps=None, quadrature=None, step_chunk=None, path_tokens=None):
  """[batch, seq] by the textbook definition of explainer `name` (chunking steps changes nothing there)."""
  rows = []
  for example_ids, example_mask in zip(ids[:, None], mask[:, None]):
    emb = contract.embed(model, params, example_ids)
    logits, attention = reference_forward(model, params, emb, example_mask, False)
    label = int(jnp.argmax(logits[0]))
    grad = lambda e: reference_gradient(model, params, e, example_mask, target, detach_attention, label)
    if name == 'saliency':
      scores = jnp.linalg.norm(grad(emb), axis=-1)
    elif name == 'input_x_gradient':
      scores = jnp.sum(emb * grad(emb), -1)
    elif name == 'integrated_gradients':
      alphas, weights = explain.quadrature_rule(quadrature, steps)
      scores = jnp.sum(emb * sum(w * grad(a * emb) for a, w in zip(alphas, weights)), -1)
    elif name == 'attention':
      scores = attention
    else:  # uniform
      scores = example_mask / example_mask.sum()
    rows.append(np.where(example_mask[0], scores[0], 0.))
  return np.stack(rows)


IG_CHUNKED = ('integrated_gradients', dict(steps=REFERENCE_STEPS, quadrature='gauss_legendre', step_chunk=3))
CASES = [  # (name, options, model); all IG quadratures on the default BiLSTM only, to save compiles
    *[(name, {}, kind) for name in ('saliency', 'input_x_gradient', 'attention', 'uniform') for kind in TINY_MODELS],
    ('integrated_gradients', dict(steps=REFERENCE_STEPS, quadrature='midpoint'), 'bilstm'),
    ('integrated_gradients', dict(steps=REFERENCE_STEPS, quadrature='trapezoid'), 'bilstm'),
    *[(*IG_CHUNKED, kind) for kind in TINY_MODELS],
    # A token budget smaller than one step's batch: one step per chunk (the stacked re-evaluation's budget).
    ('integrated_gradients', dict(steps=REFERENCE_STEPS, quadrature='midpoint', path_tokens=1), 'bilstm'),
]


@pytest.mark.parametrize('name, options, kind', CASES)
def test_matches_per_example_reference_in_float64(x64, name, options, kind):
  model, params = tiny_model(kind)
  ids, mask = random_batch()
  fast = explain.make_explainer(name, model, **options)(params, ids, mask)
  assert fast.dtype == jnp.float64
  expected = reference_scores(name, model, params, ids, mask, **options)
  assert np.abs(expected).max() > 1e-6  # not vacuous
  np.testing.assert_allclose(fast, expected, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize('kind', ['lstm', 'transformer'])
def test_options_match_reference_in_float64(x64, kind):
  model, params = tiny_model(kind)
  ids, mask = random_batch()
  options = dict(target='logit', detach_attention=True)
  fast = explain.make_explainer('input_x_gradient', model, **options)(params, ids, mask)
  np.testing.assert_allclose(fast, reference_scores('input_x_gradient', model, params, ids, mask, **options),
                             rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize('target', explain.TARGETS)
def test_explained_value(target):
  logits = jax.random.normal(jax.random.key(0), (3, 4))
  label = jnp.array([0, 3, 1])
  expected = [reference_value(logits[i:i + 1], label[i], target) for i in range(3)]
  np.testing.assert_allclose(explain.explained_value(logits, label, target), expected, rtol=1e-6)


@pytest.mark.parametrize('kind', TINY_MODELS)
def test_reference_gradient_matches_finite_differences_in_float64(x64, kind):
  model, params = tiny_model(kind)
  ids, mask = random_batch()
  emb = contract.embed(model, params, ids[:1])
  label = int(jnp.argmax(reference_forward(model, params, emb, mask[:1], False)[0][0]))
  direction = jax.random.normal(jax.random.key(3), emb.shape, jnp.float64)
  value = lambda e: reference_value(reference_forward(model, params, e, mask[:1], False)[0], label, 'prob')
  h = 1e-5
  central = (value(emb + h * direction) - value(emb - h * direction)) / (2 * h)
  analytic = jnp.sum(reference_gradient(model, params, emb, mask[:1], 'prob', False, label) * direction)
  np.testing.assert_allclose(analytic, central, rtol=1e-6)


def test_quadrature_rules():
  for steps in (1, 4, 9):
    alphas, weights = explain.quadrature_rule('gauss_legendre', steps)
    assert np.all((alphas > 0) & (alphas < 1))
    for degree in range(2 * steps):  # Gauss-Legendre is exact up to degree 2n-1
      np.testing.assert_allclose(weights @ alphas**degree, 1 / (degree + 1), rtol=1e-12)
  alphas, weights = explain.quadrature_rule('midpoint', 4)
  np.testing.assert_allclose(alphas, [.125, .375, .625, .875])
  np.testing.assert_allclose(weights, .25)
  alphas, weights = explain.quadrature_rule('trapezoid', 5)
  np.testing.assert_allclose(alphas, [0, .25, .5, .75, 1])
  np.testing.assert_allclose(weights, [.125, .25, .25, .25, .125])


@pytest.mark.parametrize('kind', ['bilstm', 'transformer'])
@pytest.mark.parametrize('name, options', [
    ('saliency', {}), ('input_x_gradient', {}), IG_CHUNKED, ('attention', {}), ('uniform', {})])
def test_batched_equals_per_example_and_padding_changes_nothing(x64, name, options, kind):
  """Each example alone, with 4 extra PAD columns, scores as in the batch; PAD scores are 0.

  In float64, so the batched programs are the ones the reference test compiled.
  """
  model, params = tiny_model(kind)
  fn = explain.make_explainer(name, model, **options)
  ids, mask = random_batch()
  batched = np.asarray(fn(params, ids, mask))
  padded_ids, padded_mask = random_batch(extra_pad=4)
  alone = np.concatenate([fn(params, padded_ids[i:i + 1], padded_mask[i:i + 1]) for i in range(len(ids))])
  assert np.all(batched[~mask] == 0) and np.all(alone[~padded_mask] == 0)
  np.testing.assert_allclose(alone[:, :ids.shape[1]], batched, rtol=1e-12, atol=1e-18)


def test_random_explainer():
  model, params = tiny_model('lstm')
  fn = explain.make_explainer('random', model)
  ids = np.ones((64, 64), np.int32)
  ids[:, 48:] = 0
  scores = np.asarray(fn(params, ids, ids != 0, jax.random.key(0)))
  assert np.all(scores[:, 48:] == 0)
  assert abs(scores[:, :48].mean()) < 0.05 and abs(scores[:, :48].std() - 1) < 0.05
  np.testing.assert_array_equal(fn(params, ids, ids != 0, jax.random.key(0)), scores)
  assert not np.allclose(fn(params, ids, ids != 0, jax.random.key(1)), scores)
  with pytest.raises(FaithjaxError, match='PRNG key'):
    fn(params, ids, ids != 0)


@pytest.mark.parametrize('name, options, message', [
    ('deeplift', {}, 'unknown explainer'),
    ('saliency', dict(steps=5), 'takes the options'),
    ('input_x_gradient', dict(target='proba'), 'target'),
    ('integrated_gradients', dict(quadrature='simpson'), 'quadrature'),
    ('integrated_gradients', dict(quadrature='trapezoid', steps=1), 'steps'),
])
def test_bad_options_are_refused(name, options, message):
  with pytest.raises(FaithjaxError, match=message):
    explain.make_explainer(name, tiny_model('lstm')[0], **options)


def test_precision_at_k():
  scores = np.array([[0.1, 0.9, 0.5, 0.7], [0.3, 0.3, 0.3, 0.]])
  rationale = np.array([[False, True, False, False], [False, True, True, False]])
  mask = np.array([[True, True, True, True], [True, True, True, False]])
  np.testing.assert_allclose(explain.precision_at_k(scores, rationale, mask), [1., .5])  # ties by position


def median_completeness_errors(kind, steps=(10, 50, 200)):
  """Median relative IG completeness error (midpoint rule) of a tiny model at each step count."""
  model, params = tiny_model(kind)
  ids, mask = random_batch()
  errors = []
  for n in steps:
    ig = explain.make_explainer('integrated_gradients', model, steps=n)(params, ids, mask)
    errors.append(np.median(explain.completeness_error(model, params, ids, mask, ig)[1]))
  print(f'{kind}: median relative completeness error at {steps} steps:', errors)
  return errors


def test_ig_completeness_error_shrinks_with_steps_in_float64(x64):
  errors = median_completeness_errors('lstm')
  assert errors[0] > 10 * errors[1] > 100 * errors[2]  # about 1/steps^2
  assert errors[1] < 1e-4


def test_ig_completeness_error_vanishes_with_steps_on_the_transformer_in_float64(x64):
  # The Transformer's LayerNorm makes f(alpha e) change steeply near alpha = 0 (the scaled token
  # embeddings meet unscaled positions), so midpoint IG reaches its 1/steps^2 regime only late:
  # measured median errors .33 / .11 / .0017 at 10 / 50 / 200 steps. Completeness must still hold.
  errors = median_completeness_errors('transformer')
  assert errors[0] > errors[1] > 10 * errors[2]
  assert errors[2] < 1e-2


# --- On a trained model (tests/conftest.py): completeness and the planted evidence.

@pytest.fixture(scope='module')
def trained_test_maps(trained_synthetic):
  """The trained model's test split as one batch, and its IG and Input x Gradient maps (defaults)."""
  test = trained_synthetic.corpus.splits['test']
  rows = np.arange(len(test))
  ids = test.padded(rows, int(test.lengths.max()))
  maps = {name: explain.make_explainer(name, trained_synthetic.model)(trained_synthetic.params, ids, ids != 0)
          for name in ('integrated_gradients', 'input_x_gradient')}
  return ids, test.padded(rows, ids.shape[1], test.rationale), maps


def test_ig_is_complete_on_trained_model(trained_synthetic, trained_test_maps):
  ids, _, maps = trained_test_maps
  model, params = trained_synthetic.model, trained_synthetic.params
  absolute, relative = explain.completeness_error(model, params, ids, ids != 0, maps['integrated_gradients'])
  print('trained model, 50 midpoint steps: median relative completeness error', np.median(relative))
  assert np.median(relative) < 0.01
  # The split helper on the longest examples (one bucket, one program) agrees with the batch.
  test = trained_synthetic.corpus.splits['test']
  longest = np.flatnonzero(test.lengths > 32)
  ig_flat = np.concatenate([np.asarray(maps['integrated_gradients'])[i, :test.lengths[i]] for i in longest])
  split_absolute, _ = explain.split_completeness(model, params, test.subset(longest), ig_flat, batch_size=128)
  np.testing.assert_allclose(split_absolute, absolute[longest], atol=1e-6)


@pytest.mark.parametrize('name', ['integrated_gradients', 'input_x_gradient'])
def test_planted_evidence_ranks_first(trained_synthetic, trained_test_maps, name):
  assert trained_synthetic.test_accuracy > 0.95
  ids, rationale, maps = trained_test_maps
  precision = np.mean(explain.precision_at_k(maps[name], rationale, ids != 0))
  print(name, 'precision@k on planted evidence:', precision)
  assert precision >= 0.8


def test_explain_split_aligns_with_ids():
  """An 'explainer' that scores each token by its id must give back the ids."""
  rng = np.random.default_rng(0)
  split = encode.EncodedSplit.from_lists([rng.integers(2, 1000, n) for n in rng.integers(1, 40, 50)], np.zeros(50))
  echo = jax.jit(lambda params, ids, mask, key: jnp.where(mask, ids, 0).astype(jnp.float32))
  flat = explain.explain_split(echo, None, split, batch_size=16)
  assert flat.dtype == np.float32
  np.testing.assert_array_equal(flat, split.ids)


def test_a_map_transform_runs_with_its_base_explainers_options():
  """'integrated_gradients.abs' is |IG| at the run's steps, quadrature and tolerance, not at the function's
  defaults."""
  config = config_lib.make_config('sst', preset='cpu')
  base = pipeline.explainer_options(config, 'integrated_gradients')
  assert (base['steps'], base['quadrature'], base['tolerance']) == (4, 'gauss_legendre', 1e-3)
  for transformed in ('integrated_gradients.abs', 'integrated_gradients.abs.l1'):
    assert pipeline.explainer_options(config, transformed) == base
  model = TINY_MODELS['lstm']
  params = contract.init(model, jax.random.key(0))
  ids = jnp.array([[3, 4, 5, 6, 0]])
  with_options = explain.make_explainer('integrated_gradients.abs', model, **base)(params, ids, ids != 0)
  signed = explain.make_explainer('integrated_gradients', model, **base)(params, ids, ids != 0)
  np.testing.assert_allclose(with_options, jnp.abs(signed), rtol=1e-6)
