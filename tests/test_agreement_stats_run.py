"""experiments/agreement_stats.py end to end on a smoke run, read twice as two seeds."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import conftest

from faithjax import io

pytestmark = pytest.mark.slow  # a whole smoke run.py (the session's smoke_workdir) plus fixed-class weak learners
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_scores_match_the_evaluate_stage_and_every_section_is_filled(smoke_workdir, tmp_path):
  run = tmp_path / 'run'
  shutil.copytree(smoke_workdir, run)  # the fixture is read-only; the fixed-class weak learners are written into it
  out = tmp_path / 'out'
  command = [sys.executable, '-m', 'experiments.agreement_stats', '--corpus=synthetic', f'--runs={run},{run}',
             f'--out={out}', f'--scored_dir={tmp_path / "scored"}', '--n_resamples=200',
             f'--compile_cache={conftest.COMPILE_CACHE}']
  done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  record = io.read_json(str(out / 'agreement_stats_synthetic.json'))
  evaluated = io.read_json(str(run / 'stages' / 'evaluate.json'))
  for name, cell in record['evaluations']['deletion_rate']['scores'].items():
    np.testing.assert_allclose(cell['mean'], evaluated['deletion'][name]['mean'], rtol=1e-6)
    assert cell['ci95'][0] <= cell['mean'] <= cell['ci95'][1]
  assert record['seeds'] == [0, 0] and record['rank_agreement']
  signed = {r['explainer'] for r in record['leakage'] if 'fixed_class' in r}
  assert signed == {'input_x_gradient', 'integrated_gradients'}  # saliency and attention have no negative value
  assert all(0 <= r['opposing'] <= 1 for r in record['opposing'])
