"""Normalised AOPC (Edin et al. 2025): each example's ERASER AOPC placed between its lower and upper bound.

An ordering of an example's n real tokens fixes, for each ERASER bin b, the top
k_b = ceil(b% * n) tokens (eraser.removal_counts). Its AOPC comprehensiveness is
the mean over bins of f_c(S_b) = p(x) - p(x without S_b), its AOPC sufficiency
the mean of f_s(S_b) = p(x) - p(S_b alone), with p the probability of the class
predicted on x and removal as in deletion.erase (same modes). Only the nested
chain S_1 <= S_2 <= ... of top sets matters, and every such chain comes from an
ordering, so the bounds over all n! orderings are the bounds over chains:

  exact_bounds: f on every subset of every bin size, then a dynamic programme
    over the subset lattice (best chain ending at S = its bins' weight * f(S)
    + the best chain ending at one of S's subsets of the previous bin size);
    sum_b C(n, k_b) subsets, so it is for short documents (`max_subsets`).
  beam_bounds: sets grown one token at a time, `width` per example and bound,
    all examples of a batch in one program. Every kept set comes from a real
    ordering, so the bound is never beyond the exact one; with a beam as wide
    as the largest C(n, s) it is the exact one (barring a collision of the
    64-bit set hashes, which would only drop a set and loosen the bound).

NAOPC = (AOPC - lower) / (upper - lower), in [0, 1] (NaN where the bounds meet,
e.g. one-token documents). The orientation is AOPC's: higher comprehensiveness
and lower sufficiency are more faithful.
"""

import dataclasses
import functools
import itertools
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from faithjax import faithfulness
from faithjax.data.text import PAD_ID
from faithjax.faithfulness import deletion
from faithjax.faithfulness import eraser
from faithjax.models import contract

KINDS = ('comprehensiveness', 'sufficiency')
MAX_SUBSETS = 2048  # exact enumeration up to 12-token documents at eraser.PERCENTS
BEAM_WIDTH = 8
WIDTH_STEP = 8  # the beam's token width is its longest document's, rounded up to this: few programs, little padding


@dataclasses.dataclass(frozen=True)
class Bounds:
  """Per-example bounds of AOPC comprehensiveness and sufficiency over token orderings, each <float>[batch].

  exact: <bool>[batch], whether enumeration (True) or the beam (False) gave the
  example's bounds; forwards: <int>[batch], the forward passes they cost.
  """
  comprehensiveness_lower: np.ndarray
  comprehensiveness_upper: np.ndarray
  sufficiency_lower: np.ndarray
  sufficiency_upper: np.ndarray
  exact: np.ndarray
  forwards: np.ndarray


def _label_probability(model, params, ids):
  """(projected inputs, mask, UNK inputs, the empty document's logits, label predicted on the full input [batch],
  its probability [batch])."""
  projected, mask = contract.inputs(model, params, ids), ids != PAD_ID
  empty = contract.empty_logits(model, params)
  probs = jax.nn.softmax(contract.removal_logits(model, params, projected, mask, empty), -1)
  label = jnp.argmax(probs, -1)
  p = jnp.take_along_axis(probs, label[:, None], -1)[:, 0]
  return projected, mask, deletion.unk_inputs(model, params), empty, label, p


def _drops(model, params, ids, removed, mode):
  """p(x) - p(x without each removed set) of the full-input label: removed <bool>[batch, probes, seq] -> same
  [batch, probes]."""
  projected, mask, unk_projection, empty, label, p = _label_probability(model, params, ids)
  probe_probs = jax.nn.softmax(deletion.probes(model, params, projected, mask, removed, mode, unk_projection, empty),
                               -1)
  return p[:, None] - jnp.take_along_axis(probe_probs, label[:, None, None], -1)[..., 0]


@faithfulness.jit(('model', 'mode'))
def set_values(model: contract.Model, params: contract.Params, ids: jax.Array, sets: jax.Array, *,
               mode: str = 'pad') -> tuple[jax.Array, jax.Array]:
  """(f_c, f_s) of sets of real tokens: ids [batch, seq], sets <bool>[batch, probes, seq] -> two [batch, probes]."""
  mask = (ids != PAD_ID)[:, None]
  comprehensiveness, sufficiency = jnp.split(
      _drops(model, params, ids, jnp.concatenate([sets & mask, ~sets & mask], 1), mode), 2, axis=1)
  return comprehensiveness, sufficiency


@functools.lru_cache(maxsize=64)
def subset_lattice(n: int, percents: tuple[int, ...] = eraser.PERCENTS) -> list[tuple]:
  """The subsets exact_bounds evaluates for n real tokens, level by level (one level per distinct bin size k).

  Returns [(k, weight, members <bool>[C(n, k), n], parents <int>[C(n, k), C(k, k')] into the previous
  level's subsets of size k', or None for the first level)].
  """
  counts = np.asarray(eraser.removal_counts(np.array([n]), percents))[0]
  levels, previous = [], None
  for k in sorted(set(counts.tolist())):
    combos = list(itertools.combinations(range(n), k))
    members = np.zeros((len(combos), n), bool)
    for row, combo in enumerate(combos):
      members[row, list(combo)] = True
    parents = None
    if previous is not None:
      index = {combo: row for row, combo in enumerate(previous)}
      parents = np.array([[index[sub] for sub in itertools.combinations(combo, len(previous[0]))] for combo in combos])
    levels.append((k, float(np.mean(counts == k)), members, parents))
    previous = combos
  return levels


def subset_count(n: int, percents: Sequence[int] = eraser.PERCENTS) -> int:
  """Subsets exact_bounds evaluates for an n-token document: sum of C(n, k) over the distinct bin sizes k."""
  return sum(math.comb(n, k) for k in set(np.asarray(eraser.removal_counts(np.array([n]), percents))[0].tolist()))


def _chain_extremes(values, lattice):
  """Best and worst chain value: values <float>[batch, subsets] in the lattice's row order -> (max, min) [batch]."""
  best = worst = None
  start = 0
  for _, weight, members, parents in lattice:
    level = weight * values[:, start:start + len(members)]
    start += len(members)
    best = level if parents is None else level + best[:, parents].max(-1)
    worst = level if parents is None else level + worst[:, parents].min(-1)
  return best.max(-1), worst.min(-1)


def exact_bounds(model: contract.Model, params: contract.Params, ids: np.ndarray, *, mode: str = 'pad',
                 percents: Sequence[int] = eraser.PERCENTS,
                 chunk: int = 256) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
  """Exact AOPC bounds of a batch of documents of one length n (ids <int>[batch, seq], real tokens first).

  The sum_b C(n, k_b) subsets are evaluated `chunk` at a time (one program).
  Returns ((comprehensiveness lower, upper), (sufficiency lower, upper)), each [batch] float64.
  """
  lengths = np.unique((np.asarray(ids) != PAD_ID).sum(-1))
  if len(lengths) != 1:
    raise ValueError(f'exact_bounds takes documents of one length, not {lengths.tolist()}')
  n = int(lengths[0])
  lattice = subset_lattice(n, tuple(percents))
  members = np.concatenate([level[2] for level in lattice])
  sets = np.zeros((-(-len(members) // chunk) * chunk, ids.shape[1]), bool)
  sets[:len(members), :n] = members
  values = [set_values(model, params, ids, np.broadcast_to(part, (len(ids),) + part.shape), mode=mode)
            for part in np.split(sets, len(sets) // chunk)]
  comprehensiveness, sufficiency = (np.concatenate([np.asarray(v[i], np.float64) for v in values], 1)[:, :len(members)]
                                    for i in (0, 1))
  return tuple(_chain_extremes(v, lattice)[::-1] for v in (comprehensiveness, sufficiency))


@faithfulness.jit(('model', 'mode', 'percents', 'width'))
def beam_bounds(model: contract.Model, params: contract.Params, ids: jax.Array, *, mode: str = 'pad',
                percents: tuple[int, ...] = eraser.PERCENTS,
                width: int = BEAM_WIDTH) -> tuple[tuple[jax.Array, jax.Array], tuple[jax.Array, jax.Array], jax.Array]:
  """Beam-search AOPC bounds for a batch (ids <int>[batch, seq]), every example at once.

  Four searches run side by side (comprehensiveness up and down, sufficiency up
  and down), each keeping `width` sets per example. A step adds one token to
  every kept set; a candidate ranks by its chain value so far plus, at a size
  that is no bin's, its own f (a look-ahead). Of candidates that are the same
  set (equal 64-bit hashes of their tokens) only the best stays. The search
  stops at the example's largest bin size. Returns ((comprehensiveness lower,
  upper), (sufficiency lower, upper), forwards), each [batch]; forwards counts
  the full input and every candidate set evaluated.
  """
  batch, seq = ids.shape
  mask = ids != PAD_ID
  counts = eraser.removal_counts(mask.sum(-1), percents)  # [batch, bins]
  sign = jnp.array([1., -1., 1., -1.])[:, None, None]  # per search: up or down
  sufficiency = jnp.array([False, False, True, True])[:, None, None, None]  # per search: keep the set, not remove
  hashes = jax.random.bits(jax.random.key(0), (2, seq), jnp.uint32)  # a token's two 32-bit hash parts

  def step(state: dict, size: jax.Array) -> tuple[dict, jax.Array]:
    sets, value, valid, hash_ = state['sets'], state['value'], state['valid'], state['hash']
    candidates = sets[..., None, :] | jnp.eye(seq, dtype=bool)  # [batch, 4, width, seq (added token), seq]
    fresh = valid[..., None] & mask[:, None, None] & ~sets  # [batch, 4, width, seq]
    removed = (candidates ^ sufficiency) & mask[:, None, None, None]
    f = _drops(model, params, ids, removed.reshape(batch, -1, seq), mode).reshape(fresh.shape)
    weight = (counts == size).mean(-1)[:, None, None, None]
    gained = value[..., None] + weight * sign * f
    rank = jnp.where(fresh, gained + (weight == 0) * sign * f, -jnp.inf).reshape(batch, 4, -1)
    keys = [(hash_[..., i, None] + hashes[i]).reshape(rank.shape) for i in (0, 1)]
    order = jnp.lexsort((-rank, keys[1], keys[0]), axis=-1)  # same set together, its best first
    in_order = [jnp.take_along_axis(k, order, -1) for k in keys]
    repeat = (in_order[0] == jnp.roll(in_order[0], 1, -1)) & (in_order[1] == jnp.roll(in_order[1], 1, -1))
    repeat = jnp.take_along_axis(repeat.at[..., 0].set(False), jnp.argsort(order, -1), -1)
    top, pick = jax.lax.top_k(jnp.where(repeat, -jnp.inf, rank), width)  # [batch, 4, width]
    take = lambda x: jnp.take_along_axis(x.reshape(rank.shape + x.shape[4:]),
                                         pick.reshape(pick.shape + (1,) * (x.ndim - 4)), 2)
    active = (size <= counts[:, -1])[:, None, None]
    chosen = {'sets': take(candidates), 'value': take(gained), 'valid': top > -jnp.inf,
              'hash': jnp.stack([take(k.reshape(fresh.shape)) for k in keys], -1)}
    state = jax.tree.map(lambda new, old: jnp.where(active.reshape(active.shape + (1,) * (new.ndim - 3)), new, old),
                         chosen, state)
    return state, (fresh.sum((1, 2, 3)) * active[:, 0, 0])

  # Per example, search and beam slot: the set, its chain value times the search's sign (every search maximises),
  # whether the slot holds a set, and the set's hash. The search starts from one empty set.
  valid = jnp.zeros((batch, 4, width), bool).at[:, :, 0].set(True)
  state = {'sets': jnp.zeros((batch, 4, width, seq), bool), 'value': jnp.zeros((batch, 4, width)), 'valid': valid,
           'hash': jnp.zeros((batch, 4, width, 2), jnp.uint32)}
  with jax.ensure_compile_time_eval():
    largest = int(eraser.removal_counts(jnp.array([seq]), percents)[0, -1])
  state, evaluated = jax.lax.scan(step, state, jnp.arange(1, largest + 1))
  extreme = sign[:, 0, 0] * jnp.where(state['valid'], state['value'], -jnp.inf).max(-1)  # [batch, 4]
  return (extreme[:, 1], extreme[:, 0]), (extreme[:, 3], extreme[:, 2]), 1 + evaluated.sum(0)


def search_width(lengths: ArrayLike) -> np.ndarray:
  """The token width beam_bounds runs documents of these lengths at (aopc_bounds): each rounded up to a multiple
  of WIDTH_STEP, at least one step."""
  return -(-np.maximum(np.asarray(lengths), 1) // WIDTH_STEP) * WIDTH_STEP


def _rows_padded(ids, rows, width):
  """ids[rows] cut to `width` tokens, padded to a power-of-two count by repeating the last row: a few program
  shapes per batch shape."""
  return ids[np.concatenate([rows, np.repeat(rows[-1:], (1 << (len(rows) - 1).bit_length()) - len(rows))]), :width]


def aopc_bounds(model: contract.Model, params: contract.Params, ids: ArrayLike, *, mode: str = 'pad',
                percents: Sequence[int] = eraser.PERCENTS, max_subsets: int = MAX_SUBSETS, width: int = BEAM_WIDTH,
                chunk: int = 256) -> Bounds:
  """Bounds of every example of a batch (ids <int>[batch, seq], real tokens first): exact_bounds for the
  documents with at most `max_subsets` subsets to evaluate (one call per length), beam_bounds for the rest.
  Each call's rows are padded to a power-of-two count, so batches of one shape share a few programs, and cut to
  their longest document (the beam's, rounded up to a multiple of WIDTH_STEP): the beam's memory grows with the
  square of the width and its time with the cube, so trailing padding would cost more than the documents."""
  ids = np.asarray(ids)
  n = (ids != PAD_ID).sum(-1)
  exact = np.array([subset_count(int(k), tuple(percents)) <= max_subsets for k in n])
  bounds = np.zeros((4, len(ids)))
  forwards = np.zeros(len(ids), np.int64)
  for length in np.unique(n[exact]):
    rows = np.flatnonzero(exact & (n == length))
    got = exact_bounds(model, params, _rows_padded(ids, rows, max(int(length), 1)), mode=mode, percents=percents,
                       chunk=chunk)
    bounds[:, rows] = np.reshape(got, (4, -1))[:, :len(rows)]
    forwards[rows] = 1 + 2 * subset_count(int(length), tuple(percents))
  if not exact.all():
    rows = np.flatnonzero(~exact)
    *beam, beam_forwards = beam_bounds(model, params, _rows_padded(ids, rows, search_width(n[rows].max())), mode=mode,
                                       percents=tuple(percents), width=width)
    bounds[:, rows] = np.reshape(np.asarray(beam, np.float64), (4, -1))[:, :len(rows)]
    forwards[rows] = np.asarray(beam_forwards)[:len(rows)]
  return Bounds(*bounds, exact=exact, forwards=forwards)


def normalise(aopc: ArrayLike, lower: ArrayLike, upper: ArrayLike, tolerance: float = 1e-6) -> np.ndarray:
  """(aopc - lower) / (upper - lower) per example, <float>[batch]; NaN where the bounds are within `tolerance`.

  A beam bound lies inside the exact one and the map's own ordering may beat
  it: the bounds are first widened to take in `aopc` (which an ordering
  reaches), so the result is in [0, 1].
  """
  aopc = np.asarray(aopc, np.float64)
  lower, upper = np.minimum(lower, aopc), np.maximum(upper, aopc)
  span = upper - lower
  return np.where(span > tolerance, (aopc - lower) / np.where(span > tolerance, span, 1.), np.nan)


def naopc_scores(model: contract.Model, params: contract.Params, ids: np.ndarray, scores: np.ndarray, *,
                 absolute: bool = False, mode: str = 'pad', percents: Sequence[int] = eraser.PERCENTS,
                 max_subsets: int = MAX_SUBSETS, width: int = BEAM_WIDTH) -> dict:
  """eraser.eraser_scores of a map beside its NAOPC: ids, scores [batch, seq].

  Returns {'aopc_comprehensiveness', 'aopc_sufficiency', 'naopc_comprehensiveness', 'naopc_sufficiency':
  [batch]; 'bounds': Bounds}. The bounds depend on the model and ids only: to normalise several maps, call
  aopc_bounds once and `normalise` each map's AOPC.
  """
  aopc = eraser.eraser_scores(model, params, ids, scores, absolute=absolute, mode=mode, percents=tuple(percents))
  bounds = aopc_bounds(model, params, ids, mode=mode, percents=percents, max_subsets=max_subsets, width=width)
  result = {'bounds': bounds}
  for kind in KINDS:
    result[f'aopc_{kind}'] = np.asarray(aopc[f'aopc_{kind}'], np.float64)
    result[f'naopc_{kind}'] = normalise(result[f'aopc_{kind}'], getattr(bounds, f'{kind}_lower'),
                                        getattr(bounds, f'{kind}_upper'))
  return result
