"""The command line: flags generated from RunConfig, and one line for every way a run can stop early.

Every RunConfig field is a flag of the same name, type and help text
(config.setting's metadata), and every option of every registered explainer
is a flag --explainer.<name>.<option> (plugins.Explainer); a field with fixed choices is an enum; one
whose choices come from a registry that outside code can extend (models,
explainers) is a string (a comma list for tuples) that config.make_config
checks against the registry when the config is made. Flags default to
None, so the preset's table (config.PRESETS) fills what a user did not set.

`run(main)` replaces `absl.app.run(main)`: bad flags and FaithjaxErrors exit 2
with one `faithjax: error:` line, --help exits 0, Ctrl-C exits 130 saying how
to resume, and other OSErrors (disk full, ...) exit 1 naming the file.
"""

import dataclasses
import sys
import types
from typing import Any, Callable

from absl import app
from absl import flags

from faithjax import FaithjaxError
from faithjax import Interrupted
from faithjax import config as config_lib
from faithjax import interrupts
from faithjax import plugins

FLAGS = flags.FLAGS
HELP_FLAGS = ('--help', '-help', '-h', '--helpshort', '-helpshort', '-?')
EXIT_BAD_INPUT, EXIT_OS_ERROR, EXIT_INTERRUPTED = 2, 1, 130

_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float, bool: flags.DEFINE_bool, str: flags.DEFINE_string,
           tuple: flags.DEFINE_list}


def _value_type(field):
  """int, float, bool, str or tuple; `str | None` is str."""
  if isinstance(field.type, types.UnionType):
    return next(t for t in field.type.__args__ if t is not type(None))
  return field.type


def flag_help(name: str, help_text: str, default: Any) -> str:
  """A config flag's help, its default and the corpora whose own settings differ (config.PRESETS['full'])."""
  show = lambda v: ','.join(map(str, v)) if isinstance(v, tuple) else str(v)
  own = [f'{corpus}: {show(s[name])}' for corpus, s in config_lib.PRESETS['full'].items() if name in s]
  default = '' if default is None else f' Default: {show(default)}'
  return help_text + default + (f' ({"; ".join(own)})' if own else '') + ('.' if default else '')


def option_flags(section: str, table: dict) -> list[tuple]:
  """(flag, type, help, None) of --<section>.<name>.<option> for every option of every record in `table`
  (plugins.EXPLAINERS or EVALUATIONS; section: 'explainer' or 'evaluation'); a tuple option is a list flag."""
  specs = []
  for name, record in table.items():
    for option in dataclasses.fields(record.options):
      help_text = record.option_help.get(option.name, f'{name} option {option.name}.')
      flag = f'{section}.{name}.{option.name}'
      specs.append((flag, option.type, flag_help(flag, help_text, option.default), None))
  return specs


def config_flags() -> list[tuple]:
  """(name, type, help, fixed choices or None) of every config flag: one per RunConfig field,
  --explainer.<name>.<option> for every option of every registered explainer (plugins.Explainer) and
  --evaluation.<name>.<option> for every evaluation's (plugins.Evaluation)."""
  specs = []
  for field in dataclasses.fields(config_lib.RunConfig):
    if field.name == 'explainer':
      specs += option_flags('explainer', plugins.EXPLAINERS)
      kinds = {flag: kind for flag, kind, *_ in specs}
      specs += [(old, kinds[new], f'Old name of --{new}, kept so that recorded commands still run.', None)
                for old, new in config_lib.LEGACY_OPTIONS.items()]
      continue
    if field.name == 'evaluation':
      specs += option_flags('evaluation', plugins.EVALUATIONS)
      continue
    choices = field.metadata['choices']
    specs.append((field.name, _value_type(field), flag_help(field.name, field.metadata['help'], field.default),
                  None if callable(choices) else choices))
  return specs


def define_config_flags(flag_values: flags.FlagValues = FLAGS, skip: tuple[str, ...] = ()) -> None:
  """One flag per config setting (config_flags) but those in `skip` (default None: unset, so presets and
  per-corpus settings apply). A plug-in imported before this call gets its flags too."""
  for name, kind, help_text, choices in config_flags():
    if name in skip:
      continue
    if kind is str and choices:
      flags.DEFINE_enum(name, None, list(choices), help_text, flag_values=flag_values)
    else:
      _DEFINE[kind](name, None, help_text, flag_values=flag_values)


def config_overrides(skip: tuple[str, ...] = ()) -> dict:
  """{flag: value} of the config flags set on the command line (define_config_flags with the same `skip`):
  make_config's overrides."""
  return {name: FLAGS[name].value for name, *_ in config_flags()
          if name not in skip and name in FLAGS and FLAGS[name].value is not None}


def config_from_flags(preset: str) -> config_lib.RunConfig:
  """The RunConfig the parsed flags ask for."""
  values = config_overrides()
  return config_lib.make_config(values.pop('corpus', None) or config_lib.RunConfig.corpus, preset=preset, **values)


def _usage(full, doc=None):
  """`doc` (default the main module's docstring) and the flags (and faithjax's; with `full`, every library's)."""
  doc = doc or sys.modules['__main__'].__doc__ or ''
  if full:
    return doc + '\n' + FLAGS.get_help()
  modules = [m for m in FLAGS.flags_by_module_dict() if m == sys.argv[0] or m.startswith('faithjax')]
  return doc + '\nFlags (--helpfull: every library\'s too):\n' + '\n'.join(FLAGS.module_help(m) for m in modules)


def parse_flags(argv: list[str], doc: str | None = None) -> list[str]:
  """absl's parser with help (`doc` and the flags) on stdout (exit 0) and a bad flag as one line (exit 2)."""
  if any(a in HELP_FLAGS + ('--helpfull', '-helpfull') for a in argv[1:]):
    print(_usage(full=any(a.endswith('helpfull') for a in argv[1:]), doc=doc))
    sys.exit(0)
  try:
    return FLAGS(argv)
  except flags.Error as e:
    print(f'faithjax: error: {e}', file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def guarded(main: Callable[[list[str]], None], argv: list[str]) -> None:
  """Calls main(argv); every expected way to stop becomes one line on stderr and an exit status."""
  interrupts.install()
  try:
    interrupts.raise_if_received('start-up')  # a Ctrl-C that came while run.py loaded (interrupts.install(defer))
    main(argv)
    interrupts.raise_if_received('the last step')
  except FaithjaxError as e:
    print(f'faithjax: error: {e}', file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)
  except KeyboardInterrupt as e:
    where = f' during {e.args[0]}' if isinstance(e, Interrupted) and e.args else ''
    print(f'faithjax: interrupted{where}; re-run the same command to resume', file=sys.stderr)
    sys.exit(EXIT_INTERRUPTED)
  except OSError as e:
    print(f'faithjax: error: {os_error_line(e)}', file=sys.stderr)
    sys.exit(EXIT_OS_ERROR)


def os_error_line(error: OSError) -> str:
  """'cannot read or write <file>: <cause>' of an OSError and the OSErrors it was raised from."""
  chain = [error]
  while isinstance(chain[-1].__cause__ or chain[-1].__context__, OSError):
    chain.append(chain[-1].__cause__ or chain[-1].__context__)
  where = next((e.filename for e in chain if e.filename), None) or 'a file'
  cause = next((e.strerror for e in reversed(chain) if e.strerror), None) or str(error)
  return f'cannot read or write {where}: {cause}'


def run(main: Callable[[list[str]], None], doc: str | None = None) -> None:
  """absl.app.run(main) with faithjax's exit statuses and one-line errors; --help shows `doc` (default: the main
  module's docstring)."""
  app.run(lambda argv: guarded(main, argv), flags_parser=lambda argv: parse_flags(argv, doc))
