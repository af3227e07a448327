"""Faithfulness evaluations: every vectorised path against a per-example loop reference."""

import heapq

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import conftest

from faithjax import config as config_lib
from faithjax import metrics
from faithjax import train
from faithjax.data import encode
from faithjax.data import synthetic
from faithjax.faithfulness import deletion
from faithjax.faithfulness import eraser
from faithjax.faithfulness import evaluations
from faithjax.faithfulness import shuffle
from faithjax.faithfulness import weak_learner
from faithjax.models import classifier
from faithjax.models import contract
from faithjax.models import weak_learner as wl

# Compiling is most of this file's time, so every classifier here has the same
# shapes (the corpus' vocabulary, documents of 9..16 tokens: one bucket width)
# and every deletion runs pools of BATCH examples, SLOTS at a time, in chunks of
# CHUNK: one program per mode.
BATCH, WIDTH, SLOTS, CHUNK = 24, 16, 5, 4
DELETION = dict(pool=BATCH, slots=SLOTS, chunk=CHUNK)


@pytest.fixture(scope='module')
def corpus():
  raw = synthetic.generate(seed=0, sizes={'train': 600, 'valid': 150, 'test': 200}, min_len=9, max_len=WIDTH)
  return encode.encode_corpus('synthetic', raw)[0]


@pytest.fixture(scope='module')
def random_classifier(model):
  """Each classifier of faithjax.models with random parameters: deletion and ERASER against the loops."""
  return model, contract.init(model, jax.random.key(1))


@pytest.fixture(scope='module')
def trained_classifier(corpus, tmp_path_factory):
  model = conftest.tiny_classifier('bilstm', len(corpus.vocab))
  config = config_lib.RunConfig(epochs=3, learning_rate=1e-2)
  params, history = train.train_classifier(model, corpus, config, str(tmp_path_factory.mktemp('classifier')))
  assert history[-1]['valid_accuracy'] > 0.9
  return model, params


@pytest.fixture(scope='module')
def random_batch(corpus):
  """ids [BATCH, WIDTH] with lengths 0..WIDTH and integer-valued scores: many ties, +0.0 and -0.0 among them."""
  rng = np.random.default_rng(0)
  lengths = np.concatenate([[0, 1, 2, WIDTH], rng.integers(3, WIDTH + 1, BATCH - 4)])
  ids = np.zeros((BATCH, WIDTH), np.int32)
  for row, n in enumerate(lengths):
    ids[row, :n] = rng.integers(2, len(corpus.vocab), n)
  scores = rng.integers(-2, 3, ids.shape).astype(np.float32)
  scores[rng.random(ids.shape) < 0.2] = -0.0
  return ids, scores


# Per-example references: plain Python over one unpadded example at a time.

def _ragged(ids, values):
  """Rows of a padded batch -> (token lists, value lists) cut at each row's length."""
  lengths = (ids != 0).sum(-1)
  return [list(x[:n]) for x, n in zip(ids, lengths)], [list(v[:n]) for v, n in zip(values, lengths)]


def _ranking(scores, absolute):
  key = [abs(s) if absolute else s for s in scores]
  return sorted(range(len(scores)), key=lambda t: (-key[t], t))


def _removed(tokens, drop, mode):
  if mode == 'delete':
    return [x for t, x in enumerate(tokens) if t not in drop]
  filler = 1 if mode == 'unk' else 0
  return [filler if t in drop else x for t, x in enumerate(tokens)]


def _probabilities(model, params, tokens, width, span=None):
  """The classifier's probabilities of one document; span: how many positions a recurrence steps over (the
  original length under the fixed pad rule; default: up to the last real token). A document without a real
  token is the empty document: one PAD position, whatever `width` and `span`."""
  if not any(tokens):
    tokens, width, span = [], 1, None
  ids = np.zeros((1, width), np.int32)
  ids[0, :len(tokens)] = tokens
  if span is None:
    return np.asarray(contract.predict_proba(model, params, ids, ids != 0))[0]
  logits, _ = contract.logits_from_inputs(model, params, contract.inputs(model, params, ids), ids != 0,
                                          span=np.arange(width)[None] < span)
  return np.asarray(jax.nn.softmax(logits[0]))


def _edited_probabilities(model, params, tokens, drop, mode, width):
  span = len(tokens) if mode == 'pad_fixed' else None
  return _probabilities(model, params, _removed(tokens, drop, mode), width, span)


def deletion_loop(model, params, tokens, scores, width, mode='pad', absolute=False):
  """The first k whose prediction differs from the original, or n: a per-example loop."""
  order = _ranking(scores, absolute)
  label = _probabilities(model, params, tokens, width).argmax()
  for k in range(1, len(tokens) + 1):
    if _edited_probabilities(model, params, tokens, set(order[:k]), mode, width).argmax() != label:
      return k
  return len(tokens)


def eraser_loop(model, params, tokens, scores, width, mode='pad', absolute=False):
  """(comprehensiveness, sufficiency) per ERASER bin for one example."""
  order = _ranking(scores, absolute)
  probs = _probabilities(model, params, tokens, width)
  label = probs.argmax()
  comp, suff = [], []
  for percent in eraser.PERCENTS:
    top = set(order[:int(np.ceil(percent * len(tokens) / 100))])
    rest = set(range(len(tokens))) - top
    comp.append(probs[label] - _edited_probabilities(model, params, tokens, top, mode, width)[label])
    suff.append(probs[label] - _edited_probabilities(model, params, tokens, rest, mode, width)[label])
  return comp, suff


def shuffle_loop(params, tokens, scores, key, permutations, norm='l2'):
  """Median TVD of one example in numpy: its own permutations, the weak learner's maths written out."""
  scores = np.asarray(scores, np.float64)
  weights = np.abs(scores) / np.abs(scores).sum() if norm == 'l1' else scores / np.linalg.norm(scores)
  states = np.tanh(params['embedding']['embedding'][tokens] @ params['token_mlp']['kernel']
                   + params['token_mlp']['bias'])
  def probabilities(w):
    logits = (w @ states) @ params['output']['kernel'] + params['output']['bias']
    return np.exp(logits) / np.exp(logits).sum()
  # drawn at another width than the bucket's: a position's bits must not depend on it
  draws = np.asarray(jax.vmap(lambda k: jax.random.bits(k, (4 * WIDTH,), jnp.uint32))(
      jax.random.split(key, permutations)))[:, :len(tokens)] >> 1
  return np.median([metrics.tvd(probabilities(weights), probabilities(weights[np.argsort(d, kind='stable')]))
                    for d in draws])


# Deletion until flip.

@pytest.mark.parametrize('mode', [*deletion.MODES, 'pad_fixed'])
@pytest.mark.parametrize('absolute', [False, True])
def test_first_flips_match_loop(random_classifier, random_batch, mode, absolute):
  model, params = random_classifier
  ids, scores = random_batch
  counts, flipped, _ = deletion.first_flips(model, params, ids, scores, absolute=absolute, mode=mode, chunk=CHUNK,
                                            slots=SLOTS)
  expected = [deletion_loop(model, params, t, s, WIDTH, mode, absolute) for t, s in zip(*_ragged(ids, scores))]
  np.testing.assert_array_equal(counts, expected)
  assert 0 < np.sum(flipped) < len(ids) - 1  # both outcomes occur (the empty row never flips)


def test_deletion_rates_on_trained_model_match_loop(trained_classifier, corpus):
  model, params = trained_classifier
  test = corpus.splits['test'].subset(np.arange(40))
  scores = np.random.default_rng(1).standard_normal(len(test.ids)).astype(np.float32)
  rates = deletion.deletion_rates(model, params, test, scores, **DELETION)
  expected = []
  for i, n in enumerate(test.lengths):
    span = slice(test.offsets[i], test.offsets[i + 1])
    k = deletion_loop(model, params, list(test.ids[span]), list(scores[span]), encode.bucket_width(n))
    expected.append(k / n)
  np.testing.assert_allclose(rates, expected, rtol=0, atol=1e-12)


def schedule_steps(counts, slots=SLOTS, chunk=CHUNK):
  """Forwards first_flips should run: example i holds a slot for counts[i] // chunk + 1 steps
  (its chunks start at k = 0), and each freed slot takes the next example, lowest slot first."""
  free = [(0, slot) for slot in range(slots)]
  for count in counts:
    step, slot = heapq.heappop(free)
    heapq.heappush(free, (step + int(count) // chunk + 1, slot))
  return max(step for step, _ in free)


def test_cost_follows_each_examples_flip_point(random_classifier, random_batch):
  model, params = random_classifier
  ids, scores = random_batch
  counts, _, steps = deletion.first_flips(model, params, ids, scores, chunk=CHUNK, slots=SLOTS)
  assert steps == schedule_steps(counts)
  # fixed batches of SLOTS examples would each run as long as their slowest example
  batched = sum(max(c // CHUNK + 1 for c in counts[i:i + SLOTS]) for i in range(0, BATCH, SLOTS))
  assert steps < batched
  # A pool padded with empty rows (as map_split pads the last pool) costs no extra step.
  padded = [np.pad(x, ((0, 3 * BATCH), (0, 0))) for x in (ids, scores)]
  padded_counts, _, padded_steps = deletion.first_flips(model, params, *padded, chunk=CHUNK, slots=SLOTS)
  np.testing.assert_array_equal(padded_counts[:BATCH], counts)
  assert padded_steps == steps


def test_never_flipping_examples_rate_one(random_classifier, random_batch):
  model, params = random_classifier
  stubborn = jax.tree.map(lambda x: x, params)
  stubborn['output']['bias'] = jnp.array([100., -100.])  # class 0 whatever the input
  ids, scores = random_batch
  counts, flipped, steps = deletion.first_flips(model, stubborn, ids, scores, chunk=CHUNK, slots=SLOTS)
  assert not np.any(flipped)
  np.testing.assert_array_equal(counts, (ids != 0).sum(-1))
  assert steps == schedule_steps(counts)  # every example ran to its end
  split = encode.EncodedSplit.from_lists([list(x[x != 0]) for x in ids], np.zeros(len(ids)))
  rates = deletion.deletion_rates(model, stubborn, split, scores[ids != 0], **DELETION)
  np.testing.assert_array_equal(rates, 1.0)


def test_faithful_map_deletes_fewer_tokens(trained_classifier, corpus):
  model, params = trained_classifier
  test = corpus.splits['test']
  rate = lambda scores: deletion.deletion_rates(model, params, test, scores, **DELETION)
  rationale = rate(test.rationale.astype(np.float32))
  random = rate(np.random.default_rng(0).standard_normal(len(test.ids)).astype(np.float32))
  assert rationale.mean() + 0.1 < random.mean()


# ERASER comprehensiveness and sufficiency.

def test_removal_counts_round_up():
  counts = eraser.removal_counts(jnp.array([0, 1, 3, 10, 20, 199]), (1, 5, 10, 20, 50))
  np.testing.assert_array_equal(counts, [[0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 1, 2],
                                         [1, 1, 1, 2, 5], [1, 1, 2, 4, 10], [2, 10, 20, 40, 100]])


@pytest.mark.parametrize('mode,absolute', [('pad', False), ('pad', True), ('pad_fixed', False), ('unk', False),
                                           ('delete', False)])
def test_eraser_matches_loop(random_classifier, random_batch, mode, absolute):
  model, params = random_classifier
  ids, scores = random_batch
  got = eraser.eraser_scores(model, params, ids, scores, mode=mode, absolute=absolute)
  rows = [eraser_loop(model, params, t, s, WIDTH, mode, absolute) for t, s in zip(*_ragged(ids, scores))]
  comp, suff = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
  np.testing.assert_allclose(got['comprehensiveness'], comp, atol=1e-6)
  np.testing.assert_allclose(got['sufficiency'], suff, atol=1e-6)
  np.testing.assert_allclose(got['aopc_comprehensiveness'], comp.mean(-1), atol=1e-6)
  np.testing.assert_allclose(got['aopc_sufficiency'], suff.mean(-1), atol=1e-6)
  assert np.abs(comp).max() > 1e-3 and np.abs(suff).max() > 1e-3


def test_eraser_metrics_on_trained_model(trained_classifier, corpus):
  model, params = trained_classifier
  test = corpus.splits['test'].subset(np.arange(30))
  rationale = test.rationale.astype(np.float32)
  got = eraser.eraser_metrics(model, params, test, rationale, batch_size=BATCH)
  rows = [eraser_loop(model, params, list(test.ids[a:b]), list(rationale[a:b]), WIDTH)
          for a, b in zip(test.offsets[:-1], test.offsets[1:])]
  np.testing.assert_allclose(got['comprehensiveness'], [r[0] for r in rows], atol=1e-6)
  np.testing.assert_allclose(got['sufficiency'], [r[1] for r in rows], atol=1e-6)
  random = np.random.default_rng(0).standard_normal(len(test.ids)).astype(np.float32)
  baseline = eraser.eraser_metrics(model, params, test, random, batch_size=BATCH)
  assert got['aopc_comprehensiveness'].mean() > baseline['aopc_comprehensiveness'].mean()


# Weak learner.

@pytest.mark.parametrize('norm', weak_learner.NORMS)
def test_normalise(norm):
  scores = jnp.array([[3., -4., 9., 9.], [0., 0., 5., 5.], [2., -2., 1., 7.]])
  mask = jnp.array([[True, True, False, False], [True, True, False, False], [True, True, True, True]])
  weights = np.asarray(weak_learner.normalise(scores, mask, norm))
  np.testing.assert_array_equal(weights[~np.asarray(mask)], 0.)
  np.testing.assert_array_equal(weights[1], 0.)  # all-zero map over real tokens
  order = 1 if norm == 'l1' else 2
  np.testing.assert_allclose(np.linalg.norm(weights[[0, 2]], ord=order, axis=-1), 1., rtol=1e-6)
  if norm == 'l1':
    np.testing.assert_allclose(weights[0, :2], [3 / 7, 4 / 7], rtol=1e-6)
  else:
    np.testing.assert_allclose(weights[0, :2], [0.6, -0.8], rtol=1e-6)


@pytest.fixture(scope='module')
def weak_learners(corpus, tmp_path_factory):
  """A weak learner trained on each of: the planted rationale, uniform, random."""
  model = wl.WeakLearner(vocab_size=len(corpus.vocab), emb_dim=16, hidden=16)
  config = config_lib.RunConfig(epochs=5)
  maps = {'rationale': {s: corpus.splits[s].rationale.astype(np.float32) for s in encode.SPLITS},
          'uniform': {s: np.ones(len(corpus.splits[s].ids), np.float32) for s in encode.SPLITS},
          'random': {s: np.random.default_rng(0).standard_normal(len(corpus.splits[s].ids)).astype(np.float32)
                     for s in encode.SPLITS}}
  return model, {name: weak_learner.train_weak_learner(model, corpus, maps[name], config,
                                                      str(tmp_path_factory.mktemp(name)), fresh_map=name == 'random')
                 for name in maps}


def test_weak_learner_learns_from_its_map(weak_learners):
  _, results = weak_learners
  for result in results.values():
    assert [h['epoch'] for h in result.history] == [1, 2, 3, 4, 5]
    assert all(np.isfinite(h['valid_loss']) for h in result.history)
  history = results['rationale'].history
  assert history[-1]['train_loss'] < 0.5 * history[0]['train_loss']
  assert history[-1]['valid_loss'] < history[0]['valid_loss']
  f1 = {name: result.test['f1'] for name, result in results.items()}
  assert f1['rationale'] >= f1['uniform'] and f1['rationale'] > f1['random'] + 0.3, f1


# Shuffle test.

def test_shuffle_matches_loop_and_ignores_batching(weak_learners, corpus):
  model, results = weak_learners
  params = results['rationale'].params
  test = corpus.splits['test'].subset(np.arange(30))
  scores = np.random.default_rng(3).standard_normal(len(test.ids)).astype(np.float32)
  scores[::3] = 1.0  # ties
  run = lambda norm, batch_size: shuffle.shuffle_test(model, params, test, scores, norm=norm, permutations=20,
                                                      seed=5, batch_size=batch_size)
  for norm, batch_size in [('l2', 8), ('l1', 64)]:
    result = run(norm, batch_size)
    expected = [shuffle_loop(jax.device_get(params), test.ids[a:b], scores[a:b],
                             jax.random.fold_in(jax.random.key(5), i), 20, norm)
                for i, (a, b) in enumerate(zip(test.offsets[:-1], test.offsets[1:]))]
    np.testing.assert_allclose(result['median_tvd'], expected, atol=1e-6)
    assert np.all(result['median_tvd'] > 0)
    assert result['ci95'][0] <= result['mean'] <= result['ci95'][1]
  np.testing.assert_array_equal(run('l2', 64)['median_tvd'], run('l2', 8)['median_tvd'])


def test_shuffle_on_a_subset_keeps_each_examples_permutations(weak_learners, corpus):
  """With rows = the subset's indices, a subset's TVDs are the whole split's at those indices."""
  model, results = weak_learners
  params = results['rationale'].params
  test = corpus.splits['test'].subset(np.arange(30))
  scores = np.random.default_rng(4).standard_normal(len(test.ids)).astype(np.float32)
  run = lambda split, values, **kw: shuffle.shuffle_test(model, params, split, values, permutations=20, seed=2,
                                                         batch_size=8, **kw)['median_tvd']
  subset = np.arange(1, 30, 3)
  whole, part = run(test, scores), test.subset(subset)
  np.testing.assert_array_equal(run(part, test.subset_values(subset, scores), rows=subset), whole[subset])
  # Without rows the subset's examples draw the keys of rows 0..9: other permutations.
  assert not np.array_equal(run(part, test.subset_values(subset, scores)), whole[subset])


def test_shuffle_tvd_grows_with_concentration(weak_learners, corpus):
  model, results = weak_learners
  params = results['uniform'].params
  test = corpus.splits['test']
  uniform = shuffle.shuffle_test(model, params, test, np.ones(len(test.ids), np.float32))
  first_token = np.zeros(len(test.ids), np.float32)
  first_token[test.offsets[:-1]] = 1.
  concentrated = shuffle.shuffle_test(model, params, test, first_token)
  np.testing.assert_array_equal(uniform['median_tvd'], 0.)
  assert np.all((concentrated['median_tvd'] >= 0) & (concentrated['median_tvd'] <= 1))
  assert concentrated['mean'] > 0.05


def test_an_evaluations_difference_is_oriented_and_averages_the_runs():
  rng = np.random.default_rng(0)
  runs_a = [{'rates': rng.random(50)} for _ in range(2)]
  runs_b = [{'rates': rng.random(50) + 0.3} for _ in range(2)]
  result = evaluations.SCORES['deletion_rate'].difference(runs_a, runs_b)
  pooled = lambda runs: np.concatenate([r['rates'] for r in runs])
  # Lower deletion rate = more faithful: a's lower rates make a positive difference.
  assert result['difference'] == pytest.approx(pooled(runs_b).mean() - pooled(runs_a).mean(), abs=1e-12)
  assert result['n'] == 100 and 0 < result['ci95'][0] < result['difference'] < result['ci95'][1]
  # Crossed runs: the examples' shared effect counts. Two seeds that score the same examples alike leave the
  # examples' spread in the interval, which pooling them as 100 independent pairs would halve in variance.
  shared = [{'rates': rng.random(50)}] * 2
  crossed = evaluations.SCORES['deletion_rate'].difference(shared, [{'rates': np.full(50, .5)}] * 2)
  single = evaluations.SCORES['deletion_rate'].difference(shared[:1], [{'rates': np.full(50, .5)}])
  width = lambda r: r['ci95'][1] - r['ci95'][0]
  assert width(crossed) == pytest.approx(width(single), rel=0.1)
  with pytest.raises(ValueError, match='one run per side'):
    evaluations.SCORES['deletion_rate'].difference(runs_a, runs_b, paired=False)
  assert not evaluations.Score('a mean with nothing per example', 1., 'x', statistic='s').resampled
  labels = rng.integers(0, 2, 80)
  probs = lambda accuracy: np.eye(2)[np.where(rng.random(80) < accuracy, labels, 1 - labels)]
  good, poor = {'labels': labels, 'test_probs': probs(0.95)}, {'labels': labels, 'test_probs': probs(0.6)}
  f1 = evaluations.SCORES['weak_learner_f1'].difference([good], [poor])
  assert f1['difference'] == pytest.approx(metrics.f1(labels, good['test_probs'].argmax(-1))
                                           - metrics.f1(labels, poor['test_probs'].argmax(-1)), abs=1e-12)


# Three classes: every evaluation reads the arg-max and the predicted class's probability, never class 1's.

@pytest.fixture(scope='module')
def three_classes(corpus):
  """A BiLSTM and a weak learner with three outputs and random parameters."""
  model = classifier.Classifier(vocab_size=len(corpus.vocab), num_classes=3, emb_dim=16, hidden=8, att_hidden=8)
  weak = wl.WeakLearner(vocab_size=len(corpus.vocab), num_classes=3, emb_dim=16, hidden=16)
  return model, contract.init(model, jax.random.key(2)), weak, wl.init(weak, jax.random.key(3))


def test_three_classes_deletion_and_eraser_match_the_loops(three_classes, random_batch, monkeypatch):
  # the loops' forward compiled once: called eagerly, this file's first classifier of three classes costs ~0.3 s a
  # call on a loaded CPU, and the loops make hundreds
  monkeypatch.setattr(contract, 'predict_proba', jax.jit(contract.predict_proba, static_argnums=0))
  model, params, _, _ = three_classes
  ids, scores = random_batch
  predicted = np.asarray(contract.predict_proba(model, params, ids, ids != 0)).argmax(-1)
  assert len(set(predicted[(ids != 0).any(-1)])) == 3  # every class is some example's prediction
  counts, flipped, _ = deletion.first_flips(model, params, ids, scores, mode='pad', chunk=CHUNK, slots=SLOTS)
  examples = list(zip(*_ragged(ids, scores)))
  np.testing.assert_array_equal(counts, [deletion_loop(model, params, t, s, WIDTH, 'pad') for t, s in examples])
  assert 0 < np.sum(flipped)
  got = eraser.eraser_scores(model, params, ids, scores, mode='pad')
  rows = [eraser_loop(model, params, t, s, WIDTH, 'pad') for t, s in examples]
  np.testing.assert_allclose(got['comprehensiveness'], [r[0] for r in rows], atol=1e-6)
  np.testing.assert_allclose(got['sufficiency'], [r[1] for r in rows], atol=1e-6)


def test_three_classes_shuffle_tvd_sums_over_every_class(three_classes, corpus):
  _, _, weak, params = three_classes
  test = corpus.splits['test'].subset(np.arange(12))
  scores = np.random.default_rng(6).standard_normal(len(test.ids)).astype(np.float32)
  got = shuffle.shuffle_test(weak, params, test, scores, permutations=10, seed=4, batch_size=BATCH)['median_tvd']
  expected = [shuffle_loop(jax.device_get(params), test.ids[a:b], scores[a:b],
                           jax.random.fold_in(jax.random.key(4), i), 10)
              for i, (a, b) in enumerate(zip(test.offsets[:-1], test.offsets[1:]))]
  np.testing.assert_allclose(got, expected, atol=1e-6)
  assert np.all(got > 0)


def test_three_classes_weak_learner_f1_units_are_the_macro_f1():
  rng = np.random.default_rng(7)
  saved = {'labels': rng.integers(0, 3, 50), 'test_probs': rng.dirichlet(np.ones(3), 50)}
  (labels, predictions), statistic = weak_learner.f1_units(saved)
  per_class = [metrics.f1(labels, predictions, c) for c in range(3)]
  assert statistic(labels, predictions) == pytest.approx(np.mean(per_class))
  summary = weak_learner.summarise({**saved, 'valid_loss': np.ones(2)})
  assert summary['f1'] == pytest.approx(np.mean(per_class)) and summary['f1_average'] == 'macro'
