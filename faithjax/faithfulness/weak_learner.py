"""Weak-learner evaluation (Table 4, Figure 5): train the Wiegreffe & Pinter MLP on a feature map.

One weak learner is trained per (corpus, feature map): the map of each
example, normalised over its real tokens, is imposed as the pooling weights
(faithjax/models/weak_learner.py). Higher test F1 = the map carries more of
what the label depends on; the validation loss per epoch (Figure 5) shows how
fast it is learnt. Baselines: 'uniform' (equal weight on every real token) and
'random' (a fresh N(0, 1) map at every training forward pass; a fixed one,
drawn from the seed, for validation and test so evaluation is deterministic).
"""

import dataclasses
import functools
from typing import TYPE_CHECKING, Any, Callable, Mapping
import jax
import jax.numpy as jnp
import numpy as np

from faithjax import batching
from faithjax import faithfulness
from faithjax import metrics
from faithjax import parallel
from faithjax import train
from faithjax.data import encode
from faithjax.data.text import PAD_ID
from faithjax.models import weak_learner as wl

if TYPE_CHECKING:  # evaluations imports this module
  from faithjax.faithfulness import evaluations

NORMS = ('l2', 'l1')
# The Uniform baseline's weights (RunConfig.uniform_weights): 'norm', ones normalised like every map (1/sqrt(n) per
# token under l2, 1/n under l1); 'mean', 1/n whatever the norm (Wiegreffe & Pinter's uniform weights).
UNIFORM_WEIGHTS = ('norm', 'mean')


def map_norm(config: Any, name: str) -> str:
  """The normalisation the weak learner (and the shuffle test) apply to map `name`: the run's --norm, except
  l1 (which gives exactly 1/n on ones) for the Uniform baseline under --uniform_weights=mean."""
  if name == 'uniform' and config.uniform_weights == 'mean':
    return 'l1'
  return config.norm


def normalise(scores: jax.Array, mask: jax.Array, norm: str = 'l2') -> jax.Array:
  """Scales each map to norm 1 over its real tokens: [batch, seq] -> [batch, seq], 0 on PAD.

  'l2': signed scores / ||scores||_2; 'l1': |scores| / sum |scores|.
  A map that is zero on every real token stays zero.
  """
  if norm not in NORMS:
    raise ValueError(f'unknown norm {norm!r}; choose one of {NORMS}')
  scores = jnp.where(mask, scores, 0.)
  if norm == 'l1':
    scores = jnp.abs(scores)
    total = scores.sum(-1, keepdims=True)
  else:
    total = jnp.sqrt(jnp.square(scores).sum(-1, keepdims=True))
  return scores / jnp.where(total > 0, total, 1.)


@faithfulness.jit(('model', 'norm'))
def predict_proba(model: wl.WeakLearner, params: dict, ids: jax.Array, scores: jax.Array,
                  norm: str = 'l2') -> jax.Array:
  """ids: <int>[batch, seq]; scores: the raw map [batch, seq] -> class probabilities [batch, classes]."""
  weights = normalise(scores, ids != PAD_ID, norm)
  return jax.nn.softmax(wl.apply(model, params, ids, weights), -1)


def predict_split(model: wl.WeakLearner, params: dict, split: encode.EncodedSplit, scores: np.ndarray,
                  norm: str = 'l2', batch_size: int = 256, mesh: jax.sharding.Mesh | None = None) -> np.ndarray:
  """Class probabilities for every example of an EncodedSplit given its ragged map: [n, classes].

  With a `mesh`, each batch is split over its devices.
  """
  predict = parallel.sharded(mesh, lambda params, ids, s: predict_proba(model, params, ids, s, norm))
  return batching.map_split(lambda rows, ids, s: predict(params, ids, s), split, [scores],
                                batch_size=batch_size, label='weak learner predict')


@dataclasses.dataclass(frozen=True)
class WeakLearnerLoss:
  """Class-weighted cross-entropy of a weak learner on (ids, map, labels); hashable like train.ClassifierLoss,
  so every weak learner of one model shares train.train_step's programs."""
  model: wl.WeakLearner
  class_weights: tuple
  norm: str = 'l2'
  random_map: bool = False  # the 'random' baseline: a fresh N(0, 1) map at every forward pass

  def __call__(self, params, batch, key):
    ids, scores, labels = batch
    if self.random_map:
      scores = jax.random.normal(key, ids.shape)
    logits = wl.apply(self.model, params, ids, normalise(scores, ids != PAD_ID, self.norm))
    return train.weighted_cross_entropy(logits, labels, jnp.asarray(self.class_weights, jnp.float32))


@dataclasses.dataclass
class WeakLearnerResult:
  params: dict  # selected on validation
  history: list  # one dict per epoch: train_loss, valid_loss (Figure 5), valid_roc_auc, ...
  test: dict  # metrics.test_report on test: accuracy, f1, macro_f1, roc_auc, CIs
  test_probs: np.ndarray  # [len(test), classes]
  maps: dict  # {split: ragged map} used


def train_weak_learner(model: wl.WeakLearner, corpus: encode.EncodedCorpus, maps: dict[str, np.ndarray],
                       config: Any, ckpt_dir: str, norm: str = 'l2', mesh: jax.sharding.Mesh | None = None,
                       fresh_map: bool = False) -> 'WeakLearnerResult':
  """Trains a WeakLearner on corpus.splits['train'], selects on 'valid', reports on 'test'.

  maps: {'train', 'valid', 'test': ragged float maps aligned with each split's
  ids}. fresh_map: train on a fresh N(0, 1) map at every forward pass instead
  of maps['train'] (the 'random' baseline: noise, not one draw of it).
  config: a config.RunConfig whose `epochs` are the weak learner's. With a
  `mesh`, training and prediction split every batch over its devices
  (train.fit). Returns a WeakLearnerResult.
  """
  train_split, valid, test = (corpus.splits[s] for s in encode.SPLITS)
  weights = jnp.asarray(train.class_weights(train_split.labels, model.num_classes))

  def train_batches(epoch: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng([config.seed, epoch])
    return [(train_split.padded(idx, w), train_split.padded(idx, w, maps['train']), train_split.labels[idx])
            for idx, w in encode.batches(train_split.lengths, config.batch_size, rng)]

  def evaluate(params: dict) -> dict:
    return train.validation_metrics(valid.labels, predict_split(model, params, valid, maps['valid'], norm, mesh=mesh),
                                    weights)

  params, history = train.fit(
      params=wl.init(model, jax.random.key(config.seed)),
      loss_fn=WeakLearnerLoss(model, tuple(weights.tolist()), norm, random_map=fresh_map),
      train_batches=train_batches,
      evaluate=evaluate, config=config,
      ckpt_dir=ckpt_dir, label='weak learner', mesh=mesh)
  test_probs = predict_split(model, params, test, maps['test'], norm, mesh=mesh)
  return WeakLearnerResult(params, history, metrics.test_report(test.labels, test_probs), test_probs, maps)


def evaluate(context: 'evaluations.Context', explainer: str,
             maps: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """The weak learner trained on this map (evaluations.py): test labels [n_test], probabilities
  [n_test, classes], validation losses [epochs]."""
  learnt = context.weak_learner(explainer, maps)
  return {'labels': context.corpus.splits['test'].labels, 'test_probs': learnt.test_probs,
          'valid_loss': np.array([h['valid_loss'] for h in learnt.history])}


def summarise(saved: Mapping[str, np.ndarray]) -> dict:
  """metrics.test_report on test (Table 4) and the validation loss per epoch (Figure 5)."""
  return {**metrics.test_report(saved['labels'], saved['test_probs']), 'valid_loss': saved['valid_loss'].tolist()}


def f1_units(saved: Mapping[str, np.ndarray]) -> tuple[tuple[np.ndarray, np.ndarray], Callable]:
  """(test labels, predictions) and the F1 over them (metrics.f1_along_last_axis: the positive class's, or macro
  over more than two classes): what a paired bootstrap of an `evaluate` result's F1 resamples."""
  return ((saved['labels'], saved['test_probs'].argmax(-1)),
          functools.partial(metrics.f1_along_last_axis, num_classes=saved['test_probs'].shape[-1]))


def applies(explainer: str) -> bool:
  del explainer
  return True
