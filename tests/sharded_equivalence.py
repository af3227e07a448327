"""Run by tests/test_parallel.py in a fresh process with 8 CPU devices: sharded == one device.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 JAX_PLATFORMS=cpu python tests/sharded_equivalence.py [CACHE_DIR]
"""

import sys

import jax
import numpy as np

from faithjax import config
from faithjax import explain
from faithjax import parallel
from faithjax.data import encode
from faithjax.data.text import PAD_ID
from faithjax.faithfulness import deletion
from faithjax.models import classifier
from faithjax.models import contract

ROWS, WIDTH = 13, 8  # 13 rows: not a multiple of 8, so the PAD-row padding is exercised; one bucket width


def random_split(rng):
  lengths = np.concatenate([[0, 1, WIDTH], rng.integers(2, WIDTH + 1, ROWS - 3)])
  return encode.EncodedSplit.from_lists([rng.integers(2, 50, n) for n in lengths], np.zeros(ROWS, np.int32))


def main():
  if len(sys.argv) > 1:
    config.enable_compile_cache(sys.argv[1])
  assert len(jax.devices()) == 8, jax.devices()
  model = classifier.Classifier(vocab_size=50, emb_dim=16, hidden=8, att_hidden=8)
  params = contract.init(model, jax.random.key(0))
  split = random_split(np.random.default_rng(0))
  mesh = parallel.make_mesh()
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
  print('sharded == one device on', len(mesh.devices.flat), 'devices')


if __name__ == '__main__':
  main()
