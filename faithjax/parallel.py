"""Devices: a batch-sharded mesh, multi-host start-up, and stacked checkpoints.

Explainers and evaluations are jitted over whole batches, so sharding is only
a matter of placing the inputs: XLA partitions the program along the batch
axis (GSPMD) and every example's result is the same as on one device.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec

from faithjax import FaithjaxError

BATCH_AXIS = 'batch'


def initialize_distributed():
  """Multi-host launches (TPU pods, multi-node GPU): one process per host."""
  jax.distributed.initialize()


def make_mesh(num_devices=None):
  """A 1-D mesh over the first `num_devices` devices (all by default).

  Axis type Auto: jax.make_mesh's default (Explicit) breaks the embedding gather.
  """
  available = len(jax.devices())
  num_devices = num_devices or available
  if not 1 <= num_devices <= available:
    raise FaithjaxError(f'--mesh={num_devices} asks for more devices than the {available} present; '
                        f'use at most {available}')
  return jax.make_mesh((num_devices,), (BATCH_AXIS,), axis_types=(AxisType.Auto,),
                       devices=jax.devices()[:num_devices])


def pad_to_multiple(array, multiple):
  """Pads axis 0 with zeros (PAD rows) to a multiple of `multiple`: [n, ...] -> [m, ...]."""
  extra = -len(array) % multiple
  return np.pad(array, [(0, extra)] + [(0, 0)] * (array.ndim - 1)) if extra else array


def shard_batch(mesh, array):
  """Places `array` split along axis 0 over the mesh; axis 0 must divide evenly."""
  if mesh is None:
    return array
  return jax.device_put(array, NamedSharding(mesh, PartitionSpec(BATCH_AXIS)))


def replicate(mesh, tree):
  if mesh is None:
    return tree
  return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def sharded(mesh, fn):
  """`fn(params, *batch, **options)` run with the batch split over `mesh`; `fn` itself without a mesh.

  Each `batch` array's axis 0 is padded with PAD rows to a multiple of the mesh
  size and sharded, `params` is replicated, and the padding rows are cut from
  every output (a pytree of arrays with a leading [batch] axis). Arguments
  without an axis (None, an explainer's PRNG key) and options pass through.
  """
  if mesh is None:
    return fn

  def call(params, *batch, **options):
    batched = lambda x: getattr(x, 'ndim', 0) > 0
    rows = len(next(filter(batched, batch)))
    batch = [shard_batch(mesh, pad_to_multiple(np.asarray(x), mesh.size)) if batched(x) else x for x in batch]
    return jax.tree.map(lambda out: out[:rows], fn(replicate(mesh, params), *batch, **options))
  return call


def _signature(tree):
  return jax.tree_util.tree_structure(tree), tuple((jnp.shape(x), jnp.result_type(x)) for x in jax.tree.leaves(tree))


def stack(trees):
  """Stacks same-architecture pytrees (e.g. N checkpoints) on a new leading axis, for vmap."""
  if len({_signature(t) for t in trees}) != 1:
    raise FaithjaxError('the checkpoints have different architectures or vocabularies (parameter shapes); '
                        'stack only checkpoints of one model')
  return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)
