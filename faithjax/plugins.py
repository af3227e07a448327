"""Plug-ins: one typed record per explainer, evaluation, model and corpus, registered once.

Every plug-in, built-in or yours, is a frozen record passed to `register`:

  plugins.register(plugins.Explainer('grad_norm', grad_norm, help='...'))
  plugins.register(plugins.Evaluation('peak', evaluate, summarise, scores={'peak_share': Score(...)}))
  plugins.register(plugins.Model('bag', build))
  plugins.register(plugins.Corpus('reviews', 'Reviews', min_df=2, max_len=256, protocol='...', load=load))

and looked up by name in `EXPLAINERS`, `EVALUATIONS`, `MODELS` or `CORPORA`
(`get(kind, name)` raises a FaithjaxError naming the choices). An
explainer's options are its function's keyword-only arguments with a number,
string or bool default (less the run-wide `SHARED_OPTIONS` and the memory
knobs `MEMORY_OPTIONS`): they become a frozen dataclass, a config section and
the flags `--explainer.<name>.<option>` (faithjax/config.py, faithjax/cli.py).
An evaluation's options are the frozen dataclass its record names
(`Evaluation.options`), flags `--evaluation.<name>.<option>`.
"""

import dataclasses
import inspect
from typing import Any, Callable, Mapping

from faithjax import FaithjaxError

SHARED_OPTIONS = ('target', 'detach_attention')  # run-wide settings (RunConfig.target, .detach_attention)
MEMORY_OPTIONS = ('step_chunk', 'path_tokens')  # how much runs at once: memory and speed, not results
OPTION_TYPES = (bool, int, float, str)  # an explainer's options; an evaluation's may be tuples of them too


def _first_line(text: str | None, default: str) -> str:
  return (text or default).strip().splitlines()[0].rstrip('.')


def _options_class(name: str, fn: Callable) -> type:
  """A frozen dataclass of `fn`'s keyword-only scalar options, their defaults the function's."""
  fields = [(p.name, type(p.default), dataclasses.field(default=p.default))
            for p in inspect.signature(fn).parameters.values()
            if p.kind is p.KEYWORD_ONLY and type(p.default) in OPTION_TYPES
            and p.name not in SHARED_OPTIONS + MEMORY_OPTIONS]
  class_name = ''.join(part.title() for part in name.split('_')) + 'Options'
  return dataclasses.make_dataclass(class_name, fields, frozen=True)


@dataclasses.dataclass(frozen=True)
class Explainer:
  """A feature-attribution method.

  fn(model, params, ids, mask, key=None, **options) -> scores [batch, seq], 0 on PAD
  (ids <int>[batch, seq], mask <bool>[batch, seq]). `options` (derived from fn's
  signature when not given) is the frozen dataclass of its settings; `check`
  rejects a bad instance with a FaithjaxError. A map transform ('name.abs',
  'name.l1') runs the same record, so it inherits every option.
  """
  name: str
  fn: Callable
  help: str = ''  # one line for --help and docs; default: fn's docstring's first line
  needs_key: bool = False  # samples from a PRNG key (fold_in(key(--seed), split) per split)
  baseline: bool = False  # reads nothing of the model (uniform, random): every evaluation's floor, always evaluated
  options: type | None = None  # frozen dataclass of its options; default derived from fn's keyword-only arguments
  check: Callable[[Any], None] | None = None  # options instance -> None; raises FaithjaxError on a bad value
  option_help: Mapping[str, str] = dataclasses.field(default_factory=dict)  # option -> its flag's help
  data_options: Callable | None = None  # (config, corpus) -> {array option: value}, e.g. baseline documents
  quality: Callable | None = None  # (model, params, split, scores, config) -> {measure: value}, explain summary
  # options instance -> None, or fn's variant that also returns per-document counts, (scores, {count: [batch]}),
  # which the explain stage stores beside the map and summarises (IG to a tolerance: its evaluations and error)
  counted: Callable | None = None

  def __post_init__(self):
    if self.options is None:
      object.__setattr__(self, 'options', _options_class(self.name, self.fn))
    object.__setattr__(self, 'help', _first_line(self.help or inspect.getdoc(self.fn), self.name))

  def make_options(self, **values: Any) -> Any:
    """The options instance of `values` (the others at their defaults), type-checked and `check`ed."""
    return make_options(self, 'explainer', **values)


def _coerce(flag: str, kind: type, default: Any, value: Any) -> Any:
  """`value` as an option of type `kind` (its default `default`); a list (a list flag's strings, JSON) becomes a
  tuple option's tuple, each element converted to the type of the default's; a FaithjaxError when it is not one."""
  if kind is tuple and isinstance(value, (list, tuple)):
    element = type(default[0]) if default else str
    try:
      return tuple(element(v) for v in value)
    except (TypeError, ValueError):
      raise FaithjaxError(f'{flag} must be a comma list of {element.__name__}s; got {value!r}') from None
  if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
    return value
  if kind is float and isinstance(value, int) and not isinstance(value, bool):
    return value
  raise FaithjaxError(f'{flag} must be a {kind.__name__}; got {value!r}')


def make_options(record: Any, kind: str, **values: Any) -> Any:
  """record.options(**values) (the others at their defaults), each value type-checked (a tuple option from a list)
  and the instance `check`ed; kind ('explainer', 'evaluation') names the flags --<kind>.<name>.<option>."""
  fields = {f.name: f for f in dataclasses.fields(record.options)}
  unknown = sorted(set(values) - set(fields))
  if unknown:
    raise FaithjaxError(f'{record.name} takes the options {tuple(fields)}; got {unknown}')
  options = record.options(**{
      option: _coerce(f'--{kind}.{record.name}.{option}', fields[option].type, fields[option].default, value)
      for option, value in values.items()})
  if record.check:
    record.check(options)
  return options


@dataclasses.dataclass(frozen=True)
class Checkpoints:
  """N checkpoints of one model and the examples they are re-evaluated on: what a stacked path reads.

  reevaluate.py makes one per explainer. params: each checkpoint's parameters;
  stacked: the same stacked on a leading [N] axis (parallel.stack); split: the
  evaluated EncodedSplit; rows <int>[len(split)]: its examples' indices in the
  whole split; seeds: each run's --seed; deletion: the removal options
  (reevaluate.DELETION_DEFAULTS' keys); weak: None, or {'model': the
  WeakLearner, 'norm', 'permutations'}, and weak_params each workdir's weak
  learner of this explainer's maps; mesh: every batch split over its devices;
  group: checkpoints vmapped together (parallel.over_checkpoints); options:
  {evaluation: its options instance} (Evaluation.options).
  """
  dirs: tuple
  model: Any
  params: tuple
  stacked: Any
  split: Any
  rows: Any
  seeds: tuple
  batch_size: int
  deletion: Mapping[str, Any]
  weak: Mapping[str, Any] | None = None
  weak_params: tuple | None = None
  mesh: Any = None
  group: int = 1
  options: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Stacked:
  """An evaluation's path in re-evaluation of N checkpoints at once (`--mode=reevaluate`, reevaluate.py).

  run(checkpoints, stacked_maps) -> {array: [N, len(split), ...]}, all N in one
  program per bucket (stacked_maps [N, len(split.ids)]: checkpoint i's ragged
  map in row i); loop(checkpoints, stacked_maps) -> the same, one checkpoint at
  a time with the single-model code: run's reference, which tests compare it
  with; result(arrays, checkpoints) -> one checkpoint's entry (its arrays
  without the [N] axis), read like the evaluate stage's summary.
  """
  run: Callable[[Checkpoints, Any], Mapping[str, Any]]
  loop: Callable[[Checkpoints, Any], Mapping[str, Any]]
  result: Callable[[Mapping[str, Any], Checkpoints], dict]


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """A faithfulness evaluation: one section of the evaluate stage's summary.

  evaluate(context, explainer, maps) -> {name: per-example array}, stored as
  evaluations/<name>_<explainer>.npz (maps: {split: ragged map}, the
  baselines' included); summarise(saved) -> the summary entry (means with
  CIs); applies(explainer) -> whether it scores that map (e.g. ERASER skips
  'uniform', which ranks tokens by position only). `scores`: the numbers it
  contributes to tables, rankings and the agreement study
  (faithfulness.evaluations.Score, each with its orientation). `stacked`:
  its path in re-evaluation of many checkpoints at once (`--mode=reevaluate`,
  reevaluate.py; a `Stacked` record); None: not stacked, left out there, and
  the log says so. `trains`: it trains a model on the maps of the train and
  valid splits too (the weak learner, the shuffle test); re-evaluation then
  reads each workdir's trained one (Checkpoints.weak_params). `options`: a
  frozen dataclass of the settings that change its results (e.g. ERASER's
  percents; a field of a number, string, bool or tuple of one of them, with a
  default), a config section and the flags --evaluation.<name>.<option>; its
  instance reaches `evaluate` as context.config.evaluation_options(name) and a
  stacked path as checkpoints.options[name].
  The baselines (uniform, random) reach it as maps like any explainer's.
  """
  name: str
  evaluate: Callable
  summarise: Callable
  applies: Callable[[str], bool] = lambda explainer: True
  scores: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  stacked: 'Stacked | None' = None
  trains: bool = False
  help: str = ''  # one line for docs; default: evaluate's docstring's first line
  options: type = dataclasses.make_dataclass('NoOptions', [], frozen=True)  # frozen dataclass of its settings
  check: Callable[[Any], None] | None = None  # options instance -> None; raises FaithjaxError on a bad value
  option_help: Mapping[str, str] = dataclasses.field(default_factory=dict)  # option -> its flag's help

  def __post_init__(self):
    object.__setattr__(self, 'help', _first_line(self.help or inspect.getdoc(self.evaluate), self.name))

  def make_options(self, **values: Any) -> Any:
    """The options instance of `values` (the others at their defaults), type-checked and `check`ed."""
    return make_options(self, 'evaluation', **values)


@dataclasses.dataclass(frozen=True)
class Model:
  """A classifier: build(config, vocab_size, num_classes) -> a flax.linen module, a flax.nnx module or a
  contract.Functions record implementing faithjax/models/contract.py (its logits [batch, num_classes];
  docs/extending.md)."""
  name: str
  build: Callable
  help: str = ''

  def __post_init__(self):
    object.__setattr__(self, 'help', _first_line(self.help or inspect.getdoc(self.build), self.name))


@dataclasses.dataclass(frozen=True)
class Corpus:
  """How one corpus is loaded, encoded and named in tables.

  load(data_dir, seed) -> {split: (docs, labels[, rationales], ids)}: token
  lists, [n] labels (ids of `classes`; without them, the labels themselves).
  With an `argument` (its name, e.g. 'PATH'), the corpus is named
  'name:ARGUMENT' (e.g. jsonl:data.jsonl) and load is called as
  load(argument, data_dir, seed).
  """
  name: str
  display: str
  min_df: int  # vocabulary: words in at least min_df training documents
  max_len: int  # tokens kept per document by encode_corpus; longer ones are truncated (see table1's 'truncated')
  protocol: str  # the cleaning and split recipe, one line
  load: Callable
  reduced: Callable = lambda data_dir: False  # (data_dir) -> True when a stand-in replaces the official train file
  reduced_protocol: str = ''
  # Jain & Wallace's (min_length, max_length) for their loader of this corpus (Trainers/DatasetBC.py, read by
  # encode.filter_by_length under RunConfig.length_filter); None where they have no loader (synthetic, your own).
  length_filter: tuple | None = None
  argument: str = ''  # e.g. 'PATH' for jsonl:PATH; '' for a corpus named without one
  # The class names in label-id order (its loader's labels are 0..k-1); () for a loader whose labels name the
  # classes themselves (jsonl, tfds: any k >= 2 integers or strings, numbered in sorted order by corpora.load_raw).
  classes: tuple = ()


EXPLAINERS: dict[str, Explainer] = {}
EVALUATIONS: dict[str, Evaluation] = {}
MODELS: dict[str, Model] = {}
CORPORA: dict[str, Corpus] = {}
_TABLES = {Explainer: EXPLAINERS, Evaluation: EVALUATIONS, Model: MODELS, Corpus: CORPORA}


def register(record: Explainer | Evaluation | Model | Corpus) -> Explainer | Evaluation | Model | Corpus:
  """Adds (or replaces) a plug-in under its name; returns it."""
  if type(record) not in _TABLES:
    raise FaithjaxError(f'register takes an Explainer, Evaluation, Model or Corpus record; got {record!r}')
  if '.' in record.name or ':' in record.name or not record.name:
    raise FaithjaxError(f'a plug-in name has no "." or ":" (they separate map transforms and arguments): '
                        f'{record.name!r}')
  _TABLES[type(record)][record.name] = record
  return record


def get(kind: type, name: str) -> Any:
  """The registered record of `kind` (Explainer, Evaluation, Model, Corpus) named `name`."""
  table = _TABLES[kind]
  if name not in table:
    raise FaithjaxError(f'unknown {kind.__name__.lower()} {name!r}; choose from {", ".join(table)}')
  return table[name]
