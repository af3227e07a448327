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
