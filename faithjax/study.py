"""The study across corpora: Tables 2-5 beside the paper, Figure 5, rankings, agreement.

Input: one results.json content per corpus (what `pipeline.run_pipeline`
returns). Everything here is a pure function of those and of faithjax.paper.
"""

import itertools
from typing import Any, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from faithjax import paper
from faithjax.faithfulness import agreement
from faithjax.faithfulness import evaluations

TABLE_OF = {'deletion_rate': paper.TABLE3, 'weak_learner_f1': paper.TABLE4, 'shuffle_tvd': paper.TABLE5}
PAPER_EVALUATIONS = tuple(TABLE_OF)  # the paper's conclusions are about these


def evaluation_names() -> tuple[str, ...]:
  """Every registered evaluation (evaluations.SCORES), the paper's first."""
  return tuple(evaluations.SCORES)


PAPER_TITLE = {'deletion_rate': 'Table 3: mean deletion rate (lower = more faithful)',
               'weak_learner_f1': 'Table 4: weak-learner test F1',
               'shuffle_tvd': 'Table 5: mean of median TVD over shuffles'}


def title(evaluation: str) -> str:
  """A table's heading: the paper's, or the evaluation's label and direction."""
  described = evaluations.SCORES[evaluation]
  direction = 'higher' if described.orientation > 0 else 'lower'
  return PAPER_TITLE.get(evaluation, f'{described.label} ({direction} = more faithful; ours only, not in the paper)')


def our_cell(results: Mapping[str, Any], evaluation: str, name: str) -> dict | None:
  """{'mean', 'ci95' (or None)} of one explainer under one evaluation; None if not measured."""
  return evaluations.SCORES[evaluation].cell(results['stages'].get('evaluate', {}), name)


def our_scores(results: Mapping[str, Any], evaluation: str,
               names: Sequence[str] = paper.EXPLAINERS) -> dict[str, float]:
  """{explainer: mean} for the explainers this run measured."""
  cells = {n: our_cell(results, evaluation, n) for n in names}
  return {n: c['mean'] for n, c in cells.items() if c}


def corpora_of(runs: Mapping[str, Mapping[str, Any]]) -> list[str]:
  """The corpora of `runs`, the paper's in its order first, then any it lacks (synthetic, a plugged-in one)."""
  return [c for c in paper.CORPORA if c in runs] + [c for c in runs if c not in paper.CORPORA]


def comparison_rows(runs: Mapping[str, Mapping[str, Any]], evaluation: str) -> list[dict]:
  """Rows (map, corpus, ours, ci low, ci high, paper, ours - paper) of one table; paper and diff are None
  for a cell the paper does not report (another evaluation, or a corpus it did not study)."""
  theirs = TABLE_OF.get(evaluation, {n: {} for n in paper.EXPLAINERS})
  rows = []
  for name, by_corpus in theirs.items():
    for corpus in corpora_of(runs):
      cell = our_cell(runs[corpus], evaluation, name)
      if cell:
        low, high = cell['ci95'] or (None, None)
        rows.append(with_paper({'map': name, 'corpus': corpus, 'ours': cell['mean'], 'low': low, 'high': high},
                               by_corpus.get(corpus)))
  return rows


def table2_rows(runs: Mapping[str, Mapping[str, Any]]) -> list[dict]:
  """Rows (metric, corpus, ours, ci low, ci high, paper, ours - paper) of Table 2, the classifiers' test metrics."""
  rows = []
  for metric, by_corpus in paper.TABLE2.items():
    for corpus in corpora_of(runs):
      test = runs[corpus]['stages']['train']['test']
      low, high = test.get(f'{metric}_ci95') or (None, None)
      rows.append(with_paper({'metric': metric, 'corpus': corpus, 'ours': test[metric], 'low': low, 'high': high},
                             by_corpus.get(corpus)))
  return rows


def with_paper(row: dict, theirs: float | None) -> dict:
  """The row with the paper's value and ours − paper (None where the paper has no such cell)."""
  return {**row, 'paper': theirs, 'diff': None if theirs is None else row['ours'] - theirs}


def ranking_agreement_with_paper(runs: Mapping[str, Mapping[str, Any]], evaluation: str) -> dict[str, dict]:
  """Per corpus: Kendall tau between our and the paper's explainer scores, with exact p."""
  out = {}
  if evaluation not in TABLE_OF:
    return {}
  for corpus, results in runs.items():
    ours = our_scores(results, evaluation)
    names = [n for n in paper.EXPLAINERS if n in ours and corpus in TABLE_OF[evaluation][n]]
    if len(names) >= 3:
      tau, p = agreement.kendall_permutation_test([ours[n] for n in names],
                                                  [TABLE_OF[evaluation][n][corpus] for n in names])
      out[corpus] = {'tau': tau, 'p': p, 'ours': agreement.ranking({n: ours[n] for n in names}, evaluation),
                     'paper': agreement.ranking({n: TABLE_OF[evaluation][n][corpus] for n in names}, evaluation)}
  return out


def evaluation_agreement(results: Mapping[str, Any]) -> list:
  """Within one corpus: Kendall tau between the rankings of each pair of evaluations."""
  scores = {e: our_scores(results, e) for e in evaluation_names()}
  scores = {e: s for e, s in scores.items() if len(s) >= 3}
  return agreement.pairwise_agreement(scores) if len(scores) >= 2 else []


def cross_corpus_stability(scores_by_corpus: Mapping[str, Mapping[str, float]], evaluation: str) -> float:
  """Mean pairwise Kendall tau of explainer rankings between corpora (1 = the dataset never matters).

  Any grouping works: keyed by seed, it measures how much the seed changes the ranking.
  """
  taus = []
  for a, b in itertools.combinations(sorted(scores_by_corpus), 2):
    names = sorted(set(scores_by_corpus[a]) & set(scores_by_corpus[b]))
    if len(names) >= 3:
      taus.append(agreement.kendall_tau([scores_by_corpus[a][n] for n in names],
                                        [scores_by_corpus[b][n] for n in names]))
  return float(np.mean(taus)) if taus else float('nan')


def conclusions(scores: Mapping[str, Mapping[str, Mapping[str, float]]]) -> list[dict]:
  """The paper's qualitative conclusions, checked on `scores`: {evaluation: {corpus: {explainer: value}}}.

  Returns a list of {claim, holds (None: not measurable, e.g. one corpus), evidence}. "Most faithful" and "least faithful"
  hold when true in more than half of the (evaluation, corpus) cases: the paper's
  own numbers put Saliency last in 7 of 12 and call it "worst almost everywhere".
  """
  cases = [(e, c, s) for e, by_corpus in scores.items() for c, s in by_corpus.items() if len(s) == 4]
  top2 = [(e, c) for e, c, s in cases
          if set(agreement.ranking(s, e)[:2]) == {'integrated_gradients', 'input_x_gradient'}]
  worst = [(e, c) for e, c, s in cases if agreement.ranking(s, e)[-1] == 'saliency']
  stability = {e: cross_corpus_stability(by_corpus, e) for e, by_corpus in scores.items()}
  spread_across = {e: float(np.mean([np.ptp([s[n] for s in by_corpus.values() if n in s])
                                     for n in paper.EXPLAINERS]))
                   for e, by_corpus in scores.items() if len(by_corpus) >= 2}
  least_stable = min(stability, key=lambda e: np.nan_to_num(stability[e], nan=np.inf))
  return [
      {'claim': 'IG and Input×Gradient are the two most faithful explainers',
       'holds': len(top2) > len(cases) / 2,
       'evidence': f'top two in {len(top2)} of {len(cases)} (evaluation, corpus) cases'},
      {'claim': 'Saliency is the least faithful explainer',
       'holds': len(worst) > len(cases) / 2,
       'evidence': f'last in {len(worst)} of {len(cases)} cases'},
      {'claim': 'absolute values are not comparable across corpora (an explainer moves > 0.1 between corpora, '
                 'on average, under most evaluations)',
       'holds': sum(v > 0.1 for v in spread_across.values()) > len(spread_across) / 2 if spread_across else None,
       'evidence': 'mean range of one explainer\'s value across corpora: '
                   + ', '.join(f'{e} {v:.3f}' for e, v in spread_across.items())},
      {'claim': 'the weak learner is the most dataset-sensitive evaluation',
       'holds': None if np.isnan(stability[least_stable]) else least_stable == 'weak_learner_f1',
       'evidence': 'mean Kendall tau of explainer rankings between corpora (lower = more dataset-sensitive): '
                   + ', '.join(f'{e} {v:.2f}' for e, v in stability.items())},
  ]


def paper_scores() -> dict[str, dict[str, dict[str, float]]]:
  """The paper's own numbers in the shape `conclusions` reads."""
  return {e: {c: {n: TABLE_OF[e][n][c] for n in paper.EXPLAINERS} for c in paper.CORPORA}
          for e in PAPER_EVALUATIONS}


def our_scores_by_evaluation(runs: Mapping[str, Mapping[str, Any]],
                             names: Sequence[str] = PAPER_EVALUATIONS) -> dict[str, dict[str, dict[str, float]]]:
  """{evaluation: {corpus: {explainer: mean}}}; by default the paper's evaluations, which `conclusions` reads."""
  return {e: {c: our_scores(r, e) for c, r in runs.items()} for e in names}


def per_example_agreement(deletion_rates: ArrayLike, deletion_indices: np.ndarray, median_tvds: np.ndarray,
                          covariates: ArrayLike = ()) -> dict[str, float]:
  """Spearman between the oriented deletion rate (negated: higher = more faithful) and shuffle TVD.

  Over the test examples both measured; positive rho = the evaluations agree. covariates: [k, n_test]
  per-example values (e.g. length, classifier margin) partialled out (agreement.partial_spearman).
  """
  covariates = np.asarray(covariates, np.float64).reshape(-1, len(median_tvds))[:, deletion_indices]
  return agreement.spearman_with_ci(evaluations.oriented('deletion_rate', deletion_rates),
                                    np.asarray(median_tvds)[deletion_indices], covariates=covariates)
