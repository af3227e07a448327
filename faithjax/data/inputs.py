"""A run's input files as part of its identity: what was read, and whether it is still the same.

The encode stage records the size and hash of the content of every corpus file
it read, as the loader reads it (gunzipped: the same text re-compressed, with
another mtime in its gzip header, is the same input), under its name relative
to --data_dir (a moved copy of the same files is the same input); a later run of
the same workdir compares them before it skips encode, so changed data is
refused instead of silently ignored.
"""

import gzip
import hashlib
import os
import pathlib
import zlib
from typing import Any, Iterable, Mapping

from faithjax import FaithjaxError
from faithjax import io
from faithjax.data import corpora


def _name(path, root):
  """`path` relative to `root` if it lies inside it, else absolute (e.g. a --corpus=jsonl:PATH file)."""
  path = pathlib.Path(path).absolute()
  return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def content_identity(path: str | pathlib.Path) -> dict:
  """{'content_size', 'content_sha256'} of what the loader reads from `path` (corpora.open_content)."""
  digest, size = hashlib.sha256(), 0
  with corpora.open_content(path) as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
      size += len(block)
  return {'content_size': size, 'content_sha256': digest.hexdigest()}


def identity(files: Iterable[str | pathlib.Path], data_dir: str | pathlib.Path) -> dict[str, dict]:
  """{path (relative to data_dir where inside it): content_identity} of the files read."""
  root = pathlib.Path(data_dir).absolute()
  return {_name(f, root): content_identity(f) for f in sorted(set(files))}


def _change(path, was) -> str | None:
  """How the file at `path` departs from its record `was` in words, None if it does not. A record without
  'content_sha256' (an encode stage before re-gzipped files counted as unchanged) holds the file's own bytes."""
  if not path.exists():
    return 'is gone'
  if 'content_sha256' not in was:
    if {'size': os.path.getsize(path), 'sha256': io.sha256_of(path)} == was:
      return None
    return ('changed (its bytes differ from those recorded; this workdir predates content hashes, so the same '
            'text compressed anew counts as changed too)')
  try:
    same = content_identity(path) == was
  except (gzip.BadGzipFile, EOFError, zlib.error) as e:
    return f'is now a truncated or corrupt gzip file ({e})'
  return None if same else 'changed (its content hash differs)'


def check_unchanged(recorded: Mapping[str, dict], data_dir: str | pathlib.Path, workdir: str) -> None:
  """Raises a FaithjaxError naming the first input file that is gone or differs from `recorded` (identity())."""
  for name, was in sorted(recorded.items()):
    path = pathlib.Path(data_dir) / name  # an absolute name stays itself
    change = _change(path, was)
    if change:
      raise FaithjaxError(f'input file {path} {change} since workdir {workdir} was encoded from it; '
                          'pass a new --workdir (or restore the file)')


def check_workdir(config: Any, encode_summary: str) -> None:  # config: a RunConfig
  """Refuses a workdir encoded from other input files than --data_dir holds now (changed, gone or added).

  encode_summary: the path of the workdir's stages/encode.json (nothing to check before it exists).
  """
  if not os.path.lexists(encode_summary):
    return
  encoded = io.load_json(encode_summary)
  workdir = os.path.dirname(os.path.dirname(encode_summary))
  about = corpora.describe(config.corpus, config.data_dir, config.split_seed)
  if encoded['reduced_train'] != about['reduced_train']:
    raise FaithjaxError(f'{about["data_dir"]} now gives {about["display"]} ({about["protocol"]}), but workdir '
                        f'{workdir} was encoded as {encoded["display_name"]}; pass a new --workdir')
  check_unchanged(encoded.get('inputs', {}), about['data_dir'], workdir)
