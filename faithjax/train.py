"""Training: an optax loop with per-epoch validation, best-checkpoint selection and resume.

`fit` is model-agnostic (the classifier and the weak learner both use it): it
takes a loss over a batch, a batch iterator per epoch and a validation
function. State is checkpointed with orbax after every epoch, so a killed run
resumes from its last finished epoch and ends at the same parameters as an
uninterrupted one (batch order depends only on (seed, epoch)).
"""

import contextlib
import dataclasses
import errno
import functools
import glob
from io import StringIO
import logging
import os
import shutil
import sys
import time
from typing import Any, Callable, Sequence

from etils import epath
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp

from faithjax import batching
from faithjax import FaithjaxError
from faithjax import interrupts
from faithjax import io
from faithjax import metrics
from faithjax import parallel
from faithjax import streams
from faithjax.data import encode
from faithjax.data.text import PAD_ID
from faithjax.models import contract


# The epoch kept is the one with the highest validation ROC-AUC (from RunConfig.select_from_epoch on).
SELECT_METRIC = 'valid_roc_auc'
# How the classifier's loss reduces over a batch: 'mean' (ours), 'sum' (Jain & Wallace's
# `(bce_loss * weight).mean(1).sum()`, model/Binary_Classification.py).
LOSS_REDUCTIONS = ('mean', 'sum')


@functools.cache
def optimizer(learning_rate: float = 1e-3, l2: float = 1e-5,
              no_decay: tuple[str, ...] = ('attention',)) -> optax.GradientTransformation:
  """Jain & Wallace: AMSGrad with coupled L2 on every parameter outside `no_decay`.

  Cached: one transformation per setting, so it is an equal static argument of
  `train_step` across fits.
  """
  def decay_mask(params: contract.Params) -> Any:
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    decide = [not any(getattr(k, 'key', None) in no_decay for k in path) for path, _ in flat]
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(params), decide)
  return optax.chain(optax.masked(optax.add_decayed_weights(l2), decay_mask),
                     optax.scale_by_amsgrad(), optax.scale(-learning_rate))


def class_weights(labels: np.ndarray, num_classes: int = 2) -> np.ndarray:
  """Inverse-frequency weights, mean 1 over the training set: [classes]."""
  counts = np.bincount(labels, minlength=num_classes).astype(np.float32)
  return len(labels) / (num_classes * np.maximum(counts, 1))


# The label of a row that only pads a batch to a multiple of the devices (`fit` with a mesh): it weighs nothing.
PADDING_LABEL = -1


def weighted_cross_entropy(logits: jax.Array, labels: jax.Array | np.ndarray, weights: jax.Array,
                           reduction: str = 'mean') -> jax.Array:
  """logits [batch, classes], labels [batch] (PADDING_LABEL: no weight), weights [classes] -> weighted loss.

  reduction 'mean': the weighted mean; 'sum': the weighted sum over the batch (Jain & Wallace), which makes
  the gradients about batch-size times larger, so a coupled L2 term weighs that much less beside them.
  """
  if reduction not in LOSS_REDUCTIONS:
    raise ValueError(f'unknown loss reduction {reduction!r}; choose one of {LOSS_REDUCTIONS}')
  real = labels != PADDING_LABEL
  labels = jnp.where(real, labels, 0)
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  w = jnp.where(real, weights[labels], 0.)
  total = jnp.sum(w * losses)
  return total if reduction == 'sum' else total / jnp.sum(w)


@dataclasses.dataclass(frozen=True)
class ClassifierLoss:
  """Class-weighted cross-entropy of a classifier on a batch (ids [batch, seq], labels [batch]).

  Hashable (the class weights as a tuple), so fits with equal losses share
  `train_step`'s compiled programs.
  """
  model: Any
  class_weights: tuple
  reduction: str = 'mean'  # LOSS_REDUCTIONS

  def __call__(self, params, batch, key):
    del key  # the classifier has no dropout
    ids, labels = batch
    logits, _ = contract.apply(self.model, params, ids)
    return weighted_cross_entropy(logits, labels, jnp.asarray(self.class_weights, jnp.float32), self.reduction)


@functools.partial(jax.jit, static_argnames=('loss_fn', 'tx'))
def train_step(params: contract.Params, opt_state: optax.OptState, batch: tuple, key: jax.Array, *,
               loss_fn: Callable[[contract.Params, tuple, jax.Array], jax.Array],
               tx: optax.GradientTransformation) -> tuple[contract.Params, optax.OptState, jax.Array]:
  """One optimiser step: (params, opt_state, loss). loss_fn(params, batch, key) -> scalar and the optax
  transformation `tx` are static: one program per (loss, optimiser, batch shape), shared by every fit."""
  loss, grads = jax.value_and_grad(loss_fn)(params, batch, key)
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, loss


def _manager(ckpt_dir, which):
  """The orbax manager of `ckpt_dir`/`which` ('last': resume, 'best': selected); close it (a `with` block)."""
  folder = os.path.join(os.path.abspath(ckpt_dir), which)  # orbax refuses relative paths
  return ocp.CheckpointManager(folder, options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True))


# Beside a checkpoint folder (e.g. checkpoints/classifier/last.saving): the step being saved, written before
# orbax's save and removed once its hashes are recorded. The one window in which a step may lack its hashes.
SAVING_SUFFIX = '.saving'
# In a classifier's checkpoint folder: the hash of the vocabulary (and the corpus) it was trained on, so that
# re-evaluating it on another vocabulary is refused (reevaluate.check_vocabulary).
VOCABULARY = 'vocabulary.json'


@contextlib.contextmanager
def _orbax_quiet():
  """Orbax's output off during a save (on a full disk, its threads' logs and tracebacks: hundreds of lines);
  what fails is raised instead. Its log records are dropped; what is printed to sys.stderr is passed on when
  the save succeeds."""
  logger = logging.getLogger('absl')  # orbax logs here
  level, held = logger.level, StringIO()  # held: tracebacks that TensorStore's threads print to sys.stderr
  logger.setLevel(logging.CRITICAL)
  try:
    with contextlib.redirect_stderr(held):
      yield
    sys.stderr.write(held.getvalue())
  finally:
    logger.setLevel(level)


def _os_error(error: BaseException | None) -> OSError | None:
  """The OSError in `error`'s chain, or None; an error whose text says the disk is full (TensorStore's C++ writes
  raise no OSError) counts as one."""
  while error is not None:
    if isinstance(error, OSError):
      return error
    if os.strerror(errno.ENOSPC) in str(error):
      return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    error = error.__cause__ or error.__context__
  return None


def _without_closed_loop_errors(previous):
  """An unraisable-exception hook that drops asyncio's "Event loop is closed" and passes on the rest: after a failed
  save, TensorStore's threads finish against orbax's closed loop and would print a traceback of their own before
  or after the one-line error."""
  def hook(unraisable: 'sys.UnraisableHookArgs') -> None:
    if not (isinstance(unraisable.exc_value, RuntimeError) and 'Event loop is closed' in str(unraisable.exc_value)):
      previous(unraisable)
  return hook


def _recorded(folder: str, step: int) -> bool:
  """Whether the hashes of `folder` (a manager's) cover its `step`."""
  return any(name.startswith(os.path.join(os.path.basename(folder), str(step), ''))
             for name in io.recorded_names(folder))


DISCARD_GRACE_CHECKS, DISCARD_GRACE_S = 10, 0.1  # a failed save's late leftovers: watched for 1 s


def _discard(folder: str, step: int) -> None:
  """Removes what a failed save of `step` left in `folder`: orbax's temporary folder, the step unless its hashes
  were recorded before, and the marker; a re-run trusts nothing half-written."""
  pattern = os.path.join(glob.escape(folder), f'{step}.orbax-checkpoint-tmp*')
  for path in glob.glob(pattern) + ([] if _recorded(folder, step) else [os.path.join(folder, str(step))]):
    shutil.rmtree(path, ignore_errors=True)
  # TensorStore's C++ writers can still create orbax's temporary folder after the manager has closed (seen under
  # load): watch for it a moment longer.
  for _ in range(DISCARD_GRACE_CHECKS):
    time.sleep(DISCARD_GRACE_S)
    for path in glob.glob(pattern):
      shutil.rmtree(path, ignore_errors=True)
  os.remove(folder + SAVING_SUFFIX)


def _save(manager, step, args):
  """Saves orbax `args` as `step` and records the content hashes of the manager's folder (io.record_hashes),
  announcing the step in a marker first (SAVING_SUFFIX), so that `_restore` can tell a run killed between the save
  and its hashes from a checkpoint whose hashes were deleted. A save that fails leaves nothing of the step; an
  OSError inside orbax (a full disk) is raised naming the checkpoint folder."""
  folder = os.fspath(manager.directory)
  io.write_text(folder + SAVING_SUFFIX, f'{step}\n')
  # A Ctrl-C waits for the save and its hashes: interrupted inside orbax's save, the process could hang on exit.
  with interrupts.deferred():
    try:
      with _orbax_quiet():
        manager.save(step, args=args, force=True)
        manager.wait_until_finished()
    except Exception as e:
      sys.unraisablehook = _without_closed_loop_errors(sys.unraisablehook)
      with _orbax_quiet(), contextlib.suppress(Exception):
        manager.close()  # raises the error again: closed now, the manager's `with` block closes it quietly
      if parallel.is_primary():
        _discard(folder, step)
      error = _os_error(e)
      if error is None:
        raise
      raise OSError(error.errno, error.strerror or str(error), folder) from e
    io.record_hashes(folder)
    if parallel.is_primary():
      os.remove(folder + SAVING_SUFFIX)


def save_best(ckpt_dir: str, params: contract.Params, step: int = 0) -> None:
  """`params` laid out as `fit` leaves its selected ones (ckpt_dir/best/<step>, hashes recorded)."""
  with _manager(ckpt_dir, 'best') as manager:
    _save(manager, step, ocp.args.StandardSave(params))


def _shapes(tree):
  """{key path: shape} of a pytree of arrays or array metadata."""
  return {jax.tree_util.keystr(path): tuple(leaf.shape) for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def _check_shapes(folder, step, abstract):
  """Refuses a saved item whose arrays differ from `abstract`'s, from orbax's metadata alone: a restore that
  fails part-way abandons its array reads, and their coroutines print tracebacks when collected."""
  # The item's handler reads its array metadata alone (a Checkpointer would also look for, and warn about,
  # the step-level metadata that a CheckpointManager writes one folder up).
  reader = ocp.StandardCheckpointHandler()
  try:
    saved = reader.metadata(epath.Path(folder) / str(step) / 'default')
  finally:
    reader.close()
  if _shapes(saved) != _shapes(abstract):
    raise ValueError('its arrays have other names or shapes')


def _saving(folder):
  """The step a run was saving into `folder` when it was killed (its SAVING_SUFFIX marker), or None."""
  try:
    with open(folder + SAVING_SUFFIX, encoding='utf-8') as f:
      return int(f.read())
  except (OSError, ValueError):
    return None


def _restore(manager, step, args, abstract=None, read_only=False):
  """`step` of `manager` read with orbax `args`, its files checked against their hashes first (a damaged
  checkpoint is one line), and its arrays against `abstract`'s shapes when given.

  A step without hashes is damaged, except the one the marker of `_save` names: orbax finalised it (an atomic
  rename) but the run was killed before it recorded the hashes, which are recorded now (never with read_only:
  re-evaluation writes nothing into the workdirs it reads).
  """
  folder = os.fspath(manager.directory)
  recorded = _recorded(folder, step)
  if not recorded and _saving(folder) == step:
    if read_only:
      raise FaithjaxError(f'checkpoint {folder} was being saved when its run was killed; re-run the command that '
                          'made it first')
    io.record_hashes(folder)
  elif not recorded:
    raise io.CorruptArtefact(folder, f'no content hashes were recorded for its step {step}')
  io.verify(folder)
  try:
    if abstract is not None:
      _check_shapes(folder, step, abstract)
    return manager.restore(step, args=args)
  except (ValueError, KeyError, TypeError, FileNotFoundError) as e:
    raise FaithjaxError(f'checkpoint {folder} does not match this model or this faithjax '
                        f'(another vocabulary or architecture, or a layout from before the state and history '
                        f'were saved together?): {str(e).splitlines()[0]}; use a fresh --workdir') from None
  except Exception as e:  # pylint: disable=broad-except  (orbax and TensorStore raise bare Exceptions)
    raise io.CorruptArtefact(folder, f'orbax cannot read it: {str(e).splitlines()[0]}') from None


def restore_best(ckpt_dir: str, abstract_params: Any, read_only: bool = False) -> contract.Params:
  """The selected parameters of a finished `fit` in `ckpt_dir`, on this process's first device (read_only: see
  `_restore`)."""
  with _manager(ckpt_dir, 'best') as best:
    step = best.latest_step()
    if step is None:
      raise io.CorruptArtefact(best.directory, 'it holds no checkpoint')
    abstract = parallel.abstract(abstract_params)
    return _restore(best, step, ocp.args.StandardRestore(abstract), abstract, read_only)


def _selection_key(row, select_metric):
  """Higher is better: the selection metric, ties (e.g. a saturated ROC-AUC) broken by lower valid loss."""
  return row[select_metric], -row.get('valid_loss', 0.0)


def selected_epoch(history: Sequence[dict], select_metric: str, first: int = 1) -> int:
  """The epoch (1-based) `fit` keeps: the first with the highest selection key among epochs >= `first`.

  first=2 is Jain & Wallace's rule (Trainers/TrainerBC.py saves only `if metric > best_metric and i > 0`);
  while no epoch >= `first` has finished (or a run has fewer epochs), every finished epoch is eligible.
  """
  eligible = [row for row in history if row['epoch'] >= first] or history
  return max(eligible, key=lambda row: _selection_key(row, select_metric))['epoch']


def fit(*, params: contract.Params, loss_fn: Callable[[contract.Params, tuple, jax.Array], jax.Array],
        train_batches: Callable[[int], list[tuple]], evaluate: Callable[[contract.Params], dict], config: Any,
        ckpt_dir: str, label: str = 'train',
        mesh: jax.sharding.Mesh | None = None) -> tuple[contract.Params, list[dict]]:
  """Trains `params` and returns (best params, history).

  loss_fn(params, batch, key) -> scalar (hashable, e.g. ClassifierLoss: it is a
  static argument of `train_step`); train_batches(epoch) -> list of batches,
  each a tuple (inputs..., labels) of arrays with a leading [batch] axis;
  evaluate(params) -> dict of validation metrics containing SELECT_METRIC;
  config: a config.RunConfig (its epochs, learning_rate, l2 and seed). history
  is one dict per finished epoch. After each epoch the parameters, the optimiser
  state and the history are saved together in one orbax checkpoint ('last'), so
  a resumed run has all three or none. With a `mesh` (parallel.make_mesh) every
  batch is split over its devices (data parallel; see `_placer`) and the
  training state is replicated.
  """
  tx = optimizer(config.learning_rate, config.l2)
  state = parallel.replicate(mesh, {'params': params, 'opt_state': tx.init(params)})
  with contextlib.ExitStack() as managers:
    last, best = (managers.enter_context(_manager(ckpt_dir, which)) for which in ('last', 'best'))
    history = _fit_epochs(state, last, best, loss_fn, tx, train_batches, evaluate, config, ckpt_dir, label, mesh)
  return restore_best(ckpt_dir, jax.eval_shape(lambda: params)), history


def _placer(mesh):
  """batch -> batch on `mesh`: split over its devices, inputs padded with zeros and labels with PADDING_LABEL
  to a multiple of the mesh size; the identity without a mesh."""
  if mesh is None:
    return lambda batch: batch

  def place(batch: tuple) -> tuple:
    *inputs, labels = batch
    pad = lambda x, value=0: parallel.shard_batch(mesh, parallel.pad_to_multiple(np.asarray(x), mesh.size, value))
    return (*map(pad, inputs), pad(labels, PADDING_LABEL))
  return place


def _fit_epochs(state, last, best, loss_fn, tx, train_batches, evaluate, config, ckpt_dir, label, mesh):
  """fit's loop over the epochs not yet checkpointed in `last`; returns the history."""
  place = _placer(mesh)
  start, history = 0, []
  if last.latest_step() is not None:
    start = last.latest_step() + 1
    abstract = jax.eval_shape(lambda: state) if mesh is None else parallel.abstract(state, mesh)
    restored = _restore(last, last.latest_step(), ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), history=ocp.args.JsonRestore()))
    state, history = restored['state'], restored['history']
    io.log(f'{io.scoped_label(label)}: resumed after epoch {start} from {ckpt_dir}')

  for epoch in range(start, config.epochs):
    batches = train_batches(epoch)
    progress = io.Progress(f'{label} epoch {epoch + 1}/{config.epochs}', len(batches), unit='batch')
    losses = []
    for i, batch in enumerate(batches):
      key = parallel.replicate(mesh, streams.train_step_key(config.seed, epoch, i))
      state['params'], state['opt_state'], loss = train_step(state['params'], state['opt_state'], place(batch), key,
                                                             loss_fn=loss_fn, tx=tx)
      losses.append(loss)
      progress.update()
    train_loss = float(np.mean(jax.device_get(losses)))
    if not np.isfinite(train_loss):
      raise FaithjaxError(f'{label}: training loss became {train_loss} in epoch {epoch + 1}; '
                          'lower --learning_rate or check the data for empty documents')
    row = {'epoch': epoch + 1, 'train_loss': train_loss, **evaluate(state['params'])}
    history.append(row)
    if selected_epoch(history, SELECT_METRIC, config.select_from_epoch) == row['epoch']:
      if epoch in best.all_steps():  # saved by a run killed before its 'last' checkpoint: same epoch, redone
        best.delete(epoch)
      _save(best, epoch, ocp.args.StandardSave(state['params']))
    _save(last, epoch, ocp.args.Composite(state=ocp.args.StandardSave(state), history=ocp.args.JsonSave(history)))
    io.log(f'{io.scoped_label(label)} epoch {epoch + 1}: '
           + ', '.join(f'{k}={v:.4f}' for k, v in row.items() if k != 'epoch'))
  return history


def validation_metrics(labels: np.ndarray, probs: np.ndarray, weights: jax.Array) -> dict[str, float]:
  """The class-weighted loss and classification_report of probs [n, classes], keys prefixed 'valid_'."""
  loss = float(weighted_cross_entropy(jnp.log(jnp.clip(probs, 1e-12)), labels, weights))
  report = metrics.classification_report(labels, probs)
  return {'valid_loss': loss, **{f'valid_{k}': v for k, v in report.items()}}


# The classifier on an encoded corpus.

def predict_split(model: contract.TextClassifier | contract.Nnx | contract.Functions, params: contract.Params,
                  split: encode.EncodedSplit, batch_size: int = 256,
                  mesh: jax.sharding.Mesh | None = None) -> np.ndarray:
  """Class probabilities for every example of an EncodedSplit: [n, classes].

  Batches are padded to `batch_size` rows (batching.map_split), so a split
  compiles one program per bucket width, not one more per tail-batch size.
  With a `mesh`, each batch is split over its devices.
  """
  predict = parallel.sharded(mesh, lambda params, ids: contract.predict_proba(model, params, ids, ids != PAD_ID))
  return batching.map_split(lambda rows, ids: predict(params, ids), split, batch_size=batch_size,
                            label='classifier predict')


def record_vocabulary(ckpt_dir: str, corpus: encode.EncodedCorpus) -> None:
  """Records in classifier checkpoint folder `ckpt_dir` the vocabulary (and corpus) its ids refer to (VOCABULARY)."""
  io.save_json(os.path.join(ckpt_dir, VOCABULARY), {'corpus': corpus.name, 'vocab_sha256': corpus.vocab_sha256()})


def train_classifier(model: contract.TextClassifier | contract.Nnx | contract.Functions,
                     corpus: encode.EncodedCorpus, config: Any, ckpt_dir: str,
                     mesh: jax.sharding.Mesh | None = None) -> tuple[contract.Params, list[dict]]:
  """Trains the classifier on corpus.splits['train'], selecting on 'valid'; `mesh`: see `fit`."""
  train, valid = corpus.splits['train'], corpus.splits['valid']
  weights = jnp.asarray(class_weights(train.labels, model.num_classes))

  def train_batches(epoch: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng([config.seed, epoch])
    return [(train.padded(idx, w), train.labels[idx]) for idx, w in
            encode.batches(train.lengths, config.batch_size, rng)]

  def evaluate(params: contract.Params) -> dict[str, float]:
    return validation_metrics(valid.labels, predict_split(model, params, valid, mesh=mesh), weights)

  record_vocabulary(ckpt_dir, corpus)
  return fit(params=contract.init(model, jax.random.key(config.seed)),
             loss_fn=ClassifierLoss(model, tuple(weights.tolist()), config.loss_reduction),
             train_batches=train_batches, evaluate=evaluate, config=config, ckpt_dir=ckpt_dir, label='classifier', mesh=mesh)

