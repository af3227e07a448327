"""--weak_train_subset, the named reduction for long corpora: only a sample of the training documents is explained,
and the weak learner (with the shuffle test on it) trains on exactly those; every reader pairs the maps with them."""

import json

import numpy as np
import pytest

from faithjax import config as config_lib
from faithjax import explain
from faithjax import io
from faithjax import pipeline
from faithjax import runs
from faithjax import streams
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.faithfulness import weak_learner
from tests import test_classes

SAMPLE = 40


def sampled_rows(config, n):
  return streams.sample_rows(n, config.weak_train_subset, streams.weak_train_rng(config.split_seed))


def test_the_sample_is_shared_by_seeds_drawn_from_the_split_seed_and_all_when_zero_or_too_big():
  config = lambda **kw: config_lib.make_config('sst', weak_train_subset=SAMPLE, **kw)
  rows = sampled_rows(config(), 300)
  assert len(rows) == SAMPLE == len(set(rows)) and np.all(np.diff(rows) > 0) and rows.max() < 300
  np.testing.assert_array_equal(sampled_rows(config(seed=3), 300), rows)  # every --seed explains the same documents
  assert not np.array_equal(sampled_rows(config(split_seed=1), 300), rows)
  np.testing.assert_array_equal(sampled_rows(config(), SAMPLE - 1), np.arange(SAMPLE - 1))
  np.testing.assert_array_equal(sampled_rows(config_lib.make_config('sst'), 300), np.arange(300))


@pytest.mark.slow  # a whole smoke-preset run on a small jsonl corpus: ~20 s quiet, ~37 s at load 3
def test_only_the_sampled_training_documents_are_explained_and_the_weak_learner_trains_on_them(tmp_path, monkeypatch):
  path = tmp_path / 'three.jsonl'
  path.write_text(''.join(json.dumps(r) + '\n' for r in test_classes.three_class_rows(n=150)))
  config = config_lib.make_config(f'jsonl:{path}', preset='smoke', epochs=1, weak_epochs=1, permutations=2,
                                  explainers=('saliency',), weak_train_subset=SAMPLE)
  trained_on = []
  train_weak_learner = weak_learner.train_weak_learner
  def spy(model, corpus, maps, *args, **kwargs):
    trained_on.append((corpus.splits['train'], maps['train']))
    return train_weak_learner(model, corpus, maps, *args, **kwargs)
  monkeypatch.setattr(weak_learner, 'train_weak_learner', spy)
  results = pipeline.run_pipeline(config, str(tmp_path / 'work'))

  work = workdir_lib.Workdir(str(tmp_path / 'work'))
  full = encode.EncodedCorpus.load(work.corpus)
  train = full.splits['train']
  sample = train.subset(sampled_rows(config, len(train)))
  assert len(train) > SAMPLE == len(sample)
  maps = io.load_npz(work.maps('saliency'))
  model, params = pipeline.load_classifier(config, work, full)
  fn = explain.make_explainer('saliency', model, **pipeline.explainer_options(config, 'saliency'))
  np.testing.assert_allclose(maps['train'], explain.explain_split(fn, params, sample, 64), rtol=1e-5, atol=1e-7)
  assert len(maps['test']) == len(full.splits['test'].ids)  # valid and test whole
  # one weak learner per map (saliency, uniform, random), each on the sampled documents and their maps
  assert len(trained_on) == 3
  for split, train_map in trained_on:
    np.testing.assert_array_equal(split.ids, sample.ids)
    assert len(train_map) == len(sample.ids)
  assert set(results['stages']['evaluate']['weak_learner']) == {'saliency', 'uniform', 'random'}
  # the meta-evaluation's reader pairs the stored maps with the same documents
  assert len(runs.Run(work.root).corpus.splits['train']) == SAMPLE
