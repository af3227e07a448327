"""Two CPU processes on JAX's distributed runtime against one process with the same two devices.

Each process holds one CPU device and feeds its half of every batch; process 0
alone writes. The pipeline (smoke preset) and a stacked re-evaluation must
give the same results.json and reevaluate.json as one process sharding over
two forced CPU devices (the same programs, the same partition).

Each program that spans both processes costs seconds to set up there, even
when it comes from the compile cache: on the synthetic corpus (four bucket
widths, several batch shapes, six maps) the test took 27 minutes in CI. It
runs on a short copy of that corpus instead, every document in one bucket
width and every evaluation batch one shape, with two explainers (and the two
baselines): the same stages, fewer programs.
"""

import json
import os
import socket
import subprocess
import sys

import pytest

from faithjax import plugins
from faithjax.data import synthetic
from faithjax.faithfulness import evaluations

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 900
# Odd sizes: each split's last batch is padded across the processes (training to an even 32 rows, evaluation to
# 64), in the same shapes as the full batches.
SIZES = {'train': 255, 'valid': 63, 'test': 63}
# One evaluation batch shape for every split, and a test subset so deletion's sampling is checked too.
RUN_FLAGS = ('--explainers=saliency,attention', '--eval_batch_size=64', '--test_subset=32')


def short_corpus(path):
  """Writes the synthetic corpus with documents of 4-8 tokens (one bucket width) as JSON lines at `path`;
  returns the --corpus flag that reads it."""
  splits = synthetic.generate(seed=0, sizes=SIZES, min_len=4, max_len=8)
  rows = [{'text': ' '.join(doc), 'label': int(label), 'split': split}
          for split, (docs, labels, _) in splits.items() for doc, label in zip(docs, labels)]
  path.write_text(''.join(json.dumps(row) + '\n' for row in rows))
  return f'--corpus=jsonl:{path}'


def free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def launch(args, devices=1):
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'XLA_FLAGS': f'--xla_force_host_platform_device_count={devices}'}
  return subprocess.Popen([sys.executable, os.path.join(REPO, 'run.py'), '--preset=smoke', *args], cwd=REPO,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(processes):
  outputs = [p.communicate(timeout=TIMEOUT) for p in processes]
  for p, (_, stderr) in zip(processes, outputs):
    assert p.returncode == 0, stderr[-3000:]
  return [stderr for _, stderr in outputs]


def two_processes(*args):
  """run.py in 2 processes, one CPU device each; returns their stderr."""
  flags = ['--distributed', f'--coordinator_address=localhost:{free_port()}', '--num_processes=2']
  return finish([launch([*args, *flags, f'--process_id={i}']) for i in range(2)])


def read(path, drop=()):
  with open(path) as f:
    content = json.load(f)
  for keys in drop:  # e.g. ('provenance', 'command'): the command line differs by its flags
    *parents, last = keys
    node = content
    for k in parents:
      node = node[k]
    del node[last]
  return content


@pytest.mark.slow
def test_two_processes_equal_one_process_with_two_devices(tmp_path):
  run = [short_corpus(tmp_path / 'short.jsonl'), f'--compile_cache={tmp_path}/cache', *RUN_FLAGS]
  multi, single = tmp_path / 'two_processes', tmp_path / 'one_process'
  stderr = two_processes(f'--workdir={multi}', *run)
  finish([launch([f'--workdir={single}', '--mesh=0', *run], devices=2)])
  drop = [('provenance', 'command')]
  assert read(multi / 'results.json', drop) == read(single / 'results.json', drop)
  # Only process 0 logs and writes: no stage lines from process 1, no temp files left behind.
  assert 'stage evaluate: running' in stderr[0] and 'stage' not in stderr[1]
  assert not [f for _, _, files in os.walk(multi) for f in files if f.endswith('.tmp')]

  # The stacked re-evaluation of that run's classifier (and weak learners), in 2 processes and in 1.
  reevaluate = ['--mode=reevaluate', f'--checkpoints={multi}', *run]
  two_processes(*reevaluate, f'--workdir={tmp_path}/reevaluated_by_two')
  finish([launch([*reevaluate, f'--workdir={tmp_path}/reevaluated_by_one', '--mesh=0'], devices=2)])
  by_two, by_one = (read(tmp_path / d / 'reevaluate.json') for d in ('reevaluated_by_two', 'reevaluated_by_one'))
  assert by_two == by_one and set(by_two[0]) == {'checkpoint', 'test_examples', *plugins.EVALUATIONS}
  # It re-measures the run's own deletion rates (same test subset) from recomputed maps.
  evaluate = read(multi / 'stages' / 'evaluate.json')
  for name, cell in by_two[0]['deletion'].items():
    assert cell['mean'] == pytest.approx(evaluate['deletion'][name]['mean'], abs=1e-6), name


def test_coordinator_flags_go_together(tmp_path):
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu'}
  for args, message in ((['--distributed', '--num_processes=2'], 'go together'),
                        (['--process_id=1'], 'need --distributed'),
                        (['--distributed', '--coordinator_address=localhost:1', '--num_processes=2',
                          '--process_id=2'], '--process_id must be in 0..1')):
    done = subprocess.run([sys.executable, os.path.join(REPO, 'run.py'), f'--workdir={tmp_path}/w', *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    errors = [l for l in done.stderr.splitlines() if l.startswith('faithjax: error:')]
    assert done.returncode == 2 and len(errors) == 1 and message in errors[0], done.stderr[-2000:]
