"""Beyond the study: do the evaluations agree, across seeds and under the open choices?

  python -m experiments.agreement --corpus=synthetic --seeds=0,1,2,3,4
  python -m experiments.agreement --corpus=sst --preset=cpu

1. Seeds: one pipeline run per seed (classifier, maps, the three evaluations),
   all on the same data split (--split_seed); every evaluation gets mean ± sd
   across seeds, and Kendall τ between the evaluations' explainer rankings is
   computed per seed. The seeds' classifiers and weak learners are then
   re-evaluated stacked (explainers, deletion, weak-learner F1 and shuffle test
   for all of them in one vmapped program per bucket), which must give the
   per-seed results again.
2. Per example: Spearman between deletion rate and shuffle TVD, per explainer.
3. Sensitivity (on the seed-0 model): the deletion ranking under every mask
   mode x signed/absolute x explained scalar and under other IG step counts,
   and the weak-learner ranking under L1 vs L2 normalisation; each row says
   whether the run's own ranking survives.
4. Ground truth (synthetic only): which evaluation's ranking matches the
   planted-token precision@k ranking best.
Measured by faithjax/meta/seeds.py, rendered by faithjax/meta/seeds_render.py. Writes
experiments/results/agreement_<corpus>.json and .md with heatmaps and scatters; each slow section (sensitivity,
stacked) is kept in agreement_<corpus>.partial.json as it finishes, so a run killed in a later one can keep it
(--recompute names the ones to redo).
"""

import os

from absl import flags
from absl import logging

from faithjax import cli
from faithjax import config as config_lib
from faithjax import explain
from faithjax import io
from faithjax import paper
from faithjax import pipeline
from faithjax import provenance
from faithjax.meta import seeds as seeds_lib
from faithjax.meta import seeds_render

FLAGS = flags.FLAGS
config_lib.define_compile_cache_flag()
flags.DEFINE_string('corpus', 'synthetic', 'Corpus.')
flags.DEFINE_list('seeds', ['0', '1', '2', '3', '4'], 'One classifier per seed.')
flags.DEFINE_list('full_seeds', None, 'Seeds that run the whole pipeline (default every seed; the first seed must '
                  'be one). The others only train: their maps and deletion rates come from the stacked '
                  're-evaluation, for corpora where every seed\'s training-split maps (the weak learner\'s input) '
                  'cost too much.')
flags.DEFINE_integer('stacked_subset', 0, 'The stacked re-evaluation reads the first N test examples of the deletion '
                     'evaluation (0: all of them); with train-only seeds every seed\'s deletion cell comes from it.')
flags.DEFINE_bool('stacked', True, 'Re-evaluate all seeds stacked and compare with each seed\'s run (--nostacked '
                  'skips it where its deletion runs cost too much; train-only seeds need it).')
flags.DEFINE_string('runs_dir', 'runs/agreement', 'Parent of the per-seed workdirs.')
flags.DEFINE_string('out', 'experiments/results', 'Where the report goes.')
config_lib.define_preset_flag('full', of=' per seed')
flags.DEFINE_integer('sensitivity_subset', 200, 'Test examples for the sensitivity grid (0: skip the grid, e.g. '
                     'where its 12 x 4 deletion runs over long documents cost too much).')
flags.DEFINE_list('sensitivity_ig_steps', ['5', '20', '100'], 'IG step counts tried besides the run\'s own.')
flags.DEFINE_string('data_dir', None, 'Folder of the real corpora (default ../shared/datasets).')
flags.DEFINE_multi_enum('recompute', ['sensitivity', 'stacked'], ['sensitivity', 'stacked'],
                        'The slow analyses to compute; one left out is kept from the agreement_<corpus>.json '
                        'already in --out (--recompute=stacked refreshes only the stacked re-evaluation).')
flags.DEFINE_list('explainers', list(explain.DEFAULT), 'The explainers compared (registered names; default the '
                  "study's four).")
flags.DEFINE_bool('summary_only', False, 'Only rebuild agreement.md from the agreement_<corpus>.json already in --out.')

SLOW = {'sensitivity': ('sensitivity', 'sensitivity_subset'),
        'stacked': ('stacked', 'stacked_seconds', 'stacked_subset')}


def explainers():
  """The explainers compared (--explainers): the runs' config.explainers."""
  return tuple(FLAGS.explainers)


def full_seeds():
  """The seeds that run the whole pipeline (--full_seeds), checked against --seeds."""
  seeds = list(map(int, FLAGS.seeds))
  full = list(map(int, FLAGS.full_seeds)) if FLAGS.full_seeds else seeds
  if not set(full) <= set(seeds) or min(seeds) not in full:
    raise SystemExit(f'faithjax: error: --full_seeds={FLAGS.full_seeds} must be among --seeds={FLAGS.seeds} and '
                     f'include the first seed ({min(seeds)}), on which the per-example and sensitivity analyses run')
  return full


def run_seeds(seeds, full):
  """{seed: seeds_lib.SeedRun}; a seed outside `full` runs up to its train stage only."""
  runs = {}
  for seed in seeds:
    config = config_lib.make_config(FLAGS.corpus, preset=FLAGS.preset, seed=seed, data_dir=FLAGS.data_dir,
                                    explainers=explainers())
    workdir = os.path.join(FLAGS.runs_dir, FLAGS.corpus, f'seed{seed}')
    io.log(f'== seed {seed} -> {workdir}' + ('' if seed in full else ' (train only)'))
    stages = config_lib.STAGES if seed in full else ('encode', 'train')
    runs[seed] = seeds_lib.SeedRun(config, workdir, pipeline.run_pipeline(config, workdir, stages))
  return runs


def write_summary(out):
  """agreement_<corpus>.md for every agreement_<corpus>.json in `out`, and agreement.md: all side by side."""
  records = {}
  for corpus in ('synthetic', *paper.CORPORA):
    path = os.path.join(out, f'agreement_{corpus}.json')
    if os.path.exists(path):
      records[corpus] = io.read_json(path)
  if not records:
    raise SystemExit(f'faithjax: error: no agreement_<corpus>.json in {out}; run without --summary_only first')
  for corpus, record in records.items():
    io.write_text(os.path.join(out, f'agreement_{corpus}.md'), seeds_render.render_corpus(record))
  io.write_text(os.path.join(out, 'agreement.md'), seeds_render.render_summary(records, explainers()))
  print(f'wrote {out}/agreement.md')


def measure():
  """Runs every seed and every analysis of FLAGS.corpus; writes the figures; returns the JSON-ready record.

  The slow analyses left out of --recompute are copied from the record already in --out, or from the sections a
  killed run kept in agreement_<corpus>.partial.json, which must come from the same preset, seeds and full seeds.
  """
  stem = os.path.join(FLAGS.out, f'agreement_{FLAGS.corpus}')
  kept = set(SLOW) - set(FLAGS.recompute)
  previous = seeds_lib.kept_record(stem) if kept else {}
  seeds, full = list(map(int, FLAGS.seeds)), full_seeds()
  wanted = (FLAGS.preset, seeds, full)
  found = (previous.get('preset'), previous.get('seeds'), previous.get('full_seeds', previous.get('seeds')))
  if not FLAGS.stacked and full != seeds:
    raise SystemExit('faithjax: error: --nostacked leaves the train-only seeds (outside --full_seeds) without any '
                     'deletion rates; drop one of the two')
  if kept and found != wanted:
    raise SystemExit(f'faithjax: error: keeping {", ".join(sorted(kept))} needs {stem}.json from (preset, seeds, '
                     f'full seeds) {wanted}; it has {found}: recompute everything (drop --recompute)')
  missing = [k for section in kept for k in SLOW[section][:1] if k not in previous]
  if missing:
    raise SystemExit(f'faithjax: error: no {", ".join(missing)} in {stem}.json to keep: recompute it (--recompute)')
  runs = run_seeds(seeds, full)
  first = runs[min(runs)]
  identity = {'corpus': FLAGS.corpus, 'preset': FLAGS.preset, 'seeds': seeds, 'full_seeds': full}
  slow = {}

  def finished(section, values):  # kept on disk at once: a later section's crash does not lose it
    slow.update(zip(SLOW[section], values))
    io.write_json(seeds_lib.partial_path(stem), {**identity, **slow})

  if 'sensitivity' in kept:
    slow.update({k: previous[k] for k in SLOW['sensitivity']})
  else:
    finished('sensitivity', (seeds_lib.sensitivity(first, explainers(), FLAGS.sensitivity_subset,
                                                   FLAGS.sensitivity_ig_steps) if FLAGS.sensitivity_subset else [],
                             FLAGS.sensitivity_subset))
  if 'stacked' in kept:
    slow.update({k: previous.get(k) for k in SLOW['stacked']})  # records before --stacked_subset: None = all
  elif FLAGS.stacked:
    finished('stacked', (*seeds_lib.stacked_seeds(runs, explainers(), FLAGS.stacked_subset),
                         FLAGS.stacked_subset or None))
  else:
    slow.update(stacked=[], stacked_seconds=None, stacked_subset=None)
  runs = seeds_lib.adopt_stacked_deletion(runs, slow['stacked'])
  per_seed = seeds_lib.per_seed_tau(runs)
  seeds_render.tau_heatmap(per_seed, stem + '_tau.png')
  per_example = seeds_lib.per_example(next(iter(runs.values())), explainers())
  seeds_render.scatter(per_example, stem + '_scatter.png')
  return {
      **identity, 'runs_dir': FLAGS.runs_dir, 'measured': provenance.now(), 'provenance': provenance.record(),
      'classifier': seeds_lib.classifier_table(runs), 'seed_table': seeds_lib.seed_table(runs, explainers()),
      'per_seed_tau': per_seed, 'seed_stability': seeds_lib.seed_stability(runs),
      'per_example': [row.row for row in per_example], 'ground_truth': seeds_lib.ground_truth(runs, explainers()),
      **slow}


def main(argv):
  del argv
  config_lib.enable_compile_cache(FLAGS.compile_cache)
  if not FLAGS.summary_only:
    os.makedirs(FLAGS.out, exist_ok=True)
    stem = os.path.join(FLAGS.out, f'agreement_{FLAGS.corpus}')
    io.write_json(stem + '.json', measure())
    if os.path.exists(seeds_lib.partial_path(stem)):
      os.remove(seeds_lib.partial_path(stem))  # its sections are in the record now
  write_summary(FLAGS.out)


if __name__ == '__main__':
  logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
  cli.run(main)
