"""A run's input files as part of its identity: what was read, and whether it is still the same.

The encode stage records the size and content hash of every corpus file it
read (relative to --data_dir, so a moved copy of the same files is the same
input); a later run of the same workdir compares them before it skips encode,
so changed data is refused instead of silently ignored.
"""

import os
import pathlib

from faithjax import FaithjaxError
from faithjax import io
from faithjax.data import corpora


def _name(path, root):
  """`path` relative to `root` if it lies inside it, else absolute (e.g. a --corpus=jsonl:PATH file)."""
  path = pathlib.Path(path).absolute()
  return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def identity(files, data_dir):
  """{path (relative to data_dir where inside it): {'size', 'sha256'}} of the files read."""
  root = pathlib.Path(data_dir).absolute()
  return {_name(f, root): {'size': os.path.getsize(f), 'sha256': io.sha256_of(f)} for f in sorted(set(files))}


def check_unchanged(recorded, data_dir, workdir):
  """Raises a FaithjaxError naming the first input file that is gone or differs from `recorded` (identity())."""
  for name, was in sorted(recorded.items()):
    path = pathlib.Path(data_dir) / name  # an absolute name stays itself
    if not path.exists():
      change = 'is gone'
    elif os.path.getsize(path) != was['size'] or io.sha256_of(path) != was['sha256']:
      change = 'changed (its content hash differs)'
    else:
      continue
    raise FaithjaxError(f'input file {path} {change} since workdir {workdir} was encoded from it; '
                        'pass a new --workdir (or restore the file)')


def check_workdir(config, encode_summary):
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
