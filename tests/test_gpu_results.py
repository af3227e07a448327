"""experiments/gpu_results.py: the GPU session's files -> targets and tables."""

import json
import os
import subprocess
import sys
import tarfile

import pytest

from experiments import gpu_results
from tests import conftest


def write(folder, name, lines):
  (folder / name).write_text(''.join(lines))


def bench_line(impl, explainer, eps, seq_len=256, **extra):
  return json.dumps(dict(impl=impl, explainer=explainer, examples_per_s=eps, batch=64, seq_len=seq_len,
                         bidirectional=False, **extra)) + '\n'


def test_report_checks_each_target(tmp_path):
  write(tmp_path, 'bench.jsonl', [
      bench_line('faithjax', 'integrated_gradients', 120.), bench_line('captum', 'integrated_gradients', 10.),
      bench_line('torch_batched', 'integrated_gradients', 40.), bench_line('faithjax', 'saliency', 30.),
      bench_line('captum', 'saliency', 20.), bench_line('faithjax', 'eraser_deletion', 1500.),
      bench_line('torch_loop', 'eraser_deletion', 5.), bench_line('faithjax', 'eraser_deletion', 9., seq_len=32)])
  write(tmp_path, 'extra.jsonl', [
      bench_line('faithjax', 'saliency', 60., dtype='bfloat16', spearman_median=0.99, relative_l2_median=0.01,
                 top10_overlap_mean=0.9),
      json.dumps(dict(explainer='saliency', speedup_stacked_over_loop=2.5)) + '\n'])
  write(tmp_path, 'steps.tsv', [f'study/sst/{s}\tok\t10\t240\n' for s in ('encode', 'train', 'explain', 'evaluate')]
        + ['study/sst/report\ttimeout\t240\t240\n', 'bench/x\tskipped\t0\tbudget\n'])
  text = gpu_results.report(str(tmp_path))
  assert '| LSTM | 256 | integrated_gradients >= 10x captum | 12.0x | met |' in text
  assert '| LSTM | 256 | integrated_gradients >= 4x torch_batched | 3.0x | missed |' in text
  assert '| LSTM | 256 | saliency >= 2x captum | 1.5x | missed |' in text
  assert '| LSTM | 256 | input_x_gradient >= 2x captum | - | not measured |' in text
  assert '| LSTM | 256 | deletion until flip >= 1,000 ex/s at seq 256 | 1,500 ex/s, 300x the loop | met |' in text
  assert '| LSTM | 32 | deletion until flip >= 1,000 ex/s at seq 256 | 9 ex/s | no target at this length |' in text
  assert '| sst | 10 | 10 | 10 | 10 | timeout | 280 (incomplete) |' in text
  assert 'not measured (not every corpus finished)' in text
  assert '| LSTM | 256 | saliency | 60.0 | 30.0 | 2.00x | 0.99 | 0.01 | 0.9 |' in text
  assert 'Stacked over loop, saliency: **2.5x**' in text
  assert 'Steps not ok: study/sst/report (timeout), bench/x (skipped)' in text


@pytest.mark.slow
def test_the_gpu_session_smoke_runs_every_step_and_times_ig_to_a_tolerance(tmp_path):
  """GPU_SESSION_SMOKE=1: every step of experiments/gpu_session.sh at tiny shapes on the CPU, packaged as on a GPU,
  the study's time-to-tolerance rows among them."""
  datasets = os.path.join(conftest.REPO, '..', 'shared', 'datasets')  # what the script's .carry holds
  if not os.path.isdir(os.path.join(datasets, 'sst')):
    pytest.skip(f'no SST files under {datasets}')
  carry = tmp_path / 'carry'  # the datasets without the peer: its steps (torch's imports) would double the time
  carry.mkdir()
  (carry / 'datasets').symlink_to(os.path.abspath(datasets))
  out = tmp_path / 'out'
  env = dict(os.environ, GPU_SESSION_SMOKE='1', OUT=str(out), JAX_PLATFORMS='cpu', GPU_SESSION_CARRY=str(carry),
             PYTHON=sys.executable)
  done = subprocess.run(['bash', 'experiments/gpu_session.sh'], cwd=conftest.REPO, env=env, capture_output=True,
                        text=True, timeout=1800)
  assert done.returncode == 0, done.stderr[-3000:]
  assert {p.name for p in out.iterdir()} >= {'bench.jsonl', 'extra.jsonl', 'steps.tsv', 'session.txt', 'log.txt',
                                             'bench_table.md', 'summary.md', 'study.tar.gz'}
  steps = gpu_results.read_steps(str(out / 'steps.tsv'))
  assert [name for name, status, _ in steps if status != 'ok'] == [], (steps, (out / 'log.txt').read_text()[-3000:])
  assert {'study/sst/report', 'tolerance/sst'} <= {name for name, *_ in steps}
  with tarfile.open(out / 'study.tar.gz') as tar:
    assert {'study/time_to_tolerance_sst.md', 'study/sst/report.md'} <= set(tar.getnames())
  rows = gpu_results.tolerance_rows(str(out))
  assert any(row.startswith('| sst | 20 | 0.001 | faithjax adaptive | adaptive |') for row in rows), rows
  assert '\n'.join(rows[2:]) in (out / 'summary.md').read_text()
