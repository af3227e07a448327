"""Every faithfulness evaluation, computed, summarised and compared in one way.

Each evaluation is a `plugins.Evaluation` record (registered below for the
built-ins, as a user's is; docs/extending.md): what the evaluate stage runs
(`evaluate(context, explainer, maps) -> {name: per-example array}`, stored as
evaluations/<section>_<explainer>.npz, `summarise(saved)` -> the stage
summary's entry, `applies(explainer)`), and the `Score`s it contributes: the
numbers tables, rankings, the agreement study and re-evaluation compare
explainers by, each read (with its CI) from the section's summary entry with
the direction that is more faithful. `SCORES` is every registered record's
scores by name.
"""

import collections.abc
import dataclasses
from typing import Any, Callable, Mapping

import numpy as np
from numpy.typing import ArrayLike

from faithjax import metrics
from faithjax import plugins
from faithjax.data import encode
from faithjax.faithfulness import deletion
from faithjax.faithfulness import eraser
from faithjax.faithfulness import shuffle
from faithjax.faithfulness import stacked
from faithjax.faithfulness import weak_learner


@dataclasses.dataclass(frozen=True)
class Score:
  """One score per explainer, read from the evaluate stage's summary."""
  label: str  # for tables and figures
  orientation: float  # +1: higher = more faithful; -1: lower = more faithful
  section: str  # the plugins.Evaluation (and summary section) it comes from
  statistic: str | None = None  # its key in the section's entry; None: the entry itself is {'mean', 'ci95'}
  per_example: str | None = None  # the per-example array of evaluations/<section>_<explainer>.npz, if any
  # saved npz -> (per-example arrays, statistic over their last axis) for a statistic that is not a mean of
  # `per_example` (the weak learner's F1); what a paired bootstrap resamples.
  units: Callable | None = None

  def cell(self, evaluated: Mapping[str, Mapping[str, Any]], explainer: str) -> dict | None:
    """{'mean', 'ci95' (or None)} of `explainer` in an evaluate summary; None if not measured."""
    entry = evaluated.get(self.section, {}).get(explainer)
    if entry is None or (self.statistic is not None and self.statistic not in entry):
      return None
    value = entry if self.statistic is None else entry[self.statistic]
    if isinstance(value, dict):
      return {'mean': value['mean'], 'ci95': value.get('ci95')}
    return {'mean': value, 'ci95': entry.get(f'{self.statistic}_ci95')}  # a test report's F1 and its CI

  @property
  def resampled(self) -> bool:
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
    their own. Returns {'difference', 'ci95', 'n', 'p'} (n: the examples of all runs; p: two-sided, of "the
    difference is 0", from the same resamples).
    """
    # one run's (per-example arrays [n], ...) and their statistic over the last axis
    def units_of(saved: Mapping[str, np.ndarray]) -> tuple[tuple[np.ndarray, ...], Callable]:
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
                'n': int(stacked[0][0].size),
                'p': float(metrics.two_level_p_value(estimate[0] - estimate[1], boot[0] - boot[1], *draws.layout))}
    low, high = sorted(self.orientation * np.asarray(result['ci95']) + 0.)  # + 0.: no -0.0 for an exact tie
    return {**result, 'difference': self.orientation * result['difference'] + 0., 'ci95': [float(low), float(high)]}


# Registered in the order of the tables (the paper's Tables 3, 4 and 5, then ERASER).
for _record in (
    plugins.Evaluation('deletion', deletion.evaluate, deletion.summarise, deletion.applies,
                       stacked=stacked.DELETION,
                       scores={'deletion_rate': Score('deletion rate', -1., 'deletion', per_example='rates')}),
    plugins.Evaluation('weak_learner', weak_learner.evaluate, weak_learner.summarise, trains=True,
                       stacked=stacked.WEAK_LEARNER,
                       scores={'weak_learner_f1': Score('weak-learner F1', 1., 'weak_learner', statistic='f1',
                                                        units=weak_learner.f1_units)}),
    plugins.Evaluation('shuffle', shuffle.evaluate, shuffle.summarise, trains=True, stacked=stacked.SHUFFLE,
                       scores={'shuffle_tvd': Score('shuffle TVD', 1., 'shuffle', per_example='median_tvd')}),
    plugins.Evaluation('eraser', eraser.evaluate, eraser.summarise, eraser.applies, stacked=stacked.ERASER,
                       options=eraser.EraserOptions, check=eraser.check,
                       option_help={'percents': 'ERASER bins: the top b% of each document\'s tokens, a comma list.'},
                       scores={
        'eraser_comprehensiveness': Score('ERASER AOPC comprehensiveness', 1., 'eraser',
                                          statistic='aopc_comprehensiveness', per_example='aopc_comprehensiveness'),
        'eraser_sufficiency': Score('ERASER AOPC sufficiency', -1., 'eraser', statistic='aopc_sufficiency',
                                    per_example='aopc_sufficiency')}),
):
  plugins.register(_record)


class _Scores(collections.abc.Mapping):
  """{score name: Score} of every registered evaluation, in registration order: a live, read-only view."""

  def _table(self):
    return {name: score for record in plugins.EVALUATIONS.values() for name, score in record.scores.items()}

  def __getitem__(self, name):
    return self._table()[name]

  def __iter__(self):
    return iter(self._table())

  def __len__(self):
    return len(self._table())


SCORES = _Scores()


def oriented(evaluation: str, values: ArrayLike) -> np.ndarray:
  """Values turned into "higher = more faithful": [...] -> float64 [...]."""
  return SCORES[evaluation].orientation * np.asarray(values, np.float64)


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

  def test_part(self, explainer: str, maps: Mapping[str, np.ndarray]) -> tuple[encode.EncodedSplit, np.ndarray]:
    """(the test split restricted to `subset`, the map on it); maps: {split: ragged map}."""
    del explainer  # every map, the baselines' included, is stored alike
    test = self.corpus.splits['test']
    return test.subset(self.subset), test.subset_values(self.subset, maps['test'])
