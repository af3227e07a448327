"""Issue 16's protocol switches: each does what its original protocol does, and the defaults are unchanged."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from faithjax import FaithjaxError
from faithjax import config as config_lib
from faithjax import io
from faithjax import train
from faithjax import workdir as workdir_lib
from faithjax.data import corpora
from faithjax.data import text
from faithjax.faithfulness import deletion
from faithjax.faithfulness import weak_learner
from faithjax.models import classifier
from faithjax.models import contract

VOCAB, WIDTH = 30, 7


def test_tokenizer_keeps_punctuation_only_under_the_switch():
  raw = "Good, bad... isn't it?"
  assert text.tokenize(raw) == ['good', 'bad', "isn't", 'it']
  assert text.tokenize(raw, punctuation=True) == ['good', ',', 'bad', '.', '.', '.', "isn't", 'it', '?']
  with text.keeping_punctuation(True):
    assert text.tokenize(raw) == text.tokenize(raw, punctuation=True)
    # the corpus cleaners read it: IMDB's and the qqq cleaner of AG News and 20 News keep marks, SST's never does
    assert corpora.clean_imdb('A film!<br />Yes.') == ['a', 'film', '!', 'yes', '.']
    assert corpora.qqq_tokens('Up 3.5%.') == ['up', 'qqq', '%', '.']
    assert corpora.clean_sst('a fine , film .') == ['a', 'fine', 'film']
  assert text.tokenize(raw) == ['good', 'bad', "isn't", 'it']  # the block is left


def test_switches_are_flags_with_the_originals_default_where_it_was_adopted():
  config = config_lib.make_config('sst')
  assert (config.pad_rule, config.uniform_weights, config.loss_reduction, config.select_from_epoch,
          config.init_scheme, config.punctuation) == ('fixed', 'mean', 'mean', 2, 'flax', False)
  varied = config_lib.make_config('sst', pad_rule='trailing', uniform_weights='norm', loss_reduction='sum',
                                  select_from_epoch=1, init_scheme='pytorch', punctuation=True)
  assert varied.fingerprint() != config.fingerprint()
  for field, bad in (('pad_rule', 'both'), ('uniform_weights', 'sqrt'), ('loss_reduction', 'max'),
                     ('init_scheme', 'torch'), ('select_from_epoch', 0)):
    with pytest.raises(FaithjaxError, match=field):
      config_lib.make_config('sst', **{field: bad})


def test_a_workdir_from_before_the_pad_rule_field_keeps_the_rule_it_ran_with(tmp_path):
  # Such a workdir's deletion ran the trailing rule: the new default must be refused, not silently adopted.
  legacy = config_lib.make_config('synthetic', pad_rule='trailing')
  workdir_lib.prepare_workdir(str(tmp_path), legacy)
  saved = io.read_json(str(tmp_path / 'config.json'))
  del saved['pad_rule']
  io.save_json(str(tmp_path / 'config.json'), saved)
  with pytest.raises(FaithjaxError, match=r'different config \(pad_rule\)'):
    workdir_lib.prepare_workdir(str(tmp_path), config_lib.make_config('synthetic'))
  workdir_lib.prepare_workdir(str(tmp_path), legacy)
  assert io.read_json(str(tmp_path / 'config.json'))['pad_rule'] == 'trailing'  # now recorded
  # so do the selection rule and the Uniform weights, whose defaults became the original's in session 11
  for field, before, now in (('select_from_epoch', 1, 2), ('uniform_weights', 'norm', 'mean')):
    legacy = config_lib.make_config('synthetic', **{field: before})
    workdir_lib.prepare_workdir(str(tmp_path / field), legacy)
    old = {k: v for k, v in io.read_json(str(tmp_path / field / 'config.json')).items() if k != field}
    io.save_json(str(tmp_path / field / 'config.json'), old)
    with pytest.raises(FaithjaxError, match=rf'different config \({field}\)'):
      workdir_lib.prepare_workdir(str(tmp_path / field), config_lib.make_config('synthetic'))
    assert getattr(config_lib.make_config('synthetic'), field) == now
  # a field without a changed default is adopted with today's value
  del saved['loss_reduction']
  io.save_json(str(tmp_path / 'config.json'), {**saved, 'pad_rule': 'fixed'})
  workdir_lib.prepare_workdir(str(tmp_path), config_lib.make_config('synthetic'))
  assert io.read_json(str(tmp_path / 'config.json'))['loss_reduction'] == 'mean'


@pytest.fixture(scope='module')
def bilstm():
  """A BiLSTM with non-zero LSTM biases, as after training: from a zero state with zero bias, a zero input leaves
  the state at zero, so stepping over a removed token would equal skipping it and no rule could be told apart."""
  model = classifier.Classifier(vocab_size=VOCAB, emb_dim=6, hidden=5, att_hidden=4, bidirectional=True)
  params = contract.init(model, jax.random.key(3))
  for i, name in enumerate(('recurrences_0', 'recurrences_1')):
    bias = params[name]['bias']
    params[name]['bias'] = jax.random.normal(jax.random.key(10 + i), bias.shape, bias.dtype)
  return model, params


def _logits(model, params, ids, removed, mode):
  """Logits after removing the `removed` positions of one document with deletion's probes."""
  projected = contract.inputs(model, params, ids)
  unk, empty = deletion.unk_inputs(model, params), contract.empty_logits(model, params)
  return deletion.probes(model, params, projected, ids != 0, removed[:, None, :], mode, unk, empty)[:, 0]


def _shorter(model, params, ids, keep):
  """Logits of the document cut to `keep` (positions kept, in order): what skipping the others means."""
  kept = ids[:, keep]
  return contract.apply(model, params, jnp.pad(kept, ((0, 0), (0, WIDTH - kept.shape[1]))))[0]


def test_pad_rules_step_over_a_removed_first_and_last_token(bilstm):
  model, params = bilstm
  ids = jnp.asarray([[5, 6, 7, 8, 9, 0, 0]])  # five tokens, two of padding
  first = jnp.asarray([[True] + [False] * (WIDTH - 1)])
  last = jnp.asarray([[False] * 4 + [True] + [False] * 2])
  trailing, fixed = deletion.removal_mode('pad', 'trailing'), deletion.removal_mode('pad', 'fixed')
  assert (trailing, fixed, deletion.removal_mode('unk', 'fixed')) == ('pad', 'pad_fixed', 'unk')
  without_first, without_last = _shorter(model, params, ids, [1, 2, 3, 4]), _shorter(model, params, ids, [0, 1, 2, 3])
  # trailing (ours): a removed last token is skipped (the document ends earlier), a removed first one is not
  np.testing.assert_allclose(_logits(model, params, ids, last, trailing), without_last, rtol=1e-6, atol=1e-6)
  assert not np.allclose(_logits(model, params, ids, first, trailing), without_first, atol=1e-4)
  # fixed: both are stepped over with a zero input, so neither equals the shorter document ...
  assert not np.allclose(_logits(model, params, ids, last, fixed), without_last, atol=1e-4)
  assert not np.allclose(_logits(model, params, ids, first, fixed), without_first, atol=1e-4)
  # ... and a removed first token gives what the trailing rule gives (it steps over it too)
  np.testing.assert_allclose(_logits(model, params, ids, first, fixed), _logits(model, params, ids, first, trailing),
                             rtol=1e-6, atol=1e-6)
  # the fixed rule equals the LSTM stepping over every original position, the removed one with a zero input
  projected = contract.inputs(model, params, ids)
  zeroed = jnp.where(last[..., None], 0., projected)
  span = jnp.asarray([[True] * 5 + [False] * 2])
  expected, _ = contract.logits_from_inputs(model, params, zeroed, (ids != 0) & ~last, span=span)
  np.testing.assert_allclose(_logits(model, params, ids, last, fixed), expected, rtol=1e-6, atol=1e-6)
  # trailing padding stays skipped under both rules: the unedited document is the same
  none = jnp.zeros_like(first)
  np.testing.assert_allclose(_logits(model, params, ids, none, fixed), _logits(model, params, ids, none, trailing),
                             rtol=1e-6, atol=1e-6)


def test_uniform_weights_sum_as_specified():
  mask = jnp.asarray([[True] * 4 + [False] * 2, [True] * 2 + [False] * 4])
  ones = jnp.ones(mask.shape)
  wp = config_lib.make_config('sst')  # the default since session 11
  ours = dataclasses.replace(wp, uniform_weights='norm')
  assert weak_learner.map_norm(ours, 'uniform') == 'l2' and weak_learner.map_norm(wp, 'uniform') == 'l1'
  assert weak_learner.map_norm(wp, 'saliency') == 'l2'  # only the Uniform baseline changes
  w_ours = weak_learner.normalise(ones, mask, weak_learner.map_norm(ours, 'uniform'))
  w_wp = weak_learner.normalise(ones, mask, weak_learner.map_norm(wp, 'uniform'))
  n = mask.sum(-1)
  np.testing.assert_allclose(w_wp.sum(-1), 1., rtol=1e-6)  # 1/n each
  np.testing.assert_allclose(w_wp[0, :4], 1 / 4, rtol=1e-6)
  np.testing.assert_allclose(w_ours.sum(-1), np.sqrt(n), rtol=1e-6)  # 1/sqrt(n) each
  assert float(jnp.abs(w_wp * ~mask).sum()) == 0.


def test_selection_from_epoch_two_never_keeps_epoch_one():
  history = [{'epoch': 1, 'valid_roc_auc': .9}, {'epoch': 2, 'valid_roc_auc': .8}, {'epoch': 3, 'valid_roc_auc': .85}]
  assert train.selected_epoch(history, 'valid_roc_auc') == 1
  assert train.selected_epoch(history, 'valid_roc_auc', first=2) == 3
  assert train.selected_epoch(history[:1], 'valid_roc_auc', first=2) == 1  # a one-epoch run keeps its epoch


def test_summed_loss_is_the_mean_times_the_weights():
  logits = jnp.asarray([[1., -1.], [0.5, 0.], [-2., 1.]])
  labels, weights = jnp.asarray([0, 1, train.PADDING_LABEL]), jnp.asarray([0.7, 1.3])
  mean = train.weighted_cross_entropy(logits, labels, weights)
  total = train.weighted_cross_entropy(logits, labels, weights, reduction='sum')
  np.testing.assert_allclose(total, mean * (0.7 + 1.3), rtol=1e-6)
  with pytest.raises(ValueError):
    train.weighted_cross_entropy(logits, labels, weights, reduction='max')


def test_pytorch_init_draws_from_pytorchs_ranges_and_flax_init_is_unchanged():
  kwargs = dict(vocab_size=VOCAB, emb_dim=6, hidden=16, att_hidden=4)
  flax_params = contract.init(classifier.Classifier(**kwargs), jax.random.key(0))
  again = contract.init(classifier.Classifier(**kwargs, init_scheme='flax'), jax.random.key(0))
  jax.tree_util.tree_map(np.testing.assert_array_equal, flax_params, again)
  torch_params = contract.init(classifier.Classifier(**kwargs, init_scheme='pytorch'), jax.random.key(0))
  bound = 16 ** -0.5
  recurrent = torch_params['recurrences_0']['recurrent_kernel']
  assert np.abs(recurrent).max() <= bound and np.abs(recurrent).max() > 0.9 * bound
  assert np.abs(torch_params['input_kernel']).max() <= bound
  assert np.abs(torch_params['recurrences_0']['bias']).max() <= 2 * bound  # b_ih + b_hh
  assert np.abs(torch_params['output']['kernel']).max() <= (2 * 16) ** -0.5
  assert 0.8 < np.std(torch_params['embedding']['embedding']) < 1.2  # nn.Embedding: N(0, 1)
  # the flax recurrent kernel is orthogonal; PyTorch's is not
  gram = lambda k: np.asarray(k @ k.T)
  np.testing.assert_allclose(gram(flax_params['recurrences_0']['recurrent_kernel']), np.eye(16), atol=1e-5)
  assert not np.allclose(gram(recurrent), np.eye(16), atol=1e-2)


def test_ag_news_test_documents_take_the_title_only_under_the_switch(tmp_path):
  path = tmp_path / 'test.csv'
  path.write_text('"1","Oil Prices Rise","Crude rose 3% on Monday."\n"2","Cup Final","A match."\n'
                  '"3","Stocks Fall","Markets fell."\n')
  docs, labels, _ = corpora._ag_news_official(path, corpora.AG_PAPER)  # pylint: disable=protected-access
  assert docs == [['crude', 'rose', 'qqq', 'on', 'monday'], ['markets', 'fell']] and list(labels) == [0, 1]
  titled, labels, _ = corpora._ag_news_official(path, corpora.AG_PAPER, title=True)  # pylint: disable=protected-access
  assert titled == [['oil', 'prices', 'rise', 'crude', 'rose', 'qqq', 'on', 'monday'], ['stocks', 'fall', 'markets',
                                                                                        'fell']]
  assert not corpora._AG_TEST_TITLE.get()  # pylint: disable=protected-access
  with corpora.ag_news_test_title():
    assert corpora._AG_TEST_TITLE.get()  # pylint: disable=protected-access
  assert config_lib.make_config('ag_news').ag_news_title is False


def test_departure_cells_are_variant_minus_baseline_in_the_cells_units():
  from experiments import departures  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  rates = rng.uniform(size=200)
  labels = rng.integers(0, 2, 200)
  probs = np.stack([1 - labels, labels], -1).astype(float)
  wrong = probs.copy()
  wrong[:20] = wrong[:20, ::-1]  # 20 errors
  base = {('deletion_rate', 'saliency'): {'rates': rates, 'indices': np.arange(200)},
          ('weak_learner_f1', 'uniform'): {'labels': labels, 'test_probs': probs}}
  variant = {('deletion_rate', 'saliency'): {'rates': rates + 0.1, 'indices': np.arange(200)},
             ('weak_learner_f1', 'uniform'): {'labels': labels, 'test_probs': wrong}}
  rows = {(r[0], r[1]): r for r in departures.cell_differences(base, variant)}
  deletion_row = rows['deletion_rate', 'saliency']
  np.testing.assert_allclose(deletion_row[4], 0.1, atol=1e-12)  # raw units: rates went up, not "less faithful"
  assert deletion_row[5] <= 0.1 <= deletion_row[6] and departures.moved(deletion_row)
  f1_row = rows['weak_learner_f1', 'uniform']
  assert f1_row[2] == 1. and f1_row[3] < 1. and f1_row[4] < 0 and f1_row[6] < 0
  # examples that differ are not paired
  variant['deletion_rate', 'saliency']['indices'] = np.arange(1, 201)
  assert ('deletion_rate', 'saliency') not in {(r[0], r[1]) for r in departures.cell_differences(base, variant)}


def test_a_resumed_departure_keeps_the_time_of_the_run_that_computed_it():
  from experiments import departures  # pylint: disable=g-import-not-at-top
  previous = {'departures': [{'departure': 'pad_rule', 'seconds': 29.}, {'departure': 'init_scheme', 'seconds': 5.}]}
  now = [{'departure': 'pad_rule', 'seconds': 0.1}, {'departure': 'init_scheme', 'seconds': 70.},
         {'departure': 'punctuation', 'seconds': 3.}]
  assert [r['seconds'] for r in departures.carry_seconds(previous, now)] == [29., 70., 3.]
  assert departures.carry_seconds(None, now) == now


def jain_wallace_filterbylength(X, y, min_length=None, max_length=None):
  """A transcription of Jain & Wallace's Trainers/DatasetBC.py rule: X holds <SOS> ... <EOS> (two extra tokens)."""
  lens = [len(x) - 2 for x in X]
  min_l = min(lens) if min_length is None else min_length
  max_l = max(lens) if max_length is None else max_length
  idx = [i for i in range(len(X)) if len(X[i]) > min_l + 2 and len(X[i]) < max_l + 2]
  return [X[i] for i in idx], [y[i] for i in idx]


@pytest.mark.parametrize('bounds', [(5, None), (6, 500), (None, None), (6, 12)])
def test_length_filter_keeps_what_jain_and_wallaces_loader_keeps(bounds):
  from faithjax.data import encode  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(sum(b or 0 for b in bounds))
  raw = {}
  for split, n in (('train', 60), ('valid', 20), ('test', 30)):
    docs = [[f'w{rng.integers(9)}'] * int(k) for k in rng.integers(1, 20, n)]
    raw[split] = (docs, rng.integers(0, 2, n).astype(np.int32))
  kept, dropped = encode.filter_by_length(raw, *bounds)
  for split, (docs, labels) in raw.items():
    ref_docs, ref_labels = jain_wallace_filterbylength([['<s>', *d, '</s>'] for d in docs], list(labels), *bounds)
    assert [d[1:-1] for d in ref_docs] == kept[split][0] and ref_labels == list(kept[split][1])
    assert dropped[split] == len(docs) - len(ref_docs)
  assert sum(dropped.values()) > 0  # the draw exercises the rule


def test_length_filter_is_a_switch_of_the_encode_stage_with_the_vocabulary_built_before_it(tmp_path, monkeypatch):
  from faithjax import pipeline  # pylint: disable=g-import-not-at-top
  from faithjax.data import encode  # pylint: disable=g-import-not-at-top
  assert config_lib.make_config('sst').length_filter is False
  assert [corpora.spec(c).length_filter for c in ('sst', 'imdb', '20news', 'ag_news', 'synthetic')] == [
      (5, None), (6, None), (6, 500), (None, None), None]
  short, long_ = ['rare', 'word'], ['a', 'b', 'c', 'd', 'e', 'f', 'g']
  # SST: more than 5 tokens, and (J&W's max_length None) fewer than the split's longest
  # Two documents of each class pass the filter: a split needs both classes to train on (encode.check_learnable).
  docs, labels = [short, long_, long_, long_ + ['h']], np.array([0, 0, 1, 1], np.int32)
  raw = {s: (docs, labels) for s in ('train', 'valid', 'test')}
  monkeypatch.setattr(corpora, 'load_raw', lambda *args, with_classes=False, **kwargs:
                      (raw, ('0', '1')) if with_classes else raw)
  work = workdir_lib.Workdir(str(tmp_path / 'filtered'))
  summary = pipeline.stage_encode(config_lib.make_config('sst', length_filter=True), work)
  assert summary['sizes'] == {'train': 2, 'valid': 2, 'test': 2}
  assert summary['dropped_by_length'] == {'train': 2, 'valid': 2, 'test': 2}
  assert 'rare' in encode.EncodedCorpus.load(work.corpus).vocab  # built from the train split before the filter
  with pytest.raises(FaithjaxError, match='has no Jain & Wallace length filter'):
    pipeline.stage_encode(config_lib.make_config('synthetic', length_filter=True),
                          workdir_lib.Workdir(str(tmp_path / 'synthetic')))


def test_departure_cells_on_different_test_splits_are_unpaired():
  from experiments import departures  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(1)
  base = {('deletion_rate', 'saliency'): {'rates': rng.uniform(size=300), 'indices': np.arange(300)}}
  variant = {('deletion_rate', 'saliency'): {'rates': rng.uniform(size=250) + 0.2, 'indices': np.arange(250)}}
  (row,) = departures.cell_differences(base, variant, paired=False)
  np.testing.assert_allclose(row[4], variant['deletion_rate', 'saliency']['rates'].mean()
                             - base['deletion_rate', 'saliency']['rates'].mean(), atol=1e-12)
  assert row[5] < row[4] < row[6] and departures.moved(row) and row[7] == '250 vs 300 (unpaired)'
