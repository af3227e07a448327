"""docs/library.md's example runs as written (so the page cannot rot), and the library API checks its input."""

import os
import re

import numpy as np
import pytest

import faithjax
from faithjax import FaithjaxError
from faithjax.models.classifier import Classifier

from conftest import REPO


def library_examples():
  page = open(os.path.join(REPO, 'docs', 'library.md'), encoding='utf-8').read()
  return re.findall(r'```python\n(.*?)```', page, re.S)


def test_the_library_example_runs_as_written(capsys):
  blocks = library_examples()
  assert len(blocks) == 3 and len(blocks[0].strip().splitlines()) <= 20
  exec(compile(blocks[0], 'docs/library.md', 'exec'), {})  # pylint: disable=exec-used
  printed = capsys.readouterr().out.splitlines()
  # two evaluations x (two maps + two baselines), but ERASER and deletion skip the uniform map
  assert sorted(line.split()[:2] for line in printed) == sorted(
      [e, n] for e in ('deletion', 'eraser') for n in ('saliency', 'integrated_gradients', 'random'))


@pytest.mark.parametrize('block', (1, 2), ids=('nnx', 'functions'))
def test_the_library_examples_with_an_nnx_module_and_plain_functions_run_as_written(block, capsys):
  exec(compile(library_examples()[block], 'docs/library.md', 'exec'), {})  # pylint: disable=exec-used
  summary = eval(capsys.readouterr().out)  # pylint: disable=eval-used
  assert summary['n'] == 32 and summary['ci95'][0] <= summary['mean'] <= summary['ci95'][1]


def test_the_api_refuses_pad_inside_a_document_and_training_evaluations():
  model = Classifier(vocab_size=20, emb_dim=4, hidden=4, att_hidden=4)
  ids = np.array([[3, 0, 4]])
  with pytest.raises(FaithjaxError, match='tokens first, then PAD'):
    faithjax.explain_maps(model, {}, ids)
  with pytest.raises(FaithjaxError, match='weak_learner train a model'):
    faithjax.evaluate_maps(model, {}, ids, {}, ['weak_learner'])
