"""The meta-evaluation (faithjax/meta): a small synthetic case end to end, references for its statistics, and the
command on two smoke runs with a user's explainer (slow)."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import types

import jax
import numpy as np
import pytest
from scipy import stats

from faithjax import FaithjaxError
from faithjax import concordance
from faithjax import config as config_lib
from faithjax import explain
from faithjax import io
from faithjax import meta as meta_lib
from faithjax import metrics
from faithjax import pipeline
from faithjax import runs
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.faithfulness import agreement
from faithjax.faithfulness import evaluations
from faithjax.faithfulness import naopc
from faithjax.meta import measure
from faithjax.meta import parts
from faithjax.meta import render
from faithjax.models import contract
from tests import conftest
from tests import test_metrics

EXPLAINERS = ('saliency',)
SECTIONS = ('eraser',)  # its probes run in one forward per length bucket: the fewest programs to compile


class TinyRun(runs.Run):
  """An evaluated workdir whose classifier is the session's trained_synthetic one (no checkpoint written)."""

  def __init__(self, root, trained):
    super().__init__(root)
    self.trained = trained

  def classifier(self):
    return self.trained.model, self.trained.params


def evaluated_workdir(root, trained, seed):
  """A workdir with the trained classifier's maps and their ERASER evaluations (baselines included) on 8 test
  examples, as the evaluate stage leaves them; the maps are computed on those examples only (0 elsewhere)."""
  config = config_lib.make_config('synthetic', preset='smoke', explainers=EXPLAINERS, test_subset=8, seed=seed)
  work = workdir_lib.prepare_workdir(str(root), config)
  trained.corpus.save(work.corpus)
  test = trained.corpus.splits['test']
  subset = pipeline.test_subset(config, test)
  on_subset = np.isin(np.repeat(np.arange(len(test)), test.lengths), subset)  # flat: tokens of the examples
  for name in EXPLAINERS:
    fn = explain.make_explainer(name, trained.model, **pipeline.explainer_options(config, name))
    flat = np.zeros(len(test.ids), np.float32)
    flat[on_subset] = explain.explain_split(fn, trained.params, test.subset(subset), 64)
    io.save_npz(work.maps(name), test=flat)
  rng = np.random.default_rng(seed)
  baselines = {'random': {'test': rng.normal(size=len(test.ids)).astype(np.float32)},
               'uniform': {'test': np.ones(len(test.ids), np.float32)}}
  maps_of = lambda name: baselines.get(name) or io.load_npz(work.maps(name))
  pipeline.evaluate_maps(config, trained.corpus, trained.model, trained.params, work,
                         [*EXPLAINERS, *baselines], maps_of, sections=SECTIONS)
  return TinyRun(root, trained)


@pytest.fixture(scope='module')
def tiny_runs(trained_synthetic, tmp_path_factory):
  root = tmp_path_factory.mktemp('meta')
  return [evaluated_workdir(root / f'seed{seed}', trained_synthetic, seed) for seed in (0, 1)]


META_OPTIONS = dict(depth=1, naopc_bounds=False)  # the small case's


@pytest.fixture(scope='module')
def meta_out(tmp_path_factory):
  return str(tmp_path_factory.mktemp('copies'))


@pytest.fixture(scope='module')
def meta(tiny_runs, meta_out):
  return measure.meta_evaluate(tiny_runs, meta_out, n_resamples=200, **META_OPTIONS)


def test_the_small_synthetic_case_fills_every_table(meta, tmp_path):
  scores = {'eraser_comprehensiveness', 'eraser_sufficiency'}
  degradations = {'permuted', 'noise_0.25', 'noise_1', 'noise_4', 'sign_flipped', 'randomised_1'}
  assert {(d.score, d.degradation) for d in meta.diagnoses} == {(s, g) for s in scores for g in degradations}
  assert all(0 <= d.share <= 1 and d.ci95[0] <= d.share <= d.ci95[1] and d.p <= d.p_holm for d in meta.diagnoses)
  assert all(d.pairs == 2 * len(EXPLAINERS) * d.examples for d in meta.diagnoses)  # 2 runs x explainers x examples
  assert {c.evaluation for c in meta.costs} == set(SECTIONS)
  assert all(c.seconds_per_example > 0 and c.forward_equivalents > 0 for c in meta.costs)
  assert meta.design == 'crossed' and meta.seeds == (0, 1)
  assert meta.settings == (measure.RunSetting(0, None), measure.RunSetting(1, None))  # no results.json
  assert {p.score for p in meta.pairs} == scores
  assert {(a.statistic, a.baselines) for a in meta.agreements} == {
      (s, b) for s in ('kendall_tau', 'spearman_rho') for b in (True, False)}
  assert 0 <= meta.concordance.w <= 1
  assert measure.RANDOM in {e.explainer for e in meta.per_example}
  assert all(c.ci95[0] <= c.value <= c.ci95[1] and c.p <= c.p_bh for e in meta.per_example
             for c in (e.rho, e.partial_rho) if np.isfinite(c.value))
  verdicts = measure.verdicts(meta)
  assert {v.score for v in verdicts} == scores and all(v.pairs > 0 for v in verdicts)
  page = render.markdown(meta)
  assert page.index('| evaluation | verdict |') < page.index('## Diagnosticity')
  assert 'Holm' in page and 'Benjamini–Hochberg' in page
  meta_lib.write(meta, str(tmp_path), 'python -m faithjax.meta --runs=a,b --out=x')
  assert os.path.getsize(tmp_path / 'meta.png') > 0
  opening = (tmp_path / 'meta.md').read_text().splitlines()[2]
  assert opening.startswith('Command: `python -m faithjax.meta --runs=a,b --out=x`; measured ') and 'jax ' in opening
  record = json.loads((tmp_path / 'meta.json').read_text())
  assert record['command'] == 'python -m faithjax.meta --runs=a,b --out=x' and record['provenance']['versions']


def test_each_runs_command_and_completeness_are_read_from_its_results_and_named_on_the_page(tiny_runs, tmp_path):
  recorded = shutil.copytree(tiny_runs[0].work.root, tmp_path / 'recorded')
  ig = {'per_document': {'completeness_relative_error': {'p90': 0.002, 'max': 0.5}, 'at_cap': {'share': 0.01}}}
  io.write_json(str(recorded / 'results.json'), {
      'provenance': {'command': 'run.py --seed=0 --explainer.lime.samples=50'},
      'stages': {'explain': {'quality': {'integrated_gradients': ig, 'saliency': {'seed_stability': {}}}}}})
  settings = (measure.run_setting(runs.Run(str(recorded))), measure.run_setting(tiny_runs[1]))
  assert settings == (measure.RunSetting(0, 'run.py --seed=0 --explainer.lime.samples=50',
                                         (('integrated_gradients', 0.002, 0.01),)),
                      measure.RunSetting(1, None, ()))
  rows = render.runs_table(settings)[-3:-1]
  assert rows == ['| 0 | `run.py --seed=0 --explainer.lime.samples=50` | integrated_gradients 2.0e-03 (1%) |',
                  '| 1 | not recorded | – |']


def test_an_evaluation_that_trains_on_the_maps_is_refused_with_one_line(tiny_runs, tmp_path):
  with pytest.raises(FaithjaxError, match='weak_learner train a model'):
    measure.meta_evaluate(tiny_runs, str(tmp_path), sections=['weak_learner'])


def test_degraded_splits_degrade_every_splits_map_within_each_document():
  rng = np.random.default_rng(4)
  lengths = {'train': [3, 5], 'valid': [5, 4], 'test': [1, 5]}  # one shape [2, 5]: one compile of each degradation
  splits = {name: encode.EncodedSplit.from_lists([rng.integers(2, 9, n) for n in ns], np.zeros(len(ns), np.int32))
            for name, ns in lengths.items()}
  corpus = encode.EncodedCorpus('synthetic', ['<pad>', '<unk>', *'abcdefg'], splits, 2)
  maps = {name: rng.normal(size=sum(ns)).astype(np.float32) for name, ns in lengths.items()}
  copies = measure.degraded_splits(corpus, maps, jax.random.key(0))
  assert set(copies) == {'permuted', 'noise_1', 'sign_flipped'}
  for name, ns in lengths.items():
    documents = np.split(maps[name], np.cumsum(ns)[:-1])
    permuted = np.split(copies['permuted'][name], np.cumsum(ns)[:-1])
    assert all(np.array_equal(np.sort(a), np.sort(b)) for a, b in zip(documents, permuted))
    np.testing.assert_array_equal(copies['sign_flipped'][name], -maps[name])
    assert copies['noise_1'][name].shape == maps[name].shape and not np.allclose(copies['noise_1'][name], maps[name])


def test_a_score_without_per_example_values_is_judged_by_whether_the_weak_learner_is_right():
  saved = {'labels': np.array([0, 1, 1, 0]), 'test_probs': np.array([[.9, .1], [.2, .8], [.7, .3], [.4, .6]])}
  np.testing.assert_array_equal(measure.outcome(evaluations.SCORES['weak_learner_f1'], saved, 4), [1, 1, 0, 0])
  tvd = {'median_tvd': np.array([.1, .3])}
  np.testing.assert_array_equal(measure.outcome(evaluations.SCORES['shuffle_tvd'], tvd, 2), [.1, .3])


@pytest.mark.slow  # trains 8 weak learners (a map and 3 copies, each run) on the synthetic fixture: ~2 min here
def test_the_evaluations_that_train_are_diagnosed_on_retrained_weak_learners(trained_synthetic, tmp_path):
  runs_ = []
  for seed in (0, 1):
    run = evaluated_workdir(tmp_path / f'seed{seed}', trained_synthetic, seed)
    maps = dict(io.load_npz(run.work.maps('saliency')))
    fn = explain.make_explainer('saliency', trained_synthetic.model)
    for split in ('train', 'valid', 'test'):  # the weak learner trains on the first two, is scored on all of test
      maps[split] = explain.explain_split(fn, trained_synthetic.params, trained_synthetic.corpus.splits[split], 64)
    io.save_npz(run.work.maps('saliency'), **maps)
    runs_.append(run)
  sections = ['weak_learner', 'shuffle']
  retrained = [measure.retrained_evaluations(run, trained_synthetic.model, trained_synthetic.params, EXPLAINERS,
                                             sections, str(tmp_path / f'copies{i}'), jax.random.key(0), epochs=1)
               for i, run in enumerate(runs_)]
  wins, differences, settings = measure.retrained_preferences(runs_, retrained, EXPLAINERS, sections, epochs=1)
  degradations = {'permuted', 'noise_1', 'sign_flipped'}
  scores = {'weak_learner_f1', 'shuffle_tvd'}
  assert set(wins) == {(s, g) for s in scores for g in degradations} and set(settings) == scores
  n = len(trained_synthetic.corpus.splits['test'])
  for (score, _), entries in wins.items():
    assert len(entries) == 2 and all(a.shape == b.shape == (n,) for a, b, _ in entries)
    if score == 'weak_learner_f1':
      assert all(set(np.unique(np.concatenate([a, b]))) <= {0., 1.} for a, b, _ in entries)
  assert {(d.score, d.degradation) for d in differences} == set(wins)
  assert all(d.ci95[0] <= d.difference <= d.ci95[1] and '1 epochs' in d.setting for d in differences)
  rows = measure.diagnoses(wins, n_resamples=200, settings=settings)
  assert all(d.setting == settings[d.score] and d.pairs == 2 * n for d in rows)
  meta = measure.MetaEvaluation('synthetic', (0, 1), 'crossed', n, EXPLAINERS, tuple(rows), (), (), (), None, (), (),
                                tuple(differences))
  page = render.markdown(meta)
  assert 'Retrained evaluations, dataset level' in page and settings['weak_learner_f1'] in page


def test_train_evaluations_are_diagnosed_beside_the_others_and_named_in_the_verdict(tiny_runs, tmp_path, monkeypatch):
  """meta_evaluate's wiring (the retraining itself: the slow test above): the evaluations that train go to
  retrained_evaluations and retrained_preferences, the others to measured_preferences, one Holm family over both,
  the setting in the verdict."""
  asked = {}

  def measured_preferences(run, model, params, names, sections, *args):
    asked['tested'] = sections
    return {('eraser_sufficiency', 'permuted', 'saliency'): (np.arange(8.), np.arange(8.) + 1)}, {}

  def retrained_evaluations(run, model, params, names, sections, folder, key, epochs):
    asked['retrained'], asked['epochs'] = sections, epochs
    return {('weak_learner', 'saliency~original'): {'seed': np.array(run.config.seed)}}

  def retrained_preferences(runs_, retrained, names, sections, epochs):
    assert [r[('weak_learner', 'saliency~original')]['seed'] for r in retrained] == [0, 1]  # each run's, in order
    entries = [(np.ones(8), np.r_[np.zeros(6), np.ones(2)], 1.)] * 2
    difference = measure.ScoreDifference('weak_learner_f1', 'permuted', 'saliency', 'SETTING', .2, (.1, .3))
    return {('weak_learner_f1', 'permuted'): entries}, [difference], {'weak_learner_f1': 'SETTING'}
  monkeypatch.setattr(measure, 'measured_preferences', measured_preferences)
  monkeypatch.setattr(measure, 'retrained_evaluations', retrained_evaluations)
  monkeypatch.setattr(measure, 'retrained_preferences', retrained_preferences)
  meta = measure.meta_evaluate(tiny_runs, str(tmp_path), sections=['eraser', 'weak_learner'], naopc_bounds=False,
                               n_resamples=200, train_evaluations=True, weak_epochs=1)
  assert asked == {'tested': ('eraser',), 'retrained': ('weak_learner',), 'epochs': 1}
  settings = {d.score: d.setting for d in meta.diagnoses}
  assert settings == {'eraser_sufficiency': '', 'weak_learner_f1': 'SETTING'}
  np.testing.assert_allclose([d.p_holm for d in meta.diagnoses], holm_reference([d.p for d in meta.diagnoses]))
  verdict = {v.score: v.verdict for v in measure.verdicts(meta)}
  assert verdict['weak_learner_f1'].endswith('(retrained, reduced setting)') and verdict['eraser_sufficiency'] == (
      'diagnostic')
  assert 'Diagnosed on a reduced setting (weak-learner F1): SETTING.' in render.markdown(meta)
  assert meta.differences[0].difference == .2


@pytest.mark.parametrize('kind, expected', [
    ('bilstm', ['output', 'attention', 'recurrences_1', 'recurrences_0', 'input_kernel', 'embedding']),
    ('transformer', ['output', 'attention', 'final_norm', 'block_1', 'block_0', 'positions', 'embedding'])])
def test_cascading_randomisation_starts_at_the_output_whatever_the_modules_are_named(kind, expected):
  model = conftest.tiny_classifier(kind, 30)
  assert measure.top_modules(model, jax.eval_shape(lambda: contract.init(model, jax.random.key(0)))) == expected


def test_one_map_per_explainer_is_degraded_the_explainer_itself_where_the_runs_have_it():
  assert measure.diagnosed_explainers(('saliency', 'integrated_gradients.abs', 'integrated_gradients', 'lime.abs',
                                       'lime.abs.l1')) == ('saliency', 'integrated_gradients', 'lime.abs')


def test_the_diagnosis_sample_is_every_example_or_the_same_seeded_sample():
  np.testing.assert_array_equal(measure.diagnosis_rows(7, 0, 0), np.arange(7))
  np.testing.assert_array_equal(measure.diagnosis_rows(7, 9, 0), np.arange(7))
  rows = measure.diagnosis_rows(50, 10, 3)
  assert len(set(rows)) == 10 and np.all(np.diff(rows) > 0) and rows.max() < 50
  np.testing.assert_array_equal(rows, measure.diagnosis_rows(50, 10, 3))
  assert not np.array_equal(rows, measure.diagnosis_rows(50, 10, 4))


def test_diagnosing_on_a_sample_of_examples_is_said_and_counted(tiny_runs, tmp_path):
  meta = measure.meta_evaluate(tiny_runs, str(tmp_path), depth=0, naopc_bounds=False, n_resamples=200, examples=4)
  assert meta.diagnosis_examples == 4 and meta.diagnosed == EXPLAINERS
  assert meta.diagnoses and all(d.examples == 4 and d.pairs == 2 * len(EXPLAINERS) * 4 for d in meta.diagnoses)
  assert 'a seeded sample of 4 of the evaluated test examples' in render.markdown(meta)


def planted_precision_reference(scores, rationale):
  """An example's precision@k written out: its k = |planted| top-scored tokens (earlier first on ties), the share
  of them planted; NaN without planted tokens."""
  k = int(sum(rationale))
  if k == 0:
    return np.nan
  top = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
  return sum(bool(rationale[i]) for i in top) / k


def test_the_ground_truth_ranks_explainers_by_planted_precision_and_the_verdict_reads_its_tau(tiny_runs, tmp_path):
  test = tiny_runs[0].corpus.splits['test']
  for run in tiny_runs:  # a second map: the planted tokens themselves (precision 1 wherever any is planted)
    io.save_npz(run.work.maps('planted'), test=test.rationale.astype(np.float32))
  draws = metrics.two_level_draws(len(tiny_runs), len(test), 'crossed', 200, 0)
  names = ('saliency', 'planted', 'random', 'saliency.abs')
  truth = measure.truth_scored([measure.planted_precision(run, ('saliency', 'planted')) for run in tiny_runs],
                               names, draws)
  record = truth[measure.GROUND_TRUTH]
  assert record['explainers'] == ['saliency', 'planted'] and record['boot'].shape == (2, 600)
  spans = [slice(test.offsets[i], test.offsets[i + 1]) for i in range(len(test))]
  per_run = [np.nanmean([planted_precision_reference(io.load_npz(run.work.maps('saliency'))['test'][span],
                                                     test.rationale[span]) for span in spans]) for run in tiny_runs]
  np.testing.assert_allclose(record['estimate'], [np.mean(per_run), 1.], rtol=1e-6)
  assert record['estimate'][0] < 1  # saliency does not find every planted token: the ranking is not a tie
  scored = {'eraser_comprehensiveness': {'explainers': ['saliency', 'planted'], 'estimate': np.array([0., 1.]),
                                         'boot': np.array([[0.] * 600, [1.] * 600])}}
  agreements = measure.rank_agreement_records(measure.rank_agreements(scored | truth, draws.layout, False), False)
  meta = measure.MetaEvaluation('synthetic', (0, 1), 'crossed', len(test), ('saliency', 'planted'), (), (), (),
                                tuple(agreements), None, (), ())
  assert not measure.verdicts(meta)  # no pairs or diagnoses: no verdict row; a pair makes one
  meta = dataclasses.replace(meta, pairs=(measure.Pair('eraser_comprehensiveness', 'planted', 'saliency', 1.,
                                                       (.9, 1.1), 0., 0., 'planted'),))
  verdict, = measure.verdicts(meta)
  assert verdict.truth_tau.value == 1.0 and verdict.mean_tau is None  # the truth is not another evaluation
  assert 'τ with ground truth' in render.markdown(meta)


def test_degraded_copies_are_made_once_per_options_and_read_back(tmp_path):
  """A killed meta-evaluation resumes without recomputing the copies: made once, read back equal; other options
  keep theirs in another folder."""
  work = workdir_lib.Workdir(str(tmp_path / 'run0'))
  made = []

  def make():
    made.append(1)
    return {('saliency', 'permuted'): np.arange(6, dtype=np.float32).reshape(2, 3),
            ('saliency.abs', 'noise_0.25'): np.ones((2, 3), np.float32)}
  first = measure.stored_copies(work, make)
  again = measure.stored_copies(work, make)
  assert len(made) == 1 and again.keys() == first.keys()
  for key, values in first.items():
    np.testing.assert_array_equal(again[key], values)
  folder = measure.options_folder(['saliency'], (0.25,), 1, [0, 3])
  assert folder == measure.options_folder(['saliency'], (0.25,), 1, [0, 3])
  assert folder != measure.options_folder(['saliency'], (0.25,), 2, [0, 3])  # another depth: another folder


def test_aopc_bounds_are_searched_once_and_read_back(tmp_path):
  work = workdir_lib.Workdir(str(tmp_path / 'run0'))
  rng, made = np.random.default_rng(0), []

  def make():
    made.append(1)
    return naopc.Bounds(*rng.random((4, 3)), exact=np.array([True, False, True]), forwards=np.array([4, 9, 2]))
  first, again = measure.stored_bounds(work, make), measure.stored_bounds(work, make)
  assert len(made) == 1
  for field in dataclasses.fields(naopc.Bounds):
    np.testing.assert_array_equal(getattr(again, field.name), getattr(first, field.name))


@pytest.mark.slow  # a beam search per sampled example, compiled: ~20 s, kept out of the default suite's 8 minutes
def test_naopc_on_a_sample_normalises_the_aopc_of_the_sampled_examples_only(tiny_runs, tmp_path):
  rows = np.array([1, 5])
  subset = measure.test_part(tiny_runs[0])[1][rows]
  searched = [(subset, measure.searched_bounds(run, *run.classifier(), rows, str(tmp_path / f'run{i}')))
              for i, run in enumerate(tiny_runs)]
  rankings = measure.naopc_rankings(tiny_runs, searched, ('saliency', 'random', 'uniform'))
  comprehensiveness, = [r for r in rankings if r.kind == 'comprehensiveness']
  expected = np.mean([run.saved('eraser', 'saliency')['aopc_comprehensiveness'][
      np.isin(run.saved('eraser', 'saliency')['indices'], subset)].mean() for run in tiny_runs])
  assert dict(comprehensiveness.aopc)['saliency'] == pytest.approx(expected)
  stored = [io.load_npz(p) for p in sorted(tmp_path.glob('run*/options_*/aopc_bounds.npz'))]
  assert len(stored) == 2 and all(len(b['exact']) == 2 for b in stored)  # 2 runs, 2 examples searched each


def test_runs_that_asked_for_abs_maps_list_each_map_once():
  """A run with 'X' and 'X.abs' among its explainers: X.abs is one map (once a duplicate made every pair twice)."""
  class Evaluated:
    config = config_lib.make_config('synthetic', preset='smoke', explainers=('saliency', 'lime', 'lime.abs'))
    has = staticmethod(lambda section, name: name in {'saliency', 'lime', 'lime.abs', 'uniform', 'random'})
  assert measure.explainers_of([Evaluated()]) == ['saliency', 'lime', 'lime.abs', 'uniform', 'random']


def test_a_resumed_meta_evaluation_reads_back_the_cost_it_measured(tiny_runs, tmp_path):
  """Every copy already scored: the cost is the one measured when they were, not the time to find them scored."""
  first = measure.meta_evaluate(tiny_runs, str(tmp_path), depth=0, naopc_bounds=False, n_resamples=200)
  again = measure.meta_evaluate(tiny_runs, str(tmp_path), depth=0, naopc_bounds=False, n_resamples=200)
  assert first.costs == again.costs and all(c.seconds_per_example > 1e-5 for c in first.costs)


def holm_reference(p):
  """Holm's step-down adjusted p, written out: the i-th smallest times (m - i), running maximum, capped at 1."""
  order = sorted(range(len(p)), key=lambda i: p[i])
  adjusted, running = [0.] * len(p), 0.
  for rank, i in enumerate(order):
    running = max(running, min(1., (len(p) - rank) * p[i]))
    adjusted[i] = running
  return adjusted


def test_diagnoses_match_a_loop_over_pairs_and_holm_written_out():
  rng = np.random.default_rng(11)
  wins = {}
  for score, shift in (('deletion_rate', -.3), ('eraser_comprehensiveness', .3), ('eraser_sufficiency', 0.)):
    orientation = evaluations.SCORES[score].orientation
    for degradation in ('permuted', 'sign_flipped'):
      entries = []
      for _ in range(3):  # maps (runs x explainers) over the same 40 examples
        original = np.round(rng.normal(size=40), 1)
        degraded = np.round(original - orientation * shift + rng.normal(size=40), 1)
        degraded[:3] = original[:3]  # ties count half
        entries.append((original, degraded, orientation))
      wins[score, degradation] = entries
  rows = measure.diagnoses(wins, n_resamples=200)
  p_values = []
  for row in rows:
    entries = wins[row.score, row.degradation]
    outcomes = [[1. if o * (a - b) > 0 else .5 if a == b else 0. for a, b in zip(x, y)] for x, y, o in entries]
    assert row.share == pytest.approx(np.mean(outcomes))
    assert row.pairs == 120 and row.examples == 40
    per_example = [np.mean([outcome[i] for outcome in outcomes]) for i in range(40)]
    p_values.append(stats.ttest_1samp(per_example, .5, alternative='greater').pvalue)
    assert row.p == pytest.approx(p_values[-1])
  np.testing.assert_allclose([row.p_holm for row in rows], holm_reference(p_values))


def test_kendalls_w_of_the_meta_evaluation_is_the_rank_sum_formula_without_ties():
  rng = np.random.default_rng(5)
  estimate = rng.normal(size=(3, 5))
  scored = {s: {'explainers': list('abcde'), 'estimate': estimate[i], 'boot': estimate[i][:, None]
                + rng.normal(scale=.1, size=(5, 300))} for i, s in enumerate(('x', 'y', 'z'))}
  w = measure.kendalls_w(scored, (2, 50, 'crossed'))
  ranks = np.argsort(np.argsort(estimate, 1), 1) + 1.
  m, n = ranks.shape
  assert w.w == pytest.approx(12 * ((ranks.sum(0) - m * (n + 1) / 2) ** 2).sum() / (m ** 2 * (n ** 3 - n)))
  assert 0 <= w.ci95[0] <= w.ci95[1] <= 1


# Kendall's W's interval on simulated data with known truth: D data sets of M scores' per-example values of E
# explainers under S seeds on N shared test examples (crossed), y = population mean + seed, example and
# interaction effects, each of its own explainer and score (an effect shared by every explainer ranks nothing).
D, M, E, S, N = 200, 3, 5, 5, 40
RANKS = np.array([[0, 1, 2, 3, 4], [1, 0, 2, 4, 3], [0, 2, 1, 3, 4]], float)  # W = .844
SEED_DOMINATED, EXAMPLE_DOMINATED = (.2, .1, .3), (.05, .4, .1)  # sd of seed, example, interaction effects;
# a standard error of an explainer's mean: .093 and .067


def w_coverage(sds, gap, seed=0):
  """(share of data sets whose 95% interval of W holds the population W, mean W estimated, population W): the
  population means RANKS * gap, the interval from metrics.two_level_bootstrap's crossed draws as meta_evaluate's."""
  rng = np.random.default_rng(seed)
  seed_sd, example_sd, interaction_sd = sds
  mean = RANKS * gap
  values = (mean[:, :, None, None] + rng.normal(0, seed_sd, (D, M, E, S, 1))
            + rng.normal(0, example_sd, (D, M, E, 1, N)) + rng.normal(0, interaction_sd, (D, M, E, S, N)))
  draws = metrics.two_level_draws(S, N, 'crossed', 200, seed=seed + 1)
  values = values.astype(np.float32)  # the bootstrap gathers [D, M, E, 200, S, N] at once: half the memory
  estimate, boot = metrics.two_level_bootstrap((values,), lambda v: v.mean(-1), draws)
  w, low, high = measure.concordance_interval(estimate, boot, draws.layout)
  population = concordance.kendalls_w(mean)
  return float(np.mean((low <= population) & (population <= high))), float(w.mean()), population


@pytest.mark.parametrize('sds', [SEED_DOMINATED, EXAMPLE_DOMINATED], ids=['seed_dominated', 'example_dominated'])
def test_kendalls_w_interval_covers_the_population_w_when_explainers_are_a_standard_error_apart(sds):
  """Population means .1 apart (1.1 and 1.5 standard errors): 95% intervals hold the population W in .95-.98 of
  200 data sets (measured .970 and .975; Monte Carlo sd 1.5 points); 2 standard errors apart they over-cover
  (.985-.995)."""
  coverage, _, _ = w_coverage(sds, .1)
  assert .93 <= coverage <= .985


def test_kendalls_w_is_biased_low_and_its_interval_undercovers_when_explainers_are_within_noise():
  """Means half a standard error apart: noise scrambles the ranks, W falls from .84 to about .53 and the
  interval, which cannot see that bias, holds the population W in .76 of the data sets (the limit that
  measure.concordance_interval's docstring states)."""
  coverage, w, population = w_coverage(SEED_DOMINATED, .05)
  assert coverage < .85 and w < population - .2


def per_example_units(rng, n_seeds, n):
  """Two rows of per_example_units' arrays [n_seeds, n]: scores related through a shared example effect and
  through length, a margin per seed."""
  length = np.broadcast_to(rng.integers(5, 40, n).astype(float), (n_seeds, n))
  example = rng.normal(size=n)
  x = example + .05 * length + rng.normal(size=(n_seeds, n)) + rng.normal(scale=.3, size=(n_seeds, 1))
  y = example + .05 * length + rng.normal(size=(n_seeds, n))
  margin = rng.random((n_seeds, n))
  return {('deletion_rate', 'eraser_comprehensiveness', 'saliency'): (x, y, length, margin),
          ('deletion_rate', 'eraser_comprehensiveness', 'random'): (x, rng.normal(size=(n_seeds, n)), length, margin)}


def test_per_example_rows_match_a_loop_over_seeds_and_resamples_with_its_own_draws():
  """Each rho is the mean over seeds of scipy's (or the partial one's); its CI half-width is the t interval of
  the three resampled parts' variances that a loop over seeds and resamples measures with its own draws (within
  their Monte Carlo error, 400 resamples); p_bh is Benjamini–Hochberg over all four p's of the table."""
  rng = np.random.default_rng(7)
  n_seeds, n, n_resamples = 3, 40, 400
  units = per_example_units(rng, n_seeds, n)
  rows = measure.per_example(units, 'crossed', n_resamples=n_resamples, seed=3)
  plain = lambda x, y, *_: stats.spearmanr(x, y).statistic
  partial = lambda x, y, length, margin: agreement.partial_spearman(x, y, [length, margin])
  for i, (row, arrays) in enumerate(zip(rows, units.values())):
    assert row.examples == n
    for correlation, statistic in ((row.rho, plain), (row.partial_rho, partial)):
      assert correlation.value == pytest.approx(np.mean([statistic(*(a[k] for a in arrays)) for k in range(n_seeds)]))
      if i:  # the loop's seconds: one row is enough
        continue
      seeds, shared, per_seed = test_metrics.loop_two_level_variances(arrays, statistic, n_resamples, seed=9)
      # metrics.variance_parts written out (each plug-in variance scaled by k / (k - 1); the part the seeds share
      # through the examples) and a t of Welch-Satterthwaite's degrees of freedom
      seed_part = n_seeds / (n_seeds - 1) * seeds
      example_part = n_seeds / (n_seeds - 1) * n / (n - 1) * max(shared - per_seed, 0.)
      df = (seed_part + example_part) ** 2 / (seed_part ** 2 / (n_seeds - 1) + example_part ** 2 / (n - 1))
      half = stats.t.ppf(.975, df) * np.sqrt(seed_part + example_part)
      assert (correlation.ci95[1] - correlation.ci95[0]) / 2 == pytest.approx(half, rel=.25)
  p = [c.p for row in rows for c in (row.rho, row.partial_rho)]
  np.testing.assert_allclose([c.p_bh for row in rows for c in (row.rho, row.partial_rho)],
                             stats.false_discovery_control(p))
  assert rows[0].rho.ci95[0] > 0 and rows[0].partial_rho.ci95[0] > 0  # related beyond length


def test_naopc_ranking_changes_only_when_the_order_does():
  same = measure.NaopcRanking('comprehensiveness', (('a', .3), ('b', .1)), (('a', .9), ('b', .2)), 1.)
  swapped = measure.NaopcRanking('comprehensiveness', (('a', .3), ('b', .1)), (('b', .9), ('a', .2)), -1.)
  assert not same.changed and swapped.changed


PLUGIN = '''
import jax.numpy as jnp
from faithjax import plugins


def position(model, params, ids, mask, key=None):
  """Later tokens matter more: a user's explainer that reads nothing of the model."""
  del model, params, key
  return jnp.where(mask, jnp.cumsum(mask, -1).astype(jnp.float32), 0.)


plugins.register(plugins.Explainer('position', position))
'''


@pytest.mark.slow  # two smoke runs (every stage) and the meta-evaluation over them, from outside the package
def test_the_command_on_two_smoke_seeds_with_a_users_explainer(tmp_path):
  (tmp_path / 'my_plugins').mkdir()
  (tmp_path / 'my_plugins' / '__init__.py').write_text('')
  (tmp_path / 'my_plugins' / 'explainers.py').write_text(PLUGIN)
  env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=os.pathsep.join([str(tmp_path), conftest.REPO]))
  plugin = '--plugins=my_plugins.explainers'
  workdirs = [str(tmp_path / f'seed{seed}') for seed in (0, 1)]
  for seed, workdir in enumerate(workdirs):
    subprocess.run(conftest.smoke_run(workdir, plugin, f'--seed={seed}', '--explainers=saliency,position',
                                      '--test_subset=24'), check=True, capture_output=True, env=env, timeout=1200)
  done = subprocess.run([sys.executable, '-m', 'faithjax.meta', plugin, f'--runs={",".join(workdirs)}',
                         f'--out={tmp_path / "meta"}', '--n_resamples=200', '--depth=1',
                         f'--compile_cache={conftest.COMPILE_CACHE}'],
                        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1200)
  assert done.returncode == 0, done.stderr[-2000:]
  record = json.loads((tmp_path / 'meta' / 'meta.json').read_text())
  assert 'position' in record['explainers']
  assert {d['degradation'] for d in record['diagnoses']} >= {'permuted', 'sign_flipped', 'randomised_1'}
  assert {v['score'] for v in record['verdicts']} >= {'deletion_rate', 'eraser_comprehensiveness'}
  assert record['naopc'] and (tmp_path / 'meta' / 'meta.png').exists()
  assert '| evaluation | verdict |' in (tmp_path / 'meta' / 'meta.md').read_text()
  assert record['command'].startswith(f'python -m faithjax.meta {plugin} --runs=')
  part = subprocess.run([sys.executable, '-m', 'faithjax.meta', plugin, f'--runs={workdirs[1]}',
                         f'--out={tmp_path / "meta"}', '--depth=1', '--measure_only',
                         f'--compile_cache={conftest.COMPILE_CACHE}'],
                        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1200)
  assert part.returncode == 0, part.stderr[-2000:]
  assert part.stdout.strip() == f'parts: {tmp_path / "meta" / "parts" / "seed1.npz"}'
  assert parts.read(str(tmp_path / 'meta' / 'parts' / 'seed1.npz')).diagnosed == ('saliency', 'position')


def test_aopc_bounds_are_searched_on_short_documents_only_where_asked():
  lengths = np.array([5, 200, 30, 129, 128, 7])
  np.testing.assert_array_equal(measure.searched_rows(lengths, 0, 128, 0), [0, 2, 4, 5])
  np.testing.assert_array_equal(measure.searched_rows(lengths, 0, 0, 0), np.arange(6))
  sample = measure.searched_rows(lengths, 2, 128, 0)
  assert len(sample) == 2 and set(sample) <= {0, 2, 4, 5} and (np.diff(sample) > 0).all()
  # every document short enough: the sample --naopc_examples drew before there was a limit
  np.testing.assert_array_equal(measure.searched_rows(lengths, 3, 500, 1), measure.diagnosis_rows(6, 3, 1))
  with pytest.raises(FaithjaxError, match='at most 4 tokens .*--naopc_max_tokens'):
    measure.searched_rows(lengths, 0, 4, 0)


def test_the_naopc_section_names_the_length_limit(meta):
  ranking = measure.NaopcRanking('comprehensiveness', (('a', .3), ('b', .1)), (('a', .9), ('b', .2)), 1.)
  page = render.markdown(dataclasses.replace(meta, naopc=(ranking,), naopc_examples=3, naopc_max_tokens=128))
  assert '3 evaluated test examples of at most 128 tokens (--naopc_max_tokens' in page
  assert 'of at most' not in render.markdown(dataclasses.replace(meta, naopc=(ranking,)))


def as_json(meta):
  """A meta-evaluation's records as JSON text (NaN compares equal there, as it does not in a dataclass)."""
  return json.dumps(dataclasses.asdict(meta), default=str)


def test_a_meta_evaluation_of_archived_runs_equals_the_one_of_their_workdirs(meta, meta_out, tiny_runs, tmp_path):
  """Each seed archived with its part, as the study keeps one that finished in another session: the statistics
  over the archives are the workdirs' to the last digit, and a part of other options is refused in one line."""
  archives = [str(tmp_path / f'synthetic-seed{run.config.seed}.npz') for run in tiny_runs]
  for run, archive, part in zip(tiny_runs, archives, measure.measure_parts(tiny_runs, meta_out, **META_OPTIONS)):
    runs.write_archive(run, archive)  # the parts: the small case's, read back
    parts.write(part, runs.part_path(archive))
  archived = [runs.read_run(path) for path in archives]
  assert all(isinstance(r, runs.ArchivedRun) for r in archived)
  from_archives = measure.meta_evaluate(archived, str(tmp_path / 'elsewhere'), n_resamples=200, **META_OPTIONS)
  assert as_json(from_archives) == as_json(meta)
  assert from_archives.diagnoses and from_archives.per_example and from_archives.costs
  assert not (tmp_path / 'elsewhere').exists()  # nothing measured again
  with pytest.raises(FaithjaxError, match=r'other options .*depth: 1 vs 2\)'):
    measure.meta_evaluate(archived, str(tmp_path / 'elsewhere'), n_resamples=200, **(META_OPTIONS | {'depth': 2}))
  for path in tmp_path.glob('synthetic-seed1.meta.npz*'):  # the part and its manifest
    path.unlink()
  with pytest.raises(FaithjaxError, match='no meta-evaluation part at .*seed1.meta.npz: measure it'):
    measure.meta_evaluate(archived, str(tmp_path / 'elsewhere'), n_resamples=200, **META_OPTIONS)


def test_a_part_reads_back_every_record_it_was_written_with(tmp_path):
  rng = np.random.default_rng(5)
  options = parts.PartOptions(None, True, (0.25, 1.), 2, 3, 500, True, 24, 128, None)
  written = parts.RunPart(
      options, diagnosed=('saliency', 'lime.abs'), sections=('deletion', 'eraser'), training=('weak_learner',),
      weak_epochs=3, subset=np.arange(5) * 2, lengths=rng.integers(1, 9, 5), margins=rng.random(5),
      preferences={('deletion_rate', 'noise_0.25', 'lime.abs'): (rng.random(3), rng.random(3)),
                   ('eraser_sufficiency', 'randomised_1', 'saliency'): (rng.random(3), np.full(3, np.nan))},
      costs={'deletion': (0.5, 12.), 'eraser': (0.1, 3.)},
      retrained={('weak_learner', 'saliency~original'): {'labels': np.arange(4), 'test_probs': rng.random((4, 2))},
                 ('weak_learner', 'saliency~noise_1'): {'labels': np.arange(4), 'test_probs': rng.random((4, 2))}},
      bounds=naopc.Bounds(*rng.random((4, 2)), exact=np.array([True, False]), forwards=np.array([3, 40])),
      truth={'saliency': rng.random(10)})
  parts.write(written, str(tmp_path / 'part.npz'))
  read = parts.read(str(tmp_path / 'part.npz'))
  assert read.options == options and read.costs == written.costs
  assert (read.diagnosed, read.sections, read.training, read.weak_epochs) == (
      written.diagnosed, written.sections, written.training, written.weak_epochs)
  for field in ('subset', 'lengths', 'margins'):
    np.testing.assert_array_equal(getattr(read, field), getattr(written, field))
  for name in ('preferences', 'retrained', 'truth'):
    mine, theirs = getattr(read, name), getattr(written, name)
    assert mine.keys() == theirs.keys()
    for key in mine:
      flat = lambda record: record.values() if isinstance(record, dict) else record if isinstance(record, tuple) \
          else (record,)
      for a, b in zip(flat(mine[key]), flat(theirs[key]), strict=True):
        np.testing.assert_array_equal(a, b)
  for field in dataclasses.fields(naopc.Bounds):
    np.testing.assert_array_equal(getattr(read.bounds, field.name), getattr(written.bounds, field.name))



def test_runs_whose_weak_learners_retrained_with_other_epochs_are_refused_in_one_line(tiny_runs, tmp_path,
                                                                                       monkeypatch):
  monkeypatch.setattr(measure, 'measured_preferences', lambda *args: ({}, {}))
  monkeypatch.setattr(measure, 'retrained_evaluations', lambda *args: {})
  monkeypatch.setattr(measure, 'retrained_epochs', lambda run, epochs: 2 + run.config.seed)  # each run its own
  with pytest.raises(FaithjaxError, match=r'retrained with \[2, 3\] epochs; pass --weak_epochs'):
    measure.meta_evaluate(tiny_runs, str(tmp_path), sections=['eraser', 'weak_learner'], naopc_bounds=False,
                          train_evaluations=True)


def test_the_statistics_use_the_maps_every_part_degraded_in_the_first_ones_order():
  assert measure.in_every([('saliency', 'lime', 'occlusion'), ('occlusion', 'saliency')]) == ('saliency', 'occlusion')
  assert measure.in_every([('deletion',), ()]) == ()


def test_runs_of_two_settings_are_refused():
  """Seeds of one setting only: a run at other KernelSHAP samples would be read as the seeds' spread. Which explainers
  each ran, and their seeds, are not differences."""
  base = config_lib.make_config('synthetic', preset='smoke', explainers=('kernel_shap', 'saliency'))
  assert base.differences(dataclasses.replace(base, seed=3, explainers=('saliency',))) == []
  other = dataclasses.replace(base.with_options('kernel_shap', samples=7), seed=1, epochs=base.epochs + 1)
  samples = base.explainer_options('kernel_shap').samples
  assert base.differences(other) == [f'epochs: {base.epochs} vs {base.epochs + 1}',
                                     f'explainer.kernel_shap.samples: {samples} vs 7']
  runs_ = [types.SimpleNamespace(labels=np.zeros(3), config=c) for c in (base, other)]
  options = measure.part_options(None, (1.,), 1, False, 0, False, None, 0, 0, 128)
  with pytest.raises(FaithjaxError, match=r'more than their seed \(epochs: .*; explainer.kernel_shap.samples'):
    measure.checked_runs(runs_, options)
