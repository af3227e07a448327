"""Normalised AOPC: the exact bounds against every ordering, the beam against the exact bounds."""

import itertools
import math

import jax
import numpy as np
import pytest

import conftest

from faithjax.faithfulness import eraser
from faithjax.faithfulness import naopc
from faithjax.meta import measure
from faithjax.models import contract

VOCAB, WIDTH = 30, 8
LENGTHS = (0, 1, 2, 3, 4, 5, 6, 7, 7, 8)


@pytest.fixture(scope='module')
def classifier():
  model = conftest.tiny_classifier('bilstm', VOCAB)
  return model, contract.init(model, jax.random.key(3))


@pytest.fixture(scope='module')
def documents():
  """ids [len(LENGTHS), WIDTH], real tokens first."""
  rng = np.random.default_rng(1)
  ids = np.zeros((len(LENGTHS), WIDTH), np.int32)
  for row, n in enumerate(LENGTHS):
    ids[row, :n] = rng.integers(2, VOCAB, n)
  return ids


def ordering_aopcs(model, params, tokens, mode):
  """AOPC (comprehensiveness, sufficiency) of every ordering of one document's tokens, as ERASER scores it:
  each permutation becomes a map that ranks its tokens in that order. Returns (orderings, [n!], [n!])."""
  n = int((tokens != 0).sum())
  orderings = list(itertools.permutations(range(n)))
  scores = np.zeros((len(orderings), WIDTH), np.float32)
  for row, ordering in enumerate(orderings):
    scores[row, list(ordering)] = np.arange(n, 0, -1)
  rows = 720  # every document's orderings in one shape: 6!, padded by repeating the last
  ids = np.broadcast_to(tokens, (rows, WIDTH))
  padded = np.concatenate([scores, np.repeat(scores[-1:], rows - len(scores), 0)])
  got = eraser.eraser_scores(model, params, ids, padded, mode=mode)
  return orderings, *(np.asarray(got[k])[:len(orderings)] for k in eraser.AOPC)


@pytest.fixture(scope='module', params=['pad_fixed', 'delete'])
def reference(request, classifier, documents):
  """The mode and, per document of at most 6 tokens, its orderings' AOPCs (5 tokens: bins of 1 and 3 tokens, a
  chain that adds two at once)."""
  return request.param, {row: ordering_aopcs(*classifier, documents[row], request.param)
                         for row, n in enumerate(LENGTHS) if n <= 6}


def test_exact_bounds_are_the_extremes_over_every_ordering(classifier, documents, reference):
  mode, aopcs = reference
  bounds = naopc.aopc_bounds(*classifier, documents, mode=mode)
  assert bounds.exact.all()
  for row, (_, comprehensiveness, sufficiency) in aopcs.items():
    np.testing.assert_allclose([bounds.comprehensiveness_lower[row], bounds.comprehensiveness_upper[row],
                                bounds.sufficiency_lower[row], bounds.sufficiency_upper[row]],
                               [comprehensiveness.min(), comprehensiveness.max(), sufficiency.min(),
                                sufficiency.max()], atol=1e-6)
  assert max(np.ptp(c) for _, c, _ in aopcs.values()) > 1e-3  # the orderings differ
  np.testing.assert_array_equal(bounds.forwards, [1 + 2 * naopc.subset_count(n) for n in LENGTHS])


def test_the_best_and_worst_orderings_normalise_to_one_and_zero(classifier, documents, reference):
  mode, aopcs = reference
  for row, (orderings, comprehensiveness, sufficiency) in aopcs.items():
    if LENGTHS[row] < 3:
      continue
    picks = [np.argmax(comprehensiveness), np.argmin(comprehensiveness), np.argmax(sufficiency)]
    scores = np.zeros((len(picks), WIDTH), np.float32)
    for i, pick in enumerate(picks):
      scores[i, list(orderings[pick])] = np.arange(LENGTHS[row], 0, -1)
    got = naopc.naopc_scores(*classifier, np.repeat(documents[row:row + 1], len(picks), 0), scores, mode=mode)
    np.testing.assert_allclose(got['naopc_comprehensiveness'][:2], [1, 0], atol=1e-4)
    np.testing.assert_allclose(got['naopc_sufficiency'][2], 1, atol=1e-4)


def test_subset_lattice_levels_are_nested_subsets():
  for n in (1, 4, 9):
    lattice = naopc.subset_lattice(n)
    assert [k for k, *_ in lattice] == sorted(set(np.asarray(eraser.removal_counts(np.array([n]),
                                                                                   eraser.PERCENTS))[0]))
    assert math.isclose(sum(weight for _, weight, _, _ in lattice), 1)
    for (k, _, members, parents), (_, _, previous, _) in zip(lattice[1:], lattice):
      assert len(members) == math.comb(n, k) and (members.sum(-1) == k).all()
      assert (previous[parents] <= members[:, None]).all()  # every parent is inside its child
      assert len(np.unique(parents, axis=0)) == len(parents)


@pytest.mark.parametrize('width', [1, 3])
def test_a_narrow_beam_stays_inside_the_exact_bounds(classifier, documents, width):
  model, params = classifier
  exact = naopc.aopc_bounds(model, params, documents)
  beam = naopc.beam_bounds(model, params, documents, width=width)
  (comprehensiveness_lower, comprehensiveness_upper), (sufficiency_lower, sufficiency_upper), forwards = beam
  assert (np.asarray(comprehensiveness_upper) <= exact.comprehensiveness_upper + 1e-6).all()
  assert (np.asarray(sufficiency_upper) <= exact.sufficiency_upper + 1e-6).all()
  assert (np.asarray(comprehensiveness_lower) >= exact.comprehensiveness_lower - 1e-6).all()
  assert (np.asarray(sufficiency_lower) >= exact.sufficiency_lower - 1e-6).all()
  if width == 1:
    gaps = np.abs(np.reshape(beam[:2], (4, -1)) - [exact.comprehensiveness_lower, exact.comprehensiveness_upper,
                                                   exact.sufficiency_lower, exact.sufficiency_upper])
    assert gaps.max() > 1e-4  # the greedy search misses somewhere: the checks above can see a beam's slack
    # one set per search: step s evaluates the n - s + 1 tokens not yet in it, four searches
    largest = np.asarray(eraser.removal_counts(np.array(LENGTHS), eraser.PERCENTS))[:, -1]
    expected = [1 + 4 * sum(n - s + 1 for s in range(1, k + 1)) for n, k in zip(LENGTHS, largest)]
    np.testing.assert_array_equal(forwards, expected)


def test_a_beam_as_wide_as_the_lattice_is_exact(classifier, documents):
  model, params = classifier
  exact = naopc.aopc_bounds(model, params, documents)
  width = max(math.comb(n, k) for n in LENGTHS for k in range(n + 1))
  beam = naopc.beam_bounds(model, params, documents, width=width)
  np.testing.assert_allclose(np.reshape(beam[:2], (4, -1)),
                             [exact.comprehensiveness_lower, exact.comprehensiveness_upper,
                              exact.sufficiency_lower, exact.sufficiency_upper], atol=1e-5)


def test_beam_examples_do_not_see_each_other(classifier, documents):
  model, params = classifier
  together = np.reshape(naopc.beam_bounds(model, params, documents, width=2)[:2], (4, -1))
  alone = [np.reshape(naopc.beam_bounds(model, params, documents[row:row + 1], width=2)[:2], 4)
           for row in range(len(documents))]
  np.testing.assert_allclose(together, np.transpose(alone), atol=1e-6)


@pytest.mark.parametrize('max_subsets', [naopc.MAX_SUBSETS, 8])
def test_naopc_of_any_map_is_in_the_unit_interval(classifier, documents, max_subsets):
  rng = np.random.default_rng(2)
  scores = rng.integers(-2, 3, documents.shape).astype(np.float32)  # ties among them
  got = naopc.naopc_scores(*classifier, documents, scores, max_subsets=max_subsets, width=2)
  assert got['bounds'].exact.sum() == sum(naopc.subset_count(n) <= max_subsets for n in LENGTHS)
  for kind in naopc.KINDS:
    values, aopc = got[f'naopc_{kind}'], got[f'aopc_{kind}']
    lower, upper = getattr(got['bounds'], f'{kind}_lower'), getattr(got['bounds'], f'{kind}_upper')
    assert ((values >= 0) & (values <= 1))[~np.isnan(values)].all()
    np.testing.assert_array_equal(np.isnan(values), np.maximum(upper, aopc) - np.minimum(lower, aopc) <= 1e-6)
    assert np.isnan(values[np.array(LENGTHS) <= 1]).all()  # one ordering: nothing to normalise
    assert (~np.isnan(values[np.array(LENGTHS) >= 3])).all()


def test_normalise_widens_the_bounds_to_the_aopc():
  np.testing.assert_allclose(naopc.normalise([.2, .5, .9, .3], [.1, .1, .1, .3], [.6, .4, .5, .3]),
                             [.2, 1, 1, np.nan])


def test_exact_bounds_on_a_transformer(documents):
  model = conftest.tiny_classifier('transformer', VOCAB)
  params = contract.init(model, jax.random.key(4))
  rows = [row for row, n in enumerate(LENGTHS) if 3 <= n <= 5]
  bounds = naopc.aopc_bounds(model, params, documents[rows], mode='unk')
  for i, row in enumerate(rows):
    _, comprehensiveness, sufficiency = ordering_aopcs(model, params, documents[row], 'unk')
    np.testing.assert_allclose([bounds.comprehensiveness_lower[i], bounds.comprehensiveness_upper[i],
                                bounds.sufficiency_lower[i], bounds.sufficiency_upper[i]],
                               [comprehensiveness.min(), comprehensiveness.max(), sufficiency.min(),
                                sufficiency.max()], atol=1e-6)


def test_padding_beyond_the_longest_document_changes_no_bound(classifier, documents):
  """aopc_bounds cuts each search to its documents' width: the bounds of searches over every padded column."""
  model, params = classifier
  padded = np.pad(documents, ((0, 0), (0, 3 * WIDTH)))
  beam = naopc.aopc_bounds(model, params, padded, max_subsets=0, width=2)
  *reference, forwards = naopc.beam_bounds(model, params, padded, width=2)
  np.testing.assert_allclose([beam.comprehensiveness_lower, beam.comprehensiveness_upper, beam.sufficiency_lower,
                              beam.sufficiency_upper], np.reshape(reference, (4, -1)), atol=1e-6)
  np.testing.assert_array_equal(beam.forwards, forwards)
  exact = naopc.aopc_bounds(model, params, padded)
  for n in set(LENGTHS):
    rows = np.flatnonzero(np.array(LENGTHS) == n)
    np.testing.assert_allclose([exact.comprehensiveness_lower[rows], exact.comprehensiveness_upper[rows],
                                exact.sufficiency_lower[rows], exact.sufficiency_upper[rows]],
                               np.reshape(naopc.exact_bounds(model, params, padded[rows]), (4, -1)), atol=1e-6)


def test_the_meta_evaluation_searches_short_documents_first_and_in_order(classifier):
  """measure.aopc_bounds: length-sorted chunks within the budget, every bound back at its example's row."""
  model, params = classifier
  rng = np.random.default_rng(4)
  lengths = (3, 14, 0, 9, 16, 5, 13)  # enumerated up to 12 tokens, searched by the beam above
  ids = np.zeros((len(lengths), 16), np.int32)
  for row, n in enumerate(lengths):
    ids[row, :n] = rng.integers(2, VOCAB, n)
  whole = naopc.aopc_bounds(model, params, ids)
  chunked = measure.aopc_bounds(model, params, ids, 'pad', budget=2 * naopc.WIDTH_STEP ** 2)  # 2 or 1 at a time
  assert not chunked.exact.all() and chunked.exact.any()
  for field in ('comprehensiveness_lower', 'comprehensiveness_upper', 'sufficiency_lower', 'sufficiency_upper'):
    np.testing.assert_allclose(getattr(chunked, field), getattr(whole, field), atol=1e-6)
  np.testing.assert_array_equal(chunked.forwards, whole.forwards)
