"""The benchmark's plumbing (no timings are asserted)."""

import numpy as np

from faithjax import bench

PEER_SCHEMA = {'impl', 'explainer', 'examples_per_s', 'seconds', 'device', 'gpu', 'bidirectional', 'n',
               'seq_len', 'batch', 'steps'}


def test_bench_prints_the_peer_schema_at_the_best_batch():
  args = bench.parse_args(['--n', '5', '--seq_len', '8', '--batches', '2,4,8', '--vocab', '30', '--emb', '4',
                           '--hidden', '4', '--att_hidden', '4', '--explainers', 'uniform',
                           '--repeats', '1'])
  results = list(bench.bench(args))
  assert [r['explainer'] for r in results] == ['uniform']
  for r in results:
    assert PEER_SCHEMA <= set(r) and r['impl'] == 'faithjax'
    assert set(r['tried']) == {2, 4}  # 8 > n is not tried
    assert r['examples_per_s'] == max(r['tried'].values())


def test_as_batches_fills_the_last_batch_with_pad_rows():
  batches = bench.as_batches(np.ones((5, 3), np.int32), 2)
  assert [b.shape for b in batches] == [(2, 3)] * 3
  np.testing.assert_array_equal(batches[-1], [[1, 1, 1], [0, 0, 0]])


def test_step_chunk_fits_the_row_budget():
  assert bench.step_chunk_for(batch=64, steps=50, max_rows=1024) == 16
  assert bench.step_chunk_for(batch=4, steps=50, max_rows=1024) == 50
  assert bench.step_chunk_for(batch=4096, steps=50, max_rows=1024) == 1


def test_compare_takes_each_side_at_its_best_batch():
  line = lambda impl, eps, batch: dict(impl=impl, explainer='integrated_gradients', examples_per_s=eps,
                                       batch=batch, seq_len=32, bidirectional=False)
  table = bench.compare([line('faithjax', 100., 64), line('faithjax', 200., 128), line('captum', 50., 64),
                         line('captum', 40., 128), line('torch_batched', 25., 128),
                         dict(impl='captum', error='captum not installed')])
  assert ('| LSTM | 32 | integrated_gradients | 200.0 (b128) | 50.0 (b64) | 25.0 (b128) | - '
          '| 4.0x | 8.0x | - |') in table


def test_the_peers_extra_explainers_run_with_its_settings():
  args = bench.parse_args(['--n', '3', '--seq_len', '6', '--batches', '2', '--vocab', '30', '--emb', '4',
                           '--hidden', '4', '--att_hidden', '4', '--explainers', ','.join(bench.EXTRA),
                           '--repeats', '1', '--nt_samples', '3', '--surrogate_samples', '7'])
  assert bench.explainer_options('smoothgrad', 2, args)['samples'] == 3
  assert bench.explainer_options('occlusion', 2, args)['removal'] == 'zero'  # Captum's Occlusion baseline
  assert bench.explainer_options('lime', 2, args)['samples'] == 7
  results = list(bench.bench(args))
  assert [r['explainer'] for r in results] == list(bench.EXTRA)
  assert all(r['examples_per_s'] > 0 for r in results)
