"""Run configuration: every knob in one visible place.

`RunConfig` is the one source of settings: its fields' metadata (help text,
choices) generate the command-line flags (faithjax/cli.py), and `PRESETS` is the
one table of per-corpus departures from its defaults (`MODEL_OVERRIDES` those
of each model). A `RunConfig` is written to the workdir as config.json; its
`fingerprint` (the fields that change results) guards the workdir: resuming a
workdir made with a different fingerprint is refused rather than silently
mixing results. Plug-ins' options are config too: the `explainer` field holds
each registered explainer's options dataclass (plugins.Explainer), set as
`explainer.<name>.<option>` in PRESETS, make_config and on the command line;
the `evaluation` field each evaluation's (plugins.Evaluation.options, e.g.
`evaluation.eraser.percents`). A section saved before an option existed reads
as its default, so such an option leaves old workdirs' fingerprints unchanged.
The random streams derived from --seed are named in faithjax/streams.py.
"""

import dataclasses
import math
import os
from typing import Any, Callable, ClassVar

from faithjax import FaithjaxError
from faithjax import explain
from faithjax import models
from faithjax import plugins
from faithjax import train
from faithjax.faithfulness import deletion
from faithjax.faithfulness import evaluations  # registers the built-in evaluations: their option sections
from faithjax.faithfulness import weak_learner

STAGES = ('encode', 'train', 'explain', 'evaluate', 'report')
SECTIONS = ('explainer', 'evaluation')  # RunConfig fields of plug-ins' options, set as '<section>.<name>.<option>'

# Per-model departures from the defaults below (which are the LSTM's), under the corpus's and preset's.
MODEL_OVERRIDES = {
    # A small encoder: 2 blocks of width 64 train within minutes per epoch on SST on a CPU.
    'transformer': {'emb_dim': 64, 'hidden': 128, 'att_hidden': 64},
}

# An explainer's option is set as 'explainer.<name>.<option>' (its flag's name), in PRESETS as on the command line.
IG_STEPS, IG_QUADRATURE = 'explainer.integrated_gradients.steps', 'explainer.integrated_gradients.quadrature'
IG_TOLERANCE = 'explainer.integrated_gradients.tolerance'
# Their names before options were sections: read from old config.json, results.json and archives, and accepted by
# make_config.
LEGACY_OPTIONS = {'ig_steps': IG_STEPS, 'quadrature': IG_QUADRATURE}
# Every preset's IG: each document to completeness relative error <= 1e-3 (or its 512 gradient evaluations spent,
# recorded in maps/<name>.counts.npz), issue 35's target. The steps and quadrature the presets also set are the fixed
# rule the runs before used: --explainer.integrated_gradients.tolerance=0 gives it back (an old config.json without
# a tolerance reads as 0: RunConfig.upgrade completes a section with the function's defaults, not a preset's).
PRESET_IG = {IG_TOLERANCE: 1e-3}

# Settings that depart from RunConfig's defaults: {preset: {corpus: {field: value}}}, '*' meaning every corpus.
# 'full' holds each corpus's own settings; every other preset departs from those.
PRESETS = {
    'full': {
        '*': PRESET_IG,
        # A toy task: a smaller model and fewer IG steps keep `python run.py` within minutes on a CPU.
        'synthetic': {'epochs': 3, 'weak_epochs': 3, 'emb_dim': 64, 'hidden': 64, 'att_hidden': 64,
                      IG_STEPS: 20},
    },
    # Departures from the full protocol that keep each corpus within reach of 2 CPU cores.
    'cpu': {
        '*': PRESET_IG,
        # The cheapest IG rule with completeness error p90 <= 1e-3 on this preset's BiLSTM
        # (experiments/results/quadrature_<corpus>.md): SST Gauss-Legendre 4 nodes (midpoint needs 13),
        # AG News Gauss-Legendre 10 (midpoint 13, trapezoid 19).
        'sst': {IG_QUADRATURE: 'gauss_legendre', IG_STEPS: 4},
        'ag_news': {IG_QUADRATURE: 'gauss_legendre', IG_STEPS: 10},
        '20news': {IG_STEPS: 10, 'test_subset': 150},
        # Five weak-learner epochs (cheap next to the LSTM) keep Figure 5's IMDB curves readable.
        'imdb': {'epochs': 2, 'weak_epochs': 5, IG_STEPS: 10, 'test_subset': 500},
    },
    # Every corpus with fewer epochs, IG steps, deletion examples and permutations: a model's Tables 2-5 on SST or
    # AG News within about an hour on 2 CPU cores (the Transformer's, experiments/results/reproduction_reduced_*).
    'reduced': {
        '*': {'epochs': 3, 'weak_epochs': 3, IG_STEPS: 10, 'test_subset': 300, 'permutations': 20, **PRESET_IG},
    },
    # A tiny model, every stage quickly on any corpus: checking an installation, and the tests' end-to-end runs.
    # Its IG takes the tolerance's path at the fixed 8 steps' cost: one G3K7 panel (7 evaluations) per document,
    # those that miss 1e-3 recorded at the cap (to 1e-3 the tiny model needs 51 on average, G7K15).
    'smoke': {
        '*': {'emb_dim': 16, 'hidden': 8, 'epochs': 3, 'learning_rate': 0.01, IG_STEPS: 8,
              'weak_epochs': 2, 'permutations': 20, 'test_subset': 150, **PRESET_IG,
              'explainer.integrated_gradients.kronrod_nodes': 7, 'explainer.integrated_gradients.max_evaluations': 7},
    },
}
# What each preset is, for --preset's help (define_preset_flag); one line per entry of PRESETS.
PRESET_HELP = {
    'full': "the paper's protocol, each corpus with its own settings",
    'cpu': 'full, reduced to fit 2 CPU cores on IMDB and 20 News, with the cheapest IG rule of each corpus',
    'reduced': 'fewer epochs, IG steps, test examples and permutations on every corpus (about an hour per corpus '
               'on 2 CPU cores)',
    'smoke': 'a tiny model, every stage quickly on any corpus: checking an install, and the tests',
}
# Bounds of the numeric flags, checked when the config is made: a value past them is a typo, and would fail
# only after minutes (or exhaust memory) instead of at once.
MAX_SEED = 2**31 - 1  # jax.random.key's and numpy's seeds alike
MAX_WIDTH = 16_384  # embedding and hidden sizes
MAX_DEPTH = 256  # Transformer blocks and heads
MAX_BATCH = 65_536  # batch sizes (memory is estimated before allocating, too)
MAX_COUNT = 100_000  # epochs, permutations (explain.MAX_STEPS_OR_SAMPLES bounds IG steps and samples)
DEFAULT_COMPILE_CACHE = os.path.expanduser('~/.cache/faithjax/xla')


def setting(default: Any, help_text: str, choices: Any | None = None, minimum: float | None = None,
            chosen: Callable[[Any], Any] | None = None, maximum: float | None = None) -> Any:
  """A RunConfig field with the metadata its flag is generated from.

  choices: allowed values (of each element, for a tuple field), or a function
  returning them for a registry that code outside the package can extend;
  minimum, maximum: the smallest and largest allowed number (a float must also
  be finite); chosen: element -> the part of it that
  must be one of the choices (e.g. an explainer's name without its map
  transforms), raising FaithjaxError on a bad rest. Default: the whole element.
  """
  return dataclasses.field(default=default, metadata={'help': help_text, 'choices': choices, 'minimum': minimum,
                                                      'maximum': maximum, 'chosen': chosen})


def choices_of(field: dataclasses.Field) -> tuple | None:
  """The values a field allows now (a registry's current names), or None."""
  choices = field.metadata['choices']
  return tuple(choices()) if callable(choices) else choices


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """Every setting of a run; `python run.py --<field>=...` sets one (faithjax/cli.py)."""
  # What a workdir made before a field existed ran with, where that is not the field's default today
  # (workdir.prepare_workdir reads a missing field as this value, not as the new default).
  VALUES_BEFORE_FIELD: ClassVar[dict] = {'pad_rule': 'trailing', 'select_from_epoch': 1, 'uniform_weights': 'norm'}
  corpus: str = setting('synthetic', "Corpus: synthetic, imdb, sst, ag_news, 20news (the paper's binary tasks), "
                        "ag_news4 (AG News's four classes), jsonl:PATH or tfds:NAME (any k >= 2 labels).")
  data_dir: str | None = setting(None, 'Folder of the real corpora (default ../shared/datasets beside the repo).')
  seed: int = setting(0, 'Seed for initialisation, batch order and explainer randomness.', minimum=0,
                      maximum=MAX_SEED)
  # The data split (and the synthetic corpus) has its own seed, so runs that differ only in `seed` share one
  # vocabulary and their checkpoints stack (`--mode=reevaluate`).
  split_seed: int = setting(0, 'Seed for the train/valid split and the synthetic corpus; runs that differ only in '
                            '--seed share a vocabulary, so their checkpoints stack.', minimum=0,
                            maximum=MAX_SEED)
  # Model (DESIGN.md section 3): a registered plugins.Model and its sizes.
  model: str = setting('lstm', 'Classifier (a registered plugins.Model).', lambda: plugins.MODELS)
  emb_dim: int = setting(300, 'Embedding size.', minimum=1, maximum=MAX_WIDTH)
  hidden: int = setting(128, 'LSTM hidden size per direction (Transformer: feed-forward width).', minimum=1,
                        maximum=MAX_WIDTH)
  att_hidden: int = setting(128, 'Additive-attention hidden size.', minimum=1, maximum=MAX_WIDTH)
  bidirectional: bool = setting(True, 'BiLSTM, or a one-directional LSTM (--nobidirectional).')
  layers: int = setting(2, 'Transformer encoder blocks.', minimum=1, maximum=MAX_DEPTH)
  heads: int = setting(4, 'Transformer attention heads.', minimum=1, maximum=MAX_DEPTH)
  # Training (the classifier's; the weak learner's too, with weak_epochs).
  epochs: int = setting(8, 'Training epochs.', minimum=1, maximum=MAX_COUNT)
  batch_size: int = setting(32, 'Training batch size.', minimum=1, maximum=MAX_BATCH)
  learning_rate: float = setting(1e-3, 'AMSGrad learning rate (> 0).', maximum=1)
  l2: float = setting(1e-5, 'Coupled L2 weight decay on every parameter outside the attention.', minimum=0,
                      maximum=1)
  # Protocol departures of issue 16 (BUILD_NOTES.md). Three defaults are the original protocol's (pad_rule,
  # select_from_epoch, uniform_weights; a workdir made before such a default changed keeps what it ran with,
  # VALUES_BEFORE_FIELD); the others are ours, measured against the original's choice (experiments.departures).
  loss_reduction: str = setting('mean', "Classifier loss over a batch: 'mean' (ours) or 'sum' (Jain & Wallace; "
                                'the coupled L2 is then about batch_size times weaker relative to the loss).',
                                train.LOSS_REDUCTIONS)
  select_from_epoch: int = setting(2, 'First epoch the checkpoint selection may keep: 2 (Jain & Wallace never keep '
                                   'epoch 1) or 1 (the earlier faithjax default).', minimum=1)
  init_scheme: str = setting('flax', "Classifier initialisation: 'flax' (orthogonal recurrent, lecun input kernel) or "
                      "'pytorch' (PyTorch's nn.LSTM / nn.Linear / nn.Embedding defaults, as Jain & Wallace's code).",
                      models.classifier.INITS)
  ag_news_title: bool = setting(False, 'Read the AG News test documents as title + description, the text of the '
                                "5k train sample's rows (default: the description only, the official protocol).")
  punctuation: bool = setting(False, "Keep punctuation marks as tokens, as Jain & Wallace's spaCy tokens do "
                              "(SST's cleaner drops them whatever this says, as theirs does).")
  length_filter: bool = setting(False, "Drop documents outside Jain & Wallace's length bounds for the corpus (their "
                                'DatasetBC loaders: SST > 5 tokens, IMDB > 6, 20 News 6 < n < 500, AG News strictly '
                                "between each split's shortest and longest), train, valid and test alike; default: "
                                'keep them all and truncate at max_len.')
  eval_batch_size: int = setting(256, 'Batch size of prediction, explainers and evaluations.', minimum=1,
                                maximum=MAX_BATCH)
  # Explainers (DESIGN.md section 4).
  explainers: tuple = setting(explain.DEFAULT, 'Explainers, a comma list (faithjax.explain registry), each '
                              "optionally with map transforms, e.g. integrated_gradients.abs.l1.",
                              explain.explainer_names, chosen=explain.base_name)
  target: str = setting('prob', 'Scalar explained for the predicted class.', explain.TARGETS)
  detach_attention: bool = setting(False, 'Stop gradients through the attention weights (JW parity).')
  # {explainer: its options (a plugins.Explainer's frozen dataclass)} for every registered explainer; flags
  # --explainer.<name>.<option>. The fingerprint holds the sections of the explainers run.
  explainer: dict = dataclasses.field(default_factory=lambda: explainer_sections({}), metadata={
      'help': 'Explainer options', 'choices': None, 'minimum': None, 'maximum': None, 'chosen': None})
  # Evaluations (DESIGN.md section 5).
  deletion_mode: str = setting('pad', 'How deletion removes a token.', deletion.MODES)
  pad_rule: str = setting('fixed', "What the LSTM steps over in --deletion_mode=pad: 'fixed' (every position of "
                          'the original length stepped over, a removed token with a zero input, both directions: a '
                          "PyTorch packed LSTM given PAD ids and the original lengths) or 'trailing' (the earlier "
                          'faithjax default: removed tokens after the last kept one are skipped, so the backward '
                          'LSTM skips a removed last token while the forward one steps over a removed first one).',
                          deletion.PAD_RULES)
  absolute: bool = setting(False, 'Rank tokens by |score| in deletion, not by the signed score.')
  norm: str = setting('l2', 'Weak-learner map normalisation.', weak_learner.NORMS)
  uniform_weights: str = setting('mean', "The Uniform baseline's weights: 'mean' (1/n, Wiegreffe & Pinter) or 'norm' "
                                 "(faithjax's earlier default: ones normalised by --norm, 1/sqrt(n) under l2).",
                                 weak_learner.UNIFORM_WEIGHTS)
  weak_epochs: int = setting(8, 'Weak-learner training epochs.', minimum=1, maximum=MAX_COUNT)
  permutations: int = setting(100, 'Shuffle-test permutations per example.', minimum=1, maximum=MAX_COUNT)
  test_subset: int = setting(0, 'Deletion on a seeded sample of this many test examples (0: all).', minimum=0)
  weak_train_subset: int = setting(0, 'A named reduction for long corpora: the explainers explain, and the weak '
                                   'learner (with the shuffle test on it) trains on, a seeded sample of this many '
                                   'training documents, the same for every --seed (0: all).', minimum=0)
  # {evaluation: its options (a plugins.Evaluation's frozen dataclass, e.g. ERASER's percents)} for every registered
  # evaluation; flags --evaluation.<name>.<option>. The fingerprint holds the sections of those with options.
  evaluation: dict = dataclasses.field(default_factory=lambda: evaluation_sections({}), metadata={
      'help': 'Evaluation options', 'choices': None, 'minimum': None, 'maximum': None, 'chosen': None})

  def fingerprint(self) -> dict:
    """Fields that change results (not where data lives), with the option sections of the explainers run and of
    the evaluations that have options (JSON: tuples as lists)."""
    fields = {k: list(v) if isinstance(v, tuple) else v
              for k, v in dataclasses.asdict(self).items() if k not in ('data_dir',) + SECTIONS}
    return {**fields, 'explainer': {name: _json(self.explainer_options(name)) for name in _bases(self.explainers)
                                    if dataclasses.fields(self.explainer_options(name))},
            'evaluation': {name: _json(self.evaluation_options(name)) for name, record in plugins.EVALUATIONS.items()
                           if dataclasses.fields(record.options)}}

  def differences(self, other: 'RunConfig', ignore: tuple = ('seed',)) -> list[str]:
    """'setting: mine vs other' for every setting of the fingerprint in which the two differ, the explainer options
    compared for the explainers both run (which explainers each runs is not a difference); `ignore`: fields not
    compared (default the seed: runs of one setting differ only in it)."""
    mine, theirs = (_flat({k: v for k, v in c.fingerprint().items() if k not in ignore + ('explainers',)})
                    for c in (self, other))
    shared = {f'explainer.{name}.' for name in set(_bases(self.explainers)) & set(_bases(other.explainers))}
    keys = [k for k in dict.fromkeys([*mine, *theirs])
            if not k.startswith('explainer.') or any(k.startswith(prefix) for prefix in shared)]
    return [f'{k}: {mine.get(k)} vs {theirs.get(k)}' for k in keys if mine.get(k) != theirs.get(k)]

  def explainer_options(self, name: str) -> Any:
    """The options instance of explainer `name` (a map transform's are its base's); defaults if registered after
    this config was made."""
    record = explain.explainer_of(name)
    return self.explainer.get(record.name) or record.make_options()

  def evaluation_options(self, name: str) -> Any:
    """The options instance of evaluation `name`; defaults if registered after this config was made."""
    return self.evaluation.get(name) or plugins.get(plugins.Evaluation, name).make_options()

  def with_options(self, name: str, **values: Any) -> 'RunConfig':
    """This config with explainer `name`'s options `values` changed (validated by its record)."""
    record = explain.explainer_of(name)
    options = record.make_options(**{**dataclasses.asdict(self.explainer_options(name)), **values})
    return dataclasses.replace(self, explainer={**self.explainer, record.name: options})

  @staticmethod
  def upgrade(saved: dict) -> dict:
    """A saved fingerprint (config.json, results.json's config) in today's form: legacy option fields
    (LEGACY_OPTIONS) moved into their sections, each section of an explainer run and of an evaluation with options
    completed with its defaults (a config saved before a section existed reads as the defaults)."""
    dotted = {LEGACY_OPTIONS[k]: v for k, v in saved.items() if k in LEGACY_OPTIONS}
    upgraded = {k: v for k, v in saved.items() if k not in LEGACY_OPTIONS}
    if 'explainers' in saved:
      sections = _nest({'explainer': saved.get('explainer', {}), **dotted})
      upgraded['explainer'] = {name: {**dataclasses.asdict(explain.explainer_of(name).make_options()),
                                      **sections.get(name, {})}
                               for name in _bases(saved['explainers']) if name in plugins.EXPLAINERS
                               and dataclasses.fields(explain.explainer_of(name).options)}
    saved_evaluations = _nest(saved, 'evaluation')
    upgraded['evaluation'] = {name: {**_json(record.make_options()), **saved_evaluations.get(name, {})}
                              for name, record in plugins.EVALUATIONS.items() if dataclasses.fields(record.options)}
    return upgraded


def _bases(explainers):
  """The base explainers of names with map transforms, in order, once each."""
  return tuple(dict.fromkeys(explain.base_name(n) for n in explainers))


def _json(options: Any) -> dict:
  """An options instance as its fingerprint's section: {option: value}, tuples as lists (as JSON reads them)."""
  return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(options).items()}


def _flat(fingerprint: dict) -> dict:
  """A fingerprint with its sections' options as '<section>.<name>.<option>' keys (their flag names)."""
  flat = {k: v for k, v in fingerprint.items() if k not in SECTIONS}
  for kind in SECTIONS:
    for name, options in fingerprint.get(kind, {}).items():
      flat.update({f'{kind}.{name}.{option}': value for option, value in options.items()})
  return flat


def _nest(fields: dict, kind: str = 'explainer') -> dict:
  """{plug-in: {option: value}} from a nested `kind` entry ('explainer', 'evaluation') and
  '<kind>.<name>.<option>' keys."""
  sections = {name: dict(values) for name, values in fields.get(kind, {}).items()}
  for key, value in fields.items():
    if key.startswith(kind + '.'):
      _, name, option = key.split('.', 2)
      sections.setdefault(name, {})[option] = value
  return sections


def saved_setting(saved: dict, key: str, missing: Any | None = None) -> Any:
  """A setting of a saved config (config.json, results.json's) by its flag name or a LEGACY_OPTIONS name:
  saved_setting(saved, 'ig_steps') reads an old config's field or a new one's explainer section alike."""
  key = LEGACY_OPTIONS.get(key, key)
  if not key.startswith('explainer.'):
    return saved.get(key, missing)
  legacy = next((k for k, v in LEGACY_OPTIONS.items() if v == key and k in saved), None)
  _, name, option = key.split('.', 2)
  return saved[legacy] if legacy else saved.get('explainer', {}).get(name, {}).get(option, missing)


def _sections(kind: str, table: dict, values: dict) -> dict:
  """{plug-in: options instance} of every record in `table`, `values` ({name: {option: value}}) over the
  defaults; a FaithjaxError for an unknown plug-in or option (kind: 'explainer' or 'evaluation')."""
  unknown = sorted(set(values) - set(table))
  if unknown:
    raise FaithjaxError(f'options for unknown {kind}(s) {unknown}; a plug-in\'s are known once it is imported '
                        '(--plugins=my_package.my_module)')
  return {name: record.make_options(**values.get(name, {})) for name, record in table.items()}


def explainer_sections(values: dict) -> dict:
  """{explainer: options instance} of every registered explainer, `values` ({name: {option: value}}) over the
  defaults."""
  return _sections('explainer', plugins.EXPLAINERS, values)


def evaluation_sections(values: dict) -> dict:
  """{evaluation: options instance} of every registered evaluation, `values` ({name: {option: value}}) over the
  defaults."""
  return _sections('evaluation', plugins.EVALUATIONS, values)


def from_saved(saved: dict) -> 'RunConfig':
  """The RunConfig of a saved fingerprint or results.json config (its lists are the tuple fields), also one
  written before explainer options were sections (RunConfig.upgrade)."""
  saved = RunConfig.upgrade(saved)
  fields = {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k not in SECTIONS}
  return RunConfig(**fields, explainer=explainer_sections(saved.get('explainer', {})),
                   evaluation=evaluation_sections(saved['evaluation']))


def preset_settings(corpus: str, preset: str) -> dict:
  """The fields `preset` sets for `corpus` (PRESETS): the corpus's own, then the preset's departures."""
  table = PRESETS[preset]
  return {**PRESETS['full'].get(corpus, {}), **table.get('*', {}), **table.get(corpus, {})}


def _check(config):
  """Every field against its metadata (choices, minimum), plus the rules that tie fields together."""
  for field in dataclasses.fields(config):
    value, choices = getattr(config, field.name), choices_of(field)
    minimum, maximum = field.metadata['minimum'], field.metadata['maximum']
    if isinstance(value, tuple) and not value:
      raise FaithjaxError(f'--{field.name} is empty; choose one or more of {", ".join(choices)}')
    chosen = field.metadata['chosen'] or (lambda element: element)
    for element in value if isinstance(value, tuple) else (value,):
      if choices is not None and chosen(element) not in choices:
        raise FaithjaxError(f'--{field.name}={element} is not one of {", ".join(choices)}')
    if isinstance(value, float) and not math.isfinite(value):
      raise FaithjaxError(f'--{field.name} must be a finite number, got {value}')
    if minimum is not None and value < minimum:
      bound = 'a positive integer' if minimum == 1 else f'>= {minimum}'
      raise FaithjaxError(f'--{field.name} must be {bound}, got {value}')
    if maximum is not None and value > maximum:
      raise FaithjaxError(f'--{field.name} must be <= {maximum:,}, got {value:,}')
  if not config.learning_rate > 0:
    raise FaithjaxError(f'--learning_rate must be > 0, got {config.learning_rate}')


def make_config(corpus: str = 'synthetic', preset: str = 'full', **overrides: Any) -> RunConfig:
  """Defaults, then the model's overrides, the preset's settings for the corpus (PRESETS), then explicit ones
  (None: unset); validated.

  An explainer's option is an override `explainer={'integrated_gradients': {'steps': 4}}` or, as in PRESETS and
  on the command line, `**{'explainer.integrated_gradients.steps': 4}`; an evaluation's likewise
  (`**{'evaluation.eraser.percents': (10, 50)}`).
  """
  if preset not in PRESETS:
    raise FaithjaxError(f'unknown preset {preset!r}; choose one of {", ".join(PRESETS)}')
  model = overrides.get('model') or RunConfig.model
  explicit = {LEGACY_OPTIONS.get(k, k): v for k, v in overrides.items() if v is not None}
  fields = {**MODEL_OVERRIDES.get(model, {}), **preset_settings(corpus, preset), **explicit}
  if 'explainers' in fields:
    fields['explainers'] = tuple(fields['explainers'])
  sections = {kind: _nest(fields, kind) for kind in SECTIONS}
  fields = {k: v for k, v in fields.items() if k.split('.')[0] not in SECTIONS}
  config = RunConfig(corpus=corpus, explainer=explainer_sections(sections['explainer']),
                     evaluation=evaluation_sections(sections['evaluation']), **fields)
  _check(config)
  return config


def define_preset_flag(default: str, of: str = '', flag_values: Any = None) -> None:
  """--preset, for every entry point (run.py and the experiments), defaulting to `default`; its help says what
  each preset is (PRESET_HELP). of: what the settings are of, e.g. ' per seed'; flag_values: default absl's."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  if default not in PRESETS:
    raise FaithjaxError(f'unknown preset {default!r}; choose one of {", ".join(PRESETS)}')
  presets = '; '.join(f'{name}: {PRESET_HELP[name]}' for name in PRESETS)
  flags.DEFINE_enum('preset', default, list(PRESETS), f'Settings{of} (config.PRESETS), explicit flags overriding '
                    f'them. {presets}.', flag_values=flags.FLAGS if flag_values is None else flag_values)


def define_compile_cache_flag() -> None:
  """--compile_cache, for every entry point (run.py and the experiments)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('compile_cache', DEFAULT_COMPILE_CACHE,
                      'Folder for compiled XLA programs reused across runs ("" disables it).')


def enable_compile_cache(path: str) -> None:
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
