"""The installed command (pyproject [project.scripts] faithjax = faithjax.command:entry) with a user's plug-in: an
explainer defined in a module outside the package, its option set from the command line, through every stage."""

import json
import os
import subprocess
import sys
import tomllib

import numpy as np
import pytest

import conftest
from faithjax import command
from faithjax import io

PLUGIN = '''
"""A user's explainer: `scale` on every real token."""
import jax.numpy as jnp
from faithjax import plugins


def constant(model, params, ids, mask, key=None, *, scale=1.0):
  """`scale` on each real token: [batch, seq]."""
  return jnp.full(ids.shape, scale) * mask


plugins.register(plugins.Explainer('constant', constant))
'''


def test_the_console_script_is_the_command():
  with open(os.path.join(conftest.REPO, 'pyproject.toml'), 'rb') as f:
    target = tomllib.load(f)['project']['scripts']['faithjax']
  module, _, function = target.partition(':')
  assert (module, getattr(command, function)) == ('faithjax.command', command.entry)


def plugin_command(tmp_path, *flags):
  """`python -m faithjax.command --plugins=my_plugins.explainers ...` with the plug-in written under tmp_path."""
  (tmp_path / 'my_plugins').mkdir(exist_ok=True)
  (tmp_path / 'my_plugins' / 'explainers.py').write_text(PLUGIN)
  env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=os.pathsep.join([str(tmp_path), conftest.REPO]))
  args = [sys.executable, '-m', 'faithjax.command', '--plugins=my_plugins.explainers', *flags]
  return subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)


def test_a_plugins_options_are_flags_of_the_command(tmp_path):
  shown = plugin_command(tmp_path, '--help')
  assert shown.returncode == 0 and '--explainer.constant.scale' in shown.stdout


@pytest.mark.slow  # the whole smoke pipeline in a subprocess
def test_a_plugin_explainer_with_an_option_from_the_command_line_runs_every_stage(tmp_path):
  done = plugin_command(tmp_path, '--preset=smoke', '--explainers=saliency,constant', '--explainer.constant.scale=3',
                        f'--workdir={tmp_path}/w', f'--compile_cache={conftest.COMPILE_CACHE}')
  assert done.returncode == 0, done.stderr[-3000:]
  assert json.loads((tmp_path / 'w' / 'config.json').read_text())['explainer'] == {'constant': {'scale': 3.0}}
  test_map = io.load_npz(str(tmp_path / 'w' / 'maps' / 'constant.npz'))['test']
  assert len(test_map) and np.all(test_map == 3.0)  # the option reached the explainer
  results = json.loads((tmp_path / 'w' / 'results.json').read_text())
  assert {'saliency', 'constant', 'random'} <= set(results['stages']['evaluate']['deletion'])
  assert 'constant' in (tmp_path / 'w' / 'report.md').read_text()
