"""The study's tables and checks, on runs whose numbers are known."""

import numpy as np

from faithjax import paper
from faithjax import study


def fake_run(corpus, swap=None):
  """A results.json whose evaluation numbers are the paper's (optionally two explainers swapped)."""
  value = lambda table, name: table[name][corpus]
  names = {n: n for n in paper.EXPLAINERS + paper.BASELINES}
  if swap:
    a, b = swap
    names[a], names[b] = b, a
  evaluate = {
      'deletion': {n: {'mean': value(paper.TABLE3, names[n]), 'ci95': [0.0, 1.0]} for n in paper.EXPLAINERS},
      'shuffle': {n: {'mean': value(paper.TABLE5, names[n]), 'ci95': [0.0, 1.0]} for n in paper.EXPLAINERS},
      'weak_learner': {n: {'f1': value(paper.TABLE4, names[n]), 'valid_loss': [0.7, 0.5]}
                       for n in paper.EXPLAINERS + paper.BASELINES},
  }
  test = {m: paper.TABLE2[m][corpus] for m in paper.TABLE2}
  return {'stages': {'train': {'test': test}, 'evaluate': evaluate, 'encode': {'display_name': corpus}}}


def test_the_papers_own_numbers_reproduce_exactly():
  runs = {c: fake_run(c) for c in paper.CORPORA}
  for evaluation in study.evaluation_names():
    assert all(r['diff'] == 0 for r in study.comparison_rows(runs, evaluation))
    assert all(r['tau'] == 1.0 for r in study.ranking_agreement_with_paper(runs, evaluation).values())
  assert all(r['diff'] == 0 for r in study.table2_rows(runs))
  ours = study.conclusions(study.our_scores_by_evaluation(runs))
  assert ours == study.conclusions(study.paper_scores())


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
