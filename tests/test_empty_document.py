"""Removing every token of a document: the same score at every padding width (issue #36).

A document left without any real token scores as the empty document, one PAD position (contract.empty_logits),
in occlusion, KernelSHAP and LIME under removal 'pad', and in deletion and ERASER under every mode. Scored at its
own width instead, the attention pooling has no real token to attend to and spreads over the padding.
Slow (three compiles per case, about 90 s of CPU in all); the default suite's share: a one-token document's
occlusion at two widths (test_explain_sampling) and ERASER against its loop, which removes to the empty document
(test_faithfulness). KernelSHAP and LIME in float64, so that solving their systems at another size changes nothing
visible at 1e-6.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import conftest

from faithjax import explain
from faithjax.faithfulness import deletion
from faithjax.faithfulness import eraser
from faithjax.models import classifier
from faithjax.models import contract

pytestmark = pytest.mark.slow

VOCAB = 50
WIDTHS = (8, 32, 96)
DOCUMENTS = ([17], [5, 9, 23, 31, 44])  # one token, and five: its 32 coalitions include the empty one


def _bilstm_with_biases():
  """A BiLSTM whose LSTM biases are non-zero, as after training: with zero biases, a zero input leaves the state
  at zero and the fixed pad rule's empty input happens to score as the empty document."""
  model = classifier.Classifier(vocab_size=VOCAB, emb_dim=16, hidden=8, att_hidden=8)
  params = contract.init(model, jax.random.key(0))
  for i, name in enumerate(('recurrences_0', 'recurrences_1')):
    params[name]['bias'] = jax.random.normal(jax.random.key(10 + i), params[name]['bias'].shape)
  return model, params


@pytest.fixture
def x64():
  with jax.enable_x64(True):
    yield


@pytest.fixture(scope='module', params=['bilstm', 'transformer'])
def classifier_(request):
  """(model, params as float64 numpy arrays: float32 outside x64), made in float32 (Flax's zeros initialiser
  would give float64 biases in x64)."""
  if request.param == 'bilstm':
    model, params = _bilstm_with_biases()
  else:
    model = conftest.tiny_classifier('transformer', VOCAB)
    params = contract.init(model, jax.random.key(0))
  return model, jax.tree.map(lambda p: np.asarray(p, np.float64), params)


def padded(documents, width):
  """<int>[len(documents), width]."""
  ids = np.zeros((len(documents), width), np.int32)
  for row, tokens in enumerate(documents):
    ids[row, :len(tokens)] = tokens
  return jnp.asarray(ids)


def at_widths(fn, documents=DOCUMENTS):
  """fn(ids) -> a pytree of [batch, ...] arrays, cut to the narrowest width, at each of WIDTHS."""
  return [jax.tree.map(lambda x: np.asarray(x)[..., :WIDTHS[0]] if x.ndim > 1 and x.shape[-1] == width else
                       np.asarray(x), fn(padded(documents, width))) for width in WIDTHS]


def assert_same(results):
  for result in results[1:]:
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=1e-6), results[0], result)


def reference_empty_logits(model, params):
  """The model applied to a document of one PAD token, through its own __call__."""
  return np.asarray(model.apply({'params': params}, jnp.zeros((1, 1), jnp.int32))[0][0])


def every_subset(key, mask, samples):
  """Coalition s keeps the tokens at the set bits of s: <bool>[samples, batch, seq], the same at every width."""
  del key
  bits = (jnp.arange(samples)[:, None] >> jnp.arange(mask.shape[1])) & 1
  return (bits[:, None, :] == 1) & mask


def test_occlusion_of_a_one_token_document_is_its_drop_to_the_empty_document(classifier_):
  model, params = classifier_
  results = at_widths(lambda ids: explain.make_explainer('occlusion', model)(params, ids, ids != 0))
  assert_same(results)
  ids = padded(DOCUMENTS[:1], 1)
  label = int(jnp.argmax(contract.apply(model, params, ids)[0][0]))
  probs = lambda logits: np.asarray(jax.nn.softmax(logits))[label]
  expected = probs(contract.apply(model, params, ids)[0][0]) - probs(reference_empty_logits(model, params))
  np.testing.assert_allclose(results[0][0, 0], expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize('name', ['kernel_shap', 'lime'])
def test_coalition_explainers_under_pad_removal(x64, classifier_, monkeypatch, name):
  model, params = classifier_
  monkeypatch.setattr(explain, f'{name}_coalitions', every_subset)
  fn = jax.jit(getattr(explain, name), static_argnums=0, static_argnames=('removal', 'samples'))
  results = at_widths(lambda ids: fn(model, params, ids, ids != 0, jax.random.key(0), removal='pad', samples=32))
  assert_same(results)
  if name == 'kernel_shap':  # efficiency: the scores sum to f(x) - f(empty document)
    ids = padded(DOCUMENTS, 8)
    probs = np.asarray(contract.predict_proba(model, params, ids, ids != 0))
    label = probs.argmax(-1)
    empty = np.asarray(jax.nn.softmax(reference_empty_logits(model, params)))[label]
    np.testing.assert_allclose(results[0].sum(-1), probs[np.arange(2), label] - empty, rtol=0, atol=1e-5)


@pytest.mark.parametrize('mode', ['pad', 'pad_fixed', 'delete'])
def test_eraser_removing_every_token_scores_the_empty_document(classifier_, mode):
  model, params = classifier_
  scores = lambda ids: jnp.where(ids != 0, -jnp.arange(ids.shape[1], dtype=jnp.float32), 0.)
  results = at_widths(lambda ids: eraser.eraser_scores(model, params, ids, scores(ids), mode=mode))
  assert_same(results)
  ids = padded(DOCUMENTS[:1], 1)
  probs = np.asarray(contract.predict_proba(model, params, ids, ids != 0))[0]
  empty = np.asarray(jax.nn.softmax(reference_empty_logits(model, params)))
  np.testing.assert_allclose(results[0]['comprehensiveness'][0], probs.max() - empty[probs.argmax()], atol=1e-6)


def test_deletion_flips_at_its_last_token_whatever_the_width(classifier_):
  """Every one-token document of the vocabulary: whether removing its token flips the label."""
  model, params = classifier_
  documents = [[t] for t in range(2, VOCAB)]
  results = at_widths(lambda ids: deletion.first_flips(model, params, ids, jnp.ones(ids.shape), mode='pad_fixed')[:2],
                      documents)
  assert_same(results)
  ids = padded(documents, 1)
  empty_label = int(np.argmax(reference_empty_logits(model, params)))
  np.testing.assert_array_equal(results[0][1], np.asarray(contract.apply(model, params, ids)[0]).argmax(-1) !=
                                empty_label)
