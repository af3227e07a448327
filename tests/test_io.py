"""Atomic writes: all or nothing, and as readable as any file the user creates."""

import os

import pytest

from faithjax import io


def test_artefacts_get_the_mode_of_an_ordinary_file(tmp_path):
  old = os.umask(0o022)
  try:
    io.write_text(tmp_path / 'a.txt', 'x')
    (tmp_path / 'b.txt').write_text('x')
  finally:
    os.umask(old)
  assert os.stat(tmp_path / 'a.txt').st_mode & 0o777 == os.stat(tmp_path / 'b.txt').st_mode & 0o777 == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
  path = tmp_path / 'a.txt'
  io.write_text(path, 'old')
  with pytest.raises(RuntimeError):
    with io.atomic_path(path) as tmp:
      with open(tmp, 'w', encoding='utf-8') as f:
        f.write('torn')
      raise RuntimeError('killed')
  assert path.read_text(encoding='utf-8') == 'old' and os.listdir(tmp_path) == ['a.txt']


def progress_lines(updates):
  stream = __import__('io').StringIO()
  with io.progress_scope('evaluate'), io.progress_scope('saliency'):
    meter = io.Progress('deletion (pad)', sum(updates), every=0.0, stream=stream)
  for n in updates:
    meter.update(n)
  return stream.getvalue().splitlines()


def test_progress_names_its_scope_and_shows_no_rate_before_one_is_measured():
  first, second, third = progress_lines([4, 4, 2])
  assert first == '  evaluate / saliency / deletion (pad): 4/10 ex'  # the first batch paid for compilation
  assert second.startswith('  evaluate / saliency / deletion (pad): 8/10 ex (') and 'ETA' in second
  assert third.endswith('ETA 0s)')
  assert list(io.scoped(['a', 'b'])) == ['a', 'b'] and not io._SCOPES

