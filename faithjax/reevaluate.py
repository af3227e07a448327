"""Re-evaluating many checkpoints of one classifier (seeds, sweeps) in one program each.

`reevaluate` restores N checkpoints of the same architecture, stacks their
parameters on a leading [N] axis (parallel.stack) and maps every explainer and
deletion-until-flip over that axis (`over_checkpoints`: vmapped on an
accelerator, scanned on a CPU): the data is shared, so each length bucket is
one compiled program for all N models instead of N dispatches of a small one. With `weak` options, the weak learners each workdir trained on each explainer's
maps (checkpoints/weak_<explainer>) are stacked too: their test F1 and the
shuffle test then run for all N in one program per bucket as well (ERASER
always does), so every evaluation of N runs is re-evaluated together (the weak learners' training,
like the classifiers', stays one run at a time). `loop_reevaluate` is the same
computation one checkpoint at a time, with the single-model code of the
pipeline: the reference for tests and benchmarks.
Memory grows with the vmapped group: lower `batch_size` for many or large checkpoints.
"""

import functools
import glob
import os

import jax
import jax.numpy as jnp
import numpy as np

from faithjax import batching
from faithjax import FaithjaxError
from faithjax import explain
from faithjax import io
from faithjax import metrics
from faithjax import parallel
from faithjax import plugins
from faithjax import train
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.faithfulness import deletion
from faithjax.faithfulness import eraser
from faithjax.faithfulness import evaluations
from faithjax.faithfulness import shuffle
from faithjax.faithfulness import weak_learner
from faithjax.models import contract
from faithjax.models import weak_learner as weak_learner_model

# The mode is RunConfig's default: 'pad' deletion under the fixed pad rule (deletion.options_of).
DELETION_DEFAULTS = {'absolute': False, 'mode': 'pad_fixed', 'pool': 512, 'slots': 64, 'chunk': 8}
WEAK_DEFAULTS = {'norm': 'l2', 'permutations': 100}


def _classifier_dir(path):
  """The classifier checkpoint folder of a workdir, or `path` itself if it is one; else None."""
  for candidate in (workdir_lib.Workdir(path).classifier_ckpt, path):
    if os.path.isdir(os.path.join(candidate, 'best')):
      return candidate
  return None


def checkpoint_dirs(specs):
  """Classifier checkpoint folders from workdirs, checkpoint folders or globs of them.

  specs: a string or a list of strings. A folder that is neither stands for the
  workdirs directly inside it (e.g. runs/ holding runs/seed0, runs/seed1).
  """
  specs = [specs] if isinstance(specs, str) else list(specs)
  found = []
  for spec in specs:
    matches = sorted(glob.glob(os.path.expanduser(spec)))
    if not matches:
      raise FaithjaxError(f'no file or folder matches --checkpoints={spec!r}')
    for path in matches:
      inside = [path] if _classifier_dir(path) else sorted(glob.glob(os.path.join(path, '*')))
      found += [d for d in map(_classifier_dir, inside) if d]
  if not found:
    raise FaithjaxError(f'no classifier checkpoint (a workdir with checkpoints/classifier/best) in {specs}; '
                        'train one with `python run.py --stages=train`')
  return list(dict.fromkeys(found))


def restore_all(dirs, model):
  """The selected parameters of every checkpoint folder, checked against `model`'s shapes."""
  abstract = jax.eval_shape(lambda: contract.init(model, jax.random.key(0)))
  restored = []
  for path in dirs:
    try:
      restored.append(train.restore_best(path, abstract, read_only=True))
    except io.CorruptArtefact:
      raise  # damaged, not mismatched: its own message says what to delete
    except FaithjaxError as e:
      raise FaithjaxError(f'checkpoint {path} has another architecture than the {contract.name(model)} it is '
                          'evaluated with; pass the model flags it was trained with') from e
  return restored


def _explainers(explainers):
  """{name: options} from such a dict or from a list of names (default options)."""
  return dict(explainers) if isinstance(explainers, dict) else {name: {} for name in explainers}


def workdir_of(checkpoint_dir: str) -> workdir_lib.Workdir:
  """The workdir.Workdir a classifier checkpoint folder (<workdir>/checkpoints/classifier) belongs to."""
  return workdir_lib.Workdir(os.path.dirname(os.path.dirname(os.path.abspath(checkpoint_dir))))


def run_seed(checkpoint_dir):
  """The --seed of the run that made a checkpoint (its workdir's config.json, verified; 0 if there is none).

  The shuffle test drew its permutations from this seed, so re-evaluating it
  with the same seed must give the run's own TVDs.
  """
  path = workdir_of(checkpoint_dir).path('config.json')
  return int(io.load_json(path).get('seed', 0)) if os.path.lexists(path) else 0


def check_vocabulary(checkpoint_dir, corpus):
  """Refuses a checkpoint unless its vocabulary is verified to be `corpus`'s (another seed or corpus would give
  other ids): from the record saved with it (train.VOCABULARY), or, for a folder saved before such records, from
  the corpus.npz of the workdir it was trained in.

  Equal shapes are not enough: two seeds' vocabularies can have one size and
  different orders, and the ids would then be silently scrambled.
  """
  record, encoded = os.path.join(checkpoint_dir, train.VOCABULARY), workdir_of(checkpoint_dir).corpus
  if os.path.lexists(record):
    saved, source = io.load_json(record)['vocab_sha256'], record
  elif os.path.lexists(encoded):
    saved, source = encode.EncodedCorpus.load(encoded).vocab_sha256(), encoded
  else:
    raise FaithjaxError(f'checkpoint {checkpoint_dir} records no vocabulary ({train.VOCABULARY}: a folder saved '
                        'before faithjax recorded it) and no corpus.npz of its workdir lies beside it, so its token '
                        'ids cannot be checked; pass the workdir it was trained in to --checkpoints')
  if saved != corpus.vocab_sha256():
    raise FaithjaxError(f'checkpoint {checkpoint_dir} was trained on another vocabulary ({source}); '
                        're-evaluate it with the --corpus and --split_seed it was trained with')


def _prepare(checkpoints, corpus, model, split, subset, deletion_options, weak):
  """(checkpoint folders, their params, the evaluated EncodedSplit, its rows in the split, deletion options,
  weak options)."""
  unknown = set(deletion_options or {}) - set(DELETION_DEFAULTS)
  if unknown:
    raise FaithjaxError(f'deletion options are {sorted(DELETION_DEFAULTS)}; got {sorted(unknown)}')
  unknown = set(weak or {}) - set(WEAK_DEFAULTS) - {'model'}
  if weak is not None and (unknown or not isinstance(weak.get('model'), weak_learner_model.WeakLearner)):
    raise FaithjaxError(f'weak options are a WeakLearner "model" and {sorted(WEAK_DEFAULTS)}; got {sorted(weak)}')
  dirs = checkpoint_dirs(checkpoints)
  for folder in dirs:
    check_vocabulary(folder, corpus)
  rows = np.arange(len(corpus.splits[split])) if subset is None else np.asarray(subset)
  weak = None if weak is None else {**WEAK_DEFAULTS, **weak}
  return (dirs, restore_all(dirs, model), corpus.splits[split].subset(rows), rows,
          {**DELETION_DEFAULTS, **(deletion_options or {})}, weak)


def default_group(count):
  """Checkpoints vmapped together: all of them on an accelerator, one at a time (scanned) on a CPU.

  On a CPU, vmapping over checkpoints turns every matmul into a batched one
  and every embedding lookup into a batched gather, which XLA:CPU runs 2-3x
  slower than the same work as N plain kernels (experiments/results/
  bench_checkpoints.md); a scan keeps the plain kernels and still runs all N
  in one program. An accelerator is underfilled by one checkpoint's batch, so
  there one N-times-larger vmapped program is the point. (The CI crashes once
  blamed on this scan were the test process passing vm.max_map_count:
  BUILD_NOTES, issue 18 session 5.)
  """
  return 1 if jax.default_backend() == 'cpu' else count


def over_checkpoints(fn, stacked, group):
  """fn over the leading [N] axis of every leaf of `stacked`: all N vmapped, or `group` at a time vmapped and the
  groups scanned."""
  count = jax.tree.leaves(stacked)[0].shape[0]
  if group >= count:
    return jax.vmap(lambda xs: fn(*xs))(stacked)
  return jax.lax.map(lambda xs: fn(*xs), stacked, batch_size=None if group == 1 else group)


@functools.cache
def _stacked_explainer(name, model, options, group):
  """The explainer over N stacked params (`over_checkpoints`), data shared; cached so repeated calls reuse the
  program. Returns fn(stacked params, ids, mask, key) -> [N, batch, seq].

  IG's path batch is `group` times larger under vmap: its token budget per
  model is divided by `group`, so N checkpoints need the memory of one.
  """
  options = dict(options)
  if 'path_tokens' in explain.options_of(name):
    options.setdefault('path_tokens', max(1, explain.MAX_PATH_TOKENS // group))
  explainer = explain.make_explainer(name, model, **options)
  return jax.jit(lambda stacked, ids, mask, key: over_checkpoints(
      lambda params: explainer(params, ids, mask, key), (stacked,), group))


@functools.partial(jax.jit, static_argnames=('model', 'mode', 'chunk', 'slots', 'group'))
def _stacked_counts(model, stacked_params, ids, stacked_scores, *, absolute, mode, chunk, slots, group):
  """`deletion.first_flips` counts of N checkpoints on one pool: [N, pool]."""
  return over_checkpoints(lambda params, scores: deletion.first_flips(
      model, params, ids, scores, absolute=absolute, mode=mode, chunk=chunk, slots=slots)[0],
                          (stacked_params, stacked_scores), group)


def stacked_deletion_rates(model, stacked_params, split, stacked_scores, *, absolute=False, mode='pad', pool=512,
                           slots=64, chunk=8, mesh=None, group=None):
  """`deletion.deletion_rates` of N stacked checkpoints, one program per pool: [N, len(split)].

  stacked_scores: [N, len(split.ids)], checkpoint i's ragged map in row i.
  With a `mesh`, each pool is split over its devices; group: checkpoints
  vmapped together (default `default_group`).
  """
  group = group or default_group(len(stacked_scores))
  counts_of = parallel.sharded(mesh, lambda params, ids, *scores: _stacked_counts(
      model, params, ids, jnp.stack(scores), absolute=absolute, mode=mode, chunk=chunk, slots=slots, group=group),
                               batch_axis=1)
  def pool_counts(rows, ids, *scores):
    del rows
    return counts_of(stacked_params, ids, *scores).T  # map_split gathers along a leading example axis
  counts = batching.map_split(pool_counts, split, list(stacked_scores), batch_size=pool,
                                  label=f'deletion ({mode}) x{len(stacked_scores)}')
  return deletion.rates_from_counts(counts.T, split.lengths)


@functools.partial(jax.jit, static_argnames=('model', 'mode', 'group'))
def _stacked_eraser(model, stacked_params, ids, stacked_scores, *, absolute, mode, group):
  """`eraser.eraser_scores` of N checkpoints on one batch: arrays with leading [N, batch] axes."""
  return over_checkpoints(lambda params, scores: eraser.eraser_scores(model, params, ids, scores, absolute=absolute,
                                                                      mode=mode), (stacked_params, stacked_scores), group)


def stacked_eraser_metrics(model, stacked_params, split, stacked_scores, *, absolute=False, mode='pad',
                           batch_size=64, mesh=None, group=None):
  """`eraser.eraser_metrics` of N stacked checkpoints, one program per bucket: arrays [N, len(split), ...].

  mesh: each batch split over its devices; group: checkpoints vmapped together (default `default_group`).
  """
  group = group or default_group(len(stacked_scores))
  erase = parallel.sharded(mesh, lambda params, ids, *scores: _stacked_eraser(
      model, params, ids, jnp.stack(scores), absolute=absolute, mode=mode, group=group), batch_axis=1)
  def batch(rows, ids, *scores):
    del rows
    out = erase(stacked_params, ids, *scores)
    return jax.tree.map(lambda x: x.swapaxes(0, 1), out)  # map_split gathers along a leading example axis
  out = batching.map_split(batch, split, list(stacked_scores), batch_size=batch_size,
                           label=f'eraser ({mode}) x{len(stacked_scores)}')
  return jax.tree.map(lambda x: x.swapaxes(0, 1), out)


@functools.partial(jax.jit, static_argnames=('model', 'norm', 'permutations', 'group'))
def _stacked_weak(model, stacked_params, ids, stacked_scores, rows, keys, *, norm, permutations, group):
  """Class probabilities [N, batch, classes] and median TVDs [N, batch] of N stacked weak learners."""
  def one(params, scores, key):
    return (weak_learner.predict_proba(model, params, ids, scores, norm),
            shuffle.median_tvds(model, params, ids, scores, rows, key, norm=norm, permutations=permutations))
  return over_checkpoints(one, (stacked_params, stacked_scores, keys), group)


def stacked_weak_evaluation(model, stacked_params, split, stacked_scores, keys, *, rows=None, norm='l2',
                            permutations=100, batch_size=64, mesh=None, group=None):
  """Weak-learner test probabilities and shuffle-test median TVDs of N stacked weak learners.

  stacked_scores: [N, len(split.ids)], weak learner i's ragged map in row i;
  keys: [N] shuffle keys (run i's jax.random.key(seed)); rows: each example's
  index for its permutation keys (`shuffle.shuffle_test`'s `rows`; default its
  position in split); mesh: each batch split over its devices; group:
  checkpoints vmapped together (default `default_group`). Returns
  (probs [N, len(split), classes], tvds [N, len(split)]).
  """
  rows = np.arange(len(split)) if rows is None else np.asarray(rows)
  group = group or default_group(len(stacked_scores))
  evaluate = parallel.sharded(mesh, lambda params_and_keys, ids, batch_rows, *scores: _stacked_weak(
      model, params_and_keys[0], ids, jnp.stack(scores), batch_rows, params_and_keys[1], norm=norm,
      permutations=permutations, group=group), batch_axis=1)
  def batch(indices, ids, *scores):
    probs, tvds = evaluate((stacked_params, keys), ids, rows[indices], *scores)
    return probs.swapaxes(0, 1), tvds.T  # map_split gathers along a leading example axis
  probs, tvds = batching.map_split(batch, split, list(stacked_scores), batch_size=batch_size,
                                   label=f'weak learner + shuffle x{len(stacked_scores)}')
  return probs.swapaxes(0, 1), tvds.T


def missing_weak_learners(dirs, explainers):
  """The weak-learner folders that checkpoint folders' workdirs lack for `explainers` (no evaluate stage)."""
  return [workdir_of(d).weak_ckpt(n) for d in dirs for n in explainers
          if not os.path.isdir(os.path.join(workdir_of(d).weak_ckpt(n), 'best'))]


def restore_weak(dirs, explainer, model):
  """The selected weak-learner params of every checkpoint's workdir for one explainer."""
  missing = missing_weak_learners(dirs, [explainer])
  if missing:
    raise FaithjaxError(f'no {explainer} weak learner in {", ".join(missing)}; run the evaluate stage there '
                        'first, or re-evaluate without the weak learner')
  abstract = jax.eval_shape(lambda: weak_learner_model.init(model, jax.random.key(0)))
  return [train.restore_best(workdir_of(d).weak_ckpt(explainer), abstract, read_only=True) for d in dirs]


def _results(dirs, data, maps, rates, erased, weak):
  """Per checkpoint: its folder, maps {name: ragged scores}, deletion {name: rates, mean, ci95, n}, eraser
  {name: eraser.summarise's AOPCs and 'per_example': eraser_metrics' arrays} and, with weak learners,
  weak_learner {name: metrics.test_report} and shuffle {name: median_tvd, mean, ci95, n}. Each section reads
  like the evaluate stage's summary (evaluations.Score.cell)."""
  results = []
  for i, path in enumerate(dirs):
    per_example = {name: {k: v[i] for k, v in e.items()} for name, e in erased.items()}
    result = {'checkpoint': path, 'maps': {name: m[i] for name, m in maps.items()},
              'deletion': {name: {'rates': r[i], **metrics.mean_with_ci(r[i])} for name, r in rates.items()},
              'eraser': {name: {**eraser.summarise(e), 'per_example': e} for name, e in per_example.items()}}
    if weak:
      result['weak_learner'] = {name: metrics.test_report(data.labels, probs[i]) for name, (probs, _) in weak.items()}
      result['shuffle'] = {name: {'median_tvd': tvds[i], **metrics.mean_with_ci(tvds[i])}
                           for name, (_, tvds) in weak.items()}
    results.append(result)
  return results


def reevaluate(checkpoints, corpus, model, explainers, *, split='test', subset=None, batch_size=64, key=None,
               deletion_options=None, weak=None, mesh=None, group=None):
  """Feature maps and evaluations of every checkpoint, all checkpoints in one program per bucket.

  checkpoints: see `checkpoint_dirs`; corpus: an EncodedCorpus; model: the
  Classifier all checkpoints were trained as; explainers: names, or {name:
  explainer options}; subset: indices into the split (default all); key: the
  PRNG key of the 'random' explainer; deletion_options: DELETION_DEFAULTS'
  keys; weak: None (deletion only), or {'model': the WeakLearner, and
  WEAK_DEFAULTS' keys} to also run each workdir's weak learners and the
  shuffle test (with each run's own seed, `run_seed`); mesh: every batch split
  over its devices (parallel.make_mesh; also across processes); group:
  checkpoints vmapped together, the groups scanned in the same program
  (default `default_group`: all on an accelerator, 1 on a CPU). Returns one dict per
  checkpoint (see `_results`); maps are aligned with
  corpus.splits[split].subset(subset).ids.
  """
  dirs, all_params, data, rows, options, weak = _prepare(checkpoints, corpus, model, split, subset,
                                                         deletion_options, weak)
  stacked = parallel.stack(all_params)
  group = group or default_group(len(dirs))
  shuffle_keys = jnp.stack([jax.random.key(run_seed(d)) for d in dirs])
  maps, rates, erased, weak_results = {}, {}, {}, {}
  for name, explainer_options in _explainers(explainers).items():
    fn = parallel.sharded(mesh, _stacked_explainer(name, model, tuple(sorted(explainer_options.items())), group),
                          batch_axis=1)
    maps[name] = explain.explain_split(fn, stacked, data, batch_size, key, progress=f'{name} x{len(dirs)}')
    rates[name] = stacked_deletion_rates(model, stacked, data, maps[name], mesh=mesh, group=group, **options)
    erased[name] = stacked_eraser_metrics(model, stacked, data, maps[name], absolute=options['absolute'],
                                          mode=options['mode'], batch_size=batch_size, mesh=mesh, group=group)
    if weak:
      weak_results[name] = stacked_weak_evaluation(
          weak['model'], parallel.stack(restore_weak(dirs, name, weak['model'])), data, maps[name],
          shuffle_keys, rows=rows, norm=weak['norm'], permutations=weak['permutations'], batch_size=batch_size,
          mesh=mesh, group=group)
  return _results(dirs, data, maps, rates, erased, weak_results)


def loop_reevaluate(checkpoints, corpus, model, explainers, *, split='test', subset=None, batch_size=64, key=None,
                    deletion_options=None, weak=None):
  """`reevaluate`, one checkpoint at a time with the single-model code: same arguments, same results."""
  dirs, all_params, data, rows, options, weak = _prepare(checkpoints, corpus, model, split, subset,
                                                         deletion_options, weak)
  maps, rates, erased, weak_results = {}, {}, {}, {}
  for name, explainer_options in _explainers(explainers).items():
    fn = explain.make_explainer(name, model, **explainer_options)
    maps[name] = np.stack([explain.explain_split(fn, p, data, batch_size, key) for p in all_params])
    rates[name] = np.stack([deletion.deletion_rates(model, p, data, m, **options)
                            for p, m in zip(all_params, maps[name])])
    erased[name] = jax.tree.map(lambda *runs: np.stack(runs), *[
        eraser.eraser_metrics(model, p, data, m, absolute=options['absolute'], mode=options['mode'],
                              batch_size=batch_size) for p, m in zip(all_params, maps[name])])
    if weak:
      runs = list(zip(dirs, restore_weak(dirs, name, weak['model']), maps[name]))
      weak_results[name] = (
          np.stack([weak_learner.predict_split(weak['model'], p, data, m, weak['norm'], batch_size)
                    for _, p, m in runs]),
          np.stack([shuffle.shuffle_test(weak['model'], p, data, m, norm=weak['norm'],
                                         permutations=weak['permutations'], seed=run_seed(d), rows=rows,
                                         batch_size=batch_size)['median_tvd'] for d, p, m in runs]))
  return _results(dirs, data, maps, rates, erased, weak_results)


def summary(results):
  """`reevaluate`'s results without the per-example arrays: per checkpoint, every evaluation's summary (JSON)."""
  per_example = ('rates', 'median_tvd', 'per_example')
  return [{'checkpoint': r['checkpoint'],
           **{section: {n: {k: v for k, v in d.items() if k not in per_example} for n, d in r[section].items()}
              for section in plugins.EVALUATIONS if section in r}}
          for r in results]
