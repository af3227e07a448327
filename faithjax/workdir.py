"""A run's folder: where every stage reads and writes its artefacts.

<root>/config.json, corpus.npz, checkpoints/{classifier,weak_<explainer>},
maps/<explainer>.npz (and <explainer>.counts.npz: its per-document counts, if it counts),
evaluations/<section>_<explainer>.npz, stages/<stage>.json, results.json and report.md,
and .lock. `locked` keeps two runs out of one workdir; `prepare_workdir` guards it:
a workdir made with another config is refused rather than silently mixed.
"""

import contextlib
import dataclasses
import fcntl
import os
from typing import Any, Iterator

from faithjax import FaithjaxError
from faithjax import io
from faithjax import parallel


@dataclasses.dataclass(frozen=True)
class Workdir:
  """The paths of one run's artefacts under `root`."""
  root: str

  def path(self, *parts: str) -> str:
    return os.path.join(self.root, *parts)

  @property
  def corpus(self) -> str:
    return self.path('corpus.npz')

  @property
  def classifier_ckpt(self) -> str:
    return self.path('checkpoints', 'classifier')

  def maps(self, explainer: str) -> str:
    return self.path('maps', f'{explainer}.npz')

  def counts(self, explainer: str) -> str:
    """The per-document counts stored beside a map (explain.make_counted_explainer), e.g. IG's evaluations."""
    return self.path('maps', f'{explainer}.counts.npz')

  def evaluation(self, kind: str, name: str) -> str:
    return self.path('evaluations', f'{kind}_{name}.npz')

  def weak_ckpt(self, name: str) -> str:
    return self.path('checkpoints', f'weak_{name}')

  def summary(self, stage: str) -> str:
    return self.path('stages', f'{stage}.json')

  def stage_time(self, stage: str) -> str:
    """The stage's timing.StageTime (wall, compile and run seconds, programs): kept out of results.json."""
    return self.path('stages', f'{stage}.time.json')


# What a workdir holds once a stage has written to it: without config.json beside them, they are refused.
RESULTS = ('stages', 'corpus.npz', 'checkpoints', 'maps', 'evaluations', 'results.json', 'report.md')
LOCK = '.lock'
_held = set()  # the workdirs this process holds the lock of (`locked` is re-entrant)


def _holder(fd):
  """The pid written in a lock file (or '?' if none can be read)."""
  os.lseek(fd, 0, os.SEEK_SET)
  return os.read(fd, 32).decode('ascii', 'replace').strip() or '?'


@contextlib.contextmanager
def locked(root: str, shared: bool = False) -> Iterator[None]:
  """Holds an OS file lock (fcntl.flock) on `root`/.lock while the block runs.

  Exclusive (a writer; it creates `root` and the lock file, which also checks
  that `root` is writable, and records its pid there): another writer or reader
  of the same workdir is refused with one line naming the holder's pid. shared
  (a reader, e.g. re-evaluation of a finished workdir): writes nothing; refused
  only while a writer holds the lock. The OS drops a lock when its process
  dies, so a killed run's lock file is simply taken over. A workdir this block
  created is removed again if it fails before writing anything but its config.
  Only process 0 of a multi-process run locks.
  """
  root = os.path.abspath(root)
  if root in _held or not parallel.is_primary():
    yield
    return
  path = os.path.join(root, LOCK)
  created = None if shared else _missing_top(root)
  if shared and not os.path.lexists(path):
    yield  # no run ever wrote here
    return
  try:
    if shared:
      fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    else:
      os.makedirs(root, exist_ok=True)
      # O_NOFOLLOW: a symlink planted at the lock's name is refused, never written through
      fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
  except OSError as e:
    raise FaithjaxError(f'cannot {"read" if shared else "write to"} workdir {root!r} ({e.strerror}: {path}); '
                        'pass another --workdir') from e
  try:
    try:
      fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
      raise FaithjaxError(f'workdir {root} is in use by process {_holder(fd)} (a run or re-evaluation); wait for it '
                          'to finish or pass another --workdir') from None
    if not shared:
      os.ftruncate(fd, 0)
      os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
    _held.add(root)
    try:
      yield
    except BaseException:
      if created:
        _remove_if_unused(root, created)  # e.g. a missing corpus: no empty workdir is left behind
      raise
    finally:
      _held.discard(root)
  finally:
    os.close(fd)  # releases the lock


def _missing_top(path):
  """The outermost folder of `path` that does not exist yet (the first that os.makedirs creates), or None."""
  top = None
  while not os.path.lexists(path):
    top, path = path, os.path.dirname(path)
  return top


def _remove_if_unused(root, created):
  """Removes the workdir `root` (and the folders up to `created`, which this process made for it) if it holds
  nothing but its lock and config."""
  names = set(os.listdir(root))
  if names <= {LOCK, 'config.json', 'config.json' + io.MANIFEST_SUFFIX}:
    for name in names:
      os.remove(os.path.join(root, name))
    folder = root
    while folder != os.path.dirname(created) and not os.listdir(folder):
      os.rmdir(folder)
      folder = os.path.dirname(folder)


def prepare_workdir(root: str, config: Any) -> Workdir:  # config: a RunConfig (its fingerprint and upgrade)
  """Checks that workdir `root` (locked by the caller) was made with the same config, or records it in a new one.

  config.json is verified like every artefact: a damaged one, or results without one, are refused, since the
  settings they were computed with can no longer be checked.
  """
  workdir = Workdir(os.path.abspath(root))
  saved_path = workdir.path('config.json')
  current = config.fingerprint()
  if os.path.lexists(saved_path):
    on_disk = getattr(config, 'upgrade', lambda saved: saved)(io.load_json(saved_path))  # an older layout
  elif any(os.path.lexists(workdir.path(name)) for name in RESULTS):
    raise FaithjaxError(f'workdir {root!r} holds results but no config.json, so the settings they were computed '
                        f'with cannot be checked; pass a new --workdir, or delete it and re-run: rm -rf {root}')
  else:
    on_disk = {}
  parallel.sync('read config.json')  # every process has read it before process 0 may rewrite it
  # Fields added to RunConfig since the workdir was made are adopted, not refused: with the value the workdir
  # really ran with where the default has changed since (config.VALUES_BEFORE_FIELD), else the default.
  saved = {**getattr(config, 'VALUES_BEFORE_FIELD', {}), **on_disk} if on_disk else {}
  changed = sorted(k for k in saved if k in current and saved[k] != current[k])
  if changed:
    raise FaithjaxError(f'workdir {root!r} holds a run with a different config ({", ".join(changed)}); '
                        'pass a new --workdir or restore the old flags')
  if on_disk != current:
    io.save_json(saved_path, current)
  if not os.path.exists(saved_path):
    raise FaithjaxError(f'a process other than process 0 cannot see {saved_path}, which process 0 wrote; '
                        'a multi-process run needs a --workdir on a filesystem every process sees')
  return workdir
