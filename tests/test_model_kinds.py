"""Any JAX model through one contract: a flax.linen module, a flax.nnx module and a contract.Functions record that
compute the same function (the NNX and Functions models hold the Linen model's weights) give the same embeddings,
logits, inputs, probabilities and maps, and train, checkpoint and re-evaluate alike."""

import dataclasses

import flax.linen as nn
from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import faithjax
from faithjax import FaithjaxError
from faithjax import explain
from faithjax import parallel
from faithjax import train
from faithjax.models import contract

VOCAB, EMB, WIDTH, CLASSES = 11, 6, 5, 3


def _attend(h, mask, v, detach_attention):
  """Additive pooling of h [batch, seq, width] by softmax(h . v) over real tokens -> (context, attention)."""
  attention = jax.nn.softmax(jnp.where(mask, h @ v, -1e9), -1)
  weights = jax.lax.stop_gradient(attention) if detach_attention else attention
  return jnp.einsum('bs,bsw->bw', weights, h), attention


class LinenTiny(nn.Module):
  """Embedding -> linear projection (the fast path) -> tanh -> additive attention -> dense."""
  num_classes: int = CLASSES

  def setup(self):
    self.embedding = nn.Embed(VOCAB, EMB)
    self.kernel = self.param('kernel', nn.initializers.lecun_normal(), (EMB, WIDTH))
    self.v = self.param('v', nn.initializers.normal(1.), (WIDTH,))
    self.output = nn.Dense(self.num_classes)

  def embed(self, ids):
    return self.embedding(ids) * (ids != 0)[..., None]

  def project(self, emb):
    return emb @ self.kernel

  def logits_from_projection(self, projected, mask, detach_attention=False, span=None):
    del span  # no recurrence
    context, attention = _attend(jnp.tanh(projected), mask, self.v, detach_attention)
    return self.output(context), attention

  def logits_from_embeddings(self, emb, mask, detach_attention=False):
    return self.logits_from_projection(self.project(emb), mask, detach_attention)

  def __call__(self, ids, mask=None):
    return self.logits_from_embeddings(self.embed(ids), ids != 0 if mask is None else mask)


class NnxPlain(nnx.Module):
  """LinenTiny in flax.nnx without the fast path, its parameters under the same names (Linen's params are its)."""

  def __init__(self, rngs):
    self.num_classes = CLASSES
    self.embedding = nnx.Embed(VOCAB, EMB, rngs=rngs)
    self.kernel = nnx.Param(nnx.initializers.lecun_normal()(rngs.params(), (EMB, WIDTH)))
    self.v = nnx.Param(jax.random.normal(rngs.params(), (WIDTH,)))
    self.output = nnx.Linear(WIDTH, CLASSES, rngs=rngs)

  def embed(self, ids):
    return self.embedding(ids) * (ids != 0)[..., None]

  def logits_from_embeddings(self, emb, mask, detach_attention=False):
    context, attention = _attend(jnp.tanh(emb @ self.kernel[...]), mask, self.v[...], detach_attention)
    return self.output(context), attention

  def __call__(self, ids, mask=None):
    return self.logits_from_embeddings(self.embed(ids), ids != 0 if mask is None else mask)


class NnxTiny(NnxPlain):
  """NnxPlain with LinenTiny's fast path."""

  def project(self, emb):
    return emb @ self.kernel[...]

  def logits_from_projection(self, projected, mask, detach_attention=False, span=None):
    del span
    context, attention = _attend(jnp.tanh(projected), mask, self.v[...], detach_attention)
    return self.output(context), attention


# LinenTiny as plain functions of the same params.
def f_embed(params, ids):
  return params['embedding']['embedding'][ids] * (ids != 0)[..., None]


def f_project(params, emb):
  return emb @ params['kernel']


def f_logits_from_projection(params, projected, mask, span=None, *, detach_attention=False):
  del span
  context, attention = _attend(jnp.tanh(projected), mask, params['v'], detach_attention)
  return context @ params['output']['kernel'] + params['output']['bias'], attention


def f_logits(params, emb, mask, *, detach_attention=False):
  return f_logits_from_projection(params, f_project(params, emb), mask, detach_attention=detach_attention)


def linen_init(rng):
  return LinenTiny().init(rng, jnp.ones((1, 4), jnp.int32))['params']


FUNCTIONS = contract.Functions(embed=f_embed, logits=f_logits, init=linen_init, num_classes=CLASSES,
                               project=f_project, logits_from_projection=f_logits_from_projection)
FUNCTIONS_PLAIN = contract.Functions(embed=f_embed, logits=f_logits, init=linen_init, num_classes=CLASSES)


@pytest.fixture(scope='module')
def models():
  """{kind: (model, params)} of one function: the Linen model's weights, copied into the others."""
  linen, params = LinenTiny(), linen_init(jax.random.key(1))
  nnx_model, _ = contract.adapt(NnxTiny(nnx.Rngs(0)))
  nnx_plain, _ = contract.adapt(NnxPlain(nnx.Rngs(0)))
  return {'linen': (linen, params), 'nnx': contract.adapt(nnx_model, params),
          'nnx_plain': contract.adapt(nnx_plain, params), 'functions': (FUNCTIONS, params),
          'functions_plain': (FUNCTIONS_PLAIN, params)}


def batch():
  ids = np.array([[3, 5, 7, 2, 0, 0], [9, 1, 4, 4, 8, 6], [2, 0, 0, 0, 0, 0]], np.int32)
  return jnp.asarray(ids), jnp.asarray(ids != 0)


KINDS = ('nnx', 'nnx_plain', 'functions', 'functions_plain')


@pytest.mark.parametrize('kind', KINDS)
def test_each_kind_computes_what_the_linen_model_does_through_the_contract(models, kind):
  ids, mask = batch()
  (linen, lp), (model, params) = models['linen'], models[kind]
  close = lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
  close(contract.embed(model, params, ids), contract.embed(linen, lp, ids))
  emb = contract.embed(linen, lp, ids)
  for detach in (False, True):
    for got, want in zip(contract.logits_from_embeddings(model, params, emb, mask, detach),
                         contract.logits_from_embeddings(linen, lp, emb, mask, detach)):
      close(got, want)
  close(contract.predict_proba(model, params, ids, mask), contract.predict_proba(linen, lp, ids, mask))
  assert contract.has_projection(model) == (not kind.endswith('plain'))
  if contract.has_projection(model):  # the same fast path: the same inputs, and logits from them
    close(contract.inputs(model, params, ids), contract.inputs(linen, lp, ids))
    close(contract.logits_from_inputs(model, params, contract.inputs(linen, lp, ids), mask, span=mask)[0],
          contract.logits_from_inputs(linen, lp, contract.inputs(linen, lp, ids), mask, span=mask)[0])
  else:  # without it the inputs are the embeddings
    close(contract.inputs(model, params, ids), emb)
  assert model.num_classes == CLASSES
  # Saliency and IG agree (IG is the same in the projection and in the embedding: P = e W is linear), and attention
  for name, options in (('saliency', {}), ('integrated_gradients', {'steps': 8}), ('attention', {}),
                        ('input_x_gradient', {})):
    close(explain.make_explainer(name, model, **options)(params, ids, mask),
          explain.make_explainer(name, linen, **options)(lp, ids, mask))


def test_the_library_api_takes_an_nnx_module_itself_and_a_functions_record_with_its_params(models):
  ids, _ = batch()
  ids = np.asarray(ids)
  linen, params = models['linen']
  module = NnxTiny(nnx.Rngs(0))
  nnx.update(module, nnx.State(params))  # the trained module a user holds: the Linen weights, here
  want = faithjax.explain_maps(linen, params, ids, explainers=['saliency', 'integrated_gradients'])
  for model, model_params in ((module, None), (FUNCTIONS_PLAIN, params)):
    got = faithjax.explain_maps(model, model_params, ids, explainers=['saliency', 'integrated_gradients'])
    for name in want:
      np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6)
    evaluated = faithjax.evaluate_maps(model, model_params, ids, got, ['deletion'], baselines=False)
    reference = faithjax.evaluate_maps(linen, params, ids, want, ['deletion'], baselines=False)
    np.testing.assert_allclose(evaluated['deletion']['saliency'].per_example['rates'],
                               reference['deletion']['saliency'].per_example['rates'])
  with pytest.raises(FaithjaxError, match='needs its params'):
    faithjax.explain_maps(FUNCTIONS, None, ids)


class ListedLayers(nnx.Module):
  """An NNX model whose parameters sit under an nnx.List's int indices (12 of them: '10' sorts before '2')."""

  def __init__(self, rngs):
    self.num_classes = 2
    self.embedding = nnx.Embed(VOCAB, 4, rngs=rngs)
    self.layers = nnx.List([nnx.Linear(4, 4, rngs=rngs) for _ in range(12)])
    self.output = nnx.Linear(4, 2, rngs=rngs)

  def embed(self, ids):
    return self.embedding(ids) * (ids != 0)[..., None]

  def logits_from_embeddings(self, emb, mask, detach_attention=False):
    for layer in self.layers:
      emb = jnp.tanh(layer(emb))
    return self.output((emb * mask[..., None]).sum(1)), None

  def __call__(self, ids, mask=None):
    return self.logits_from_embeddings(self.embed(ids), ids != 0 if mask is None else mask)


def test_nnx_parameters_are_a_string_keyed_dict_that_orbax_checkpoints_and_restores(tmp_path):
  module = ListedLayers(nnx.Rngs(3))
  model, params = contract.adapt(module)
  assert set(params['layers']) == {str(i) for i in range(12)}  # an nnx.List's indices, as strings
  ids, mask = batch()
  want, _ = module(ids, mask)
  np.testing.assert_allclose(contract.apply(model, params, ids, mask)[0], want, rtol=1e-6)
  train.save_best(str(tmp_path), params)
  restored = train.restore_best(str(tmp_path), jax.eval_shape(lambda: contract.init(model, jax.random.key(0))))
  np.testing.assert_allclose(contract.apply(model, restored, ids, mask)[0], want, rtol=1e-6)
  # two builds of one architecture are one static argument: they share compiled programs
  assert model == contract.model_of(ListedLayers(nnx.Rngs(4))) and hash(model) == hash(contract.model_of(
      ListedLayers(nnx.Rngs(4))))


@pytest.mark.parametrize('kind', ('nnx', 'functions'))
def test_stacked_parameters_of_each_kind_re_evaluate_like_one_at_a_time(models, kind):
  """reevaluate's vmap over checkpoints: the contract's functions of stacked NNX or Functions params."""
  model, params = models[kind]
  other = jax.tree.map(lambda x: x * 0.5, params)
  ids, mask = batch()
  stacked = parallel.over_checkpoints(lambda p: explain.make_explainer('saliency', model)(p, ids, mask),
                                        (parallel.stack([params, other]),), group=2)
  for i, p in enumerate((params, other)):
    np.testing.assert_allclose(stacked[i], explain.make_explainer('saliency', model)(p, ids, mask), rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize('kind', ('nnx', 'functions'))
def test_each_kind_trains_with_the_classifier_loop(models, kind, tmp_path):
  model, params = models[kind]
  rng = np.random.default_rng(0)
  ids = jnp.asarray(rng.integers(1, VOCAB, (16, 6)), jnp.int32)
  labels = jnp.asarray(np.asarray(ids[:, 0]) % CLASSES)
  loss = train.ClassifierLoss(model, (1.,) * CLASSES)
  tx = train.optimizer(1e-2, 0.)
  state, before = tx.init(params), loss(params, (ids, labels), None)
  for _ in range(20):
    params, state, _ = train.train_step(params, state, (ids, labels), None, loss_fn=loss, tx=tx)
  assert loss(params, (ids, labels), None) < before


def test_a_model_that_is_none_of_the_three_kinds_or_lacks_a_method_is_refused_in_one_line():
  with pytest.raises(FaithjaxError, match='a model is a flax.linen.Module, a flax.nnx.Module or a contract.Functions'):
    contract.model_of(lambda params, ids: ids)

  class NoEmbed(nnx.Module):
    num_classes = 2

    def __call__(self, ids, mask=None):
      return ids
  with pytest.raises(FaithjaxError, match='NoEmbed lacks embed, logits_from_embeddings'):
    contract.model_of(NoEmbed())

  class Dropping(NnxTiny):
    def __init__(self, rngs):
      super().__init__(rngs)
      self.dropout = nnx.Dropout(0.1, rngs=rngs)
  with pytest.raises(FaithjaxError, match='holds state besides nnx.Param'):
    contract.model_of(Dropping(nnx.Rngs(0)))
  with pytest.raises(FaithjaxError, match='both project and logits_from_projection'):
    contract.Functions(embed=f_embed, logits=f_logits, init=linen_init, num_classes=2, project=f_project)
  with pytest.raises(FaithjaxError, match='detach_attention keyword'):
    no_detach = dataclasses.replace(FUNCTIONS_PLAIN, logits=lambda params, emb, mask: f_logits(params, emb, mask))
    ids, mask = batch()
    contract.logits_from_embeddings(no_detach, linen_init(jax.random.key(0)), contract.embed(
        no_detach, linen_init(jax.random.key(0)), ids), mask, detach_attention=True)
