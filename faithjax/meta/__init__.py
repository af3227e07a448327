"""Meta-evaluation: how far each faithfulness evaluation can be trusted on one corpus (docs/agreement.md).

  python -m faithjax.meta --runs=runs/seed0,runs/seed1 --out=runs/meta

`meta_evaluate` (exported as faithjax.meta_evaluate) reads evaluated workdirs
(faithjax.runs.Run) or archived runs, measures (faithjax/meta/measure.py) and
writes meta.json, meta.md (the verdict table first) and meta.png
(faithjax/meta/render.py) to `out`. `measure_parts` measures what a run's
archive needs to join a later meta-evaluation (faithjax/meta/parts.py).
"""

import dataclasses
import os
from typing import Any, Sequence

from faithjax import FaithjaxError
from faithjax import io
from faithjax import provenance
from faithjax import runs as runs_lib
from faithjax.meta import measure
from faithjax.meta import parts
from faithjax.meta import render


def write(meta: measure.MetaEvaluation, out: str, command: str | None = None) -> None:
  """meta.json (every record), meta.md and meta.png in `out`, each md and json opening with what produced them
  (`command`, default the library call; versions, device, time)."""
  os.makedirs(out, exist_ok=True)
  recorded, measured = provenance.record(), provenance.now()
  command = command or f'faithjax.meta_evaluate({list(meta.seeds)} seeds of {meta.corpus}, {out!r})'
  io.write_json(os.path.join(out, 'meta.json'), {
      'command': command, 'measured': measured, 'provenance': recorded, **dataclasses.asdict(meta),
      'verdicts': [dataclasses.asdict(v) | {'verdict': v.verdict} for v in measure.verdicts(meta)]})
  io.write_text(os.path.join(out, 'meta.md'),
                render.markdown(meta, provenance.measured_text(command, measured, recorded)))
  render.figure(meta, os.path.join(out, 'meta.png'))


def meta_evaluate(runs: Sequence[str], out: str, command: str | None = None,
                  **options: Any) -> measure.MetaEvaluation:
  """The meta-evaluation of evaluated runs of one corpus (seeds or checkpoints, one data split), written to
  `out` (`command`: what to name as its producer; default the library call). runs: workdirs, or archives of runs
  (faithjax.runs.write_archive, a path ending in .npz) with their parts beside them (measure_parts); options:
  measure.meta_evaluate's (sections, levels, depth, naopc_bounds, n_resamples, seed, train_evaluations,
  weak_epochs, examples, naopc_examples, naopc_max_tokens)."""
  meta = measure.meta_evaluate([runs_lib.read_run(r) for r in runs], os.path.join(out, 'copies'), **options)
  write(meta, out, command)
  return meta


def measure_parts(workdirs: Sequence[str], out: str, **options: Any) -> list[str]:
  """Each workdir's part of the meta-evaluation (measure.measure_part, with meta_evaluate's options but
  n_resamples), written to <out>/parts/<workdir's name>.npz: keep it beside the run's archive
  (faithjax.runs.part_path) and a later meta-evaluation of archives reads it. Returns the paths written."""
  runs = [runs_lib.Run(w) for w in workdirs]
  names = [os.path.basename(run.work.root) for run in runs]
  if len(set(names)) < len(names):
    raise FaithjaxError(f'the workdirs\' names repeat ({", ".join(names)}): each part is named after its workdir; '
                        'measure them in calls of their own, each with its own --out')
  paths = []
  for name, part in zip(names, measure.measure_parts(runs, os.path.join(out, 'copies'), **options)):
    paths.append(os.path.join(out, 'parts', name + '.npz'))
    parts.write(part, paths[-1])
  return paths
