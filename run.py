"""faithjax command line: train, explain and evaluate on one corpus.

  python run.py                                  # the whole pipeline on the embedded synthetic corpus
  python run.py --corpus=sst --workdir=runs/sst  # a real corpus from ../shared/datasets
  python run.py --helpfull                       # every flag
"""

import re
import sys

from absl import app
from absl import flags
from absl import logging

from faithjax import FaithjaxError
from faithjax import explain
from faithjax import models
from faithjax import parallel
from faithjax import config as config_lib
from faithjax import pipeline
from faithjax.data import corpora

FLAGS = flags.FLAGS
flags.DEFINE_enum('mode', 'run', ['run', 'reevaluate'],
                  'run: the pipeline stages on --corpus; reevaluate: maps, deletion rates, ERASER and (where the workdirs have '
                  'weak learners) weak-learner F1 and shuffle TVDs of every checkpoint '
                  'in --checkpoints, vmapped over the stacked parameters in one program per bucket.')
flags.DEFINE_list('checkpoints', None, 'reevaluate: workdirs, classifier checkpoint folders, globs of them, or a '
                  'folder of workdirs (e.g. runs/sst-seed*); they must match --corpus and the model flags.')
flags.DEFINE_integer('mesh', None, 'Split each batch over this many devices (0: all). Default: one device '
                     '(with --distributed: all devices of all processes).')
flags.DEFINE_bool('distributed', False, 'Multi-process run (TPU pod slice, multi-node GPU, several CPU processes): '
                  'one process per host, each feeding its share of every batch; process 0 writes the artefacts. '
                  'The coordinator is detected on TPU and SLURM; elsewhere pass the three flags below.')
flags.DEFINE_string('coordinator_address', None, '--distributed: host:port of process 0, e.g. localhost:12355.')
flags.DEFINE_integer('num_processes', None, '--distributed: how many processes take part.')
flags.DEFINE_integer('process_id', None, '--distributed: this process, 0 .. num_processes-1.')
flags.DEFINE_string('corpus', 'synthetic', f'Corpus: one of {", ".join(corpora.CORPORA)}, jsonl:PATH (text, 0/1 label '
                    'and optionally split per line) or tfds:NAME.')
flags.DEFINE_string('preset', 'full', 'Settings: full (the paper\'s) or cpu (reduced for 2 CPU cores, config.PRESETS); '
                    'explicit flags override it.')
flags.DEFINE_string('workdir', None, 'Where artefacts go (default runs/<corpus>). Re-running resumes.')
flags.DEFINE_string('data_dir', None, 'Folder of the real corpora (default ../shared/datasets beside the repo).')
flags.DEFINE_list('stages', list(config_lib.STAGES),
                  f'Stages to reach, in order ({", ".join(config_lib.STAGES)}); earlier ones run if not done.')
flags.DEFINE_integer('seed', None, 'Seed for initialisation, batch order and explainer randomness (default 0).')
flags.DEFINE_integer('split_seed', None, 'Seed for the train/valid split and the synthetic corpus (default 0); '
                     'runs that differ only in --seed share a vocabulary, so their checkpoints stack.')
flags.DEFINE_integer('epochs', None, 'Training epochs (default 8; synthetic 3).')
flags.DEFINE_integer('batch_size', None, 'Training batch size (default 32).')
flags.DEFINE_float('learning_rate', None, 'AMSGrad learning rate (default 1e-3).')
flags.DEFINE_string('model', None, f'Classifier: one of {", ".join(models.MODELS)} (default lstm).')
flags.DEFINE_integer('emb_dim', None, 'Embedding size (default 300).')
flags.DEFINE_integer('hidden', None, 'LSTM hidden size per direction; the Transformer\'s MLP width (default 128).')
flags.DEFINE_bool('bidirectional', None, 'BiLSTM (default) or a one-directional LSTM.')
flags.DEFINE_integer('layers', None, 'Transformer encoder blocks (default 2).')
flags.DEFINE_integer('heads', None, 'Transformer attention heads (default 4).')
flags.DEFINE_list('explainers', None, 'Explainers (default: ' + ', '.join(explain.DEFAULT) + '). ' + '; '.join(
    f'{n}: {explain.describe(n)}' for n in explain.explainer_names()))
flags.DEFINE_enum('target', None, ['prob', 'logit', 'log_prob'],
                  'Scalar explained for the predicted class (default prob).')
flags.DEFINE_bool('detach_attention', None, 'Stop gradients through the attention weights (JW parity).')
flags.DEFINE_integer('ig_steps', None, 'Integrated Gradients steps (default 50; synthetic 20).')
flags.DEFINE_enum('quadrature', None, ['midpoint', 'trapezoid', 'gauss_legendre'], 'IG quadrature (default midpoint).')
flags.DEFINE_enum('deletion_mode', None, ['pad', 'unk', 'delete'], 'How deletion removes a token (default pad).')
flags.DEFINE_bool('absolute', None, 'Rank tokens by |score| in deletion (default: signed).')
flags.DEFINE_enum('norm', None, ['l2', 'l1'], 'Weak-learner map normalisation (default l2).')
flags.DEFINE_integer('weak_epochs', None, 'Weak-learner training epochs (default 8; synthetic 3).')
flags.DEFINE_integer('permutations', None, 'Shuffle-test permutations per example (default 100).')
flags.DEFINE_integer('test_subset', None, 'Deletion on a seeded sample of this many test examples (default all).')
config_lib.define_compile_cache_flag()


def config_from_flags():
  names = ('seed', 'split_seed', 'epochs', 'batch_size', 'learning_rate', 'model', 'emb_dim', 'hidden', 'bidirectional', 'layers', 'heads',
           'explainers', 'target', 'detach_attention', 'ig_steps', 'quadrature', 'deletion_mode', 'absolute', 'norm',
           'weak_epochs', 'permutations', 'test_subset')
  return config_lib.make_config(FLAGS.corpus, data_dir=FLAGS.data_dir, preset=FLAGS.preset,
                                **{n: getattr(FLAGS, n) for n in names})


def main(argv):
  if len(argv) > 1:
    raise FaithjaxError(f'unexpected arguments {" ".join(argv[1:])}; flags look like --corpus=sst')
  config = config_from_flags()
  config_lib.enable_compile_cache(FLAGS.compile_cache)
  if FLAGS.distributed:
    parallel.initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  elif any(getattr(FLAGS, f) is not None for f in ('coordinator_address', 'num_processes', 'process_id')):
    raise FaithjaxError('--coordinator_address, --num_processes and --process_id need --distributed')
  workdir = FLAGS.workdir or 'runs/' + re.sub(r'[^\w.-]', '_', config.corpus)  # jsonl:PATH -> jsonl__PATH
  mesh = parallel.make_mesh(FLAGS.mesh or 0) if FLAGS.distributed or FLAGS.mesh is not None else None
  if FLAGS.mode == 'reevaluate':
    pipeline.reevaluate_checkpoints(config, workdir, FLAGS.checkpoints, mesh)
    print(f'results: {workdir}/reevaluate.json')
    return
  pipeline.run_pipeline(config, workdir, FLAGS.stages, mesh)
  if 'report' in FLAGS.stages:
    print(f'results: {workdir}/report.md and {workdir}/results.json')
  else:
    print(f'stages {",".join(FLAGS.stages)} done in {workdir}; add report to --stages for report.md')


def run_main(argv):
  try:
    main(argv)
  except FaithjaxError as e:
    print(f'faithjax: error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO; faithjax logs to stderr itself
  app.run(run_main)
