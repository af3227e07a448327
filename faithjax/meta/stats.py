"""Agreement statistics with power (docs/agreement.md): typed records measured from evaluated runs of one corpus.

From the runs' per-example evaluation files (faithjax.runs.EvaluatedRun: a workdir, or a seed archive for the
first two parts), one crossed two-level bootstrap shared by every score and explainer (faithjax.meta.measure's
score_evaluations, pairs and rank_agreements):
  scores and pairs   each explainer's score with its CI, every pair Benjamini–Hochberg-corrected per score;
  rank agreement     Kendall tau-b and Spearman rho between every two scores, with and without the baselines;
and, from workdirs only (they need the maps and the classifier):
  leakage            how often each weak learner repeats the classifier's wrong predictions, and (binary,
                     probability target) the weak learner retrained on maps of FIXED_CLASS;
  opposing           the share of the tokens deletion removed whose EFFECT map opposes the prediction;
  per example        Spearman between -deletion rate and shuffle TVD over the test examples, plain and with
                     document length and classifier margin partialled out;
and over corpora: `pooled` restricts several corpora's resampled scores to what they share, and
`pool` measures their mean rank agreement and, per score, how far two corpora rank alike.
JSON is written from the records at the edge (to_json, pooled_to_json); faithjax/meta/stats_render.py renders it.
"""

import dataclasses
import os
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from faithjax import FaithjaxError
from faithjax import io
from faithjax import metrics
from faithjax import pipeline
from faithjax import runs as runs_lib
from faithjax import study
from faithjax import workdir as workdir_lib
from faithjax.faithfulness import agreement
from faithjax.faithfulness import diagnostics
from faithjax.faithfulness import evaluations
from faithjax.meta import measure

EFFECT = 'input_x_gradient'  # the signed map whose sign says whether a removed token supported the prediction
FIXED_CLASS = 1


@dataclasses.dataclass(frozen=True)
class ExplainerScore:
  """One explainer's score as reported (not oriented), the mean over seeds, with its two-level 95% CI."""
  score: str
  explainer: str
  mean: float
  ci95: tuple


@dataclasses.dataclass(frozen=True)
class Leakage:
  """diagnostics.leakage of one weak learner's test predictions against the classifier's."""
  agrees_with_classifier: float
  accuracy: float
  classifier_wrong: int
  follows_classifier_when_wrong: float | None  # None: the classifier is never wrong
  follows_ci95: list | None  # None: fewer than two wrong predictions


@dataclasses.dataclass(frozen=True)
class WeakLearnerLeakage:
  """One seed's weak learner on one explainer's maps: its F1 beside the classifier's and its leakage; for signed
  maps of a binary classifier explained by probability, the same for the weak learner trained on maps of
  FIXED_CLASS and its F1 minus this one's (evaluations.Score.difference: 'difference', 'ci95', 'n')."""
  seed: int
  explainer: str
  f1: float
  classifier_f1: float
  leakage: Leakage
  fixed_class: Leakage | None = None
  fixed_minus_predicted_f1: dict | None = None


@dataclasses.dataclass(frozen=True)
class OpposingShare:
  """diagnostics.opposing_share: tokens removed, the share of them opposing the prediction, and that share among
  every token of the same examples (what a random order removes on average)."""
  removed: int
  opposing: float
  all_tokens: float


@dataclasses.dataclass(frozen=True)
class Opposing:
  """One seed and explainer: the mean deletion rate and the opposing share of what deletion removed, over all
  examples and over the `flipped_examples` that flip before their last token."""
  seed: int
  explainer: str
  deletion_rate: float
  share: OpposingShare
  flipped_examples: int
  flipped: OpposingShare


@dataclasses.dataclass(frozen=True)
class Correlation:
  """agreement.spearman_with_ci: rho with its bootstrap 95% CI over examples."""
  rho: float
  low: float
  high: float


@dataclasses.dataclass(frozen=True)
class PerExampleAgreement:
  """One seed and map: Spearman between -deletion rate and shuffle TVD over the `examples` deletion measured,
  plain and with document length and classifier margin partialled out (the random map's row: the null)."""
  seed: int
  explainer: str
  examples: int
  rho: Correlation
  partial_rho: Correlation


@dataclasses.dataclass(frozen=True)
class CorpusAgreement:
  """One score's ranking of `explainers` on corpus a against corpus b: each of agreement.RANK_STATISTICS
  ({'value', 'ci95', 'p', 'p_bh'}, p Benjamini–Hochberg-corrected over every score and pair of corpora)."""
  evaluation: str
  a: str
  b: str
  explainers: tuple
  kendall_tau: dict
  spearman_rho: dict


@dataclasses.dataclass(frozen=True)
class AgreementStats:
  """Everything measured on one corpus's runs; leakage, opposing and per_example are None for seed archives
  (they hold no maps or classifier)."""
  seeds: tuple
  explainers: tuple
  design: str
  examples: int
  settings: dict
  scores: tuple  # ExplainerScore
  pairs: tuple  # measure.Pair
  agreements: tuple  # measure.RankAgreement, with and without the baselines
  leakage: tuple | None = None  # WeakLearnerLeakage
  opposing: tuple | None = None  # Opposing
  per_example: tuple | None = None  # PerExampleAgreement


@dataclasses.dataclass(frozen=True)
class PooledStats:
  """Several corpora's rank agreement pooled (the mean of the per-corpus statistic on each resample) over the
  explainers they share, and each score's agreement between every two corpora."""
  pool: tuple
  seeds: dict  # {corpus: [seed, ...]}
  agreements: tuple  # measure.RankAgreement
  between_corpora: tuple  # CorpusAgreement


# --- resampled scores ---

def resampled_scores(runs: list[runs_lib.EvaluatedRun], n_resamples: int) -> tuple:
  """(metrics.two_level_draws of the runs, measure.score_evaluations' scores) of runs of one data split."""
  sizes = {len(r.labels) for r in runs}
  if len(sizes) != 1:
    raise FaithjaxError(f'the runs have different test splits (sizes {sorted(sizes)}); '
                        'pass runs of one corpus and data split')
  draws = metrics.two_level_draws(len(runs), sizes.pop(), runs_lib.design_of(runs), n_resamples, seed=0)
  return draws, measure.score_evaluations(runs, measure.explainers_of(runs), draws)


def save_scored(path: str, scored: dict) -> None:
  """score_evaluations' scores to an npz, keys '<score>:<field>' (what `pooled` reads back with load_scored)."""
  io.save_npz(path, **{f'{e}:{k}': np.asarray(v) for e, s in scored.items() for k, v in s.items()})


def load_scored(path: str) -> dict:
  """save_scored's scores back: {score: {'explainers': list, field: array}}."""
  saved, scored = io.load_npz(path), {}
  for key, value in saved.items():
    evaluation, field = key.split(':')
    scored.setdefault(evaluation, {})[field] = list(value) if field == 'explainers' else value
  return scored


def explainer_scores(scored: dict, layout: tuple) -> list:
  """ExplainerScore of every score and explainer: the estimate as reported, the two-level t interval of the
  draws' layout (n_seeds, n, design)."""
  rows = []
  for evaluation, s in scored.items():
    sign = evaluations.SCORES[evaluation].orientation
    low, high = metrics.two_level_interval(sign * s['estimate'], sign * s['boot'], *layout)
    rows += [ExplainerScore(evaluation, n, float(sign * e), (float(a), float(b)))
             for n, e, a, b in zip(s['explainers'], s['estimate'], low, high)]
  return rows


def rank_agreements(scored: dict, layout: tuple) -> list:
  """measure.RankAgreement rows with the baselines, then without."""
  return [record for baselines in (True, False)
          for record in measure.rank_agreement_records(measure.rank_agreements(scored, layout, baselines), baselines)]


# --- the sections that read the maps and the classifier ---

def fixed_class_weak_learners(run: runs_lib.Run, signed: list, predictions: dict) -> workdir_lib.Workdir:
  """Weak learners trained on maps of FIXED_CLASS (maps of the predicted class with the sign of the other
  class's rows flipped: diagnostics.fixed_class_maps); their evaluation files under <run>/agreement_stats.
  predictions: {split: the classifier's class per example [n]}."""
  out = workdir_lib.Workdir(run.work.path('agreement_stats', 'fixed_class'))
  model, params = pipeline.load_classifier(run.config, run.work, run.corpus)

  def maps_of(name: str) -> dict[str, np.ndarray]:
    """{split: ragged map} of the explainer `name`, turned into maps of FIXED_CLASS."""
    maps = io.load_npz(run.work.maps(name))
    return {split: diagnostics.fixed_class_maps(run.corpus.splits[split], values, predictions[split], FIXED_CLASS)
            for split, values in maps.items()}
  pipeline.evaluate_maps(run.config, run.corpus, model, params, out, signed, maps_of, ('weak_learner',))
  return out


def leakage_of(labels: ArrayLike, classifier_predictions: ArrayLike, weak_predictions: ArrayLike) -> Leakage:
  """diagnostics.leakage as a record: all [n] class ids on the same test examples."""
  return Leakage(**diagnostics.leakage(labels, classifier_predictions, weak_predictions))


def leakage_rows(runs: list[runs_lib.Run], names: list, fixed_class: bool = True) -> list:
  """WeakLearnerLeakage per run (faithjax.runs.Run) and explainer with a weak learner; fixed_class: also train
  the fixed-class weak learners (signed maps of a binary classifier explained by probability)."""
  rows = []
  spec = evaluations.SCORES['weak_learner_f1']
  for run in runs:
    k = run.corpus.num_classes  # F1: the positive class's for two classes, macro for more
    binary = k == 2 and run.config.target == 'prob' and fixed_class
    predictions = {split: run.classifier_predictions(split) for split in (run.corpus.splits if binary else ['test'])}
    signed = [n for n in names if n in run.config.explainers
              and any(np.any(v < 0) for v in io.load_npz(run.work.maps(n)).values())]
    fixed = fixed_class_weak_learners(run, signed, predictions) if binary and signed else None
    for name in names:
      if not run.has('weak_learner', name):
        continue
      saved = run.saved('weak_learner', name)
      weak = saved['test_probs'].argmax(-1)
      row = WeakLearnerLeakage(run.config.seed, name, float(metrics.f1_along_last_axis(run.test.labels, weak, k)),
                               float(metrics.f1_along_last_axis(run.test.labels, predictions['test'], k)),
                               leakage_of(run.test.labels, predictions['test'], weak))
      if fixed is not None and name in signed:
        fixed_saved = io.load_npz(fixed.evaluation('weak_learner', name))
        row = dataclasses.replace(
            row, fixed_class=leakage_of(run.test.labels, predictions['test'], fixed_saved['test_probs'].argmax(-1)),
            fixed_minus_predicted_f1=spec.difference([fixed_saved], [saved]))
      rows.append(row)
  return rows


def opposing_rows(runs: list[runs_lib.Run], names: list) -> list:
  """Opposing per run and explainer with deletion rates and stored maps (none without the EFFECT map)."""
  rows = []
  for run in runs:
    if not os.path.exists(run.work.maps(EFFECT)):
      continue
    effects = io.load_npz(run.work.maps(EFFECT))['test']
    for name in names:
      if not run.has('deletion', name) or not os.path.exists(run.work.maps(name)):
        continue  # a baseline's maps are stored by the evaluate stage (none in a workdir evaluated before that)
      saved = run.saved('deletion', name)
      scores = io.load_npz(run.work.maps(name))['test']
      removed = diagnostics.removed_tokens(run.test, saved['indices'], scores, saved['rates'])
      flipped = saved['rates'] < 1  # examples that flip before their last token: the removal stopped early
      rows.append(Opposing(
          run.config.seed, name, float(saved['rates'].mean()),
          OpposingShare(**diagnostics.opposing_share(run.test, saved['indices'], removed, effects)),
          int(flipped.sum()),
          OpposingShare(**diagnostics.opposing_share(run.test, saved['indices'][flipped], removed[flipped],
                                                     effects))))
  return rows


def per_example_rows(runs: list[runs_lib.Run], names: list) -> list:
  """PerExampleAgreement per run and map measured by deletion and the shuffle test (study.per_example_agreement;
  covariates: document length and the classifier's top-1 minus top-2 probability)."""
  rows = []
  for run in runs:
    probs = np.sort(run.classifier_probs(), -1)
    covariates = [run.test.lengths, probs[:, -1] - probs[:, -2]]
    for name in names:
      if not (run.has('deletion', name) and run.has('shuffle', name)):
        continue
      deleted, tvds = run.saved('deletion', name), run.saved('shuffle', name)['median_tvd']
      rows.append(PerExampleAgreement(
          run.config.seed, name, len(deleted['rates']),
          Correlation(**study.per_example_agreement(deleted['rates'], deleted['indices'], tvds)),
          Correlation(**study.per_example_agreement(deleted['rates'], deleted['indices'], tvds, covariates))))
  return rows


def measure_runs(runs: list[runs_lib.EvaluatedRun], draws: metrics.TwoLevelDraws, scored: dict,
                 fixed_class: bool = True) -> AgreementStats:
  """AgreementStats of runs of one data split from their resampled scores (resampled_scores); the leakage,
  opposing and per-example sections when every run is a workdir (faithjax.runs.Run)."""
  names = measure.explainers_of(runs)
  result = AgreementStats(
      seeds=tuple(r.config.seed for r in runs), explainers=tuple(names), design=draws.design, examples=draws.n,
      settings=runs[0].config.fingerprint(), scores=tuple(explainer_scores(scored, draws.layout)),
      pairs=tuple(measure.pairs(scored, draws.layout)), agreements=tuple(rank_agreements(scored, draws.layout)))
  if not all(isinstance(r, runs_lib.Run) for r in runs):
    return result
  return dataclasses.replace(result, leakage=tuple(leakage_rows(runs, names, fixed_class)),
                             opposing=tuple(opposing_rows(runs, names)),
                             per_example=tuple(per_example_rows(runs, names)))


# --- pooled over corpora ---

def pooled(corpora: list) -> dict:
  """Per-corpus scored resamples restricted to the evaluations and explainers every corpus has, stacked:
  {evaluation: {'explainers', 'estimate' [corpora, e], 'boot' [corpora, e, resamples]}}."""
  common = set.intersection(*(set(s) for s in corpora))
  result = {}
  for evaluation in (e for e in corpora[0] if e in common):
    names = [n for n in corpora[0][evaluation]['explainers'] if all(n in s[evaluation]['explainers'] for s in corpora)]
    rows = [[s[evaluation]['explainers'].index(n) for n in names] for s in corpora]
    result[evaluation] = {'explainers': names,
                          **{k: np.stack([s[evaluation][k][r] for s, r in zip(corpora, rows)])
                             for k in ('estimate', 'boot')}}
  return result


def corpus_agreements(scored: dict, corpora: list, layout: tuple) -> list:
  """Does the corpus change a score's verdict? CorpusAgreement for every score and two corpora: tau-b and rho
  between the two corpora's rankings of the explainers (and baselines) both score, with CIs from their
  independent two-level resamples and p (the statistic is 0) corrected by Benjamini–Hochberg over all rows.
  scored: pooled()'s; corpora: the names of its leading axis; layout: (n_seeds, n, design) for the interval."""
  rows = []
  for evaluation, s in scored.items():
    for i, a in enumerate(corpora):
      for j in range(i + 1, len(corpora)):
        rows.append((evaluation, a, corpora[j], s['explainers'],
                     agreement.rank_agreement(s['estimate'][i], s['boot'][i], s['estimate'][j], s['boot'][j],
                                              layout)))
  for statistic in agreement.RANK_STATISTICS:
    for row, p_bh in zip(rows, stats.false_discovery_control([r[4][statistic]['p'] for r in rows]) if rows else []):
      row[4][statistic]['p_bh'] = float(p_bh)
  return [CorpusAgreement(evaluation, a, b, tuple(names), **result) for evaluation, a, b, names, result in rows]


def pool(corpora: list, scored: list, records: dict) -> PooledStats:
  """PooledStats of several corpora (a name may repeat): scored, each one's load_scored; records {corpus: its
  to_json record} (their seeds and test examples: the interval reads the fewest of each)."""
  layout = (min(len(r['seeds']) for r in records.values()), min(r['examples'] for r in records.values()),
            'crossed' if all(r['design'] == 'crossed' for r in records.values()) else 'nested')
  shared = pooled(scored)
  return PooledStats(tuple(corpora), {c: r['seeds'] for c, r in records.items()},
                     tuple(rank_agreements(shared, layout)), tuple(corpus_agreements(shared, corpora, layout)))


# --- JSON at the edge ---

def rank_agreement_json(records: Sequence[measure.RankAgreement], baselines: bool) -> list:
  """measure.RankAgreement records as rank rows {'a', 'b', 'explainers', statistic: {'value', 'ci95', 'p',
  'p_bh'}}, one per score pair."""
  rows = {}
  for r in records:
    if r.baselines == baselines:
      row = rows.setdefault((r.a, r.b), {'a': r.a, 'b': r.b, 'explainers': list(r.explainers)})
      row[r.statistic] = {'value': r.value, 'ci95': list(r.ci95), 'p': r.p, 'p_bh': r.p_bh}
  return list(rows.values())


def _leakage_json(row: WeakLearnerLeakage) -> dict:
  fixed = {} if row.fixed_class is None else {'fixed_class': dataclasses.asdict(row.fixed_class),
                                              'fixed_minus_predicted_f1': row.fixed_minus_predicted_f1}
  return {'seed': row.seed, 'explainer': row.explainer, 'f1': row.f1, 'classifier_f1': row.classifier_f1,
          **dataclasses.asdict(row.leakage), **fixed}


def _opposing_json(row: Opposing) -> dict:
  return {'seed': row.seed, 'explainer': row.explainer, 'deletion_rate': row.deletion_rate,
          **dataclasses.asdict(row.share), 'flipped': {'examples': row.flipped_examples,
                                                        **dataclasses.asdict(row.flipped)}}


def to_json(result: AgreementStats) -> dict:
  """The JSON record of AgreementStats (what agreement_stats_<corpus>.json holds besides the command's)."""
  record = {'seeds': list(result.seeds), 'explainers': list(result.explainers), 'design': result.design,
            'examples': result.examples, 'settings': result.settings,
            'evaluations': {score: {
                'scores': {s.explainer: {'mean': s.mean, 'ci95': list(s.ci95)}
                           for s in result.scores if s.score == score},
                'pairs': [{k: v for k, v in dataclasses.asdict(p).items() if k != 'score'}
                          for p in result.pairs if p.score == score]}
                for score in dict.fromkeys(s.score for s in result.scores)},
            'rank_agreement': rank_agreement_json(result.agreements, True),
            'rank_agreement_without_baselines': rank_agreement_json(result.agreements, False)}
  if result.leakage is not None:
    record.update(leakage=[_leakage_json(r) for r in result.leakage],
                  opposing=[_opposing_json(r) for r in result.opposing],
                  per_example=[dataclasses.asdict(r) for r in result.per_example])
  return record


def pooled_to_json(result: PooledStats) -> dict:
  """The JSON record of PooledStats (what a pooled agreement_stats_<name>.json holds besides the command's)."""
  return {'pool': list(result.pool), 'seeds': result.seeds,
          'rank_agreement': rank_agreement_json(result.agreements, True),
          'rank_agreement_without_baselines': rank_agreement_json(result.agreements, False),
          'between_corpora': [dataclasses.asdict(r) for r in result.between_corpora]}
