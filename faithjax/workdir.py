"""A run's folder: where every stage reads and writes its artefacts.

<root>/config.json, corpus.npz, checkpoints/{classifier,weak_<explainer>},
maps/<explainer>.npz, evaluations/<section>_<explainer>.npz, stages/<stage>.json,
results.json and report.md. `prepare_workdir` guards it: a workdir made with
another config is refused rather than silently mixed.
"""

import dataclasses
import os

from faithjax import FaithjaxError
from faithjax import io
from faithjax import parallel


@dataclasses.dataclass(frozen=True)
class Workdir:
  root: str

  def path(self, *parts):
    return os.path.join(self.root, *parts)

  @property
  def corpus(self):
    return self.path('corpus.npz')

  @property
  def classifier_ckpt(self):
    return self.path('checkpoints', 'classifier')

  def maps(self, explainer):
    return self.path('maps', f'{explainer}.npz')

  def evaluation(self, kind, name):
    return self.path('evaluations', f'{kind}_{name}.npz')

  def weak_ckpt(self, name):
    return self.path('checkpoints', f'weak_{name}')

  def summary(self, stage):
    return self.path('stages', f'{stage}.json')

  def stage_time(self, stage):
    """The stage's timing.StageTime (wall, compile and run seconds, programs): kept out of results.json."""
    return self.path('stages', f'{stage}.time.json')


def prepare_workdir(root, config):
  """Creates the workdir, or checks that an existing one was made with the same config."""
  workdir = Workdir(os.path.abspath(root))
  try:
    if parallel.is_primary():  # the only process that writes
      os.makedirs(workdir.root, exist_ok=True)
      probe = workdir.path('.write-probe')
      with open(probe, 'w'):
        pass
      os.remove(probe)
  except OSError as e:
    raise FaithjaxError(f'cannot write to workdir {root!r} ({e.strerror}); pass a writable --workdir') from e
  saved_path = workdir.path('config.json')
  current = config.fingerprint()
  on_disk = io.read_json(saved_path) if os.path.exists(saved_path) else {}
  on_disk = getattr(config, 'upgrade', lambda saved: saved)(on_disk)  # an older layout of the same settings
  parallel.sync('read config.json')  # every process has read it before process 0 may rewrite it
  # Fields added to RunConfig since the workdir was made are adopted, not refused: with the value the workdir
  # really ran with where the default has changed since (config.VALUES_BEFORE_FIELD), else the default.
  saved = {**getattr(config, 'VALUES_BEFORE_FIELD', {}), **on_disk} if on_disk else {}
  changed = sorted(k for k in saved if k in current and saved[k] != current[k])
  if changed:
    raise FaithjaxError(f'workdir {root!r} holds a run with a different config ({", ".join(changed)}); '
                        'pass a new --workdir or restore the old flags')
  if on_disk != current:
    io.write_json(saved_path, current)
  if not os.path.exists(saved_path):
    raise FaithjaxError(f'a process other than process 0 cannot see {saved_path}, which process 0 wrote; '
                        'a multi-process run needs a --workdir on a filesystem every process sees')
  return workdir
