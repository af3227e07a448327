"""Agreement statistics with power (issue 15, item 4): each fast path against a plain loop or a hand case."""

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from faithjax import explain
from faithjax import io
from faithjax import metrics
from faithjax.data.encode import EncodedSplit
from faithjax.faithfulness import agreement
from faithjax.faithfulness import diagnostics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def loop_benjamini_hochberg(p):
  """BH adjusted p by its definition: min over ranks k >= rank(i) of p_(k) * m / k, capped at 1."""
  order = sorted(range(len(p)), key=lambda i: p[i])
  adjusted = [0.] * len(p)
  for position, i in enumerate(order):
    adjusted[i] = min(1., min(p[order[k]] * len(p) / (k + 1) for k in range(position, len(p))))
  return adjusted


def test_two_level_pair_differences_read_the_t_interval_and_correct_the_family():
  rng = np.random.default_rng(4)
  means = np.array([0., .02, .3, .31])[:, None, None]  # two close pairs, four far apart
  units = means + rng.normal(0, .05, (1, 5, 1)) + rng.normal(0, .3, (4, 5, 60))
  draws = metrics.two_level_draws(5, 60, 'crossed', 500, seed=5)
  estimate, boot = metrics.two_level_bootstrap((units,), lambda x: np.mean(x, -1), draws)
  rows = agreement.pair_differences(list('wxyz'), estimate, boot, layout=draws.layout)
  np.testing.assert_allclose([r['p_bh'] for r in rows], loop_benjamini_hochberg([r['p'] for r in rows]))
  for r, (i, j) in zip(rows, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]):
    np.testing.assert_allclose(r['ci95'], draws.interval(estimate[i] - estimate[j], boot[i] - boot[j]))
    assert (r['verdict'] == 'tie') == (r['p_bh'] >= .05)
  assert {(r['a'], r['b']) for r in rows if r['verdict'] != 'tie'} >= {('w', 'y'), ('w', 'z'), ('x', 'y'), ('x', 'z')}


@pytest.mark.filterwarnings('ignore::scipy.stats.ConstantInputWarning')  # constant rows: scipy's nan, our 0
def test_rank_statistics_match_scipy_with_ties():
  rng = np.random.default_rng(2)
  a, b = rng.integers(0, 4, (50, 6)).astype(float), rng.integers(0, 4, (50, 6)).astype(float)
  for row_a, row_b, tau, rho in zip(a, b, agreement.kendall_tau_b(a, b), agreement.spearman_rho(a, b)):
    np.testing.assert_allclose(tau, agreement.kendall_tau(row_a, row_b), atol=1e-12)
    expected = stats.spearmanr(row_a, row_b).statistic
    np.testing.assert_allclose(rho, expected if np.isfinite(expected) else 0., atol=1e-12)


def test_pair_differences_call_overlapping_pairs_ties():
  boot = np.array([[1., 1.1, 0.9, 1.05], [0., 0.1, -0.1, 0.05], [0.5, 1.5, 0.2, 1.2]])
  rows = agreement.pair_differences(['x', 'y', 'z'], boot.mean(1), boot)
  verdicts = {(r['a'], r['b']): r['verdict'] for r in rows}
  assert verdicts == {('x', 'y'): 'x', ('x', 'z'): 'tie', ('y', 'z'): 'z'}
  assert rows[0]['difference'] == 1.0 and rows[0]['ci95'][0] == rows[0]['ci95'][1] == 1.0


def test_rank_agreement_is_uncertain_when_explainers_are_tied():
  rng = np.random.default_rng(3)
  clear = np.array([3., 2., 1., 0.])[:, None] + 0.01 * rng.standard_normal((4, 500))
  tied = np.array([1., 1., 0., 0.])[:, None] + 0.1 * rng.standard_normal((4, 500))
  sure = agreement.rank_agreement(clear.mean(1), clear, clear.mean(1), clear)
  assert sure['kendall_tau']['ci95'] == [1., 1.] and sure['spearman_rho']['value'] == 1.
  unsure = agreement.rank_agreement(clear.mean(1), clear, tied.mean(1), tied)['kendall_tau']
  assert unsure['ci95'][0] <= 1 / 3 and unsure['ci95'][1] == 1.  # the two ties flip between resamples
  pooled = agreement.rank_agreement(np.stack([clear.mean(1)] * 2), np.stack([clear, clear]),
                                    np.stack([clear.mean(1), tied.mean(1)]), np.stack([clear, tied]))['kendall_tau']
  np.testing.assert_allclose(pooled['value'], (1 + unsure['value']) / 2)  # the mean over corpora
  assert unsure['ci95'][0] < pooled['ci95'][0] and pooled['ci95'][1] == 1.


def tiny_split():
  return EncodedSplit.from_lists([[5, 6, 7, 8], [9, 10], [11, 12, 13]], [0, 1, 1])


def test_removed_tokens_match_a_per_document_loop():
  split, rng = tiny_split(), np.random.default_rng(4)
  scores = rng.integers(0, 3, len(split.ids)).astype(np.float32)  # ties: the earlier position goes first
  indices, rates = np.array([2, 0]), np.array([2 / 3, 0.5])
  removed = diagnostics.removed_tokens(split, indices, scores, rates)
  for row, (i, rate) in enumerate(zip(indices, rates)):
    doc = scores[split.offsets[i]:split.offsets[i + 1]]
    order = sorted(range(len(doc)), key=lambda t: (-doc[t], t))
    expected = np.zeros(removed.shape[1], bool)
    expected[order[:round(rate * len(doc))]] = True
    np.testing.assert_array_equal(removed[row], expected)


def test_opposing_share_fixed_class_maps_and_leakage_by_hand():
  split = tiny_split()
  effects = np.array([1., -2., 3., -1., -1., 2., 0.5, 0.5, -3.], np.float32)
  removed = np.array([[True, True, False, False], [True, True, False, False]])
  share = diagnostics.opposing_share(split, np.array([0, 1]), removed, effects)
  assert share == {'removed': 4, 'opposing': 0.5, 'all_tokens': 0.5}  # removed: 1, -2 | -1, -1; all: 3 of 6
  flipped = diagnostics.fixed_class_maps(split, effects, np.array([1, 0, 1]))
  np.testing.assert_array_equal(flipped, np.concatenate([effects[:4], -effects[4:6], effects[6:]]))
  result = diagnostics.leakage(labels=[0, 1, 1, 0], classifier_predictions=[1, 1, 0, 0], weak_predictions=[1, 1, 1, 1])
  assert result['classifier_wrong'] == 2 and result['follows_classifier_when_wrong'] == 0.5
  assert result['agrees_with_classifier'] == 0.5 and result['accuracy'] == 0.5


def run_agreement_stats(*arguments):
  command = [sys.executable, '-m', 'experiments.agreement_stats', *arguments]
  done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]


def test_agreement_stats_reads_seed_archives(tmp_path):
  """Sections 1 and 2 from two committed 20 News seed archives: crossed (same test documents), the rank agreement
  with and without the baselines, every p corrected; pooled with itself, every evaluation ranks alike on the two
  "corpora"."""
  archives = [os.path.join(REPO, 'experiments', 'results', 'reproduction_cpu_seeds', f'20news-seed{s}.npz')
              for s in (0, 1)]
  run_agreement_stats('--corpus=archived', f'--archives={",".join(archives)}', f'--out={tmp_path}',
                      f'--scored_dir={tmp_path}', '--n_resamples=50')
  record = io.read_json(str(tmp_path / 'agreement_stats_archived.json'))
  assert record['design'] == 'crossed' and record['seeds'] == [0, 1] and record['examples'] == 387
  assert 'leakage' not in record
  for row in record['rank_agreement_without_baselines']:
    assert not set(row['explainers']) & set(explain.baseline_names()) and 0 <= row['kendall_tau']['p_bh'] <= 1
  assert any(set(row['explainers']) & set(explain.baseline_names()) for row in record['rank_agreement'])
  assert all('p_bh' in p for entry in record['evaluations'].values() for p in entry['pairs'])
  assert 'Benjamini–Hochberg' in (tmp_path / 'agreement_stats_archived.md').read_text()
  run_agreement_stats('--corpus=pooled', '--pool=archived,archived', f'--out={tmp_path}', f'--scored_dir={tmp_path}')
  pooled = io.read_json(str(tmp_path / 'agreement_stats_pooled.json'))
  assert len(pooled['between_corpora']) == len(record['evaluations'])
  assert all(r['kendall_tau']['value'] == 1 for r in pooled['between_corpora'])
