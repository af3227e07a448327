"""Scale: the batch sharded over 8 CPU devices, and N checkpoints stacked and vmapped, against one at a time."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import conftest

from faithjax import FaithjaxError
from faithjax import metrics
from faithjax import parallel
from faithjax import plugins
from faithjax import reevaluate
from faithjax import train
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.data import synthetic
from faithjax.faithfulness import eraser
from faithjax import io
from faithjax.models import classifier
from faithjax.models import contract
from faithjax.models import weak_learner as weak_learner_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPLAINERS = {'saliency': {}, 'integrated_gradients': {'steps': 4}}
DELETION = {'pool': 16, 'slots': 4, 'chunk': 4}


@pytest.mark.slow  # its own process compiles every program again for 8 devices
def test_sharded_over_8_devices_equals_one_device():
  # This process' jax already has 1 device: the 8-device run needs its own process.
  env = {**os.environ, 'XLA_FLAGS': '--xla_force_host_platform_device_count=8', 'JAX_PLATFORMS': 'cpu',
         'PYTHONPATH': REPO}
  done = subprocess.run([sys.executable, os.path.join(REPO, 'tests', 'sharded_equivalence.py'),
                         conftest.COMPILE_CACHE], env=env, capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  assert 'sharded == one device on 8 devices' in done.stdout


@pytest.mark.slow  # a whole smoke run of run.py
def test_mesh_flag_through_every_stage_equals_no_mesh(smoke_workdir, tmp_path):
  """run.py --mesh=0 over this machine's one CPU device: every stage takes its sharded path (inputs placed on
  the mesh, batches padded to a multiple of its devices) and writes the unsharded run's results and maps to the
  bit. More devices: test_sharded_over_8_devices_equals_one_device, and test_distributed's two processes."""
  done = subprocess.run(conftest.smoke_run(tmp_path, '--mesh=0'), capture_output=True, text=True, cwd=REPO,
                        timeout=900, env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  assert done.returncode == 0, done.stderr[-3000:]
  sharded, plain = (io.read_json(str(d / 'results.json')) for d in (tmp_path, smoke_workdir))
  assert sharded['stages'] == plain['stages'] and sharded['config'] == plain['config']
  for name in plain['config']['explainers']:
    maps = [io.load_npz(workdir_lib.Workdir(str(d)).maps(name)) for d in (tmp_path, smoke_workdir)]
    for split in maps[1]:
      np.testing.assert_array_equal(maps[0][split], maps[1][split], err_msg=f'{name} {split}')


@pytest.fixture(scope='module')
def corpus():
  raw = synthetic.generate(seed=0, sizes={'train': 16, 'valid': 8, 'test': 24}, min_len=3, max_len=8)
  return encode.encode_corpus('synthetic', raw)[0]


@pytest.fixture(scope='module')
def weak_model(corpus):
  return weak_learner_model.WeakLearner(vocab_size=len(corpus.vocab), emb_dim=8, hidden=6)


@pytest.fixture(scope='module')
def runs(model, weak_model, corpus, tmp_path_factory):
  """A folder of 3 workdirs (runs/seed0..2), as the pipeline leaves them: a random-init classifier checkpoint
  with its vocabulary's record, a weak learner per explainer of EXPLAINERS and config.json with the run's seed
  (10 + i)."""
  root = tmp_path_factory.mktemp('runs')
  for seed in range(3):
    checkpoints = root / f'seed{seed}' / 'checkpoints'
    train.save_best(str(checkpoints / 'classifier'), contract.init(model, jax.random.key(seed)))
    train.record_vocabulary(str(checkpoints / 'classifier'), corpus)
    for i, name in enumerate(EXPLAINERS):
      weak = weak_learner_model.init(weak_model, jax.random.key(10 * seed + i))
      train.save_best(str(checkpoints / f'weak_{name}'), weak)
    io.save_json(str(root / f'seed{seed}' / 'config.json'), {'seed': 10 + seed})
  return root


def test_stacked_equals_loop(runs, corpus, model):
  subset = np.arange(0, 24, 2)
  options = dict(explainers=EXPLAINERS, subset=subset, batch_size=8, deletion_options=DELETION)
  # Groups of 2 of the 3 checkpoints: one vmapped pair, and the third in the scan's remainder.
  stacked = reevaluate.reevaluate(str(runs / 'seed*'), corpus, model, group=2, **options)
  loop = reevaluate.loop_reevaluate(str(runs / 'seed*'), corpus, model, **options)
  assert [r['checkpoint'] for r in stacked] == [r['checkpoint'] for r in loop]
  assert len(stacked) == 3 and stacked[0]['checkpoint'].endswith(os.path.join('seed0', 'checkpoints', 'classifier'))
  for one, other in zip(stacked, loop):
    for name in EXPLAINERS:
      assert one['maps'][name].shape == (corpus.splits['test'].subset(subset).ids.size,)
      np.testing.assert_allclose(one['maps'][name], other['maps'][name], rtol=1e-5, atol=1e-7)
      np.testing.assert_array_equal(one['deletion'][name]['rates'], other['deletion'][name]['rates'])
      assert one['deletion'][name]['mean'] == other['deletion'][name]['mean']
      low, high = one['deletion'][name]['ci95']
      assert low <= one['deletion'][name]['mean'] <= high and one['deletion'][name]['n'] == len(subset)
      for key, values in one['eraser'][name]['per_example'].items():
        np.testing.assert_allclose(values, other['eraser'][name]['per_example'][key], atol=1e-6)
      assert one['eraser'][name]['aopc_sufficiency']['n'] == len(subset)
  # Different seeds are different models: the stacked axis is not one checkpoint repeated.
  assert not np.allclose(stacked[0]['maps']['saliency'], stacked[1]['maps']['saliency'])


def test_stacked_weak_learners_and_shuffle_equal_loop(runs, corpus, model, weak_model):
  subset = np.arange(1, 24, 3)
  options = dict(explainers=EXPLAINERS, subset=subset, batch_size=8, deletion_options=DELETION,
                 weak={'model': weak_model, 'permutations': 12})
  stacked = reevaluate.reevaluate(str(runs / 'seed*'), corpus, model, **options)
  loop = reevaluate.loop_reevaluate(str(runs / 'seed*'), corpus, model, **options)
  for one, other in zip(stacked, loop):
    for name in EXPLAINERS:
      np.testing.assert_allclose(one['shuffle'][name]['median_tvd'], other['shuffle'][name]['median_tvd'],
                                 atol=1e-6)
      assert one['shuffle'][name]['n'] == len(subset)
      for metric in ('accuracy', 'f1', 'roc_auc'):
        assert one['weak_learner'][name][metric] == pytest.approx(other['weak_learner'][name][metric], abs=1e-9)
  # Each run's shuffle keys come from its own config.json seed, and its weak learners are its own.
  tvds = [r['shuffle']['saliency']['median_tvd'] for r in stacked]
  assert not np.allclose(tvds[0], tvds[1])
  assert [reevaluate.run_seed(r['checkpoint']) for r in stacked] == [10, 11, 12]


def test_checkpoints_are_scanned_on_a_cpu_and_vmapped_together_elsewhere(monkeypatch):
  for backend, group in (('cpu', 1), ('gpu', 8), ('tpu', 8)):
    monkeypatch.setattr(parallel.jax, 'default_backend', lambda b=backend: b)
    assert parallel.default_group(8) == group, backend


def test_a_missing_weak_learner_is_a_clear_error(corpus, model, weak_model, tmp_path):
  train.save_best(str(tmp_path / 'run' / 'checkpoints' / 'classifier'), contract.init(model, jax.random.key(0)))
  train.record_vocabulary(str(tmp_path / 'run' / 'checkpoints' / 'classifier'), corpus)
  with pytest.raises(FaithjaxError, match='no saliency weak learner in .*weak_saliency; run the evaluate stage'):
    reevaluate.reevaluate([str(tmp_path / 'run')], corpus, model, ['saliency'], weak={'model': weak_model})
  with pytest.raises(FaithjaxError, match='weak options are'):
    reevaluate.reevaluate([str(tmp_path / 'run')], corpus, model, ['saliency'], weak={'norm': 'l2'})


def test_checkpoint_dirs_accepts_workdirs_checkpoint_folders_and_their_parent(runs):
  by_glob = reevaluate.checkpoint_dirs(str(runs / 'seed*'))
  assert reevaluate.checkpoint_dirs(str(runs)) == by_glob
  assert reevaluate.checkpoint_dirs([str(runs / 'seed1'), by_glob[2]]) == by_glob[1:]


def test_no_checkpoint_is_a_clear_error(runs, tmp_path):
  with pytest.raises(FaithjaxError, match='no file or folder matches'):
    reevaluate.checkpoint_dirs(str(runs / 'nothing*'))
  with pytest.raises(FaithjaxError, match='no classifier checkpoint'):
    reevaluate.checkpoint_dirs(str(tmp_path))


def test_another_architecture_is_a_clear_error(runs, corpus, model, tmp_path):
  other = conftest.tiny_classifier('bilstm', model.vocab_size + 1)
  train.save_best(str(tmp_path / 'other'), contract.init(other, jax.random.key(0)))
  train.record_vocabulary(str(tmp_path / 'other'), corpus)
  with pytest.raises(FaithjaxError, match='^checkpoint .*other has another architecture than the '
                     '(Classifier|Transformer) it is evaluated with; pass the model flags it was trained with$'):
    reevaluate.reevaluate([str(runs / 'seed0'), str(tmp_path / 'other')], corpus, model, ['saliency'])


def test_stack_refuses_different_shapes(corpus):
  model = conftest.tiny_classifier('bilstm', len(corpus.vocab))
  other = classifier.Classifier(vocab_size=model.vocab_size, emb_dim=16, hidden=4, att_hidden=8)
  trees = [contract.init(m, jax.random.key(0)) for m in (model, other)]
  with pytest.raises(FaithjaxError, match='different architectures'):
    parallel.stack(trees)
  assert parallel.stack(trees[:1])['input_kernel'].shape == (1,) + trees[0]['input_kernel'].shape


def test_a_workdir_encoded_with_another_vocabulary_is_refused(corpus, model, tmp_path):
  """Same shapes, other id order (another seed's vocabulary): refused, not silently scrambled."""
  workdir = tmp_path / 'other_seed'
  train.save_best(str(workdir / 'checkpoints' / 'classifier'), contract.init(model, jax.random.key(0)))
  shuffled = encode.EncodedCorpus(corpus.name, corpus.vocab[:2] + corpus.vocab[2:][::-1], corpus.splits)
  shuffled.save(str(workdir / 'corpus.npz'))
  with pytest.raises(FaithjaxError, match='trained on another vocabulary'):
    reevaluate.reevaluate([str(workdir)], corpus, model, ['saliency'])
  corpus.save(str(workdir / 'corpus.npz'))
  assert len(reevaluate.reevaluate([str(workdir)], corpus, model, ['saliency'])) == 1


def _peak_share(maps, lengths):
  """Stacked: each example's largest |score| over its total |score|, for all N maps at once: [N, n]."""
  starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
  magnitude = np.abs(maps)
  return np.maximum.reduceat(magnitude, starts, axis=1) / np.add.reduceat(magnitude, starts, axis=1)


def _loop_peak_share(maps, lengths):
  """The reference: one checkpoint and one example at a time."""
  ends = np.cumsum(lengths)
  return np.array([[np.abs(m[end - n:end]).max() / np.abs(m[end - n:end]).sum() for n, end in zip(lengths, ends)]
                   for m in maps])


def test_a_registered_evaluation_with_a_stacked_path_is_re_evaluated(runs, corpus, model, monkeypatch):
  """A user's evaluation, registered from outside the package with a stacked path, appears in both paths; one
  without a stacked path does not."""
  path = plugins.Stacked(
      run=lambda checkpoints, maps: {'peak': _peak_share(maps, checkpoints.split.lengths)},
      loop=lambda checkpoints, maps: {'peak': _loop_peak_share(maps, checkpoints.split.lengths)},
      result=lambda arrays, checkpoints: {'peak': arrays['peak'], **metrics.mean_with_ci(arrays['peak'])})
  evaluate = lambda context, explainer, maps: {}
  monkeypatch.setitem(plugins.EVALUATIONS, 'peak', plugins.Evaluation('peak', evaluate, lambda saved: {},
                                                                      stacked=path))
  monkeypatch.setitem(plugins.EVALUATIONS, 'unstacked', plugins.Evaluation('unstacked', evaluate,
                                                                           lambda saved: {}))
  assert 'peak' in [r.name for r in reevaluate.stacked_evaluations(weak=False)]
  options = dict(explainers=['saliency'], subset=np.arange(0, 24, 3), batch_size=8, deletion_options=DELETION)
  stacked = reevaluate.reevaluate(str(runs / 'seed*'), corpus, model, **options)
  loop = reevaluate.loop_reevaluate(str(runs / 'seed*'), corpus, model, **options)
  for one, other in zip(stacked, loop):
    assert 'unstacked' not in one and 'weak_learner' not in one  # no weak options: the trained ones left out
    np.testing.assert_allclose(one['peak']['saliency']['peak'], other['peak']['saliency']['peak'], rtol=1e-5)
    assert one['peak']['saliency']['n'] == 8 and 0 < one['peak']['saliency']['mean'] <= 1
    np.testing.assert_array_equal(one['deletion']['saliency']['rates'], other['deletion']['saliency']['rates'])
  assert 'peak' in reevaluate.summary(stacked)[0] and 'peak' not in reevaluate.summary(stacked)[0]['peak']['saliency']


def test_eraser_percents_option_changes_the_bins_in_both_paths(runs, corpus, model):
  """Other ERASER bins (its evaluation option): the stacked path equals the loop, and each bin equals the default
  run's bin of the same percent."""
  options = dict(explainers=['saliency'], subset=np.arange(0, 24, 4), batch_size=8, deletion_options=DELETION)
  bins = {'eraser': eraser.EraserOptions(percents=(10, 50))}
  default = reevaluate.loop_reevaluate(str(runs / 'seed*'), corpus, model, **options)
  stacked = reevaluate.reevaluate(str(runs / 'seed*'), corpus, model, evaluation_options=bins, **options)
  loop = reevaluate.loop_reevaluate(str(runs / 'seed*'), corpus, model, evaluation_options=bins, **options)
  for one, other, before in zip(stacked, loop, default):
    got, expected = one['eraser']['saliency']['per_example'], before['eraser']['saliency']['per_example']
    for kind in ('comprehensiveness', 'sufficiency'):
      assert got[kind].shape == (6, 2)
      np.testing.assert_allclose(got[kind], other['eraser']['saliency']['per_example'][kind], atol=1e-6)
      np.testing.assert_allclose(got[kind], expected[kind][:, [2, 4]], atol=1e-6)  # 10% and 50% of (1, 5, 10, 20, 50)
    aopc = lambda result: result['eraser']['saliency']['aopc_sufficiency']['mean']
    assert aopc(one) != aopc(before)
