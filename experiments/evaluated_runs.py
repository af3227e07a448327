"""Finished workdirs read back for statistics across runs (experiments.agreement_stats, experiments.reproduce
--seeds): each one's config, encoded corpus, evaluation files and classifier, and the seed-aware cells of the
reproduction tables."""

import functools

import numpy as np

from faithjax import metrics
from faithjax import paper
from faithjax import study
from faithjax.faithfulness import evaluations
from faithjax.runs import ArchivedRun, EvaluatedRun, Run, config_of, design_of, nanmean, statistic_of, write_archive  # pylint: disable=unused-import

CLOSE = 0.05  # "within .05 of the paper": the closeness count of the seed-aware reproduction
# Differences within this of 0 are float rounding (e.g. a uniform map's shuffle TVD, 0 by construction), not moves.
ROUNDING = 1e-6



def accuracy_along_last_axis(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
  """Share of correct predictions over the last axis: [..., n] x2 -> [...]."""
  return np.mean(labels == predictions, -1)


def table2_statistics(num_classes: int = 2) -> dict:
  """Table 2's statistics over the last axis: accuracy, and the F1 tables report (the positive class's for two
  classes, macro for more: metrics.f1_along_last_axis)."""
  return {'accuracy': accuracy_along_last_axis,
          'f1': functools.partial(metrics.f1_along_last_axis, num_classes=num_classes)}


def seeded_cell(units: tuple, statistic, draws: metrics.TwoLevelDraws) -> dict:
  """The mean over seeds of a per-seed statistic, its two-level 95% CI (draws.interval) and the seeds' sd.

  units: a tuple of arrays [n_seeds, n_test]; statistic: [..., n_test] -> [...]. The row keeps the bootstrap
  ('boot') and the design it resampled ('design', 'examples' = n_test) for variant_move.
  """
  estimate, boot = metrics.two_level_bootstrap(units, statistic, draws)
  low, high = draws.interval(estimate, boot)
  per_seed = statistic(*units)
  return {'ours': float(estimate), 'low': float(low), 'high': float(high),
          'seed_sd': float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else 0.0, 'seeds': len(per_seed),
          'design': draws.design, 'examples': draws.n, 'boot': boot}


def seeded_table2_rows(runs_by_corpus: dict, draws_of) -> list:
  """Table 2's rows (accuracy, F1) over every seed: runs_by_corpus {corpus: [Run per seed]}, draws_of(corpus)
  the corpus's metrics.two_level_draws."""
  rows = []
  for corpus, runs in runs_by_corpus.items():
    labels = np.stack([r.labels for r in runs])
    predictions = np.stack([r.classifier_predictions() for r in runs])
    classes = runs[0].results().get('stages', {}).get('encode', {}).get('classes')  # recorded since k classes
    for metric, statistic in table2_statistics(len(classes) if classes else 2).items():
      cell = seeded_cell((labels, predictions), statistic, draws_of(corpus))
      rows.append(study.with_paper({'metric': metric, 'corpus': corpus, **cell}, paper.TABLE2[metric].get(corpus)))
  return rows


def seeded_rows(runs_by_corpus: dict, evaluation: str, draws_of) -> list:
  """study.comparison_rows' rows of one evaluation, each cell over every seed of its corpus (seeded_cell)."""
  spec = evaluations.SCORES[evaluation]
  theirs = study.TABLE_OF.get(evaluation, {n: {} for n in paper.EXPLAINERS})
  rows = []
  for name, by_corpus in theirs.items():
    for corpus, runs in runs_by_corpus.items():
      if not all(r.has(spec.section, name) for r in runs):
        continue
      per_seed = [r.units(spec, name) for r in runs]
      units = tuple(np.stack([seed[i] for seed in per_seed]) for i in range(len(per_seed[0])))
      cell = seeded_cell(units, statistic_of(runs[0], spec, name), draws_of(corpus))
      rows.append(study.with_paper({'map': name, 'corpus': corpus, **cell}, by_corpus.get(corpus)))
  return rows


def closeness_counts(rows: list) -> dict:
  """Of the cells the paper reports: how many lie within CLOSE of it, and how many intervals contain it."""
  compared = [r for r in rows if r['paper'] is not None]
  return {'cells': len(compared), 'within_05': sum(abs(r['diff']) <= CLOSE for r in compared),
          'inside_ci': sum(r['low'] is not None and r['low'] <= r['paper'] <= r['high'] for r in compared)}


def excludes_zero(low: float, high: float) -> bool:
  """Whether an interval of a difference excludes 0 by more than float rounding."""
  return low > ROUNDING or high < -ROUNDING


def not_reproduced(tables: dict) -> list:
  """(table, row) of every cell the paper reports that lies more than CLOSE from it with an interval that
  excludes it (tables: {table key: seeded rows}), the largest gap first."""
  missed = [(t, r) for t, rows in tables.items() for r in rows
            if r['paper'] is not None and abs(r['diff']) > CLOSE and not r['low'] <= r['paper'] <= r['high']]
  return sorted(missed, key=lambda cell: -abs(cell[1]['diff']))


def cell_name(table: str, row: dict) -> tuple:
  """(evaluation, map) of a seeded row, as experiments.departures names its rows."""
  return (f'classifier_{row["metric"]}', 'classifier') if table == 'table2' else (table, row['map'])


def direction(gap: float, move: float, low: float, high: float) -> str:
  """'closer' or 'further' from the paper for a move (with its CI) of a cell `gap` = ours − paper away from it;
  'tie' where the interval covers 0."""
  if not excludes_zero(low, high):
    return 'tie'
  return 'closer' if abs(gap + move) < abs(gap) else 'further'


def variant_change(base_by_corpus: dict, variant_by_corpus: dict) -> str:
  """What a variant reproduction changes, for its column header: the settings it runs otherwise than ours on a
  corpus both have (two corpora's presets differ in more than the variant), and the corpora whose test documents
  differ. Both: {corpus: [EvaluatedRun per seed]}, the variant's corpora a subset of ours."""
  shared = next(iter(variant_by_corpus))
  base, other = (runs[shared][0].config.fingerprint() for runs in (base_by_corpus, variant_by_corpus))
  changed = ', '.join(f'{k}={other[k]}' for k in sorted(other)
                      if k != 'corpus' and other[k] != base.get(k)) or 'the same settings'
  other_documents = sorted(c for c, runs in variant_by_corpus.items()
                           if not np.array_equal(runs[0].labels, base_by_corpus[c][0].labels))
  return changed + (f'; other test documents on {", ".join(other_documents)}' if other_documents else '')


def variant_move(base: dict, variant: dict) -> dict:
  """variant − base of one seeded cell (rows with their 'boot'), with the 95% CI of the difference of their two
  independent two-level bootstraps (different classifiers, so nothing pairs their seeds: the variances add), read
  with the smaller of the two's seeds and test examples."""
  layout = (min(base['seeds'], variant['seeds']), min(base['examples'], variant['examples']), base['design'])
  move = variant['ours'] - base['ours']
  low, high = metrics.two_level_interval(move, variant['boot'] - base['boot'], *layout)
  return {'variant': variant['ours'], 'move': move, 'low': float(low), 'high': float(high),
          'direction': direction(base['diff'], move, low, high)}


def departure_moves(corpus: str, cell: tuple, gap: float, records: dict) -> list:
  """The measured moves of one cell in experiments.departures' records ({name: record}) of the corpus whose CI
  excludes 0: [(record name, the switch 'field=value' from the record's baseline, move, low, high, direction)]."""
  found = []
  for name, record in records.items():
    if record['corpus'] != corpus:
      continue
    for dep in record['departures'][1:]:
      for row in dep['rows']:
        if tuple(row[:2]) == cell and excludes_zero(row[5], row[6]):
          switch = f"{dep['field']}={dep['original']}"
          found.append((name, switch, row[4], row[5], row[6], direction(gap, *row[4:7])))
  return found
