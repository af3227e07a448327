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
from test_extending import extending_example

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


def plugin_command(tmp_path, *flags, modules=None):
  """`python -m faithjax.command --plugins=my_plugins.<module>,... ...` with each plug-in module ({name: source},
  default the explainer above) written under tmp_path."""
  modules = modules or {'explainers': PLUGIN}
  (tmp_path / 'my_plugins').mkdir(exist_ok=True)
  for name, source in modules.items():
    (tmp_path / 'my_plugins' / f'{name}.py').write_text(source)
  env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=os.pathsep.join([str(tmp_path), conftest.REPO]))
  args = [sys.executable, '-m', 'faithjax.command', '--plugins=' + ','.join(f'my_plugins.{m}' for m in modules),
          *flags]
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


@pytest.mark.slow  # two smoke pipelines in subprocesses, each re-run
@pytest.mark.parametrize('model, explainers', [('attention_nnx', ('saliency', 'integrated_gradients', 'attention')),
                                               ('bag_functions', ('saliency', 'integrated_gradients'))])
def test_a_user_model_of_each_kind_runs_every_stage_and_a_re_run_resumes(tmp_path, model, explainers):
  """docs/extending.md's flax.nnx model and its plain-function model, each a module outside the package
  (--plugins), through every stage of the installed command; then the same command again, after the records and
  outputs a killed run would lack are removed: training resumes from its orbax checkpoint, a map and an evaluation
  are recomputed, and results.json is the same."""
  workdir = tmp_path / 'w'
  flags = ('--preset=smoke', f'--model={model}', f'--explainers={",".join(explainers)}', f'--workdir={workdir}',
           f'--compile_cache={conftest.COMPILE_CACHE}')
  modules = {'models': extending_example(f"plugins.Model('{model}'")}
  done = plugin_command(tmp_path, *flags, modules=modules)
  assert done.returncode == 0, done.stderr[-3000:]
  results = json.loads((workdir / 'results.json').read_text())
  stages = results['stages']
  assert set(stages) == {'encode', 'train', 'explain', 'evaluate'} and stages['train']['test']['accuracy'] > 0.7
  evaluated = stages['evaluate']
  for name in explainers:  # every map has deletion, ERASER and weak-learner numbers
    numbers = (evaluated['deletion'][name]['mean'], evaluated['eraser'][name]['aopc_comprehensiveness']['mean'],
               evaluated['eraser'][name]['aopc_sufficiency']['mean'], evaluated['weak_learner'][name]['f1'])
    assert all(np.isfinite(numbers)), (name, numbers)
  for path in ('stages/train.json', 'maps/saliency.npz', 'stages/evaluate.json',
               'evaluations/deletion_saliency.npz'):
    (workdir / path).unlink()
  again = plugin_command(tmp_path, *flags, modules=modules)
  assert again.returncode == 0, again.stderr[-3000:]
  assert f'classifier: resumed after epoch {results["config"]["epochs"]}' in again.stderr
  assert 'stage explain: recomputed' in again.stderr and 'the same as before' in again.stderr
  assert json.loads((workdir / 'results.json').read_text()) == results
