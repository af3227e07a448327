"""Feature maps: one score per token, explaining the class the model predicts.

A registry maps a name to an explainer; `make_explainer(name, model, **options)`
returns a jitted `fn(params, ids, mask, key=None) -> scores [batch, seq]`.
Scores at PAD positions (mask False) are exactly 0. Options have the same names
across methods: `target` ('prob', 'logit' or 'log_prob' of the predicted class),
`detach_attention`, and for Integrated Gradients `steps`, `quadrature`,
`step_chunk`; the sampling explainers take `samples`, the removal-based ones
`removal` ('pad' or 'zero'). A name may end in map transforms: 'saliency.l1',
'integrated_gradients.abs' (TRANSFORMS).

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
from faithjax import adaptive_quadrature
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


def path_gradient(model, params, projected, mask, label, alphas, target='prob', detach_attention=False):
  """d f / d P at alpha P, for `chunk` alphas per example at once: alphas [chunk, batch] -> [chunk, batch, seq, k].

  projected: the inputs P [batch, seq, k]; label [batch]: the class explained. Row c*batch + b of the stacked
  batch the model sees is example b at alphas[c, b].
  """
  chunk = alphas.shape[0]
  stacked_forward = _logits_of_inputs(model, params, jnp.tile(mask, (chunk, 1)), detach_attention)
  path = (alphas[:, :, None, None] * projected).reshape(-1, *projected.shape[1:])
  return _gradient(stacked_forward, path, jnp.tile(label, chunk), target).reshape(chunk, *projected.shape)


def integrated_gradients(model, params, ids, mask, key=None, *, target='prob', detach_attention=False,
                         steps=50, quadrature='midpoint', step_chunk=None, path_tokens=MAX_PATH_TOKENS,
                         tolerance=None, max_evaluations=512, kronrod_nodes=15):
  """Zero-embedding baseline, straight path, signed: [batch, seq].

  IG_t = sum_k P_tk * sum_j w_j d f / d P_tk (alpha_j P), the class fixed to the
  one predicted at the input. `step_chunk` steps are evaluated together as one
  [chunk*batch, seq, ...] batch; by default as many as keep that batch within
  `path_tokens` tokens, which bounds the memory of the backward pass.
  With a `tolerance`, each example's integral is refined adaptively instead
  (integrated_gradients_to_tolerance; `steps`, `quadrature` and `step_chunk` unused).
  """
  if tolerance is not None:
    return integrated_gradients_to_tolerance(model, params, ids, mask, target=target, tolerance=tolerance,
                                             max_evaluations=max_evaluations, kronrod_nodes=kronrod_nodes,
                                             path_tokens=path_tokens).values
  projected = contract.inputs(model, params, ids)
  label = jnp.argmax(_logits_of_inputs(model, params, mask, detach_attention)(projected), -1)
  step_chunk = step_chunk or max(1, path_tokens // (ids.shape[0] * ids.shape[1]))
  alphas, weights = (jnp.asarray(_chunked(x, min(step_chunk, steps)), projected.dtype)
                     for x in quadrature_rule(quadrature, steps))

  def add_chunk(mean_grad, chunk_rule):
    chunk_alphas, chunk_weights = chunk_rule
    grad = path_gradient(model, params, projected, mask, label,
                         jnp.broadcast_to(chunk_alphas[:, None], (len(chunk_alphas), len(label))), target,
                         detach_attention)
    return mean_grad + jnp.einsum('c,cbsk->bsk', chunk_weights, grad), None

  mean_grad, _ = jax.lax.scan(add_chunk, jnp.zeros_like(projected), (alphas, weights))
  return jnp.sum(projected * mean_grad, -1) * mask


def path_ends(model, params, projected, mask, target='prob'):
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


def integrated_gradients_to_tolerance(model, params, ids, mask, *, target: str = 'prob', tolerance: float = 1e-3,
                                      max_evaluations: int = 512, kronrod_nodes: int = 15,
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

  def integrand(examples, alphas):
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


def _require_key(name, key):
  if key is None:
    raise FaithjaxError(f"the {name!r} explainer samples from a PRNG key: call fn(params, ids, mask, key)")


def random_normal(model, params, ids, mask, key=None):
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


def _value_without(model, params, emb, mask, keep, label, target, removal):
  """f(label) with the tokens where `keep` [batch, seq] is False removed: [batch].

  removal 'zero' gives them a zero (PAD) embedding, still attended (Captum's Occlusion,
  Lime and KernelShap with baseline 0); 'pad' also masks them, as deletion's 'pad' mode
  under its default, symmetric rule: a recurrent model still steps over the whole
  original text, a removed token with a zero input, in both directions.
  """
  kept = emb * keep[..., None]
  if removal != 'pad':
    return explained_value(_forward(model, params, mask, False)(kept), label, target)
  logits, _ = contract.logits_from_inputs(model, params, contract.inputs_from_embeddings(model, params, kept),
                                          mask & keep, span=contract.text_span(mask))
  return explained_value(logits, label, target)


def _predicted(model, params, emb, mask, target):
  """(label [batch], f(label) [batch]) at the unedited input."""
  logits = _forward(model, params, mask, False)(emb)
  label = jnp.argmax(logits, -1)
  return label, explained_value(logits, label, target)


def occlusion(model, params, ids, mask, key=None, *, target='prob', removal='pad', path_tokens=MAX_PATH_TOKENS):
  """Leave-one-out: f(x) - f(x without token t), the class predicted at x: [batch, seq].

  Every single-token removal of the batch runs in one program (seq variants).
  """
  emb = contract.embed(model, params, ids)
  label, value = _predicted(model, params, emb, mask, target)
  without = lambda t: _value_without(model, params, emb, mask, jnp.arange(ids.shape[1]) != t, label, target,
                                     removal)
  values = jax.lax.map(without, jnp.arange(ids.shape[1]), batch_size=_variants_per_chunk(ids, path_tokens))
  return (value[:, None] - values.T) * mask


def _sample_mean(score, samples, ids, path_tokens):
  """mean over n < samples of score(n) [batch, seq], `chunk` samples at a time: [batch, seq]."""
  return jax.lax.map(score, jnp.arange(samples), batch_size=_variants_per_chunk(ids, path_tokens)).mean(0)


def smoothgrad(model, params, ids, mask, key=None, *, target='prob', detach_attention=False, samples=10,
               sigma=0.1, path_tokens=MAX_PATH_TOKENS):
  """mean_n ||d f / d e (e + eps_n)||_2, eps_n ~ N(0, sigma^2) on real tokens' embeddings: [batch, seq].

  The saliency of `samples` noisy copies, averaged; the class is the one predicted at e.
  Sample n's noise comes from fold_in(key, n).
  """
  _require_key('smoothgrad', key)
  emb = contract.embed(model, params, ids)
  label, _ = _predicted(model, params, emb, mask, target)
  forward = _forward(model, params, mask, detach_attention)

  def noisy_saliency(n):
    noisy = emb + sigma * smoothgrad_noise(key, n, emb.shape, emb.dtype) * mask[..., None]
    return jnp.linalg.norm(_gradient(forward, noisy, label, target), axis=-1)

  return _sample_mean(noisy_saliency, samples, ids, path_tokens) * mask


def smoothgrad_noise(key, n, shape, dtype):
  """Sample n's N(0, 1) noise: [batch, seq, emb]."""
  return jax.random.normal(jax.random.fold_in(key, n), shape, dtype)


def gradient_shap_draws(key, n, batch, pool_size):
  """Sample n's baseline (a row of the pool) and path point alpha ~ U(0, 1) per example: ([batch], [batch])."""
  row_key, alpha_key = jax.random.split(jax.random.fold_in(key, n))
  return jax.random.randint(row_key, (batch,), 0, pool_size), jax.random.uniform(alpha_key, (batch,))


def fit_width(pool_ids, width):
  """Baseline documents cut or PAD-filled to `width` tokens: [pool, any] -> [pool, width]."""
  pool_ids = pool_ids[:, :width]
  return jnp.pad(pool_ids, ((0, 0), (0, width - pool_ids.shape[1])), constant_values=PAD_ID)


def gradient_shap(model, params, ids, mask, key=None, *, target='prob', detach_attention=False, samples=10,
                  baseline_ids=None, path_tokens=MAX_PATH_TOKENS):
  """Expected Gradients: mean_n sum_d (e - b_n)_td d f / d e_td (b_n + alpha_n (e - b_n)): [batch, seq], signed.

  Baselines b_n are embedded documents drawn from `baseline_ids` [pool, any width] (cut or
  PAD-filled to the batch's width), or from the batch itself when None; alpha_n ~ U(0, 1)
  (gradient_shap_draws). Equals Captum's GradientShap with stdevs=0, summed over embedding dims.
  """
  _require_key('gradient_shap', key)
  emb = contract.embed(model, params, ids)
  label, _ = _predicted(model, params, emb, mask, target)
  pool = emb if baseline_ids is None else contract.embed(model, params, fit_width(baseline_ids, ids.shape[1]))
  forward = _forward(model, params, mask, detach_attention)

  def path_score(n):
    rows, alpha = gradient_shap_draws(key, n, ids.shape[0], pool.shape[0])
    difference = emb - pool[rows]
    grad = _gradient(forward, pool[rows] + alpha[:, None, None] * difference, label, target)
    return jnp.sum(difference * grad, -1)

  return _sample_mean(path_score, samples, ids, path_tokens) * mask


def kernel_shap_coalitions(key, mask, samples):
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
  """(f(x) [batch], f of every coalition [samples, batch], f with no token [batch])."""
  emb = contract.embed(model, params, ids)
  label, value = _predicted(model, params, emb, mask, target)
  without = lambda keep: _value_without(model, params, emb, mask, keep, label, target, removal)
  values = jax.lax.map(without, coalitions, batch_size=_variants_per_chunk(ids, path_tokens))
  return value, values, without(jnp.zeros_like(mask))


def kernel_shap(model, params, ids, mask, key=None, *, target='prob', removal='zero', samples=200, ridge=1e-3,
                path_tokens=MAX_PATH_TOKENS):
  """KernelSHAP, one feature per token: [batch, seq], signed, summing to f(x) - f(no token).

  Least squares of f(z) - f(no token) on the coalitions z of kernel_shap_coalitions,
  subject to sum_t phi_t = f(x) - f(no token) (the efficiency constraint, exact), all
  documents' systems solved at once. `ridge` * |phi|^2 keeps the system solvable when
  there are fewer samples than tokens; next to z'z (~ samples) it changes little.
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


def lime_coalitions(key, mask, samples):
  """LIME's (the lime package's text explainer) perturbations: <bool>[samples, batch, seq], False on PAD.

  The first keeps every token; the others keep each real token with probability 1/2.
  """
  keep = jax.random.bernoulli(key, 0.5, (samples, *mask.shape)).at[0].set(True)
  return keep & mask


def lime_weights(coalitions, mask, kernel_width=25.):
  """exp(-d^2 / (2 width^2)), d = 100 x the cosine distance of a coalition to the whole document: [samples, batch]."""
  kept, n = coalitions.sum(-1), mask.sum(-1)
  distance = 100 * (1 - jnp.sqrt(kept / jnp.maximum(n, 1)))
  return jnp.exp(-distance**2 / (2 * kernel_width**2))


def lime(model, params, ids, mask, key=None, *, target='prob', removal='zero', samples=200, ridge=1.,
         path_tokens=MAX_PATH_TOKENS):
  """LIME, one feature per token: the coefficients of a weighted ridge regression: [batch, seq], signed.

  f(z) ~ intercept + z . phi over lime_coalitions z, weighted by lime_weights, penalty
  ridge * |phi|^2 (the intercept free), as the lime package's defaults; every document's
  regression solved at once.
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


# The registry: one line per explainer. Its docstring's first line is its help text; its keyword-only
# arguments are its options. Add one from anywhere with `EXPLAINERS['name'] = fn` (README "Add your own").
EXPLAINERS = {
    'saliency': saliency,
    'input_x_gradient': input_x_gradient,
    'integrated_gradients': integrated_gradients,
    'attention': attention,
    'uniform': uniform,
    'random': random_normal,
    'occlusion': occlusion,
    'smoothgrad': smoothgrad,
    'gradient_shap': gradient_shap,
    'kernel_shap': kernel_shap,
    'lime': lime,
}
BASELINES = ('uniform', 'random')  # reference maps that read nothing of the model: every evaluation's floor
DEFAULT = ('saliency', 'input_x_gradient', 'integrated_gradients', 'attention')  # the study's four


def explainer_names():
  """Every registered explainer except the baselines: the --explainers choices."""
  return tuple(n for n in EXPLAINERS if n not in BASELINES)


def describe(name):
  """One line of help for explainer `name`: its docstring's first line."""
  return (inspect.getdoc(EXPLAINERS[name]) or name).splitlines()[0].rstrip('.')


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
# Explainers whose maps are arrays, not one number per option: traced, not compiled into the program.
ARRAY_OPTIONS = ('baseline_ids',)
RANDOMISED = ('random', 'smoothgrad', 'gradient_shap', 'kernel_shap', 'lime')  # they need a PRNG key


def base_name(name):
  """'integrated_gradients.abs.l2' -> 'integrated_gradients', its map transforms checked against TRANSFORMS."""
  base, *transforms = name.split('.')
  unknown = [t for t in transforms if t not in TRANSFORMS]
  if unknown:
    raise FaithjaxError(f'unknown map transform(s) {unknown} in {name!r}; choose from {sorted(TRANSFORMS)}, '
                        "e.g. 'saliency.l1' or 'integrated_gradients.abs.l2'")
  return base


def parse_name(name):
  """'integrated_gradients.abs.l2' -> ('integrated_gradients', ('abs', 'l2'))."""
  base = base_name(name)
  if base not in EXPLAINERS:
    raise FaithjaxError(f'unknown explainer {base!r}; choose from {sorted(EXPLAINERS)}')
  return base, tuple(name.split('.')[1:])


def options_of(name):
  """The keyword options explainer `name` takes, e.g. ('target', 'detach_attention')."""
  parameters = inspect.signature(EXPLAINERS[parse_name(name)[0]]).parameters.values()
  return tuple(p.name for p in parameters if p.kind is p.KEYWORD_ONLY)


def _check_options(name, options):
  parse_name(name)
  unknown = set(options) - set(options_of(name))
  if unknown:
    raise FaithjaxError(f'{name} takes the options {options_of(name)}; got {sorted(unknown)}')
  if options.get('target', 'prob') not in TARGETS:
    raise FaithjaxError(f"target must be one of {TARGETS}; got {options['target']!r}")
  if options.get('quadrature', 'midpoint') not in QUADRATURES:
    raise FaithjaxError(f"quadrature must be one of {QUADRATURES}; got {options['quadrature']!r}")
  if options.get('removal', 'pad') not in REMOVALS:
    raise FaithjaxError(f"removal must be one of {REMOVALS}; got {options['removal']!r}")
  min_steps = 2 if options.get('quadrature') == 'trapezoid' else 1
  if options.get('steps', 50) < min_steps or (options.get('step_chunk') or 1) < 1:
    raise FaithjaxError(f'steps must be >= {min_steps} and step_chunk >= 1; got {options}')
  if options.get('samples', 1) < 1 or options.get('sigma', 0) < 0 or options.get('ridge', 0) < 0:
    raise FaithjaxError(f'samples must be >= 1, sigma and ridge >= 0; got {options}')
  if options.get('tolerance') is not None:
    _check_tolerance(options)


def _check_tolerance(options):
  """IG to a tolerance: a positive tolerance, a Gauss-Kronrod pair, room for one panel, the true gradient."""
  points = options.get('kronrod_nodes', 15)
  if not options['tolerance'] > 0 or points not in adaptive_quadrature.KRONROD_EXTENSIONS:
    raise FaithjaxError(f'tolerance must be > 0 and kronrod_nodes one of '
                        f'{tuple(adaptive_quadrature.KRONROD_EXTENSIONS)}; got {options}')
  if options.get('max_evaluations', 512) < points or options.get('detach_attention'):
    raise FaithjaxError(f'with a tolerance, max_evaluations must be >= kronrod_nodes ({points}) and detach_attention '
                        f'False (completeness, a stopping condition, holds for the true gradient only); got {options}')


def _transformed(name):
  """Explainer `name`'s function, its map transforms applied in order."""
  base, transforms = parse_name(name)

  @functools.wraps(EXPLAINERS[base])  # the signature jit reads static_argnames from
  def explainer(*args, **options):
    scores = EXPLAINERS[base](*args, **options)
    for transform in transforms:
      scores = TRANSFORMS[transform](scores)
    return scores
  return explainer


@functools.cache
def _jitted(name):
  """One jit per explainer, model and options static: equal models share compiled programs."""
  static = [o for o in options_of(name) if o not in ARRAY_OPTIONS]
  return jax.jit(_transformed(name), static_argnums=0, static_argnames=static)


def make_explainer(name, model, **options):
  """Jitted `fn(params, ids, mask, key=None) -> scores [batch, seq]` for explainer `name`.

  ids: <int>[batch, seq]; mask: <bool>[batch, seq], True on real tokens; key: a
  PRNG key, used only by the RANDOMISED explainers. `name` may end in map
  transforms ('.abs', '.l1', '.l2'). One program is compiled per input shape.
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
  del detach_attention  # it changes the gradient, not the values
  _, gap = path_ends(model, params, contract.inputs(model, params, ids), mask, target)
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


_to_tolerance = jax.jit(integrated_gradients_to_tolerance, static_argnums=0,
                        static_argnames=('target', 'tolerance', 'max_evaluations', 'kronrod_nodes', 'path_tokens'))


def explain_split_to_tolerance(model, params, split, batch_size: int,
                               **options) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """integrated_gradients_to_tolerance over an EncodedSplit, in length buckets of batch_size.

  options: those of integrated_gradients_to_tolerance. Returns (scores: flat float32 aligned with split.ids, as
  explain_split; evaluations <int>[len(split)]: the gradient evaluations each example used; completeness
  [len(split)]: its relative completeness error |sum_t IG_t - (f(x) - f(0))| / |f(x) - f(0)|).
  """
  scores, evaluations = np.zeros(len(split.ids), np.float32), np.zeros(len(split), np.int32)
  for indices, ids in batching.padded_batches(split, batch_size):
    result = jax.device_get(_to_tolerance(model, params, ids, ids != PAD_ID, **options))
    for row, i in enumerate(indices):
      scores[split.offsets[i]:split.offsets[i + 1]] = result.values[row, :split.offsets[i + 1] - split.offsets[i]]
    evaluations[indices] = result.evaluations[:len(indices)]
  _, relative = split_completeness(model, params, split, scores, batch_size, options.get('target', 'prob'))
  return scores, evaluations, relative


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
