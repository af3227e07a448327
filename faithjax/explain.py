"""Feature maps: one score per token, explaining the class the model predicts.

Each explainer is a `plugins.Explainer` record registered below; `make_explainer(name, model, **options)`
returns a jitted `fn(params, ids, mask, key=None) -> scores [batch, seq]`.
Scores at PAD positions (mask False) are exactly 0. Options have the same names
across methods: `target` ('prob', 'logit' or 'log_prob' of the predicted class),
`detach_attention`, and for Integrated Gradients `steps`, `quadrature`,
`guide_segments`, `step_chunk`; the sampling explainers take `samples`, the removal-based ones
`removal` ('pad' or 'zero'). A name may end in map transforms: 'saliency.l1',
'integrated_gradients.abs' (TRANSFORMS), and runs with the base explainer's options.

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
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from faithjax import FaithjaxError
from faithjax import adaptive_quadrature
from faithjax import batching
from faithjax import io
from faithjax import metrics
from faithjax import plugins
from faithjax import streams
from faithjax.data import encode
from faithjax.data.text import PAD_ID
from faithjax.models import contract

TARGETS = ('prob', 'logit', 'log_prob')
QUADRATURES = ('midpoint', 'trapezoid', 'gauss_legendre')  # fixed: the same nodes for every example (Captum's)
OUTPUT_GUIDED = 'output_guided'  # per example: nodes where f changes along the path (output_guided_rule)


def explained_value(logits: jax.Array, label: jax.Array, target: str = 'prob') -> jax.Array:
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


def saliency(model: Any, params: Any, ids: jax.Array, mask: jax.Array, key: jax.Array | None = None, *,
             target: str = 'prob', detach_attention: bool = False) -> jax.Array:
  """||d f / d e_t||_2 over embedding dims: [batch, seq]."""
  forward = lambda emb: contract.logits_from_embeddings(model, params, emb, mask, detach_attention)[0]
  grad = _gradient(forward, contract.embed(model, params, ids), None, target)
  return jnp.linalg.norm(grad, axis=-1) * mask


def input_x_gradient(model: Any, params: Any, ids: jax.Array, mask: jax.Array, key: jax.Array | None = None, *,
                     target: str = 'prob', detach_attention: bool = False) -> jax.Array:
  """sum_d e_td d f / d e_td, signed, as sum_k P_tk d f / d P_tk: [batch, seq]."""
  projected = contract.inputs(model, params, ids)
  grad = _gradient(_logits_of_inputs(model, params, mask, detach_attention), projected, None, target)
  return jnp.sum(projected * grad, -1) * mask


def quadrature_rule(quadrature: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
  """Nodes alpha in [0, 1] and weights summing to 1: two float64 numpy arrays [steps]."""
  if quadrature == 'midpoint':
    return (np.arange(steps) + 0.5) / steps, np.full(steps, 1 / steps)
  if quadrature == 'trapezoid':
    weights = np.full(steps, 1 / (steps - 1))
    weights[[0, -1]] /= 2
    return np.linspace(0, 1, steps), weights
  nodes, weights = np.polynomial.legendre.leggauss(steps)  # on [-1, 1]
  return (nodes + 1) / 2, weights / 2


def output_guided_rule(values: jax.Array, steps: int) -> tuple[jax.Array, jax.Array]:
  """Nodes and weights per example from f along its path: values [segments + 1, batch] at alpha = i / segments.

  Non-uniform placement after Bhat & Raychowdhury (2023): more nodes where the output changes fast, read from a
  cheap forward pre-pass. Each segment [i, i + 1] / segments gets one node, so none is empty, and the other
  steps - segments go to the segments in proportion to |f change| across them (largest remainders; uniformly
  where f does not change); a segment is integrated by Gauss-Legendre at its count. Returns alphas, weights
  [steps, batch], the weights summing to 1 per example (steps >= segments). Measured, not the default: on SST it
  needs more evaluations than one global Gauss-Legendre rule (experiments/results/nonuniform_ig_sst.md).
  """
  segments = values.shape[0] - 1
  change = jnp.abs(jnp.diff(values, axis=0))  # [segments, batch]
  total = change.sum(0)
  share = jnp.where(total > 0, change / jnp.where(total > 0, total, 1), 1 / segments)
  quota = (steps - segments) * share
  whole = jnp.floor(quota).astype(jnp.int32)
  rank = jnp.argsort(jnp.argsort(whole - quota, axis=0, stable=True), axis=0)  # largest remainder first
  counts = 1 + whole + (rank < steps - segments - whole.sum(0))  # [segments, batch], summing to steps
  start = jnp.cumsum(counts, 0) - counts
  node = jnp.arange(steps)[:, None, None]  # [steps, 1, 1] against [segments, batch]
  segment = jnp.sum(start <= node, 1) - 1  # [steps, batch]: the segment of each node
  count = jnp.take_along_axis(counts, segment, 0)
  index = jnp.arange(steps)[:, None] - jnp.take_along_axis(start, segment, 0)
  tables = _gauss_legendre_table(steps - segments + 1)  # a segment's count is at most this
  nodes, weights = (jnp.asarray(table, values.dtype)[count, index] for table in tables)
  return (segment + nodes) / segments, weights / segments


@functools.cache
def _gauss_legendre_table(largest: int) -> tuple[np.ndarray, np.ndarray]:
  """Gauss-Legendre rules on [0, 1] of each count n <= largest, row n zero-padded: [largest + 1, largest] twice."""
  nodes, weights = np.zeros((2, largest + 1, largest))
  for n in range(1, largest + 1):
    nodes[n, :n], weights[n, :n] = quadrature_rule('gauss_legendre', n)
  return nodes, weights


# Path tokens (rows x width) per IG chunk by default: about 1.5 GB of BiLSTM activations.
MAX_PATH_TOKENS = 1 << 17


def _chunked(values, step_chunk):
  """[steps, batch] -> [chunks, chunk, batch] with chunk <= step_chunk, zero-padded (a zero weight adds nothing)."""
  chunks = -(-len(values) // step_chunk)
  chunk = -(-len(values) // chunks)
  return jnp.pad(values, ((0, chunks * chunk - len(values)), (0, 0))).reshape(chunks, chunk, -1)


def path_values(model: Any, params: Any, projected: jax.Array, mask: jax.Array, label: jax.Array, alphas: jax.Array,
                target: str = 'prob', detach_attention: bool = False) -> jax.Array:
  """f of class `label` [batch] at alpha P, every example at each alpha: alphas [n] -> [n, batch], one forward pass."""
  n = alphas.shape[0]
  stacked_forward = _logits_of_inputs(model, params, jnp.tile(mask, (n, 1)), detach_attention)
  path = (alphas[:, None, None, None] * projected).reshape(-1, *projected.shape[1:])
  return explained_value(stacked_forward(path), jnp.tile(label, n), target).reshape(n, -1)


def path_gradient(model: Any, params: Any, projected: jax.Array, mask: jax.Array, label: jax.Array, alphas: jax.Array,
                  target: str = 'prob', detach_attention: bool = False) -> jax.Array:
  """d f / d P at alpha P, for `chunk` alphas per example at once: alphas [chunk, batch] -> [chunk, batch, seq, k].

  projected: the inputs P [batch, seq, k]; label [batch]: the class explained. Row c*batch + b of the stacked
  batch the model sees is example b at alphas[c, b].
  """
  chunk = alphas.shape[0]
  stacked_forward = _logits_of_inputs(model, params, jnp.tile(mask, (chunk, 1)), detach_attention)
  path = (alphas[:, :, None, None] * projected).reshape(-1, *projected.shape[1:])
  return _gradient(stacked_forward, path, jnp.tile(label, chunk), target).reshape(chunk, *projected.shape)


def integrated_gradients(model: Any, params: Any, ids: jax.Array, mask: jax.Array, key: jax.Array | None = None, *,
                         target: str = 'prob', detach_attention: bool = False, steps: int = 50,
                         quadrature: str = 'midpoint', guide_segments: int = 4, step_chunk: int | None = None,
                         path_tokens: int = MAX_PATH_TOKENS, tolerance: float = 0., max_evaluations: int = 512,
                         kronrod_nodes: int = 15) -> jax.Array:
  """Zero-embedding baseline, straight path, signed: [batch, seq].

  IG_t = sum_k P_tk * sum_j w_j d f / d P_tk (alpha_j P), the class fixed to the
  one predicted at the input. `step_chunk` steps are evaluated together as one
  [chunk*batch, seq, ...] batch; by default as many as keep that batch within
  `path_tokens` tokens, which bounds the memory of the backward pass.
  Under the OUTPUT_GUIDED quadrature each example's nodes come from f at `guide_segments` + 1 even points of its
  path (output_guided_rule): `guide_segments` more forward passes (f(x) is computed anyway).
  With a `tolerance` > 0, each example's integral is refined adaptively instead
  (integrated_gradients_to_tolerance; `steps`, `quadrature` and `step_chunk` unused); 0 is the fixed rule.
  """
  if tolerance:  # its counts unused, so not computed (jit drops them)
    return integrated_gradients_counted(model, params, ids, mask, target=target, detach_attention=detach_attention,
                                        tolerance=tolerance, max_evaluations=max_evaluations,
                                        kronrod_nodes=kronrod_nodes, path_tokens=path_tokens)[0]
  projected = contract.inputs(model, params, ids)
  logits = _logits_of_inputs(model, params, mask, detach_attention)(projected)
  label = jnp.argmax(logits, -1)
  if quadrature == OUTPUT_GUIDED:
    before = path_values(model, params, projected, mask, label, jnp.arange(guide_segments) / guide_segments, target,
                         detach_attention)
    rule = output_guided_rule(jnp.concatenate([before, explained_value(logits, label, target)[None]]), steps)
  else:
    rule = (jnp.broadcast_to(jnp.asarray(x, projected.dtype)[:, None], (steps, len(label)))
            for x in quadrature_rule(quadrature, steps))
  step_chunk = step_chunk or max(1, path_tokens // (ids.shape[0] * ids.shape[1]))
  alphas, weights = (_chunked(x, min(step_chunk, steps)) for x in rule)

  def add_chunk(mean_grad: jax.Array, chunk_rule: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, None]:
    """scan step: mean_grad [batch, seq, k] plus one chunk's weighted gradients (alphas, weights [chunk, batch])."""
    chunk_alphas, chunk_weights = chunk_rule
    grad = path_gradient(model, params, projected, mask, label, chunk_alphas, target, detach_attention)
    return mean_grad + jnp.einsum('cb,cbsk->bsk', chunk_weights, grad), None

  mean_grad, _ = jax.lax.scan(add_chunk, jnp.zeros_like(projected), (alphas, weights))
  return jnp.sum(projected * mean_grad, -1) * mask


def path_ends(model: Any, params: Any, projected: jax.Array, mask: jax.Array,
              target: str = 'prob') -> tuple[jax.Array, jax.Array]:
  """(label [batch], gap [batch]): the class predicted at the inputs `projected`, and f(x) - f(zero baseline)."""
  forward = _logits_of_inputs(model, params, mask, False)
  logits = forward(projected)
  label = jnp.argmax(logits, -1)
  return label, explained_value(logits, label, target) - explained_value(forward(jnp.zeros_like(projected)), label,
                                                                         target)


# Examples per slot of IG to a tolerance: a finished slot takes the next example of the batch, so the batch is the
# pool; a pool several times the slots keeps the tail short (slots idle, still computed, while the last examples
# refine). Measured on SST (cpu preset, batch 64): every example in its own slot ran at GL-50's speed, though the
# examples used 21 evaluations on average.
POOL_PER_SLOT = 8


def integrated_gradients_to_tolerance(model: Any, params: Any, ids: jax.Array, mask: jax.Array, *, target: str = 'prob',
                                      tolerance: float = 1e-3, max_evaluations: int = 512, kronrod_nodes: int = 15,
                                      path_tokens: int = MAX_PATH_TOKENS) -> adaptive_quadrature.Integral:
  """IG of each example to `tolerance` x |f(x) - f(0)|, by adaptive Gauss-Kronrod quadrature of its path.

  ids, mask [batch, seq]. The integrand is IG's per-token one, sum_k P_tk d f / d P_tk (alpha P): a vector of
  seq entries (adaptive_quadrature.integrate). An example stops when the estimated L1 error of its whole map,
  sum over panels of ||K - G||_1, and its completeness error |sum_t IG_t - (f(x) - f(0))|, exact, are both
  <= tolerance x |f(x) - f(0)|, or at `max_evaluations` gradient evaluations (kronrod_nodes = 7 or 15 per
  panel). batch / POOL_PER_SLOT examples are refined at a time, each slot refilled from the batch. Returns an
  adaptive_quadrature.Integral: values (the map) [batch, seq], evaluations <int>[batch], sum_error (the absolute
  completeness error) [batch], estimate (absolute) [batch]. `path_tokens` bounds the
  tokens of one gradient batch (slots x kronrod_nodes x seq), so the memory, as for fixed steps (slots >= 1).
  """
  projected = contract.inputs(model, params, ids)
  label, gap = path_ends(model, params, projected, mask, target)

  def integrand(examples: jax.Array, alphas: jax.Array) -> jax.Array:
    """The slots' per-token integrands: examples <int>[slots], alphas [points, slots] -> [points, slots, seq]."""
    slot = lambda x: jnp.asarray(x).at[examples].get(mode='fill', fill_value=0)  # an idle slot: an empty example
    slot_projected = slot(projected)
    grad = path_gradient(model, params, slot_projected, slot(mask), slot(label), alphas, target)
    return jnp.sum(slot_projected * grad, -1)

  size = jnp.max(jnp.where(mask.any(-1), jnp.arange(ids.shape[0]) + 1, 0))  # a batch's trailing empty rows: none
  slots = max(1, min(path_tokens // (kronrod_nodes * ids.shape[1]), ids.shape[0] // POOL_PER_SLOT))
  integral = adaptive_quadrature.integrate(integrand, gap, tolerance * jnp.abs(gap), width=ids.shape[1],
                                           slots=slots, points=kronrod_nodes, max_evaluations=max_evaluations,
                                           size=size)
  return integral.replace(values=integral.values * mask)


def integrated_gradients_counted(model: Any, params: Any, ids: jax.Array, mask: jax.Array, key: jax.Array | None = None,
                                 *, target: str = 'prob', detach_attention: bool = False, tolerance: float = 1e-3,
                                 max_evaluations: int = 512, kronrod_nodes: int = 15,
                                 path_tokens: int = MAX_PATH_TOKENS, **fixed_rule: Any) -> tuple[jax.Array, dict]:
  """IG to a tolerance and each document's counts: (scores [batch, seq], {count: [batch]}).

  counts: 'evaluations' <int>: the gradient evaluations spent; 'completeness_relative_error':
  |sum_t IG_t - (f(x) - f(0))| / |f(x) - f(0)|; 'at_cap' <bool>: the budget spent (no bisection more fit under
  max_evaluations), so the tolerance may be unmet. fixed_rule: the options of the fixed rule, unused.
  """
  del key, fixed_rule
  if detach_attention:  # trace time: both are static
    raise FaithjaxError('integrated_gradients with a tolerance needs detach_attention off: its completeness gate '
                        'holds for the true gradient only')
  integral = integrated_gradients_to_tolerance(model, params, ids, mask, target=target, tolerance=tolerance,
                                               max_evaluations=max_evaluations, kronrod_nodes=kronrod_nodes,
                                               path_tokens=path_tokens)
  _, relative = completeness_error(model, params, ids, mask, integral.values, target)
  return integral.values, {'evaluations': integral.evaluations, 'completeness_relative_error': relative,
                           'at_cap': integral.evaluations + 2 * kronrod_nodes > max_evaluations}


def summarise_counts(counts: dict) -> dict:
  """Per-document counts ({count: [documents]}, as an explainer's `counted` variant returns) summarised: a
  boolean's share of True, a number's median, mean, 90th percentile and maximum."""
  return {name: {'share': float(np.mean(values))} if values.dtype == bool else
          {'median': float(np.median(values)), 'mean': float(np.mean(values)),
           'p90': float(np.quantile(values, 0.9)), 'max': float(np.max(values))}
          for name, values in counts.items()}


def attention(model: Any, params: Any, ids: jax.Array, mask: jax.Array, key: jax.Array | None = None) -> jax.Array:
  """The model's attention weights: [batch, seq]."""
  weights = contract.apply(model, params, ids, mask)[1]
  if weights is None:
    raise FaithjaxError(f'the attention explainer needs a model that pools with attention; '
                        f'{contract.name(model)} returns none')
  return weights * mask


def uniform(model: Any, params: Any, ids: jax.Array, mask: jax.Array, key: jax.Array | None = None) -> jax.Array:
  """1/n on each of the n real tokens: [batch, seq]."""
  return mask / jnp.maximum(mask.sum(-1, keepdims=True), 1)


def _require_key(name, key):
  if key is None:
    raise FaithjaxError(f"the {name!r} explainer samples from a PRNG key: call fn(params, ids, mask, key)")


def random_normal(model: Any, params: Any, ids: jax.Array, mask: jax.Array, key: jax.Array | None = None) -> jax.Array:
  """N(0, 1) per real token, drawn from `key`: [batch, seq]."""
  _require_key('random', key)
  return jax.random.normal(key, ids.shape) * mask


# --- Explainers that evaluate the model on many variants of each input. They use only the model's
# `embed` and `logits_from_embeddings`. `jax.lax.map(..., batch_size=chunk)` evaluates `chunk`
# variants of the whole batch at once (vmapped, so the LSTM sees one [chunk*batch]-row matmul) and
# scans over the chunks; `path_tokens` bounds chunk*batch*seq, and with it the memory, as for IG.

REMOVALS = ('pad', 'zero')


def _variants_per_chunk(ids, path_tokens):
  return max(1, path_tokens // (ids.shape[0] * ids.shape[1]))


def _forward(model, params, mask, detach_attention):
  """emb [batch, seq, emb] -> logits [batch, classes] of the documents in `mask`."""
  return lambda emb: contract.logits_from_embeddings(model, params, emb, mask, detach_attention)[0]


def _value_without(model, params, emb, mask, keep, label, target, removal, empty):
  """f(label) with the tokens where `keep` [batch, seq] is False removed: [batch].

  removal 'zero' gives them a zero (PAD) embedding, still attended (Captum's Occlusion,
  Lime and KernelShap with baseline 0); 'pad' also masks them, as deletion's 'pad' mode
  under its default, symmetric rule: a recurrent model still steps over the whole
  original text, a removed token with a zero input, in both directions; a document
  with every token removed scores `empty` (contract.empty_logits), whatever its width.
  """
  kept = emb * keep[..., None]
  if removal != 'pad':
    return explained_value(_forward(model, params, mask, False)(kept), label, target)
  logits = contract.removal_logits(model, params, contract.inputs_from_embeddings(model, params, kept), mask & keep,
                                   empty, span=contract.text_span(mask))
  return explained_value(logits, label, target)


def _predicted(model, params, emb, mask, target):
  """(label [batch], f(label) [batch]) at the unedited input."""
  logits = _forward(model, params, mask, False)(emb)
  label = jnp.argmax(logits, -1)
  return label, explained_value(logits, label, target)


def occlusion(model: Any, params: Any, ids: jax.Array, mask: jax.Array, key: jax.Array | None = None, *,
              target: str = 'prob', removal: str = 'pad', path_tokens: int = MAX_PATH_TOKENS) -> jax.Array:
  """Leave-one-out: f(x) - f(x without token t), the class predicted at x: [batch, seq].

  Every single-token removal of the batch runs in one program (seq variants). Under removal 'pad', a one-token
  document without its token is the empty document (contract.empty_logits).
  """
  emb = contract.embed(model, params, ids)
  label, value = _predicted(model, params, emb, mask, target)
  empty = contract.empty_logits(model, params)
  without = lambda t: _value_without(model, params, emb, mask, jnp.arange(ids.shape[1]) != t, label, target,
                                     removal, empty)
  values = jax.lax.map(without, jnp.arange(ids.shape[1]), batch_size=_variants_per_chunk(ids, path_tokens))
  return (value[:, None] - values.T) * mask


def _sample_mean(score, samples, ids, path_tokens):
  """mean over n < samples of score(n) [batch, seq], `chunk` samples at a time: [batch, seq]."""
  return jax.lax.map(score, jnp.arange(samples), batch_size=_variants_per_chunk(ids, path_tokens)).mean(0)


def smoothgrad(model: Any, params: Any, ids: jax.Array, mask: jax.Array, key: jax.Array | None = None, *,
               target: str = 'prob', detach_attention: bool = False, samples: int = 10, sigma: float = 0.1,
               path_tokens: int = MAX_PATH_TOKENS) -> jax.Array:
  """mean_n ||d f / d e (e + eps_n)||_2, eps_n ~ N(0, sigma^2) on real tokens' embeddings: [batch, seq].

  The saliency of `samples` noisy copies, averaged; the class is the one predicted at e.
  Sample n's noise comes from fold_in(key, n).
  """
  _require_key('smoothgrad', key)
  emb = contract.embed(model, params, ids)
  label, _ = _predicted(model, params, emb, mask, target)
  forward = _forward(model, params, mask, detach_attention)

  def noisy_saliency(n: jax.Array) -> jax.Array:
    """Sample n's saliency: [batch, seq]."""
    noisy = emb + sigma * smoothgrad_noise(key, n, emb.shape, emb.dtype) * mask[..., None]
    return jnp.linalg.norm(_gradient(forward, noisy, label, target), axis=-1)

  return _sample_mean(noisy_saliency, samples, ids, path_tokens) * mask


def smoothgrad_noise(key: jax.Array, n: int | jax.Array, shape: tuple, dtype: Any) -> jax.Array:
  """Sample n's N(0, 1) noise: [batch, seq, emb]."""
  return jax.random.normal(jax.random.fold_in(key, n), shape, dtype)


def gradient_shap_draws(key: jax.Array, n: int | jax.Array, batch: int, pool_size: int) -> tuple[jax.Array, jax.Array]:
  """Sample n's baseline (a row of the pool) and path point alpha ~ U(0, 1) per example: ([batch], [batch])."""
  row_key, alpha_key = jax.random.split(jax.random.fold_in(key, n))
  return jax.random.randint(row_key, (batch,), 0, pool_size), jax.random.uniform(alpha_key, (batch,))


def fit_width(pool_ids: jax.Array, width: int) -> jax.Array:
  """Baseline documents cut or PAD-filled to `width` tokens: [pool, any] -> [pool, width]."""
  pool_ids = pool_ids[:, :width]
  return jnp.pad(pool_ids, ((0, 0), (0, width - pool_ids.shape[1])), constant_values=PAD_ID)


def gradient_shap(model: Any, params: Any, ids: jax.Array, mask: jax.Array, key: jax.Array | None = None, *,
                  target: str = 'prob', detach_attention: bool = False, samples: int = 10, baseline_documents: int = 64,
                  baseline_ids: jax.Array | None = None, path_tokens: int = MAX_PATH_TOKENS) -> jax.Array:
  """Expected Gradients: mean_n sum_d (e - b_n)_td d f / d e_td (b_n + alpha_n (e - b_n)): [batch, seq], signed.

  Baselines b_n are embedded documents drawn from the first `baseline_documents` rows of
  `baseline_ids` [pool, any width] (cut or PAD-filled to the batch's width; the pipeline draws
  that many training documents, draw_baseline_documents), or from the batch itself when
  None; alpha_n ~ U(0, 1)
  (gradient_shap_draws). Equals Captum's GradientShap with stdevs=0, summed over embedding dims.
  """
  _require_key('gradient_shap', key)
  emb = contract.embed(model, params, ids)
  label, _ = _predicted(model, params, emb, mask, target)
  pool = emb if baseline_ids is None else contract.embed(
      model, params, fit_width(baseline_ids[:baseline_documents], ids.shape[1]))
  forward = _forward(model, params, mask, detach_attention)

  def path_score(n: jax.Array) -> jax.Array:
    """Sample n's path score: [batch, seq]."""
    rows, alpha = gradient_shap_draws(key, n, ids.shape[0], pool.shape[0])
    difference = emb - pool[rows]
    grad = _gradient(forward, pool[rows] + alpha[:, None, None] * difference, label, target)
    return jnp.sum(difference * grad, -1)

  return _sample_mean(path_score, samples, ids, path_tokens) * mask


def kernel_shap_coalitions(key: jax.Array, mask: jax.Array, samples: int) -> jax.Array:
  """Coalitions drawn from the Shapley kernel: <bool>[samples, batch, seq], False on PAD.

  Each picks a size k in 1..n-1 of the n real tokens with probability proportional to
  1 / (k (n - k)), then k of them uniformly; regressed with equal weights, they give
  KernelSHAP's weighted least squares. A document of n <= 1 tokens keeps all of them.
  """
  n = mask.sum(-1)[:, None]
  sizes = jnp.arange(1, mask.shape[1] + 1)
  kernel = 1 / (sizes * jnp.maximum(n - sizes, 1))
  logits = jnp.log(jnp.where((sizes < n) | ((n <= 1) & (sizes == 1)), kernel, 0.))
  size_key, subset_key = jax.random.split(key)
  k = 1 + jax.random.categorical(size_key, logits, shape=(samples, mask.shape[0]))
  return _random_subsets(subset_key, mask, k)


def _random_subsets(key, mask, sizes):
  """sizes [samples, batch] real tokens of each document, chosen uniformly: <bool>[samples, batch, seq]."""
  draws = jnp.where(mask, jax.random.uniform(key, (sizes.shape[0], *mask.shape)), jnp.inf)
  ranks = jnp.argsort(jnp.argsort(draws, axis=-1), axis=-1)
  return ranks < sizes[..., None]


def _coalition_values(model, params, ids, mask, coalitions, target, removal, path_tokens):
  """(f(x) [batch], f of every coalition [samples, batch], f with no token [batch]: under removal 'pad', the empty
  document's, as for any coalition without a token)."""
  emb = contract.embed(model, params, ids)
  label, value = _predicted(model, params, emb, mask, target)
  empty = contract.empty_logits(model, params)
  without = lambda keep: _value_without(model, params, emb, mask, keep, label, target, removal, empty)
  values = jax.lax.map(without, coalitions, batch_size=_variants_per_chunk(ids, path_tokens))
  return value, values, without(jnp.zeros_like(mask))


def kernel_shap(model: Any, params: Any, ids: jax.Array, mask: jax.Array, key: jax.Array | None = None, *,
                target: str = 'prob', removal: str = 'zero', samples: int = 200, ridge: float = 1e-3,
                path_tokens: int = MAX_PATH_TOKENS) -> jax.Array:
  """KernelSHAP, one feature per token: [batch, seq], signed, summing to f(x) - f(no token).

  Least squares of f(z) - f(no token) on the coalitions z of kernel_shap_coalitions,
  subject to sum_t phi_t = f(x) - f(no token) (the efficiency constraint, exact), all
  documents' systems solved at once. `ridge` * |phi|^2 keeps the system solvable when
  there are fewer samples than tokens; next to z'z (~ samples) it changes little.
  f(no token) is f of the zero embeddings under removal 'zero', of the empty document under 'pad'
  (contract.empty_logits): independent of the padding width either way.
  """
  _require_key('kernel_shap', key)
  coalitions = kernel_shap_coalitions(key, mask, samples)
  value, values, empty = _coalition_values(model, params, ids, mask, coalitions, target, removal, path_tokens)
  z = coalitions.astype(value.dtype)  # [samples, batch, seq]
  real = mask.astype(z.dtype)
  # The KKT system [[Z'Z + ridge, m], [m', 0]] [phi; lambda] = [Z'y; gap], m the real tokens; a PAD
  # token's unit diagonal gives phi = 0, and a document without tokens gets lambda = 0.
  gram = jnp.einsum('nbs,nbt->bst', z, z) + jax.vmap(jnp.diag)(jnp.where(mask, ridge, 1.))
  corner = (real.sum(-1) == 0).astype(z.dtype)[:, None]
  kkt = jnp.concatenate([jnp.concatenate([gram, real[:, :, None]], 2),
                         jnp.concatenate([real, corner], 1)[:, None, :]], 1)
  rhs = jnp.concatenate([jnp.einsum('nbs,nb->bs', z, values - empty), (value - empty)[:, None]], 1)
  return jnp.linalg.solve(kkt, rhs[..., None])[:, :-1, 0] * mask


def lime_coalitions(key: jax.Array, mask: jax.Array, samples: int) -> jax.Array:
  """LIME perturbations: <bool>[samples, batch, seq], False on PAD.

  The first keeps every token; the others keep each real token with probability 1/2 (Captum's default
  perturbation for LIME). The lime package's text explainer samples otherwise: it removes a uniformly drawn
  number 1..d of the d words, so its coalitions are smaller on average and its answer differs from this one.
  """
  keep = jax.random.bernoulli(key, 0.5, (samples, *mask.shape)).at[0].set(True)
  return keep & mask


def lime_weights(coalitions: jax.Array, mask: jax.Array, kernel_width: float = 25.) -> jax.Array:
  """exp(-d^2 / (2 width^2)), d = 100 x the cosine distance of a coalition to the whole document: [samples, batch]."""
  kept, n = coalitions.sum(-1), mask.sum(-1)
  distance = 100 * (1 - jnp.sqrt(kept / jnp.maximum(n, 1)))
  return jnp.exp(-distance**2 / (2 * kernel_width**2))


def lime(model: Any, params: Any, ids: jax.Array, mask: jax.Array, key: jax.Array | None = None, *,
         target: str = 'prob', removal: str = 'zero', samples: int = 200, ridge: float = 1.,
         path_tokens: int = MAX_PATH_TOKENS) -> jax.Array:
  """LIME, one feature per token: the coefficients of a weighted ridge regression: [batch, seq], signed.

  f(z) ~ intercept + z . phi over lime_coalitions z (Bernoulli(1/2) per token, Captum's sampling, not the lime
  package's), weighted by lime_weights, penalty ridge * |phi|^2 (the intercept free), the lime package's kernel
  and ridge defaults; every document's regression solved at once. Under removal 'pad' a coalition without any
  token scores the empty document (contract.empty_logits).
  """
  _require_key('lime', key)
  coalitions = lime_coalitions(key, mask, samples)
  _, values, _ = _coalition_values(model, params, ids, mask, coalitions, target, removal, path_tokens)
  weights = lime_weights(coalitions, mask)
  # Columns: the seq tokens, then the intercept; a PAD column is zero, so its unit diagonal gives phi = 0.
  x = jnp.concatenate([coalitions.astype(values.dtype), jnp.ones_like(values)[..., None]], -1)
  penalty = jnp.concatenate([jnp.where(mask, ridge, 1.), jnp.zeros_like(values[0])[:, None]], -1)
  gram = jnp.einsum('nb,nbs,nbt->bst', weights, x, x) + jax.vmap(jnp.diag)(penalty)
  rhs = jnp.einsum('nb,nbs,nb->bs', weights, x, values)
  return jnp.linalg.solve(gram, rhs[..., None])[..., :-1, 0] * mask


# The most path points or samples an option may ask for: past it a value is a typo that would exhaust memory or
# run for days instead of failing at once.
MAX_STEPS_OR_SAMPLES = 100_000


def _check_ig(options) -> None:
  min_steps = {'trapezoid': 2, OUTPUT_GUIDED: options.guide_segments}.get(options.quadrature, 1)
  if options.quadrature not in (*QUADRATURES, OUTPUT_GUIDED):
    raise FaithjaxError(f"quadrature must be one of {(*QUADRATURES, OUTPUT_GUIDED)}; got {options.quadrature!r}")
  if not 1 <= options.guide_segments <= MAX_STEPS_OR_SAMPLES:
    raise FaithjaxError(f'integrated_gradients guide_segments must be in 1..{MAX_STEPS_OR_SAMPLES:,}; got '
                        f'{options.guide_segments:,}')
  if not min_steps <= options.steps <= MAX_STEPS_OR_SAMPLES:
    raise FaithjaxError(f'integrated_gradients steps must be in {min_steps}..{MAX_STEPS_OR_SAMPLES:,} under '
                        f'{options.quadrature} quadrature (the trapezoid rule needs both ends of the path, '
                        f'{OUTPUT_GUIDED} a node per guide segment); got '
                        f'{options.steps:,}')
  if options.tolerance:
    _check_tolerance(options)


def _check_tolerance(options) -> None:
  """IG to a tolerance: a finite positive tolerance, a Gauss-Kronrod pair, and room for one panel."""
  points = options.kronrod_nodes
  if not 0 < options.tolerance < math.inf or points not in adaptive_quadrature.KRONROD_EXTENSIONS:
    raise FaithjaxError(f'integrated_gradients tolerance must be > 0 (0: the fixed steps rule) and kronrod_nodes one '
                        f'of {tuple(adaptive_quadrature.KRONROD_EXTENSIONS)}; got {options}')
  if not points <= options.max_evaluations <= MAX_STEPS_OR_SAMPLES:
    raise FaithjaxError(f'integrated_gradients max_evaluations must be in {points}..{MAX_STEPS_OR_SAMPLES:,} (one '
                        f'panel of kronrod_nodes points at least); got {options.max_evaluations:,}')


def _check_gradient_shap(options) -> None:
  """The sampling options (_check_sampling) and at least one baseline document."""
  _check_sampling(options)
  if options.baseline_documents < 1:
    raise FaithjaxError(f'baseline_documents must be >= 1; got {options.baseline_documents}')


def _check_sampling(options) -> None:
  """The options the removal and sampling explainers share: removal, samples, sigma, ridge."""
  if getattr(options, 'removal', 'pad') not in REMOVALS:
    raise FaithjaxError(f"removal must be one of {REMOVALS}; got {options.removal!r}")
  if not 1 <= getattr(options, 'samples', 1) <= MAX_STEPS_OR_SAMPLES:
    raise FaithjaxError(f'samples must be in 1..{MAX_STEPS_OR_SAMPLES:,}; got {options}')
  if not all(0 <= getattr(options, name, 0) < math.inf for name in ('sigma', 'ridge')):
    raise FaithjaxError(f'sigma and ridge must be finite and >= 0; got {options}')


def draw_baseline_documents(config: Any, corpus: Any) -> dict:
  """GradientSHAP's baseline_ids: its option `baseline_documents` training documents (all, if fewer), drawn
  with --seed (streams.baseline_rng) and PAD-filled to the longest of them: <int>[documents, width]."""
  train_split = corpus.splits['train']
  count = config.explainer_options('gradient_shap').baseline_documents
  rows = streams.baseline_rng(config.seed).choice(len(train_split), min(count, len(train_split)), replace=False)
  return {'baseline_ids': train_split.padded(rows, int(train_split.lengths[rows].max()))}


def completeness_quality(model: Any, params: Any, split: encode.EncodedSplit, scores: np.ndarray, config: Any) -> dict:
  """IG's relative completeness error over a split (median, p90) of its ragged map `scores` [len(split.ids)]; none
  with detached attention."""
  if config.detach_attention:  # completeness holds for the true gradient only
    return {}
  _, errors = split_completeness(model, params, split, scores, config.eval_batch_size, config.target)
  return {'completeness_relative_error': {'median': float(np.median(errors)), 'p90': float(np.quantile(errors, 0.9))}}


# The built-in explainers, registered as a user's are (plugins.register; docs/extending.md). A record's options are
# its function's keyword-only arguments (plugins.Explainer).
for _record in (
    plugins.Explainer('saliency', saliency),
    plugins.Explainer('input_x_gradient', input_x_gradient),
    plugins.Explainer('integrated_gradients', integrated_gradients, check=_check_ig, quality=completeness_quality,
                      counted=lambda options: integrated_gradients_counted if options.tolerance else None,
                      option_help={'steps': 'Integrated Gradients path points (quadrature nodes).',
                                   'quadrature': f'Integrated Gradients quadrature: {", ".join(QUADRATURES)} '
                                                 f'(fixed) or {OUTPUT_GUIDED} (nodes per document where f changes; '
                                                 'on SST it needed 2x gauss_legendre\'s evaluations: '
                                                 'experiments/results/nonuniform_ig_sst.md).',
                                   'guide_segments': f'With {OUTPUT_GUIDED}: forward passes of the pre-pass that '
                                                     'places the nodes (even segments of the path).',
                                   'tolerance': 'Refine each document until its map\'s estimated L1 error and its '
                                                'completeness error are <= tolerance x |f(x) - f(0)| (adaptive '
                                                'Gauss-Kronrod); 0: the fixed steps rule.',
                                   'max_evaluations': 'With a tolerance: the most gradient evaluations per document.',
                                   'kronrod_nodes': 'With a tolerance: points per panel, 15 (G7K15) or 7 (G3K7).'}),
    plugins.Explainer('attention', attention),
    plugins.Explainer('uniform', uniform, baseline=True),
    plugins.Explainer('random', random_normal, needs_key=True, baseline=True),
    plugins.Explainer('occlusion', occlusion, check=_check_sampling),
    plugins.Explainer('smoothgrad', smoothgrad, needs_key=True, check=_check_sampling),
    plugins.Explainer('gradient_shap', gradient_shap, needs_key=True, check=_check_gradient_shap,
                      data_options=draw_baseline_documents,
                      option_help={'baseline_documents': 'GradientSHAP baselines: this many training documents, '
                                                         'drawn with --seed.'}),
    plugins.Explainer('kernel_shap', kernel_shap, needs_key=True, check=_check_sampling),
    plugins.Explainer('lime', lime, needs_key=True, check=_check_sampling),
):
  plugins.register(_record)
DEFAULT = ('saliency', 'input_x_gradient', 'integrated_gradients', 'attention')  # the study's four


def baseline_names() -> tuple:
  """The registered baselines (maps that read nothing of the model): every evaluation's floor."""
  return tuple(n for n, r in plugins.EXPLAINERS.items() if r.baseline)


def explainer_names() -> tuple:
  """Every registered explainer except the baselines: the --explainers choices."""
  return tuple(n for n, r in plugins.EXPLAINERS.items() if not r.baseline)


def _l1(scores):
  return scores / jnp.maximum(jnp.abs(scores).sum(-1, keepdims=True), jnp.finfo(scores.dtype).tiny)


def _l2(scores):
  return scores / jnp.maximum(jnp.linalg.norm(scores, axis=-1, keepdims=True), jnp.finfo(scores.dtype).tiny)


# Map transforms, named after the explainer with dots: 'integrated_gradients.abs.l1' is |IG|
# scaled to sum 1 over each document. scores [batch, seq] (already 0 on PAD) -> [batch, seq].
TRANSFORMS = {
    'abs': jnp.abs,  # unsigned: rank by magnitude, whatever the direction
    'l1': _l1,  # sum |score| = 1 per document (signs kept)
    'l2': _l2,  # ||scores||_2 = 1 per document
}
def base_name(name: str) -> str:
  """'integrated_gradients.abs.l2' -> 'integrated_gradients', its map transforms checked against TRANSFORMS."""
  base, *transforms = name.split('.')
  unknown = [t for t in transforms if t not in TRANSFORMS]
  if unknown:
    raise FaithjaxError(f'unknown map transform(s) {unknown} in {name!r}; choose from {sorted(TRANSFORMS)}, '
                        "e.g. 'saliency.l1' or 'integrated_gradients.abs.l2'")
  return base


def parse_name(name: str) -> tuple[str, tuple[str, ...]]:
  """'integrated_gradients.abs.l2' -> ('integrated_gradients', ('abs', 'l2'))."""
  return plugins.get(plugins.Explainer, base_name(name)).name, tuple(name.split('.')[1:])


def explainer_of(name: str) -> plugins.Explainer:
  """The registered record of `name`'s base explainer: a map transform ('.abs', '.l1') shares its options."""
  return plugins.EXPLAINERS[parse_name(name)[0]]


def options_of(name: str) -> tuple[str, ...]:
  """Every keyword argument explainer `name` takes, e.g. ('target', 'detach_attention', 'steps', ...)."""
  parameters = inspect.signature(explainer_of(name).fn).parameters.values()
  return tuple(p.name for p in parameters if p.kind is p.KEYWORD_ONLY)


def check_options(name: str, options: dict) -> None:
  """Raises a FaithjaxError on an option `name` does not take or a bad value (its record's `check`)."""
  record = explainer_of(name)
  unknown = set(options) - set(options_of(name))
  if unknown:
    raise FaithjaxError(f'{name} takes the options {options_of(name)}; got {sorted(unknown)}')
  if options.get('target', 'prob') not in TARGETS:
    raise FaithjaxError(f"target must be one of {TARGETS}; got {options['target']!r}")
  if (options.get('step_chunk') or 1) < 1 or options.get('path_tokens', 1) < 1:
    raise FaithjaxError(f'step_chunk and path_tokens must be >= 1; got {options}')
  _record_options(record, options)


def _record_options(record, options):
  """The options instance of `record` in `options` (make_explainer's keywords: also shared and memory ones)."""
  return record.make_options(**{k: v for k, v in options.items() if k in record.options.__dataclass_fields__})


def _transformed(name, counted=None):
  """Explainer `name`'s function, its map transforms applied in order; with `counted` (its record's counted
  variant), that function instead, returning (transformed scores, counts)."""
  base, transforms = parse_name(name)

  @functools.wraps(plugins.EXPLAINERS[base].fn)  # the signature jit reads static_argnames from
  def explainer(*args: Any, **options: Any) -> Any:
    scores, counts = counted(*args, **options) if counted else (plugins.EXPLAINERS[base].fn(*args, **options), None)
    for transform in transforms:
      scores = TRANSFORMS[transform](scores)
    return (scores, counts) if counted else scores
  return explainer


@functools.cache
def _jitted(name, counted=None):
  """One jit per explainer, model and options static: equal models share compiled programs."""
  static = [o for o in options_of(name) if o != 'baseline_ids']  # an array: traced, not compiled in
  return jax.jit(_transformed(name, counted), static_argnums=0, static_argnames=static)


def make_explainer(name: str, model: Any, **options: Any) -> Callable:
  """Jitted `fn(params, ids, mask, key=None) -> scores [batch, seq]` for explainer `name`.

  ids: <int>[batch, seq]; mask: <bool>[batch, seq], True on real tokens; key: a
  PRNG key, used only by explainers whose record `needs_key`. `name` may end in map
  transforms ('.abs', '.l1', '.l2'). One program is compiled per input shape.
  """
  check_options(name, options)
  return functools.partial(_jitted(name), model, **options)


def make_counted_explainer(name: str, model: Any, **options: Any) -> Callable | None:
  """make_explainer's fn that also returns per-document counts, `fn(params, ids, mask, key=None) -> (scores
  [batch, seq], {count: [batch]})`, or None where `name` with these options counts nothing (its record's
  `counted`; IG: only to a tolerance)."""
  check_options(name, options)
  record = explainer_of(name)
  counted = record.counted and record.counted(_record_options(record, options))
  return counted and functools.partial(_jitted(name, counted), model, **options)


@functools.partial(jax.jit, static_argnames=('model', 'target', 'detach_attention'))
def completeness_error(model: Any, params: Any, ids: jax.Array, mask: jax.Array, attributions: jax.Array,
                       target: str = 'prob', detach_attention: bool = False) -> tuple[jax.Array, jax.Array]:
  """How far IG is from completeness, sum_t IG_t = f(x) - f(zero baseline).

  attributions: IG scores [batch, seq] for the predicted class. Returns the
  absolute error and the error relative to |f(x) - f(baseline)|, both [batch].
  Completeness holds for the true gradient only, so not with detach_attention.
  """
  del detach_attention  # it changes the gradient, not the values
  _, gap = path_ends(model, params, contract.inputs(model, params, ids), mask, target)
  error = jnp.abs(attributions.sum(-1) - gap)
  return error, error / jnp.abs(gap)


IN_FLIGHT = 4  # batches dispatched ahead of the one being gathered


def explain_split(fn: Callable, params: Any, split: encode.EncodedSplit, batch_size: int, key: jax.Array | None = None,
                  progress: str | None = None) -> np.ndarray:
  """Scores for every token of an EncodedSplit: flat float32, aligned with split.ids.

  Example i's scores are out[split.offsets[i]:split.offsets[i+1]], so the maps
  store beside the ids as .npz. Batches are length-bucketed; with `key`, batch n
  gets fold_in(key, n). `progress` labels a progress line on stderr. Leading
  axes of fn's output are kept: scores [N, batch, seq] (N stacked checkpoints,
  see reevaluate.py) give out [N, len(split.ids)].
  """
  return explain_split_counted(lambda *args: (fn(*args), {}), params, split, batch_size, key, progress)[0]


def transform_split(name: str, split: encode.EncodedSplit, base_scores: np.ndarray, batch_size: int) -> np.ndarray:
  """Explainer `name`'s map of `split` from its base explainer's map `base_scores` (flat, aligned with split.ids):
  the map transforms of `name` applied per document, as `_transformed` applies them to the base's output. The base
  runs with the same options and keys, so this equals explaining with `name` at none of its cost."""
  transforms = parse_name(name)[1]
  out = np.zeros_like(base_scores)
  for indices, _, scores in batching.padded_batches(split, batch_size, base_scores):
    for transform in transforms:
      scores = TRANSFORMS[transform](scores)
    split.scatter(indices, np.asarray(scores), out)
  return out


def explain_split_counted(fn: Callable, params: Any, split: encode.EncodedSplit, batch_size: int,
                          key: jax.Array | None = None,
                          progress: str | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """explain_split of a counted explainer (make_counted_explainer: fn -> (scores, {count: [batch]})): (scores,
  as explain_split's, {count: [len(split)]})."""
  meter = io.Progress(progress, len(split)) if progress else None
  out, counts = None, {}

  def gather(indices: np.ndarray, output: tuple[jax.Array, dict[str, jax.Array]]) -> None:
    """A finished batch's scores and counts copied into `out` and `counts` at its documents `indices`."""
    nonlocal out
    scores, batch_counts = jax.device_get(output)
    if out is None:
      out = np.zeros(scores.shape[:-2] + (len(split.ids),), np.float32)
    split.scatter(indices, scores, out)
    for name, values in batch_counts.items():
      counts.setdefault(name, np.zeros(len(split), values.dtype))[indices] = values[:len(indices)]
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
  return (np.zeros(0, np.float32) if out is None else out), counts  # None: an empty split


STABILITY_DOCUMENTS = 64  # test documents whose maps under two keys give a sampling explainer's seed stability
STABLE = 0.9  # median seed stability below which a map depends on the seed (report.md says so)


def seed_stability(fn: Callable, params: Any, split: encode.EncodedSplit, batch_size: int,
                   keys: jax.Array) -> np.ndarray:
  """How much a sampling explainer's maps depend on its key: [len(split)] per-document Spearman.

  fn: as make_explainer returns; keys: two PRNG keys. Each document's maps under the two keys (explain_split,
  the same batches) are compared over its real tokens (metrics.masked_spearman; nan where it has under 2 tokens
  or a constant map).
  """
  first, second = (explain_split(fn, params, split, batch_size, key) for key in keys)
  rho = np.full(len(split), np.nan)
  for indices, ids, a, b in batching.padded_batches(split, batch_size, first, second):
    rho[indices] = metrics.masked_spearman(a, b, ids != PAD_ID)[:len(indices)]
  return rho


def split_completeness(model: Any, params: Any, split: encode.EncodedSplit, attributions: np.ndarray, batch_size: int,
                       target: str = 'prob') -> tuple[np.ndarray, np.ndarray]:
  """completeness_error over a split whose IG maps are stored as explain_split returns them.

  Returns the absolute and the relative error, both [len(split)].
  """
  errors = np.zeros((2, len(split)), np.float32)
  for indices, ids, scores in batching.padded_batches(split, batch_size, attributions):
    batch_errors = completeness_error(model, params, ids, ids != PAD_ID, scores, target)
    errors[:, indices] = np.asarray(batch_errors)[:, :len(indices)]
  return errors[0], errors[1]


def explain_split_to_tolerance(model: Any, params: Any, split: encode.EncodedSplit, batch_size: int,
                               **options: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """integrated_gradients to a tolerance over an EncodedSplit, in length buckets of batch_size.

  options: integrated_gradients', a tolerance among them. Returns (scores: flat float32 aligned with split.ids, as
  explain_split; evaluations <int>[len(split)]: the gradient evaluations each example used; completeness
  [len(split)]: its relative completeness error |sum_t IG_t - (f(x) - f(0))| / |f(x) - f(0)|).
  """
  fn = make_counted_explainer('integrated_gradients', model, **options)
  if fn is None:
    raise FaithjaxError(f'explain_split_to_tolerance needs a tolerance > 0; got {options}')
  scores, counts = explain_split_counted(fn, params, split, batch_size)
  return scores, counts['evaluations'], counts['completeness_relative_error']


def precision_at_k(scores: jax.Array, rationale: jax.Array, mask: jax.Array) -> jax.Array:
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
