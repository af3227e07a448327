"""Any number of classes end to end: a 3-class jsonl file and AG News's four classes through every stage."""

import json
import os

import numpy as np
import pytest

from faithjax import config as config_lib
from faithjax import io
from faithjax import pipeline
from faithjax import workdir as workdir_lib
from faithjax.data import corpora
from faithjax.data import encode

pytestmark = pytest.mark.slow  # whole smoke-preset runs


def three_class_rows(n=360, seed=0):
  """Rows whose label ('sports', 'tech', 'world') is given by two of its class's words among filler words."""
  rng = np.random.default_rng(seed)
  words = {c: [f'{c}{i}' for i in range(4)] for c in ('sports', 'tech', 'world')}
  rows = []
  for i in range(n):
    label = ('sports', 'tech', 'world')[i % 3]
    tokens = [f'filler{j}' for j in rng.integers(0, 30, rng.integers(6, 14))]
    for word in rng.choice(words[label], 2):
      tokens.insert(rng.integers(0, len(tokens) + 1), word)
    rows.append({'text': ' '.join(tokens), 'label': label})
  return rows


def check_every_stage(results, workdir, classes):
  """The stages' summaries and report.md of a run on a corpus of `classes`."""
  stages = results['stages']
  assert stages['encode']['classes'] == list(classes)
  test = stages['train']['test']
  assert test['f1_average'] == 'macro' and test['accuracy'] > 1.5 / len(classes)  # well above chance
  evaluated = stages['evaluate']
  for name, entry in evaluated['weak_learner'].items():
    assert entry['f1_average'] == 'macro' and 0 <= entry['f1'] <= 1, name
  assert 0 < evaluated['deletion']['saliency']['mean'] <= 1
  assert np.isfinite(evaluated['eraser']['saliency']['aopc_comprehensiveness']['mean'])
  assert evaluated['shuffle']['saliency']['mean'] > 0
  text = (workdir / 'report.md').read_text()
  assert 'Classes: ' + ', '.join(f'{i} {c}' for i, c in enumerate(classes)) + '.' in text
  assert '| accuracy | F1 (macro) | ROC-AUC (macro one-vs-rest) |' in text
  assert 'the weak-learner F1 is the macro F1' in text


def test_a_three_class_jsonl_file_runs_every_stage_and_the_report(tmp_path):
  path = tmp_path / 'three.jsonl'
  path.write_text(''.join(json.dumps(r) + '\n' for r in three_class_rows()))
  config = config_lib.make_config(f'jsonl:{path}', preset='smoke', epochs=5)
  results = pipeline.run_pipeline(config, str(tmp_path / 'work'))
  check_every_stage(results, tmp_path / 'work', ('sports', 'tech', 'world'))
  # A workdir encoded before the classes were recorded: its deleted corpus.npz is recomputed, not refused.
  work = workdir_lib.Workdir(str(tmp_path / 'work'))
  io.save_json(work.summary('encode'), {k: v for k, v in io.load_json(work.summary('encode')).items()
                                        if k != 'classes'})
  os.remove(work.corpus)
  pipeline.run_pipeline(config, work.root, ['encode'])
  assert encode.EncodedCorpus.load(work.corpus).num_classes == 3


@pytest.mark.skipif(not corpora.DEFAULT_DATA_DIR.is_dir(), reason='AG News not found in shared/datasets')
def test_ag_news4_runs_every_stage_and_the_report(tmp_path):
  config = config_lib.make_config('ag_news4', preset='smoke')
  results = pipeline.run_pipeline(config, str(tmp_path))
  check_every_stage(results, tmp_path, corpora.AG_CLASSES)
  assert results['stages']['encode']['sizes']['test'] == 7600
