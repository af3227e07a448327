"""The sign control (issue 15, item 2): which evaluation rewards a signed map, and by how much?

  python -m experiments.sign_control --corpus=synthetic --preset=smoke
  python -m experiments.sign_control --corpus=sst --preset=cpu --emb_dim=64 --hidden=64 --att_hidden=64 \
      --epochs=2 --explainer.integrated_gradients.steps=10 --weak_epochs=2 --test_subset=500 --permutations=50 \
      --explainers=saliency,input_x_gradient,integrated_gradients,attention,gradient_shap

Every RunConfig flag of run.py applies. The pipeline runs to its explain stage
in --workdir (default runs/sign_control/<corpus>/seed<seed>); then every
explainer's map X and its |X| (explain.TRANSFORMS['abs'], stored as the maps of
'X.abs') go through every evaluation of the registry, the weak learner and the
shuffle test once with L2 and once with L1 normalisation (pipeline.evaluate_maps,
in <workdir>/sign_control/<norm>; a killed run resumes). Where |X| is the same
input as X (X has no negative value; or under L1, which normalises |X| anyway)
its results are X's, not recomputed: the difference is 0 by construction.

Writes <out>/sign_control_<corpus>.json and .md: per evaluation and explainer,
signed and |·| scores and the oriented difference with a paired bootstrap 95% CI.
"""

import dataclasses
import os
import sys

from absl import flags
from absl import logging

from faithjax import cli
from faithjax import config as config_lib
from faithjax import io
from faithjax import pipeline
from faithjax import plugins
from faithjax import provenance
from faithjax import report
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.faithfulness import evaluations
from faithjax.faithfulness import weak_learner

FLAGS = flags.FLAGS
config_lib.define_compile_cache_flag()
config_lib.define_preset_flag('full')
flags.DEFINE_string('workdir', None, 'The run (default runs/sign_control/<corpus>/seed<seed>). Re-running resumes.')
flags.DEFINE_string('out', 'experiments/results', 'Where the report goes.')
flags.DEFINE_bool('summary_only', False, 'Only rebuild sign_control_<corpus>.md from its JSON in --out.')
cli.define_config_flags()

NORM_SECTIONS = ('weak_learner', 'shuffle')  # the sections whose input the weak learner's normalisation changes


def absolute(name):
  return f'{name}.abs'


def measure(config, root):
  """Runs the pipeline to its maps and every evaluation of signed and |·| maps under both norms."""
  pipeline.run_pipeline(config, root, ('encode', 'train', 'explain'))
  work = workdir_lib.Workdir(os.path.abspath(root))
  corpus = encode.EncodedCorpus.load(work.corpus)
  model, params = pipeline.load_classifier(config, work, corpus)
  signed = pipeline.store_absolute_maps(work, config.explainers)
  maps_of = lambda name: io.load_npz(work.maps(name))
  rows, test = [], None
  for norm in weak_learner.NORMS:
    out = workdir_lib.Workdir(work.path('sign_control', norm))
    # Deletion and ERASER ignore the norm: measured once, with L2's weak learner.
    sections = None if norm == config.norm else NORM_SECTIONS
    # Under L1 the weak learner normalises |X| whatever the sign: the |·| maps are the same input.
    names = [*config.explainers, *(absolute(n) for n in signed if norm == 'l2')]
    summary = pipeline.evaluate_maps(dataclasses.replace(config, norm=norm), corpus, model, params, out, names,
                                     maps_of, sections)
    test = summary['test_subset']
    for evaluation, spec in evaluations.SCORES.items():
      if spec.section not in summary or not spec.resampled:
        continue
      label = f'{evaluation} ({norm})' if spec.section in NORM_SECTIONS else evaluation
      for name in config.explainers:
        if not plugins.EVALUATIONS[spec.section].applies(name):
          continue
        varied = name in signed and absolute(name) in names
        saved = [[io.load_npz(out.evaluation(spec.section, n))] for n in (name, absolute(name) if varied else name)]
        difference = spec.difference(*saved)
        rows.append([label, name, spec.cell(summary, name)['mean'],
                     spec.cell(summary, absolute(name) if varied else name)['mean'],
                     difference['difference'], *difference['ci95'], difference['n'],
                     'measured' if varied else 'same input (0 by construction)'])
  return rows, test


def verdict(row):
  low, high = row[5], row[6]
  if row[8] != 'measured':
    return 'same input'
  return 'rewards sign' if low > 0 else 'rewards |·|' if high < 0 else 'tie (CI covers 0)'


def render(record):
  prov = record['provenance']
  settings = ', '.join(f'{k}={v}' for k, v in record['settings'].items())
  lines = [f'# Sign control ({record["corpus"]}): which evaluation rewards a signed map?', '',
           f'Command: `python -m experiments.sign_control {" ".join(record["arguments"])}`; measured '
           f'{record["measured"]} on {prov["device"]["kind"]} '
           f'({prov["device"]["processor"]}); ' + provenance.versions_text(prov) + '.',
           '', f'Settings: preset `{record["preset"]}` with departures ({settings}); the full config is config.json '
           f'in {record["workdir"]}. One seed ({record["seed"]}). Deletion and ERASER on {record["test_subset"]} '
           'test examples, the weak learner and the shuffle test on the whole test split.', '',
           'signed − |·| is oriented: > 0 means the evaluation finds the signed map more faithful (it rewards '
           'sign), < 0 that it prefers the magnitudes alone. 95% CI: paired percentile bootstrap '
           '(scipy.stats.bootstrap, 1000 resamples) over test examples; for the weak learner over (label, '
           'prediction) pairs of the two weak learners. "same input": |X| = X (a map without negative values), '
           'or L1, which normalises |X| in either case.', '',
           report.markdown_table(['evaluation', 'explainer', 'signed', '|·|', 'signed − |·|', 'low', 'high',
                                  'examples', 'verdict'],
                                 [[*row[:4], *(f'{v:+.4f}' for v in row[4:7]), row[7], verdict(row)]
                                  for row in record['rows']]), '',
           '## Per evaluation: rewards sign / rewards |·| / tie, over the explainers whose |·| differs', '']
  for evaluation in dict.fromkeys(row[0] for row in record['rows']):
    measured = [row for row in record['rows'] if row[0] == evaluation and row[8] == 'measured']
    if measured:
      lines.append(f'- **{evaluation}**: ' + '; '.join(f'{row[1]} {verdict(row)} ({row[4]:+.4f} [{row[5]:+.4f}, '
                                                      f'{row[6]:+.4f}])' for row in measured))
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv  # flags only
  config_lib.enable_compile_cache(FLAGS.compile_cache)
  config = cli.config_from_flags(FLAGS.preset)
  stem = os.path.join(FLAGS.out, f'sign_control_{config.corpus}')
  if not FLAGS.summary_only:
    root = FLAGS.workdir or os.path.join('runs', 'sign_control', config.corpus, f'seed{config.seed}')
    rows, test = measure(config, root)
    defaults = config_lib.make_config(config.corpus, preset=FLAGS.preset).fingerprint()
    os.makedirs(FLAGS.out, exist_ok=True)
    io.write_json(stem + '.json', {
        'corpus': config.corpus, 'preset': FLAGS.preset, 'seed': config.seed, 'workdir': root,
        'arguments': sys.argv[1:],
        'settings': {k: v for k, v in config.fingerprint().items() if v != defaults[k] and k != 'seed'},
        'test_subset': test, 'measured': provenance.now(), 'provenance': provenance.record(), 'rows': rows})
  io.write_text(stem + '.md', render(io.read_json(stem + '.json')))
  print(f'wrote {stem}.md')


if __name__ == '__main__':
  logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
  cli.run(main)
