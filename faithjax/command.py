"""faithjax command line: train, explain and evaluate on one corpus.

  faithjax                                   # the whole pipeline on the embedded synthetic corpus
  faithjax --corpus=sst --workdir=runs/sst   # a real corpus from ../shared/datasets
  faithjax --plugins=my_package.my_module --explainers=saliency,mine --explainer.mine.power=2
                                             # your plug-ins (docs/extending.md), their options as flags
  faithjax --helpfull                        # every flag

`python run.py ...` in a checkout is the same command.
"""

# Before any other import: a Ctrl-C while the libraries load (seconds) is recorded, and stops the run with one
# line once cli.guarded's handling is in place, instead of a traceback or nothing at all.
from faithjax import interrupts
interrupts.install(defer=True)

import importlib  # pylint: disable=g-import-not-at-top,wrong-import-position
import logging as python_logging  # pylint: disable=g-import-not-at-top,wrong-import-position
import re  # pylint: disable=g-import-not-at-top,wrong-import-position
import sys  # pylint: disable=g-import-not-at-top,wrong-import-position

from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import logging

from faithjax import FaithjaxError
from faithjax import cli
from faithjax import parallel
from faithjax import config as config_lib
from faithjax import pipeline

FLAGS = flags.FLAGS
PLUGINS_FLAG = '--plugins'


def import_plugins(argv: list[str]) -> list[str]:
  """Imports the modules --plugins names (a comma list, e.g. my_package.my_module) before any flag is made, so the
  plug-ins they register get their flags (--explainer.<name>.<option>) and choices; returns their names."""
  names = []
  for i, arg in enumerate(argv[1:], 1):
    if arg.startswith(PLUGINS_FLAG + '='):
      names += arg.partition('=')[2].split(',')
    elif arg == PLUGINS_FLAG and i + 1 < len(argv):
      names += argv[i + 1].split(',')
  for name in filter(None, names):
    try:
      importlib.import_module(name)
    except ImportError as e:
      raise FaithjaxError(f'--plugins={name}: cannot import it ({e}); is its folder on PYTHONPATH, or is it '
                          'installed?') from e
  return names


def define_flags() -> None:
  """The command's flags: its own, one per config setting (cli.define_config_flags, plug-ins' included) and
  --compile_cache."""
  flags.DEFINE_list('plugins', [], 'Python modules imported first, e.g. my_package.my_module: the explainers, '
                    'evaluations, models and corpora they register (faithjax.plugins.register) become choices '
                    'with their own flags (docs/extending.md).')
  flags.DEFINE_enum('mode', 'run', ['run', 'reevaluate'],
                    'run: the pipeline stages on --corpus; reevaluate: maps, deletion rates and (where the workdirs '
                    'have weak learners) weak-learner F1 and shuffle TVDs of every checkpoint in --checkpoints, '
                    'vmapped over the stacked parameters in one program per bucket.')
  flags.DEFINE_list('checkpoints', None, 'reevaluate: workdirs, classifier checkpoint folders, globs of them, or a '
                    'folder of workdirs (e.g. runs/sst-seed*); they must match --corpus and the model flags.')
  flags.DEFINE_integer('mesh', None, 'Split each batch over this many devices (0: all). Default: one device '
                       '(with --distributed: all devices of all processes).')
  flags.DEFINE_bool('distributed', False, 'Multi-process run (TPU pod slice, multi-node GPU, several CPU '
                    'processes): one process per host, each feeding its share of every batch; process 0 writes the '
                    'artefacts. The coordinator is detected on TPU and SLURM; elsewhere pass the three flags below.')
  flags.DEFINE_string('coordinator_address', None, '--distributed: host:port of process 0, e.g. localhost:12355.')
  flags.DEFINE_integer('num_processes', None, '--distributed: how many processes take part.')
  flags.DEFINE_integer('process_id', None, '--distributed: this process, 0 .. num_processes-1.')
  config_lib.define_preset_flag('full')
  flags.DEFINE_string('workdir', None, 'Where artefacts go (default runs/<corpus>). Re-running resumes.')
  flags.DEFINE_list('stages', list(config_lib.STAGES),
                    f'Stages to reach, in order ({", ".join(config_lib.STAGES)}); earlier ones run if not done.')
  cli.define_config_flags()
  config_lib.define_compile_cache_flag()


def main(argv: list[str]) -> None:
  """The command after its flags are parsed: a pipeline run, or --mode=reevaluate of --checkpoints."""
  if len(argv) > 1:
    raise FaithjaxError(f'unexpected arguments {" ".join(argv[1:])}; flags look like --corpus=sst')
  if not FLAGS.stages:
    raise FaithjaxError(f'--stages is empty; choose one or more of {", ".join(config_lib.STAGES)}')
  config = cli.config_from_flags(FLAGS.preset)
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


def entry() -> None:
  """The `faithjax` command (pyproject.toml [project.scripts]) and `python run.py`."""
  logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO; faithjax logs to stderr itself
  # A save that failed (train._save, one line) leaves orbax's pending thread futures, whose callbacks find the
  # event loop closed when they finish later: a traceback on this logger after the line.
  python_logging.getLogger('concurrent.futures').setLevel(python_logging.CRITICAL)
  cli.guarded(import_plugins, sys.argv)  # a bad --plugins: one line and exit 2, as a bad flag
  define_flags()
  cli.run(main, doc=__doc__)


if __name__ == '__main__':
  entry()
