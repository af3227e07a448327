"""The study's tables and checks, on runs whose numbers are known."""

import numpy as np
import pytest

from faithjax import paper
from faithjax import study
from faithjax.faithfulness import agreement
from faithjax.faithfulness import evaluations


def fake_run(corpus, swap=None, shift=0.0):
  """A results.json whose evaluation numbers are the paper's plus `shift` (optionally two explainers swapped)."""
  value = lambda table, name: table[name][corpus] + shift
  names = {n: n for n in paper.EXPLAINERS + paper.BASELINES}
  if swap:
    a, b = swap
    names[a], names[b] = b, a
  evaluate = {
      'deletion': {n: {'mean': value(paper.TABLE3, names[n]), 'ci95': [0.0, 1.0]} for n in paper.EXPLAINERS},
      'shuffle': {n: {'mean': value(paper.TABLE5, names[n]), 'ci95': [0.0, 1.0]} for n in paper.EXPLAINERS},
      'weak_learner': {n: {'f1': value(paper.TABLE4, names[n]), 'f1_ci95': [0.0, 1.0], 'valid_loss': [0.7, 0.5]}
                       for n in paper.EXPLAINERS + paper.BASELINES},
      'eraser': {n: {'aopc_comprehensiveness': {'mean': 0.1 * i, 'ci95': [0.0, 1.0]},
                     'aopc_sufficiency': {'mean': 0.5 - 0.1 * i, 'ci95': [0.0, 1.0]}}
                 for i, n in enumerate(paper.EXPLAINERS)},
  }
  test = {m: paper.TABLE2[m][corpus] + shift for m in paper.TABLE2}
  return {'stages': {'train': {'test': test}, 'evaluate': evaluate, 'encode': {'display_name': corpus}}}


def test_tables_put_ours_beside_the_paper_and_subtract():
  runs = {c: fake_run(c, shift=0.01) for c in paper.CORPORA}
  for evaluation in study.PAPER_EVALUATIONS:
    rows = study.comparison_rows(runs, evaluation)
    assert {(r['map'], r['corpus']) for r in rows} >= {(n, c) for n in paper.EXPLAINERS for c in paper.CORPORA}
    for r in rows:
      assert r['ours'] == pytest.approx(study.TABLE_OF[evaluation][r['map']][r['corpus']] + 0.01)
      assert r['diff'] == pytest.approx(0.01) and (r['low'], r['high']) == (0.0, 1.0)
    # a common shift keeps every ranking: tau 1 with the paper on each corpus
    assert all(r['tau'] == 1.0 for r in study.ranking_agreement_with_paper(runs, evaluation).values())
  assert all(r['diff'] == pytest.approx(0.01) for r in study.table2_rows(runs))


def test_eraser_rows_are_ours_only():
  runs = {'sst': fake_run('sst')}
  rows = study.comparison_rows(runs, 'eraser_comprehensiveness')
  assert [(r['map'], r['ours'], r['paper'], r['diff']) for r in rows] == [
      (n, pytest.approx(0.1 * i), None, None) for i, n in enumerate(paper.EXPLAINERS)]
  assert study.ranking_agreement_with_paper(runs, 'eraser_comprehensiveness') == {}
  assert 'ours only' in study.title('eraser_sufficiency') and study.title('deletion_rate').startswith('Table 3')


def test_conclusions_on_scores_built_to_hold_them():
  """IG and IxG best and saliency worst on every evaluation and corpus: the first two claims hold."""
  order = ('integrated_gradients', 'input_x_gradient', 'attention', 'saliency')  # most faithful first
  scores = {e: {c: {n: evaluations.SCORES[e].orientation * (4 - i) for i, n in enumerate(order)}
                for c in paper.CORPORA} for e in study.PAPER_EVALUATIONS}
  claims = {c['claim']: c['holds'] for c in study.conclusions(scores)}
  assert claims['IG and Input×Gradient are the two most faithful explainers']
  assert claims['Saliency is the least faithful explainer']
  assert not claims['absolute values are not comparable across corpora (an explainer moves > 0.1 between '
                    'corpora, on average, under most evaluations)']  # every corpus has the same numbers


def test_a_swapped_ranking_is_seen():
  runs = {c: fake_run(c, swap=('saliency', 'integrated_gradients')) for c in paper.CORPORA}
  taus = study.ranking_agreement_with_paper(runs, 'deletion_rate')
  assert all(r['tau'] < 1 for r in taus.values())
  claims = {c['claim']: c['holds'] for c in study.conclusions(study.our_scores_by_evaluation(runs))}
  assert not claims['IG and Input×Gradient are the two most faithful explainers']


def test_evaluation_agreement_orients_each_evaluation():
  run = fake_run('imdb')
  rows = {(r['a'], r['b']): r['tau'] for r in study.evaluation_agreement(run)}
  # On IMDB the paper's deletion and TVD rankings swap IG/IxG and saliency/attention: 2 of 6 pairs.
  assert np.isclose(rows[('deletion_rate', 'shuffle_tvd')], 1 / 3)


def test_cross_corpus_stability_is_one_when_rankings_never_change():
  same = {c: {'a': 1.0, 'b': 2.0, 'c': 3.0} for c in ('x', 'y', 'z')}
  assert study.cross_corpus_stability(same, 'shuffle_tvd') == 1.0
  same['z'] = {'a': 3.0, 'b': 2.0, 'c': 1.0}
  assert study.cross_corpus_stability(same, 'shuffle_tvd') < 1.0


def test_per_example_agreement_reads_tvds_and_covariates_at_deletions_examples():
  rng = np.random.default_rng(0)
  tvds, length = rng.random(50), rng.integers(3, 40, 50).astype(float)
  indices = rng.choice(50, 30, replace=False)  # deletion's test subset, in its own order
  rates = rng.random(30)
  result = study.per_example_agreement(rates, indices, tvds, [length])
  assert result['rho'] == pytest.approx(agreement.partial_spearman(-rates, tvds[indices], [length[indices]]))
  assert study.per_example_agreement(rates, indices, tvds)['rho'] == pytest.approx(
      agreement.partial_spearman(-rates, tvds[indices]))


def test_a_corpus_the_paper_lacks_gets_rows_without_paper_values():
  runs = {'synthetic': fake_run('sst'), 'sst': fake_run('sst', shift=0.01)}
  assert study.corpora_of(runs) == ['sst', 'synthetic']
  for rows in (study.table2_rows(runs), study.comparison_rows(runs, 'deletion_rate')):
    assert {r['corpus'] for r in rows} == {'sst', 'synthetic'}
    assert all((r['paper'] is None) == (r['corpus'] == 'synthetic') for r in rows)
    assert all(r['diff'] == pytest.approx(0.01) for r in rows if r['corpus'] == 'sst')
