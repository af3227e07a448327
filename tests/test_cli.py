"""The command line: flags generated from RunConfig, exit statuses, one line per failure."""

import dataclasses
import errno
import os
import subprocess
import sys

import pytest
from absl import flags

from faithjax import FaithjaxError
from faithjax import Interrupted
from faithjax import cli
from faithjax import config as config_lib
from faithjax import plugins

from conftest import REPO
from conftest import run_cli



def test_every_runconfig_field_is_a_flag_with_its_help_and_choices():
  values = flags.FlagValues()
  cli.define_config_flags(values)
  for field in dataclasses.fields(config_lib.RunConfig):
    if field.name in config_lib.SECTIONS:  # one flag per option of every registered explainer, evaluation (below)
      continue
    flag = values[field.name]
    assert flag.default is None and field.metadata['help'] in flag.help
    if field.metadata['choices'] and not callable(field.metadata['choices']) and isinstance(field.default, str):
      assert tuple(flag.parser.enum_values) == field.metadata['choices']
  assert 'Default: 8 (synthetic: 3)' in values['epochs'].help  # the per-corpus table, not typed
  assert tuple(values['target'].parser.enum_values) == config_lib.explain.TARGETS
  for name, record in plugins.EXPLAINERS.items():
    for option in dataclasses.fields(record.options):
      assert values[f'explainer.{name}.{option.name}'].default is None
  steps = values['explainer.integrated_gradients.steps']
  assert isinstance(steps, flags.Flag) and 'Default: 50 (synthetic: 20)' in steps.help
  assert values['explainer.lime.samples'].help.endswith('Default: 200.')
  assert 'Old name of --explainer.integrated_gradients.steps' in values['ig_steps'].help  # recorded commands run
  percents = values['evaluation.eraser.percents']  # a tuple option: a comma list
  assert percents.default is None and percents.help.endswith('Default: 1,5,10,20,50.')
  values(['prog', '--evaluation.eraser.percents=10,50'])
  assert percents.value == ['10', '50']


def test_smoke_preset_applies_its_sizes_to_every_corpus():
  for corpus in ('synthetic', 'sst', 'imdb'):
    smoke = config_lib.make_config(corpus, preset='smoke')
    assert (smoke.emb_dim, smoke.hidden, smoke.test_subset) == (16, 8, 150)
  assert config_lib.make_config('sst').emb_dim == config_lib.RunConfig.emb_dim


def test_help_exits_0_and_lists_the_common_flags():
  result = run_cli('--help')
  assert result.returncode == 0, result.stderr[-2000:]
  for flag in ('--preset: <full|cpu|reduced|smoke>', '--compile_cache', '--corpus', '--explainers',
               '--explainer.integrated_gradients.steps', '--explainer.smoothgrad.sigma'):
    assert flag in result.stdout


def test_an_empty_list_is_refused_before_any_work(tmp_path):
  # (tests/test_foundation.py checks the message and exit status of every bad flag)
  result = run_cli('--explainers=', f'--workdir={tmp_path}/w')
  assert result.returncode == 2 and result.stderr.count('\n') == 1 and not (tmp_path / 'w').exists()


@pytest.mark.parametrize('experiment', ['agreement', 'agreement_stats', 'departures', 'probe', 'quadrature',
                                        'reproduce', 'side_by_side', 'sign_control'])
def test_an_experiments_bad_flag_is_one_line_and_exit_2(experiment):
  """The absl entry points under experiments/ stop like run.py (the argparse ones exit 2 by themselves)."""
  result = subprocess.run([sys.executable, '-m', f'experiments.{experiment}', '--no_such_flag=1'], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert result.returncode == 2, result.stderr[-2000:]
  assert result.stderr.startswith('faithjax: error:') and result.stderr.count('\n') == 1, result.stderr[-2000:]


def test_reproduce_with_a_runconfig_flag_needs_a_suffix_and_names_its_runs_by_it(tmp_path):
  """--nobidirectional would otherwise write its runs and tables under the preset's own names."""
  command = [sys.executable, '-m', 'experiments.reproduce', '--nobidirectional', '--tables_only', '--seeds=0,1',
             f'--runs_dir={tmp_path}', f'--out={tmp_path}']
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  refused = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
  assert refused.returncode == 2 and '--bidirectional' in refused.stderr and '--suffix' in refused.stderr
  named = subprocess.run([*command, '--suffix=_lstm'], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env=env)
  assert named.returncode == 2 and f'{tmp_path}/cpu_lstm' in named.stderr  # nothing finished there yet


def _exit_of(error, capsys):
  def main(argv):
    raise error
  with pytest.raises(SystemExit) as stop:
    cli.guarded(main, ['run.py'])
  return stop.value.code, capsys.readouterr().err


def test_interrupt_is_one_line_naming_the_stage_and_exits_130(capsys):
  code, err = _exit_of(Interrupted('stage train'), capsys)
  assert code == 130 and err == 'faithjax: interrupted during stage train; re-run the same command to resume\n'
  assert _exit_of(KeyboardInterrupt(), capsys)[0] == 130


def test_os_errors_are_one_line_naming_the_file_and_the_cause(capsys):
  full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), '/runs/x/maps/saliency.npz')
  try:
    try:
      raise full
    except OSError as e:
      raise OSError('write failed') from e
  except OSError as chained:
    code, err = _exit_of(chained, capsys)
  assert code == 1
  assert err == f'faithjax: error: cannot read or write /runs/x/maps/saliency.npz: {os.strerror(errno.ENOSPC)}\n'
  assert _exit_of(FaithjaxError('bad'), capsys) == (2, 'faithjax: error: bad\n')


def test_preset_is_one_flag_definition_that_describes_every_preset():
  assert set(config_lib.PRESET_HELP) == set(config_lib.PRESETS)
  values = flags.FlagValues()
  config_lib.define_preset_flag('reduced', of=' per seed', flag_values=values)
  preset = values['preset']
  assert preset.default == 'reduced' and tuple(preset.parser.enum_values) == tuple(config_lib.PRESETS)
  assert 'Settings per seed (config.PRESETS)' in preset.help
  assert all(f'{name}: {text}' in preset.help for name, text in config_lib.PRESET_HELP.items())
  with pytest.raises(FaithjaxError, match='unknown preset'):
    config_lib.define_preset_flag('gpu', flag_values=flags.FlagValues())
  scripts = [os.path.join(REPO, 'faithjax', 'command.py')] + sorted(
      os.path.join(REPO, 'experiments', f) for f in os.listdir(os.path.join(REPO, 'experiments')) if f.endswith('.py'))
  assert not [s for s in scripts if "DEFINE_enum('preset'" in open(s).read()]  # each entry point uses the one above
