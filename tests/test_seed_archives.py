"""Seed archives (experiments.evaluated_runs.write_archive): the seed-aware tables read from them exactly what the
workdir holds, a corrupt one is refused, and experiments.reproduce refuses one made with other settings."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import conftest

from experiments import evaluated_runs
from faithjax import io
from faithjax import metrics
from faithjax import study
from faithjax.faithfulness import evaluations
from faithjax.io import CorruptArtefact

pytestmark = pytest.mark.slow  # reads the session's smoke run.py workdir
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_an_archive_reads_back_what_its_workdir_holds(smoke_workdir, tmp_path):
  run = evaluated_runs.Run(str(smoke_workdir))
  path = str(tmp_path / 'synthetic-seed0.npz')
  evaluated_runs.write_archive(run, path)
  archived = evaluated_runs.ArchivedRun(path)
  np.testing.assert_array_equal(archived.labels, run.test.labels)
  np.testing.assert_array_equal(archived.classifier_predictions(), run.classifier_predictions())
  assert archived.results() == run.results() and archived.config == run.config
  compared = 0
  for spec in evaluations.SCORES.values():
    for name in run.config.explainers:
      if spec.resampled and run.has(spec.section, name):
        for mine, theirs in zip(archived.units(spec, name), run.units(spec, name)):
          np.testing.assert_array_equal(mine, theirs)
        compared += 1
  assert compared >= 3 * len(run.config.explainers)
  draws = metrics.two_level_draws(2, len(run.labels), 'crossed', 50, seed=0)
  for evaluation in study.evaluation_names():
    rows = [evaluated_runs.seeded_rows({'synthetic': [r, r]}, evaluation, lambda c: draws) for r in (archived, run)]
    for mine, theirs in zip(*rows, strict=True):
      np.testing.assert_array_equal(mine.pop('boot'), theirs.pop('boot'))  # the bootstrap distribution too
      assert mine == theirs
  with open(path, 'r+b') as f:  # one byte changed
    f.seek(100)
    byte = f.read(1)
    f.seek(100)
    f.write(bytes([byte[0] ^ 1]))
  with pytest.raises(CorruptArtefact):
    evaluated_runs.ArchivedRun(path)


def reproduce(runs_dir, out, *extra):
  command = [sys.executable, '-m', 'experiments.reproduce', '--preset=smoke', '--corpora=synthetic',
             f'--runs_dir={runs_dir}', f'--out={out}', '--n_resamples=100', f'--compile_cache={conftest.COMPILE_CACHE}',
             '--tables_only', *extra]
  return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)


def test_the_seeded_tables_survive_the_workdir_and_refuse_other_settings(smoke_workdir, tmp_path):
  runs_dir, out = tmp_path / 'runs', tmp_path / 'out'
  shutil.copytree(smoke_workdir, runs_dir / 'smoke' / 'synthetic')
  before = tmp_path / 'before_runs.json'  # an earlier reproduction: the same run, counted beside
  io.write_json(str(before), {'synthetic': io.read_json(str(smoke_workdir / 'results.json'))})
  done = reproduce(runs_dir, out)  # one seed: its archive is the first seed of a later --seeds call
  assert done.returncode == 0, done.stderr[-3000:]
  assert (out / 'reproduction_smoke_seeds' / 'synthetic-seed0.npz').exists()
  (out / 'reproduction_smoke_seeds' / 'synthetic-seed0.npz').unlink()
  done = reproduce(runs_dir, out, '--seeds=0,1', f'--before={before}')
  assert done.returncode == 0, done.stderr[-3000:]
  table = (out / 'reproduction_smoke_seeds.md').read_text()
  assert 'inside CI (before)' in table and str(before) in table
  assert (out / 'reproduction_smoke_seeds' / 'synthetic-seed0.npz').exists()
  shutil.rmtree(runs_dir)  # the workdir is gone; its archive stays
  done = reproduce(runs_dir, out, '--seeds=0,1', f'--before={before}')
  assert done.returncode == 0, done.stderr[-3000:]
  body = lambda text: [line for line in text.splitlines() if 'rendered' not in line]
  assert body((out / 'reproduction_smoke_seeds.md').read_text()) == body(table)
  # seed 0's run archived as seed 1 (hashes rewritten, so it is whole): its seed is not the one --seeds names
  archives = out / 'reproduction_smoke_seeds'
  for ext in ('.npz', '.json'):
    shutil.copy(archives / f'synthetic-seed0{ext}', archives / f'synthetic-seed1{ext}')
  io.record_hashes(str(archives / 'synthetic-seed1.npz'))
  done = reproduce(runs_dir, out, '--seeds=0,1')
  assert done.returncode != 0
  assert 'synthetic-seed1.npz was made with other settings (seed)' in done.stderr


def test_a_variant_on_other_test_documents_is_compared_and_says_so(smoke_workdir, tmp_path):
  """--variants: the variant's seeds are bootstrapped on their own, so one whose test split differs (the length
  filter drops documents) is still a difference of two estimates; its column header names the corpus."""
  runs_dir, out = tmp_path / 'runs', tmp_path / 'out'
  shutil.copytree(smoke_workdir, runs_dir / 'smoke' / 'synthetic')
  assert reproduce(runs_dir, out, '--seeds=0,1').returncode == 0
  variant = out / 'reproduction_smoke_v_seeds'
  shutil.copytree(out / 'reproduction_smoke_seeds', variant)
  done = reproduce(runs_dir, out, '--seeds=0,1', '--variants=_v')
  assert done.returncode == 0, done.stderr[-3000:]
  assert '`_v` (the same settings, 1 seeds) − ours' in (out / 'reproduction_smoke_seeds.md').read_text()
  arrays = io.load_npz(str(variant / 'synthetic-seed0.npz'))
  arrays['labels'] = 1 - arrays['labels']  # other documents, as far as the tables can tell
  io.save_npz(str(variant / 'synthetic-seed0.npz'), compress=True, **arrays)
  done = reproduce(runs_dir, out, '--seeds=0,1', '--variants=_v')
  assert done.returncode == 0, done.stderr[-3000:]
  assert ('`_v` (the same settings; other test documents on synthetic, 1 seeds) − ours'
          in (out / 'reproduction_smoke_seeds.md').read_text())


def test_an_archived_seed_is_not_run_again_and_a_call_for_another_corpus_keeps_it_in_the_tables(
    smoke_workdir, tmp_path):
  """Session 14's IMDB-only call rendered reproduction_cpu.md over with IMDB alone, and --seeds=0,... re-ran
  seed 0 when its workdir was gone though its archive was committed."""
  runs_dir, out = tmp_path / 'runs', tmp_path / 'out'
  shutil.copytree(smoke_workdir, runs_dir / 'smoke' / 'synthetic')
  assert reproduce(runs_dir, out).returncode == 0
  body = lambda text: [line for line in text.splitlines() if 'rendered' not in line]
  table = body((out / 'reproduction_smoke.md').read_text())
  shutil.rmtree(runs_dir)
  done = reproduce(runs_dir, out, '--notables_only')  # the workdir is gone, the archive says it finished
  assert done.returncode == 0, done.stderr[-3000:]
  assert 'not run again' in done.stderr + done.stdout and not runs_dir.exists()
  assert body((out / 'reproduction_smoke.md').read_text()) == table
  done = reproduce(runs_dir, out, '--corpora=other')  # a call naming only another corpus keeps synthetic
  assert done.returncode == 0, done.stderr[-3000:]
  assert body((out / 'reproduction_smoke.md').read_text()) == table
  (out / 'reproduction_smoke.md').unlink()
  done = reproduce(runs_dir, out, '--seeds=1')  # a lone seed other than 0 renders no single-seed table
  assert done.returncode == 0, done.stderr[-3000:]
  assert '--seeds=0,1 --tables_only' in done.stdout and not (out / 'reproduction_smoke.md').exists()
