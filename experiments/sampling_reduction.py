"""What a named reduction changes: two archives of one seed, one at the study's settings and one reduced (e.g.
KernelSHAP and LIME at 50 samples, `experiments/study.sh`'s AG News flags), every map's every score side by side.

  python -m experiments.sampling_reduction --base=ARCHIVE --reduced=ARCHIVE --out=experiments/results/NAME

The two must be one classifier (the same predictions) on the same test documents, their configs differing in
explainer options only; the maps of the explainers the reduction does not change give the two runs' float noise
(their largest difference). For each map it changes and each score: both values, the oriented
difference (reduced − base, > 0: the reduced map is more faithful) with the paired bootstrap 95% CI over the test
examples (`evaluations.Score.difference`), and the map's rank among all maps under each. Writes
<out>.{json,md}.
"""

import sys

from absl import flags
import numpy as np

from faithjax import FaithjaxError
from faithjax import cli
from faithjax import explain
from faithjax import io
from faithjax import provenance
from faithjax import runs as runs_lib
from faithjax.faithfulness import evaluations

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string('base', None, 'The archive at the study\'s settings (<corpus>-seed<k>.npz).')
  flags.DEFINE_string('reduced', None, 'The same seed\'s archive under the reduction.')
  flags.DEFINE_string('out', None, 'Output path without extension: <out>.json and <out>.md.')


def checked(base: runs_lib.EvaluatedRun, reduced: runs_lib.EvaluatedRun) -> list[str]:
  """The reduction's settings ('setting: base vs reduced'), after checking the two archives are one classifier on
  one test split, differing in explainer options only (one line each)."""
  differences = base.config.differences(reduced.config, ignore=())
  other = [d for d in differences if not d.startswith('explainer.')]
  if other:
    raise FaithjaxError(f'the archives differ in more than explainer options ({"; ".join(other)}); pass one seed '
                        'at two explainer settings')
  if not np.array_equal(base.labels, reduced.labels) or not np.array_equal(
      base.classifier_predictions(), reduced.classifier_predictions()):
    raise FaithjaxError('the archives hold different classifiers or test splits (their predictions differ); pass '
                        'one seed whose training is repeatable')
  return differences


def touched(settings: list[str], name: str) -> bool:
  """Whether the reduction's settings ('explainer.<base>.<option>: ...') change the explainer of map `name`."""
  return any(s.startswith(f'explainer.{explain.base_name(name)}.') for s in settings)


def ranks(run: runs_lib.EvaluatedRun, score: str, names: list) -> dict:
  """{map: its rank among `names` under `score`, 1 = most faithful}."""
  spec = evaluations.SCORES[score]
  summary = run.results()['stages']['evaluate']
  values = {n: spec.orientation * cell['mean'] for n in names if (cell := spec.cell(summary, n)) is not None}
  order = sorted(values, key=values.get, reverse=True)
  return {n: order.index(n) + 1 for n in values}


def compare(base: runs_lib.EvaluatedRun, reduced: runs_lib.EvaluatedRun) -> dict:
  """The record: the reduction, one row per (score, map of an explainer it changes), and the largest difference of
  a map it does not change (the two runs' float noise: the same programs on the same classifier, run again)."""
  settings = checked(base, reduced)
  names = [n for n in base.config.explainers if n in reduced.config.explainers]
  rows, floor = [], {'difference': 0., 'score': None, 'map': None}
  for score, spec in evaluations.SCORES.items():
    measured = [n for n in names if base.has(spec.section, n) and reduced.has(spec.section, n)]
    all_maps = [n for n in measured + list(explain.baseline_names()) if base.has(spec.section, n)]
    rank_base, rank_reduced = ranks(base, score, all_maps), ranks(reduced, score, all_maps)
    for name in measured:
      difference = spec.difference([reduced.saved(spec.section, name)], [base.saved(spec.section, name)])
      if not touched(settings, name):
        if abs(difference['difference']) > abs(floor['difference']):
          floor = {'difference': difference['difference'], 'score': score, 'map': name}
        continue
      cells = [spec.cell(run.results()['stages']['evaluate'], name) for run in (base, reduced)]
      rows.append({'score': score, 'map': name, 'base': cells[0]['mean'], 'reduced': cells[1]['mean'],
                   'difference': difference['difference'], 'ci95': difference['ci95'], 'p': difference['p'],
                   'examples': difference['n'], 'rank_base': rank_base[name], 'rank_reduced': rank_reduced[name],
                   'maps_ranked': len(rank_base)})
  return {'corpus': base.config.corpus, 'seed': base.config.seed, 'reduction': settings,
          'untouched': [n for n in names if not touched(settings, n)], 'untouched_largest': floor, 'rows': rows}


def render(record: dict) -> str:
  floor = record['untouched_largest']
  lines = [f'# What the reduction changes: {record["corpus"]}, seed {record["seed"]}', '',
           f'Command: `{record["command"]}`; measured {record["measured"]}.', '',
           'The reduction (base vs reduced): ' + ('; '.join(f'`{s}`' for s in record['reduction']) or 'none')
           + '. One classifier on one test split (the same predictions). The maps of the explainers it does not '
           f'change ({", ".join(record["untouched"]) or "none"}) move by at most {floor["difference"]:+.2e} '
           f'({floor["score"]}, {floor["map"]}): the two runs\' float noise.', '',
           'Difference: oriented (> 0: the reduced map is more faithful), reduced − base, with the paired bootstrap '
           '95% CI over the test examples; one that covers 0 is a tie. Rank: among all maps under the score, '
           '1 = most faithful.', '',
           '| score | map | base | reduced | difference [95% CI] | rank base → reduced |', '|---|---|---|---|---|---|']
  for r in record['rows']:
    low, high = r['ci95']
    tie = ' (tie)' if low <= 0 <= high else ''
    lines.append(f'| {r["score"]} | {r["map"]} | {r["base"]:.4f} | {r["reduced"]:.4f} | {r["difference"]:+.4f} '
                 f'[{low:+.4f}, {high:+.4f}]{tie} | {r["rank_base"]} → {r["rank_reduced"]} of {r["maps_ranked"]} |')
  return '\n'.join(lines) + '\n'


def main(argv):
  if len(argv) > 1:
    raise FaithjaxError(f'unexpected arguments {" ".join(argv[1:])}')
  if not (FLAGS.base and FLAGS.reduced and FLAGS.out):
    raise FaithjaxError('pass --base=ARCHIVE --reduced=ARCHIVE --out=PATH')
  record = {**compare(runs_lib.read_run(FLAGS.base), runs_lib.read_run(FLAGS.reduced)),
            'command': 'python -m experiments.sampling_reduction ' + ' '.join(sys.argv[1:]),
            'measured': provenance.now(), 'provenance': provenance.record()}
  io.write_json(FLAGS.out + '.json', record)
  io.write_text(FLAGS.out + '.md', render(record))
  print(FLAGS.out + '.md')


if __name__ == '__main__':
  define_flags()
  cli.run(main)
