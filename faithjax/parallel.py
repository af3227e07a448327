"""Devices and hosts: a batch-sharded mesh, multi-process runs, and stacked checkpoints.

Explainers and evaluations are jitted over whole batches, so sharding is only
a matter of placing the inputs: XLA partitions the program along the batch
axis (GSPMD) and every example's result is the same as on one device.

Multi-process runs (TPU pod slices, multi-node GPU jobs; `run.py --distributed`)
are SPMD: every process runs the same pipeline over a mesh of all devices of all
processes, feeds only the rows of each batch its own devices hold
(`shard_batch`), and receives every output gathered (`sharded`). Artefacts are
written by process 0 alone (faithjax.io), between barriers, so a file one
process writes is there for every process that reads it next; the workdir must
be on a filesystem every process sees. Orbax checkpoints are saved and restored
by all processes together.
"""

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec
from jax.sharding import Sharding
from jax.sharding import SingleDeviceSharding

from faithjax import FaithjaxError

BATCH_AXIS = 'batch'


def initialize_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None) -> None:
  """Joins the processes of a multi-process run; call before any JAX computation.

  Without arguments JAX detects the cluster (TPU pod slices, SLURM, Open MPI);
  elsewhere give all three (e.g. two processes on one machine:
  'localhost:12355', 2 and 0 or 1). CPU processes exchange data through JAX's
  default CPU collectives (gloo).
  """
  given = [v is not None for v in (coordinator_address, num_processes, process_id)]
  if any(given) and not all(given):
    raise FaithjaxError('--coordinator_address, --num_processes and --process_id go together; give all three, '
                        'or none to detect the cluster (TPU, SLURM)')
  if all(given) and not 0 <= process_id < num_processes:
    raise FaithjaxError(f'--process_id must be in 0..{num_processes - 1}, got {process_id}')
  try:
    jax.distributed.initialize(coordinator_address, num_processes, process_id)
  except (ValueError, RuntimeError) as e:
    raise FaithjaxError(f'cannot start the multi-process run ({str(e).splitlines()[0]}); outside a TPU pod or a '
                        'SLURM job pass --coordinator_address, --num_processes and --process_id') from e


def is_primary() -> bool:
  """True in the process that writes artefacts (process 0; the only process of a plain run)."""
  return jax.process_index() == 0


def sync(name: str) -> None:
  """A barrier across all processes (nothing in a one-process run); `name` must match in every process."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def make_mesh(num_devices: int | None = None) -> Mesh:
  """A 1-D mesh over the first `num_devices` devices of all processes (all by default).

  Axis type Auto: jax.make_mesh's default (Explicit) breaks the embedding gather.
  """
  available = len(jax.devices())
  num_devices = num_devices or available
  if not 1 <= num_devices <= available:
    raise FaithjaxError(f'--mesh={num_devices} asks for more devices than the {available} present; '
                        f'use at most {available}')
  if jax.process_count() > 1 and num_devices != available:
    raise FaithjaxError(f'a multi-process run shards over all {available} devices of its processes; '
                        f'drop --mesh or pass --mesh=0')
  return jax.make_mesh((num_devices,), (BATCH_AXIS,), axis_types=(AxisType.Auto,),
                       devices=jax.devices()[:num_devices])


def pad_to_multiple(array: np.ndarray, multiple: int, value: Any = 0) -> np.ndarray:
  """Pads axis 0 with `value` (0: PAD rows) to a multiple of `multiple`: [n, ...] -> [m, ...]."""
  extra = -len(array) % multiple
  pad = [(0, extra)] + [(0, 0)] * (array.ndim - 1)
  return np.pad(array, pad, constant_values=value) if extra else array


def process_rows(sharding: Sharding, rows: int) -> slice:
  """The slice of axis 0 (of `rows` rows) that this process's devices hold under `sharding`."""
  held = sharding.addressable_devices_indices_map((rows,)).values()
  return slice(min(s[0].start or 0 for s in held), max(rows if s[0].stop is None else s[0].stop for s in held))


def shard_batch(mesh: Mesh | None, array: np.ndarray) -> jax.Array | np.ndarray:
  """Places `array` split along axis 0 over the mesh; axis 0 must divide evenly.

  Each process transfers only the rows its own devices hold (all of them in a
  one-process run): a global array built from process-local data.
  """
  if mesh is None:
    return array
  array = np.asarray(array)
  sharding = NamedSharding(mesh, PartitionSpec(BATCH_AXIS))
  return jax.make_array_from_process_local_data(sharding, array[process_rows(sharding, len(array))], array.shape)


def replicate(mesh: Mesh | None, tree: Any) -> Any:
  """`tree` (arrays or PRNG keys) on every device of the mesh; arrays already placed so pass unchanged.

  Each process supplies its own copy, which must be the same in every process
  (parameters, options and keys are: every process computes them alike).
  """
  if mesh is None:
    return tree
  everywhere = NamedSharding(mesh, PartitionSpec())

  def put(x: jax.Array | np.ndarray) -> jax.Array:
    if isinstance(x, jax.Array) and x.sharding.is_equivalent_to(everywhere, x.ndim):
      return x
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      return jax.random.wrap_key_data(put(jax.random.key_data(x)), impl=jax.random.key_impl(x))
    return jax.make_array_from_process_local_data(everywhere, np.asarray(x))
  return jax.tree.map(put, tree)


def abstract(tree: Any, mesh: Mesh | None = None) -> Any:
  """Shapes, dtypes and placement to restore `tree` into: replicated over `mesh`, else on this process's
  first device (a checkpoint saved under any mesh restores locally)."""
  sharding = SingleDeviceSharding(jax.local_devices()[0]) if mesh is None else NamedSharding(mesh, PartitionSpec())
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)


def sharded(mesh: Mesh | None, fn: Callable[..., Any], batch_axis: int = 0) -> Callable[..., Any]:
  """`fn(params, *batch)` run with the batch split over `mesh`; `fn` itself without a mesh.

  Each `batch` array's axis 0 is padded with PAD rows to a multiple of the mesh
  size and sharded (each process feeds its own rows); `params` (any pytree) and
  arguments without an axis (None, an explainer's PRNG key) are replicated. The
  outputs (a pytree of arrays whose `batch_axis` is the batch) come back
  replicated on every device, gathered across processes, without the padding
  rows.
  """
  if mesh is None:
    return fn
  gathered = jax.jit(fn, out_shardings=NamedSharding(mesh, PartitionSpec()))
  placed = {}  # the last params seen and their replicated copy: placed once, not once per batch

  def call(params: Any, *batch: Any) -> Any:
    if placed.get('source') is not params:
      placed.update(source=params, copy=replicate(mesh, params))
    rows = next(len(x) for x in batch if jnp.ndim(x) > 0)
    batch = [shard_batch(mesh, pad_to_multiple(np.asarray(x), mesh.size)) if jnp.ndim(x) > 0
             else replicate(mesh, x) for x in batch]
    return jax.tree.map(lambda out: jax.lax.slice_in_dim(out, 0, rows, axis=batch_axis),
                        gathered(placed['copy'], *batch))
  return call


def _signature(tree):
  return jax.tree_util.tree_structure(tree), tuple((jnp.shape(x), jnp.result_type(x)) for x in jax.tree.leaves(tree))


def stack(trees: Sequence[Any]) -> Any:
  """Stacks same-architecture pytrees (e.g. N checkpoints) on a new leading axis, for vmap."""
  if len({_signature(t) for t in trees}) != 1:
    raise FaithjaxError('the checkpoints have different architectures or vocabularies (parameter shapes); '
                        'stack only checkpoints of one model')
  return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def default_group(count: int) -> int:
  """Checkpoints vmapped together: all of them on an accelerator, one at a time (scanned) on a CPU.

  On a CPU, vmapping over checkpoints turns every matmul into a batched one
  and every embedding lookup into a batched gather, which XLA:CPU runs 2-3x
  slower than the same work as N plain kernels (experiments/results/
  bench_checkpoints.md); a scan keeps the plain kernels and still runs all N
  in one program. An accelerator is underfilled by one checkpoint's batch, so
  there one N-times-larger vmapped program is the point. (The CI crashes once
  blamed on this scan were the test process passing vm.max_map_count:
  BUILD_NOTES, issue 18 session 5.)
  """
  return 1 if jax.default_backend() == 'cpu' else count


def over_checkpoints(fn: Callable, stacked: Any, group: int) -> Any:
  """fn over the leading [N] axis of every leaf of `stacked`: all N vmapped, or `group` at a time vmapped and the
  groups scanned."""
  count = jax.tree.leaves(stacked)[0].shape[0]
  if group >= count:
    return jax.vmap(lambda xs: fn(*xs))(stacked)
  return jax.lax.map(lambda xs: fn(*xs), stacked, batch_size=None if group == 1 else group)
