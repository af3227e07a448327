"""What to do about a bad artefact in a workdir: the stage that wrote it, and the command that recomputes it.

io.py checks artefacts against their content hashes; this module turns a
CorruptArtefact into a message that ends with the `rm -r` after which
re-running the same command recomputes just that artefact, and finds the
non-finite numbers a stage must not write into results.
"""

import math
import pathlib
import shlex

from faithjax import io

# The stage that writes each artefact a later stage reads back: (first part of its path in the workdir, stage).
ARTEFACT_STAGES = {'corpus.npz': 'encode', 'checkpoints': 'train', 'maps': 'explain', 'evaluations': 'evaluate'}


def redo_command(path):
  """`rm -r ...`: deletes a corrupt artefact and its stage's summary, so re-running the command recomputes it.

  A checkpoint goes as a whole (checkpoints/<name>); a weak learner's belongs to
  the evaluate stage. None if `path` is not inside a workdir.
  """
  parts = pathlib.Path(path).absolute().parts
  for i, part in enumerate(parts):
    root = pathlib.Path(*parts[:i])
    if part in ARTEFACT_STAGES and (root / 'stages').is_dir():
      stage = 'evaluate' if part == 'checkpoints' and parts[i + 1].startswith('weak_') else ARTEFACT_STAGES[part]
      unit = pathlib.Path(*parts[:i + 2]) if part == 'checkpoints' else pathlib.Path(path)
      return 'rm -r ' + ' '.join(shlex.quote(str(p)) for p in (unit, root / 'stages' / f'{stage}.json'))
  return None


def non_finite(tree, where='') -> list:
  """[(key path, value)] of every NaN or infinite number in a JSON-ready tree."""
  if isinstance(tree, dict):
    return [bad for k, v in tree.items() for bad in non_finite(v, f'{where}.{k}' if where else str(k))]
  if isinstance(tree, (list, tuple)):
    return [bad for i, v in enumerate(tree) for bad in non_finite(v, f'{where}[{i}]')]
  return [(where, tree)] if isinstance(tree, float) and not math.isfinite(tree) else []


def redo_command_of_stage(workdir, stage):
  """`rm -r` of what `stage` wrote (its artefacts and summary), so the same command recomputes it.

  workdir: a pipeline.Workdir.
  """
  quoted = lambda *parts: shlex.quote(workdir.path(*parts))
  written = [quoted(p) for p, s in ARTEFACT_STAGES.items() if s == stage and p != 'checkpoints']
  written += {'train': [quoted('checkpoints', 'classifier')],
              'evaluate': [quoted('checkpoints') + '/weak_*']}.get(stage, [])
  return 'rm -r ' + ' '.join(written + [shlex.quote(workdir.summary(stage))])


def with_redo_command(error):
  """A CorruptArtefact whose message ends with the command that recomputes the artefact."""
  command = redo_command(error.path)
  if command is None:
    return error
  return io.CorruptArtefact(error.path, error.reason,
                            f'delete it and re-run the same command to recompute it: {command}')
