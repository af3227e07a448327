"""The sign control and the map-property probe as library measurements (faithjax/meta/sign_control.py, probe.py,
render_controls.py): their contrasts against plain loops on random saved arrays, the committed reports rendered
again from their JSON, a transform's options, and both end to end on the smoke preset (slow)."""

import dataclasses
import glob
import os

import numpy as np
import pytest

from faithjax import config as config_lib
from faithjax import io
from faithjax import metrics
from faithjax import pipeline
from faithjax import workdir as workdir_lib
from faithjax.faithfulness import evaluations
from faithjax.meta import probe
from faithjax.meta import render_controls
from faithjax.meta import sign_control

SCORES = ('deletion_rate', 'shuffle_tvd')  # what fake_run saves
RESULTS = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'experiments', 'results')


def loop_bootstrap(a, b, rng, n_resamples=4000):
  """Mean difference a - b on resampled example indices, one resample at a time: [n_resamples]."""
  boot = []
  for _ in range(n_resamples):
    rows = rng.integers(0, len(a), len(a))
    boot.append(np.mean(a[rows]) - np.mean(b[rows]))
  return np.array(boot)


def loop_p(boot):
  """Twice the smaller share of resamples on one side of 0."""
  return min(1., 2 * min(np.mean(boot <= 0), np.mean(boot >= 0)))


def p_tolerance(p, n_fast=1000, n_loop=4000):
  """Four standard deviations of the difference of two bootstrap p estimates (twice a share) around p, and the
  +1 that keeps bootstrap_p_value above 0."""
  share = min(p, 2 - p) / 2
  return 4 * 2 * np.sqrt(share * (1 - share) * (1 / n_fast + 1 / n_loop)) + 2 / n_fast


def loop_benjamini_hochberg(p):
  """p_(i) * m / i, then the running minimum from the largest p down, in the input order."""
  order = sorted(range(len(p)), key=lambda i: p[i])
  adjusted, running = [0.] * len(p), 1.
  for rank in range(len(p), 0, -1):
    i = order[rank - 1]
    running = min(running, p[i] * len(p) / rank)
    adjusted[i] = running
  return adjusted


def test_bootstrap_p_value_matches_a_loop_bootstrap():
  rng = np.random.default_rng(11)
  a = rng.standard_normal(300)
  b = a - 0.08 + rng.standard_normal(300)  # a small effect: p near .2, not a trivial 0 or 1
  result = metrics.paired_difference(a, b)
  reference = loop_p(loop_bootstrap(a, b, np.random.default_rng(12)))
  assert 0.05 < reference < 0.6
  assert result['p'] == pytest.approx(reference, abs=p_tolerance(reference))
  assert metrics.paired_difference(a, a)['p'] == 1.  # identical maps: no evidence of a difference
  assert metrics.bootstrap_p_value(np.full(999, 0.3)) == pytest.approx(2 / 1000)  # every resample above 0


def fake_run(root, rng, names, n=120):
  """A Workdir holding random deletion rates and shuffle TVDs of `names`, and the evaluate summary of them."""
  out = workdir_lib.Workdir(str(root))
  summary = {'deletion': {}, 'shuffle': {}, 'test_subset': n}
  for name, shift in names.items():
    saved = {'deletion': {'rates': np.clip(rng.random(n) * 0.6 + shift, 0, 1)},
             'shuffle': {'median_tvd': np.clip(rng.random(n) * 0.4 + shift, 0, 1)}}
    for section, arrays in saved.items():
      io.save_npz(out.evaluation(section, name), **arrays)
      value = next(iter(arrays.values()))
      summary[section][name] = {'mean': float(value.mean()), 'ci95': None}
  return out, summary


def test_sign_contrasts_match_plain_loops(tmp_path):
  """Each measured row: the oriented mean difference, a CI and p like a loop bootstrap's (other draws), BH over the
  measured rows; |X| = X rows are 0 with no p; under L1 the weak learner's sections compare X with itself."""
  rng = np.random.default_rng(3)
  explainers = ('signed_a', 'signed_b', 'unsigned')
  maps = {'signed_a': 0., 'signed_a.abs': 0.1, 'signed_b': 0.05, 'signed_b.abs': 0.06, 'unsigned': 0.2}
  evaluated = {}
  for norm in ('l2', 'l1'):
    names = [*explainers, *(f'{n}.abs' for n in ('signed_a', 'signed_b') if norm == 'l2')]
    out, summary = fake_run(tmp_path / norm, rng, {n: maps[n] for n in names})
    if norm == 'l1':  # only the norm's sections, as evaluate_signs asks for them
      del summary['deletion']
    evaluated[norm] = (summary, names, out)
  rows = sign_control.contrasts(explainers, evaluated)
  assert [(r.label, r.explainer) for r in rows] == [
      (label, e) for label in ('deletion_rate', 'shuffle_tvd (l2)', 'shuffle_tvd (l1)') for e in explainers]
  measured = [r for r in rows if r.measured]
  assert [(r.label, r.explainer) for r in measured] == [
      (label, e) for label in ('deletion_rate', 'shuffle_tvd (l2)') for e in ('signed_a', 'signed_b')]
  check = np.random.default_rng(99)
  for row in measured:
    section = 'deletion' if row.score == 'deletion_rate' else 'shuffle'
    key = 'rates' if section == 'deletion' else 'median_tvd'
    out = evaluated[row.norm or 'l2'][2]
    signed, absolute = (io.load_npz(out.evaluation(section, n))[key] for n in (row.explainer, f'{row.explainer}.abs'))
    orientation = evaluations.SCORES[row.score].orientation
    assert row.difference == pytest.approx(orientation * (signed.mean() - absolute.mean()), abs=1e-12)
    assert (row.signed, row.absolute) == pytest.approx((signed.mean(), absolute.mean()))
    boot = orientation * loop_bootstrap(signed, absolute, check)
    np.testing.assert_allclose(row.ci95, np.quantile(boot, [0.025, 0.975]), atol=0.012)
    assert row.p == pytest.approx(loop_p(boot), abs=p_tolerance(loop_p(boot)))
    assert row.verdict == ('tie (BH p ≥ .05)' if row.p_bh >= 0.05 else
                           'rewards sign' if row.difference > 0 else 'rewards |·|')
  np.testing.assert_allclose([r.p_bh for r in measured], loop_benjamini_hochberg([r.p for r in measured]))
  for row in rows:
    if not row.measured:
      assert row.difference == 0 and row.ci95 == (0., 0.) and row.p is row.p_bh is None
      assert row.verdict == 'same input'
  assert {r.verdict for r in measured} >= {'rewards |·|'}  # signed_a's |X| is 0.1 worse by deletion: told apart


def test_the_pass_with_the_abs_maps_runs_every_evaluation_whatever_the_runs_norm(monkeypatch, tmp_path):
  """Under --norm=l1 deletion and ERASER still compare X with |X| (they ran in the L1 pass, which has no |X|)."""
  calls = []

  def evaluate_maps(config, corpus, model, params, out, names, maps_of, sections=None):
    del corpus, model, params, out, maps_of
    calls.append((config.norm, names, sections))
    return {'test_subset': 0}
  monkeypatch.setattr(pipeline, 'evaluate_maps', evaluate_maps)
  config = config_lib.make_config('synthetic', preset='smoke', norm='l1', explainers=('saliency', 'input_x_gradient'))
  sign_control.evaluate_signs(config, workdir_lib.Workdir(str(tmp_path)), None, None, None, ['input_x_gradient'])
  assert calls == [('l2', ['saliency', 'input_x_gradient', 'input_x_gradient.abs'], None),
                   ('l1', ['saliency', 'input_x_gradient'], sign_control.NORM_SECTIONS)]


def test_probe_contrasts_are_oriented_over_the_seeds_and_corrected_over_the_table(tmp_path):
  """The oriented difference is the mean over seeds of the per-example means; one seed's CI and p are a loop
  bootstrap's; with several seeds p < .05 exactly where the 95% CI excludes 0; BH over the whole table."""
  rng = np.random.default_rng(5)
  names = {n: rng.random() * 0.3 for c in probe.CONTRASTS for n in (c.a, c.b)}
  outs = [fake_run(tmp_path / f'seed{s}', rng, names)[0] for s in range(3)]
  rows = probe.contrasts(outs, SCORES)
  assert [(r.score, r.property) for r in rows] == [
      (score, c.property) for score in ('deletion_rate', 'shuffle_tvd') for c in probe.CONTRASTS]
  for row in rows:
    section, key = ('deletion', 'rates') if row.score == 'deletion_rate' else ('shuffle', 'median_tvd')
    orientation = evaluations.SCORES[row.score].orientation
    per_seed = [io.load_npz(out.evaluation(section, row.a))[key].mean()
                - io.load_npz(out.evaluation(section, row.b))[key].mean() for out in outs]
    assert row.difference == pytest.approx(orientation * np.mean(per_seed), abs=1e-12)
    assert row.examples == 3 * 120
    assert (row.p < 0.05) == (row.ci95[0] > 0 or row.ci95[1] < 0)
  np.testing.assert_allclose([r.p_bh for r in rows], loop_benjamini_hochberg([r.p for r in rows]))
  check = np.random.default_rng(98)
  for row in probe.contrasts(outs[:1], SCORES):
    section, key = ('deletion', 'rates') if row.score == 'deletion_rate' else ('shuffle', 'median_tvd')
    a, b = (io.load_npz(outs[0].evaluation(section, n))[key] for n in (row.a, row.b))
    boot = evaluations.SCORES[row.score].orientation * loop_bootstrap(a, b, check)
    np.testing.assert_allclose(row.ci95, np.quantile(boot, [0.025, 0.975]), atol=0.012)
    assert row.p == pytest.approx(loop_p(boot), abs=p_tolerance(loop_p(boot)))


def test_the_committed_reports_render_again_from_their_json():
  """Records measured before the correction (no p) load and render byte for byte as committed."""
  paths = glob.glob(os.path.join(RESULTS, 'sign_control_*.json'))
  assert len(paths) >= 5  # the five corpora's
  for path in paths:
    record = sign_control.load(io.read_json(path))
    with open(path.replace('.json', '.md'), encoding='utf-8') as f:
      assert render_controls.sign_control_markdown(record) == f.read(), path
  record = probe.load(io.read_json(os.path.join(RESULTS, 'probe_synthetic.json')))
  with open(os.path.join(RESULTS, 'probe_synthetic.md'), encoding='utf-8') as f:
    assert render_controls.probe_markdown(record, 'probe_synthetic') == f.read()


def test_a_record_goes_through_json_unchanged(tmp_path):
  contrast = sign_control.SignContrast('deletion_rate', None, 'saliency', .5, .4, -.1, (-.2, -.05), 10, True, .01,
                                       .02)
  record = sign_control.SignControl('synthetic', 'smoke', 0, 'w', ('--preset=smoke',), {'epochs': 2}, 10, 'now',
                                    {'device': {}}, (contrast,))
  io.write_json(tmp_path / 'r.json', dataclasses.asdict(record))
  assert sign_control.load(io.read_json(tmp_path / 'r.json')) == record
  assert contrast.verdict == 'rewards |·|'
  scored = probe.Probe('synthetic', 'smoke', (0, 1), 'runs', 'now', {}, (probe.Classifier(0, .9, .8),),
                       (probe.MapScore('deletion_rate', 'truth', (.1, .2)),),
                       (probe.ProbeContrast('deletion_rate', 'sign', 'truth', 'truth_flipped', .3, (.1, .5), 20,
                                            .001, .004),))
  io.write_json(tmp_path / 'p.json', dataclasses.asdict(scored))
  assert probe.load(io.read_json(tmp_path / 'p.json')) == scored


def test_a_map_transform_runs_with_its_base_options_under_non_default_flags():
  """Issue 33 item 4: 'integrated_gradients.abs' resolves IG's options as set on the command line
  (--explainer.integrated_gradients.*: make_config's overrides by flag name), not the function's defaults."""
  flags = {'explainer.integrated_gradients.steps': 7, 'explainer.integrated_gradients.quadrature': 'gauss_legendre',
           'explainer.integrated_gradients.tolerance': 0.05}
  config = config_lib.make_config('synthetic', preset='smoke', **flags)
  base = pipeline.explainer_options(config, 'integrated_gradients')
  assert {k: base[k] for k in ('steps', 'quadrature', 'tolerance')} == {
      'steps': 7, 'quadrature': 'gauss_legendre', 'tolerance': 0.05}
  defaults = dataclasses.asdict(config_lib.make_config('synthetic', preset='smoke').explainer_options(
      'integrated_gradients'))
  assert all(defaults[k.rsplit('.', 1)[1]] != v for k, v in flags.items())  # a test that could fail
  for transformed in ('integrated_gradients.abs', 'integrated_gradients.abs.l1'):
    assert pipeline.explainer_options(config, transformed) == base
    assert pipeline.run_options(config, None, transformed) == pipeline.run_options(config, None,
                                                                                   'integrated_gradients')


@pytest.mark.slow  # a smoke pipeline to its maps, then every evaluation of X and |X| under two norms
def test_the_sign_control_end_to_end_on_the_smoke_preset(tmp_path):
  config = config_lib.make_config('synthetic', preset='smoke', explainers=('saliency', 'input_x_gradient'))
  record = sign_control.sign_control(config, str(tmp_path / 'run'), 'smoke', ['--preset=smoke'])
  measured = [c for c in record.contrasts if c.measured]
  assert {c.explainer for c in measured} == {'input_x_gradient'}  # saliency has no negative value
  assert all(c.p_bh is not None for c in measured) and record.test_subset == 150
  io.write_json(tmp_path / 'sign_control.json', dataclasses.asdict(record))
  text = render_controls.sign_control_markdown(sign_control.load(io.read_json(tmp_path / 'sign_control.json')))
  assert 'p (BH)' in text and 'input_x_gradient' in text


@pytest.mark.slow  # two smoke classifiers, every evaluation of the 27 probe maps
def test_the_probe_end_to_end_on_two_smoke_seeds(tmp_path):
  record = probe.probe([0, 1], 'smoke', str(tmp_path))
  assert [c.seed for c in record.classifiers] == [0, 1] and all(len(s.means) == 2 for s in record.scores)
  sign = {c.score: c for c in record.contrasts if c.property.startswith('sign')}
  assert sign['deletion_rate'].difference > 0 and sign['deletion_rate'].p_bh < 0.05  # deletion reads the sign
  render_controls.probe_figure(record, 'deletion_rate', str(tmp_path / 'deletion.png'))
  assert 'p (BH)' in render_controls.probe_markdown(record, 'probe_synthetic')
