"""The model contract: what explainers and evaluations need from a text classifier.

A classifier is one of three kinds of object, all seen through the same
functions below:

- a `flax.linen` module with these methods, all batched:

    embed(ids)                                   <int>[batch, seq] -> [batch, seq, emb]; PAD embeds to 0
    logits_from_embeddings(emb, mask, detach_attention=False)
                                                 -> (logits [batch, classes], attention [batch, seq] or None)
    __call__(ids, mask=None)                     -> the same pair, from ids

  and the attribute `num_classes` (the `TextClassifier` protocol);
- a `flax.nnx` module with the same methods and attribute, adapted once by
  `model_of` (or `adapt`) into an `Nnx` record: its graph definition (static,
  hashable) and its parameters as a plain pytree (a nested dict of arrays);
- a `Functions` record of plain functions over a params pytree:
  embed(params, ids), logits(params, emb, mask), num_classes, init(rng).

Two seams are optional:

- attention: the second output of `logits_from_embeddings` (a Functions
  record's `logits` may return (logits, attention)) is the weights the model
  pools tokens with (None if it has none); the 'attention' explainer reads them.
- a linear input projection, the fast path of Input x Gradient, Integrated
  Gradients and deletion: `project(emb)` (linear in emb) and
  `logits_from_projection(projected, mask, detach_attention=False[, span])` with
  logits_from_embeddings(e) == logits_from_projection(project(e)): methods of
  a Linen or NNX module, or the fields of the same names of a Functions record.
  The LSTM has one (its gate projection, hoisted out of the recurrence);
  without it the "inputs" below are the embeddings themselves.

Everything outside faithjax/models reaches a classifier through the pure
functions of this module, over (model, params): the model is the static,
hashable argument of every jitted function (equal models share compiled
programs), params a pytree of arrays that training, orbax checkpoints, vmapped
re-evaluation and sharding treat alike for every kind (docs/extending.md).
"""

import dataclasses
import functools
import inspect
import sys
from typing import Any, Callable, Protocol, runtime_checkable

import flax.linen as nn
import jax
import jax.numpy as jnp

from faithjax import FaithjaxError
from faithjax.data.text import PAD_ID

Params = Any
METHODS = ('embed', 'logits_from_embeddings', '__call__')  # what a Linen or NNX classifier defines
FAST_PATH = ('project', 'logits_from_projection')  # the optional linear input projection


@runtime_checkable
class TextClassifier(Protocol):
  """A classifier module faithjax can explain and evaluate (a flax.linen.Module or a flax.nnx.Module)."""
  num_classes: int

  def embed(self, ids: jax.Array) -> jax.Array:
    """<int>[batch, seq] -> <float>[batch, seq, emb]; PAD ids embed to zero."""

  def logits_from_embeddings(self, emb: jax.Array, mask: jax.Array,
                             detach_attention: bool = False) -> tuple[jax.Array, jax.Array | None]:
    """emb [batch, seq, emb], mask <bool>[batch, seq] -> (logits [batch, classes], attention or None)."""

  def __call__(self, ids: jax.Array, mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array | None]:
    """ids <int>[batch, seq] -> (logits, attention or None)."""


@dataclasses.dataclass(frozen=True)
class Functions:
  """A classifier as plain functions of a params pytree (no Flax module).

  embed(params, ids <int>[batch, seq]) -> [batch, seq, emb], PAD (0) embedding to zero;
  logits(params, emb, mask <bool>[batch, seq]) -> logits [batch, classes], or (logits, attention [batch, seq]);
  num_classes: the number of classes;
  init(rng) -> params (a pytree of arrays, e.g. nested dicts), the parameters training starts from (needed by
  the pipeline; a record given to the library API with its trained params may leave it None).
  Optional, the fast path (both or neither): project(params, emb) -> [batch, seq, features], linear in emb, and
  logits_from_projection(params, projected, mask[, span]) -> as `logits`.
  `logits` and `logits_from_projection` may take a keyword `detach_attention` (stop the gradient through the
  attention weights, --detach_attention); without it that setting is refused.
  Records are compared (and hashed, as a static argument of jitted functions) by their forward functions and
  num_classes; `init` is left out, so records built twice from the same module-level functions share programs.
  """
  embed: Callable
  logits: Callable
  num_classes: int
  init: Callable | None = dataclasses.field(default=None, compare=False)
  project: Callable | None = None
  logits_from_projection: Callable | None = None

  def __post_init__(self):
    if (self.project is None) != (self.logits_from_projection is None):
      raise FaithjaxError('a Functions model gives both project and logits_from_projection (the fast path) or '
                          'neither')
    for field in ('embed', 'logits', 'init'):
      if not callable(getattr(self, field)) and (field != 'init' or self.init is not None):
        raise FaithjaxError(f'Functions.{field} must be a function; got {getattr(self, field)!r}')
    _check_num_classes(self.num_classes, 'Functions')


@dataclasses.dataclass(frozen=True)
class Nnx:
  """A flax.nnx classifier as the contract sees it (made by `model_of`; do not build one yourself).

  graphdef: nnx.split's graph definition (static: hashable, equal for equal architectures); layout: the nested
  keys of its parameters (their dict has string keys, so that orbax checkpoints them; the module's own keys, e.g.
  an nnx.List's int indices, are restored for nnx.merge); initial: the parameters it was built with, what `init`
  returns (not compared: programs depend on the graph alone).
  """
  graphdef: Any
  layout: tuple
  num_classes: int
  projection: bool
  name: str
  initial: Params = dataclasses.field(compare=False, repr=False)


Model = TextClassifier | Nnx | Functions  # a classifier as the functions below take it (what model_of returns)


def _check_num_classes(value, owner):
  if isinstance(value, bool) or not isinstance(value, int) or value < 2:
    raise FaithjaxError(f'{owner}.num_classes must be an int >= 2; got {value!r}')


# ----------------------------------------------------------------------------- adapting a user's model


def _layout(tree) -> tuple:
  """The nested keys of a dict of arrays (nnx.to_pure_dict's): ((key, sub-layout or None for a leaf), ...)."""
  return tuple((key, _layout(value) if isinstance(value, dict) else None) for key, value in tree.items())


def _string_keys(tree, layout):
  """A pure dict with every key a string (what orbax checkpoints and restores alike)."""
  return {str(key): _string_keys(tree[key], sub) if sub is not None else tree[key] for key, sub in layout}


def _module_keys(params, layout):
  """`_string_keys`' inverse: the module's own keys back, for nnx.merge."""
  return {key: _module_keys(params[str(key)], sub) if sub is not None else params[str(key)] for key, sub in layout}


def _nnx():
  """flax.nnx, imported where an NNX model is met (a Linen-only run does not load it)."""
  from flax import nnx  # pylint: disable=g-import-not-at-top
  return nnx


def _is_nnx_module(obj) -> bool:
  """Whether `obj` is a flax.nnx module: without flax.nnx imported, nothing can be one."""
  nnx = sys.modules.get('flax.nnx')
  return nnx is not None and isinstance(obj, nnx.Module)


def _nnx_model(module) -> 'Nnx':
  """The Nnx record of an nnx.Module, its parameters a string-keyed dict."""
  nnx = _nnx()
  graphdef, state, *rest = nnx.split(module, nnx.Param, ...)
  others = sorted({type(v).__name__ for part in rest for v in
                   jax.tree.leaves(part, is_leaf=lambda x: isinstance(x, nnx.Variable))})
  if others:
    raise FaithjaxError(f'{type(module).__name__} holds state besides nnx.Param ({", ".join(others)}); faithjax '
                        'trains and explains a deterministic function of the parameters alone: build it without '
                        'dropout RNGs or batch statistics')
  pure = nnx.to_pure_dict(state)
  layout = _layout(pure)

  def check_keys(level: tuple) -> None:
    names = [str(key) for key, _ in level]
    if len(set(names)) != len(names):
      raise FaithjaxError(f'{type(module).__name__} has parameters under keys that are equal as strings '
                          f'({names}); rename them')
    for _, sub in level:
      if sub is not None:
        check_keys(sub)
  check_keys(layout)
  _check_num_classes(getattr(module, 'num_classes', None), type(module).__name__)
  return Nnx(graphdef=graphdef, layout=layout, num_classes=module.num_classes, name=type(module).__name__,
             projection=all(hasattr(module, m) for m in FAST_PATH), initial=_string_keys(pure, layout))


def _missing_methods(model) -> list:
  return [m for m in METHODS if not callable(getattr(model, m, None))]


def model_of(obj: Any) -> Model:
  """The contract's model of what a plug-in's build (or a library caller) gives: a flax.linen module and a
  Functions record as they are, a flax.nnx module as its Nnx record (its parameters are `init`'s). Refuses
  anything else with a FaithjaxError naming what is missing."""
  if isinstance(obj, (Functions, Nnx)):
    return obj
  if isinstance(obj, nn.Module) or _is_nnx_module(obj):
    missing = _missing_methods(obj) + ([] if hasattr(obj, 'num_classes') else ['num_classes'])
    if missing:
      raise FaithjaxError(f'{type(obj).__name__} lacks {", ".join(missing)} of the model contract '
                          '(faithjax/models/contract.py; docs/extending.md)')
    return _nnx_model(obj) if _is_nnx_module(obj) else obj
  raise FaithjaxError(f'a model is a flax.linen.Module, a flax.nnx.Module or a contract.Functions record '
                      f'(docs/extending.md); got {type(obj).__name__}')


def adapt(model: Model, params: Params | None = None) -> tuple[Model, Params]:
  """(model, params) for the functions below, from what a library caller holds.

  A flax.linen module or a Functions record with its params (required); a flax.nnx module with params=None (its
  own current parameters are used: pass the trained module itself), or with params of `model_of(module)`'s
  layout (e.g. a faithjax checkpoint's).
  """
  model = model_of(model)
  if params is None:
    if isinstance(model, Nnx):
      return model, model.initial
    raise FaithjaxError(f'{name(model)} needs its params: only an nnx.Module holds its own')
  if isinstance(model, Nnx) and jax.tree.structure(params) != jax.tree.structure(model.initial):
    raise FaithjaxError(f'params do not match {model.name}: they are {jax.tree.structure(params)}, its parameters '
                        f'{jax.tree.structure(model.initial)}')
  return model, params


def name(model: Model) -> str:
  """The model's name for messages: its class's, or 'Functions'."""
  return model.name if isinstance(model, Nnx) else type(model).__name__


# ----------------------------------------------------------------------------- the pure functions


def has_projection(model: Model) -> bool:
  """Whether the model exposes the optional linear input projection (the fast path)."""
  if isinstance(model, Nnx):
    return model.projection
  if isinstance(model, Functions):
    return model.project is not None
  return all(hasattr(model, m) for m in FAST_PATH)


def init(model: Model, rng: jax.Array, seq_len: int = 8) -> Params:
  """Parameters to train from: a Linen module's init(rng), a Functions record's init(rng); an NNX module's own
  (it is initialised when built: seed its nnx.Rngs from config.seed), whatever `rng`."""
  if isinstance(model, Nnx):
    return model.initial
  if isinstance(model, Functions):
    if model.init is None:
      raise FaithjaxError('this Functions model has no init(rng) -> params: give one to train it (the pipeline '
                          'trains every model it runs)')
    return model.init(rng)
  return model.init(rng, jnp.ones((1, seq_len), jnp.int32))['params']


@functools.cache
def _takes_detach(fn) -> bool:
  try:
    return 'detach_attention' in inspect.signature(fn).parameters
  except (TypeError, ValueError):
    return False


def _with_attention(out):
  """A Functions record's logits output as the pair (logits, attention or None)."""
  return tuple(out) if isinstance(out, (tuple, list)) else (out, None)


def _call_functions(model: Functions, fn, params, *args, detach_attention=False):
  if _takes_detach(fn):
    return _with_attention(fn(params, *args, detach_attention=detach_attention))
  if detach_attention:  # trace time: a static setting
    raise FaithjaxError('--detach_attention needs a Functions model whose logits take a detach_attention keyword')
  return _with_attention(fn(params, *args))


def _method(model, params, method, *args):
  """`method` of a Linen or NNX module with `params`: model.apply, or the method of nnx.merge(graph, params)."""
  if isinstance(model, Nnx):
    return getattr(_nnx().merge(model.graphdef, _module_keys(params, model.layout)), method)(*args)
  if _is_nnx_module(model):
    raise FaithjaxError(f'adapt the nnx module {type(model).__name__} first: model, params = contract.adapt(module)')
  return model.apply({'params': params}, *args, method=None if method == '__call__' else getattr(type(model), method))


def embed(model: Model, params: Params, ids: jax.Array) -> jax.Array:
  """<int>[batch, seq] -> [batch, seq, emb]."""
  if isinstance(model, Functions):
    return model.embed(params, ids)
  return _method(model, params, 'embed', ids)


def logits_from_embeddings(model: Model, params: Params, emb: jax.Array, mask: jax.Array,
                           detach_attention: bool = False) -> tuple[jax.Array, jax.Array | None]:
  """emb [batch, seq, emb], mask [batch, seq] -> (logits [batch, classes], attention [batch, seq] or None)."""
  if isinstance(model, Functions):
    return _call_functions(model, model.logits, params, emb, mask, detach_attention=detach_attention)
  return _method(model, params, 'logits_from_embeddings', emb, mask, detach_attention)


def inputs(model: Model, params: Params, ids: jax.Array) -> jax.Array:
  """The representation explainers and deletion edit, linear in the embedding: [batch, seq, features].

  The projected embedding if the model has the fast path, else the embedding.
  Zero stands for an absent token in both.
  """
  return inputs_from_embeddings(model, params, embed(model, params, ids))


def inputs_from_embeddings(model: Model, params: Params, emb: jax.Array) -> jax.Array:
  """emb [batch, seq, emb] -> `inputs` [batch, seq, features]: the projection on the fast path, else emb."""
  if not has_projection(model):
    return emb
  if isinstance(model, Functions):
    return model.project(params, emb)
  return _method(model, params, 'project', emb)


def text_span(mask: jax.Array) -> jax.Array:
  """True up to the last real token: <bool>[batch, seq] -> [batch, seq] (what precedes the trailing padding)."""
  return jnp.flip(jnp.cumsum(jnp.flip(mask, -1), -1), -1) > 0


def logits_from_inputs(model: Model, params: Params, inputs_: jax.Array, mask: jax.Array,
                       detach_attention: bool = False,
                       span: jax.Array | None = None) -> tuple[jax.Array, jax.Array | None]:
  """`inputs` [batch, seq, features], mask -> (logits [batch, classes], attention or None).

  span: <bool>[batch, seq], the positions a recurrent fast path steps over (default `text_span(mask)`); passed to
  `logits_from_projection` only when given (deletion's fixed pad rule), and unused by a model without the fast
  path (a Transformer has no recurrence to step over a removed token).
  """
  if not has_projection(model):
    return logits_from_embeddings(model, params, inputs_, mask, detach_attention)
  extra = () if span is None else (span,)
  if isinstance(model, Functions):
    return _call_functions(model, model.logits_from_projection, params, inputs_, mask, *extra,
                           detach_attention=detach_attention)
  return _method(model, params, 'logits_from_projection', inputs_, mask, detach_attention, *extra)


def empty_logits(model: Model, params: Params) -> jax.Array:
  """The logits of the empty document, one position of PAD: [classes].

  What an input scores once every one of its tokens is removed (occlusion, KernelSHAP and LIME under removal
  'pad'; deletion and ERASER under 'pad' and 'delete'). Scored where it stands, such an input has no real token
  for the attention pooling to attend to, which then spreads its weight over the batch's padding, so the score
  would depend on the padding width; the empty document has none.
  """
  ids = jnp.full((1, 1), PAD_ID)
  return apply(model, params, ids, ids != PAD_ID)[0][0]


def removal_logits(model: Model, params: Params, inputs_: jax.Array, mask: jax.Array, empty: jax.Array,
                   span: jax.Array | None = None) -> jax.Array:
  """logits_from_inputs of inputs whose removed tokens are masked out: [batch, classes].

  mask: <bool>[batch, seq], the tokens kept; a row that keeps none scores `empty` [classes] (empty_logits),
  whatever its width. span: as for logits_from_inputs.
  """
  logits, _ = logits_from_inputs(model, params, inputs_, mask, span=span)
  return jnp.where(mask.any(-1, keepdims=True), logits, empty)


def apply(model: Model, params: Params, ids: jax.Array,
          mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array | None]:
  """ids <int>[batch, seq] -> (logits [batch, classes], attention [batch, seq] or None)."""
  if isinstance(model, Functions):
    return logits_from_embeddings(model, params, embed(model, params, ids), ids != PAD_ID if mask is None else mask)
  return _method(model, params, '__call__', ids, mask)


@functools.partial(jax.jit, static_argnums=0)
def predict_proba(model: Model, params: Params, ids: jax.Array, mask: jax.Array) -> jax.Array:
  """[batch, seq] -> class probabilities [batch, classes]."""
  return jax.nn.softmax(apply(model, params, ids, mask)[0], axis=-1)
