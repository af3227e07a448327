"""experiments/quadrature.py and the matched-accuracy options of the benchmark: IG's cost at a completeness target."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from faithjax import FaithjaxError
from faithjax import bench
from faithjax import config as config_lib
from faithjax import explain
from faithjax.data import encode
from faithjax.data.text import PAD_ID
from faithjax.models import contract
from tests.conftest import REPO
from tests.conftest import tiny_classifier

from experiments import quadrature

VOCAB = 30


@pytest.fixture(scope='module')
def tiny():
  """(model, params, split): a tiny random BiLSTM, its weights scaled up so that the path is far from linear."""
  rng = np.random.default_rng(0)
  split = encode.EncodedSplit.from_lists([rng.integers(1, VOCAB, rng.integers(3, 13)) for _ in range(12)],
                                         rng.integers(0, 2, 12))
  model = tiny_classifier('bilstm', VOCAB)
  params = jax.tree.map(lambda x: 3 * x, contract.init(model, jax.random.key(0)))
  return model, params, split


CONFIG = config_lib.RunConfig(eval_batch_size=8, target='logit')


@pytest.mark.parametrize('rule', explain.QUADRATURES)
def test_the_error_falls_with_the_steps_and_is_completeness_error_computed_directly(tiny, rule):
  model, params, split = tiny
  errors = {steps: quadrature.relative_errors(model, params, split, CONFIG, rule, steps) for steps in (2, 4, 16)}
  p90 = [np.quantile(errors[s], 0.9) for s in (2, 4, 16)]
  assert p90[0] > p90[1] > p90[2] and p90[0] > 1e-3, p90  # a path far enough from linear to need steps
  # The same error from one unbucketed batch: IG from the explainer, then explain.completeness_error.
  ids = split.padded(np.arange(len(split)), int(split.lengths.max()))
  mask = ids != PAD_ID
  ig = explain.make_explainer('integrated_gradients', model, target='logit', steps=4, quadrature=rule)
  direct = explain.completeness_error(model, params, ids, mask, ig(params, ids, mask), 'logit')[1]
  np.testing.assert_allclose(errors[4], direct, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize('rule', explain.QUADRATURES)
def test_faithjax_nodes_and_weights_are_captums(rule):
  """So that a step count measured with faithjax's rule is the one Captum needs with the same rule."""
  pytest.importorskip('captum')
  from captum.attr._utils.approximation_methods import approximation_parameters  # pylint: disable=g-import-not-at-top
  method = bench.CAPTUM_METHODS[rule]
  step_sizes, alphas = approximation_parameters(method)
  for steps in (2, 3, 8, 25):
    nodes, weights = explain.quadrature_rule(rule, steps)
    # Captum builds some in float32; faithjax casts its float64 rule to the inputs' float32 too.
    np.testing.assert_allclose(nodes, alphas(steps), rtol=0, atol=1e-7)
    # riemann_trapezoid: 1/n weights halved at the ends, summing to (n - 1)/n (the others sum to 1).
    scale = bench.captum_weight_sum(method, steps)
    np.testing.assert_allclose(scale * weights, step_sizes(steps), rtol=0, atol=1e-7)
    np.testing.assert_allclose(sum(step_sizes(steps)), (steps - 1) / steps if rule == 'trapezoid' else 1, atol=1e-6)


def test_captums_trapezoid_is_measured_as_faithjax_trapezoid_with_captums_weights(tiny):
  model, params, split = tiny
  ours = quadrature.rule_errors(model, params, split, CONFIG, 'trapezoid', 256)
  captums = quadrature.rule_errors(model, params, split, CONFIG, quadrature.CAPTUM_TRAPEZOID, 256)
  assert np.quantile(ours, 0.9) < 1e-3 < np.quantile(captums, 0.9)  # ~1/256 for Captum's, whatever the model
  np.testing.assert_allclose(np.median(captums), 1 / 256, rtol=0.3)


def fake_errors(calls):
  """errors_at whose p90 is 1/steps^2 (midpoint), 1/steps (trapezoid), 5e-3 at every count (gauss_legendre)."""
  def errors_at(rule, steps):
    calls.append((rule, steps))
    level = {'midpoint': steps ** -2., 'trapezoid': 1. / steps, 'gauss_legendre': 5e-3}[rule]
    return np.full(10, level)
  return errors_at


def test_each_rule_stops_at_its_first_count_reaching_the_target():
  calls = []
  points = quadrature.sweep(fake_errors(calls), explain.QUADRATURES, [1, 4, 16, 64], target=1e-3, refine=False)
  assert calls == [('midpoint', 1), ('midpoint', 4), ('midpoint', 16), ('midpoint', 64),
                   ('trapezoid', 4), ('trapezoid', 16), ('trapezoid', 64),  # one node is no trapezoid
                   ('gauss_legendre', 1), ('gauss_legendre', 4), ('gauss_legendre', 16)]  # flat twice: a floor
  verdict = quadrature.verdicts(points, explain.QUADRATURES, 1e-3)
  assert verdict['midpoint'] == {'steps': 64, 'p90': 64 ** -2., 'median': 64 ** -2.}
  assert verdict['trapezoid'] == {'steps': None, 'best_p90': 1 / 64, 'floor': False}  # still falling
  assert verdict['gauss_legendre'] == {'steps': None, 'best_p90': 5e-3, 'floor': True}  # flat: a floor
  assert quadrature.recommended(verdict) == 'midpoint'


def test_a_floor_is_a_flat_error_not_the_slow_start_of_a_large_one():
  assert not quadrature.stalled([0.985, 0.869, 0.645])  # 20 News' first doublings
  assert quadrature.stalled([5e-3, 4.5e-3, 4.4e-3]) and not quadrature.stalled([4e-3, 2e-3, 1e-3])
  assert quadrature.stalled([0.645, 0.552, 0.402, 0.418, 0.41])  # 20 News' tail under Gauss-Legendre


def test_each_finished_rule_is_handed_over_with_the_points_so_far():
  seen = []
  quadrature.sweep(fake_errors([]), ['midpoint', 'trapezoid'], [2, 64], 1e-3, refine=False,
                   after_rule=lambda points: seen.append([(p.quadrature, p.steps) for p in points]))
  assert seen == [[('midpoint', 2), ('midpoint', 64)], [('midpoint', 2), ('midpoint', 64), ('trapezoid', 2),
                                                        ('trapezoid', 64)]]


def test_refining_bisects_to_the_fewest_steps_reaching_the_target():
  calls = []
  points = quadrature.sweep(fake_errors(calls), ['midpoint'], [1, 4, 16, 64], target=1e-3)
  assert quadrature.cheapest(points, 'midpoint', 1e-3).steps == 32  # the fewest n with n^-2 <= 1e-3
  assert len(calls) == 4 + 5  # log2(64 - 16) bisections after the grid


def test_the_cheapest_rule_is_the_one_with_fewest_steps():
  verdict = {'midpoint': {'steps': 32}, 'trapezoid': {'steps': None}, 'gauss_legendre': {'steps': 8}}
  assert quadrature.recommended(verdict) == 'gauss_legendre'
  assert quadrature.recommended({'midpoint': {'steps': None}}) is None


def test_an_untrained_workdir_is_one_line_and_exit_2(tmp_path):
  (tmp_path / 'config.json').write_text('{}')
  with pytest.raises(FaithjaxError, match='no trained classifier'):
    quadrature.load_trained(str(tmp_path))
  result = subprocess.run([sys.executable, '-m', 'experiments.quadrature', f'--runs={tmp_path}',
                           f'--out={tmp_path}/out'], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert result.returncode == 2 and result.stderr.startswith('faithjax: error:'), result.stderr[-2000:]
  assert result.stderr.count('\n') == 1 and 'stages/train.json' in result.stderr
  assert not (tmp_path / 'out').exists()


TINY = ['--n', '3', '--seq_len', '6', '--batches', '4', '--vocab', str(VOCAB), '--emb', '4', '--hidden', '4',
        '--att_hidden', '4', '--repeats', '1', '--explainers', 'integrated_gradients', '--steps', '5']


def test_bench_runs_ig_with_the_quadrature_it_is_given():
  args = bench.parse_args([*TINY, '--quadrature', 'gauss_legendre'])
  options = bench.explainer_options('integrated_gradients', 4, args)
  assert options['quadrature'] == 'gauss_legendre' and options['steps'] == 5
  [line] = bench.bench(args)
  assert line['quadrature'] == 'gauss_legendre' and line['steps'] == 5 and line['examples_per_s'] > 0
  assert bench.parse_args(TINY).quadrature == 'midpoint'  # the default is unchanged


def test_the_peer_gets_its_own_steps_and_method():
  args = bench.parse_args([*TINY, '--peer_steps', '7', '--peer_ig_method', 'riemann_trapezoid'])
  command = bench.peer_command(args, seq_len=6, batch=4)
  assert command[1:6] == [bench.PEER_METHOD, '--method', 'riemann_trapezoid', '--peer', bench.PEER]
  assert command[command.index('--steps') + 1] == '7'
  plain = bench.peer_command(bench.parse_args(TINY), seq_len=6, batch=4)
  assert plain[1] == bench.PEER and plain[plain.index('--steps') + 1] == '5'
  lines = [dict(impl='captum', explainer='integrated_gradients'), dict(impl='captum', explainer='saliency')]
  assert [r.get('method') for r in bench.tag_peer_ig(lines, args)] == ['riemann_trapezoid', None]
  assert bench.tag_peer_ig(lines, bench.parse_args(TINY))[0]['method'] == 'gausslegendre'
  assert '--peer_steps 7 --peer_ig_method riemann_trapezoid' in bench.interleave_command(args)


PROBE = """
import sys, torch
from captum.attr import IntegratedGradients
x = torch.tensor([[float(sys.argv[sys.argv.index('--x') + 1])]])
print(IntegratedGradients(lambda v: (v ** 3).sum(-1)).attribute(x, n_steps=3).item())
"""


def test_peer_method_replaces_captums_default_rule(tmp_path):
  """IG of x^3 at x = 2 with 3 nodes: 8 exactly for Gauss-Legendre; Captum's trapezoid: 2 * (1/3 * 3 + 1/6 * 12)."""
  pytest.importorskip('captum')
  probe = tmp_path / 'probe.py'
  probe.write_text(PROBE)
  run = lambda *method: float(subprocess.run([sys.executable, *method, '--x', '2'], capture_output=True,
                                             text=True, check=True, timeout=300).stdout)
  assert run(str(probe)) == pytest.approx(8, abs=1e-4)
  assert run(bench.PEER_METHOD, '--method', 'riemann_trapezoid', '--peer', str(probe)) == pytest.approx(6, abs=1e-4)


def test_a_run_at_a_tolerance_is_still_measured_at_the_fixed_rule(tiny):
  """A workdir of a preset (IG at tolerance 1e-3) measures fixed rules, not its adaptive rule at every count."""
  model, params, split = tiny
  at_tolerance = config_lib.RunConfig(eval_batch_size=8, target='logit', explainer=config_lib.explainer_sections(
      {'integrated_gradients': {'tolerance': 1e-3}}))
  fixed = quadrature.relative_errors(model, params, split, CONFIG, 'gauss_legendre', 2)
  np.testing.assert_array_equal(quadrature.relative_errors(model, params, split, at_tolerance, 'gauss_legendre', 2),
                                fixed)
  assert np.quantile(fixed, 0.9) > 1e-3  # two nodes miss what the adaptive rule would have met
