"""Re-evaluating many checkpoints of one classifier (seeds, sweeps) in one program each.

`reevaluate` restores N checkpoints of the same architecture, stacks their
parameters on a leading [N] axis (parallel.stack) and vmaps every explainer and
deletion-until-flip over that axis: the data is shared, so each length bucket
is one compiled program for all N models instead of N dispatches of a small
one. `loop_reevaluate` is the same computation one checkpoint at a time, with
the single-model code of the pipeline: the reference for tests and benchmarks.
Memory grows with N: lower `batch_size` for many or large checkpoints.
"""

import functools
import glob
import os

import jax
import jax.numpy as jnp
import numpy as np

from faithjax import FaithjaxError
from faithjax import explain
from faithjax import faithfulness
from faithjax import metrics
from faithjax import parallel
from faithjax import pipeline
from faithjax import train
from faithjax.data import encode
from faithjax.faithfulness import deletion
from faithjax.models import classifier

DELETION_DEFAULTS = {'absolute': False, 'mode': 'pad', 'pool': 512, 'slots': 64, 'chunk': 8}


def _classifier_dir(path):
  """The classifier checkpoint folder of a workdir, or `path` itself if it is one; else None."""
  for candidate in (pipeline.Workdir(path).classifier_ckpt, path):
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
  abstract = jax.eval_shape(lambda: classifier.init(model, jax.random.key(0)))
  restored = []
  for path in dirs:
    try:
      restored.append(train.restore_best(path, abstract))
    except FaithjaxError as e:
      raise FaithjaxError(f'checkpoint {path} has another architecture or vocabulary than the model it is '
                          f'evaluated with (vocab_size={model.vocab_size}, emb_dim={model.emb_dim}, '
                          f'hidden={model.hidden}); re-evaluate only checkpoints trained on this corpus '
                          f'with these flags. ({e})') from e
  return restored


def _explainers(explainers):
  """{name: options} from such a dict or from a list of names (default options)."""
  return dict(explainers) if isinstance(explainers, dict) else {name: {} for name in explainers}


def check_vocabulary(checkpoint_dir, corpus):
  """Refuses a checkpoint whose workdir encoded its corpus with other ids (another seed or corpus).

  Equal shapes are not enough: two seeds' vocabularies can have one size and
  different orders, and the ids would then be silently scrambled.
  """
  encoded = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(checkpoint_dir))), 'corpus.npz')
  if os.path.exists(encoded) and encode.EncodedCorpus.load(encoded).vocab != corpus.vocab:
    raise FaithjaxError(f'checkpoint {checkpoint_dir} was trained on another vocabulary ({encoded}); '
                        're-evaluate it with the --corpus and --seed it was trained with')


def _prepare(checkpoints, corpus, model, split, subset, deletion_options):
  """(checkpoint folders, their params, the evaluated EncodedSplit, deletion options)."""
  unknown = set(deletion_options or {}) - set(DELETION_DEFAULTS)
  if unknown:
    raise FaithjaxError(f'deletion options are {sorted(DELETION_DEFAULTS)}; got {sorted(unknown)}')
  dirs = checkpoint_dirs(checkpoints)
  for folder in dirs:
    check_vocabulary(folder, corpus)
  data = corpus.splits[split] if subset is None else corpus.splits[split].subset(subset)
  return dirs, restore_all(dirs, model), data, {**DELETION_DEFAULTS, **(deletion_options or {})}


@functools.cache
def _stacked_explainer(name, model, options):
  """The explainer vmapped over stacked params, data shared; cached so repeated calls reuse the program."""
  return jax.jit(jax.vmap(explain.make_explainer(name, model, **dict(options)), in_axes=(0, None, None, None)))


@functools.partial(jax.jit, static_argnames=('model', 'mode', 'chunk', 'slots'))
def _stacked_counts(model, stacked_params, ids, stacked_scores, *, absolute, mode, chunk, slots):
  """`deletion.first_flips` counts of N checkpoints on one pool: [N, pool]."""
  return jax.vmap(lambda params, scores: deletion.first_flips(
      model, params, ids, scores, absolute=absolute, mode=mode, chunk=chunk, slots=slots)[0])(
          stacked_params, stacked_scores)


def stacked_deletion_rates(model, stacked_params, split, stacked_scores, *, absolute=False, mode='pad', pool=512,
                           slots=64, chunk=8):
  """`deletion.deletion_rates` of N stacked checkpoints, one program per pool: [N, len(split)].

  stacked_scores: [N, len(split.ids)], checkpoint i's ragged map in row i.
  """
  def pool_counts(rows, ids, *scores):
    del rows
    counts = _stacked_counts(model, stacked_params, ids, jnp.stack(scores), absolute=absolute, mode=mode,
                             chunk=chunk, slots=slots)
    return counts.T  # map_split gathers along a leading example axis
  counts = faithfulness.map_split(pool_counts, split, list(stacked_scores), batch_size=pool,
                                  label=f'deletion ({mode}) x{len(stacked_scores)}')
  return deletion.rates_from_counts(counts.T, split.lengths)


def _results(dirs, maps, rates):
  """Per checkpoint: its folder, maps {name: ragged scores} and deletion {name: rates, mean, ci95, n}."""
  return [{'checkpoint': path,
           'maps': {name: m[i] for name, m in maps.items()},
           'deletion': {name: {'rates': r[i], **metrics.mean_with_ci(r[i])} for name, r in rates.items()}}
          for i, path in enumerate(dirs)]


def reevaluate(checkpoints, corpus, model, explainers, *, split='test', subset=None, batch_size=64, key=None,
               deletion_options=None):
  """Feature maps and deletion rates of every checkpoint, all checkpoints vmapped together.

  checkpoints: see `checkpoint_dirs`; corpus: an EncodedCorpus; model: the
  Classifier all checkpoints were trained as; explainers: names, or {name:
  explainer options}; subset: indices into the split (default all); key: the
  PRNG key of the 'random' explainer; deletion_options: DELETION_DEFAULTS'
  keys. Returns one dict per checkpoint (see `_results`); maps are aligned
  with corpus.splits[split].subset(subset).ids.
  """
  dirs, all_params, data, options = _prepare(checkpoints, corpus, model, split, subset, deletion_options)
  stacked = parallel.stack(all_params)
  maps, rates = {}, {}
  for name, explainer_options in _explainers(explainers).items():
    fn = _stacked_explainer(name, model, tuple(sorted(explainer_options.items())))
    maps[name] = explain.explain_split(fn, stacked, data, batch_size, key, progress=f'{name} x{len(dirs)}')
    rates[name] = stacked_deletion_rates(model, stacked, data, maps[name], **options)
  return _results(dirs, maps, rates)


def loop_reevaluate(checkpoints, corpus, model, explainers, *, split='test', subset=None, batch_size=64, key=None,
                    deletion_options=None):
  """`reevaluate`, one checkpoint at a time with the single-model code: same arguments, same results."""
  dirs, all_params, data, options = _prepare(checkpoints, corpus, model, split, subset, deletion_options)
  maps, rates = {}, {}
  for name, explainer_options in _explainers(explainers).items():
    fn = explain.make_explainer(name, model, **explainer_options)
    maps[name] = np.stack([explain.explain_split(fn, p, data, batch_size, key) for p in all_params])
    rates[name] = np.stack([deletion.deletion_rates(model, p, data, m, **options)
                            for p, m in zip(all_params, maps[name])])
  return _results(dirs, maps, rates)
