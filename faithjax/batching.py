"""Split drivers: an EncodedSplit in length buckets, padded so that few programs compile.

Shared by the explainers (explain.explain_split), the evaluations and training's
prediction. Rows are padded with empty (all-PAD) examples whose outputs are
dropped; widths are the buckets of encode.batches.
"""

from typing import Any, Callable, Iterator, Sequence

import jax
import numpy as np

from faithjax import io
from faithjax.data import encode


def padded_batches(split: encode.EncodedSplit, batch_size: int,
                   *flat_values: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
  """Yields (indices, ids, *values) per length-bucketed batch of an EncodedSplit.

  ids and each of `flat_values` (laid out like split.ids) come as [rows, width],
  rows padded with PAD to a power of two up to batch_size: few programs compile.
  """
  for indices, width in encode.batches(split.lengths, batch_size):
    rows = min(batch_size, encode.bucket_width(len(indices)))
    pad = lambda x: np.pad(x, ((0, rows - len(x)), (0, 0)))
    yield (indices, pad(split.padded(indices, width)),
           *(pad(split.padded(indices, width, values)) for values in flat_values))


def map_split(fn: Callable[..., Any], split: encode.EncodedSplit, maps: Sequence[np.ndarray] = (), *,
              batch_size: int, label: str) -> Any:
  """Runs `fn` over `split` in length buckets and gathers its per-example outputs.

  fn(indices <int>[batch], ids <int>[batch, width], *maps <float>[batch, width])
  returns a pytree of arrays with a leading [batch] axis. `maps` are ragged
  float arrays aligned with split.ids. Every batch is padded to `batch_size`
  rows with empty examples (all PAD), so each bucket width compiles once; their
  outputs are dropped. Returns the pytree with a leading [len(split)] axis.
  """
  progress = io.Progress(label, len(split))
  gathered = None
  for indices, width in encode.batches(split.lengths, batch_size):
    fill = ((0, batch_size - len(indices)), (0, 0))
    ids = np.pad(split.padded(indices, width), fill)
    padded_maps = [np.pad(split.padded(indices, width, values=m), fill) for m in maps]
    rows = np.pad(indices, (0, batch_size - len(indices)))
    out = jax.device_get(fn(rows, ids, *padded_maps))
    if gathered is None:
      gathered = jax.tree.map(lambda a: np.zeros((len(split),) + a.shape[1:], a.dtype), out)
    for whole, part in zip(jax.tree.leaves(gathered), jax.tree.leaves(out)):
      whole[indices] = part[:len(indices)]
    progress.update(len(indices))
  return gathered
