"""Re-evaluating many checkpoints of one classifier (seeds, sweeps) in one program each.

`reevaluate` restores N checkpoints of the same architecture, stacks their
parameters on a leading [N] axis (parallel.stack) and maps every explainer
over that axis (parallel.over_checkpoints: vmapped on an accelerator, scanned
on a CPU), then runs every registered evaluation's stacked path
(plugins.Evaluation.stacked, a plugins.Stacked; the built-ins' are in
faithfulness/stacked.py): the data is shared, so each length bucket is one
compiled program for all N models instead of N dispatches of a small one. With
`weak` options, the weak learners each workdir trained on each explainer's
maps (checkpoints/weak_<explainer>) reach the evaluations that train one
(`trains`: their test F1 and the shuffle test); their training, like the
classifiers', stays one run at a time. `loop_reevaluate` is the same
computation one checkpoint at a time, each path's `loop` (the single-model
code of the pipeline): the reference for tests and benchmarks.
Memory grows with the vmapped group: lower `batch_size` for many or large checkpoints.
"""

import dataclasses
import functools
import glob
import os
from typing import Any, Callable

import jax
import numpy as np

from faithjax import FaithjaxError
from faithjax import explain
from faithjax import io
from faithjax import parallel
from faithjax import plugins
from faithjax import train
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.faithfulness import evaluations  # registers the built-in evaluations
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


def checkpoint_dirs(specs: str | list[str]) -> list[str]:
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


def restore_all(dirs: list[str], model: Any) -> list:
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


def run_seed(checkpoint_dir: str) -> int:
  """The --seed of the run that made a checkpoint (its workdir's config.json, verified; 0 if there is none).

  The shuffle test drew its permutations from this seed, so re-evaluating it
  with the same seed must give the run's own TVDs.
  """
  path = workdir_of(checkpoint_dir).path('config.json')
  return int(io.load_json(path).get('seed', 0)) if os.path.lexists(path) else 0


def check_vocabulary(checkpoint_dir: str, corpus: encode.EncodedCorpus) -> None:
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


def _prepare(checkpoints: str | list[str], corpus: encode.EncodedCorpus, model: Any, split: str,
             subset: np.ndarray | None, batch_size: int, deletion_options: dict | None, weak: dict | None,
             evaluation_options: dict | None, mesh: Any = None, group: int | None = None) -> plugins.Checkpoints:
  """The checkpoints, restored and checked against the corpus's vocabulary, with the evaluated examples and the
  options every stacked path reads (plugins.Checkpoints, its weak_params left for each explainer)."""
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
  params = restore_all(dirs, model)
  return plugins.Checkpoints(
      dirs=tuple(dirs), model=model, params=tuple(params), stacked=parallel.stack(params),
      split=corpus.splits[split].subset(rows), rows=rows, seeds=tuple(run_seed(d) for d in dirs),
      batch_size=batch_size, deletion={**DELETION_DEFAULTS, **(deletion_options or {})},
      weak=None if weak is None else {**WEAK_DEFAULTS, **weak}, mesh=mesh,
      group=group or parallel.default_group(len(dirs)), options=dict(evaluation_options or {}))


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
  return jax.jit(lambda stacked, ids, mask, key: parallel.over_checkpoints(
      lambda params: explainer(params, ids, mask, key), (stacked,), group))


def missing_weak_learners(dirs: list[str], explainers: list[str] | dict) -> list[str]:
  """The weak-learner folders that checkpoint folders' workdirs lack for `explainers` (no evaluate stage)."""
  return [workdir_of(d).weak_ckpt(n) for d in dirs for n in explainers
          if not os.path.isdir(os.path.join(workdir_of(d).weak_ckpt(n), 'best'))]


def restore_weak(dirs: list[str], explainer: str, model: Any) -> list:
  """The selected weak-learner params of every checkpoint's workdir for one explainer."""
  missing = missing_weak_learners(dirs, [explainer])
  if missing:
    raise FaithjaxError(f'no {explainer} weak learner in {", ".join(missing)}; run the evaluate stage there '
                        'first, or re-evaluate without the weak learner')
  abstract = jax.eval_shape(lambda: weak_learner_model.init(model, jax.random.key(0)))
  return [train.restore_best(workdir_of(d).weak_ckpt(explainer), abstract, read_only=True) for d in dirs]


def stacked_evaluations(weak: bool) -> list[plugins.Evaluation]:
  """The registered evaluations re-evaluation computes: those with a stacked path (plugins.Stacked); those that
  train a model (`trains`) only when the workdirs' weak learners are re-evaluated too (`weak`)."""
  return [r for r in plugins.EVALUATIONS.values() if r.stacked and (weak or not r.trains)]


def _evaluate(checkpoints: plugins.Checkpoints, explainers: dict | list, maps_of: Callable,
              path: Callable[[plugins.Stacked], Callable]) -> list[dict]:
  """Every explainer's maps [N, len(split.ids)] (maps_of(name, options)) and every stacked evaluation that applies
  to it, through `path` (its stacked run or its loop); `_results` of them."""
  maps, arrays = {}, {}
  for name, options in _explainers(explainers).items():
    maps[name] = maps_of(name, options)
    on_maps = checkpoints if checkpoints.weak is None else dataclasses.replace(
        checkpoints, weak_params=tuple(restore_weak(checkpoints.dirs, name, checkpoints.weak['model'])))
    for record in stacked_evaluations(checkpoints.weak is not None):
      if record.applies(name):
        arrays.setdefault(record.name, {})[name] = path(record.stacked)(on_maps, maps[name])
  return _results(checkpoints, maps, arrays)


def _results(checkpoints: plugins.Checkpoints, maps: dict, arrays: dict) -> list[dict]:
  """Per checkpoint: its folder, maps {explainer: ragged scores} and, per evaluation, {explainer: its
  Stacked.result} (e.g. deletion {rates, mean, ci95, n}, eraser {AOPCs, per_example}, weak_learner
  metrics.test_report, shuffle {median_tvd, mean, ci95, n}): each section reads like the evaluate stage's summary."""
  results = []
  for i, folder in enumerate(checkpoints.dirs):
    result = {'checkpoint': folder, 'maps': {name: m[i] for name, m in maps.items()}}
    for evaluation, by_explainer in arrays.items():
      stacked = plugins.EVALUATIONS[evaluation].stacked
      result[evaluation] = {name: stacked.result(jax.tree.map(lambda x, i=i: x[i], a), checkpoints)
                            for name, a in by_explainer.items()}
    results.append(result)
  return results


def reevaluate(checkpoints: str | list[str], corpus: encode.EncodedCorpus, model: Any, explainers: dict | list, *,
               split: str = 'test', subset: np.ndarray | None = None, batch_size: int = 64,
               key: jax.Array | None = None, deletion_options: dict | None = None, weak: dict | None = None,
               evaluation_options: dict | None = None, mesh: Any = None, group: int | None = None) -> list[dict]:
  """Feature maps and evaluations of every checkpoint, all checkpoints in one program per bucket.

  checkpoints: see `checkpoint_dirs`; corpus: an EncodedCorpus; model: the
  Classifier all checkpoints were trained as; explainers: names, or {name:
  explainer options}; subset: indices into the split (default all); key: the
  PRNG key of the 'random' explainer; deletion_options: DELETION_DEFAULTS'
  keys; weak: None (the evaluations that train a model left out), or
  {'model': the WeakLearner, and WEAK_DEFAULTS' keys} to also run each
  workdir's weak learners and the shuffle test (with each run's own seed,
  `run_seed`); evaluation_options: {evaluation: its options instance}
  (RunConfig.evaluation; default: each one's defaults); mesh: every batch split over its devices (parallel.make_mesh;
  also across processes); group: checkpoints vmapped together, the groups
  scanned in the same program (default parallel.default_group: all on an
  accelerator, 1 on a CPU). Every registered evaluation with a stacked path
  (plugins.Stacked; `stacked_evaluations`) runs on every explainer it applies
  to. Returns one dict per checkpoint (see `_results`); maps [len(split.ids)]
  are aligned with corpus.splits[split].subset(subset).ids.
  """
  ckpts = _prepare(checkpoints, corpus, model, split, subset, batch_size, deletion_options, weak, evaluation_options,
                   mesh, group)
  def maps_of(name: str, options: dict) -> np.ndarray:
    """Explainer `name`'s maps on every checkpoint: [N, len(split.ids)]."""
    fn = parallel.sharded(mesh, _stacked_explainer(name, model, tuple(sorted(options.items())), ckpts.group),
                          batch_axis=1)
    return explain.explain_split(fn, ckpts.stacked, ckpts.split, batch_size, key,
                                 progress=f'{name} x{len(ckpts.dirs)}')
  return _evaluate(ckpts, explainers, maps_of, lambda stacked: stacked.run)


def loop_reevaluate(checkpoints: str | list[str], corpus: encode.EncodedCorpus, model: Any, explainers: dict | list,
                    *, split: str = 'test', subset: np.ndarray | None = None, batch_size: int = 64,
                    key: jax.Array | None = None, deletion_options: dict | None = None,
                    weak: dict | None = None, evaluation_options: dict | None = None) -> list[dict]:
  """`reevaluate`, one checkpoint at a time with the single-model code (each Stacked.loop): same arguments, same
  results (maps [len(split.ids)] per checkpoint)."""
  ckpts = _prepare(checkpoints, corpus, model, split, subset, batch_size, deletion_options, weak, evaluation_options)
  def maps_of(name: str, options: dict) -> np.ndarray:
    """Explainer `name`'s maps on every checkpoint: [N, len(split.ids)]."""
    fn = explain.make_explainer(name, model, **options)
    return np.stack([explain.explain_split(fn, p, ckpts.split, batch_size, key) for p in ckpts.params])
  return _evaluate(ckpts, explainers, maps_of, lambda stacked: stacked.loop)


def _per_example(value: Any) -> bool:
  """Whether a result entry holds per-example arrays (an array, or a dict of them: ERASER's 'per_example')."""
  return isinstance(value, np.ndarray) or (isinstance(value, dict) and any(map(_per_example, value.values())))


def summary(results: list[dict]) -> list[dict]:
  """`reevaluate`'s results without the per-example arrays: per checkpoint, every evaluation's summary (JSON)."""
  return [{'checkpoint': r['checkpoint'],
           **{section: {n: {k: v for k, v in d.items() if not _per_example(v)} for n, d in r[section].items()}
              for section in plugins.EVALUATIONS if section in r}}
          for r in results]
