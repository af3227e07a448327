"""The stages: encode -> train -> (explain -> evaluate) -> report.

Each stage reads its inputs from the workdir and writes one artefact plus a
`stages/<name>.json` summary; a stage whose summary exists is skipped, so a
killed run resumes where it stopped. run.py only parses flags and calls
`run_pipeline`.
"""

import dataclasses
import os

import jax

from faithjax import FaithjaxError
from faithjax import config as config_lib
from faithjax import io
from faithjax import metrics
from faithjax import provenance
from faithjax import report
from faithjax import train
from faithjax.data import encode
from faithjax.data import corpora
from faithjax.models import classifier


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


def stage_encode(config, workdir):
  about = corpora.describe(config.corpus, config.data_dir, config.seed)
  raw = corpora.load_raw(config.corpus, config.data_dir, seed=config.seed)
  corpus, truncated = encode.encode_corpus(config.corpus, raw, about['min_df'], about['max_len'])
  corpus.save(workdir.corpus)
  return {'display_name': about['display'], 'protocol': about['protocol'],
          'reduced_train': about['reduced_train'], 'vocab_size': len(corpus.vocab),
          'sizes': {s: len(d) for s, d in corpus.splits.items()},
          'max_len': about['max_len'], 'truncated': truncated}


def train_config(config):
  return train.TrainConfig(epochs=config.epochs, batch_size=config.batch_size,
                           learning_rate=config.learning_rate, l2=config.l2, seed=config.seed)


def load_classifier(config, workdir, corpus):
  model = make_model(config, len(corpus.vocab))
  abstract = jax.eval_shape(lambda: classifier.init(model, jax.random.key(0)))
  return model, train.restore_best(workdir.classifier_ckpt, abstract)


def stage_train(config, workdir):
  corpus = encode.EncodedCorpus.load(workdir.corpus)
  model = make_model(config, len(corpus.vocab))
  params, history = train.train_classifier(model, corpus, train_config(config), workdir.classifier_ckpt)
  test = corpus.splits['test']
  probs = train.predict_split(model, params, test, config.eval_batch_size)
  best = max(history, key=lambda h: h['valid_roc_auc'])
  return {'test': metrics.classification_report(test.labels, probs), 'selected_epoch': best['epoch'],
          'history': history}


STAGE_FUNCTIONS = {'encode': stage_encode, 'train': stage_train}


def run_pipeline(config, root, stages=config_lib.STAGES):
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
      io.write_json(workdir.summary(stage), STAGE_FUNCTIONS[stage](config, workdir))
    summaries[stage] = io.read_json(workdir.summary(stage))
  results = {'config': dataclasses.asdict(config), 'stages': summaries, 'provenance': provenance.record()}
  if 'report' in stages:
    io.write_json(workdir.path('results.json'), results)
    io.write_text(workdir.path('report.md'), report.render(results))
  return results
