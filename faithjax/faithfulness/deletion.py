"""Deletion until the prediction flips (Table 3), and the token removal ERASER shares (eraser.py).

Real tokens (id != PAD) are ranked by their score, descending (signed, or by
absolute value with `absolute=True`), ties broken by position, earlier first.
Removing the top k tokens means, per `mode`:
  'pad'    their ids become PAD: zero embedding, excluded from attention, and
           skipped by the LSTM when they end the text (the 'trailing' pad rule);
  'pad_fixed' the same, but every position of the original text is stepped
           over, both directions (the 'fixed' rule, RunConfig's default:
           `removal_mode` maps deletion_mode 'pad' to it);
  'unk'    their ids become UNK, an ordinary token;
  'delete' they are cut out and the rest shift left.
An input left without any real token (the last k of deletion, ERASER's bins
of one-token documents) scores as the empty document (contract.empty_logits)
under every mode, so no probe depends on the batch's padding width.
Removal acts on the model's `contract.inputs` (the LSTM's input projection,
linear in the embedding; the embedding for a model without one): they are
computed once per chunk of probes, and removing a token is a row edit, so
each probe costs only the rest of the forward pass.

Deletion rate: the first k whose predicted label differs from the original
prediction, divided by the number n of real tokens; 1.0 if no k <= n flips it
(and for empty documents). Lower = more faithful.
"""

from typing import TYPE_CHECKING, Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from faithjax import batching
from faithjax import faithfulness
from faithjax import metrics
from faithjax import parallel
from faithjax.data import encode
from faithjax.data.text import PAD_ID
from faithjax.data.text import UNK_ID
from faithjax.models import contract

if TYPE_CHECKING:  # evaluations imports this module
  from faithjax.faithfulness import evaluations

MODES = ('pad', 'unk', 'delete')
# What a recurrent model steps over in 'pad' mode (RunConfig.pad_rule). 'trailing': positions up to the last
# kept token, so a removed last token is skipped by the backward LSTM while a removed first token is stepped over
# by the forward one (asymmetric); 'fixed': every position up to the original last token, in both directions
# (what a PyTorch LSTM packed with the original lengths does with PAD ids, as in Jain & Wallace's Encoder).
PAD_RULES = ('trailing', 'fixed')


def removal_mode(deletion_mode: str, pad_rule: str = 'fixed') -> str:
  """The `mode` of first_flips / eraser_scores for a config's deletion_mode and pad_rule: 'pad_fixed' for pad
  mode under the fixed rule, else the deletion mode itself."""
  if pad_rule not in PAD_RULES:
    raise ValueError(f'unknown pad rule {pad_rule!r}; choose one of {PAD_RULES}')
  return 'pad_fixed' if deletion_mode == 'pad' and pad_rule == 'fixed' else deletion_mode


def options_of(config: Any) -> dict:
  """The deletion options a RunConfig asks for: {'absolute', 'mode'}, the mode under its pad rule."""
  return {'absolute': config.absolute, 'mode': removal_mode(config.deletion_mode, config.pad_rule)}


def token_ranks(scores: jax.Array, mask: jax.Array, absolute: bool | jax.Array = False) -> jax.Array:
  """Importance rank of every token: <float>[batch, seq] -> <int>[batch, seq].

  Real tokens get 0 (most important) .. n-1; ties go to the earlier position.
  PAD positions rank after every real token.
  """
  key = jnp.where(absolute, jnp.abs(scores), scores)  # traced: both options share one program
  order = jnp.argsort(jnp.where(mask, -key, jnp.inf), axis=-1, stable=True)
  return jnp.argsort(order, axis=-1)


def erase(projected: jax.Array, mask: jax.Array, removed: jax.Array, mode: str,
          unk_projection: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Removes the `removed` tokens from a projected input.

  projected: <float>[batch, seq, features] (contract.inputs of the ids);
  mask, removed: <bool>[batch, seq]; unk_projection: <float>[features], the
  inputs of UNK. Returns (projected, mask) of the edited input.
  """
  removed = removed & mask
  if mode in ('pad', 'pad_fixed'):
    return jnp.where(removed[..., None], 0., projected), mask & ~removed
  if mode == 'unk':
    return jnp.where(removed[..., None], unk_projection, projected), mask
  if mode == 'delete':
    kept = mask & ~removed
    source = jnp.argsort(~kept, axis=-1, stable=True)  # kept positions first, in order
    new_mask = jnp.take_along_axis(kept, source, axis=-1)
    shifted = jnp.take_along_axis(projected, source[..., None], axis=1)
    return shifted * new_mask[..., None], new_mask
  raise ValueError(f'unknown mask mode {mode!r}; choose one of {MODES}')


def unk_inputs(model: contract.TextClassifier | contract.Nnx | contract.Functions,
               params: contract.Params) -> jax.Array:
  """The inputs of one UNK token: [features]."""
  return contract.inputs(model, params, jnp.full((1, 1), UNK_ID))[0, 0]


def probes(model: contract.TextClassifier | contract.Nnx | contract.Functions, params: contract.Params,
           projected: jax.Array, mask: jax.Array, removed: jax.Array, mode: str, unk_projection: jax.Array,
           empty: jax.Array) -> jax.Array:
  """Logits of many edits of each example in one program.

  removed: <bool>[batch, probes, seq] -> logits [batch, probes, classes]. mode 'pad_fixed': 'pad', with the
  recurrence stepping over the unedited text's span (contract.text_span of `mask`). empty: [classes]
  (contract.empty_logits), the logits of an edit without any real token left.
  """
  batch, probes, seq = removed.shape
  flat = lambda x: jnp.broadcast_to(x[:, None], (batch, probes) + x.shape[1:]).reshape((-1,) + x.shape[1:])
  edited, edited_mask = erase(flat(projected), flat(mask), removed.reshape(-1, seq), mode, unk_projection)
  span = flat(contract.text_span(mask)) if mode == 'pad_fixed' else None
  logits = contract.removal_logits(model, params, edited, edited_mask, empty, span=span)
  return logits.reshape(batch, probes, -1)


@faithfulness.jit(('model', 'mode', 'chunk', 'slots'))
def first_flips(model: contract.TextClassifier | contract.Nnx | contract.Functions, params: contract.Params,
                ids: jax.Array, scores: jax.Array, *, absolute: bool = False, mode: str = 'pad', chunk: int = 8,
                slots: int | None = None) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Deletion until flip for a pool of examples, in one program.

  ids: <int>[pool, seq]; scores: <float>[pool, seq] (ignored on PAD).
  `slots` examples (default: the whole pool) are probed at a time, `chunk`
  consecutive k each, in one [slots*chunk, seq] forward per step. An
  example's first chunk starts at k = 0, the unedited input, which gives the
  label to compare with. A slot whose example has flipped or run out of
  tokens takes the next example of the pool, and the loop ends when the pool
  is done: the cost follows each example's own flip point, not the slowest
  example of a batch.
  Returns (counts <int>[pool]: the first flipping k, or n if none flips;
  flipped <bool>[pool]; steps: the number of forwards run, a scalar).
  """
  pool = ids.shape[0]
  slots = min(slots or pool, pool)
  mask = ids != PAD_ID
  ranks, n = token_ranks(scores, mask, absolute), mask.sum(-1)
  unk_projection, empty = unk_inputs(model, params), contract.empty_logits(model, params)
  # Rows after the last non-empty one (a pool's padding) need no probe: an empty row's count is 0 anyway.
  size = jnp.max(jnp.where(n > 0, jnp.arange(pool) + 1, 0))
  queued = lambda i: jnp.where(i < size, i, pool)

  def unfinished(state: dict) -> jax.Array:
    return jnp.any(state['example'] < pool)  # index `pool` marks an idle slot

  def step(state: dict) -> dict:
    example, start = state['example'], state['start']
    slot = lambda x: x.at[example].get(mode='fill', fill_value=0)  # an idle slot reads an empty example
    slot_ids, slot_n = slot(ids), slot(n)
    projected, slot_mask = contract.inputs(model, params, slot_ids), slot_ids != PAD_ID
    ks = start[:, None] + jnp.arange(chunk)  # [slots, chunk]
    removed = slot(ranks)[:, None, :] < ks[:, :, None]
    predicted = jnp.argmax(probes(model, params, projected, slot_mask, removed, mode, unk_projection, empty), -1)
    label = jnp.where(start == 0, predicted[:, 0], state['label'])
    changed = (predicted != label[:, None]) & (ks >= 1) & (ks <= slot_n[:, None])
    hit = changed.any(-1)
    done = hit | (ks[:, -1] >= slot_n)
    finished = jnp.where(done, example, pool)  # out of range: dropped by the scatters
    first = jnp.take_along_axis(ks, jnp.argmax(changed, -1)[:, None], -1)[:, 0]
    counts = state['counts'].at[finished].set(jnp.where(hit, first, slot_n), mode='drop')
    refill = queued(state['next'] + jnp.cumsum(done) - 1)
    return {'example': jnp.where(done, refill, example), 'start': jnp.where(done, 0, start + chunk),
            'label': label, 'counts': counts, 'flipped': state['flipped'].at[finished].set(hit, mode='drop'),
            'next': jnp.minimum(state['next'] + done.sum(), size), 'steps': state['steps'] + 1}

  zeros = jnp.zeros(pool, jnp.int32)
  state = jax.lax.while_loop(unfinished, step, {
      'example': queued(jnp.arange(slots)), 'start': jnp.zeros(slots, jnp.int32),
      'label': jnp.zeros(slots, jnp.int32), 'counts': zeros, 'flipped': zeros.astype(bool),
      'next': jnp.minimum(slots, size).astype(jnp.int32), 'steps': jnp.int32(0)})
  return state['counts'], state['flipped'], state['steps']


def rates_from_counts(counts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
  """First flipping k over n real tokens, 1.0 for empty documents: counts [..., n_examples] -> float64."""
  return np.where(lengths > 0, counts / np.maximum(lengths, 1), 1.0)


def deletion_rates(model: contract.TextClassifier | contract.Nnx | contract.Functions, params: contract.Params,
                   split: encode.EncodedSplit, scores: np.ndarray, *, absolute: bool = False, mode: str = 'pad',
                   pool: int = 512, slots: int = 64, chunk: int = 8,
                   mesh: jax.sharding.Mesh | None = None) -> np.ndarray:
  """Deletion rate of every example of an EncodedSplit: [len(split)] float64.

  scores: ragged float array aligned with split.ids (one feature map).
  Each program runs `first_flips` over `pool` examples of one length bucket;
  one forward is [slots*chunk, bucket width]. With a `mesh` (parallel.make_mesh)
  each pool is split over its devices; the rates are the same.
  """
  counts_of = parallel.sharded(mesh, lambda params, ids, pool_scores: first_flips(
      model, params, ids, pool_scores, absolute=absolute, mode=mode, chunk=chunk, slots=slots)[0])
  counts = batching.map_split(lambda rows, ids, pool_scores: counts_of(params, ids, pool_scores),
                                  split, [scores], batch_size=pool, label=f'deletion ({mode})')
  return rates_from_counts(counts, split.lengths)


def evaluate(context: 'evaluations.Context', explainer: str,
             maps: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Deletion rates of one map on the context's test examples (evaluations.py), and their indices: [len(subset)]
  each; maps: {split: ragged map [tokens]}."""
  part, scores = context.test_part(explainer, maps)
  rates = deletion_rates(context.model, context.params, part, scores, **options_of(context.config),
                         mesh=context.mesh)
  return {'rates': rates, 'indices': context.subset}


def summarise(saved: Mapping[str, np.ndarray]) -> dict:
  """{'mean', 'ci95', 'n'} of the deletion rates."""
  return metrics.mean_with_ci(saved['rates'])


def applies(explainer: str) -> bool:
  """Uniform scores rank tokens by position only: no deletion row."""
  return explainer != 'uniform'
