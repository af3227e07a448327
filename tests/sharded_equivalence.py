"""Run by tests/test_parallel.py in a fresh process with 8 CPU devices: every evaluation sharded == one device.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 JAX_PLATFORMS=cpu python tests/sharded_equivalence.py [CACHE_DIR]

Explainers, deletion, ERASER, the weak learner (training and prediction), the
shuffle test and classifier training, each on a mesh of 8 devices against the
same call without a mesh.
"""

import sys
import tempfile

import jax
import numpy as np

from faithjax import config
from faithjax import explain
from faithjax import parallel
from faithjax import train
from faithjax.data import encode
from faithjax.data import synthetic
from faithjax.data.text import PAD_ID
from faithjax.faithfulness import deletion
from faithjax.faithfulness import eraser as eraser_lib
from faithjax.faithfulness import shuffle
from faithjax.faithfulness import weak_learner
from faithjax.models import classifier
from faithjax.models import contract
from faithjax.models import weak_learner as weak_learner_model

ROWS, WIDTH = 13, 8  # 13 rows: not a multiple of 8, so the PAD-row padding is exercised; one bucket width
# Training sums gradients over the batch in another order on 8 devices: equal up to float32 rounding.
TRAINED = dict(rtol=1e-4, atol=1e-5)


def random_split(rng):
  lengths = np.concatenate([[0, 1, WIDTH], rng.integers(2, WIDTH + 1, ROWS - 3)])
  return encode.EncodedSplit.from_lists([rng.integers(2, 50, n) for n in lengths], np.zeros(ROWS, np.int32))


def check_explainers_and_deletion(mesh, model, params, split):
  ids = split.padded(np.arange(ROWS), WIDTH)
  for name, options in (('saliency', {}), ('integrated_gradients', {'steps': 4})):
    fn = explain.make_explainer(name, model, **options)
    one, many = fn(params, ids, ids != PAD_ID), parallel.sharded(mesh, fn)(params, ids, ids != PAD_ID)
    np.testing.assert_allclose(np.asarray(many), np.asarray(one), rtol=1e-5, atol=1e-7, err_msg=name)
    flat = explain.explain_split(fn, params, split, batch_size=16)
    flat_many = explain.explain_split(parallel.sharded(mesh, fn), params, split, batch_size=16)
    np.testing.assert_allclose(flat_many, flat, rtol=1e-5, atol=1e-7, err_msg=f'{name} explain_split')
    options = dict(pool=ROWS, slots=4, chunk=4)
    np.testing.assert_array_equal(deletion.deletion_rates(model, params, split, flat, mesh=mesh, **options),
                                  deletion.deletion_rates(model, params, split, flat, **options), err_msg=name)
    eraser = [eraser_lib.eraser_metrics(model, params, split, flat, batch_size=ROWS, mesh=m) for m in (mesh, None)]
    for key in eraser[1]:
      np.testing.assert_allclose(eraser[0][key], eraser[1][key], rtol=1e-5, atol=1e-6, err_msg=f'{name} {key}')


def check_training_and_weak_learner(mesh):
  """Classifier and weak learner trained, predicted and shuffle-tested with and without the mesh."""
  # One bucket width; 90 examples in batches of 12 end in a batch of 6, so the label padding is exercised.
  raw = synthetic.generate(seed=1, sizes={'train': 90, 'valid': 21, 'test': 27}, min_len=WIDTH // 2 + 1,
                           max_len=WIDTH)
  corpus = encode.encode_corpus('synthetic', raw)[0]
  test = corpus.splits['test']
  model = classifier.Classifier(vocab_size=len(corpus.vocab), emb_dim=16, hidden=8, att_hidden=8)
  weak_model = weak_learner_model.WeakLearner(vocab_size=len(corpus.vocab), emb_dim=8, hidden=6)
  train_config = config.RunConfig(epochs=2, batch_size=12, learning_rate=1e-2, seed=3)
  rng = np.random.default_rng(0)
  maps = {s: rng.standard_normal(len(d.ids)).astype(np.float32) for s, d in corpus.splits.items()}
  with tempfile.TemporaryDirectory() as root:
    runs = {}
    for label, m in (('mesh', mesh), ('one', None)):
      params, history = train.train_classifier(model, corpus, train_config, f'{root}/{label}/classifier', mesh=m)
      # 'random': the baseline's fresh N(0, 1) map at every training pass (its valid and test maps are `maps`)
      weak = {name: weak_learner.train_weak_learner(weak_model, corpus, maps, train_config,
                                                    f'{root}/{label}/weak_{name}', mesh=m,
                                                    fresh_map=name == 'random')
              for name in ('map', 'random')}
      runs[label] = params, history, weak
  (params, history, weak), (params_1, history_1, weak_1) = runs['mesh'], runs['one']
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, **TRAINED, err_msg='classifier'), params, params_1)
  np.testing.assert_allclose([h['train_loss'] for h in history], [h['train_loss'] for h in history_1], **TRAINED)
  np.testing.assert_allclose(train.predict_split(model, params_1, test, 16, mesh=mesh),
                             train.predict_split(model, params_1, test, 16), rtol=1e-5, atol=1e-6)
  for name in weak:
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, **TRAINED, err_msg=name), weak[name].params,
                 weak_1[name].params)
    np.testing.assert_allclose([h['valid_loss'] for h in weak[name].history],
                               [h['valid_loss'] for h in weak_1[name].history], **TRAINED, err_msg=name)
    assert weak[name].test['f1'] == weak_1[name].test['f1'], name
    # Prediction and the shuffle test on the same (one-device) weak learner: sharding alone.
    one_params, scores = weak_1[name].params, weak_1[name].maps['test']
    np.testing.assert_allclose(weak_learner.predict_split(weak_model, one_params, test, scores, batch_size=16,
                                                          mesh=mesh),
                               weak_learner.predict_split(weak_model, one_params, test, scores, batch_size=16),
                               rtol=1e-5, atol=1e-6, err_msg=name)
    run = lambda m: shuffle.shuffle_test(weak_model, one_params, test.subset(np.arange(3, 27)), scores[
        test.offsets[3]:], permutations=10, seed=5, rows=np.arange(3, 27), batch_size=16, mesh=m)['median_tvd']
    np.testing.assert_allclose(run(mesh), run(None), rtol=1e-5, atol=1e-6, err_msg=name)


def main():
  if len(sys.argv) > 1:
    config.enable_compile_cache(sys.argv[1])
  assert len(jax.devices()) == 8, jax.devices()
  mesh = parallel.make_mesh()
  model = classifier.Classifier(vocab_size=50, emb_dim=16, hidden=8, att_hidden=8)
  check_explainers_and_deletion(mesh, model, contract.init(model, jax.random.key(0)),
                                random_split(np.random.default_rng(0)))
  check_training_and_weak_learner(mesh)
  print('sharded == one device on', len(mesh.devices.flat), 'devices')


if __name__ == '__main__':
  main()
