"""The stages: encode -> train -> (explain -> evaluate) -> report.

Each stage reads its inputs from the workdir and writes one artefact plus a
`stages/<name>.json` summary; a stage whose summary exists is skipped, so a
killed run resumes where it stopped. run.py only parses flags and calls
`run_pipeline`.
"""

import dataclasses
import os
import time

import jax
import numpy as np

from faithjax import FaithjaxError
from faithjax import config as config_lib
from faithjax import explain
from faithjax import heatmap
from faithjax import io
from faithjax import metrics
from faithjax import parallel
from faithjax import provenance
from faithjax import report
from faithjax import train
from faithjax.data import encode
from faithjax.data import corpora
from faithjax.faithfulness import deletion
from faithjax.faithfulness import shuffle
from faithjax.faithfulness import weak_learner
from faithjax.models import classifier
from faithjax.models import weak_learner as weak_learner_model


@dataclasses.dataclass(frozen=True)
class Workdir:
  root: str

  def path(self, *parts):
    return os.path.join(self.root, *parts)

  @property
  def corpus(self):
    return self.path('corpus.npz')

  @property
  def classifier_ckpt(self):
    return self.path('checkpoints', 'classifier')

  def maps(self, explainer):
    return self.path('maps', f'{explainer}.npz')

  def evaluation(self, kind, name):
    return self.path('evaluations', f'{kind}_{name}.npz')

  def weak_ckpt(self, name):
    return self.path('checkpoints', f'weak_{name}')

  def summary(self, stage):
    return self.path('stages', f'{stage}.json')


def prepare_workdir(root, config):
  """Creates the workdir, or checks that an existing one was made with the same config."""
  workdir = Workdir(os.path.abspath(root))
  try:
    os.makedirs(workdir.root, exist_ok=True)
    probe = workdir.path('.write-probe')
    with open(probe, 'w'):
      pass
    os.remove(probe)
  except OSError as e:
    raise FaithjaxError(f'cannot write to workdir {root!r} ({e.strerror}); pass a writable --workdir') from e
  saved_path = workdir.path('config.json')
  current = config.fingerprint()
  saved = io.read_json(saved_path) if os.path.exists(saved_path) else {}
  # Fields added to RunConfig since the workdir was made are adopted, not refused.
  changed = sorted(k for k in saved if k in current and saved[k] != current[k])
  if changed:
    raise FaithjaxError(f'workdir {root!r} holds a run with a different config ({", ".join(changed)}); '
                        'pass a new --workdir or restore the old flags')
  if saved != current:
    io.write_json(saved_path, current)
  return workdir


def make_model(config, vocab_size):
  return classifier.Classifier(vocab_size=vocab_size, emb_dim=config.emb_dim, hidden=config.hidden,
                               att_hidden=config.att_hidden, bidirectional=config.bidirectional)


def stage_encode(config, workdir, mesh=None):
  del mesh  # host-side work
  about = corpora.describe(config.corpus, config.data_dir, config.split_seed)
  raw = corpora.load_raw(config.corpus, config.data_dir, seed=config.split_seed)
  corpus, truncated = encode.encode_corpus(config.corpus, raw, about['min_df'], about['max_len'])
  corpus.save(workdir.corpus)
  return {'display_name': about['display'], 'protocol': about['protocol'],
          'reduced_train': about['reduced_train'], 'vocab_size': len(corpus.vocab),
          'sizes': {s: len(d) for s, d in corpus.splits.items()},
          'max_len': about['max_len'], 'truncated': truncated}


def make_weak_learner(config, corpus):
  return weak_learner_model.WeakLearner(vocab_size=len(corpus.vocab), num_classes=corpus.num_classes,
                                        emb_dim=config.emb_dim, hidden=config.hidden)


def train_config(config):
  return train.TrainConfig(epochs=config.epochs, batch_size=config.batch_size,
                           learning_rate=config.learning_rate, l2=config.l2, seed=config.seed)


def load_classifier(config, workdir, corpus):
  model = make_model(config, len(corpus.vocab))
  abstract = jax.eval_shape(lambda: classifier.init(model, jax.random.key(0)))
  return model, train.restore_best(workdir.classifier_ckpt, abstract)


def stage_train(config, workdir, mesh=None):
  del mesh  # training runs on one device
  corpus = encode.EncodedCorpus.load(workdir.corpus)
  model = make_model(config, len(corpus.vocab))
  params, history = train.train_classifier(model, corpus, train_config(config), workdir.classifier_ckpt)
  test = corpus.splits['test']
  probs = train.predict_split(model, params, test, config.eval_batch_size)
  return {'test': metrics.test_report(test.labels, probs),
          'selected_epoch': train.selected_epoch(history, 'valid_roc_auc'),
          'history': history}


def explainer_options(config, name):
  options = {'target': config.target, 'detach_attention': config.detach_attention}
  if name == 'integrated_gradients':
    options.update(steps=config.ig_steps, quadrature=config.quadrature)
  return {k: v for k, v in options.items() if k in explain.options_of(name)}


BASELINE_DOCUMENTS = 64  # GradientSHAP's baselines: this many training documents, drawn with --seed


def baseline_documents(config, corpus):
  """Training documents, PAD-filled to the longest of them: <int>[BASELINE_DOCUMENTS, width]."""
  train_split = corpus.splits['train']
  rows = np.random.default_rng([config.seed, 15]).choice(
      len(train_split), min(BASELINE_DOCUMENTS, len(train_split)), replace=False)
  return train_split.padded(rows, int(train_split.lengths[rows].max()))


def explainer_key(config, name, split_index):
  """The PRNG key of a sampling explainer on one split (from --seed); None for the others."""
  if explain.parse_name(name)[0] not in explain.RANDOMISED:
    return None
  return jax.random.fold_in(jax.random.key(config.seed), split_index)


def stage_explain(config, workdir, mesh=None):
  """Feature maps of every explainer on every split, stored as ragged arrays beside the ids."""
  corpus = encode.EncodedCorpus.load(workdir.corpus)
  model, params = load_classifier(config, workdir, corpus)
  summary, test_maps = {}, {}
  for name in config.explainers:
    options = explainer_options(config, name)
    if 'baseline_ids' in explain.options_of(name):
      options['baseline_ids'] = baseline_documents(config, corpus)
    fn = parallel.sharded(mesh, explain.make_explainer(name, model, **options))
    if not os.path.exists(workdir.maps(name)):
      start = time.perf_counter()
      maps = {split: explain.explain_split(fn, params, data, config.eval_batch_size, explainer_key(config, name, i),
                                           progress=f'{name} ({split})')
              for i, (split, data) in enumerate(corpus.splits.items())}
      io.save_npz(workdir.maps(name), **maps)
      io.log(f'{name}: {sum(map(len, corpus.splits.values())) / (time.perf_counter() - start):,.1f} examples/s')
    test_maps[name] = io.load_npz(workdir.maps(name))['test']
    summary[name] = map_quality(model, params, corpus.splits['test'], test_maps[name], name, config)
  return {'quality': summary, 'heatmaps': write_heatmaps(config, workdir, corpus, model, params, test_maps)}


def write_heatmaps(config, workdir, corpus, model, params, maps, count=3):
  """Token heatmaps (the paper's Figure 1) of `maps` ({explainer: test map}) for the first `count` test examples."""
  test = corpus.splits['test']
  rows = np.arange(min(count, len(test)))
  predictions = train.predict_split(model, params, test.subset(rows)).argmax(-1)
  examples = []
  for row, prediction in zip(rows, predictions):
    span = slice(test.offsets[row], test.offsets[row + 1])
    tokens = [corpus.vocab[i] for i in test.ids[span]]
    examples.append((tokens, {name: m[span] for name, m in maps.items()},
                     {'title': f'{config.corpus} test example {row}', 'label': int(test.labels[row]),
                      'prediction': int(prediction)}))
  return [os.path.relpath(p, workdir.root) for p in heatmap.write_heatmaps(workdir.root, examples, 'test')]


def map_quality(model, params, split, scores, name, config):
  """IG's completeness error and, where the rationale is known, precision@k of the top tokens."""
  quality = {}
  if name == 'integrated_gradients' and not config.detach_attention:
    _, errors = explain.split_completeness(model, params, split, scores, config.eval_batch_size, config.target)
    quality['completeness_relative_error'] = {'median': float(np.median(errors)),
                                              'p90': float(np.quantile(errors, 0.9))}
  if split.rationale is not None:
    precisions = [explain.precision_at_k(batch_scores, rationale, ids != 0)[:len(indices)]
                  for indices, ids, batch_scores, rationale in
                  explain.padded_batches(split, config.eval_batch_size, scores, split.rationale)]
    quality['precision_at_k'] = float(np.nanmean(np.concatenate(precisions)))
  return quality


def test_subset(config, split):
  """The test examples the deletion evaluation reads: all, or a sample shared by every --seed (reduced settings)."""
  if not config.test_subset or config.test_subset >= len(split):
    return np.arange(len(split))
  return np.sort(np.random.default_rng([config.split_seed, 7]).choice(len(split), config.test_subset, replace=False))


def stage_evaluate(config, workdir, mesh=None):
  """Deletion until flip (Table 3), weak learner (Table 4, Figure 5), shuffle test (Table 5)."""
  corpus = encode.EncodedCorpus.load(workdir.corpus)
  model, params = load_classifier(config, workdir, corpus)
  test = corpus.splits['test']
  subset = test_subset(config, test)
  summary = {'deletion': {}, 'eraser': {}, 'weak_learner': {}, 'shuffle': {}, 'test_subset': len(subset)}
  weak_model = make_weak_learner(config, corpus)
  weak_config = dataclasses.replace(train_config(config), epochs=config.weak_epochs)
  for name in config.explainers + config_lib.BASELINES:
    maps = io.load_npz(workdir.maps(name)) if name in config.explainers else name
    if name != 'uniform':  # uniform scores rank tokens by position only: no deletion row
      path, eraser_path = workdir.evaluation('deletion', name), workdir.evaluation('eraser', name)
      scores = maps['test'] if name in config.explainers else weak_learner.baseline_map(test, name, config.seed)
      part, part_scores = test.subset(subset), test.subset_values(subset, scores)
      if not os.path.exists(path):
        rates = deletion.deletion_rates(model, params, part, part_scores, absolute=config.absolute,
                                        mode=config.deletion_mode, mesh=mesh)
        io.save_npz(path, rates=rates, indices=subset)
      if not os.path.exists(eraser_path):
        io.save_npz(eraser_path, indices=subset, **deletion.eraser_metrics(
            model, params, part, part_scores, absolute=config.absolute, mode=config.deletion_mode))
      summary['deletion'][name] = metrics.mean_with_ci(io.load_npz(path)['rates'])
      eraser = io.load_npz(eraser_path)
      summary['eraser'][name] = {k: metrics.mean_with_ci(eraser[k])
                                 for k in ('aopc_comprehensiveness', 'aopc_sufficiency')}
    result = weak_learner.train_weak_learner(weak_model, corpus, maps, weak_config, workdir.weak_ckpt(name),
                                             norm=config.norm)
    summary['weak_learner'][name] = {**result.test, 'valid_loss': [h['valid_loss'] for h in result.history]}
    path = workdir.evaluation('shuffle', name)
    if not os.path.exists(path):
      tvds = shuffle.shuffle_test(weak_model, result.params, test, result.maps['test'], norm=config.norm,
                                  permutations=config.permutations, seed=config.seed)['median_tvd']
      io.save_npz(path, median_tvd=tvds)
    summary['shuffle'][name] = metrics.mean_with_ci(io.load_npz(path)['median_tvd'])
  return summary


STAGE_FUNCTIONS = {'encode': stage_encode, 'train': stage_train, 'explain': stage_explain,
                   'evaluate': stage_evaluate}


def run_pipeline(config, root, stages=config_lib.STAGES, mesh=None):
  """Runs `stages` in order, skipping those already done; returns results.json's content."""
  unknown = [s for s in stages if s not in config_lib.STAGES]
  if unknown:
    raise FaithjaxError(f'unknown stage(s) {", ".join(unknown)}; choose from {", ".join(config_lib.STAGES)}')
  workdir = prepare_workdir(root, config)
  # A requested stage brings the stages before it (each skipped if already done).
  last = max(config_lib.STAGES.index(s) for s in stages)
  summaries = {}
  for stage in config_lib.STAGES[:last + 1]:
    if stage == 'report':
      continue
    if os.path.exists(workdir.summary(stage)):
      io.log(f'stage {stage}: done before, skipped ({workdir.summary(stage)})')
    else:
      io.log(f'stage {stage}: running')
      io.write_json(workdir.summary(stage), STAGE_FUNCTIONS[stage](config, workdir, mesh))
    summaries[stage] = io.read_json(workdir.summary(stage))
  results = {'config': dataclasses.asdict(config), 'stages': summaries, 'provenance': provenance.record()}
  if 'report' in stages:
    io.write_json(workdir.path('results.json'), results)
    io.write_text(workdir.path('report.md'), report.render(results))
  return results
