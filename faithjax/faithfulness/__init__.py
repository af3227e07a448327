"""Faithfulness evaluations of feature maps: deletion, weak learner, shuffle test.

Each evaluation has a batch-level function (jitted, fixed shapes) and a
split-level one that runs it over an EncodedSplit in length buckets.
`map_split` is that shared driver.
"""

import functools
import inspect

import jax
import numpy as np

from faithjax import io
from faithjax.data import encode


def jit(static_argnames):
  """jax.jit that binds default arguments before the call.

  Plain jax.jit keys its cache on the keywords as spelled, so f(x) and
  f(x, option=default) would trace and compile twice.
  """
  def decorate(fn):
    jitted = jax.jit(fn, static_argnames=static_argnames)
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def call(*args, **kwargs):
      bound = signature.bind(*args, **kwargs)
      bound.apply_defaults()
      return jitted(*bound.args, **bound.kwargs)
    return call
  return decorate


def map_split(fn, split, maps=(), *, batch_size, label):
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
