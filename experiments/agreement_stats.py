"""Agreement statistics with power (issue 15, item 4), from evaluated runs of one corpus.

  python -m experiments.agreement_stats --corpus=synthetic \
      --runs=runs/sign_control/synthetic/seed0,runs/stats/synthetic/seed1,runs/stats/synthetic/seed2
  python -m experiments.agreement_stats --corpus=sst --runs=runs/sign_control/sst/seed0
  python -m experiments.agreement_stats --corpus=sst_cpu_5seeds \
      --archives=experiments/results/reproduction_cpu_seeds/sst-seed{0,1,2,3,4}.npz

Each run is a workdir whose evaluate stage has run (run.py --stages=...,evaluate,
or experiments.sign_control plus the evaluate stage), one per seed, on the same
data split; or, with --archives, the seed archives experiments.reproduce writes
(sections 1 and 2 only: the others read the workdir's maps and classifier).
From their per-example evaluation files:
1. every explainer pair's oriented difference under every evaluation, with a
   95% t interval of a paired two-level bootstrap (metrics.two_level_interval:
   seeds resampled, and the test examples, one draw shared by all seeds when
   they scored the same documents, the crossed design; every explainer and
   evaluation reads the same draws); each evaluation's family of pairs is
   corrected by Benjamini–Hochberg, and a pair whose corrected p is >= .05 is a
   tie, not a rank swap;
2. Kendall tau-b and Spearman rho between every two evaluations over the
   explainers both score, over all maps and without the baselines, with CIs
   from the same resamples and p (tau = 0) corrected over the table's pairs;
3. label leakage: how often each weak learner repeats the classifier's wrong
   predictions, and (binary corpora, --fixed_class) the weak learner retrained on
   maps of class 1 instead of the predicted class (<run>/agreement_stats/fixed_class);
4. the tokens deletion removes: the share whose Input×Gradient opposes the
   prediction, per explainer, beside every explainer's deletion rate.
Writes <out>/agreement_stats_<corpus>.json and .md, and the resampled scores to
<scored_dir>/<corpus>.npz, which --corpus=pooled --pool=synthetic,sst reads to
pool the rank agreement over corpora (the explainers they share; the mean of the
per-corpus tau and rho on each resample).

  python -m experiments.agreement_stats --corpus=pooled --pool=synthetic,sst
"""

import os
import sys

from absl import flags
from absl import logging
import numpy as np
from scipy import stats

from faithjax import FaithjaxError
from faithjax import cli
from faithjax import config as config_lib
from faithjax import io
from faithjax import metrics
from faithjax import pipeline
from faithjax import provenance
from faithjax import report
from faithjax import study
from faithjax import workdir as workdir_lib
from faithjax.faithfulness import agreement
from faithjax.faithfulness import diagnostics
from faithjax.faithfulness import evaluations
from faithjax.faithfulness import weak_learner
from faithjax.meta.measure import explainers_of, rank_agreements, score_evaluations
from experiments import evaluated_runs

FLAGS = flags.FLAGS
config_lib.define_compile_cache_flag()
flags.DEFINE_string('corpus', None, 'Corpus name, for the report file.')
flags.DEFINE_list('runs', [], 'Evaluated workdirs, one per seed, same corpus and data split.')
flags.DEFINE_list('archives', [], 'Instead of --runs: seed archives (experiments.reproduce), one per seed; only the '
                  'scores, pairs and rank agreement are measured from them.')
flags.DEFINE_string('out', 'experiments/results', 'Where the report goes.')
flags.DEFINE_integer('n_resamples', 2000, 'Bootstrap resamples.')
flags.DEFINE_bool('fixed_class', True, 'Retrain each weak learner on maps of class 1 (binary corpora).')
flags.DEFINE_bool('summary_only', False, 'Only rebuild the md from the JSON in --out.')
flags.DEFINE_list('pool', [], 'With --corpus=pooled: corpora whose measured resamples (in --scored_dir) are pooled '
                  'into one rank agreement (the mean of the per-corpus tau on each resample).')
flags.DEFINE_string('scored_dir', 'runs/agreement_stats', 'Where each corpus keeps its resampled scores for --pool.')

EFFECT = 'input_x_gradient'  # the signed map whose sign says whether a removed token supported the prediction
FIXED_CLASS = 1


def scores_and_pairs(scored, layout):
  """Per evaluation: each explainer's score (as reported, not oriented) with its CI, and every pair's verdict
  (Benjamini–Hochberg over the evaluation's pairs). layout: the draws' (n_seeds, n, design)."""
  rows = {}
  for evaluation, s in scored.items():
    sign = evaluations.SCORES[evaluation].orientation
    low, high = metrics.two_level_interval(sign * s['estimate'], sign * s['boot'], *layout)
    rows[evaluation] = {
        'scores': {n: {'mean': float(sign * e), 'ci95': [float(a), float(b)]}
                   for n, e, a, b in zip(s['explainers'], s['estimate'], low, high)},
        'pairs': agreement.pair_differences(s['explainers'], s['estimate'], s['boot'], layout)}
  return rows


def save_scored(path, scored):
  io.save_npz(path, **{f'{e}:{k}': np.asarray(v) for e, s in scored.items() for k, v in s.items()})


def load_scored(path):
  saved, scored = io.load_npz(path), {}
  for key, value in saved.items():
    evaluation, field = key.split(':')
    scored.setdefault(evaluation, {})[field] = list(value) if field == 'explainers' else value
  return scored


def pooled(corpora):
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


def corpus_agreements(scored, corpora, layout):
  """Does the corpus change an evaluation's verdict? For every evaluation and two corpora: Kendall tau-b and
  Spearman rho between the two corpora's rankings of the explainers (and baselines) both score, with CIs from
  their independent two-level resamples and p (the statistic is 0) corrected by Benjamini–Hochberg over all rows.
  scored: pooled()'s; corpora: the names of its leading axis; layout: (n_seeds, n, design) for the interval."""
  rows = []
  for evaluation, s in scored.items():
    for i, a in enumerate(corpora):
      for j in range(i + 1, len(corpora)):
        rows.append({'evaluation': evaluation, 'a': a, 'b': corpora[j], 'explainers': s['explainers'],
                     **agreement.rank_agreement(s['estimate'][i], s['boot'][i], s['estimate'][j], s['boot'][j],
                                                layout)})
  for statistic in agreement.RANK_STATISTICS:
    for row, p_bh in zip(rows, stats.false_discovery_control([r[statistic]['p'] for r in rows]) if rows else []):
      row[statistic]['p_bh'] = float(p_bh)
  return rows


def fixed_class_weak_learners(run, signed, predictions):
  """Weak learners trained on maps of FIXED_CLASS (maps of the predicted class with the sign of the other
  class's rows flipped: diagnostics.fixed_class_maps); their evaluation files under <run>/agreement_stats."""
  out = workdir_lib.Workdir(run.work.path('agreement_stats', 'fixed_class'))
  model, params = pipeline.load_classifier(run.config, run.work, run.corpus)

  def maps_of(name):
    maps = io.load_npz(run.work.maps(name))
    return {split: diagnostics.fixed_class_maps(run.corpus.splits[split], values, predictions[split], FIXED_CLASS)
            for split, values in maps.items()}
  pipeline.evaluate_maps(run.config, run.corpus, model, params, out, signed, maps_of, ('weak_learner',))
  return out


def leakage_rows(runs, names):
  """Per seed and explainer: the weak learner's agreement with the classifier (and, for signed maps of a
  binary classifier explained by probability, the same for the fixed-class weak learner)."""
  rows = []
  for run in runs:
    k = run.corpus.num_classes  # F1: the positive class's for two classes, macro for more
    binary = k == 2 and run.config.target == 'prob' and FLAGS.fixed_class
    predictions = {split: run.classifier_predictions(split) for split in (run.corpus.splits if binary else ['test'])}
    signed = [n for n in names if n in run.config.explainers
              and any(np.any(v < 0) for v in io.load_npz(run.work.maps(n)).values())]
    fixed = fixed_class_weak_learners(run, signed, predictions) if binary and signed else None
    spec = evaluations.SCORES['weak_learner_f1']
    for name in names:
      if not run.has('weak_learner', name):
        continue
      saved = run.saved('weak_learner', name)
      row = {'seed': run.config.seed, 'explainer': name,
             'f1': float(metrics.f1_along_last_axis(run.test.labels, saved['test_probs'].argmax(-1), k)),
             'classifier_f1': float(metrics.f1_along_last_axis(run.test.labels, predictions['test'], k)),
             **diagnostics.leakage(run.test.labels, predictions['test'], saved['test_probs'].argmax(-1))}
      if fixed is not None and name in signed:
        fixed_saved = io.load_npz(fixed.evaluation('weak_learner', name))
        row['fixed_class'] = diagnostics.leakage(run.test.labels, predictions['test'],
                                                 fixed_saved['test_probs'].argmax(-1))
        row['fixed_minus_predicted_f1'] = spec.difference([fixed_saved], [saved])
      rows.append(row)
  return rows


def opposing_rows(runs, names):
  """Per seed and explainer: its deletion rate and the share of the tokens deletion removed whose
  Input×Gradient (of the predicted class) is negative, i.e. opposes the prediction."""
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
      rows.append({'seed': run.config.seed, 'explainer': name, 'deletion_rate': float(saved['rates'].mean()),
                   **diagnostics.opposing_share(run.test, saved['indices'], removed, effects),
                   'flipped': {'examples': int(flipped.sum()), **diagnostics.opposing_share(
                       run.test, saved['indices'][flipped], removed[flipped], effects)}})
  return rows


def per_example_rows(runs, names):
  """Per seed and explainer measured by both: Spearman between -deletion rate and shuffle TVD over the test
  examples, plain and with document length and classifier margin (top-1 minus top-2 probability) partialled
  out. The random map's row is the null: what length and margin alone make the two evaluations share."""
  rows = []
  for run in runs:
    probs = np.sort(run.classifier_probs(), -1)
    covariates = [run.test.lengths, probs[:, -1] - probs[:, -2]]
    for name in names:
      if not (run.has('deletion', name) and run.has('shuffle', name)):
        continue
      deleted, tvds = run.saved('deletion', name), run.saved('shuffle', name)['median_tvd']
      rows.append({'seed': run.config.seed, 'explainer': name, 'examples': len(deleted['rates']),
                   'rho': study.per_example_agreement(deleted['rates'], deleted['indices'], tvds),
                   'partial_rho': study.per_example_agreement(deleted['rates'], deleted['indices'], tvds,
                                                              covariates)})
  return rows


def measure(runs):
  """The record of evaluated runs (one per seed): scores, pairs and rank agreement, and, from workdirs
  (evaluated_runs.Run), the leakage, opposing-token and per-example sections."""
  sizes = {len(r.labels) for r in runs}
  if len(sizes) != 1:
    raise FaithjaxError(f'the runs have different test splits (sizes {sorted(sizes)}); '
                                   'pass runs of one corpus and data split')
  names = explainers_of(runs)
  draws = metrics.two_level_draws(len(runs), sizes.pop(), evaluated_runs.design_of(runs), FLAGS.n_resamples, seed=0)
  scored = score_evaluations(runs, names, draws)
  save_scored(os.path.join(FLAGS.scored_dir, f'{FLAGS.corpus}.npz'), scored)
  record = {'seeds': [r.config.seed for r in runs], 'explainers': names, 'design': draws.design,
            'examples': draws.n, 'settings': runs[0].config.fingerprint(),
            'evaluations': scores_and_pairs(scored, draws.layout),
            'rank_agreement': rank_agreements(scored, draws.layout),
            'rank_agreement_without_baselines': rank_agreements(scored, draws.layout, baselines=False)}
  if all(isinstance(r, evaluated_runs.Run) for r in runs):
    record.update(leakage=leakage_rows(runs, names), opposing=opposing_rows(runs, names),
                  per_example=per_example_rows(runs, names))
  return record


def ci(cell):
  return f'{cell["mean"]:.3f} [{cell["ci95"][0]:.3f}, {cell["ci95"][1]:.3f}]'


def rank_table(rows):
  """The rank agreement rows as markdown; with a BH-corrected p column per statistic where the rows have one."""
  corrected = bool(rows) and 'p_bh' in rows[0]['kendall_tau']
  columns = lambda name: [name, '95% CI', *(['p (BH)'] if corrected else [])]
  cells = lambda c: [f'{c["value"]:+.3f}', '[{:+.3f}, {:+.3f}]'.format(*c['ci95']),
                     *([f'{c["p_bh"]:.3f}'] if corrected else [])]
  return report.markdown_table(['a', 'b', 'explainers', *columns('Kendall τ-b'), *columns('Spearman ρ')], [
      [evaluations.SCORES[r['a']].label, evaluations.SCORES[r['b']].label, len(r['explainers']),
       *cells(r['kendall_tau']), *cells(r['spearman_rho'])] for r in rows])


def interval_text(record):
  """How a record's CIs were made: the two-level t interval of its design, or (records measured before it) the
  percentile interval of the nested two-level bootstrap."""
  seeds = len(record['seeds'])
  if 'design' not in record:
    return (f'95% percentile, {record["n_resamples"]} paired resamples ('
            + (f'{seeds} seeds: seeds resampled, then test examples within each drawn seed' if seeds > 1 else
               'one seed: the two-level bootstrap reduces to the example bootstrap') + ')')
  design = ('crossed: every seed scored the same test documents, so one example draw is shared by all seeds'
            if record['design'] == 'crossed' else 'nested: each seed scored its own documents')
  return (f'95% t intervals of a paired two-level bootstrap (metrics.two_level_interval; {seeds} seeds, '
          f'{record["examples"]} test examples, design {design}): the seed variance from {record["n_resamples"]} '
          f'resamples of the seeds, the examples\' from {record["n_resamples"]} resamples of the examples, degrees '
          'of freedom by Welch–Satterthwaite')


def render_pooled(record):
  explainers = record['rank_agreement'][0]['explainers'] if record['rank_agreement'] else []
  corrected = 'rank_agreement_without_baselines' in record  # measured with the two-level t interval
  return '\n'.join([
      f'# Agreement statistics with power, pooled over {", ".join(record["pool"])}', '',
      f'Command: `python -m experiments.agreement_stats {" ".join(record["arguments"])}`; measured '
      f'{record["measured"]}' + (f' with {provenance.versions_text(record["provenance"])}' if corrected else '')
      + ', from the resamples that agreement_stats_<corpus>.json of each corpus records '
      f'(seeds: ' + '; '.join(f'{c} {s}' for c, s in record['seeds'].items()) + ').', '',
      'Per evaluation pair, over the explainers every corpus scores (' + ', '.join(explainers) + '): the mean '
      'over corpora of the per-corpus Kendall τ-b and Spearman ρ; the CI is ' + (
          'the t interval of that mean from the corpora\'s two-level resamples (independent draws per corpus; '
          'metrics.two_level_interval with the fewest seeds and test examples of the pooled corpora), p (the '
          'statistic is 0) corrected by Benjamini–Hochberg over the table\'s evaluation pairs.' if corrected else
          'the percentile interval of that mean over the corpora\'s resamples (independent draws per corpus).'),
      '', rank_table(record['rank_agreement']),
      *(['', 'Without the baselines (uniform and random): over the explainers alone.', '',
         rank_table(record['rank_agreement_without_baselines'])] if 'rank_agreement_without_baselines' in record
        else []),
      *(['', '## Does the corpus change the verdict? One evaluation\'s ranking on two corpora', '',
         'Per evaluation and pair of corpora, over the explainers and baselines every corpus scores: Kendall τ-b '
         'between the two corpora\'s rankings, t interval from their independent two-level resamples, p (τ = 0) '
         'corrected by Benjamini–Hochberg over all the rows. τ = 1: the corpus does not change the ranking.', '',
         report.markdown_table(['evaluation', 'a', 'b', 'explainers', 'Kendall τ-b', '95% CI', 'p (BH)'], [
             [evaluations.SCORES[r['evaluation']].label, r['a'], r['b'], len(r['explainers']),
              f'{r["kendall_tau"]["value"]:+.3f}', '[{:+.3f}, {:+.3f}]'.format(*r['kendall_tau']['ci95']),
              f'{r["kendall_tau"]["p_bh"]:.3f}'] for r in record['between_corpora']])]
        if 'between_corpora' in record else [])]) + '\n'


def render(record):
  prov = record['provenance']
  sources = (f'Archives: {", ".join(record["archives"])} (experiments.reproduce\'s; seed {record["seeds"][0]} '
             'settings: ' if 'archives' in record else f'Runs: {", ".join(record["runs"])} (config.json in each; '
             f'seed {record["seeds"][0]} settings: ')
  corrected = 'design' in record
  lines = [f'# Agreement statistics with power ({record["corpus"]})', '',
           provenance.measured_text('python -m experiments.agreement_stats ' + ' '.join(record['arguments']),
                                    record['measured'], prov), '',
           sources + ', '.join(f'{k}={v}' for k, v in record['settings'].items() if k not in ('explainers',)) + ').',
           f'CIs: {interval_text(record)}; every explainer and '
           'evaluation reads the same draws. A score is the mean over seeds of the per-seed statistic (mean, '
           'or F1 for the weak learner). Deletion and ERASER read only their test subset.', '',
           '## 1. Scores and pairwise differences', '',
           'Pairs: a − b oriented (> 0: a more faithful); ' + (
               '"tie" when the pair\'s p, corrected by Benjamini–Hochberg over the evaluation\'s pairs (its '
               'family), is >= .05; the CIs shown are the uncorrected 95% ones.' if corrected else
               '"tie" when the CI covers 0.'), '']
  for evaluation, entry in record['evaluations'].items():
    label = evaluations.SCORES[evaluation].label
    order = sorted(entry['scores'], key=lambda n: -evaluations.SCORES[evaluation].orientation
                   * entry['scores'][n]['mean'])
    lines += [f'### {label}', '', 'Ranking (most faithful first): ' + ', '.join(
        f'{n} {ci(entry["scores"][n])}' for n in order), '']
    ties = [p for p in entry['pairs'] if p['verdict'] == 'tie']
    lines.append(f'{len(entry["pairs"]) - len(ties)} of {len(entry["pairs"])} pairs separated; ties: '
                 + ('; '.join(f'{p["a"]}–{p["b"]} {p["difference"]:+.3f} [{p["ci95"][0]:+.3f}, '
                              f'{p["ci95"][1]:+.3f}]' + (f' (p BH {p["p_bh"]:.3f})' if 'p_bh' in p else '')
                              for p in ties) or 'none') + '.')
    lines.append('')
  lines += ['## 2. Rank agreement between evaluations', '',
            'Over the explainers and baselines both evaluations score (|X| variants left out); CIs from the '
            'same resamples as the scores' + ('; p (the statistic is 0) corrected by Benjamini–Hochberg over the '
                                              'table\'s evaluation pairs.' if corrected else '.'), '',
            rank_table(record['rank_agreement'])]
  if 'rank_agreement_without_baselines' in record:
    lines += ['', 'Without the baselines (uniform and random, which every evaluation puts low and so inflate the '
              'agreement): over the explainers alone.', '', rank_table(record['rank_agreement_without_baselines'])]
  if 'leakage' not in record:  # measured from archives: the maps and classifiers are not in them
    return '\n'.join(lines) + '\n'
  lines += ['', '## 3. Label leakage: does the weak learner repeat the classifier?', '',
            '"follows when wrong": on the test examples the classifier gets wrong, the share where the weak '
            'learner predicts the classifier\'s (wrong) class. "fixed class": the weak learner retrained on maps '
            f'of class {FIXED_CLASS} instead of the predicted class (signed maps only; for a probability target '
            'the other class\'s map is the negated map), and its F1 minus the predicted-class one with a paired '
            'bootstrap CI.', '']
  table = []
  for r in record['leakage']:
    follows = ('—' if r['follows_classifier_when_wrong'] is None else
               f'{r["follows_classifier_when_wrong"]:.3f}' + (' [{:.3f}, {:.3f}]'.format(*r['follows_ci95'])
                                                              if r['follows_ci95'] else ''))
    fixed = r.get('fixed_class')
    table.append([r['seed'], r['explainer'], f'{r["f1"]:.3f}', f'{r["classifier_f1"]:.3f}',
                  f'{r["agrees_with_classifier"]:.3f}', r['classifier_wrong'], follows,
                  f'{fixed["agrees_with_classifier"]:.3f}' if fixed else '—',
                  (f'{fixed["follows_classifier_when_wrong"]:.3f}' if fixed['follows_classifier_when_wrong']
                   is not None else '—') if fixed else '—',
                  '{:+.3f} [{:+.3f}, {:+.3f}]'.format(r['fixed_minus_predicted_f1']['difference'],
                                                      *r['fixed_minus_predicted_f1']['ci95']) if fixed else '—'])
  lines += [report.markdown_table(['seed', 'explainer', 'weak F1', 'classifier F1', 'agrees with classifier',
                                   'classifier wrong', 'follows when wrong', 'fixed class: agrees',
                                   'fixed class: follows when wrong', 'fixed − predicted F1'], table), '',
            '## 4. What deletion removes: tokens that oppose the prediction', '',
            f'Per seed and explainer: mean deletion rate on the test subset; of the tokens removed before the '
            f'flip (all of them when none flips), the share whose {EFFECT} score (of the predicted class) is '
            'negative, i.e. whose removal raises the prediction; and that share among all tokens of those '
            'examples (what a random order removes on average). An example that never flips has every token '
            'removed, so its share is that of all its tokens; the last three columns keep only the examples that '
            'flip before their last token.', '',
            report.markdown_table(['seed', 'explainer', 'deletion rate', 'removed tokens', 'opposing share',
                                   'opposing among all tokens', 'flipping examples', 'opposing share (flipping)',
                                   'opposing among all tokens (flipping)'],
                                  [[r['seed'], r['explainer'], f'{r["deletion_rate"]:.3f}', r['removed'],
                                    f'{r["opposing"]:.3f}', f'{r["all_tokens"]:.3f}', r['flipped']['examples'],
                                    f'{r["flipped"]["opposing"]:.3f}', f'{r["flipped"]["all_tokens"]:.3f}']
                                   for r in record['opposing']])]
  if 'per_example' in record:  # records measured before this section render as they were
    rho = lambda c: report.signed_with_ci(c['rho'], c['low'], c['high'])
    lines += ['', '## 5. Per example: do deletion and the shuffle test agree on which documents are explained '
              'faithfully?', '',
              'Spearman ρ between −deletion rate and shuffle TVD over the test examples deletion measured '
              '(bootstrap 95% CI over examples, 1000 resamples), and the partial ρ with document length and '
              'the classifier\'s margin (top-1 minus top-2 probability) partialled out of the ranks. The random '
              'map is the null: its ρ is what length and margin alone make the two evaluations share.', '',
              report.markdown_table(['seed', 'explainer', 'examples', 'ρ', 'partial ρ (length, margin)'],
                                    [[r['seed'], r['explainer'] + (' (null)' if r['explainer'] == 'random' else ''),
                                      r['examples'], rho(r['rho']), rho(r['partial_rho'])]
                                     for r in record['per_example']])]
  return '\n'.join(lines) + '\n'


def measure_record():
  """The JSON record of this invocation: one corpus from --runs, or --pool's corpora pooled."""
  common = {'corpus': FLAGS.corpus, 'arguments': sys.argv[1:], 'measured': provenance.now(),
            'provenance': provenance.record()}
  if FLAGS.pool:
    missing = [c for c in FLAGS.pool if not os.path.exists(os.path.join(FLAGS.scored_dir, f'{c}.npz'))]
    if missing:
      raise FaithjaxError(f'no resampled scores for {", ".join(missing)} in {FLAGS.scored_dir}; run '
                          'agreement_stats on each corpus first')
    scored = pooled([load_scored(os.path.join(FLAGS.scored_dir, f'{c}.npz')) for c in FLAGS.pool])
    records = {c: io.read_json(os.path.join(FLAGS.out, f'agreement_stats_{c}.json')) for c in FLAGS.pool}
    layout = (min(len(r['seeds']) for r in records.values()), min(r['examples'] for r in records.values()),
              'crossed' if all(r['design'] == 'crossed' for r in records.values()) else 'nested')
    return {**common, 'pool': FLAGS.pool, 'seeds': {c: r['seeds'] for c, r in records.items()},
            'rank_agreement': rank_agreements(scored, layout),
            'rank_agreement_without_baselines': rank_agreements(scored, layout, baselines=False),
            'between_corpora': corpus_agreements(scored, FLAGS.pool, layout)}
  if FLAGS.archives:
    return {**common, 'archives': FLAGS.archives, 'n_resamples': FLAGS.n_resamples,
            **measure([evaluated_runs.ArchivedRun(path) for path in FLAGS.archives])}
  if not FLAGS.runs:
    raise FaithjaxError('pass --runs (evaluated workdirs) or --archives (seed archives), one per seed')
  config_lib.enable_compile_cache(FLAGS.compile_cache)
  return {**common, 'runs': FLAGS.runs, 'n_resamples': FLAGS.n_resamples,
          **measure([evaluated_runs.Run(root) for root in FLAGS.runs])}


def main(argv):
  del argv  # flags only
  if not FLAGS.corpus:
    raise FaithjaxError('pass --corpus: the name the report is written under')
  stem = os.path.join(FLAGS.out, f'agreement_stats_{FLAGS.corpus}')
  if not FLAGS.summary_only:
    io.write_json(stem + '.json', measure_record())
  record = io.read_json(stem + '.json')
  io.write_text(stem + '.md', (render_pooled if 'pool' in record else render)(record))
  print(f'wrote {stem}.md')


if __name__ == '__main__':
  logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
  cli.run(main)
