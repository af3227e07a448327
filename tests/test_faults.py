"""Fault injection (issue 36): every damaged artefact, deleted record, concurrent run and bad flag is one line and
an exit status, never a number that differs from an undamaged run's; every printed fix, followed, makes the same
command succeed with the undamaged run's results."""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest

from faithjax import FaithjaxError
from faithjax import artefacts
from faithjax import config as config_lib
from faithjax import io
from faithjax import memory
from faithjax import pipeline
from faithjax import reevaluate
from faithjax import train
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.data import synthetic

from conftest import REPO
from conftest import smoke_run


# ----------------------------------------------------------------------------- flags


@pytest.mark.parametrize('flag, value', [('seed', 99999999999999999999), ('split_seed', 2**31), ('permutations', 10**8),
                                         ('emb_dim', 10**8), ('eval_batch_size', 10**8),
                                         ('l2', float('nan')), ('l2', float('inf')), ('learning_rate', float('inf')),
                                         ('learning_rate', float('nan'))])
def test_numeric_flags_are_finite_and_bounded_when_the_config_is_made(flag, value):
  with pytest.raises(FaithjaxError, match=f'^--{flag} must be ') as error:
    config_lib.make_config('synthetic', preset='smoke', **{flag: value})
  assert '\n' not in str(error.value)


@pytest.mark.parametrize('option, value', [('explainer.integrated_gradients.steps', 10**8), ('ig_steps', 10**8),
                                           ('explainer.kernel_shap.samples', 10**8),
                                           ('explainer.smoothgrad.sigma', float('inf'))])
def test_explainer_options_are_bounded_when_the_config_is_made(option, value):
  with pytest.raises(FaithjaxError, match=r'(steps|samples) must be in|must be finite') as error:
    config_lib.make_config('synthetic', preset='smoke', **{option: value})
  assert '\n' not in str(error.value)


def test_a_batch_that_cannot_fit_in_memory_is_refused_before_allocating_naming_the_flag():
  config = config_lib.make_config('synthetic', preset='smoke', eval_batch_size=65_536)
  memory.check(config_lib.make_config('synthetic', preset='smoke'), 256, available=2**30)
  with pytest.raises(FaithjaxError, match=r'^--eval_batch_size=65536 needs about 20.0 GiB .* lower --eval_batch_size$'):
    memory.check(config, 256, available=2**30)
  with pytest.raises(FaithjaxError, match='lower --eval_batch_size'):  # the run's own estimate, from the corpus
    pipeline.run_pipeline(config_lib.make_config('sst', eval_batch_size=65_536), '/nonexistent/never made')


# ----------------------------------------------------------------------------- the workdir's records and lock


def test_results_without_a_readable_config_are_refused(tmp_path):
  config = config_lib.make_config('synthetic', preset='smoke')
  workdir_lib.prepare_workdir(str(tmp_path), config)
  io.save_json(str(tmp_path / 'stages' / 'encode.json'), {})
  (tmp_path / 'config.json.sha256').unlink()
  with pytest.raises(io.CorruptArtefact, match='hash file config.json.sha256 is missing'):
    workdir_lib.prepare_workdir(str(tmp_path), config)
  (tmp_path / 'config.json').unlink()
  with pytest.raises(FaithjaxError, match='holds results but no config.json'):
    workdir_lib.prepare_workdir(str(tmp_path), config)
  assert not (tmp_path / 'config.json').exists()


@pytest.mark.parametrize('damaged, deleted', [
    ('config.json', '.'), ('stages/encode.json', '.'), ('stages/train.json', 'stages/train.json'),
    ('stages/evaluate.time.json', 'stages/evaluate.time.json'), ('corpus.npz', 'corpus.npz'),
    ('maps/saliency.npz', 'maps/saliency.npz'), ('checkpoints/classifier/best', 'checkpoints/classifier'),
    ('checkpoints/weak_saliency/best/1/default/x', 'checkpoints/weak_saliency')])
def test_a_fix_deletes_the_artefact_alone_or_the_workdir_whose_guard_it_was(tmp_path, damaged, deleted):
  (tmp_path / 'stages').mkdir()
  error = artefacts.with_redo_command(io.CorruptArtefact(tmp_path / damaged, 'flipped'))
  assert str(error).endswith(f'rm -rf {os.path.normpath(tmp_path / deleted)}')


def hold_lock(path):
  """A process holding `path`'s workdir lock until killed (started once it holds it)."""
  holder = subprocess.Popen([sys.executable, '-c', 'import sys, time\nfrom faithjax import workdir\n'
                             f'with workdir.locked({str(path)!r}):\n  print("held", flush=True)\n  time.sleep(120)\n'],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
  assert holder.stdout.readline() == 'held\n'
  return holder


def test_a_second_writer_or_reader_is_refused_naming_the_holder_and_a_dead_holders_lock_is_taken_over(tmp_path):
  holder = hold_lock(tmp_path)
  try:
    for shared in (False, True):
      with pytest.raises(FaithjaxError, match=f'workdir {tmp_path} is in use by process {holder.pid} '):
        with workdir_lib.locked(str(tmp_path), shared=shared):
          pass
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
  with workdir_lib.locked(str(tmp_path)):
    assert (tmp_path / workdir_lib.LOCK).read_text() == f'{os.getpid()}\n'
    with workdir_lib.locked(str(tmp_path)):  # re-entrant: a re-evaluation runs the encode stage in its workdir
      pass


def test_a_reader_writes_nothing_and_no_symlink_in_a_workdir_is_written_through(tmp_path):
  with workdir_lib.locked(str(tmp_path / 'never run'), shared=True):
    assert not (tmp_path / 'never run').exists()
  target = tmp_path / 'precious'
  target.write_text('keep me')
  (tmp_path / 'w').mkdir()
  for name in (workdir_lib.LOCK, '.write-probe'):
    (tmp_path / 'w' / name).symlink_to(target)
  with pytest.raises(FaithjaxError, match=f'cannot write to workdir .*{workdir_lib.LOCK}'):
    with workdir_lib.locked(str(tmp_path / 'w')):
      pass
  assert target.read_text() == 'keep me'


def test_a_run_that_fails_before_any_stage_leaves_no_empty_workdir(tmp_path):
  config = config_lib.make_config(f'jsonl:{tmp_path / "missing.jsonl"}')
  with pytest.raises(FaithjaxError, match='no file'):
    pipeline.run_pipeline(config, str(tmp_path / 'runs' / 'w'))
  assert not (tmp_path / 'runs').exists()


# ----------------------------------------------------------------------------- re-evaluation's vocabulary


@pytest.fixture(scope='module')
def corpora():
  """Two encodings of one synthetic corpus whose vocabularies differ (the second with one word swapped)."""
  corpus, _ = encode.encode_corpus('synthetic', synthetic.generate(seed=0, sizes={'train': 40, 'valid': 8,
                                                                                  'test': 8}))
  vocab = list(corpus.vocab)
  vocab[2], vocab[3] = vocab[3], vocab[2]
  return corpus, encode.EncodedCorpus(corpus.name, vocab, corpus.splits)


def test_reevaluation_refuses_a_checkpoint_whose_vocabulary_it_cannot_verify(tmp_path, corpora):
  ours, other = corpora
  folder = tmp_path / 'w' / 'checkpoints' / 'classifier'
  folder.mkdir(parents=True)
  with pytest.raises(FaithjaxError, match='records no vocabulary .* pass the workdir it was trained in'):
    reevaluate.check_vocabulary(str(folder), ours)
  ours.save(str(tmp_path / 'w' / 'corpus.npz'))  # its workdir's corpus stands in for the record
  reevaluate.check_vocabulary(str(folder), ours)
  with pytest.raises(FaithjaxError, match='trained on another vocabulary .*corpus.npz'):
    reevaluate.check_vocabulary(str(folder), other)
  io.save_json(str(folder / train.VOCABULARY), {'corpus': ours.name, 'vocab_sha256': ours.vocab_sha256()})
  (tmp_path / 'w' / 'corpus.npz').unlink()
  reevaluate.check_vocabulary(str(folder), ours)
  with pytest.raises(FaithjaxError, match=f'trained on another vocabulary .*{train.VOCABULARY}'):
    reevaluate.check_vocabulary(str(folder), other)


# ----------------------------------------------------------------------------- whole runs


def results_of(workdir):
  """results.json without what names the workdir."""
  with open(os.path.join(workdir, 'results.json')) as f:
    results = json.load(f)
  del results['provenance']['command']
  return results


def run(workdir, *extra):
  return subprocess.run(smoke_run(workdir, *extra), capture_output=True, text=True, cwd=REPO, timeout=600)


def one_error_line(done, status=2):
  """The `faithjax: error:` line of a run that stopped with `status`, after its progress lines alone."""
  lines = done.stderr.strip().splitlines()
  assert done.returncode == status, done.stderr[-3000:]
  assert lines[-1].startswith('faithjax: ') and 'Traceback' not in done.stderr, done.stderr[-3000:]
  return lines[-1]


def follow(fix):
  """Runs the `rm -rf ...` a message ends with."""
  command = shlex.split(fix[fix.rindex('rm -rf '):])
  for path in command[2:]:
    if os.path.isdir(path):
      shutil.rmtree(path)
    else:
      os.remove(path)


def flip(path):
  data = bytearray(path.read_bytes())
  data[len(data) // 2] ^= 0xFF
  path.write_bytes(bytes(data))


def largest_file(folder):
  return max((p for p in folder.rglob('*') if p.is_file()), key=lambda p: p.stat().st_size)


DAMAGE = {  # what the damage does to a copy of the finished smoke run, and the summary it deletes so a run reads it
    'stage summary edited': lambda w: (w / 'stages' / 'evaluate.json').write_text(
        (w / 'stages' / 'evaluate.json').read_text().replace('0.5', '0.9', 1)),
    'stage summary hash deleted': lambda w: (w / 'stages' / 'explain.json.sha256').unlink(),
    'checkpoint flipped, its hashes deleted': lambda w: (
        flip(largest_file(w / 'checkpoints' / 'classifier' / 'best')),
        (w / 'checkpoints' / 'classifier' / 'best.sha256').unlink(), (w / 'stages' / 'explain.json').unlink()),
    'best checkpoint deleted': lambda w: (shutil.rmtree(w / 'checkpoints' / 'classifier' / 'best'),
                                          (w / 'stages' / 'explain.json').unlink()),
    'corpus flipped': lambda w: (flip(w / 'corpus.npz'), (w / 'stages' / 'train.json').unlink()),
    'corpus deleted': lambda w: ((w / 'corpus.npz').unlink(), (w / 'stages' / 'train.json').unlink()),
    'map deleted': lambda w: ((w / 'maps' / 'saliency.npz').unlink(), (w / 'stages' / 'evaluate.json').unlink(),
                              (w / 'evaluations' / 'deletion_saliency.npz').unlink()),
}


@pytest.mark.slow  # runs on a copy of the smoke run (conftest.smoke_workdir), each fix followed
@pytest.mark.parametrize('damage', DAMAGE)
def test_a_damaged_workdir_gives_one_line_and_the_fix_gives_back_the_same_results(smoke_workdir, tmp_path, damage):
  workdir = tmp_path / 'w'
  shutil.copytree(smoke_workdir, workdir)
  DAMAGE[damage](workdir)
  done = run(workdir)
  if done.returncode != 0:  # a deleted array is recomputed at once: its stage must reproduce its summary
    follow(one_error_line(done))
    done = run(workdir)
  assert done.returncode == 0, done.stderr[-3000:]
  assert results_of(workdir) == results_of(smoke_workdir)


@pytest.mark.slow  # runs on a copy of the smoke run (conftest.smoke_workdir)
def test_the_records_that_guard_a_workdir_cannot_be_deleted_or_edited_away(smoke_workdir, tmp_path):
  workdir = tmp_path / 'w'
  for damage, flags in ((lambda: (workdir / 'config.json').unlink(), ['--seed=5']),
                        (lambda: (workdir / 'config.json.sha256').unlink(), ['--seed=5']),
                        (lambda: (workdir / 'config.json').write_text('{}'), ['--seed=5']),
                        (lambda: (workdir / 'stages' / 'encode.json.sha256').unlink(), [])):
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.copytree(smoke_workdir, workdir)
    damage()
    line = one_error_line(run(workdir, *flags))
    assert line.endswith(f'rm -rf {workdir}')
    assert results_of(workdir) == results_of(smoke_workdir)


@pytest.mark.slow  # run.py --mode=reevaluate on a bare copy of the smoke run's classifier
def test_reevaluation_refuses_a_bare_checkpoint_without_its_vocabulary_and_writes_nothing_into_it(
    smoke_workdir, tmp_path):
  bare = tmp_path / 'bare'
  shutil.copytree(smoke_workdir / 'checkpoints' / 'classifier', bare)
  for name in (train.VOCABULARY, train.VOCABULARY + io.MANIFEST_SUFFIX, 'best.sha256'):
    (bare / name).unlink()
  before = sorted(p.relative_to(bare) for p in bare.rglob('*'))
  line = one_error_line(run(tmp_path / 're', '--mode=reevaluate', f'--checkpoints={bare}'))
  assert 'records no vocabulary' in line
  assert sorted(p.relative_to(bare) for p in bare.rglob('*')) == before


@pytest.mark.slow  # starts run.py and interrupts it while its libraries load
@pytest.mark.parametrize('after', [0.3, 1.5])
def test_ctrl_c_while_the_libraries_load_is_one_line_and_exit_130(tmp_path, after):
  process = subprocess.Popen(smoke_run(tmp_path / 'w'), cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
  time.sleep(after)
  process.send_signal(signal.SIGINT)
  _, err = process.communicate(timeout=300)
  assert process.returncode == 130 and err.strip().splitlines() == [
      'faithjax: interrupted during start-up; re-run the same command to resume'], err[-3000:]


@pytest.mark.slow  # a run interrupted inside its first checkpoint save, then resumed to the end
def test_ctrl_c_during_a_checkpoint_save_is_one_line_and_the_run_resumes_to_the_same_results(smoke_workdir, tmp_path):
  workdir = tmp_path / 'w'
  process = subprocess.Popen(smoke_run(workdir), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
  marker = workdir / 'checkpoints' / 'classifier' / f'last{train.SAVING_SUFFIX}'
  deadline = time.time() + 300
  while not marker.exists() and process.poll() is None and time.time() < deadline:
    time.sleep(0.002)
  process.send_signal(signal.SIGINT)
  _, err = process.communicate(timeout=300)
  assert process.returncode == 130 and err.strip().splitlines()[-1] == (
      'faithjax: interrupted during stage train; re-run the same command to resume'), err[-3000:]
  assert 'Traceback' not in err and not any(line.startswith('E') for line in err.splitlines()), err[-3000:]
  assert run(workdir).returncode == 0
  assert results_of(workdir) == results_of(smoke_workdir)
