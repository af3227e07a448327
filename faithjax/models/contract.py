"""The model contract: what explainers and evaluations need from a text classifier.

A classifier is a Flax module (hashable, so it is a static argument of jitted
functions) with these methods, all batched:

  embed(ids)                                   <int>[batch, seq] -> [batch, seq, emb]; PAD embeds to 0
  logits_from_embeddings(emb, mask, detach_attention=False)
                                               -> (logits [batch, classes], attention [batch, seq] or None)
  __call__(ids, mask=None)                     -> the same pair, from ids

and the attribute `num_classes`. Two seams are optional:

- attention: `logits_from_embeddings` returns the weights the model pools
  tokens with (None if it has none); the 'attention' explainer reads them.
- a linear input projection, the fast path of Input x Gradient, Integrated
  Gradients and deletion: `project(emb)` (linear in emb) and
  `logits_from_projection(projected, mask, detach_attention=False)` with
  logits_from_embeddings(e) == logits_from_projection(project(e)). The LSTM
  has one (its gate projection, hoisted out of the recurrence); without it the
  "inputs" below are the embeddings themselves.

Everything outside faithjax/models reaches a classifier through the pure
functions of this module, over (model, params); `TextClassifier` is the
protocol to implement (docs/extending.md).
"""

import functools
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

from faithjax.data.text import PAD_ID


@runtime_checkable
class TextClassifier(Protocol):
  """A classifier faithjax can explain and evaluate (a flax.linen.Module)."""
  num_classes: int

  def embed(self, ids: jax.Array) -> jax.Array:
    """<int>[batch, seq] -> <float>[batch, seq, emb]; PAD ids embed to zero."""

  def logits_from_embeddings(self, emb: jax.Array, mask: jax.Array,
                             detach_attention: bool = False) -> tuple[jax.Array, jax.Array | None]:
    """emb [batch, seq, emb], mask <bool>[batch, seq] -> (logits [batch, classes], attention or None)."""

  def __call__(self, ids: jax.Array, mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array | None]:
    """ids <int>[batch, seq] -> (logits, attention or None)."""


Params = Any


def has_projection(model: TextClassifier) -> bool:
  """Whether the model exposes the optional linear input projection (the fast path)."""
  return hasattr(model, 'project') and hasattr(model, 'logits_from_projection')


def init(model: TextClassifier, rng: jax.Array, seq_len: int = 8) -> Params:
  return model.init(rng, jnp.ones((1, seq_len), jnp.int32))['params']


def embed(model, params, ids):
  """<int>[batch, seq] -> [batch, seq, emb]."""
  return model.apply({'params': params}, ids, method=type(model).embed)


def logits_from_embeddings(model, params, emb, mask, detach_attention=False):
  """emb [batch, seq, emb], mask [batch, seq] -> (logits [batch, classes], attention [batch, seq] or None)."""
  return model.apply({'params': params}, emb, mask, detach_attention, method=type(model).logits_from_embeddings)


def inputs(model, params, ids):
  """The representation explainers and deletion edit, linear in the embedding: [batch, seq, features].

  The projected embedding if the model has the fast path, else the embedding.
  Zero stands for an absent token in both.
  """
  return inputs_from_embeddings(model, params, embed(model, params, ids))


def inputs_from_embeddings(model, params, emb):
  """emb [batch, seq, emb] -> `inputs` [batch, seq, features]: the projection on the fast path, else emb."""
  if not has_projection(model):
    return emb
  return model.apply({'params': params}, emb, method=type(model).project)


def text_span(mask):
  """True up to the last real token: <bool>[batch, seq] -> [batch, seq] (what precedes the trailing padding)."""
  return jnp.flip(jnp.cumsum(jnp.flip(mask, -1), -1), -1) > 0


def logits_from_inputs(model, params, inputs_, mask, detach_attention=False, span=None):
  """`inputs` [batch, seq, features], mask -> (logits [batch, classes], attention or None).

  span: <bool>[batch, seq], the positions a recurrent fast path steps over (default `text_span(mask)`); passed to
  `logits_from_projection` only when given (deletion's fixed pad rule), and unused by a model without the fast
  path (a Transformer has no recurrence to step over a removed token).
  """
  if not has_projection(model):
    return logits_from_embeddings(model, params, inputs_, mask, detach_attention)
  extra = () if span is None else (span,)
  return model.apply({'params': params}, inputs_, mask, detach_attention, *extra,
                     method=type(model).logits_from_projection)


def empty_logits(model: TextClassifier, params: Params) -> jax.Array:
  """The logits of the empty document, one position of PAD: [classes].

  What an input scores once every one of its tokens is removed (occlusion, KernelSHAP and LIME under removal
  'pad'; deletion and ERASER under 'pad' and 'delete'). Scored where it stands, such an input has no real token
  for the attention pooling to attend to, which then spreads its weight over the batch's padding, so the score
  would depend on the padding width; the empty document has none.
  """
  ids = jnp.full((1, 1), PAD_ID)
  return apply(model, params, ids, ids != PAD_ID)[0][0]


def removal_logits(model: TextClassifier, params: Params, inputs_: jax.Array, mask: jax.Array, empty: jax.Array,
                   span: jax.Array | None = None) -> jax.Array:
  """logits_from_inputs of inputs whose removed tokens are masked out: [batch, classes].

  mask: <bool>[batch, seq], the tokens kept; a row that keeps none scores `empty` [classes] (empty_logits),
  whatever its width. span: as for logits_from_inputs.
  """
  logits, _ = logits_from_inputs(model, params, inputs_, mask, span=span)
  return jnp.where(mask.any(-1, keepdims=True), logits, empty)


def apply(model, params, ids, mask=None):
  """ids <int>[batch, seq] -> (logits [batch, classes], attention [batch, seq] or None)."""
  return model.apply({'params': params}, ids, mask)


@functools.partial(jax.jit, static_argnums=0)
def predict_proba(model, params, ids, mask):
  """[batch, seq] -> class probabilities [batch, classes]."""
  return jax.nn.softmax(apply(model, params, ids, mask)[0], axis=-1)
