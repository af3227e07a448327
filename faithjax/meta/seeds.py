"""Do the evaluations agree across seeds and under the open choices? Measured on pipeline runs of one corpus.

From one pipeline run per seed (SeedRun: all on one data split; a seed may have run up to its train stage only):
  seed_table / classifier_table  every evaluation's and the classifier's mean and sd over seeds;
  per_seed_tau / seed_stability  Kendall tau between the evaluations' rankings per seed, and between the seeds'
                                 rankings per evaluation;
  per_example                    Spearman between -deletion rate and shuffle TVD over the test examples;
  sensitivity                    the deletion and weak-learner rankings under the open choices (mask mode,
                                 signed or absolute, explained scalar, IG steps, weak-learner norm);
  stacked_seeds                  every seed re-evaluated in one stacked program (reevaluate.reevaluate), beside
                                 its own run;
  ground_truth                   tau between each evaluation's ranking and the planted-token precision@k one.
Rows are the lists experiments/results/agreement_<corpus>.json holds; faithjax/meta/seeds_render.py renders them.
"""

import dataclasses
import itertools
import os
import time
from typing import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from faithjax import config as config_lib
from faithjax import explain
from faithjax import io
from faithjax import metrics
from faithjax import pipeline
from faithjax import reevaluate
from faithjax import study
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.faithfulness import agreement
from faithjax.faithfulness import deletion
from faithjax.faithfulness import evaluations
from faithjax.faithfulness import weak_learner

IG = 'integrated_gradients'


@dataclasses.dataclass(frozen=True)
class SeedRun:
  """One seed's pipeline run: its config, workdir and results (pipeline.run_pipeline's)."""
  config: config_lib.RunConfig
  workdir: str
  results: dict

  @property
  def work(self) -> workdir_lib.Workdir:
    return workdir_lib.Workdir(os.path.abspath(self.workdir))

  @property
  def whole(self) -> bool:
    """False for a train-only seed, also after it adopted its stacked deletion rates."""
    return 'explain' in self.results['stages']


@dataclasses.dataclass(frozen=True)
class DeletionShuffle:
  """One map on one run: each test example's deletion rate [n] and shuffle TVD [n] on the examples deletion
  measured, and Spearman between -rate and TVD with its bootstrap 95% CI (study.per_example_agreement)."""
  explainer: str
  rates: np.ndarray
  tvds: np.ndarray
  rho: float
  low: float
  high: float

  @property
  def row(self) -> list:
    """[explainer, rho, low, high, examples]: the record's row."""
    return [self.explainer, self.rho, self.low, self.high, len(self.rates)]


def partial_path(stem: str) -> str:
  """Where a run keeps its slow sections as each finishes, beside the record <stem>.json written at the end."""
  return stem + '.partial.json'


def kept_record(stem: str) -> dict:
  """What a rerun may keep sections from: <stem>.json updated by the (newer) sections a killed run left in
  partial_path(stem); {} where neither exists."""
  kept = {}
  for path in (stem + '.json', partial_path(stem)):
    if os.path.exists(path):
      kept.update(io.read_json(path))
  return kept


def over_seeds(values: ArrayLike) -> list:
  """[mean, sd (0 for one seed), count] of one number measured on each seed."""
  values = np.asarray(values, np.float64)
  return [float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0, len(values)]


def seed_table(runs: dict, names: Sequence[str]) -> list:
  """Rows [evaluation, explainer, mean, sd, seeds] over the seeds that measured each (runs {seed: SeedRun})."""
  rows = []
  for evaluation in study.evaluation_names():
    for name in names:
      values = [study.our_scores(r.results, evaluation).get(name) for r in runs.values()]
      rows.append([evaluation, name, *over_seeds([v for v in values if v is not None])])
  return rows


def classifier_table(runs: dict) -> list:
  """Table 2 across seeds: rows [metric, mean, sd, seeds] of the classifiers' test accuracy and F1."""
  return [[metric, *over_seeds([r.results['stages']['train']['test'][metric] for r in runs.values()])]
          for metric in ('accuracy', 'f1')]


def per_seed_tau(runs: dict) -> list:
  """Per seed: study.evaluation_agreement's rows (Kendall tau between every two evaluations' rankings)."""
  return [study.evaluation_agreement(r.results) for r in runs.values()]


def mean_tau(per_seed: list) -> tuple:
  """(evaluations, [e, e] matrix of the mean over seeds of tau between each two; 1 on the diagonal)."""
  names = list(study.evaluation_names())
  matrix = np.eye(len(names))
  for i, j in itertools.combinations(range(len(names)), 2):
    taus = [row['tau'] for rows in per_seed for row in rows if {row['a'], row['b']} == {names[i], names[j]}]
    matrix[i, j] = matrix[j, i] = np.mean(taus)
  return names, matrix


def seed_stability(runs: dict) -> dict:
  """{evaluation: mean pairwise Kendall tau between the seeds' explainer rankings} (1 = the seed never matters;
  None where fewer than two seeds measured it)."""
  stability = {e: study.cross_corpus_stability({seed: study.our_scores(r.results, e) for seed, r in runs.items()}, e)
               for e in study.evaluation_names()}
  return {e: tau if np.isfinite(tau) else None for e, tau in stability.items()}


def per_example(run: SeedRun, names: Sequence[str]) -> list:
  """DeletionShuffle of every explainer on one run."""
  rows = []
  for name in names:
    deleted = io.load_npz(run.work.evaluation('deletion', name))
    tvds = io.load_npz(run.work.evaluation('shuffle', name))['median_tvd']
    result = study.per_example_agreement(deleted['rates'], deleted['indices'], tvds)
    rows.append(DeletionShuffle(name, deleted['rates'], tvds[deleted['indices']], *map(result.get,
                                                                                        ('rho', 'low', 'high'))))
  return rows


def sensitivity(run: SeedRun, names: Sequence[str], subset_size: int, ig_steps: Sequence[int | str]) -> list:
  """Explainer rankings under the open choices, on one seed's model and maps, the first `subset_size` test
  examples for deletion.

  The run's own target and norm reuse its stored maps and weak learners; the other target's maps, the IG step
  counts `ig_steps` (ints, or their strings as the flag gives them; besides the run's own) and the other norm's
  weak learners are computed here. Rows:
  [evaluation, choice, scores, ranking, survives] where `survives` says whether the ranking under the run's own
  choices (on the same examples) holds.
  """
  config, work = run.config, run.work
  corpus = encode.EncodedCorpus.load(work.corpus)
  model, params = pipeline.load_classifier(config, work, corpus)
  stored = {name: io.load_npz(work.maps(name)) for name in names}
  test = corpus.splits['test']
  subset = np.arange(min(subset_size, len(test)))
  part = test.subset(subset)

  def explained(name: str, run_config: config_lib.RunConfig) -> np.ndarray:
    """The map of `name` under run_config on the subset: flat, aligned with part.ids."""
    return explain.explain_split(explain.make_explainer(name, model, **pipeline.explainer_options(run_config, name)),
                                 params, part, config.eval_batch_size)

  def deletion_scores(maps: Mapping[str, np.ndarray], mode: str = config.deletion_mode,
                      absolute: bool = config.absolute) -> dict[str, float]:
    """{explainer: mean deletion rate on the subset} of ragged maps on it."""
    removal = deletion.removal_mode(mode, config.pad_rule)  # 'pad' under the run's pad rule
    return {n: float(np.mean(deletion.deletion_rates(model, params, part, m, absolute=absolute, mode=removal)))
            for n, m in maps.items()}

  rows = []
  own_maps = {n: test.subset_values(subset, stored[n]['test']) for n in names}
  own = {}
  for target in ('prob', 'logit'):
    other = dataclasses.replace(config, target=target)
    maps = own_maps if target == config.target else {n: explained(n, other) for n in names}
    for mode, absolute in itertools.product(deletion.MODES, (False, True)):
      scores = deletion_scores(maps, mode, absolute)
      if (target, mode, absolute) == (config.target, config.deletion_mode, config.absolute):
        own['deletion_rate'] = agreement.ranking(scores, 'deletion_rate')
      rows.append(['deletion_rate', f'target={target}, mode={mode}, {"absolute" if absolute else "signed"}', scores])
  run_steps = config.explainer_options(IG).steps
  for steps in sorted({int(s) for s in ig_steps} - {run_steps} if IG in names else ()):
    maps = {**own_maps, IG: explained(IG, config.with_options(IG, steps=steps))}
    rows.append(['deletion_rate', f'ig_steps={steps} (run: {run_steps}), mode={config.deletion_mode}',
                 deletion_scores(maps)])
  weak = pipeline.make_weak_learner(config, corpus)
  for norm in weak_learner.NORMS:
    if norm == config.norm:
      scores = {n: study.our_scores(run.results, 'weak_learner_f1')[n] for n in names}
      own['weak_learner_f1'] = agreement.ranking(scores, 'weak_learner_f1')
    else:
      weak_config = pipeline.weak_learner_config(config)
      scores = {n: weak_learner.train_weak_learner(weak, corpus, stored[n], weak_config,
                                                   work.path('checkpoints', f'sensitivity_weak_{norm}_{n}'),
                                                   norm=norm).test['f1'] for n in names}
    rows.append(['weak_learner_f1', f'norm={norm}', scores])
  return [[e, choice, scores, agreement.ranking(scores, e), agreement.ranking(scores, e) == own[e]]
          for e, choice, scores in rows]


def stacked_seeds(runs: dict, names: Sequence[str], stacked_subset: int = 0) -> tuple:
  """Every seed re-evaluated in one stacked program per bucket (maps, deletion, weak learner, shuffle test) on the
  first `stacked_subset` test examples of the deletion evaluation (0: all).

  Beside each seed's own run on the same test examples: its stored deletion rates and shuffle TVDs, and its weak
  learner's F1 with its stored maps. With train-only seeds only maps and deletion are stacked, and those seeds
  have no run of their own to compare with (None). Returns (rows [seed, evaluation, explainer, per-seed run,
  stacked, largest difference (per example; of F1 for the weak learner)], seconds of the stacked call).
  """
  first = runs[min(runs)]
  config = first.config
  corpus = encode.EncodedCorpus.load(first.work.corpus)
  test = corpus.splits['test']
  subset = pipeline.test_subset(config, test)[:stacked_subset or None]
  part = test.subset(subset)
  weak = pipeline.make_weak_learner(config, corpus)
  all_evaluated = all(r.whole for r in runs.values())
  start = time.perf_counter()
  stacked = reevaluate.reevaluate(
      [r.workdir for r in runs.values()], corpus, pipeline.make_model(config, corpus),
      {n: pipeline.explainer_options(config, n) for n in names}, subset=subset,
      batch_size=config.eval_batch_size,
      deletion_options=deletion.options_of(config),
      weak={'model': weak, 'norm': config.norm, 'permutations': config.permutations} if all_evaluated else None)
  seconds = time.perf_counter() - start
  rows = []
  for (seed, run), again in zip(runs.items(), stacked):
    work = run.work
    for name in names:
      stacked_rates = again['deletion'][name]['rates']
      if not run.whole:
        rows.append([seed, 'deletion_rate', name, None, float(stacked_rates.mean()), None])
        continue
      rates = io.load_npz(work.evaluation('deletion', name))['rates'][:len(subset)]  # stored in `subset` order
      rows.append([seed, 'deletion_rate', name, float(rates.mean()), float(stacked_rates.mean()),
                   float(np.abs(rates - stacked_rates).max())])
      if all_evaluated:
        tvds = io.load_npz(work.evaluation('shuffle', name))['median_tvd'][subset]
        weak_params = reevaluate.restore_weak([work.classifier_ckpt], name, weak)[0]
        stored_map = test.subset_values(subset, io.load_npz(work.maps(name))['test'])
        f1 = metrics.test_report(part.labels, weak_learner.predict_split(weak, weak_params, part, stored_map,
                                                                         config.norm))['f1']
        stacked_tvds, stacked_f1 = again['shuffle'][name]['median_tvd'], again['weak_learner'][name]['f1']
        rows += [[seed, 'weak_learner_f1', name, f1, stacked_f1, abs(f1 - stacked_f1)],
                 [seed, 'shuffle_tvd', name, float(tvds.mean()), float(stacked_tvds.mean()),
                  float(np.abs(tvds - stacked_tvds).max())]]
  return rows, seconds


def adopt_stacked_deletion(runs: dict, stacked_rows: list) -> dict:
  """With train-only seeds, the runs with every seed's deletion means replaced by the stacked program's.

  A train-only seed has no other; the full seeds follow so that all seeds are scored on the same examples (the
  stacked subset may be fewer than a run's own). With every seed whole, the runs as they are.
  """
  if all(r.whole for r in runs.values()):
    return runs
  adopted = {}
  for seed, run in runs.items():
    rates = {name: {'mean': stacked, 'ci95': None}
             for s, e, name, _, stacked, _ in stacked_rows if s == seed and e == 'deletion_rate'}
    stages = {**run.results['stages'], 'evaluate': {**run.results['stages'].get('evaluate', {}), 'deletion': rates}}
    adopted[seed] = dataclasses.replace(run, results={**run.results, 'stages': stages})
  return adopted


def ground_truth(runs: dict, names: Sequence[str]) -> list:
  """Rows [seed, evaluation, tau] of Kendall tau between each evaluation's ranking and the precision@k ranking,
  per whole seed; none where the maps have no precision@k (a corpus without planted tokens)."""
  rows = []
  for seed, run in runs.items():
    if not run.whole:
      continue
    truth = {n: run.results['stages']['explain']['quality'][n].get('precision_at_k') for n in names}
    if None in truth.values():
      return []
    for evaluation in study.evaluation_names():
      ours = study.our_scores(run.results, evaluation)
      tau = agreement.kendall_tau([truth[n] for n in names], evaluations.oriented(evaluation, [ours[n] for n in names]))
      rows.append([seed, evaluation, tau])
  return rows
