"""Atomic artefact writes and progress reporting.

Every artefact goes through a temp file in the same folder and `os.replace`, so
a run killed at any moment leaves either the old file or the new one, never a
torn one. In a multi-process run (faithjax.parallel) only process 0 writes and
prints; every write is a barrier, so all processes see the same files.
"""

import contextlib
import json
import os
import secrets
import sys
import tempfile
import time

import numpy as np

from faithjax import parallel


@contextlib.contextmanager
def atomic_path(path):
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
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  parallel.sync(f'wrote {path}')


def write_text(path, text):
  with atomic_path(path) as tmp:
    with open(tmp, 'w', encoding='utf-8') as f:
      f.write(text)


def _json_default(obj):
  if isinstance(obj, np.generic):
    return obj.item()
  if isinstance(obj, np.ndarray):
    return obj.tolist()
  raise TypeError(f'not JSON serialisable: {type(obj).__name__}')


def write_json(path, obj):
  write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + '\n')


def read_json(path):
  with open(path, encoding='utf-8') as f:
    return json.load(f)


def save_npz(path, **arrays):
  with atomic_path(path) as tmp:
    with open(tmp, 'wb') as f:
      np.savez(f, **arrays)


def load_npz(path):
  with np.load(path, allow_pickle=False) as data:
    return {k: data[k] for k in data.files}


def save_figure(fig, path, dpi=110):
  """Writes a matplotlib figure as PNG atomically, then closes it."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig.tight_layout()
  with atomic_path(path) as tmp:
    fig.savefig(tmp, format='png', dpi=dpi)
  plt.close(fig)


def log(message):
  """One status line on stderr from process 0 (absl's INFO level is left to the libraries, which are verbose)."""
  if parallel.is_primary():
    print(message, file=sys.stderr, flush=True)


class Progress:
  """Prints `label: done/total (rate/s, ETA)` to stderr, at most every `every` seconds."""

  def __init__(self, label, total, unit='ex', every=2.0, stream=None):
    self.label, self.total, self.unit, self.every = label, total, unit, every
    self.stream = stream or sys.stderr
    self.done = 0
    self.start = self.last = time.perf_counter()

  def update(self, n=1):
    self.done += n
    now = time.perf_counter()
    if now - self.last >= self.every or self.done >= self.total:
      self.last = now
      self._print(now)

  def _print(self, now):
    if not parallel.is_primary():
      return
    elapsed = max(now - self.start, 1e-9)
    rate = self.done / elapsed
    eta = (self.total - self.done) / rate if rate > 0 else float('inf')
    print(f'  {self.label}: {self.done}/{self.total} {self.unit} '
          f'({rate:,.1f} {self.unit}/s, ETA {eta:,.0f}s)', file=self.stream, flush=True)
