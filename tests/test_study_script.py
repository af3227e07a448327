"""experiments/study.sh, the study's driver, end to end at the smoke preset (slow)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests import conftest


@pytest.mark.slow  # two smoke runs (3 maps) and the meta-evaluation over them: minutes
def test_the_study_driver_runs_and_archives_seeds_then_resumes_and_meta_evaluates_them(tmp_path):
  cache = f'--compile_cache={conftest.COMPILE_CACHE}'
  env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHON=sys.executable, PRESET='smoke', SEEDS='0 1',
             EXPLAINERS='input_x_gradient,attention,input_x_gradient.abs', STUDY_RUNS=str(tmp_path / 'runs'),
             RESULTS=str(tmp_path / 'results'), RUN_FLAGS=f'--test_subset=16 {cache}',
             META_FLAGS=f'--n_resamples=200 --depth=1 --nonaopc {cache}')
  command = ['bash', 'experiments/study.sh', 'synthetic']
  seeds_only = dict(env, META='0', LANES='1')
  done = subprocess.run(command, cwd=conftest.REPO, env=seeds_only, capture_output=True, text=True, timeout=2400)
  assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
  for seed in (0, 1):  # each seed's archive and its part of the meta-evaluation
    assert (tmp_path / 'results' / 'study_seeds' / f'synthetic-seed{seed}.npz').exists()
    assert (tmp_path / 'results' / 'study_seeds' / f'synthetic-seed{seed}.meta.npz').exists()
  assert not (tmp_path / 'results' / 'study').exists()  # META=0: the seeds only
  shutil.rmtree(tmp_path / 'runs' / 'synthetic')  # the workdirs gone, as at a session's end: the archives suffice
  again = subprocess.run(command, cwd=conftest.REPO, env=env, capture_output=True, text=True, timeout=2400)
  assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
  assert again.stdout.count('archived with its part, not run again') == 2
  record = json.loads((tmp_path / 'results' / 'study' / 'meta_synthetic' / 'meta.json').read_text())
  assert record['seeds'] == [0, 1] and 'input_x_gradient.abs' in record['explainers']
  assert record['diagnosed'] == ['input_x_gradient', 'attention']  # one map per explainer: no |X| degraded again
  assert any(v['truth_tau'] for v in record['verdicts'])  # synthetic: each evaluation's tau with the planted truth
