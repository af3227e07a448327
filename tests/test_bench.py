"""The benchmark's plumbing (no timings are asserted)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from faithjax import bench
from faithjax import explain

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


TINY = ['--vocab', '30', '--emb', '8', '--hidden', '4', '--att_hidden', '4', '--repeats', '1']


def test_bench_deletion_counts_match_a_per_example_loop():
  from tests.test_faithfulness import deletion_loop  # the brute-force reference: one forward per k
  args = bench.parse_args(['--seq_len', '12', *TINY])
  model, params, ids = bench.setup(args, 9)
  scores = np.asarray(bench.random_ranking(*ids.shape))
  counts, _ = bench.deletion_counts(model, params, ids, scores, batch=4, chunk=3)
  expected = [deletion_loop(model, params, list(t), list(s), 12) for t, s in zip(ids, scores)]
  np.testing.assert_array_equal(counts, expected)
  assert 0 < np.mean(np.asarray(expected) < 12)  # some examples flip before the last token


def test_bench_deletion_line_has_the_peer_schema():
  args = bench.parse_args(['--seq_len', '8', '--batches', '2,4', '--eraser_n', '4', '--explainers',
                           'eraser_deletion', *TINY])
  [result] = bench.bench(args)
  assert PEER_SCHEMA <= set(result) and result['explainer'] == 'eraser_deletion' and result['n'] == 4
  assert result['examples_per_s'] == max(result['tried'].values()) and 1 <= result['mean_flip_k'] <= 8


def test_map_agreement():
  maps = np.random.default_rng(0).normal(size=(3, 20))
  same = bench.map_agreement(maps, maps)
  assert same == dict(spearman_median=1.0, relative_l2_median=0.0, top10_overlap_mean=1.0)
  reversed_ = bench.map_agreement(maps, -maps)
  assert reversed_['spearman_median'] == -1.0 and reversed_['relative_l2_median'] == 2.0
  assert reversed_['top10_overlap_mean'] == 0.0  # 20 tokens: the top 10 and the bottom 10 are disjoint


def test_float32_is_the_default_and_leaves_params_unchanged():
  args = bench.parse_args(['--seq_len', '8', *TINY])
  assert args.dtype == 'float32'
  _, params, _ = bench.setup(args, 2)
  cast = bench.cast(params, np.float32)
  assert all(a is b or (a.dtype == b.dtype and np.array_equal(a, b))
             for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(cast)))


@pytest.mark.parametrize('explainer', ['saliency', 'integrated_gradients'])
def test_bfloat16_maps_are_close_to_float32(explainer):
  # bf16 keeps 8 mantissa bits (relative precision ~4e-3); through a 32-step LSTM and its
  # backward the maps stay close, not equal: tolerances loose on purpose.
  args = bench.parse_args(['--seq_len', '32', '--steps', '16', *TINY])
  model, params, ids = bench.setup(args, 16)
  fn = explain.make_explainer(explainer, model, **bench.explainer_options(explainer, 16, args))
  bf16 = fn(bench.cast(params, jnp.bfloat16), ids, ids != 0)
  assert bf16.dtype == jnp.bfloat16  # the activations really are bf16
  agreement = bench.agreement(fn, params, ids, jnp.bfloat16, 16)
  assert agreement['spearman_median'] > 0.95 and agreement['relative_l2_median'] < 0.1
  assert agreement['top10_overlap_mean'] > 0.8


def test_memory_lines_scale_to_a_batch_estimate():
  args = bench.parse_args(['--memory', '--memory_batch', '4', '--seq_len', '16', '--steps', '4',
                           '--explainers', 'integrated_gradients,eraser_deletion', '--memory_budget', '1e6', *TINY])
  for line in bench.memory(args):
    assert line['peak_bytes'] > line['param_bytes'] > 0
    assert line['max_batch_in_budget_estimate'] == int((1e6 - line['param_bytes']) // line['bytes_per_example'])


def test_compare_puts_deletion_beside_the_loop_and_skips_bfloat16():
  line = lambda impl, explainer, eps, **extra: dict(impl=impl, explainer=explainer, examples_per_s=eps, batch=8,
                                                    seq_len=256, bidirectional=False, **extra)
  table = bench.compare([line('faithjax', 'eraser_deletion', 500., dtype='float32'),
                         line('faithjax', 'eraser_deletion', 900., dtype='bfloat16'),
                         line('torch_loop', 'eraser_deletion', 5.)])
  assert '| LSTM | 256 | eraser_deletion | 500.0 (b8) | - | - | 5.0 (b8) | - | - | 100.0x |' in table


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


def test_the_interleaved_peer_runs_its_extra_explainers_only_when_ours_do():
  extra = bench.parse_args(['--explainers', 'occlusion,saliency', '--nt_samples', '3', '--peer_surrogate_n', '2'])
  command = bench.peer_command(extra, seq_len=6, batch=4)
  assert '--extra' in command and command[command.index('--nt_samples') + 1] == '3'
  assert command[command.index('--surrogate_n') + 1] == '2'
  assert '--extra' not in bench.peer_command(bench.parse_args(['--explainers', 'saliency']), seq_len=6, batch=4)
  assert '--peer_surrogate_n 2' in bench.interleave_command(extra)
