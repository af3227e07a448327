"""faithjax meta-evaluation: how far each faithfulness evaluation can be trusted, from evaluated runs of one corpus.

  python -m faithjax.meta --runs=runs/seed0,runs/seed1 --out=runs/meta
  python -m faithjax.meta --plugins=my_package.my_module --runs=... --out=...   # your plug-ins (docs/extending.md)
  python -m faithjax.meta --runs=runs/seed2 --out=runs/meta --measure_only       # a run's part, for its archive
  python -m faithjax.meta --runs=archives/seed0.npz,archives/seed1.npz --out=runs/meta   # archived runs

Each run is a workdir whose evaluate stage has run (python run.py), one per seed
or checkpoint, on the same corpus and data split, or the archive of one
(faithjax.runs.write_archive) with its part beside it (<archive>.meta.npz, from
--measure_only under the same flags). Writes <out>/meta.md (the verdict table
first), meta.json and meta.png (docs/agreement.md).
"""

# Before any other import, as faithjax.command: a Ctrl-C while the libraries load stops with one line.
from faithjax import interrupts
interrupts.install(defer=True)

import sys  # pylint: disable=g-import-not-at-top,wrong-import-position

from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import logging  # pylint: disable=g-import-not-at-top,wrong-import-position

from faithjax import FaithjaxError  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax import cli  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax import command  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax import plugins  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax import meta  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax.faithfulness import diagnosticity  # pylint: disable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command's flags; --evaluations lists every registered evaluation, plug-ins' included."""
  flags.DEFINE_list('plugins', [], 'Python modules imported first (e.g. my_package.my_module): the explainers, '
                    'evaluations and models the runs used that they register (docs/extending.md).')
  flags.DEFINE_list('runs', None, 'Evaluated workdirs of one corpus, data split and setting, one per seed or '
                    'checkpoint (runs that differ in more are refused), or their archives (.npz, each with its part '
                    'beside it: <archive>.meta.npz).')
  flags.DEFINE_bool('measure_only', False, 'Measure each workdir\'s part (what needs its classifier and maps) into '
                    '<out>/parts/<workdir name>.npz and stop: kept beside the run\'s archive as <archive>.meta.npz, '
                    'it joins a later meta-evaluation of archives made with the same flags.')
  flags.DEFINE_string('out', None, 'Where meta.md, meta.json, meta.png and the degraded copies\' evaluations go.')
  trains = [n for n, r in plugins.EVALUATIONS.items() if r.trains]
  flags.DEFINE_multi_enum('evaluations', None, list(plugins.EVALUATIONS),
                          'Evaluations to diagnose (repeat the flag for several). Default: every one the runs '
                          f'evaluated that trains no model on the maps (not {", ".join(trains)}: they would retrain '
                          'per degraded copy; see --train_evaluations).')
  flags.DEFINE_bool('train_evaluations', False,
                    f'Also diagnose the evaluations that train on the maps ({", ".join(trains)}) on a reduced, named '
                    'setting: every explainer\'s map and its permuted, noise-1 and sign-flipped copies of the train, '
                    'valid and test maps each train a weak learner: 4 x explainers x runs weak learners of '
                    '--weak_epochs epochs, each as long as one of the runs\' evaluate stage, and a shuffle test on '
                    'each; no cascading randomisation (it would re-explain train and valid).')
  flags.DEFINE_integer('weak_epochs', None, 'With --train_evaluations: the weak learners\' epochs (default the '
                       'runs\').', lower_bound=1)
  flags.DEFINE_list('noise_levels', [f'{level:g}' for level in diagnosticity.NOISE_LEVELS],
                    'Noise degradations: Gaussian noise of sd level × the map\'s root mean square per document.')
  flags.DEFINE_integer('depth', 2, 'Cascading randomisation: maps recomputed with the top 1 .. depth modules of '
                       'the classifier re-initialised.', lower_bound=0)
  flags.DEFINE_bool('naopc', True, 'Measure AOPC bounds (a search per example) for normalised AOPC.')
  flags.DEFINE_integer('examples', 0, 'Score the degraded copies on a sample of this many of the runs\' evaluated '
                       'test examples, drawn from --seed (0: all); named in meta.md.', lower_bound=0)
  flags.DEFINE_integer('naopc_examples', 0, 'Search the AOPC bounds (minutes per hundred examples on a CPU) on a '
                       'sample of this many evaluated test examples, drawn from --seed (0: all); named in meta.md.',
                       lower_bound=0)
  flags.DEFINE_integer('naopc_max_tokens', meta.measure.NAOPC_MAX_TOKENS, 'Search the AOPC bounds only on evaluated '
                       'test examples of at most this many tokens (0: any length; the search\'s time grows with the '
                       'cube of a document\'s length, its memory with the square); named in meta.md.', lower_bound=0)
  flags.DEFINE_integer('n_resamples', 1000, 'Bootstrap resamples.', lower_bound=100)
  flags.DEFINE_integer('seed', 0, 'Seed of the degradations and the bootstrap.')
  config_lib.define_compile_cache_flag()


def main(argv: list[str]) -> None:
  """The meta-evaluation of --runs into --out, after absl parsed the flags (argv: what is left, the program)."""
  if len(argv) > 1:
    raise FaithjaxError(f'unexpected arguments {" ".join(argv[1:])}; flags look like --runs=DIR,DIR')
  if not FLAGS.runs or not FLAGS.out:
    raise FaithjaxError('pass --runs=DIR,DIR,... (evaluated workdirs) and --out=DIR')
  try:
    levels = tuple(float(level) for level in FLAGS.noise_levels)
  except ValueError as e:
    raise FaithjaxError(f'--noise_levels takes numbers, e.g. 0.25,1,4; got {FLAGS.noise_levels}') from e
  config_lib.enable_compile_cache(FLAGS.compile_cache)
  options = dict(sections=FLAGS.evaluations, levels=levels, depth=FLAGS.depth, naopc_bounds=FLAGS.naopc,
                 seed=FLAGS.seed, train_evaluations=FLAGS.train_evaluations, weak_epochs=FLAGS.weak_epochs,
                 examples=FLAGS.examples, naopc_examples=FLAGS.naopc_examples, naopc_max_tokens=FLAGS.naopc_max_tokens)
  if FLAGS.measure_only:
    print('parts: ' + ', '.join(meta.measure_parts(FLAGS.runs, FLAGS.out, **options)))
    return
  invoked = 'python -m faithjax.meta ' + ' '.join(sys.argv[1:])
  meta.meta_evaluate(FLAGS.runs, FLAGS.out, invoked, n_resamples=FLAGS.n_resamples, **options)
  print(f'results: {FLAGS.out}/meta.md, meta.json and meta.png')


def entry() -> None:
  """`python -m faithjax.meta`."""
  logging.set_verbosity(logging.WARNING)
  cli.guarded(command.import_plugins, sys.argv)  # a bad --plugins: one line and exit 2, as a bad flag
  define_flags()
  cli.run(main, doc=__doc__)


if __name__ == '__main__':
  entry()
