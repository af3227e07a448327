"""Shared fixtures: a classifier trained for a few seconds on the synthetic corpus."""

import collections

import jax
import numpy as np
import optax
import pytest

from faithjax.data import encode
from faithjax.data import synthetic
from faithjax.models import classifier

TrainedModel = collections.namedtuple('TrainedModel', 'model params corpus test_accuracy')


def _train(model, params, split, epochs, batch_size, seed):
  """Adam on plain cross-entropy, every batch padded to the longest example (one program)."""
  ids = split.padded(np.arange(len(split)), int(split.lengths.max()))
  optimizer = optax.adam(1e-2)

  def loss(params, ids, labels):
    logits, _ = classifier.apply(model, params, ids)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

  @jax.jit
  def step(params, opt_state, ids, labels):
    grads = jax.grad(loss)(params, ids, labels)
    updates, opt_state = optimizer.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state

  opt_state = optimizer.init(params)
  rng = np.random.default_rng(seed)
  for _ in range(epochs):
    order = rng.permutation(len(split))
    for start in range(0, len(order) - batch_size + 1, batch_size):
      rows = order[start:start + batch_size]
      params, opt_state = step(params, opt_state, ids[rows], split.labels[rows])
  return params


@pytest.fixture(scope='session')
def trained_synthetic():
  """A small BiLSTM classifier fitted to the synthetic corpus (planted evidence known)."""
  raw = synthetic.generate(seed=0, sizes={'train': 1600, 'valid': 64, 'test': 128})
  corpus, _ = encode.encode_corpus('synthetic', raw)
  model = classifier.Classifier(vocab_size=len(corpus.vocab), emb_dim=32, hidden=16, att_hidden=16)
  params = _train(model, jax.jit(classifier.init, static_argnums=0)(model, jax.random.key(0)), corpus.splits['train'],
                  epochs=3, batch_size=64, seed=0)
  test = corpus.splits['test']
  ids = test.padded(np.arange(len(test)), int(test.lengths.max()))
  predicted = np.asarray(classifier.predict_proba(model, params, ids, ids != 0)).argmax(-1)
  return TrainedModel(model, params, corpus, float((predicted == test.labels).mean()))
