"""The built-in evaluations' stacked paths: each computed for N checkpoints at once (`--mode=reevaluate`).

Each path maps its evaluation's single-model function over the leading [N]
axis of the stacked parameters (parallel.over_checkpoints), one compiled
program per bucket for all N; its `loop` is the same evaluation one checkpoint
at a time with the single-model code, the reference the tests hold it to
(plugins.Stacked). Registered with their evaluations in evaluations.py.
"""

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from faithjax import batching
from faithjax import metrics
from faithjax import parallel
from faithjax import plugins
from faithjax.faithfulness import deletion
from faithjax.faithfulness import eraser
from faithjax.faithfulness import shuffle
from faithjax.faithfulness import weak_learner


def _over_batches(checkpoints: plugins.Checkpoints, params: Any, stacked_maps: np.ndarray, fn, *, batch_size: int,
                  label: str) -> Any:
  """fn(stacked params, ids [batch, width], rows [batch], scores [N, batch, width]) -> arrays [N, batch, ...]
  over every batch of checkpoints.split: arrays [N, len(split), ...]. Each batch is split over the mesh's
  devices; rows are the examples' indices in the whole split (checkpoints.rows)."""
  sharded = parallel.sharded(checkpoints.mesh, lambda params, ids, rows, *scores: fn(params, ids, rows,
                                                                                     jnp.stack(scores)),
                             batch_axis=1)
  def batch(indices: np.ndarray, ids: np.ndarray, *scores: np.ndarray) -> Any:
    """map_split's fn: indices <int>[batch], ids <int>[batch, width], scores [batch, width] each -> [batch, N, ...]."""
    out = sharded(params, ids, checkpoints.rows[indices], *scores)
    return jax.tree.map(lambda x: x.swapaxes(0, 1), out)  # map_split gathers along a leading example axis
  out = batching.map_split(batch, checkpoints.split, list(stacked_maps), batch_size=batch_size,
                           label=f'{label} x{len(stacked_maps)}')
  return jax.tree.map(lambda x: x.swapaxes(0, 1), out)


def _stack_runs(runs: list) -> Any:
  """Per-checkpoint outputs (pytrees of numpy arrays) stacked on a leading [N] axis."""
  return jax.tree.map(lambda *xs: np.stack(xs), *runs)


@functools.partial(jax.jit, static_argnames=('model', 'mode', 'chunk', 'slots', 'group'))
def _counts(model, stacked_params, ids, stacked_scores, *, absolute, mode, chunk, slots, group):
  """`deletion.first_flips` counts of N checkpoints on one pool: [N, pool]."""
  return parallel.over_checkpoints(lambda params, scores: deletion.first_flips(
      model, params, ids, scores, absolute=absolute, mode=mode, chunk=chunk, slots=slots)[0],
                                   (stacked_params, stacked_scores), group)


def deletion_rates(checkpoints: plugins.Checkpoints, stacked_maps: np.ndarray) -> dict:
  """`deletion.deletion_rates` of N stacked checkpoints, one program per pool: {'rates': [N, len(split)]}.

  stacked_maps: [N, len(split.ids)], checkpoint i's ragged map in row i.
  """
  options = dict(checkpoints.deletion)
  pool = options.pop('pool')
  counts = _over_batches(checkpoints, checkpoints.stacked, stacked_maps, lambda params, ids, rows, scores: _counts(
      checkpoints.model, params, ids, scores, group=checkpoints.group, **options), batch_size=pool,
                         label=f'deletion ({options["mode"]})')
  return {'rates': deletion.rates_from_counts(counts, checkpoints.split.lengths)}


def loop_deletion_rates(checkpoints: plugins.Checkpoints, stacked_maps: np.ndarray) -> dict:
  """`deletion_rates` one checkpoint at a time (deletion.deletion_rates)."""
  return {'rates': np.stack([deletion.deletion_rates(checkpoints.model, p, checkpoints.split, m,
                                                     **checkpoints.deletion)
                             for p, m in zip(checkpoints.params, stacked_maps)])}


@functools.partial(jax.jit, static_argnames=('model', 'mode', 'percents', 'group'))
def _eraser(model, stacked_params, ids, stacked_scores, *, absolute, mode, percents, group):
  """`eraser.eraser_scores` of N checkpoints on one batch: arrays with leading [N, batch] axes."""
  return parallel.over_checkpoints(lambda params, scores: eraser.eraser_scores(
      model, params, ids, scores, absolute=absolute, mode=mode, percents=percents),
                                   (stacked_params, stacked_scores), group)


def _percents(checkpoints: plugins.Checkpoints) -> tuple:
  """ERASER's bins: its options in `checkpoints` (the run's config), else its default."""
  return (checkpoints.options.get('eraser') or eraser.EraserOptions()).percents


def eraser_metrics(checkpoints: plugins.Checkpoints, stacked_maps: np.ndarray) -> dict:
  """`eraser.eraser_metrics` of N stacked checkpoints, one program per bucket: arrays [N, len(split), ...]."""
  mode, absolute = checkpoints.deletion['mode'], checkpoints.deletion['absolute']
  return _over_batches(checkpoints, checkpoints.stacked, stacked_maps, lambda params, ids, rows, scores: _eraser(
      checkpoints.model, params, ids, scores, absolute=absolute, mode=mode, percents=_percents(checkpoints),
      group=checkpoints.group),
                       batch_size=checkpoints.batch_size, label=f'eraser ({mode})')


def loop_eraser_metrics(checkpoints: plugins.Checkpoints, stacked_maps: np.ndarray) -> dict:
  """`eraser_metrics` one checkpoint at a time (eraser.eraser_metrics)."""
  return _stack_runs([eraser.eraser_metrics(checkpoints.model, p, checkpoints.split, m,
                                            absolute=checkpoints.deletion['absolute'],
                                            mode=checkpoints.deletion['mode'], percents=_percents(checkpoints),
                                            batch_size=checkpoints.batch_size)
                      for p, m in zip(checkpoints.params, stacked_maps)])


@functools.partial(jax.jit, static_argnames=('model', 'norm', 'group'))
def _probs(model, stacked_params, ids, stacked_scores, *, norm, group):
  """Class probabilities [N, batch, classes] of N stacked weak learners."""
  return parallel.over_checkpoints(lambda params, scores: weak_learner.predict_proba(model, params, ids, scores, norm),
                                   (stacked_params, stacked_scores), group)


def weak_learner_probs(checkpoints: plugins.Checkpoints, stacked_maps: np.ndarray) -> dict:
  """Test probabilities of each workdir's weak learner on its maps: {'probs': [N, len(split), classes]}."""
  weak = checkpoints.weak
  return {'probs': _over_batches(
      checkpoints, parallel.stack(checkpoints.weak_params), stacked_maps,
      lambda params, ids, rows, scores: _probs(weak['model'], params, ids, scores, norm=weak['norm'],
                                               group=checkpoints.group),
      batch_size=checkpoints.batch_size, label='weak learner')}


def loop_weak_learner_probs(checkpoints: plugins.Checkpoints, stacked_maps: np.ndarray) -> dict:
  """`weak_learner_probs` one checkpoint at a time (weak_learner.predict_split)."""
  weak = checkpoints.weak
  return {'probs': np.stack([weak_learner.predict_split(weak['model'], p, checkpoints.split, m, weak['norm'],
                                                        checkpoints.batch_size)
                             for p, m in zip(checkpoints.weak_params, stacked_maps)])}


def weak_learner_report(arrays: dict, checkpoints: plugins.Checkpoints) -> dict:
  """One checkpoint's weak-learner section: metrics.test_report of its probabilities."""
  return metrics.test_report(checkpoints.split.labels, arrays['probs'])


@functools.partial(jax.jit, static_argnames=('model', 'norm', 'permutations', 'group'))
def _tvds(model, stacked_params, ids, stacked_scores, rows, keys, *, norm, permutations, group):
  """Median TVDs [N, batch] of N stacked weak learners, each with its run's key."""
  return parallel.over_checkpoints(lambda params, scores, key: shuffle.median_tvds(
      model, params, ids, scores, rows, key, norm=norm, permutations=permutations),
                                   (stacked_params, stacked_scores, keys), group)


def shuffle_tvds(checkpoints: plugins.Checkpoints, stacked_maps: np.ndarray) -> dict:
  """Shuffle-test median TVDs of each workdir's weak learner, permuted with its run's seed:
  {'median_tvd': [N, len(split)]}."""
  weak = checkpoints.weak
  keys = jnp.stack([jax.random.key(seed) for seed in checkpoints.seeds])
  return {'median_tvd': _over_batches(
      checkpoints, (parallel.stack(checkpoints.weak_params), keys), stacked_maps,
      lambda params_and_keys, ids, rows, scores: _tvds(
          weak['model'], params_and_keys[0], ids, scores, rows, params_and_keys[1], norm=weak['norm'],
          permutations=weak['permutations'], group=checkpoints.group),
      batch_size=checkpoints.batch_size, label='shuffle test')}


def loop_shuffle_tvds(checkpoints: plugins.Checkpoints, stacked_maps: np.ndarray) -> dict:
  """`shuffle_tvds` one checkpoint at a time (shuffle.shuffle_test)."""
  weak = checkpoints.weak
  return {'median_tvd': np.stack([
      shuffle.shuffle_test(weak['model'], p, checkpoints.split, m, norm=weak['norm'],
                           permutations=weak['permutations'], seed=seed, rows=checkpoints.rows,
                           batch_size=checkpoints.batch_size)['median_tvd']
      for p, m, seed in zip(checkpoints.weak_params, stacked_maps, checkpoints.seeds)])}


def with_mean(array: str) -> Callable[[dict, plugins.Checkpoints], dict]:
  """A result: one checkpoint's per-example `array` and metrics.mean_with_ci of it (deletion, shuffle)."""
  return lambda arrays, checkpoints: {array: arrays[array], **metrics.mean_with_ci(arrays[array])}


def eraser_summary(arrays: dict, checkpoints: plugins.Checkpoints) -> dict:
  """One checkpoint's ERASER section: eraser.summarise's AOPCs and 'per_example', its arrays."""
  del checkpoints
  return {**eraser.summarise(arrays), 'per_example': arrays}


DELETION = plugins.Stacked(deletion_rates, loop_deletion_rates, with_mean('rates'))
ERASER = plugins.Stacked(eraser_metrics, loop_eraser_metrics, eraser_summary)
WEAK_LEARNER = plugins.Stacked(weak_learner_probs, loop_weak_learner_probs, weak_learner_report)
SHUFFLE = plugins.Stacked(shuffle_tvds, loop_shuffle_tvds, with_mean('median_tvd'))
