"""Meta-evaluation: how far each faithfulness evaluation can be trusted on one corpus (docs/agreement.md).

  python -m faithjax.meta --runs=runs/seed0,runs/seed1 --out=runs/meta

`meta_evaluate` (exported as faithjax.meta_evaluate) reads evaluated workdirs
(faithjax.runs.Run), measures (faithjax/meta/measure.py) and writes meta.json,
meta.md (the verdict table first) and meta.png (faithjax/meta/render.py) to `out`.
"""

import dataclasses
import os
from typing import Any, Sequence

from faithjax import io
from faithjax import runs as runs_lib
from faithjax.meta import measure
from faithjax.meta import render


def write(meta: measure.MetaEvaluation, out: str) -> None:
  """meta.json (every record), meta.md and meta.png in `out`."""
  os.makedirs(out, exist_ok=True)
  io.write_json(os.path.join(out, 'meta.json'), {**dataclasses.asdict(meta),
                                                 'verdicts': [dataclasses.asdict(v) | {'verdict': v.verdict}
                                                              for v in measure.verdicts(meta)]})
  io.write_text(os.path.join(out, 'meta.md'), render.markdown(meta))
  render.figure(meta, os.path.join(out, 'meta.png'))


def meta_evaluate(workdirs: Sequence[str], out: str, **options: Any) -> measure.MetaEvaluation:
  """The meta-evaluation of evaluated workdirs of one corpus (seeds or checkpoints, one data split), written to
  `out`; options: measure.meta_evaluate's (sections, levels, depth, naopc_bounds, n_resamples, seed)."""
  meta = measure.meta_evaluate([runs_lib.Run(w) for w in workdirs], os.path.join(out, 'copies'), **options)
  write(meta, out)
  return meta
