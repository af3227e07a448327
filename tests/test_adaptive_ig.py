"""Integrated Gradients to a tolerance (explain.integrated_gradients_to_tolerance, faithjax/adaptive_quadrature.py)
against a float64 reference integral computed one example at a time."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from faithjax import FaithjaxError
from faithjax import adaptive_quadrature
from faithjax import config as config_lib
from faithjax import explain
from faithjax import io
from faithjax import pipeline
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.models import contract
from tests import test_explain

from experiments import time_to_tolerance

REFERENCE_NODES = 32  # Gauss-Legendre; 48 and 64 nodes agree with 32 to 1e-11 of |f(x) - f(0)| on this model
LENGTHS = (12, 3, 0, 8, 1, 12, 6, 10, 0)  # an empty document inside the batch, and a trailing empty row


@pytest.fixture(scope='module')
def case():
  """(model, params, ids, mask, reference IG [batch, seq], |f(x) - f(0)| [batch]) in float64.

  The tiny random BiLSTM's weights are scaled up, so that its path is far from linear and examples differ.
  """
  with jax.enable_x64(True):
    model, params = test_explain.tiny_model('bilstm')
    params = jax.tree.map(lambda p: 3 * p, params)
    seq = max(LENGTHS)
    ids = np.random.default_rng(2).integers(2, 50, (len(LENGTHS), seq))
    ids[np.arange(seq) >= np.array(LENGTHS)[:, None]] = 0
    mask = ids != 0
    reference = test_explain.reference_scores('integrated_gradients', model, params, ids, mask,
                                              steps=REFERENCE_NODES, quadrature='gauss_legendre')
    _, gap = explain.path_ends(model, params, contract.inputs(model, params, ids), mask)
    yield model, params, ids, mask, reference, np.abs(np.asarray(gap))


REAL = np.array(LENGTHS) > 0


@functools.partial(jax.jit, static_argnums=0, static_argnames='kronrod_nodes')
def _to_tolerance(model, params, ids, mask, tolerance, kronrod_nodes):
  return explain.integrated_gradients_to_tolerance(model, params, ids, mask, tolerance=tolerance,
                                                   kronrod_nodes=kronrod_nodes)


def to_tolerance(case, points=7, tolerance=1e-3):
  """The case's IG to a tolerance in float64; one program per `points`.

  9 documents, explain.POOL_PER_SLOT = 8: one slot, refilled from the batch after every document.
  """
  model, params, ids, mask, _, _ = case
  with jax.enable_x64(True):
    return _to_tolerance(model, params, ids, mask, tolerance, kronrod_nodes=points)


def relative_l1_errors(values, reference, gap):
  """||IG - reference||_1 / |f(x) - f(0)| of the non-empty documents."""
  return np.abs(np.asarray(values) - reference).sum(-1)[REAL] / gap[REAL]


@pytest.mark.parametrize('points', sorted(adaptive_quadrature.KRONROD_EXTENSIONS))
def test_kronrod_pairs_are_exact_to_their_degree(points):
  """Exact on Legendre polynomials up to degree 3n + 1 (Kronrod) and 2n - 1 (Gauss): any wrong node breaks it."""
  nodes, kronrod, gauss = adaptive_quadrature.kronrod_rule(points)
  n = (points - 1) // 2
  legendre = np.polynomial.legendre.legvander(2 * nodes - 1, 3 * n + 1)  # int_0^1 P_m(2x - 1) = [m == 0]
  np.testing.assert_allclose(kronrod @ legendre, np.eye(3 * n + 2)[0], atol=1e-14)
  np.testing.assert_allclose((gauss @ legendre)[:2 * n], np.eye(2 * n)[0], atol=1e-14)
  assert np.all((nodes > 0) & (nodes < 1) & (kronrod > 0)) and np.count_nonzero(gauss) == n


@pytest.mark.parametrize('points, tolerance', [(7, 1e-3), (15, 1e-6)])
def test_matches_the_float64_reference_to_the_tolerance(case, points, tolerance):
  model, params, ids, mask, reference, gap = case
  result = to_tolerance(case, points, tolerance)
  with jax.enable_x64(True):
    completeness = explain.completeness_error(model, params, ids, mask, result.values)[0]
  assert result.values.dtype == np.float64
  errors = relative_l1_errors(result.values, reference, gap)
  print(f'G{points // 2}K{points}, tolerance {tolerance}: evaluations {result.evaluations}, relative L1 errors '
        f'{errors}, estimates {np.asarray(result.estimate)[REAL] / gap[REAL]}')
  assert np.all(errors <= tolerance)  # what the tolerance states, for every token's attribution together
  assert np.all(errors <= np.asarray(result.estimate)[REAL] / gap[REAL])  # the estimate bounds the error
  np.testing.assert_allclose(result.sum_error, completeness, rtol=0, atol=1e-15)
  assert np.all(np.asarray(result.values)[~mask] == 0)
  # The empty document inside costs one panel and is 0; the batch's trailing empty row is not integrated.
  np.testing.assert_array_equal(np.asarray(result.evaluations)[~REAL], [points, 0])
  assert np.all(np.asarray(result.evaluations) <= 512)


def test_the_stopping_rule_spends_more_where_the_path_needs_it(case):
  """Fails if the rule stopped after a fixed number of panels: one panel (what an infinite tolerance gets) is not
  enough for some documents, and the documents that need fewer get fewer."""
  _, _, _, _, reference, gap = case
  one_panel, adaptive = to_tolerance(case, tolerance=np.inf), to_tolerance(case)
  assert np.all(np.asarray(one_panel.evaluations)[REAL] == 7)
  assert np.sum(relative_l1_errors(one_panel.values, reference, gap) > 1e-3) >= 3
  used = np.asarray(adaptive.evaluations)[REAL]
  assert used.min() < used.max() <= 512, used


def test_the_explainer_option_gives_the_map(case):
  model, params, ids, mask, _, _ = case
  with jax.enable_x64(True):
    scores = explain.make_explainer('integrated_gradients', model, tolerance=1e-3, kronrod_nodes=7)(params, ids, mask)
  np.testing.assert_allclose(scores, to_tolerance(case).values, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize('options, message', [
    (dict(tolerance=-1e-3), 'tolerance must be > 0'), (dict(tolerance=float('nan')), 'tolerance must be > 0'),
    (dict(tolerance=1e-3, kronrod_nodes=9), 'kronrod_nodes one of'),
    (dict(tolerance=1e-3, max_evaluations=14), 'max_evaluations must be in 15..')])
def test_bad_tolerance_options_are_refused(options, message):
  with pytest.raises(FaithjaxError, match=message):
    explain.make_explainer('integrated_gradients', test_explain.tiny_model('lstm')[0], **options)


def test_a_tolerance_needs_the_true_gradient():
  """Completeness, one of the stopping conditions, holds only without detached attention."""
  model, params = test_explain.tiny_model('lstm')
  ids = jnp.array([[3, 4, 5]])
  fn = explain.make_explainer('integrated_gradients', model, tolerance=1e-3, detach_attention=True)
  with pytest.raises(FaithjaxError, match='detach_attention off'):
    fn(params, ids, ids != 0)


def test_a_split_to_tolerance_is_aligned_and_within_it():
  """explain_split_to_tolerance's flat maps meet completeness document by document (so they are aligned)."""
  model, params = test_explain.tiny_model('lstm')
  rng = np.random.default_rng(0)
  split = encode.EncodedSplit.from_lists([rng.integers(2, 50, n) for n in rng.integers(9, 13, 8)], np.zeros(8))
  flat, evaluations, relative = explain.explain_split_to_tolerance(model, params, split, 4, tolerance=1e-4,
                                                                   kronrod_nodes=7)
  assert flat.shape == split.ids.shape and np.all(flat != 0)
  assert np.all(relative <= 1e-4 * (1 + 1e-3)) and np.all(evaluations >= 7), (relative, evaluations)


def test_the_fewest_fixed_nodes_are_found_by_doubling_then_bisection():
  calls = []

  def errors_at(steps):  # p90 1/steps^2; the worst of 20 documents 5x that
    calls.append(steps)
    return np.array([steps ** -2.] * 19 + [5 * steps ** -2.])

  assert time_to_tolerance.fewest_nodes(errors_at, 1e-3, 512) == 32  # the fewest n with 1/n^2 <= 1e-3
  assert calls == [1, 2, 4, 8, 16, 32, 24, 28, 30, 31]
  assert time_to_tolerance.fewest_nodes(lambda steps: np.array([1.]), 1e-3, 8) is None
  calls.clear()  # a start guessed too high still finds the fewest: it bisects down from there
  assert time_to_tolerance.fewest_nodes(errors_at, 1e-3, 512, start=64) == 32 and calls[0] == 64
  assert time_to_tolerance.fewest_nodes(errors_at, 1e-3, 512, start=4) == 32  # too low: doubles from there
  assert not time_to_tolerance.meets(np.array([0.] * 9 + [0.011]), 1e-3)  # one document beyond 10x: missed


def test_the_explain_stage_stores_each_documents_counts_beside_the_map_and_reads_them_back_verified(tmp_path):
  """IG to a tolerance: maps/<name>.counts.npz holds every split's evaluations, errors and cap flags, summarised
  over test; a damaged counts file is refused, a deleted one redone, and the fixed rule counts nothing."""
  model, params = test_explain.tiny_model('lstm')
  rng = np.random.default_rng(1)
  split = lambda n: encode.EncodedSplit.from_lists([rng.integers(2, 50, 6) for _ in range(n)], np.zeros(n))
  corpus = encode.EncodedCorpus('synthetic', [str(i) for i in range(50)], {'train': split(5), 'test': split(6)})
  config = config_lib.make_config('synthetic', preset='smoke', eval_batch_size=8).with_options(
      'integrated_gradients', tolerance=1e-4, kronrod_nodes=7, max_evaluations=21)
  out = workdir_lib.Workdir(str(tmp_path))
  pipeline.explain_corpus(config, corpus, model, params, 'integrated_gradients', out)
  counts = io.load_npz(out.counts('integrated_gradients'))
  assert sorted(counts) == sorted(f'{s}.{c}' for s in ('train', 'test')
                                  for c in ('evaluations', 'completeness_relative_error', 'at_cap'))
  assert counts['train.evaluations'].shape == (5,) and set(counts['test.evaluations']) <= {7, 21}
  np.testing.assert_array_equal(counts['test.at_cap'], counts['test.evaluations'] == 21)
  _, relative = explain.split_completeness(model, params, corpus.splits['test'],
                                           io.load_npz(out.maps('integrated_gradients'))['test'], 8)
  np.testing.assert_allclose(counts['test.completeness_relative_error'], relative, rtol=1e-3, atol=1e-6)
  summary = pipeline.counts_summary(out, 'integrated_gradients')['per_document']
  assert summary['evaluations']['max'] == counts['test.evaluations'].max()
  assert summary['at_cap']['share'] == np.mean(counts['test.at_cap'])
  with open(out.counts('integrated_gradients'), 'r+b') as f:  # one byte changed
    f.seek(40)
    byte = f.read(1)
    f.seek(40)
    f.write(bytes([byte[0] ^ 1]))
  with pytest.raises(io.CorruptArtefact):
    pipeline.counts_summary(out, 'integrated_gradients')
  os.remove(out.counts('integrated_gradients'))  # what the CorruptArtefact's redo command deletes
  pipeline.explain_corpus(config, corpus, model, params, 'integrated_gradients', out)  # the map too is redone
  assert pipeline.counts_summary(out, 'integrated_gradients')['per_document'] == summary
  assert explain.make_counted_explainer('integrated_gradients', model, tolerance=0.) is None
  assert explain.make_counted_explainer('saliency', model) is None


@pytest.mark.parametrize('name', ['integrated_gradients.abs', 'integrated_gradients.abs.l1', 'gradient_shap.abs'])
def test_a_map_transform_is_stored_from_its_base_map_equal_to_explaining_with_it(tmp_path, monkeypatch, name):
  """With the base explainer's maps stored, 'X.abs' (and '.l1') is X's map transformed per document, counts
  copied, without running an explainer; equal to explaining with the transform in another workdir (sampling
  explainers too: the same keys)."""
  model, params = test_explain.tiny_model('lstm')
  rng = np.random.default_rng(2)
  split = lambda n: encode.EncodedSplit.from_lists([rng.integers(2, 50, rng.integers(2, 9)) for _ in range(n)],
                                                   np.zeros(n))
  corpus = encode.EncodedCorpus('synthetic', [str(i) for i in range(50)], {'train': split(7), 'test': split(5)})
  config = config_lib.make_config('synthetic', preset='smoke', eval_batch_size=4)
  explained = workdir_lib.Workdir(str(tmp_path / 'explained'))
  pipeline.explain_corpus(config, corpus, model, params, name, explained)  # no base there: explained
  derived = workdir_lib.Workdir(str(tmp_path / 'derived'))
  base = explain.parse_name(name)[0]
  pipeline.explain_corpus(config, corpus, model, params, base, derived)

  def no_explaining(*args, **kwargs):
    raise AssertionError('the transform ran an explainer')
  monkeypatch.setattr(explain, 'explain_split', no_explaining)
  monkeypatch.setattr(explain, 'explain_split_counted', no_explaining)
  pipeline.explain_corpus(config, corpus, model, params, name, derived)
  expected, got = io.load_npz(explained.maps(name)), io.load_npz(derived.maps(name))
  assert sorted(got) == ['test', 'train']
  for part in got:
    np.testing.assert_allclose(got[part], expected[part], rtol=1e-5, atol=1e-7)
    assert np.all(got[part] >= 0)  # every name here takes |.| first
  assert os.path.exists(derived.counts(name)) == os.path.exists(explained.counts(name))
  if os.path.exists(explained.counts(name)):
    for key, values in io.load_npz(explained.counts(name)).items():
      np.testing.assert_array_equal(io.load_npz(derived.counts(name))[key], values)
