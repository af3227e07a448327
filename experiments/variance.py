"""How much does the dataset change an evaluation's verdict? Variance components over the seed archives.

  python -m experiments.variance  # every evaluation, the committed 5-seed CPU archives, both scales
  python -m experiments.variance --evaluations=deletion_rate --scales=z
  python -m experiments.variance --summary_only  # rebuild variance_all.md from its JSON

Reads the seed archives of experiments.reproduce (<archives>/<corpus>-seed<k>.npz and .json, through
evaluated_runs.ArchivedRun), builds for each evaluation a long table of oriented per-example scores
(higher = more faithful; explainer, corpus, seed, example), and splits it with faithjax.variance into explainer,
explainer x corpus, explainer x seed, explainer x example and residual parts (plus the seed and example parts
every explainer shares), with bootstrap CIs, the share of the explainer-related variance between corpora that is
explainer x corpus, and the explainer pairs whose order flips between corpora. The weak learner's F1 is not a
mean over examples: its per-example unit is whether the weak learner predicts the label (its mean: accuracy).
Writes <out>/variance_<evaluation, or all>.{json,md}.
"""

import dataclasses
import glob
import itertools
import os
import re
import sys

from absl import flags
import numpy as np

from faithjax import FaithjaxError
from faithjax import cli
from faithjax import explain
from faithjax import io
from faithjax import provenance
from faithjax import report
from faithjax import variance
from faithjax.faithfulness import evaluations
from experiments import evaluated_runs

FLAGS = flags.FLAGS


def define_flags():
  """The command line's flags, defined only when it runs: absl refuses a flag name defined by two modules, so
  the tests can import this module beside the other experiments."""
  flags.DEFINE_string('archives', 'experiments/results/reproduction_cpu_seeds', 'Seed archives: <corpus>-seed<k>.npz.')
  flags.DEFINE_list('corpora', ['sst', 'ag_news', '20news', 'imdb'], 'Corpora, each with the same seeds archived.')
  flags.DEFINE_list('evaluations', list(evaluations.SCORES), 'Evaluations (evaluations.SCORES names).')
  flags.DEFINE_list('scales', ['z', 'rank'], f'Scales (variance.SCALES: {", ".join(variance.SCALES)}).')
  flags.DEFINE_integer('n_resamples', 2000, 'Bootstrap resamples (seeds within corpus x examples within corpus).')
  flags.DEFINE_string('out', 'experiments/results', 'Where the report goes.')
  flags.DEFINE_bool('summary_only', False, 'Only rebuild the md from the JSON in --out.')


SCALE_TEXT = {'z': 'standardised within corpus (each corpus: mean 0, sd 1 over its rows)',
              'rank': 'explainers ranked within each (corpus, seed, example), average ranks for ties',
              'raw': 'as archived'}


def archived_runs(directory: str, corpora: list) -> dict:
  """{corpus: [evaluated_runs.ArchivedRun per seed, by seed]}; every corpus must have archives."""
  runs = {}
  for corpus in corpora:
    seeds = {}  # seed -> archive; not the archives' meta-evaluation parts (<corpus>-seed<k>.meta.npz)
    for path in glob.glob(os.path.join(directory, f'{corpus}-seed*.npz')):
      if match := re.fullmatch(rf'{re.escape(corpus)}-seed(\d+)\.npz', os.path.basename(path)):
        seeds[int(match[1])] = path
    paths = [seeds[seed] for seed in sorted(seeds)]
    if not paths:
      raise FaithjaxError(f'no archive of {corpus!r} in {directory}')
    runs[corpus] = [evaluated_runs.ArchivedRun(p) for p in paths]
  return runs


def per_example(run: evaluated_runs.EvaluatedRun, spec: evaluations.Score, name: str) -> np.ndarray:
  """[n_test] one map's per-example score (NaN where not measured): the evaluation's per-example array, or for one
  summarised otherwise (the weak learner's F1 over (label, prediction)) whether the units agree."""
  units = run.units(spec, name)
  return units[0] if len(units) == 1 else (units[0] == units[1]).astype(np.float64)


# Which maps a decomposition reads: all of them, or the explainers alone (the random map, last under every
# evaluation on every corpus, makes a large explainer main effect by itself).
MAP_SETS = {'all maps': lambda names: names,
            'without baselines': lambda names: [n for n in names if n not in explain.baseline_names()]}


def long_table(runs_by_corpus: dict, evaluation: str, maps: str) -> dict:
  """variance.cubes' long table of an evaluation: oriented scores of the maps of MAP_SETS[maps] that every run
  has, one row per (map, corpus, seed, measured example); example ids are test indices (shared by a corpus's
  seeds)."""
  spec = evaluations.SCORES[evaluation]
  runs = [r for rs in runs_by_corpus.values() for r in rs]
  maps = MAP_SETS[maps]([n for n in (*runs[0].config.explainers, *explain.baseline_names())
                         if all(r.has(spec.section, n) for r in runs)])
  columns = {k: [] for k in variance.COLUMNS}
  for corpus, corpus_runs in runs_by_corpus.items():
    for run in corpus_runs:
      for name in maps:
        score = per_example(run, spec, name)
        measured = np.flatnonzero(~np.isnan(score))
        for key, value in (('score', evaluations.oriented(evaluation, score[measured])), ('example', measured),
                           ('explainer', [name] * len(measured)), ('corpus', [corpus] * len(measured)),
                           ('seed', [run.config.seed] * len(measured))):
          columns[key].append(np.asarray(value))
  return {k: np.concatenate(v) for k, v in columns.items()}


def measured(decomposition: variance.Decomposition) -> dict:
  """The JSON record of one decomposition: its fields but the resampled means, and its rankings_compared."""
  record = {f.name: getattr(decomposition, f.name) for f in dataclasses.fields(decomposition) if f.name != 'boot_means'}
  ranking = variance.rankings_compared(decomposition)
  ranking['pairs'] = [{**p, 'pair': ' vs '.join(p['pair'])} for p in ranking['pairs']]
  for key in ('flips', 'same_everywhere'):
    ranking[key] = [' vs '.join(pair) for pair in ranking[key]]
  return {**record, 'ranking': ranking}


def run_commands(runs_by_corpus: dict) -> dict:
  """{corpus: the command of its first archived seed}: every reduction its runs ran under is one of its flags."""
  return {corpus: runs[0].command() for corpus, runs in runs_by_corpus.items()}


def measure_record() -> dict:
  runs = archived_runs(FLAGS.archives, FLAGS.corpora)
  results = []
  for evaluation, maps in itertools.product(FLAGS.evaluations, MAP_SETS):
    table = long_table(runs, evaluation, maps)
    io.log(f'{evaluation}, {maps}: {len(table["score"])} rows')
    results.append({'evaluation': evaluation, 'maps': maps,
                    'scales': {s: measured(variance.decompose(table, s, FLAGS.n_resamples)) for s in FLAGS.scales}})
  return {'command': ' '.join(['python -m experiments.variance', *sys.argv[1:]]), 'measured': provenance.now(),
          'provenance': provenance.record(), 'archives': FLAGS.archives, 'n_resamples': FLAGS.n_resamples,
          'seeds': {c: [r.config.seed for r in rs] for c, rs in runs.items()}, 'commands': run_commands(runs),
          'results': results}


def share_cell(d: dict) -> str:
  """The share with its CI, flagged where neither part it compares is distinguishable from 0."""
  empty = all(d['ci95'][name][0] <= 0 for name in variance.COMPONENTS[:2])
  return report.with_ci(d['interaction_share'], d['interaction_share_ci95']) + (' (both parts 0 within CI)' * empty)


def component_cell(value: float, ci95: list) -> str:
  """3 significant digits: the components span 1e-4 to 1."""
  return f'{value:.3g} [{ci95[0]:.3g}, {ci95[1]:.3g}]'


def ranking_cell(d: dict) -> str:
  r = d['ranking']
  return f'{len(r["flips"])} flip / {len(r["same_everywhere"])} same / {r["n_pairs"]}'


def evaluation_label(evaluation: str) -> str:
  """The evaluation's label, saying what is decomposed where it is not a mean over examples (per_example)."""
  spec = evaluations.SCORES[evaluation]
  return spec.label + (' (decomposed: whether the weak learner predicts the label, a mean of accuracy)'
                       if spec.units else '')


def evaluation_section(evaluation: str, maps: str, by_scale: dict) -> list:
  first = next(iter(by_scale.values()))
  lines = [f'## {evaluation_label(evaluation)}, {maps}', '',
           f'Maps: {", ".join(first["explainers"])}; examples per corpus: '
           + ', '.join(f'{c} {n}' for c, n in first['examples'].items()) + '.', '',
           'Variance components (per row, on each scale; 95% CI: estimate ± 1.96 bootstrap SE; negative: 0 within '
           'noise):', '',
           report.markdown_table(['component', *by_scale],
                                 [[name, *('0 (by the scale)' if name in variance.SCALES[s].zero else
                                           component_cell(d['components'][name], d['ci95'][name])
                                           for s, d in by_scale.items())] for name in variance.COMPONENTS])]
  for scale, d in by_scale.items():
    flips = ', '.join(d['ranking']['flips']) or 'none'
    tied = '; '.join(f'{p["pair"]} on {", ".join(c for c, o in p["order"].items() if o == 0)}'
                     for p in d['ranking']['pairs'] if 0 in p['order'].values()) or 'none'
    lines += ['', f'Scale {scale}: explainer x corpus is {share_cell(d)} of the explainer-related variance between '
              f'corpora; pairs flipped between corpora: {flips}; ties (Holm): {tied}.', '',
              report.markdown_table(['corpus', *d['explainers']],
                                    [[c, *means] for c, means in zip(d['corpora'], d['explainer_means'])])]
  return lines


def render(record: dict) -> str:
  scales = [s for s in variance.SCALES if s in record['results'][0]['scales']]
  results = [(r['evaluation'], r['maps'], {s: r['scales'][s] for s in scales}) for r in record['results']]
  lines = ['# How much does the dataset change the verdict? Variance components of each evaluation', '',
           provenance.measured_text(record['command'], record['measured'], record['provenance']), '',
           f'Archives: `{record["archives"]}`; seeds: '
           + '; '.join(f'{c} {",".join(map(str, s))}' for c, s in record['seeds'].items())
           + f'; {record["n_resamples"]} bootstrap resamples.', '',
           *(['Runs (each corpus\'s first seed\'s command; a named reduction is one of its flags): '
              + '; '.join(f'{c} `{command}`' for c, command in record['commands'].items()) + '.', '']
             if record.get('commands') else []),  # records before 2026-12-07 did not keep them
           'Scores oriented (higher = more faithful). Scales: '
           + '; '.join(f'**{s}**: {SCALE_TEXT[s]}' for s in scales) + '. '
           'Components: balanced-ANOVA (expected mean squares) estimators within corpus (explainer × seed × '
           'example crossed; seeds and examples nested in corpus), and a two-way explainer × corpus ANOVA of the '
           'corpora\'s explainer means with each corpus\'s seed and example noise subtracted. '
           '"explainer" is a verdict that holds on every corpus; "explainer x corpus" is the dataset changing it. '
           'Bootstrap: seeds resampled within corpus, crossed with one draw of test examples within corpus shared '
           'by all seeds and maps; explainers and the four corpora fixed (intervals are conditional on them). '
           'Component intervals: estimate ± 1.96 bootstrap SE; on simulated data they cover at about 95% for '
           'explainer, explainer × corpus, their share and explainer × seed, about 85% for seed, and '
           'conservatively for the example-level parts (tests/test_variance.py, slow coverage test). '
           'Pair orders: a pair is ordered on a corpus when its p-value (normal, from the bootstrap SE of the '
           'difference) survives Holm over all pairs × corpora, else a tie; a flip is a pair ordered both ways on '
           'two corpora.', '',
           '| evaluation | maps | ' + ' | '.join(f'explainer x corpus share ({s})' for s in scales) + ' | '
           + ' | '.join(f'pairs ({s})' for s in scales) + ' |', '|---|---|' + '---|' * 2 * len(scales)]
  for evaluation, maps, by_scale in results:
    lines.append(f'| {evaluation_label(evaluation)} | {maps} | '
                 + ' | '.join([share_cell(d) for d in by_scale.values()] + [ranking_cell(d) for d in by_scale.values()])
                 + ' |')
  lines += ['', 'Share: explainer × corpus / (explainer + explainer × corpus), both clipped at 0, percentile 95% CI. '
            'Pairs: flipped between corpora / ordered the same way on every corpus / all pairs.']
  for evaluation, maps, by_scale in results:
    lines += [''] + evaluation_section(evaluation, maps, by_scale)
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv  # flags only
  unknown = set(FLAGS.evaluations) - set(evaluations.SCORES) | set(FLAGS.scales) - set(variance.SCALES)
  if unknown:
    raise FaithjaxError(f'unknown --evaluations or --scales: {", ".join(sorted(unknown))}')
  name = FLAGS.evaluations[0] if len(FLAGS.evaluations) == 1 else 'all'
  stem = os.path.join(FLAGS.out, f'variance_{name}')
  if not FLAGS.summary_only:
    io.write_json(stem + '.json', measure_record())
  io.write_text(stem + '.md', render(io.read_json(stem + '.json')))
  print(f'wrote {stem}.md')


if __name__ == '__main__':
  define_flags()
  cli.run(main)
