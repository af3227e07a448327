"""Run configuration: every knob in one visible place.

A `RunConfig` is written to the workdir as config.json. Its `fingerprint`
(the fields that change results) guards the workdir: resuming a workdir made
with a different fingerprint is refused rather than silently mixing results.
"""

import dataclasses
import os

from faithjax import FaithjaxError
from faithjax.data import corpora

STAGES = ('encode', 'train', 'explain', 'evaluate', 'report')
EXPLAINERS = ('saliency', 'input_x_gradient', 'integrated_gradients', 'attention')
# Run on request (--explainers), beside the paper's four; any of them may end in map transforms, as
# 'integrated_gradients.abs' or 'smoothgrad.l1' (faithjax/explain.py's registries, checked in the tests).
MORE_EXPLAINERS = ('occlusion', 'smoothgrad', 'gradient_shap', 'kernel_shap', 'lime')
MAP_TRANSFORMS = ('abs', 'l1', 'l2')
BASELINES = ('uniform', 'random')

# Per-corpus departures from the defaults below; everything else is DESIGN.md's protocol.
CORPUS_OVERRIDES = {
    # A toy task: a smaller model and fewer IG steps keep `python run.py` within minutes on a CPU.
    'synthetic': {'epochs': 3, 'weak_epochs': 3, 'emb_dim': 64, 'hidden': 64, 'att_hidden': 64,
                  'ig_steps': 20},
}

# Departures from the full protocol that keep each corpus within reach of 2 CPU cores (`preset='cpu'`).
PRESETS = {
    'full': {},
    'cpu': {
        '20news': {'ig_steps': 10, 'test_subset': 150},
        # Five weak-learner epochs (cheap next to the LSTM) keep Figure 5's IMDB curves readable.
        'imdb': {'epochs': 2, 'weak_epochs': 5, 'ig_steps': 10, 'test_subset': 500},
    },
    # Every stage in seconds on a tiny model: checking an installation, and the tests' end-to-end runs.
    'smoke': {
        'synthetic': {'emb_dim': 16, 'hidden': 8, 'epochs': 3, 'learning_rate': 0.01, 'ig_steps': 8,
                      'weak_epochs': 2, 'permutations': 20, 'test_subset': 150},
    },
}
DEFAULT_COMPILE_CACHE = os.path.expanduser('~/.cache/faithjax/xla')


@dataclasses.dataclass(frozen=True)
class RunConfig:
  corpus: str = 'synthetic'
  data_dir: str | None = None
  seed: int = 0  # classifier and weak-learner initialisation, batch order, explainer randomness
  # The data split (and the synthetic corpus) has its own seed, so runs that differ only in `seed` share one
  # vocabulary and their checkpoints stack (`--mode=reevaluate`).
  split_seed: int = 0
  # Model (DESIGN.md section 3).
  emb_dim: int = 300
  hidden: int = 128
  att_hidden: int = 128
  bidirectional: bool = True
  # Training.
  epochs: int = 8
  batch_size: int = 32
  learning_rate: float = 1e-3
  l2: float = 1e-5
  eval_batch_size: int = 256
  # Explainers (DESIGN.md section 4).
  explainers: tuple = EXPLAINERS
  target: str = 'prob'
  detach_attention: bool = False
  ig_steps: int = 50
  quadrature: str = 'midpoint'
  # Evaluations (DESIGN.md section 5).
  deletion_mode: str = 'pad'
  absolute: bool = False
  norm: str = 'l2'
  weak_epochs: int = 8
  permutations: int = 100
  test_subset: int = 0  # deletion on this many test examples (seeded sample); 0 = all

  def fingerprint(self):
    """Fields that change results (not where data lives)."""
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(self).items() if k != 'data_dir'}


def make_config(corpus='synthetic', preset='full', **overrides):
  """Defaults, then the corpus's overrides, then the preset's (PRESETS), then explicit ones; validated."""
  corpora.spec(corpus)  # a clear error for an unknown name
  if preset not in PRESETS:
    raise FaithjaxError(f'unknown preset {preset!r}; choose one of {", ".join(PRESETS)}')
  fields = {**CORPUS_OVERRIDES.get(corpus, {}), **PRESETS[preset].get(corpus, {}),
            **{k: v for k, v in overrides.items() if v is not None}}
  if 'explainers' in fields:
    fields['explainers'] = tuple(fields['explainers'])
  config = RunConfig(corpus=corpus, **fields)
  for name in ('seed', 'split_seed'):
    if getattr(config, name) < 0:
      raise FaithjaxError(f'--{name} must be >= 0, got {getattr(config, name)}')
  for name in ('emb_dim', 'hidden', 'att_hidden', 'epochs', 'batch_size', 'eval_batch_size', 'ig_steps',
               'weak_epochs', 'permutations'):
    if getattr(config, name) < 1:
      raise FaithjaxError(f'--{name} must be a positive integer, got {getattr(config, name)}')
  for name in config.explainers:
    base, *transforms = name.split('.')
    if base not in EXPLAINERS + MORE_EXPLAINERS or not set(transforms) <= set(MAP_TRANSFORMS):
      raise FaithjaxError(f'--explainers={name} is not one of {", ".join(EXPLAINERS + MORE_EXPLAINERS)}, '
                          f'optionally followed by map transforms {", ".join("." + t for t in MAP_TRANSFORMS)}')
  choices = {'target': ('prob', 'logit', 'log_prob'),
             'quadrature': ('midpoint', 'trapezoid', 'gauss_legendre'),
             'deletion_mode': ('pad', 'unk', 'delete'), 'norm': ('l2', 'l1')}
  for name, allowed in choices.items():
    values = getattr(config, name)
    for value in (values if isinstance(values, tuple) else (values,)):
      if value not in allowed:
        raise FaithjaxError(f'--{name}={value} is not one of {", ".join(allowed)}')
  if config.quadrature == 'trapezoid' and config.ig_steps < 2:
    raise FaithjaxError('--quadrature=trapezoid needs --ig_steps >= 2 (both ends of the path)')
  if config.test_subset < 0:
    raise FaithjaxError(f'--test_subset must be >= 0 (0 = the whole test set), got {config.test_subset}')
  if not config.learning_rate > 0:
    raise FaithjaxError(f'--learning_rate must be > 0, got {config.learning_rate}')
  return config


def define_compile_cache_flag():
  """--compile_cache, for every entry point (run.py and the experiments)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('compile_cache', DEFAULT_COMPILE_CACHE,
                      'Folder for compiled XLA programs reused across runs ("" disables it).')


def enable_compile_cache(path):
  """Persists XLA executables in `path`, so re-runs and re-traced closures skip compilation.

  Every bucket width is its own program (about 3 s each for the LSTM on a CPU):
  the cache turns that into a lookup across runs, tests and checkpoints. An
  empty path leaves the cache off.
  """
  if not path:
    return
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update('jax_compilation_cache_dir', path)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', -1)
