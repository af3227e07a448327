"""The classifier, training, checkpoints, determinism and the command line."""

import functools
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from faithjax import FaithjaxError
from faithjax import config as config_lib
from faithjax import explain
from faithjax import io
from faithjax import pipeline
from faithjax import streams
from faithjax import train
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.data import synthetic
from faithjax.data import text
from faithjax.models import classifier
from faithjax.models import contract

import conftest
from conftest import run_cli

SMALL = dict(emb_dim=16, hidden=8, att_hidden=8)


@pytest.fixture(scope='module')
def corpus():
  raw = synthetic.generate(0, sizes={"train": 512, "valid": 64, "test": 64}, max_len=20)
  return encode.encode_corpus('synthetic', raw)[0]


@pytest.mark.parametrize('bidirectional', [True, False])
def test_shapes_and_attention_masks_pad(bidirectional):
  model = classifier.Classifier(vocab_size=30, bidirectional=bidirectional, **SMALL)
  params = contract.init(model, jax.random.key(0))
  ids = jnp.array([[5, 6, 7, 0, 0, 0], [8, 9, 10, 11, 12, 13]])
  logits, attention = contract.apply(model, params, ids)
  assert logits.shape == (2, 2) and attention.shape == (2, 6)
  np.testing.assert_allclose(attention.sum(-1), 1.0, rtol=1e-6)
  assert np.all(np.asarray(attention)[0, 3:] == 0)


@pytest.mark.parametrize('bidirectional', [True, False])
def test_pad_ids_and_padding_width_change_nothing(bidirectional):
  model = classifier.Classifier(vocab_size=30, bidirectional=bidirectional, **SMALL)
  params = contract.init(model, jax.random.key(1))
  ids = jnp.array([[5, 6, 7, 0, 0]])
  mask = ids != text.PAD_ID
  reference, _ = contract.apply(model, params, ids, mask)
  other_pad_ids, _ = contract.apply(model, params, ids.at[0, 3:].set(17), mask)
  wider = jnp.pad(ids, ((0, 0), (0, 11)))
  wider_logits, _ = contract.apply(model, params, wider, wider != 0)
  np.testing.assert_allclose(other_pad_ids, reference, atol=1e-6)
  np.testing.assert_allclose(wider_logits, reference, atol=1e-6)


def test_a_real_token_does_change_the_prediction():
  # The invariance above must not come from a model that ignores its input.
  model = classifier.Classifier(vocab_size=30, **SMALL)
  params = contract.init(model, jax.random.key(1))
  a, _ = contract.apply(model, params, jnp.array([[5, 6, 7]]))
  b, _ = contract.apply(model, params, jnp.array([[5, 6, 8]]))
  assert np.abs(np.asarray(a - b)).max() > 1e-6


def train_small(corpus, ckpt_dir, epochs, seed=0):
  model = classifier.Classifier(vocab_size=len(corpus.vocab), **SMALL)
  config = config_lib.RunConfig(epochs=epochs, seed=seed, learning_rate=1e-2)
  params, history = train.train_classifier(model, corpus, config, str(ckpt_dir))
  return model, params, history


def test_training_lowers_loss_and_learns(corpus, tmp_path):
  model, params, history = train_small(corpus, tmp_path, epochs=3)
  assert history[-1]['train_loss'] < history[0]['train_loss']
  probs = train.predict_split(model, params, corpus.splits['test'])
  assert np.mean(probs.argmax(-1) == corpus.splits['test'].labels) > 0.8


@pytest.mark.parametrize('kind', ['bilstm', 'transformer'])
def test_weight_decay_spares_the_attention_pooling_only(kind):
  """One optimiser update from a zero loss gradient: the decay's gradient is g = l2 * w, and AMSGrad's first
  step is -lr * g / (|g| + eps) on each decayed weight w; exactly 0 on the attention pooling (Jain & Wallace)."""
  # Jitted: one program each rather than an eager compile per operation and shape.
  params = jax.jit(contract.init, static_argnums=0)(conftest.tiny_classifier(kind, 30), jax.random.key(0))
  learning_rate, l2, eps = 0.5, 2.0, 1e-8  # eps: optax's AMSGrad default
  tx = train.optimizer(learning_rate=learning_rate, l2=l2)
  updates, _ = jax.jit(lambda p: tx.update(jax.tree.map(jnp.zeros_like, p), tx.init(p), p))(params)
  decayed = 0
  for path, update in jax.tree_util.tree_flatten_with_path(updates)[0]:
    weight = np.asarray(functools.reduce(lambda tree, key: tree[key.key], path, params))
    if path[0].key == 'attention':
      np.testing.assert_array_equal(update, 0, err_msg=jax.tree_util.keystr(path))
    else:
      expected = -learning_rate * l2 * weight / (np.abs(l2 * weight) + eps)
      np.testing.assert_allclose(update, expected, rtol=1e-5, atol=1e-7, err_msg=jax.tree_util.keystr(path))
      decayed += int(np.count_nonzero(weight))
  assert set(params['attention']) == {'W', 'v'} and decayed > 0


def test_predict_split_matches_one_example_at_a_time_and_compiles_once_per_width(corpus):
  model = classifier.Classifier(vocab_size=len(corpus.vocab), **SMALL)
  params = contract.init(model, jax.random.key(1))
  test = corpus.splits['test']
  expected = np.stack([np.asarray(contract.predict_proba(model, params, ids[None], ids[None] != 0))[0]
                       for ids in (test.padded([i], test.lengths[i])[0] for i in range(len(test)))])
  contract.predict_proba.clear_cache()
  # Batch size 5 leaves tails of several sizes; each bucket width still compiles once.
  np.testing.assert_allclose(train.predict_split(model, params, test, batch_size=5), expected, rtol=1e-5, atol=1e-6)
  widths = {w for _, w in encode.batches(test.lengths, 5)}
  assert contract.predict_proba._cache_size() == len(widths)


def test_checkpoint_restore_gives_identical_predictions(corpus, tmp_path):
  model, params, _ = train_small(corpus, tmp_path, epochs=2)
  abstract = jax.eval_shape(lambda: contract.init(model, jax.random.key(0)))
  restored = train.restore_best(str(tmp_path), abstract)
  test = corpus.splits['test']
  np.testing.assert_array_equal(train.predict_split(model, restored, test),
                                train.predict_split(model, params, test))


def test_resumed_training_ends_at_the_same_parameters(corpus, tmp_path):
  _, straight, straight_history = train_small(corpus, tmp_path / 'straight', epochs=3)
  train_small(corpus, tmp_path / 'resumed', epochs=1)  # "interrupted" after epoch 1
  _, resumed, resumed_history = train_small(corpus, tmp_path / 'resumed', epochs=3)
  jax.tree_util.tree_map(np.testing.assert_array_equal, resumed, straight)
  assert resumed_history == straight_history


def test_same_seed_same_numbers_other_seed_other_numbers(corpus, tmp_path):
  _, a, _ = train_small(corpus, tmp_path / 'a', epochs=1, seed=3)
  _, b, _ = train_small(corpus, tmp_path / 'b', epochs=1, seed=3)
  _, c, _ = train_small(corpus, tmp_path / 'c', epochs=1, seed=4)
  jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
  assert not np.array_equal(a['output']['kernel'], c['output']['kernel'])


def test_synthetic_is_deterministic_and_labels_follow_the_evidence():
  a, b = synthetic.generate(7), synthetic.generate(7)
  assert a['train'][0] == b['train'][0] and np.array_equal(a['train'][1], b['train'][1])
  docs, labels, rationales = a['test']
  for tokens, label, rationale in zip(docs, labels, rationales):
    planted = [t for t, r in zip(tokens, rationale) if r]
    assert planted and all(t.startswith('pos' if label else 'neg') for t in planted)
    assert not any(t.startswith(('pos', 'neg')) for t, r in zip(tokens, rationale) if not r)


def test_buckets_cover_every_example_once():
  lengths = np.array([3, 9, 17, 8, 40, 1, 16])
  seen = np.concatenate([idx for idx, width in encode.batches(lengths, 2, np.random.default_rng(0))
                         if np.all(lengths[idx] <= width)])
  assert sorted(seen) == list(range(len(lengths)))


def test_seeds_share_the_data_and_split_seeds_change_it(tmp_path):
  def encoded(**seeds):
    config = config_lib.make_config('synthetic', **seeds)
    pipeline.run_pipeline(config, tmp_path / str(seeds), stages=('encode',))
    return encode.EncodedCorpus.load(tmp_path / str(seeds) / 'corpus.npz')

  base, other_seed, other_split = encoded(seed=0), encoded(seed=3), encoded(split_seed=3)
  assert base.vocab == other_seed.vocab  # so their checkpoints stack in --mode=reevaluate
  assert all(np.array_equal(base.splits[s].ids, other_seed.splits[s].ids) for s in encode.SPLITS)
  assert not np.array_equal(base.splits['train'].ids, other_split.splits['train'].ids)


@pytest.mark.parametrize('overrides, message', [
    ({'epochs': 0}, '--epochs must be a positive integer'),
    ({'learning_rate': -1.0}, '--learning_rate must be > 0'),
    ({'seed': -2}, '--seed must be >= 0'),
    ({'split_seed': -1}, '--split_seed must be >= 0'),
    ({'preset': 'gpu'}, 'unknown preset'),
    ({'explainer.integrated_gradients.quadrature': 'trapezoid', 'explainer.integrated_gradients.steps': 1},
     'steps must be in 2..100,000 under trapezoid'),
    ({'explainer.integrated_gradients.steps': '4'}, r'--explainer.integrated_gradients.steps must be a int'),
    ({'explainer.lime.samples': 0}, 'samples must be in 1..100,000'),
    ({'explainer.lime.nodes': 3}, r"lime takes the options \('removal', 'samples', 'ridge'\); got \['nodes'\]"),
    ({'explainer.deeplift.steps': 3}, r"options for unknown explainer\(s\) \['deeplift'\]"),
    ({'explainers': ['saliency', 'deeplift']}, '--explainers=deeplift is not one of'),
    ({'explainers': ['saliency.sqrt']}, r"unknown map transform\(s\) \['sqrt'\]"),
    ({'test_subset': -1}, '--test_subset must be >= 0'),
    ({'model': 'rnn'}, '--model=rnn is not one of lstm, transformer'),
    ({'layers': 0}, '--layers must be a positive integer'),
])
def test_invalid_config_values_are_refused(overrides, message):
  with pytest.raises(FaithjaxError, match=message):
    config_lib.make_config('synthetic', **overrides)


def test_a_workdir_made_when_ig_options_were_fields_resumes_and_stays_guarded(tmp_path):
  """config.json of before explainer sections ({'ig_steps': 4, 'quadrature': ...}) reads as today's section, and
  as the fixed rule it was made with (no tolerance), which today's preset gives with a tolerance of 0."""
  preset = config_lib.make_config('sst', preset='cpu')
  assert preset.explainer_options('integrated_gradients').tolerance == 1e-3
  config = config_lib.make_config('sst', preset='cpu', **{config_lib.IG_TOLERANCE: 0.})
  old = {**{k: v for k, v in config.fingerprint().items() if k != 'explainer'},
         'ig_steps': 4, 'quadrature': 'gauss_legendre'}
  io.save_json(str(tmp_path / 'config.json'), old)
  workdir_lib.prepare_workdir(str(tmp_path), config)  # the same settings: resumed
  assert config_lib.from_saved(old) == config
  for other in (preset, config.with_options('integrated_gradients', steps=5)):
    with pytest.raises(FaithjaxError, match=r'different config \(explainer\)'):
      workdir_lib.prepare_workdir(str(tmp_path), other)


def test_a_preset_sits_between_the_defaults_and_explicit_flags():
  reduced = config_lib.PRESETS['cpu']['imdb'][config_lib.IG_STEPS]
  steps = lambda config: config.explainer_options('integrated_gradients').steps
  assert steps(config_lib.make_config('imdb', preset='cpu')) == reduced == 10
  assert steps(config_lib.make_config('imdb', preset='cpu', **{config_lib.IG_STEPS: 7})) == 7
  assert steps(config_lib.make_config('imdb', preset='cpu', ig_steps=7)) == 7  # the old name, still read
  assert steps(config_lib.make_config('imdb')) == 50 != reduced


@pytest.mark.parametrize('args, message', [
    (['--corpus=mnist'], "unknown corpus 'mnist'"),
    (['--epochs=-1'], '--epochs must be a positive integer'),
    (['--stages=encode,dance'], 'unknown stage(s) dance'),
    (['--mode=reevaluate'], '--mode=reevaluate needs --checkpoints'),
    (['--mesh=64'], 'asks for more devices than the 1 present'),
    (['--explainers=deeplift'], '--explainers=deeplift is not one of'),
    (['--explainers=saliency.sqrt'], "unknown map transform(s) ['sqrt']"),
    (['--target=bar'], 'flag --target=bar: value should be one of <prob|logit|log_prob>'),
    (['--epochs=abc'], "flag --epochs=abc: invalid literal for int()"),
    (['--explainers='], '--explainers is empty'),
    (['--stages='], '--stages is empty'),
])
def test_cli_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
  result = run_cli(*args, f'--workdir={tmp_path}/w')
  assert result.returncode == 2
  error_lines = [l for l in result.stderr.splitlines() if l.startswith('faithjax: error:')]
  assert len(error_lines) == 1 and message in error_lines[0], result.stderr[-2000:]


def test_cli_unwritable_workdir(tmp_path):
  blocker = tmp_path / 'a_file'
  blocker.write_text('x')
  result = run_cli(f'--workdir={blocker}/sub')
  assert result.returncode == 2 and 'cannot write to workdir' in result.stderr


def test_cli_refuses_a_workdir_from_another_config_and_keeps_it(tmp_path):
  workdir = tmp_path / 'w'
  first = run_cli(f'--workdir={workdir}', '--stages=encode')
  assert first.returncode == 0, first.stderr[-2000:]
  before = {p: open(os.path.join(workdir, p), 'rb').read() for p in ('config.json', 'corpus.npz')}
  second = run_cli(f'--workdir={workdir}', '--stages=encode', '--seed=5')
  assert second.returncode == 2 and 'different config (seed)' in second.stderr
  assert before == {p: open(os.path.join(workdir, p), 'rb').read() for p in before}


def test_a_nan_loss_stops_training_with_a_clear_error(tmp_path):
  params = {'w': jnp.ones(3)}
  config = config_lib.RunConfig(epochs=2)
  with pytest.raises(FaithjaxError, match='training loss became nan in epoch 1'):
    train.fit(params=params, loss_fn=lambda p, batch, key: jnp.sum(p['w']) * jnp.nan,
              train_batches=lambda epoch: [jnp.zeros(1)], evaluate=lambda p: {'valid_roc_auc': 0.5},
              config=config, ckpt_dir=str(tmp_path))
  assert not (tmp_path / 'last').exists() or not any((tmp_path / 'last').iterdir())


def test_a_run_killed_between_its_best_and_last_checkpoints_resumes(corpus, tmp_path):
  _, straight, _ = train_small(corpus, tmp_path / 'straight', epochs=2)
  train_small(corpus, tmp_path / 'killed', epochs=1)
  shutil.rmtree(tmp_path / 'killed' / 'last' / '0')  # as if killed after epoch 1's 'best' save, before 'last'
  _, resumed, _ = train_small(corpus, tmp_path / 'killed', epochs=2)
  jax.tree_util.tree_map(np.testing.assert_array_equal, resumed, straight)


def test_eraser_percents_are_a_setting_in_the_fingerprint_and_an_old_config_reads_as_the_default(tmp_path):
  """A config.json of before evaluation sections reads as ERASER's default bins: same fingerprint, resumed; other
  bins (a list flag's strings) are another config."""
  config = config_lib.make_config('sst', preset='cpu')
  assert config.fingerprint()['evaluation'] == {'eraser': {'percents': [1, 5, 10, 20, 50]}}
  old = {k: v for k, v in config.fingerprint().items() if k != 'evaluation'}
  io.save_json(str(tmp_path / 'config.json'), old)
  workdir_lib.prepare_workdir(str(tmp_path), config)  # the same settings: resumed
  assert config_lib.from_saved(old) == config and config_lib.from_saved(old).fingerprint() == config.fingerprint()
  other = config_lib.make_config('sst', preset='cpu', **{'evaluation.eraser.percents': ['10', '50']})
  assert other.evaluation_options('eraser').percents == (10, 50)
  assert other.fingerprint()['evaluation'] == {'eraser': {'percents': [10, 50]}}
  assert config_lib.from_saved(other.fingerprint()) == other
  with pytest.raises(FaithjaxError, match=r'different config \(evaluation\)'):
    workdir_lib.prepare_workdir(str(tmp_path), other)


@pytest.mark.parametrize('percents, message', [(['ten'], 'must be a comma list of ints'),
                                               ([0, 50], r'must be numbers in 1\.\.100'),
                                               ([], r'must be numbers in 1\.\.100')])
def test_bad_eraser_percents_are_refused(percents, message):
  with pytest.raises(FaithjaxError, match=message):
    config_lib.make_config('synthetic', **{'evaluation.eraser.percents': percents})


def test_the_named_seed_streams_draw_what_the_inline_salts_drew():
  """streams.py names the streams; each is the value its salt gave inline before, so runs do not change."""
  same = lambda a, b: np.testing.assert_array_equal(jax.random.key_data(a), jax.random.key_data(b))
  same(streams.train_step_key(3, 2, 5), jax.random.fold_in(jax.random.key(3), 2 * 1_000_003 + 5))
  same(streams.explainer_key(3, 2), jax.random.fold_in(jax.random.key(3), 2))
  same(streams.stability_keys(3), jax.random.split(jax.random.fold_in(jax.random.key(3), 2**31 - 1)))
  for rng, salt in ((streams.baseline_rng, 15), (streams.test_subset_rng, 7), (streams.stability_rng, 36)):
    draws = lambda generator: generator.integers(1 << 30, size=4).tolist()
    assert draws(rng(3)) == draws(np.random.default_rng([3, salt]))
  salts = (streams.BASELINE_SALT, streams.TEST_SUBSET_SALT, streams.STABILITY_SALT, streams.DIAGNOSIS_SALT,
           streams.WEAK_TRAIN_SALT)
  assert len(set(salts)) == len(salts)  # no two numpy streams draw the same numbers from one seed


def test_gradient_shap_baseline_documents_is_an_option_the_pipeline_draws(tmp_path):
  """--explainer.gradient_shap.baseline_documents sets how many training documents the baselines are; the default
  is the 64 of before, and an old config (no such option) reads as it."""
  raw = synthetic.generate(seed=0, sizes={'train': 80, 'valid': 4, 'test': 4}, min_len=3, max_len=8)
  corpus = encode.encode_corpus('synthetic', raw)[0]
  config = config_lib.make_config('synthetic', explainers=('gradient_shap',))
  assert explain.draw_baseline_documents(config, corpus)['baseline_ids'].shape[0] == 64
  few = config.with_options('gradient_shap', baseline_documents=5)
  assert explain.draw_baseline_documents(few, corpus)['baseline_ids'].shape[0] == 5
  assert few.fingerprint()['explainer']['gradient_shap']['baseline_documents'] == 5
  old = config.fingerprint()
  del old['explainer']['gradient_shap']['baseline_documents']
  assert config_lib.from_saved(old).fingerprint() == config.fingerprint()
  with pytest.raises(FaithjaxError, match='baseline_documents must be >= 1'):
    config.with_options('gradient_shap', baseline_documents=0)
