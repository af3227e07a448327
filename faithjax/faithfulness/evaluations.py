"""The evaluation registry: every faithfulness evaluation, computed, summarised and compared in one way.

Two tables:
- `MODULES`: what the evaluate stage runs, by section name. A module (or any
  object) with `evaluate(context, explainer, maps) -> {name: array}` (per-example
  arrays, stored as evaluations/<section>_<explainer>.npz), `summarise(saved)
  -> the stage summary's entry` (means with bootstrap CIs) and
  `applies(explainer) -> bool`.
- `EVALUATIONS`: the scores tables, rankings, the agreement study and
  re-evaluation compare explainers by: each reads one number (with its CI) from
  a section's summary entry, and says which direction is more faithful.

`register` adds both from anywhere (README "Add your own evaluation").
"""

import dataclasses
from typing import Any, Callable

import numpy as np

from faithjax import metrics
from faithjax.faithfulness import deletion
from faithjax.faithfulness import eraser
from faithjax.faithfulness import shuffle
from faithjax.faithfulness import weak_learner


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """One score per explainer, read from the evaluate stage's summary."""
  label: str  # for tables and figures
  orientation: float  # +1: higher = more faithful; -1: lower = more faithful
  section: str  # the MODULES entry (and summary section) it comes from
  statistic: str | None = None  # its key in the section's entry; None: the entry itself is {'mean', 'ci95'}
  per_example: str | None = None  # the per-example array of evaluations/<section>_<explainer>.npz, if any
  # saved npz -> (per-example arrays, statistic over their last axis) for a statistic that is not a mean of
  # `per_example` (the weak learner's F1); what a paired bootstrap resamples.
  units: Callable | None = None

  def cell(self, evaluated, explainer):
    """{'mean', 'ci95' (or None)} of `explainer` in an evaluate summary; None if not measured."""
    entry = evaluated.get(self.section, {}).get(explainer)
    if entry is None or (self.statistic is not None and self.statistic not in entry):
      return None
    value = entry if self.statistic is None else entry[self.statistic]
    if isinstance(value, dict):
      return {'mean': value['mean'], 'ci95': value.get('ci95')}
    return {'mean': value, 'ci95': entry.get(f'{self.statistic}_ci95')}  # a test report's F1 and its CI

  @property
  def resampled(self):
    """Whether `difference` can resample it: it has a per-example array or units."""
    return self.per_example is not None or self.units is not None

  def difference(self, saved_a: list, saved_b: list, paired: bool = True, design: str = 'crossed') -> dict:
    """Oriented score of map a minus map b (> 0: a is more faithful), with a paired bootstrap 95% CI.

    saved_a, saved_b: lists of the section's saved per-example arrays (evaluate's npz), one per run (e.g. seed),
    the two maps on the same examples of each run. One run: its examples resampled as pairs
    (metrics.paired_difference) or, paired=False, the two sides (which may be different examples) resampled
    independently (metrics.unpaired_difference). Several runs of n examples each: the mean over runs of their
    difference with metrics.two_level_interval of the design, the two maps read with the same draws. Seeds of
    one data split score the same examples ('crossed': pooling their examples as independent pairs, as this did
    before, leaves out both the seed spread and the examples' shared effect); 'nested' for runs on examples of
    their own. Returns {'difference', 'ci95', 'n'} (n: the examples of all runs).
    """
    def units_of(saved):  # one run's (per-example arrays [n], ...) and their statistic over the last axis
      return self.units(saved) if self.units else ((saved[self.per_example],), lambda values: np.mean(values, -1))
    statistic = units_of(saved_a[0])[1]
    if len(saved_a) == 1 == len(saved_b):
      result = (metrics.paired_difference if paired else metrics.unpaired_difference)(
          units_of(saved_a[0])[0], units_of(saved_b[0])[0], statistic)
    elif not paired:
      raise ValueError('an unpaired difference compares one run per side; got several runs')
    else:
      per_run = [[units_of(saved)[0] for saved in side] for side in (saved_a, saved_b)]
      stacked = tuple(np.stack([np.stack([run[i] for run in side]) for side in per_run])  # [2, runs, n]
                      for i in range(len(per_run[0][0])))
      draws = metrics.two_level_draws(len(saved_a), stacked[0].shape[-1], design)
      estimate, boot = metrics.two_level_bootstrap(stacked, statistic, draws)
      low, high = draws.interval(estimate[0] - estimate[1], boot[0] - boot[1])
      result = {'difference': float(estimate[0] - estimate[1]), 'ci95': [float(low), float(high)],
                'n': int(stacked[0][0].size)}
    low, high = sorted(self.orientation * np.asarray(result['ci95']) + 0.)  # + 0.: no -0.0 for an exact tie
    return {**result, 'difference': self.orientation * result['difference'] + 0., 'ci95': [float(low), float(high)]}


MODULES = {'deletion': deletion, 'eraser': eraser, 'weak_learner': weak_learner, 'shuffle': shuffle}

EVALUATIONS = {
    'deletion_rate': Evaluation('deletion rate', -1., 'deletion', per_example='rates'),
    'weak_learner_f1': Evaluation('weak-learner F1', 1., 'weak_learner', statistic='f1', units=weak_learner.f1_units),
    'shuffle_tvd': Evaluation('shuffle TVD', 1., 'shuffle', per_example='median_tvd'),
    'eraser_comprehensiveness': Evaluation('ERASER AOPC comprehensiveness', 1., 'eraser',
                                    statistic='aopc_comprehensiveness', per_example='aopc_comprehensiveness'),
    'eraser_sufficiency': Evaluation('ERASER AOPC sufficiency', -1., 'eraser', statistic='aopc_sufficiency',
                              per_example='aopc_sufficiency'),
}


def register(section, module, **evaluations):
  """Adds an evaluate-stage module under `section` and the Evaluations it yields (name=Evaluation(...))."""
  MODULES[section] = module
  EVALUATIONS.update(evaluations)


def oriented(evaluation, values):
  """Values turned into "higher = more faithful": float64 array."""
  return EVALUATIONS[evaluation].orientation * np.asarray(values, np.float64)


@dataclasses.dataclass
class Context:
  """What an evaluation module reads: the classifier under test and how to evaluate it.

  subset: the test indices deletion-style evaluations read; weak_learner(explainer,
  maps) -> weak_learner.WeakLearnerResult, trained once per explainer and shared
  (the shuffle test runs on the weak learner trained for the map).
  """
  config: Any  # config.RunConfig
  corpus: Any  # encode.EncodedCorpus
  model: Any
  params: Any
  subset: np.ndarray
  weak_model: Any
  weak_learner: Callable
  mesh: Any = None

  def test_scores(self, explainer, maps):
    """The ragged test map of `explainer`: stored `maps['test']`, or a baseline's drawn map."""
    if isinstance(maps, str):
      return weak_learner.baseline_map(self.corpus.splits['test'], explainer, self.config.seed)
    return maps['test']

  def test_part(self, explainer, maps):
    """(the test split restricted to `subset`, the map on it)."""
    test = self.corpus.splits['test']
    return test.subset(self.subset), test.subset_values(self.subset, self.test_scores(explainer, maps))
