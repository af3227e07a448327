"""experiments/bench_flops.py's analytic FLOP counts against XLA's own cost analysis of faithjax's programs."""

import jax
import pytest

from experiments import bench_flops
from faithjax import bench
from faithjax import explain  # pylint: disable=unused-import (registers the built-in explainers)
from faithjax import plugins
from faithjax.data.text import PAD_ID
from faithjax.models import classifier

# Wide enough that the matmuls are nearly all of the work (the counts leave elementwise work out).
SHAPE = bench_flops.Shape(seq=8, emb=512, hidden=256, directions=2, att_hidden=256, steps=5)


@pytest.mark.parametrize('name', ['saliency', 'input_x_gradient', 'integrated_gradients'])
def test_faithjax_counts_are_xlas_matmul_flops(name, monkeypatch):
  # XLA counts a loop body once, whatever its trip count: unroll the LSTM and put every IG step in one chunk.
  monkeypatch.setattr(classifier, 'SCAN_UNROLL', SHAPE.seq)
  args = bench.parse_args(['--seq_len', str(SHAPE.seq), '--emb', str(SHAPE.emb), '--hidden', str(SHAPE.hidden),
                           '--att_hidden', str(SHAPE.att_hidden), '--vocab', '50', '--bidirectional'])
  batch = 4
  model, params, ids = bench.setup(args, batch)
  options = {'steps': SHAPE.steps, 'step_chunk': SHAPE.steps} if name == 'integrated_gradients' else {}
  fn = jax.jit(lambda p, i, m: plugins.EXPLAINERS[name].fn(model, p, i, m, **options))
  cost = fn.lower(params, ids, ids != PAD_ID).compile().cost_analysis()
  xla = (cost[0] if isinstance(cost, list) else cost)['flops'] / batch
  analytic = bench_flops.flops(name, 'faithjax', SHAPE)
  assert analytic <= xla <= 1.1 * analytic  # XLA adds the elementwise work


def test_the_peer_differentiates_through_the_projection_that_faithjax_skips():
  p = SHAPE.passes()
  assert bench_flops.flops('saliency', 'captum', SHAPE) == bench_flops.flops('saliency', 'faithjax', SHAPE)
  skipped = bench_flops.flops('input_x_gradient', 'captum', SHAPE) - bench_flops.flops('input_x_gradient', 'faithjax',
                                                                                       SHAPE)
  assert skipped == p['projection_b']
  ig_skipped = bench_flops.flops('integrated_gradients', 'captum', SHAPE) - bench_flops.flops(
      'integrated_gradients', 'faithjax', SHAPE)
  assert ig_skipped == SHAPE.steps * (p['projection_f'] + p['projection_b'])
