"""What to do about a bad artefact in a workdir: the stage that wrote it, and the command that recomputes it.

io.py checks artefacts against their content hashes; this module turns a
CorruptArtefact into a message that ends with the `rm -rf` after which
re-running the same command recomputes just that artefact (never deleting the
records that guard the workdir: its config and input files), and finds the
non-finite numbers a stage must not write into results.
"""

import math
import os
import pathlib
import shlex
from typing import Any

from faithjax import io
from faithjax import workdir as workdir_lib

# The stage that writes each artefact a later stage reads back: (first part of its path in the workdir, stage).
ARTEFACT_STAGES = {'corpus.npz': 'encode', 'checkpoints': 'train', 'maps': 'explain', 'evaluations': 'evaluate'}
# The records that guard a workdir: its settings, and the input files its corpus was encoded from.
GUARDS = (pathlib.Path('config.json'), pathlib.Path('stages', 'encode.json'))


def redo_unit(path: str | os.PathLike) -> tuple[pathlib.Path, pathlib.Path] | None:
  """(workdir, what to delete) so that re-running the command recomputes the damaged artefact `path`; None
  outside a workdir.

  An array or a stage summary goes alone (its stage recomputes it, and a recomputed array must reproduce the
  summary recorded with it, so no later number can differ); a checkpoint as a whole (checkpoints/<name>). The
  records that guard the workdir (config.json, and stages/encode.json with its input files) cannot be recomputed
  without switching the guard off: the whole workdir goes.
  """
  parts = pathlib.Path(path).absolute().parts
  for i, part in enumerate(parts):
    root, relative = pathlib.Path(*parts[:i]), pathlib.Path(*parts[i:])
    if part not in (*ARTEFACT_STAGES, 'stages', 'config.json') or not (
        (root / 'config.json').exists() or (root / 'stages').is_dir()):
      continue
    if relative in GUARDS:
      return root, root
    return root, root / part / parts[i + 1] if part == 'checkpoints' else root / relative
  return None


def non_finite(tree: Any, where: str = '') -> list[tuple[str, float]]:
  """[(key path, value)] of every NaN or infinite number in a JSON-ready tree."""
  if isinstance(tree, dict):
    return [bad for k, v in tree.items() for bad in non_finite(v, f'{where}.{k}' if where else str(k))]
  if isinstance(tree, (list, tuple)):
    return [bad for i, v in enumerate(tree) for bad in non_finite(v, f'{where}[{i}]')]
  return [(where, tree)] if isinstance(tree, float) and not math.isfinite(tree) else []


def redo_command_of_stage(workdir: workdir_lib.Workdir, stage: str) -> str:
  """`rm -rf` of what `stage` wrote (its artefacts and summary), so the same command recomputes it."""
  quoted = lambda *parts: shlex.quote(workdir.path(*parts))
  written = [quoted(p) for p, s in ARTEFACT_STAGES.items() if s == stage and p != 'checkpoints']
  written += {'train': [quoted('checkpoints', 'classifier')],
              'evaluate': [quoted('checkpoints') + '/weak_*']}.get(stage, [])
  return 'rm -rf ' + ' '.join(written + [shlex.quote(workdir.summary(stage))])


def with_redo_command(error: io.CorruptArtefact, output_root: str | os.PathLike | None = None) -> io.CorruptArtefact:
  """A CorruptArtefact whose message ends with the `rm -rf` after which the same command recomputes the artefact.

  output_root: the workdir the command writes (re-evaluation); an artefact of another workdir (a re-evaluated
  checkpoint's) is recomputed by re-running the command that made that workdir, then this one.
  """
  found = redo_unit(error.path)
  if found is None:
    return error
  root, unit = found
  remedy = (f'the record that guards workdir {root} is lost, so its results cannot be checked; delete the workdir'
            if unit == root else 'delete it')
  if output_root is not None and pathlib.Path(output_root).absolute() != root:
    remedy += f', re-run the command that made {root}, then this one: rm -rf {shlex.quote(str(unit))}'
  else:
    remedy += f' and re-run the same command to recompute it: rm -rf {shlex.quote(str(unit))}'
  return io.CorruptArtefact(error.path, error.reason, remedy)
