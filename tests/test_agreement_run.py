"""experiments/agreement.py end to end on the smoke preset: seeds, train-only seeds, the stacked check, reuse."""

import os
import subprocess
import sys

import numpy as np
import pytest

import conftest

from faithjax import io

pytestmark = pytest.mark.slow  # a whole experiment (two seeds, stacked check): CI's second step
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def agreement(tmp_path, *extra):
  command = [sys.executable, '-m', 'experiments.agreement', '--corpus=synthetic', '--preset=smoke',
             f'--runs_dir={tmp_path / "runs"}', f'--out={tmp_path / "out"}', '--sensitivity_subset=30',
             '--sensitivity_ig_steps=4', f'--compile_cache={conftest.COMPILE_CACHE}', *extra]
  return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=900)


@pytest.fixture(scope='module')
def measured(tmp_path_factory):
  """Seed 0 runs the whole pipeline (deletion on 150 test examples); seed 1 only trains; both are stacked on 100."""
  tmp_path = tmp_path_factory.mktemp('agreement')
  done = agreement(tmp_path, '--seeds=0,1', '--full_seeds=0', '--stacked_subset=100')
  assert done.returncode == 0, done.stderr[-3000:]
  return tmp_path, io.read_json(str(tmp_path / 'out' / 'agreement_synthetic.json'))


def test_stacked_reevaluation_gives_back_the_full_seeds_deletion_rates(measured):
  _, record = measured
  deletion = [r for r in record['stacked'] if r[1] == 'deletion_rate']
  assert sorted({r[0] for r in deletion}) == [0, 1] and len(deletion) == 8
  for seed, _, _, own, stacked, difference in deletion:
    if seed == 1:  # trained only: the stacked program is its only measurement
      assert own is None and difference is None and 0 <= stacked <= 1
    else:
      assert difference == 0 and own == stacked
  assert record['stacked_subset'] == 100
  # With a train-only seed there are no weak learners to stack for it.
  assert {r[1] for r in record['stacked']} == {'deletion_rate'}


def test_train_only_seeds_count_for_deletion_and_the_classifier_only(measured):
  _, record = measured
  seeds_measured = {(r[0], r[1]): r[4] for r in record['seed_table']}
  assert seeds_measured[('deletion_rate', 'integrated_gradients')] == 2
  assert seeds_measured[('weak_learner_f1', 'integrated_gradients')] == 1
  assert seeds_measured[('shuffle_tvd', 'integrated_gradients')] == 1
  assert [r[3] for r in record['classifier']] == [2, 2]
  stacked_ig = [r[4] for r in record['stacked'] if r[1] == 'deletion_rate' and r[2] == 'integrated_gradients']
  mean = next(r[2] for r in record['seed_table'] if r[:2] == ['deletion_rate', 'integrated_gradients'])
  assert mean == pytest.approx(np.mean(stacked_ig))  # seed 0's cell too: both seeds on the same 100 examples
  assert [len(taus) > 0 for taus in record['per_seed_tau']] == [True, False]
  # One seed cannot disagree with itself: no stability for the evaluations only seed 0 ran.
  assert record['seed_stability']['weak_learner_f1'] is None
  assert -1 <= record['seed_stability']['deletion_rate'] <= 1


def test_reports_and_figures_are_written(measured):
  tmp_path, record = measured
  out = tmp_path / 'out'
  for name in ('agreement_synthetic.md', 'agreement.md', 'agreement_synthetic_tau.png',
               'agreement_synthetic_scatter.png'):
    assert (out / name).stat().st_size > 0, name
  text = (out / 'agreement_synthetic.md').read_text()
  assert '--full_seeds=0' in text and 'Seeds 1 only trained their classifier' in text
  assert '| 1 | deletion_rate | saliency | — |' in text
  assert 'on the first 100 test examples of the deletion evaluation' in text  # a train-only seed has no run of its own to compare
  assert len(record['sensitivity']) == 2 * 3 * 2 + 1 + 2  # target x mode x sign, one other IG count, two norms
  assert record['ground_truth'] and {r[0] for r in record['ground_truth']} == {0}


def test_a_skipped_sensitivity_grid_is_reported_as_not_measured(measured):
  from faithjax.meta import seeds_render as experiment  # pylint: disable=g-import-not-at-top
  _, record = measured
  text = experiment.render_corpus({**record, 'sensitivity': [], 'sensitivity_subset': 0})
  assert 'Not measured (`--sensitivity_subset=0`)' in text and '| deletion_rate | target=' not in text
  assert '| deletion_rate | target=' in experiment.render_corpus(record)


def test_nostacked_is_reported_as_not_measured_and_refused_with_train_only_seeds(measured, tmp_path):
  from faithjax.meta import seeds_render as experiment  # pylint: disable=g-import-not-at-top
  _, record = measured
  text = experiment.render_corpus({**record, 'stacked': [], 'stacked_seconds': None, 'stacked_subset': None})
  assert 'Not measured (`--nostacked`).' in text and '| 1 | deletion_rate | saliency |' not in text
  refused = agreement(tmp_path, '--seeds=0,1', '--full_seeds=0', '--nostacked')
  assert refused.returncode != 0 and '--nostacked leaves the train-only seeds' in refused.stderr


def test_recompute_stacked_keeps_the_sensitivity_and_refuses_other_seeds(measured):
  tmp_path, record = measured
  done = agreement(tmp_path, '--seeds=0,1', '--full_seeds=0', '--stacked_subset=100', '--recompute=stacked')
  assert done.returncode == 0, done.stderr[-3000:]
  again = io.read_json(str(tmp_path / 'out' / 'agreement_synthetic.json'))
  assert again['sensitivity'] == record['sensitivity'] and again['stacked'] == record['stacked']
  refused = agreement(tmp_path, '--seeds=0,1', '--recompute=stacked')
  assert refused.returncode != 0 and 'recompute everything' in refused.stderr
