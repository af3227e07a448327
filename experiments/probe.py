"""The map-property probe (issue 15, item 3): what does each evaluation reward?

  python -m experiments.probe --seeds=0,1,2,3,4 --preset=smoke

On the synthetic corpus the planted evidence tokens are the true rationale. Per
seed: the classifier is trained (pipeline stages encode and train, in
<runs_dir>/seed<N>), the maps of faithjax/faithfulness/probe_maps.py are built
on every split (ground truth, its sign flip, noise levels, top-k sparsified and
random top-k, temperatures, attention-like, truth's values at random places)
and every evaluation of the registry runs on each of them and on the uniform
and random baselines (pipeline.evaluate_maps, in <runs_dir>/seed<N>/probe; a
killed run resumes). Contrasts between maps that differ in one property get a
paired bootstrap 95% CI over the seeds' test examples pooled.

Writes <out>/probe_synthetic.json, probe_synthetic.md and one response-curve
figure per evaluation, probe_synthetic_<evaluation>.png.
"""

import os

from absl import flags
from absl import logging
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

from faithjax import cli  # pylint: disable=wrong-import-position
from faithjax import config as config_lib  # pylint: disable=wrong-import-position
from faithjax import explain
from faithjax import io
from faithjax import pipeline
from faithjax import plugins
from faithjax import provenance
from faithjax import report
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.faithfulness import evaluations
from faithjax.faithfulness import probe_maps

FLAGS = flags.FLAGS
config_lib.define_compile_cache_flag()
flags.DEFINE_list('seeds', ['0', '1', '2', '3', '4'], 'One classifier (and one draw of the random maps) per seed.')
config_lib.define_preset_flag('smoke', of=' per seed')
flags.DEFINE_string('runs_dir', 'runs/probe/synthetic', 'Parent of the per-seed workdirs.')
flags.DEFINE_string('out', 'experiments/results', 'Where the report goes.')
flags.DEFINE_bool('summary_only', False, 'Only rebuild probe_synthetic.md from the probe_synthetic.json in --out.')

STEM = 'probe_synthetic'
MAPS = probe_maps.NAMES
# Pairs of maps that differ in one property: (property, a, b); a difference > 0 means the evaluation prefers a.
CONTRASTS = (
    ('sign: truth vs truth flipped', 'truth', 'truth_flipped'),
    ('location: truth vs its values at random places', 'truth', 'random_like_truth'),
    ('noise: sigma 0.1 vs 4', 'noise_0.1', 'noise_4'),
    ('sparsity: top-1 vs top-16 of the base', 'topk_1', 'topk_16'),
    ('location at matched sparsity: top-4 vs random top-4', 'topk_4', 'random_topk_4'),
    ('concentration: temperature 0.25 vs 4', 'temperature_0.25', 'temperature_4'),
    ('attention form: softmax of the base vs the base', 'attention_like', probe_maps.BASE),
    ('truth vs the random baseline', 'truth', 'random'),
)
FAMILY_AXES = {'noise': 'noise sigma', 'topk': 'k (top-k kept)', 'temperature': 'temperature'}


def run_seed(seed):
  """Trains the seed's classifier and evaluates every probe map: (test report, evaluate summary, probe Workdir)."""
  config = config_lib.make_config('synthetic', preset=FLAGS.preset, seed=seed)
  root = os.path.join(FLAGS.runs_dir, f'seed{seed}')
  io.log(f'== seed {seed} -> {root}')
  results = pipeline.run_pipeline(config, root, ('encode', 'train'))
  work = workdir_lib.Workdir(os.path.abspath(root))
  corpus = encode.EncodedCorpus.load(work.corpus)
  model, params = pipeline.load_classifier(config, work, corpus)
  maps = probe_maps.split_maps(corpus, seed)
  out = workdir_lib.Workdir(work.path('probe'))
  summary = pipeline.evaluate_maps(config, corpus, model, params, out, [*MAPS, *explain.baseline_names()],
                                   lambda name: maps.get(name))
  return results['stages']['train']['test'], summary, out


def scores(summaries):
  """{evaluation: {map: [mean per seed]}} from the seeds' evaluate summaries."""
  table = {}
  for evaluation, spec in evaluations.SCORES.items():
    for name in (*MAPS, *explain.baseline_names()):
      cells = [spec.cell(summary, name) for summary in summaries]
      if all(cells):
        table.setdefault(evaluation, {})[name] = [c['mean'] for c in cells]
  return table


def contrasts(outs):
  """[evaluation, property, a, b, oriented difference, low, high, pooled examples] over the seeds' probe dirs."""
  rows = []
  for evaluation, spec in evaluations.SCORES.items():
    if not spec.resampled:
      continue
    for label, a, b in CONTRASTS:
      if not all(plugins.EVALUATIONS[spec.section].applies(n) for n in (a, b)):
        continue
      saved = [[io.load_npz(out.evaluation(spec.section, n)) for out in outs] for n in (a, b)]
      result = spec.difference(*saved)
      rows.append([evaluation, label, a, b, result['difference'], *result['ci95'], result['n']])
  return rows


def measure():
  seeds = list(map(int, FLAGS.seeds))
  runs = [run_seed(seed) for seed in seeds]
  return {'corpus': 'synthetic', 'preset': FLAGS.preset, 'seeds': seeds, 'runs_dir': FLAGS.runs_dir,
          'measured': provenance.now(), 'provenance': provenance.record(),
          'classifier': [[seed, test['accuracy'], test['f1']] for seed, (test, _, _) in zip(seeds, runs)],
          'scores': scores([summary for _, summary, _ in runs]),
          'contrasts': contrasts([out for _, _, out in runs])}


def response_figure(record, evaluation, path):
  """One evaluation's response to each property: a panel per family (mean over seeds, min-max bars), and the
  single maps and baselines as points."""
  spec, values = evaluations.SCORES[evaluation], record['scores'][evaluation]
  fig, axes = plt.subplots(1, 4, figsize=(15, 3.4), sharey=True)

  def plot(ax, points, label):
    xs = [x for x, name in points if name in values]
    means = np.array([np.mean(values[name]) for x, name in points if name in values])
    spread = np.array([[np.mean(values[n]) - min(values[n]), max(values[n]) - np.mean(values[n])]
                       for x, n in points if n in values]).T
    ax.errorbar(xs, means, yerr=spread, marker='o', capsize=3, label=label)

  for ax, family in zip(axes, FAMILY_AXES):
    plot(ax, probe_maps.FAMILIES[family], family.replace('_', ' '))
    if family == 'topk':
      plot(ax, probe_maps.FAMILIES['random_topk'], 'random top-k (same values, random places)')
      ax.legend(fontsize=7)
    ax.set_xscale('log')
    ticks = [x for x, _ in probe_maps.FAMILIES[family]]
    ax.set_xticks(ticks, [f'{x:g}' for x in ticks])
    ax.minorticks_off()
    ax.set_xlabel(FAMILY_AXES[family])
  singles = [n for n in (*probe_maps.SINGLE, *explain.baseline_names()) if n in values]
  axes[-1].errorbar(range(len(singles)), [np.mean(values[n]) for n in singles],
                    yerr=np.array([[np.mean(values[n]) - min(values[n]), max(values[n]) - np.mean(values[n])]
                                   for n in singles]).T, fmt='o', capsize=3)
  axes[-1].set_xticks(range(len(singles)), [n.replace('_', ' ') for n in singles], rotation=30, ha='right')
  axes[0].set_ylabel(f'{spec.label} ({"higher" if spec.orientation > 0 else "lower"} = more faithful)', fontsize=8)
  fig.suptitle(f'{spec.label} of constructed maps on synthetic ({len(record["seeds"])} seeds, preset '
               f'{record["preset"]})', fontsize=10)
  io.save_figure(fig, path)


def rewards(record, evaluation):
  """One sentence: the contrasts the evaluation separates (CI excludes 0), largest first, and those it does not."""
  rows = sorted((r for r in record['contrasts'] if r[0] == evaluation), key=lambda r: -abs(r[4]))
  if not rows:
    return f'- **{evaluations.SCORES[evaluation].label}**: no contrast measured.'
  separated = [f'{r[1]} ({report.signed_with_ci(*r[4:7])})' for r in rows if r[5] > 0 or r[6] < 0]
  blind = [f'{r[1]} ({r[4]:+.3f})' for r in rows if r[5] <= 0 <= r[6]]
  return (f'- **{evaluations.SCORES[evaluation].label}** separates: ' + ('; '.join(separated) or 'nothing')
          + '. Does not separate (CI covers 0): ' + ('; '.join(blind) or 'nothing') + '.')


def render(record):
  seeds, prov = record['seeds'], record['provenance']
  names = [n for n in (*MAPS, *explain.baseline_names())]
  measured = list(record['scores'])
  lines = [
      '# Map-property probe (synthetic): what does each evaluation reward?', '',
      f'Command: `python -m experiments.probe --seeds={",".join(map(str, seeds))} --preset={record["preset"]}`; '
      f'measured {record["measured"]} on {prov["device"]["kind"]} ({prov["device"]["processor"]}); '
      + provenance.versions_text(prov) + '.', '',
      f'Settings per seed: the synthetic defaults of faithjax/config.py with preset `{record["preset"]}` '
      f'(config.json in {record["runs_dir"]}/seed*/); {len(seeds)} seeds, each its own classifier and its own '
      'draw of the random maps, one data split. Maps: faithjax/faithfulness/probe_maps.py. The base is truth + '
      f'{probe_maps.BASE_NOISE} N(0, 1) noise (`{probe_maps.BASE}`); the top-k, temperature and attention-like '
      'maps are built from it, so each differs from it (or from the truth) in one property. Temperature t maps '
      's to sign(s)|s|^(1/t) and softmax keeps the ranking, so deletion and ERASER (which read only the '
      'ranking) cannot tell those maps from the base.', '',
      '## The classifiers', '',
      report.markdown_table(['seed', 'test accuracy', 'test F1'], record['classifier']), '',
      '## Every map under every evaluation (mean over seeds [min, max])', '',
      report.markdown_table(['map'] + [evaluations.SCORES[e].label for e in measured],
                            [[n] + [(f'{np.mean(record["scores"][e][n]):.3f} [{min(record["scores"][e][n]):.3f}, '
                                     f'{max(record["scores"][e][n]):.3f}]') if n in record['scores'][e] else None
                                    for e in measured] for n in names]), '',
      '## Contrasts: maps that differ in one property', '',
      'Oriented difference a − b (> 0: the evaluation finds a more faithful), with a paired percentile '
      'bootstrap 95% CI (scipy.stats.bootstrap, 1000 resamples) over the test examples of all seeds pooled '
      '(the weak learner: its F1 over the pooled (label, prediction) pairs).', '',
      report.markdown_table(['evaluation', 'property', 'a', 'b', 'a − b', 'low', 'high', 'examples'],
                            record['contrasts']), '',
      '## What each evaluation rewards', '']
  lines += [rewards(record, e) for e in measured]
  lines += ['', '## Response curves', '']
  lines += [f'![{e}]({STEM}_{e}.png)' for e in measured]
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv
  config_lib.enable_compile_cache(FLAGS.compile_cache)
  stem = os.path.join(FLAGS.out, STEM)
  if not FLAGS.summary_only:
    os.makedirs(FLAGS.out, exist_ok=True)
    io.write_json(stem + '.json', measure())
  record = io.read_json(stem + '.json')
  for evaluation in record['scores']:
    response_figure(record, evaluation, f'{stem}_{evaluation}.png')
  io.write_text(stem + '.md', render(record))
  print(f'wrote {stem}.md')


if __name__ == '__main__':
  logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
  cli.run(main)
