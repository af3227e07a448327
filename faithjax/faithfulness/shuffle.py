"""Shuffle test (Table 5, Jain & Wallace 2019) on a trained weak learner.

Per example: y = the weak learner's class distribution under its (normalised)
feature map; permute the map over the REAL tokens, keeping every token
representation h_t, and recompute y_hat; TVD(y, y_hat) = 1/2 sum_i |y_i - y_hat_i|.
The score of an example is the median TVD over its permutations, and the split's
the mean over examples. Larger = the output depends more on where the map puts
its weight. A map that is constant over the real tokens scores exactly 0.
"""

from typing import TYPE_CHECKING, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from faithjax import batching
from faithjax import faithfulness
from faithjax import metrics
from faithjax import parallel
from faithjax.data import encode
from faithjax.data.text import PAD_ID
from faithjax.faithfulness.weak_learner import map_norm
from faithjax.faithfulness.weak_learner import normalise
from faithjax.models import weak_learner as wl

if TYPE_CHECKING:  # evaluations imports this module
  from faithjax.faithfulness import evaluations


def permute_real(key: jax.Array, weights: jax.Array, mask: jax.Array) -> jax.Array:
  """One random permutation of `weights` among the real tokens: [seq], <bool>[seq] -> [seq].

  Real tokens are reordered by a stable sort of 31 random bits drawn per
  position; PAD entries stay where they are. Under JAX's default
  partitionable threefry a position's bits do not depend on `seq`, so the
  bucket width an example is padded to does not change its permutations.
  """
  draws = jax.random.bits(key, weights.shape, jnp.uint32) >> 1
  source = jnp.argsort(jnp.where(mask, draws, jnp.uint32(1 << 31)), stable=True)  # real in random order, then PAD
  target = jnp.argsort(~mask, stable=True)  # real in order, then PAD
  return jnp.zeros_like(weights).at[target].set(weights[source])


@faithfulness.jit(('model', 'norm', 'permutations'))
def median_tvds(model: wl.WeakLearner, params: dict, ids: jax.Array, scores: jax.Array, rows: jax.Array,
                key: jax.Array, *, norm: str = 'l2', permutations: int = 100) -> jax.Array:
  """Median TVD over `permutations` shuffles of each example's map, all in one program.

  ids: <int>[batch, seq]; scores: the raw map [batch, seq]; rows: <int>[batch],
  each example's index in its split: its permutation keys are
  split(fold_in(key, row), permutations), so batching does not change them.
  Returns <float>[batch].
  """
  mask = ids != PAD_ID
  weights = normalise(scores, mask, norm)
  keys = jax.vmap(lambda row: jax.random.split(jax.random.fold_in(key, row), permutations))(rows)
  shuffled = jax.vmap(jax.vmap(permute_real, in_axes=(0, None, None)))(keys, weights, mask)
  # The unshuffled map rides along as probe 0, so a permutation that changes
  # nothing reproduces its probabilities bit for bit.
  probes = jnp.concatenate([weights[:, None], shuffled], axis=1)  # [batch, 1 + permutations, seq]
  states = wl.token_states(model, params, ids)
  logits = jax.vmap(lambda w: wl.logits_from_states(model, params, states, w), in_axes=1, out_axes=1)(probes)
  probs = jax.nn.softmax(logits, -1)
  return jnp.median(metrics.tvd(probs[:, :1], probs[:, 1:]), axis=-1)


def shuffle_test(model: wl.WeakLearner, params: dict, split: encode.EncodedSplit, scores: np.ndarray, *,
                 norm: str = 'l2', permutations: int = 100, seed: int = 0, rows: np.ndarray | None = None,
                 batch_size: int = 64, mesh: jax.sharding.Mesh | None = None) -> dict:
  """The shuffle test over an EncodedSplit; scores: ragged map aligned with split.ids.

  rows: each example's index for its permutation keys (default its position in
  split); pass the indices into the full split when `split` is a subset of it,
  so each example keeps the permutations it has in the whole split. With a
  `mesh`, each batch is split over its devices (same TVDs).

  Returns {'median_tvd': [len(split)]} and, over examples, metrics.mean_with_ci's
  'mean', 'ci95' (percentile bootstrap) and 'n'.
  """
  key = jax.random.key(seed)
  rows = np.arange(len(split)) if rows is None else np.asarray(rows)
  tvds_of = parallel.sharded(mesh, lambda params, ids, batch_scores, batch_rows, key: median_tvds(
      model, params, ids, batch_scores, batch_rows, key, norm=norm, permutations=permutations))
  def batch_tvds(indices: np.ndarray, ids: np.ndarray, batch_scores: np.ndarray) -> jax.Array:
    return tvds_of(params, ids, batch_scores, rows[indices], key)
  tvds = batching.map_split(batch_tvds, split, [scores], batch_size=batch_size, label='shuffle test')
  return {'median_tvd': tvds, **metrics.mean_with_ci(tvds)}


def evaluate(context: 'evaluations.Context', explainer: str,
             maps: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Median TVDs [len(test)] over the whole test split, on the weak learner trained on this map (evaluations.py)."""
  learnt = context.weak_learner(explainer, maps)
  config = context.config
  return {'median_tvd': shuffle_test(context.weak_model, learnt.params, context.corpus.splits['test'],
                                     learnt.maps['test'], norm=map_norm(config, explainer),
                                     permutations=config.permutations,
                                     seed=config.seed, mesh=context.mesh)['median_tvd']}


def summarise(saved: Mapping[str, np.ndarray]) -> dict:
  """{'mean', 'ci95', 'n'} of the median TVDs."""
  return metrics.mean_with_ci(saved['median_tvd'])


def applies(explainer: str) -> bool:
  del explainer
  return True
