"""Evaluated runs read back: a finished workdir's config, encoded corpus, evaluation files and classifier, and
how several runs of one corpus are resampled together (the meta-evaluation, faithjax.meta, and the experiments'
seed-aware tables, experiments.evaluated_runs, read them)."""

import os
from typing import Callable

import numpy as np

from faithjax import FaithjaxError
from faithjax import config as config_lib
from faithjax import explain
from faithjax import io
from faithjax import pipeline
from faithjax import train
from faithjax import workdir as workdir_lib
from faithjax.faithfulness import evaluations
from faithjax.models import contract


def config_of(saved: dict) -> config_lib.RunConfig:
  """The RunConfig of a config read back from JSON (config_lib.from_saved: also one with the old ig_steps fields)."""
  return config_lib.from_saved(saved)


def per_example(spec: evaluations.Score, saved: dict, n: int) -> np.ndarray:
  """A score's per-example array (spec.per_example of an evaluation's saved arrays) over all n examples of the
  split it ran on: [n], NaN where it did not measure (its 'indices', if saved, say which it did)."""
  values = np.full(n, np.nan)
  values[saved['indices'] if 'indices' in saved else slice(None)] = saved[spec.per_example]
  return values


class EvaluatedRun:
  """What the seed-aware tables read of a finished run: its results, test labels and predictions, and the saved
  arrays of its evaluations. `Run` reads them from a workdir, `ArchivedRun` from a run's archive."""

  labels: np.ndarray  # [n_test]

  def saved(self, section: str, name: str) -> dict:
    raise NotImplementedError

  def has(self, section: str, name: str) -> bool:
    raise NotImplementedError

  def classifier_predictions(self) -> np.ndarray:
    raise NotImplementedError

  def results(self) -> dict:
    raise NotImplementedError

  def command(self) -> str | None:
    """The command line that produced the run: every reduction it ran under is one of its flags."""
    return self.results().get('provenance', {}).get('command')

  def units(self, spec: evaluations.Score, name: str) -> tuple[np.ndarray, ...]:
    """The evaluation's resampled arrays over the whole test split ([n_test] each; NaN where not measured)."""
    saved = self.saved(spec.section, name)
    if spec.units:
      return spec.units(saved)[0]
    return (per_example(spec, saved, len(self.labels)),)


class Run(EvaluatedRun):
  """One evaluated workdir: its config, corpus, and evaluation files."""

  def __init__(self, root: str):
    self.work = workdir_lib.Workdir(os.path.abspath(root))
    if not os.path.exists(self.work.path('config.json')):
      raise FaithjaxError(f'{root!r} is not a run (no config.json); pass workdirs whose evaluate stage has run')
    saved = io.read_json(self.work.path('config.json'))
    self.config = config_of(saved)
    self.corpus = pipeline.explained_corpus(self.config, self.work)  # the one its maps are aligned with
    self.test = self.corpus.splits['test']
    self.labels = self.test.labels

  def has(self, section: str, name: str) -> bool:
    return os.path.exists(self.work.evaluation(section, name))

  def saved(self, section: str, name: str) -> dict:
    return io.load_npz(self.work.evaluation(section, name))

  def results(self) -> dict:
    """run.py's results.json ({} for a workdir evaluated through the library, which writes none)."""
    path = self.work.path('results.json')
    return io.read_json(path) if os.path.exists(path) else {}

  def classifier(self) -> tuple[contract.TextClassifier | contract.Nnx | contract.Functions, contract.Params]:
    """(model, selected params) of the run's trained classifier."""
    return pipeline.load_classifier(self.config, self.work, self.corpus)

  def classifier_probs(self, split: str = 'test') -> np.ndarray:
    """The classifier's class probabilities on `split`: [n, classes]."""
    model, params = self.classifier()
    return train.predict_split(model, params, self.corpus.splits[split], self.config.eval_batch_size)

  def classifier_predictions(self, split: str = 'test') -> np.ndarray:
    """The classifier's predicted class on `split`: [n]."""
    return self.classifier_probs(split).argmax(-1)


def nanmean(values: np.ndarray) -> np.ndarray:
  """Mean over the last axis, skipping the examples an evaluation did not measure (NaN): [..., n] -> [...]."""
  return np.nanmean(values, -1)


def statistic_of(run: EvaluatedRun, spec: evaluations.Score, name: str) -> Callable[..., np.ndarray]:
  """What an evaluation's units are summarised by, vectorised over the last axis: F1 for the weak learner
  (spec.units), the mean over measured examples otherwise."""
  return spec.units(run.saved(spec.section, name))[1] if spec.units else nanmean


def design_of(runs: list) -> str:
  """metrics.DESIGNS' name for a corpus's seeds (EvaluatedRun each): 'crossed' when they scored the same test
  documents (the same labels in the same order: one data split, as every seed of a reproduction), else 'nested'."""
  return 'crossed' if all(np.array_equal(r.labels, runs[0].labels) for r in runs) else 'nested'


ARCHIVE_SEPARATOR = '/'  # archive keys: '<section>/<map>/<array>' beside 'labels' and 'predictions'


def write_archive(run: Run, path: str) -> None:
  """Writes what the seed-aware tables read of `run` to `path` (.npz, verified when read back) and its
  results.json beside it (`path` with .json), so tables over seeds need no workdir: seeds that ran on other
  machines or sessions are added to a table by their archives. (The meta-evaluation also reads the run's part,
  part_path(path): what it measured with the run's classifier and maps.)"""
  arrays = {'labels': run.labels, 'predictions': run.classifier_predictions()}
  for spec in evaluations.SCORES.values():
    for name in [*run.config.explainers, *explain.baseline_names()]:
      if spec.resampled and run.has(spec.section, name):
        arrays.update({ARCHIVE_SEPARATOR.join((spec.section, name, key)): value
                       for key, value in run.saved(spec.section, name).items()})
  # with its config also where the run has no results.json (a workdir evaluated through the library)
  io.write_json(archive_results_path(path), {'config': io.read_json(run.work.path('config.json')), **run.results()})
  io.save_npz(path, compress=True, **arrays)  # last: an archive whose .npz exists is whole


def archive_results_path(path: str) -> str:
  """Where an archive's results.json lies, beside the archive `path`."""
  return os.path.splitext(path)[0] + '.json'


def part_path(path: str) -> str:
  """Where the meta-evaluation's part of an archived run lies (faithjax.meta.parts), beside the archive `path`."""
  return os.path.splitext(path)[0] + '.meta.npz'


class ArchivedRun(EvaluatedRun):
  """A run read back from its archive (write_archive)."""

  def __init__(self, path: str):
    self.path = path
    arrays = io.load_npz(path)
    self._results = io.read_json(archive_results_path(path))
    self.config = config_of(self._results['config'])
    self.labels = arrays.pop('labels')
    self._predictions = arrays.pop('predictions')
    self._saved = {}
    for key, value in arrays.items():
      section, name, array = key.split(ARCHIVE_SEPARATOR)
      self._saved.setdefault((section, name), {})[array] = value

  def has(self, section: str, name: str) -> bool:
    return (section, name) in self._saved

  def saved(self, section: str, name: str) -> dict:
    return self._saved[section, name]

  def classifier_predictions(self) -> np.ndarray:
    return self._predictions

  def results(self) -> dict:
    return self._results


def read_run(path: str) -> EvaluatedRun:
  """The evaluated run at `path`: its archive (a path ending in .npz, write_archive's) or its workdir."""
  return ArchivedRun(path) if path.endswith('.npz') else Run(path)
