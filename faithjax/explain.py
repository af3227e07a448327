"""Feature maps: one score per token, explaining the class the model predicts.

A registry maps a name to an explainer; `make_explainer(name, model, **options)`
returns a jitted `fn(params, ids, mask, key=None) -> scores [batch, seq]`.
Scores at PAD positions (mask False) are exactly 0. Options have the same names
across methods: `target` ('prob', 'logit' or 'log_prob' of the predicted class),
`detach_attention`, and for Integrated Gradients `steps`, `quadrature`,
`step_chunk`.

Explainers reach the model only through faithjax/models/contract.py. Input x
Gradient and Integrated Gradients run through its `inputs`: the model's linear
input projection P = e W where it has one (the LSTM, DESIGN.md section 4),
else the embedding itself (P = e). Because sum_d e_d df/de_d =
sum_k P_k df/dP_k, both are computed from df/dP alone; and with a zero baseline
the straight path of the embeddings is the path alpha P of the projection, so IG
needs P once and no per-step embedding work. All IG steps of a batch run in one
compiled program: a chunk of steps is stacked onto the batch axis (big matmuls
in the LSTM) and the chunks are scanned.
"""

import collections
import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np

from faithjax import FaithjaxError
from faithjax import batching
from faithjax import io
from faithjax.data.text import PAD_ID
from faithjax.models import contract

TARGETS = ('prob', 'logit', 'log_prob')
QUADRATURES = ('midpoint', 'trapezoid', 'gauss_legendre')


def explained_value(logits, label, target='prob'):
  """The scalar explained for class `label`: logits [batch, classes], label [batch] -> [batch]."""
  if target == 'logit':
    return jnp.take_along_axis(logits, label[:, None], -1)[:, 0]
  log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), label[:, None], -1)[:, 0]
  return log_prob if target == 'log_prob' else jnp.exp(log_prob)


def _gradient(forward, inputs, label, target):
  """d f / d inputs for class `label` [batch], or, if None, the class predicted at `inputs`.

  `forward`: inputs [batch, ...] -> logits [batch, classes]. Examples are
  independent, so one backward pass of the summed f gives each one's gradient.
  """
  logits, pullback = jax.vjp(forward, inputs)
  label = jnp.argmax(logits, -1) if label is None else label
  df_dlogits = jax.grad(lambda l: explained_value(l, label, target).sum())(logits)
  return pullback(df_dlogits)[0]


def _logits_of_inputs(model, params, mask, detach_attention):
  return lambda inputs: contract.logits_from_inputs(model, params, inputs, mask, detach_attention)[0]


def saliency(model, params, ids, mask, key=None, *, target='prob', detach_attention=False):
  """||d f / d e_t||_2 over embedding dims: [batch, seq]."""
  forward = lambda emb: contract.logits_from_embeddings(model, params, emb, mask, detach_attention)[0]
  grad = _gradient(forward, contract.embed(model, params, ids), None, target)
  return jnp.linalg.norm(grad, axis=-1) * mask


def input_x_gradient(model, params, ids, mask, key=None, *, target='prob', detach_attention=False):
  """sum_d e_td d f / d e_td, signed, as sum_k P_tk d f / d P_tk: [batch, seq]."""
  projected = contract.inputs(model, params, ids)
  grad = _gradient(_logits_of_inputs(model, params, mask, detach_attention), projected, None, target)
  return jnp.sum(projected * grad, -1) * mask


def quadrature_rule(quadrature, steps):
  """Nodes alpha in [0, 1] and weights summing to 1: two float64 numpy arrays [steps]."""
  if quadrature == 'midpoint':
    return (np.arange(steps) + 0.5) / steps, np.full(steps, 1 / steps)
  if quadrature == 'trapezoid':
    weights = np.full(steps, 1 / (steps - 1))
    weights[[0, -1]] /= 2
    return np.linspace(0, 1, steps), weights
  nodes, weights = np.polynomial.legendre.leggauss(steps)  # on [-1, 1]
  return (nodes + 1) / 2, weights / 2


# Path tokens (rows x width) per IG chunk by default: about 1.5 GB of BiLSTM activations.
MAX_PATH_TOKENS = 1 << 17


def _chunked(values, step_chunk):
  """[steps] -> [chunks, chunk] with chunk <= step_chunk, zero-padded (a zero weight adds nothing)."""
  chunks = -(-len(values) // step_chunk)
  chunk = -(-len(values) // chunks)
  return np.pad(values, (0, chunks * chunk - len(values))).reshape(chunks, chunk)


def integrated_gradients(model, params, ids, mask, key=None, *, target='prob', detach_attention=False,
                         steps=50, quadrature='midpoint', step_chunk=None, path_tokens=MAX_PATH_TOKENS):
  """Zero-embedding baseline, straight path, signed: [batch, seq].

  IG_t = sum_k P_tk * sum_j w_j d f / d P_tk (alpha_j P), the class fixed to the
  one predicted at the input. `step_chunk` steps are evaluated together as one
  [chunk*batch, seq, ...] batch; by default as many as keep that batch within
  `path_tokens` tokens, which bounds the memory of the backward pass.
  """
  projected = contract.inputs(model, params, ids)
  label = jnp.argmax(_logits_of_inputs(model, params, mask, detach_attention)(projected), -1)
  step_chunk = step_chunk or max(1, path_tokens // (ids.shape[0] * ids.shape[1]))
  alphas, weights = (jnp.asarray(_chunked(x, min(step_chunk, steps)), projected.dtype)
                     for x in quadrature_rule(quadrature, steps))
  chunk = alphas.shape[1]
  # Row c*batch + b of the stacked batch is example b at the c-th alpha of the chunk.
  stacked_forward = _logits_of_inputs(model, params, jnp.tile(mask, (chunk, 1)), detach_attention)
  stacked_label = jnp.tile(label, chunk)

  def add_chunk(mean_grad, chunk_rule):
    chunk_alphas, chunk_weights = chunk_rule
    path = (chunk_alphas[:, None, None, None] * projected).reshape(-1, *projected.shape[1:])
    grad = _gradient(stacked_forward, path, stacked_label, target).reshape(chunk, *projected.shape)
    return mean_grad + jnp.einsum('c,cbsk->bsk', chunk_weights, grad), None

  mean_grad, _ = jax.lax.scan(add_chunk, jnp.zeros_like(projected), (alphas, weights))
  return jnp.sum(projected * mean_grad, -1) * mask


def attention(model, params, ids, mask, key=None):
  """The model's attention weights: [batch, seq]."""
  weights = contract.apply(model, params, ids, mask)[1]
  if weights is None:
    raise FaithjaxError(f'the attention explainer needs a model that pools with attention; '
                        f'{type(model).__name__} returns none')
  return weights * mask


def uniform(model, params, ids, mask, key=None):
  """1/n on each of the n real tokens: [batch, seq]."""
  return mask / jnp.maximum(mask.sum(-1, keepdims=True), 1)


def random_normal(model, params, ids, mask, key=None):
  """N(0, 1) per real token, drawn from `key`: [batch, seq]."""
  if key is None:
    raise FaithjaxError("the 'random' explainer draws its map from a PRNG key: call fn(params, ids, mask, key)")
  return jax.random.normal(key, ids.shape) * mask


# The registry: one line per explainer. Its docstring's first line is its help text; its keyword-only
# arguments are its options. Add one from anywhere with `EXPLAINERS['name'] = fn` (README "Add your own").
EXPLAINERS = {
    'saliency': saliency,
    'input_x_gradient': input_x_gradient,
    'integrated_gradients': integrated_gradients,
    'attention': attention,
    'uniform': uniform,
    'random': random_normal,
}
BASELINES = ('uniform', 'random')  # reference maps that read nothing of the model: every evaluation's floor
DEFAULT = ('saliency', 'input_x_gradient', 'integrated_gradients', 'attention')  # the study's four


def explainer_names():
  """Every registered explainer except the baselines: the --explainers choices."""
  return tuple(n for n in EXPLAINERS if n not in BASELINES)


def describe(name):
  """One line of help for explainer `name`: its docstring's first line."""
  return (inspect.getdoc(EXPLAINERS[name]) or name).splitlines()[0].rstrip('.')


def options_of(name):
  """The keyword options explainer `name` takes, e.g. ('target', 'detach_attention')."""
  parameters = inspect.signature(EXPLAINERS[name]).parameters.values()
  return tuple(p.name for p in parameters if p.kind is p.KEYWORD_ONLY)


def _check_options(name, options):
  if name not in EXPLAINERS:
    raise FaithjaxError(f'unknown explainer {name!r}; choose from {sorted(EXPLAINERS)}')
  unknown = set(options) - set(options_of(name))
  if unknown:
    raise FaithjaxError(f'{name} takes the options {options_of(name)}; got {sorted(unknown)}')
  if options.get('target', 'prob') not in TARGETS:
    raise FaithjaxError(f"target must be one of {TARGETS}; got {options['target']!r}")
  if options.get('quadrature', 'midpoint') not in QUADRATURES:
    raise FaithjaxError(f"quadrature must be one of {QUADRATURES}; got {options['quadrature']!r}")
  min_steps = 2 if options.get('quadrature') == 'trapezoid' else 1
  if options.get('steps', 50) < min_steps or (options.get('step_chunk') or 1) < 1:
    raise FaithjaxError(f'steps must be >= {min_steps} and step_chunk >= 1; got {options}')


@functools.cache
def _jitted(name):
  """One jit per explainer, model and options static: equal models share compiled programs."""
  return jax.jit(EXPLAINERS[name], static_argnums=0, static_argnames=options_of(name))


def make_explainer(name, model, **options):
  """Jitted `fn(params, ids, mask, key=None) -> scores [batch, seq]` for explainer `name`.

  ids: <int>[batch, seq]; mask: <bool>[batch, seq], True on real tokens; key: a
  PRNG key, used only by 'random'. One program is compiled per input shape.
  """
  _check_options(name, options)
  return functools.partial(_jitted(name), model, **options)


@functools.partial(jax.jit, static_argnames=('model', 'target', 'detach_attention'))
def completeness_error(model, params, ids, mask, attributions, target='prob', detach_attention=False):
  """How far IG is from completeness, sum_t IG_t = f(x) - f(zero baseline).

  attributions: IG scores [batch, seq] for the predicted class. Returns the
  absolute error and the error relative to |f(x) - f(baseline)|, both [batch].
  Completeness holds for the true gradient only, so not with detach_attention.
  """
  projected = contract.inputs(model, params, ids)
  forward = _logits_of_inputs(model, params, mask, detach_attention)
  logits = forward(projected)
  label = jnp.argmax(logits, -1)
  gap = explained_value(logits, label, target) - explained_value(forward(jnp.zeros_like(projected)), label, target)
  error = jnp.abs(attributions.sum(-1) - gap)
  return error, error / jnp.abs(gap)


IN_FLIGHT = 4  # batches dispatched ahead of the one being gathered


def explain_split(fn, params, split, batch_size, key=None, progress=None):
  """Scores for every token of an EncodedSplit: flat float32, aligned with split.ids.

  Example i's scores are out[split.offsets[i]:split.offsets[i+1]], so the maps
  store beside the ids as .npz. Batches are length-bucketed; with `key`, batch n
  gets fold_in(key, n). `progress` labels a progress line on stderr. Leading
  axes of fn's output are kept: scores [N, batch, seq] (N stacked checkpoints,
  see reevaluate.py) give out [N, len(split.ids)].
  """
  meter = io.Progress(progress, len(split)) if progress else None
  out = None

  def gather(indices, scores):
    nonlocal out
    scores = np.asarray(scores)
    if out is None:
      out = np.zeros(scores.shape[:-2] + (len(split.ids),), np.float32)
    for row, i in enumerate(indices):
      start, stop = split.offsets[i], split.offsets[i + 1]
      out[..., start:stop] = scores[..., row, :stop - start]
    if meter:
      meter.update(len(indices))

  # A few batches stay in flight, so the host pads and copies while the device computes, and progress
  # shows from the first batch on (a new bucket width compiles at dispatch, which can take a while).
  pending = collections.deque()
  for n, (indices, ids) in enumerate(batching.padded_batches(split, batch_size)):
    batch_key = None if key is None else jax.random.fold_in(key, n)
    pending.append((indices, fn(params, ids, ids != PAD_ID, batch_key)))  # dispatched, not awaited
    if len(pending) > IN_FLIGHT:
      gather(*pending.popleft())
  while pending:
    gather(*pending.popleft())
  return np.zeros(0, np.float32) if out is None else out  # None: an empty split


def split_completeness(model, params, split, attributions, batch_size, target='prob'):
  """completeness_error over a split whose IG maps are stored as explain_split returns them.

  Returns the absolute and the relative error, both [len(split)].
  """
  errors = np.zeros((2, len(split)), np.float32)
  for indices, ids, scores in batching.padded_batches(split, batch_size, attributions):
    batch_errors = completeness_error(model, params, ids, ids != PAD_ID, scores, target)
    errors[:, indices] = np.asarray(batch_errors)[:, :len(indices)]
  return errors[0], errors[1]


def precision_at_k(scores, rationale, mask):
  """Share of the k top-scored real tokens that are in the rationale, k = rationale size.

  scores: [batch, seq] (ranked descending, ties by position); rationale, mask:
  <bool>[batch, seq]. Returns [batch]; nan where the rationale is empty.
  """
  scores, rationale, mask = np.asarray(scores), np.asarray(rationale, bool), np.asarray(mask, bool)
  order = np.argsort(np.where(mask, -scores, np.inf), axis=-1, kind='stable')
  k = rationale.sum(-1)
  in_top_k = np.arange(scores.shape[-1]) < k[:, None]
  hits = (np.take_along_axis(rationale & mask, order, -1) & in_top_k).sum(-1)
  with np.errstate(invalid='ignore', divide='ignore'):
    return hits / k
