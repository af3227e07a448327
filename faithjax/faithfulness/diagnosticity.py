"""Diagnosticity (Chan et al. 2022): how often an evaluation prefers a feature map over a degraded copy of it.

Degradations of a map <float>[batch, seq] (PAD positions are left as they are):
  permuted      its values shuffled over the document's real tokens (seeded);
  noise_<level> plus Gaussian noise of standard deviation level * the map's
                root mean square over the document's real tokens;
  sign_flipped  its negation;
and `randomised_layers`, the model with its top modules re-initialised one
more at a time (cascading randomisation, Adebayo et al. 2018), on which a map
is recomputed by the caller.

An evaluation prefers the map in a pair (example, map) when its oriented score
(higher = more faithful) of the map beats that of the degraded copy; a tie
counts half. The share of such pairs has a percentile bootstrap CI over
examples: when several maps share the examples, one draw of examples serves
all of them (the design is crossed, and pairs of one example are not
independent); ties make a pair's outcome 0, 1/2 or 1, so a binomial interval
would not fit either.
"""

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from faithjax import metrics
from faithjax.models import contract

NOISE_LEVELS = (0.25, 1.0, 4.0)


def permuted(scores: jax.Array, mask: jax.Array, key: jax.Array) -> jax.Array:
  """scores [batch, seq] with each row's values on real tokens (mask <bool>[batch, seq]) in a random order."""
  shuffled = jnp.argsort(jnp.where(mask, jax.random.uniform(key, mask.shape), 2.), -1)  # real positions, shuffled
  positions = jnp.argsort(~mask, -1, stable=True)  # real positions, in order
  rows = jnp.arange(mask.shape[0])[:, None]
  moved = jnp.asarray(scores).at[rows, positions].set(jnp.take_along_axis(scores, shuffled, -1))
  return jnp.where(mask, moved, scores)


def noisy(scores: jax.Array, mask: jax.Array, key: jax.Array, level: float) -> jax.Array:
  """scores [batch, seq] plus N(0, (level * rms)^2) on real tokens, rms the row's root mean square over them."""
  rms = jnp.sqrt(jnp.sum(jnp.where(mask, scores, 0.) ** 2, -1) / jnp.maximum(mask.sum(-1), 1))
  return jnp.where(mask, scores + level * rms[:, None] * jax.random.normal(key, scores.shape), scores)


def degradations(scores: jax.Array, mask: jax.Array, key: jax.Array,
                 levels: Sequence[float] = NOISE_LEVELS) -> dict[str, jax.Array]:
  """{'permuted', 'noise_<level>' for each level, 'sign_flipped'}: degraded copies of scores [batch, seq]."""
  keys = jax.random.split(key, 1 + len(levels))
  return {'permuted': permuted(scores, mask, keys[0]),
          **{f'noise_{level:g}': noisy(scores, mask, k, level) for k, level in zip(keys[1:], levels)},
          'sign_flipped': jnp.where(mask, -scores, scores)}


def randomised_layers(model: contract.Model, params: contract.Params, key: jax.Array,
                      modules: Sequence[str]) -> list[contract.Params]:
  """Cascading randomisation: [params with modules[:1] re-initialised, with modules[:2], ...].

  modules: top-level names of the params pytree, from the output down (for
  the BiLSTM classifier: 'output', 'attention', 'recurrences_1', ...). The new
  values are contract.init(model, key)'s, the same for every step. A map
  recomputed on one of them is a degraded copy like the others: the
  evaluation still scores it on the trained model.
  """
  unknown = set(modules) - set(params)
  if unknown:
    raise ValueError(f'no top-level modules {sorted(unknown)} in the params; they have {sorted(params)}')
  fresh = contract.init(model, key)
  return [{name: fresh[name] if name in modules[:depth] else value for name, value in params.items()}
          for depth in range(1, len(modules) + 1)]


@dataclasses.dataclass(frozen=True)
class Diagnosticity:
  """Share of (example, map) pairs where an evaluation prefers the map over its degraded copy, ties half."""
  share: float
  ci95: tuple
  pairs: int
  examples: int


def preferences(original: ArrayLike, degraded: ArrayLike, orientation: float = 1.) -> np.ndarray:
  """1 where the evaluation prefers the original, 1/2 on a tie, 0 otherwise: two [..., examples] -> same.

  orientation: +1 where a higher score is more faithful, -1 where a lower one
  is (as evaluations.Score.orientation).
  """
  original, degraded = np.asarray(original, np.float64), np.asarray(degraded, np.float64)
  if np.isnan(original).any() or np.isnan(degraded).any():
    raise ValueError('diagnosticity needs a score for every pair; drop the examples with NaN first')
  margin = (original - degraded) * orientation
  return (margin > 0) + 0.5 * (margin == 0)


def diagnosticity(original: ArrayLike, degraded: ArrayLike, orientation: float = 1., n_resamples: int = 1000,
                  seed: int = 0) -> Diagnosticity:
  """Diagnosticity of one evaluation from its per-example scores of maps and of their degraded copies.

  original, degraded: [examples] (one map) or [maps, examples] (maps that
  share the examples), scored in `orientation` (see `preferences`). The CI
  resamples examples, each draw shared by the maps.
  """
  wins = preferences(original, degraded, orientation).reshape(-1, np.shape(original)[-1])
  per_example = wins.mean(0)
  return Diagnosticity(share=float(per_example.mean()), pairs=int(wins.size), examples=len(per_example),
                       ci95=metrics.bootstrap_ci(per_example, n_resamples=n_resamples, seed=seed))


@dataclasses.dataclass(frozen=True)
class Cost:
  """An evaluation's cost per example: model forward passes, and seconds as the caller measured them."""
  forwards_per_example: float
  seconds_per_example: float


def cost_of(forwards: ArrayLike, seconds: float) -> Cost:
  """Cost of one evaluation run: forwards <int>[examples], the passes each example needed; seconds, the run's."""
  forwards = np.asarray(forwards)
  return Cost(forwards_per_example=float(forwards.mean()), seconds_per_example=seconds / len(forwards))
