"""Atomic, verified artefact writes and progress reporting.

Every artefact goes through a temp file in the same folder and `os.replace`, so
a run killed at any moment leaves either the old file or the new one, never a
torn one. Artefacts that are read back (arrays, checkpoints, the workdir's
config.json and stage summaries) get a manifest of content hashes beside them,
`<name>.sha256` in `sha256sum` format, written before the artefact is renamed
into place; reading checks it first, so a damaged file (or one whose manifest is
gone) is refused with one line instead of giving wrong numbers.
In a multi-process run (faithjax.parallel) only process 0 writes and
prints; every write is a barrier, so all processes see the same files.
"""

import contextlib
import hashlib
import json
import os
import secrets
import sys
import tempfile
import time
import zipfile
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import numpy as np

from faithjax import FaithjaxError
from faithjax import parallel

if TYPE_CHECKING:  # matplotlib is imported on first use (save_figure)
  from matplotlib.figure import Figure

MANIFEST_SUFFIX = '.sha256'


class CorruptArtefact(FaithjaxError):
  """An artefact that does not match the content hashes written with it (or cannot be parsed)."""

  def __init__(self, path, reason, remedy='delete it and re-run the command that wrote it'):
    self.path, self.reason = os.fspath(path), reason
    super().__init__(f'{self.path} is corrupt ({reason}); {remedy}')


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
  """Yields a temp path beside `path`; renames it onto `path` on success.

  A multi-process run writes from process 0 only (the others write to a
  private temp file, then drop it), between two barriers: before, so every
  process has decided what to write before the file appears; after, so every
  process sees it.
  """
  parallel.sync(f'before writing {path}')
  primary = parallel.is_primary()
  folder = os.path.dirname(os.path.abspath(path)) if primary else tempfile.gettempdir()
  os.makedirs(folder, exist_ok=True)
  tmp = os.path.join(folder, f'.{os.path.basename(path)}.{secrets.token_hex(8)}.tmp')
  # not mkstemp: its mode 0600 would make every artefact unreadable to others; 0666 & ~umask as open() gives
  os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
  try:
    yield tmp
    if primary:
      os.replace(tmp, path)
  except OSError as e:
    if e.filename is not None:
      raise
    raise OSError(e.errno, e.strerror or str(e), os.fspath(path)) from e  # a full disk names the artefact
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  parallel.sync(f'wrote {path}')


def write_text(path: str | os.PathLike, text: str) -> None:
  """Writes `text` (UTF-8) to `path` atomically."""
  with atomic_path(path) as tmp:
    with open(tmp, 'w', encoding='utf-8') as f:
      f.write(text)


def _json_default(obj):
  if isinstance(obj, np.generic):
    return obj.item()
  if isinstance(obj, np.ndarray):
    return obj.tolist()
  raise TypeError(f'not JSON serialisable: {type(obj).__name__}')


def _json_text(obj):
  return json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + '\n'


def json_ready(obj: Any) -> Any:
  """`obj` as it reads back from its JSON (tuples as lists, numpy scalars as numbers): comparable with a loaded one."""
  return json.loads(_json_text(obj))


def write_json(path: str | os.PathLike, obj: Any) -> None:
  """Writes `obj` as indented JSON, keys sorted (numpy scalars and arrays as numbers and lists), atomically."""
  write_text(path, _json_text(obj))


def read_json(path: str | os.PathLike) -> Any:
  """The JSON of `path`, unchecked; a CorruptArtefact if it is not JSON."""
  with open(path, encoding='utf-8') as f:
    try:
      return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
      raise CorruptArtefact(path, f'not JSON: {e}') from None


def save_json(path: str | os.PathLike, obj: Any) -> None:
  """write_json with the content hash recorded beside it (`path`.sha256), for JSON that results are read from."""
  with atomic_path(path) as tmp:
    with open(tmp, 'w', encoding='utf-8') as f:
      f.write(_json_text(obj))
    record_hashes(path, content=tmp)


def load_json(path: str | os.PathLike) -> Any:
  """The JSON of `path`, checked against its manifest first (save_json)."""
  verify(path)
  return read_json(path)


def sha256_of(path: str | os.PathLike) -> str:
  """The hex sha256 of the file's bytes."""
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def _files(path):
  """{name: file}: `path` itself, or every file under the folder `path`; names relative to path's parent."""
  path = os.fspath(path)
  if not os.path.isdir(path):
    return {os.path.basename(path): path}
  parent = os.path.dirname(os.path.abspath(path))
  return {os.path.relpath(os.path.join(root, name), parent): os.path.join(root, name)
          for root, _, names in os.walk(path) for name in names}


def record_hashes(path: str | os.PathLike, content: str | os.PathLike | None = None) -> None:
  """Writes `path`.sha256: the hash of the file (or of every file in the folder) `path`.

  content: the file that holds path's bytes if it is not in place yet (the temp
  file about to be renamed onto it). `sha256sum -c` in path's folder checks it.
  """
  files = {os.path.basename(os.fspath(path)): content} if content else _files(path)
  write_text(os.fspath(path) + MANIFEST_SUFFIX,
             ''.join(f'{sha256_of(file)}  {name}\n' for name, file in sorted(files.items())))


def recorded_names(path: str | os.PathLike) -> set[str]:
  """The names `path`.sha256 lists (empty if there is none)."""
  manifest = os.fspath(path) + MANIFEST_SUFFIX
  if not os.path.exists(manifest):
    return set()
  with open(manifest, encoding='utf-8', errors='replace') as f:
    return {line.rstrip('\n').partition('  ')[2] for line in f if line.strip()}


def verify(path: str | os.PathLike) -> None:
  """Raises CorruptArtefact unless `path` exists with exactly the content hashed in `path`.sha256.

  A missing manifest is a damaged artefact too: hashes are never recorded from
  the bytes found on disk when reading.
  """
  manifest = os.fspath(path) + MANIFEST_SUFFIX
  if not os.path.lexists(path):
    raise CorruptArtefact(path, 'it is missing')
  if not os.path.exists(manifest):
    raise CorruptArtefact(path, f'its hash file {os.path.basename(manifest)} is missing')
  with open(manifest, encoding='utf-8', errors='replace') as f:
    expected = dict(reversed(line.rstrip('\n').split('  ', 1)) for line in f if '  ' in line)
  actual = _files(path)
  for name in sorted(set(expected) | set(actual)):
    if name not in actual:
      raise CorruptArtefact(path, f'{name} is missing')
    if name not in expected:
      raise CorruptArtefact(path, f'{name} was not written with it')
    if sha256_of(actual[name]) != expected[name]:
      raise CorruptArtefact(path, f'the content of {name} differs from the hash written with it')


def save_npz(path: str | os.PathLike, compress: bool = False, **arrays: np.ndarray) -> None:
  """Writes `arrays` to `path` atomically with its sha256 (compress: deflated, for files kept in git)."""
  with atomic_path(path) as tmp:
    with open(tmp, 'wb') as f:
      (np.savez_compressed if compress else np.savez)(f, **arrays)
    record_hashes(path, content=tmp)  # before the rename: a kill in between leaves no unrecorded artefact


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """The arrays of `path`, checked against its manifest first."""
  verify(path)
  try:
    with np.load(path, allow_pickle=False) as data:
      return {k: data[k] for k in data.files}
  except (zipfile.BadZipFile, EOFError, ValueError) as e:
    raise CorruptArtefact(path, f'not a readable .npz: {e}') from None


def save_figure(fig: 'Figure', path: str | os.PathLike, dpi: int = 110) -> None:
  """Writes a matplotlib figure as PNG atomically, then closes it."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig.tight_layout()
  with atomic_path(path) as tmp:
    fig.savefig(tmp, format='png', dpi=dpi)
  plt.close(fig)


def log(message: str) -> None:
  """One status line on stderr from process 0 (absl's INFO level is left to the libraries, which are verbose)."""
  if parallel.is_primary():
    print(message, file=sys.stderr, flush=True)


_SCOPES = []  # what the progress lines are part of, outermost first (e.g. ['evaluate', 'saliency'])


@contextlib.contextmanager
def progress_scope(name: str) -> Iterator[None]:
  """Progress lines printed inside name what they are part of: `evaluate / saliency / deletion (pad): ...`."""
  _SCOPES.append(name)
  try:
    yield
  finally:
    _SCOPES.pop()


def scoped(names: Iterable[str]) -> Iterator[str]:
  """Yields each of `names` inside progress_scope(name): a loop whose progress lines say which item they are on."""
  for name in names:
    with progress_scope(name):
      yield name


def scoped_label(label: str) -> str:
  """`label` prefixed with the progress scopes it runs in: `evaluate / saliency / weak learner`."""
  return ' / '.join([*_SCOPES, label])


class Progress:
  """Prints `scope / label: done/total (rate/s, ETA)` to stderr, at most every `every` seconds.

  The first update pays for compiling the program, so the rate (and an ETA)
  is shown only once later updates have measured one.
  """

  def __init__(self, label, total, unit='ex', every=2.0, stream=None):
    self.label, self.total, self.unit, self.every = scoped_label(label), total, unit, every
    self.stream = stream or sys.stderr
    self.done = 0
    self.last = time.perf_counter()
    self.first = None  # (time, done) at the end of the first update

  def update(self, n: int = 1) -> None:
    """Counts `n` more done; prints a line when `every` seconds have passed or the total is reached."""
    self.done += n
    now = time.perf_counter()
    measured_from = self.first
    if self.first is None:
      self.first = (now, self.done)
    if now - self.last >= self.every or self.done >= self.total:
      self.last = now
      self._print(now, measured_from)

  def _print(self, now, measured_from):
    if not parallel.is_primary():
      return
    line = f'  {self.label}: {self.done}/{self.total} {self.unit}'
    if measured_from is not None and now > measured_from[0] and self.done > measured_from[1]:
      rate = (self.done - measured_from[1]) / (now - measured_from[0])
      line += f' ({rate:,.1f} {self.unit}/s, ETA {(self.total - self.done) / rate:,.0f}s)'
    print(line, file=self.stream, flush=True)
