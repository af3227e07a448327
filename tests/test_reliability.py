"""A real run killed mid-stage resumes to the same results; same config and seed, same results.json."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ['--emb_dim=16', '--hidden=8', '--epochs=3', '--learning_rate=0.01', '--ig_steps=8', '--weak_epochs=2',
         '--permutations=20', '--test_subset=150']


def command(workdir, *extra):
  cache = f'--compile_cache={jax.config.jax_compilation_cache_dir}'  # shared with the in-process tests
  return [sys.executable, os.path.join(REPO, 'run.py'), f'--workdir={workdir}', cache, *SMALL, *extra]


def results_without_command(workdir):
  with open(os.path.join(workdir, 'results.json')) as f:
    results = json.load(f)
  del results['provenance']['command']  # names the workdir
  return results


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('straight')
  subprocess.run(command(workdir), check=True, capture_output=True, cwd=REPO, timeout=600)
  return results_without_command(workdir)


def test_killed_during_training_resumes_to_the_same_results(uninterrupted, tmp_path):
  workdir = tmp_path / 'killed'
  first_epoch = workdir / 'checkpoints' / 'classifier' / 'last' / '0'
  process = subprocess.Popen(command(workdir), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while not first_epoch.exists() and process.poll() is None and time.time() < deadline:
    time.sleep(0.05)
  assert process.poll() is None, 'the run finished before it could be killed'
  process.send_signal(signal.SIGKILL)
  process.wait()
  assert not (workdir / 'results.json').exists()
  resumed = subprocess.run(command(workdir), capture_output=True, text=True, cwd=REPO, timeout=600)
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert 'resumed after epoch' in resumed.stderr
  assert results_without_command(workdir) == uninterrupted


def test_same_config_and_seed_give_identical_results_json(uninterrupted, tmp_path):
  subprocess.run(command(tmp_path), check=True, capture_output=True, cwd=REPO, timeout=600)
  assert results_without_command(tmp_path) == uninterrupted


def test_faithful_explainers_beat_random_on_synthetic(uninterrupted):
  """Planted evidence decides the label: IG and Input x Gradient must beat a random map everywhere."""
  evaluated = uninterrupted['stages']['evaluate']
  for name in ('integrated_gradients', 'input_x_gradient'):
    assert evaluated['deletion'][name]['ci95'][1] < evaluated['deletion']['random']['ci95'][0]
    assert evaluated['weak_learner'][name]['f1'] > evaluated['weak_learner']['random']['f1'] + 0.1
    assert evaluated['shuffle'][name]['ci95'][0] > evaluated['shuffle']['random']['ci95'][1]
