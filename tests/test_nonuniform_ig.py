"""IG's output-guided node placement (explain.output_guided_rule, quadrature='output_guided') against the rule's
definition and a float64 many-node Gauss-Legendre reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from faithjax import FaithjaxError
from faithjax import explain
from tests import test_explain
from tests.test_explain import x64  # pylint: disable=unused-import (a fixture)
from tests.test_adaptive_ig import case, relative_l1_errors  # pylint: disable=unused-import (a fixture)


def test_nodes_follow_the_change_of_f_and_each_segment_is_gauss_legendre(x64):
  """Across 4 segments f changes by 0, 6, 2, 0 (example 0) and not at all (example 1): of 12 nodes, each segment
  has one and the 8 others go 6 and 2 (example 0), 2 each (example 1); a segment with n nodes integrates
  polynomials of degree < 2n exactly."""
  values = jnp.array([[0., 0., 6., 8., 8.], [1., 1., 1., 1., 1.]]).T  # [segments + 1, batch]
  alphas, weights = map(np.asarray, explain.output_guided_rule(values, 12))
  segment = np.floor(alphas * 4).astype(int)
  assert [np.bincount(segment[:, b], minlength=4).tolist() for b in (0, 1)] == [[1, 7, 3, 1], [3, 3, 3, 3]]
  np.testing.assert_allclose(weights.sum(0), 1, rtol=1e-6)
  for b in (0, 1):
    for s, count in enumerate(np.bincount(segment[:, b], minlength=4)):
      inside = segment[:, b] == s
      for degree in range(2 * count):
        exact = ((s + 1) ** (degree + 1) - s ** (degree + 1)) / 4 ** (degree + 1) / (degree + 1)
        np.testing.assert_allclose(weights[inside, b] @ alphas[inside, b] ** degree, exact, rtol=1e-12)


def test_largest_remainders_give_every_node_once():
  """Shares 1/3 each of 10 - 3 = 7 spare nodes: 2 each and the one left to the first segment, ties by position."""
  values = jnp.array([[0., 1., 2., 3.]]).T
  alphas, _ = explain.output_guided_rule(values, 10)
  assert np.bincount(np.floor(np.asarray(alphas)[:, 0] * 3).astype(int)).tolist() == [4, 3, 3]


@pytest.fixture(scope='module')
def guided_errors(case):
  """Relative L1 error of the output-guided map against the reference, per node count (4 segments), float64."""
  model, params, ids, mask, reference, gap = case
  with jax.enable_x64(True):
    return {steps: relative_l1_errors(explain.make_explainer('integrated_gradients', model, steps=steps,
                                                             quadrature='output_guided')(params, ids, mask),
                                      reference, gap)
            for steps in (8, 16, 32)}


@pytest.mark.slow  # ~15 s of CPU: the 32-node reference of every document and a float64 program per count
def test_matches_the_float64_reference_and_the_error_falls_with_the_nodes(guided_errors):
  """Measured: worst 1.2, 1.6e-2, 3.2e-4 at 8, 16, 32 nodes (Gauss-Legendre: 1e-11 at 32, the reference's own)."""
  worst = [guided_errors[steps].max() for steps in (8, 16, 32)]
  assert worst[0] > 0.1 and worst[0] > 10 * worst[1] > 100 * worst[2], worst  # a path that needs the nodes
  assert worst[2] < 1e-3, worst


@pytest.mark.parametrize('options, message', [
    (dict(steps=3), 'a node per guide segment'),
    (dict(steps=8, guide_segments=0), 'guide_segments must be in'),
    (dict(steps=8, quadrature='output_guide'), 'quadrature must be one of'),
])
def test_bad_output_guided_options_are_refused(options, message):
  with pytest.raises(FaithjaxError, match=message):
    explain.make_explainer('integrated_gradients', test_explain.tiny_model('lstm')[0], **{'quadrature': 'output_guided', **options})
