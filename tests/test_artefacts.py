"""Verified artefacts: a damaged file is refused with one line, and changed input data is noticed."""

import csv
import errno
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import types

from etils import epath
import jax.numpy as jnp
import numpy as np
import pytest

from faithjax import FaithjaxError
from faithjax import artefacts
from faithjax import cli
from faithjax import config as config_lib
from faithjax import io
from faithjax import pipeline
from faithjax import train
from faithjax.data import corpora
from faithjax.data import inputs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def flip_bytes(path, count=64):
  data = bytearray(path.read_bytes())
  middle = len(data) // 2
  data[middle:middle + count] = bytes(b ^ 0xFF for b in data[middle:middle + count])
  path.write_bytes(bytes(data))


def truncate(path):
  path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])


def garbage(path):
  path.write_text('{"garbage": ')


CORRUPTIONS = {'flip': flip_bytes, 'truncate': truncate, 'garbage': garbage}


@pytest.mark.parametrize('corrupt', CORRUPTIONS)
def test_a_damaged_npz_is_refused_naming_the_file(tmp_path, corrupt):
  path = tmp_path / 'maps.npz'
  io.save_npz(path, a=np.arange(1000.0))
  np.testing.assert_array_equal(io.load_npz(path)['a'], np.arange(1000.0))
  CORRUPTIONS[corrupt](path)
  with pytest.raises(io.CorruptArtefact, match=f'{path} is corrupt') as error:
    io.load_npz(path)
  assert '\n' not in str(error.value)


def test_an_npz_or_json_without_its_hash_file_is_refused_not_re_recorded(tmp_path):
  for path, save, load in ((tmp_path / 'a.npz', lambda p: io.save_npz(p, a=np.ones(3)), io.load_npz),
                           (tmp_path / 'a.json', lambda p: io.save_json(p, {'a': 1}), io.load_json)):
    save(path)
    load(path)
    os.remove(f'{path}.sha256')
    with pytest.raises(io.CorruptArtefact, match=f'{path} is corrupt \\(its hash file a.*.sha256 is missing\\)'):
      load(path)
    assert not os.path.exists(f'{path}.sha256')
    path.unlink()
    with pytest.raises(io.CorruptArtefact, match='it is missing'):
      load(path)


def test_a_full_disk_names_the_artefact(tmp_path, monkeypatch):
  def full(*args, **kwargs):
    raise OSError(28, 'No space left on device')
  monkeypatch.setattr(io, 'record_hashes', full)
  with pytest.raises(OSError) as error:
    io.save_json(tmp_path / 'x.json', {})
  assert error.value.filename == str(tmp_path / 'x.json') and not list(tmp_path.iterdir())


def test_a_full_disk_inside_orbax_is_one_line_naming_the_checkpoint_and_leaves_nothing_half_written(
    tmp_path, monkeypatch, capfd):
  def full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
  params = {'w': jnp.ones(3)}
  monkeypatch.setattr(sys, 'unraisablehook', sys.unraisablehook)  # the failed save wraps it; restored after
  with monkeypatch.context() as patch:
    patch.setattr(epath.Path, 'write_text', full)  # orbax's metadata files, written from its threads
    with pytest.raises(OSError) as error:
      train.save_best(tmp_path, params)
  folder = tmp_path / 'best'
  assert error.value.errno == errno.ENOSPC and error.value.filename == str(folder)
  assert cli.os_error_line(error.value) == f'cannot read or write {folder}: {os.strerror(errno.ENOSPC)}'
  assert os.strerror(errno.ENOSPC) not in capfd.readouterr().err  # nor orbax's logs of it
  assert list(folder.iterdir()) == [] and not (tmp_path / f'best{train.SAVING_SUFFIX}').exists()
  train.save_best(tmp_path, params)  # the re-run
  np.testing.assert_array_equal(train.restore_best(tmp_path, params)['w'], params['w'])


def test_after_a_failed_save_only_the_closed_event_loop_errors_of_orbaxs_threads_are_dropped():
  seen = []
  hook = train._without_closed_loop_errors(seen.append)  # pylint: disable=protected-access
  unraisable = lambda error: types.SimpleNamespace(exc_type=type(error), exc_value=error, exc_traceback=None)
  hook(unraisable(RuntimeError('Event loop is closed')))
  assert seen == []
  for error in (RuntimeError('something else'), ValueError('Event loop is closed')):
    hook(unraisable(error))
  assert [type(u.exc_value) for u in seen] == [RuntimeError, ValueError]


def fit_tiny(ckpt_dir, epochs=2):
  return train.fit(params={'w': jnp.ones(3)}, loss_fn=lambda p, batch, key: jnp.sum(p['w'] ** 2),
                   train_batches=lambda epoch: [jnp.zeros(1)], evaluate=lambda p: {'valid_roc_auc': 0.5},
                   config=config_lib.RunConfig(epochs=epochs), ckpt_dir=str(ckpt_dir))[0]


def checkpoint_files(folder):
  return sorted(p for p in folder.rglob('*') if p.is_file() and p.stat().st_size > 0)


@pytest.mark.parametrize('corrupt', CORRUPTIONS)
def test_a_damaged_checkpoint_is_refused_before_orbax_reads_it(tmp_path, corrupt):
  fit_tiny(tmp_path)
  abstract = {'w': jnp.ones(3)}
  for target in checkpoint_files(tmp_path / 'best'):
    backup = target.read_bytes()
    CORRUPTIONS[corrupt](target)
    with pytest.raises(io.CorruptArtefact, match=f'{tmp_path / "best"} is corrupt'):
      train.restore_best(str(tmp_path), abstract)
    target.write_bytes(backup)
  train.restore_best(str(tmp_path), abstract)


def test_a_step_saved_by_a_run_killed_before_it_recorded_hashes_resumes(tmp_path):
  straight = fit_tiny(tmp_path / 'straight', epochs=2)
  fit_tiny(tmp_path / 'killed', epochs=1)
  # killed between orbax's save and the manifest: the marker written before the save names the step
  (tmp_path / 'killed' / 'last.sha256').unlink()
  (tmp_path / 'killed' / f'last{train.SAVING_SUFFIX}').write_text('0\n')
  np.testing.assert_array_equal(fit_tiny(tmp_path / 'killed', epochs=2)['w'], straight['w'])
  assert not (tmp_path / 'killed' / f'last{train.SAVING_SUFFIX}').exists()


def test_a_checkpoint_whose_hashes_were_deleted_is_refused_not_re_recorded(tmp_path):
  fit_tiny(tmp_path, epochs=1)
  (tmp_path / 'best.sha256').unlink()
  with pytest.raises(io.CorruptArtefact, match='no content hashes were recorded for its step 0'):
    train.restore_best(str(tmp_path), {'w': jnp.ones(3)})
  assert not (tmp_path / 'best.sha256').exists()
  (tmp_path / 'last.sha256').unlink()
  with pytest.raises(io.CorruptArtefact, match=f'{tmp_path / "last"} is corrupt'):
    fit_tiny(tmp_path, epochs=2)


# ----------------------------------------------------------------------------- in a workdir

ARTEFACTS = {  # what to damage; the stage summary (and evaluations) to delete so that a run reads it again
    'corpus': ('corpus.npz', 'train', ()),
    'classifier checkpoint': ('checkpoints/classifier/best', 'explain', ()),
    'map': ('maps/saliency.npz', 'evaluate', ()),
    'evaluation': ('evaluations/deletion_saliency.npz', 'evaluate', ()),
    # read only when an evaluation that needs the weak learner is missing
    'weak learner checkpoint': ('checkpoints/weak_saliency/best', 'evaluate',
                                ('evaluations/weak_learner_saliency.npz', 'evaluations/shuffle_saliency.npz')),
}


@pytest.mark.slow  # reads the whole smoke run (conftest.smoke_workdir): CI's second step
@pytest.mark.parametrize('artefact', ARTEFACTS)
def test_a_damaged_artefact_in_a_workdir_is_one_line_with_the_command_that_recomputes_it(
    smoke_workdir, tmp_path, artefact):
  workdir = tmp_path / 'w'
  shutil.copytree(smoke_workdir, workdir)
  relative, reader, recomputed = ARTEFACTS[artefact]
  target = workdir / relative
  flip_bytes(max(checkpoint_files(target), key=lambda p: p.stat().st_size) if target.is_dir() else target)
  for path in (f'stages/{reader}.json', *recomputed):
    (workdir / path).unlink()
  results = (workdir / 'results.json').read_bytes()
  config = config_lib.make_config('synthetic', preset='smoke')
  with pytest.raises(io.CorruptArtefact) as error:
    pipeline.run_pipeline(config, str(workdir))
  message = str(error.value)
  assert '\n' not in message and 'is corrupt' in message and 're-run the same command' in message
  assert (workdir / 'results.json').read_bytes() == results and not (workdir / 'stages' / f'{reader}.json').exists()
  command = message.split(': ')[-1]
  assert command.startswith('rm -rf ') and str(target.parent if 'checkpoints' in relative else target) in command


@pytest.mark.slow  # reads the whole smoke run (conftest.smoke_workdir): CI's second step
def test_reevaluate_refuses_a_damaged_checkpoint_with_one_line_and_exit_2(smoke_workdir, tmp_path):
  workdir = tmp_path / 'w'
  shutil.copytree(smoke_workdir, workdir)
  for target in checkpoint_files(workdir / 'checkpoints' / 'classifier' / 'best'):
    flip_bytes(target)
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, 'run.py'), '--mode=reevaluate', f'--checkpoints={workdir}',
       f'--workdir={tmp_path / "re"}', '--preset=smoke', '--compile_cache='],
      capture_output=True, text=True, cwd=REPO, env=dict(os.environ, JAX_PLATFORMS='cpu'), timeout=600)
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2 and lines[-1].startswith('faithjax: error: ') and 'is corrupt' in lines[-1]
  assert 'another architecture' not in lines[-1] and f"rm -rf {workdir / 'checkpoints' / 'classifier'}" in lines[-1]
  assert not any('Traceback' in line for line in lines)
  assert not (tmp_path / 're' / 'reevaluate.json').exists()


def test_a_non_finite_result_is_refused_before_it_is_written():
  assert artefacts.non_finite({'shuffle': {'saliency': {'mean': float('nan')}}, 'n': [1.0, float('inf')]}) == [
      ('shuffle.saliency.mean', pytest.approx(float('nan'), nan_ok=True)), ('n[1]', float('inf'))]
  assert artefacts.non_finite({'a': [1.0, 2], 'b': 'nan'}) == []


# ----------------------------------------------------------------------------- input files

needs_data = pytest.mark.skipif(not (corpora.DEFAULT_DATA_DIR / 'ag_news').is_dir(), reason='no AG News files')


def ag_news_dir(tmp_path):
  folder = tmp_path / 'data' / 'ag_news'
  folder.mkdir(parents=True)
  for name in ('ag_news_train_sample5k.jsonl.gz', 'test.csv.gz'):
    shutil.copy(corpora.DEFAULT_DATA_DIR / 'ag_news' / name, folder / name)
  return tmp_path / 'data'


@needs_data
def test_changed_or_added_input_files_are_refused_and_train_csv_gives_the_full_protocol(tmp_path):
  data = ag_news_dir(tmp_path)
  config = config_lib.make_config('ag_news', data_dir=str(data))
  encoded = pipeline.run_pipeline(config, str(tmp_path / 'w'), ['encode'])['stages']['encode']
  assert encoded['reduced_train'] and set(encoded['inputs']) == {'ag_news/ag_news_train_sample5k.jsonl.gz',
                                                                  'ag_news/test.csv.gz'}
  pipeline.run_pipeline(config, str(tmp_path / 'w'), ['encode'])  # unchanged: skipped
  with open(data / 'ag_news' / 'train.csv', 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f, quoting=csv.QUOTE_ALL)
    for i in range(400):
      writer.writerow([i % 4 + 1, f'title {i}', f'row {"abcd"[i % 4]} of the official train file'])
  with pytest.raises(FaithjaxError, match='now gives AG News .* but workdir .* was encoded as AG News \\(reduced'):
    pipeline.run_pipeline(config, str(tmp_path / 'w'), ['encode'])
  full = pipeline.run_pipeline(config, str(tmp_path / 'full'), ['encode'])['stages']['encode']
  assert not full['reduced_train'] and full['sizes']['train'] == 170 and 'ag_news/train.csv' in full['inputs']
  truncate(data / 'ag_news' / 'train.csv')
  with pytest.raises(FaithjaxError, match=f'input file {data}/ag_news/train.csv changed'):
    pipeline.run_pipeline(config, str(tmp_path / 'full'), ['encode'])
  (data / 'ag_news' / 'train.csv').unlink()
  (data / 'ag_news' / 'test.csv.gz').unlink()
  with pytest.raises(FaithjaxError, match='test.csv.gz is gone'):
    pipeline.run_pipeline(config, str(tmp_path / 'w'), ['encode'])


def test_a_changed_jsonl_corpus_outside_data_dir_is_refused(tmp_path):
  data = tmp_path / 'mine.jsonl'
  rows = [{'text': ('good fine ' if i % 2 else 'bad poor ') + 'film' * (i % 3), 'label': i % 2} for i in range(200)]
  data.write_text(''.join(json.dumps(r) + '\n' for r in rows))
  config = config_lib.make_config(f'jsonl:{data}')
  encoded = pipeline.run_pipeline(config, str(tmp_path / 'w'), ['encode'])['stages']['encode']
  assert list(encoded['inputs']) == [str(data)]
  data.write_text(data.read_text() + json.dumps({'text': 'one more film', 'label': 0}) + '\n')
  with pytest.raises(FaithjaxError, match=f'input file {data} changed'):
    pipeline.run_pipeline(config, str(tmp_path / 'w'), ['encode'])


def gzip_to(path, content, mtime):
  with open(path, 'wb') as raw, gzip.GzipFile(fileobj=raw, mode='wb', mtime=mtime) as f:
    f.write(content)
  return path.read_bytes()


def test_the_same_text_gzipped_anew_is_the_same_input_and_one_changed_byte_is_not(tmp_path):
  path, content = tmp_path / 'corpus.jsonl.gz', b'{"text": "a good film", "label": 1}\n' * 50
  first = gzip_to(path, content, mtime=1)
  recorded = inputs.identity([path], tmp_path)
  assert gzip_to(path, content, mtime=2) != first  # other bytes, the same text
  assert inputs.identity([path], tmp_path) == recorded
  inputs.check_unchanged(recorded, tmp_path, 'w')
  gzip_to(path, content.replace(b'good', b'gold', 1), mtime=1)
  with pytest.raises(FaithjaxError, match=f'^input file {path} changed \\(its content hash differs\\) since workdir w'):
    inputs.check_unchanged(recorded, tmp_path, 'w')
  path.write_bytes(first[:-9])
  with pytest.raises(FaithjaxError, match='is now a truncated or corrupt gzip file'):
    inputs.check_unchanged(recorded, tmp_path, 'w')


def test_a_workdir_that_recorded_the_compressed_bytes_is_still_read(tmp_path):
  """Records of before content hashes ({'size', 'sha256'} of the file) are compared as they were."""
  path, content = tmp_path / 'corpus.jsonl.gz', b'{"text": "a good film", "label": 1}\n' * 50
  first = gzip_to(path, content, mtime=1)
  recorded = {path.name: {'size': len(first), 'sha256': hashlib.sha256(first).hexdigest()}}
  inputs.check_unchanged(recorded, tmp_path, 'w')
  gzip_to(path, content, mtime=2)
  with pytest.raises(FaithjaxError, match='bytes differ from those recorded; this workdir predates content hashes'):
    inputs.check_unchanged(recorded, tmp_path, 'w')
