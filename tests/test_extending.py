"""A model, an explainer and an evaluation added from outside the package run through every stage.

docs/extending.md's example, as a test: nothing in faithjax is edited; each is one function and one
plugins.register line.
"""

import dataclasses
import json
import os
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import conftest

from faithjax import config as config_lib
from faithjax import metrics
from faithjax import models
from faithjax import pipeline
from faithjax import plugins
from faithjax import study
from faithjax.data import corpora
from faithjax.faithfulness import evaluations
from faithjax.models import contract


class BagOfEmbeddings(nn.Module):
  """Mean of the token embeddings -> dense: no attention, no projection fast path."""
  vocab_size: int
  num_classes: int = 2
  emb_dim: int = 16

  def setup(self):
    self.embedding = nn.Embed(self.vocab_size, self.emb_dim)
    self.output = nn.Dense(self.num_classes)

  def embed(self, ids):
    return self.embedding(ids) * (ids != 0)[..., None]

  def logits_from_embeddings(self, emb, mask, detach_attention=False):
    del detach_attention  # no attention to detach
    mean = (emb * mask[..., None]).sum(1) / jnp.maximum(mask.sum(-1, keepdims=True), 1)
    return self.output(mean), None

  def __call__(self, ids, mask=None):
    return self.logits_from_embeddings(self.embed(ids), ids != 0 if mask is None else mask)


def embedding_norm(model, params, ids, mask, key=None, *, power=1.0):
  """The L2 norm of each token's embedding, to the `power`: [batch, seq]."""
  return jnp.linalg.norm(contract.embed(model, params, ids), axis=-1) ** power * mask


def peak_share(context, explainer, maps):
  """Per test example: the largest |score| over the sum of |scores| (a toy concentration measure)."""
  test = context.corpus.splits['test']
  scores = np.abs(maps['test'])
  sums = np.add.reduceat(scores, test.offsets[:-1])
  peaks = np.maximum.reduceat(scores, test.offsets[:-1])
  return {'peak': np.where(sums > 0, peaks / np.maximum(sums, 1e-30), 0.)}


@pytest.fixture
def registered():
  """A model, an explainer and an evaluation registered as a user's would be, for this test only."""
  before = [(table, dict(table)) for table in (plugins.MODELS, plugins.EXPLAINERS, plugins.EVALUATIONS)]
  plugins.register(plugins.Model('bag', lambda config, vocab_size, num_classes: BagOfEmbeddings(
      vocab_size, num_classes, emb_dim=config.emb_dim)))
  plugins.register(plugins.Explainer('embedding_norm', embedding_norm))
  plugins.register(plugins.Evaluation('peak', peak_share, lambda saved: metrics.mean_with_ci(saved['peak']),
                                      scores={'peak_share': evaluations.Score('peak share', 1., 'peak',
                                                                              per_example='peak')}))
  yield
  for table, records in before:
    table.clear()
    table.update(records)


def test_a_model_explainer_and_evaluation_from_outside_run_through_every_stage(registered, tmp_path, capsys):
  config = config_lib.make_config('synthetic', preset='smoke', model='bag',
                                  explainers=('saliency', 'embedding_norm'),
                                  **{'explainer.embedding_norm.power': 2.0})
  assert config.fingerprint()['explainer'] == {'embedding_norm': {'power': 2.0}}
  assert isinstance(models.build(config, 10, 2), contract.TextClassifier)
  results = pipeline.run_pipeline(config, str(tmp_path))

  evaluated = results['stages']['evaluate']
  assert set(evaluated['peak']) == {'saliency', 'embedding_norm', 'uniform', 'random'}
  # uniform spreads its weight evenly, so its peak share is 1/n: the smallest of all maps
  assert evaluated['peak']['uniform']['mean'] == min(v['mean'] for v in evaluated['peak'].values())
  assert set(evaluated['deletion']) == {'saliency', 'embedding_norm', 'random'}
  assert results['stages']['train']['test']['accuracy'] > 0.5
  assert study.our_scores(results, 'peak_share', names=config.explainers).keys() == {'saliency', 'embedding_norm'}
  assert '| peak share |' in (tmp_path / 'report.md').read_text()  # the report's evaluation table has its column
  # each weak learner's epoch lines name the map it learns from; each stage says where its time went
  stderr = capsys.readouterr().err
  assert 'evaluate / embedding_norm / weak learner epoch 1: train_loss=' in stderr
  assert re.search(r'stage train: done in [\d.]+ s: compiling [\d.]+ s \(\d+ programs?', stderr)
  train_time = json.loads((tmp_path / 'stages' / 'train.time.json').read_text())
  assert train_time['programs'] > 0 and 0 < train_time['compile_s'] <= train_time['wall_s']
  assert '## Time' in (tmp_path / 'report.md').read_text() and 'time' not in json.dumps(results['stages']['train'])


def extending_example(marker: str) -> str:
  """The code block of docs/extending.md that contains `marker` (e.g. "plugins.Model('attention_nnx'")."""
  page = open(os.path.join(conftest.REPO, 'docs', 'extending.md'), encoding='utf-8').read()
  (block,) = [b for b in re.findall(r'```python\n(.*?)```', page, re.S) if marker in b]
  return block


def test_every_example_of_the_extending_page_registers_a_working_plug_in():
  """docs/extending.md's code blocks, executed: each registers a record that works (so the page cannot rot)."""
  page = open(os.path.join(conftest.REPO, 'docs', 'extending.md'), encoding='utf-8').read()
  before = [(table, dict(table)) for table in (plugins.MODELS, plugins.EXPLAINERS, plugins.EVALUATIONS,
                                               plugins.CORPORA)]
  try:
    for block in re.findall(r'```python\n(.*?)```', page, re.S):
      exec(compile(block, 'docs/extending.md', 'exec'), {})  # pylint: disable=exec-used
    config = config_lib.make_config('reviews', model='bag', explainers=('grad_norm.abs',),
                                    **{'explainer.grad_norm.power': 2.0})
    assert config.fingerprint()['explainer'] == {'grad_norm': {'power': 2.0}}
    assert set(evaluations.SCORES) >= {'peak_share', 'deletion_rate'}
    raw = corpora.load_raw('reviews')
    assert [len(raw[s][0]) for s in ('train', 'valid', 'test')] == [100, 20, 20]
    model = models.build(config, 10, 3)
    assert isinstance(model, contract.TextClassifier) and model.num_classes == 3
    ids = jnp.array([[3, 4, 5, 0], [6, 0, 0, 0]])
    for name, kind in (('attention_nnx', contract.Nnx), ('bag_functions', contract.Functions)):
      model = models.build(dataclasses.replace(config, model=name), 10, 3)
      params = contract.init(model, jax.random.key(0))
      assert isinstance(model, kind) and model.num_classes == 3
      assert contract.predict_proba(model, params, ids, ids != 0).shape == (2, 3)
      assert contract.embed(model, params, ids)[1, 1:].sum() == 0  # PAD embeds to 0
    assert contract.apply(model, params, ids)[1] is None  # the plain functions return no attention
  finally:
    for table, records in before:
      table.clear()
      table.update(records)
