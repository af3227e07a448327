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
Measured by faithjax/meta/stats.py, rendered by faithjax/meta/stats_render.py.
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

from faithjax import FaithjaxError
from faithjax import cli
from faithjax import config as config_lib
from faithjax import io
from faithjax import provenance
from faithjax.meta import stats
from faithjax.meta import stats_render
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


def measure(runs):
  """The record of evaluated runs (one per seed); their resampled scores are kept in --scored_dir for --pool."""
  draws, scored = stats.resampled_scores(runs, FLAGS.n_resamples)
  stats.save_scored(os.path.join(FLAGS.scored_dir, f'{FLAGS.corpus}.npz'), scored)
  return stats.to_json(stats.measure_runs(runs, draws, scored, FLAGS.fixed_class))


def measure_record():
  """The JSON record of this invocation: one corpus from --runs, or --pool's corpora pooled."""
  common = {'corpus': FLAGS.corpus, 'arguments': sys.argv[1:], 'measured': provenance.now(),
            'provenance': provenance.record()}
  if FLAGS.pool:
    missing = [c for c in FLAGS.pool if not os.path.exists(os.path.join(FLAGS.scored_dir, f'{c}.npz'))]
    if missing:
      raise FaithjaxError(f'no resampled scores for {", ".join(missing)} in {FLAGS.scored_dir}; run '
                          'agreement_stats on each corpus first')
    return {**common, **stats.pooled_to_json(stats.pool(
        FLAGS.pool, [stats.load_scored(os.path.join(FLAGS.scored_dir, f'{c}.npz')) for c in FLAGS.pool],
        {c: io.read_json(os.path.join(FLAGS.out, f'agreement_stats_{c}.json')) for c in FLAGS.pool}))}
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
  io.write_text(stem + '.md', (stats_render.pooled_markdown if 'pool' in record else stats_render.markdown)(record))
  print(f'wrote {stem}.md')


if __name__ == '__main__':
  logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
  cli.run(main)
