"""Training: an optax loop with per-epoch validation, best-checkpoint selection and resume.

`fit` is model-agnostic (the classifier and the weak learner both use it): it
takes a loss over a batch, a batch iterator per epoch and a validation
function. State is checkpointed with orbax after every epoch, so a killed run
resumes from its last finished epoch and ends at the same parameters as an
uninterrupted one (batch order depends only on (seed, epoch)).
"""

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp

from faithjax import batching
from faithjax import FaithjaxError
from faithjax import io
from faithjax import metrics
from faithjax import parallel
from faithjax.data import encode
from faithjax.data.text import PAD_ID
from faithjax.models import contract


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  epochs: int = 8
  batch_size: int = 32
  learning_rate: float = 1e-3
  l2: float = 1e-5
  seed: int = 0
  select_metric: str = 'roc_auc'  # chosen on validation, higher is better


def optimizer(learning_rate=1e-3, l2=1e-5, no_decay=('attention',)):
  """Jain & Wallace: AMSGrad with coupled L2 on every parameter outside `no_decay`."""
  def decay_mask(params):
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    decide = [not any(getattr(k, 'key', None) in no_decay for k in path) for path, _ in flat]
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(params), decide)
  return optax.chain(optax.masked(optax.add_decayed_weights(l2), decay_mask),
                     optax.scale_by_amsgrad(), optax.scale(-learning_rate))


def class_weights(labels, num_classes=2):
  """Inverse-frequency weights, mean 1 over the training set: [classes]."""
  counts = np.bincount(labels, minlength=num_classes).astype(np.float32)
  return len(labels) / (num_classes * np.maximum(counts, 1))


# The label of a row that only pads a batch to a multiple of the devices (`fit` with a mesh): it weighs nothing.
PADDING_LABEL = -1


def weighted_cross_entropy(logits, labels, weights):
  """logits [batch, classes], labels [batch] (PADDING_LABEL: no weight), weights [classes] -> mean weighted loss."""
  real = labels != PADDING_LABEL
  labels = jnp.where(real, labels, 0)
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  w = jnp.where(real, weights[labels], 0.)
  return jnp.sum(w * losses) / jnp.sum(w)


def _managers(ckpt_dir):
  ckpt_dir = os.path.abspath(ckpt_dir)  # orbax refuses relative paths
  options = lambda **kw: ocp.CheckpointManagerOptions(max_to_keep=1, create=True, **kw)
  last = ocp.CheckpointManager(os.path.join(ckpt_dir, 'last'), options=options())
  best = ocp.CheckpointManager(os.path.join(ckpt_dir, 'best'), options=options())
  return last, best


def restore_best(ckpt_dir, abstract_params):
  """The selected parameters of a finished `fit` in `ckpt_dir`, on this process's first device."""
  _, best = _managers(ckpt_dir)
  step = best.latest_step()
  if step is None:
    raise FaithjaxError(f'no checkpoint in {ckpt_dir}/best; run the train stage first')
  try:
    return best.restore(step, args=ocp.args.StandardRestore(parallel.abstract(abstract_params)))
  except (ValueError, KeyError, TypeError) as e:
    raise FaithjaxError(f'checkpoint {ckpt_dir}/best does not match this model '
                        f'(another vocabulary or architecture?): {str(e).splitlines()[0]}; '
                        'use a fresh --workdir') from e


def _selection_key(row, select_metric):
  """Higher is better: the selection metric, ties (e.g. a saturated ROC-AUC) broken by lower valid loss."""
  return row[select_metric], -row.get('valid_loss', 0.0)


def selected_epoch(history, select_metric):
  """The epoch (1-based) `fit` keeps: the first with the highest selection key."""
  return max(history, key=lambda row: _selection_key(row, select_metric))['epoch']


def fit(*, params, loss_fn, train_batches, evaluate, config, ckpt_dir, label='train', mesh=None):
  """Trains `params` and returns (best params, history).

  loss_fn(params, batch, key) -> scalar; train_batches(epoch) -> list of
  batches, each a tuple (inputs..., labels) of arrays with a leading [batch]
  axis; evaluate(params) -> dict of validation metrics containing
  `config.select_metric`. history is one dict per finished epoch. With a
  `mesh` (parallel.make_mesh) every batch is split over its devices (data
  parallel; inputs padded with zeros, labels with PADDING_LABEL, to a multiple
  of the mesh size) and the training state is replicated.
  """
  tx = optimizer(config.learning_rate, config.l2)

  @jax.jit
  def train_step(params, opt_state, batch, key):
    loss, grads = jax.value_and_grad(loss_fn)(params, batch, key)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  def place(batch):
    if mesh is None:
      return batch
    *inputs, labels = batch
    pad = lambda x, value=0: parallel.shard_batch(mesh, parallel.pad_to_multiple(np.asarray(x), mesh.size, value))
    return (*map(pad, inputs), pad(labels, PADDING_LABEL))

  state = parallel.replicate(mesh, {'params': params, 'opt_state': tx.init(params)})
  last, best = _managers(ckpt_dir)
  history_path = os.path.join(ckpt_dir, 'history.json')
  start, history = 0, []
  if last.latest_step() is not None:
    start = last.latest_step() + 1
    abstract = jax.eval_shape(lambda: state) if mesh is None else parallel.abstract(state, mesh)
    state = last.restore(last.latest_step(), args=ocp.args.StandardRestore(abstract))
    history = io.read_json(history_path)[:start]
    io.log(f'{label}: resumed after epoch {start} from {ckpt_dir}')

  for epoch in range(start, config.epochs):
    batches = train_batches(epoch)
    progress = io.Progress(f'{label} epoch {epoch + 1}/{config.epochs}', len(batches), unit='batch')
    losses = []
    for i, batch in enumerate(batches):
      key = parallel.replicate(mesh, jax.random.fold_in(jax.random.key(config.seed), epoch * 1_000_003 + i))
      state['params'], state['opt_state'], loss = train_step(state['params'], state['opt_state'], place(batch), key)
      losses.append(loss)
      progress.update()
    train_loss = float(np.mean(jax.device_get(losses)))
    if not np.isfinite(train_loss):
      raise FaithjaxError(f'{label}: training loss became {train_loss} in epoch {epoch + 1}; '
                          'lower --learning_rate or check the data for empty documents')
    row = {'epoch': epoch + 1, 'train_loss': train_loss, **evaluate(state['params'])}
    history.append(row)
    # History first: a crash before the 'last' checkpoint re-runs this epoch, and
    # resume truncates the history to the checkpoint.
    io.write_json(history_path, history)
    if selected_epoch(history, config.select_metric) == row['epoch']:
      if epoch in best.all_steps():  # saved by a run killed before its 'last' checkpoint: same epoch, redone
        best.delete(epoch)
      best.save(epoch, args=ocp.args.StandardSave(state['params']), force=True)
      best.wait_until_finished()
    last.save(epoch, args=ocp.args.StandardSave(state), force=True)
    last.wait_until_finished()
    io.log(f'{label} epoch {epoch + 1}: ' + ', '.join(f'{k}={v:.4f}' for k, v in row.items() if k != 'epoch'))
  return restore_best(ckpt_dir, jax.eval_shape(lambda: params)), history


def validation_metrics(labels, probs, weights):
  """The class-weighted loss and classification_report of probs [n, classes], keys prefixed 'valid_'."""
  loss = float(weighted_cross_entropy(jnp.log(jnp.clip(probs, 1e-12)), labels, weights))
  report = metrics.classification_report(labels, probs)
  return {'valid_loss': loss, **{f'valid_{k}': v for k, v in report.items()}}


# The classifier on an encoded corpus.

def predict_split(model, params, split, batch_size=256, mesh=None):
  """Class probabilities for every example of an EncodedSplit: [n, classes].

  Batches are padded to `batch_size` rows (batching.map_split), so a split
  compiles one program per bucket width, not one more per tail-batch size.
  With a `mesh`, each batch is split over its devices.
  """
  predict = parallel.sharded(mesh, lambda params, ids: contract.predict_proba(model, params, ids, ids != PAD_ID))
  return batching.map_split(lambda rows, ids: predict(params, ids), split, batch_size=batch_size,
                            label='classifier predict')


def train_classifier(model, corpus, config, ckpt_dir, mesh=None):
  """Trains the classifier on corpus.splits['train'], selecting on 'valid'; `mesh`: see `fit`."""
  train, valid = corpus.splits['train'], corpus.splits['valid']
  weights = jnp.asarray(class_weights(train.labels, model.num_classes))

  def loss_fn(params, batch, key):
    del key  # the classifier has no dropout
    ids, labels = batch
    logits, _ = contract.apply(model, params, ids)
    return weighted_cross_entropy(logits, labels, weights)

  def train_batches(epoch):
    rng = np.random.default_rng([config.seed, epoch])
    return [(train.padded(idx, w), train.labels[idx]) for idx, w in
            encode.batches(train.lengths, config.batch_size, rng)]

  def evaluate(params):
    return validation_metrics(valid.labels, predict_split(model, params, valid, mesh=mesh), weights)

  params = contract.init(model, jax.random.key(config.seed))
  return fit(params=params, loss_fn=loss_fn, train_batches=train_batches, evaluate=evaluate,
             config=dataclasses.replace(config, select_metric=f'valid_{config.select_metric}'),
             ckpt_dir=ckpt_dir, label='classifier', mesh=mesh)

