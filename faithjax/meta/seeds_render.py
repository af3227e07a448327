"""Do the evaluations agree across seeds? faithjax/meta/seeds.py's measurements rendered: agreement_<corpus>.md from
its JSON record, agreement.md over every corpus, and the figures."""

import itertools
from typing import Sequence

import matplotlib

matplotlib.use('Agg')  # files only; never a window
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from faithjax import io  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax import paper  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax import provenance  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax import report  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax import study  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax.meta import seeds  # pylint: disable=g-import-not-at-top,wrong-import-position


def tau_heatmap(per_seed: list, path: str) -> None:
  """The mean over seeds of Kendall tau between each two evaluations' rankings (seeds.per_seed_tau's rows)."""
  names, matrix = seeds.mean_tau(per_seed)
  fig, ax = plt.subplots(figsize=(4.6, 3.8))
  image = ax.imshow(matrix, vmin=-1, vmax=1, cmap='RdBu_r')
  ax.set_xticks(range(len(names)), names, rotation=30, ha='right')
  ax.set_yticks(range(len(names)), names)
  for i, j in itertools.product(range(len(names)), repeat=2):
    ax.text(j, i, f'{matrix[i, j]:.2f}', ha='center', va='center')
  fig.colorbar(image)
  ax.set_title(f'Kendall τ between evaluations (mean of {len(per_seed)} seeds)', fontsize=9)
  io.save_figure(fig, path)


def scatter(rows: list, path: str) -> None:
  """Deletion rate against shuffle TVD per example, one panel per seeds.DeletionShuffle."""
  fig, axes = plt.subplots(1, len(rows), figsize=(3.4 * len(rows), 3.2), squeeze=False)
  for ax, row in zip(axes[0], rows):
    ax.scatter(row.rates, row.tvds, s=4, alpha=0.4)
    ax.set_title(f'{row.explainer}\nρ = {row.rho:.2f}', fontsize=9)
    ax.set_xlabel('deletion rate (ρ uses −rate)')
  axes[0][0].set_ylabel('median TVD')
  io.save_figure(fig, path)


def mean_sd(mean: float, sd: float, seeds: int) -> str:
  """'mean ± sd' over seeds; the mean alone for one seed."""
  return f'{mean:.3f} ± {sd:.3f}' if seeds > 1 else f'{mean:.3f} (one seed)'


def without_single_seed_sd(rows: list[list]) -> list[list]:
  """Table rows ending [..., mean, sd, seeds] with the sd of a one-seed row shown as — (it is not 0)."""
  return [[*r[:-2], r[-2] if r[-1] > 1 else None, r[-1]] for r in rows]


def largest_difference(stacked_rows: list[list], evaluation: str) -> str:
  """The largest stacked-vs-own difference of one evaluation, '—' where no seed has a run of its own to compare."""
  differences = [r[5] for r in stacked_rows if r[1] == evaluation and r[5] is not None]
  return f'{max(differences):.1e}' if differences else '—'


def seed_means(record: dict, evaluation: str) -> dict[str, float]:
  """{explainer: mean over seeds} of one evaluation in a corpus record."""
  return {r[1]: r[2] for r in record['seed_table'] if r[0] == evaluation}


def recorded_evaluations(*records: dict) -> list[str]:
  """The registered evaluations every record measured (records made before an evaluation was added lack it)."""
  return [e for e in study.evaluation_names() if all(any(r[0] == e for r in rec['seed_table']) for rec in records)]


def render_summary(records: dict, explainers: Sequence[str]) -> str:
  """agreement.md: every corpus's record ({corpus: record}, in the order of the columns) side by side, the rows of
  the explainers compared."""
  names = list(records)
  evaluations_measured = recorded_evaluations(*records.values())
  real = [c for c in names if c in paper.CORPORA]
  pairs = [(a, b) for a, b in itertools.combinations(sorted(evaluations_measured), 2)]

  def seed_cell(record: dict, evaluation: str, name: str) -> str:
    return next(mean_sd(*r[2:5]) for r in record['seed_table'] if r[0] == evaluation and r[1] == name)

  def tau_cell(record: dict, a: str, b: str) -> str:
    taus = [r['tau'] for rows in record['per_seed_tau'] for r in rows if (r['a'], r['b']) == (a, b)]
    return f'{np.mean(taus):.2f} [{min(taus):.2f}, {max(taus):.2f}]'

  def survival(record: dict, evaluation: str) -> str:
    rows = [r for r in record['sensitivity'] if r[0] == evaluation]
    broken = [r[1] for r in rows if not r[4]]
    if not rows:
      return 'not measured'
    return f'{len(rows) - len(broken)}/{len(rows)}' + (f' (not: {"; ".join(broken)})' if broken else '')

  lines = ['# Do the evaluations agree? All corpora', '',
           'Built by `python -m experiments.agreement --summary_only` from the per-corpus reports '
           + ', '.join(f'[{c}](agreement_{c}.md)' for c in names) + '; each names its command, settings, seeds, '
           'versions and hardware. Presets (config.PRESETS): '
           + ', '.join(f'{c} `{records[c]["preset"]}`' for c in names) + '.', '',
           '## The classifier across seeds (Table 2: test metrics, mean ± sd over seeds)', '',
           report.markdown_table(['metric'] + names,
                                 [[m] + [next(mean_sd(*r[1:4]) for r in records[c]['classifier'] if r[0] == m)
                                         for c in names] for m in ('accuracy', 'f1')]), '',
           '## Every evaluation across seeds (mean ± sd over seeds)', '',
           report.markdown_table(['evaluation', 'explainer'] + [f'{c} ({len(records[c]["seeds"])} seeds)'
                                                                for c in names],
                                 [[e, n] + [seed_cell(records[c], e, n) for c in names]
                                  for e in evaluations_measured for n in explainers]), '',
           '## Does the seed or the dataset change the verdict? (mean pairwise Kendall τ between rankings)', '',
           'Per corpus: between the seeds\' explainer rankings. Last column: between the real corpora\'s '
           'rankings of the seed means. 1 = the ranking never changes.', '',
           report.markdown_table(['evaluation'] + names + ['across real corpora'],
                                 [[e] + [records[c]['seed_stability'][e] for c in names]
                                  + [study.cross_corpus_stability({c: seed_means(records[c], e) for c in real}, e)]
                                  for e in evaluations_measured]), '',
           '## Do the evaluations agree? (Kendall τ between their explainer rankings: mean [min, max] over seeds)',
           '',
           report.markdown_table(['evaluations'] + names,
                                 [[f'{a} vs {b}'] + [tau_cell(records[c], a, b) for c in names] for a, b in pairs]),
           '',
           '## Per example: Spearman ρ between −deletion rate and shuffle TVD (seed 0, [95% CI])', '',
           report.markdown_table(['explainer'] + names,
                                 [[n] + [next(f'{r[1]:.2f} [{r[2]:.2f}, {r[3]:.2f}]' for r in records[c]['per_example']
                                              if r[0] == n) for c in names] for n in explainers]), '',
           '## Which rankings survive the open choices (seed 0; rows that keep the run\'s own ranking)', '',
           report.markdown_table(['evaluation'] + names,
                                 [[e] + [survival(records[c], e) for c in names]
                                  for e in ('deletion_rate', 'weak_learner_f1')]), '',
           '## Stacked re-evaluation of all seeds (the three evaluations in one program per bucket)', '',
           'Largest difference from the per-seed runs, per example for deletion and shuffle, of F1 for the '
           'weak learner.', '',
           report.markdown_table(['corpus', 'seeds', 'seconds'] + list(evaluations_measured),
                                 [[c, len(records[c]['seeds']),
                                   f'{records[c]["stacked_seconds"]:.0f} ({records[c]["provenance"]["device"]["kind"]})'
                                   if records[c]['stacked'] else 'not measured']
                                  + [largest_difference(records[c]['stacked'], e) for e in evaluations_measured]
                                  for c in names]), '']
  truth = {c: r['ground_truth'] for c, r in records.items() if r['ground_truth']}
  for corpus, rows in truth.items():
    lines += [f'## Ground truth ({corpus}): mean τ between each evaluation and the planted-token ranking', '',
              report.markdown_table(['evaluation', 'mean τ over seeds'],
                                    [[e, float(np.mean([t for _, ev, t in rows if ev == e]))]
                                     for e in evaluations_measured]), '']
  return '\n'.join(lines) + '\n'


def render_corpus(record: dict) -> str:
  """agreement_<corpus>.md from one corpus's record."""
  corpus, seeds, prov = record['corpus'], record['seeds'], record['provenance']
  full = record.get('full_seeds', seeds)
  train_only = [s for s in seeds if s not in full]
  stem = f'agreement_{corpus}'
  lines = [f'# Do the evaluations agree? ({corpus})', '',
           f'Command: `python -m experiments.agreement --corpus={corpus} --preset={record["preset"]} '
           f'--seeds={",".join(map(str, seeds))}'
           + (f' --full_seeds={",".join(map(str, full))}' if train_only else '')
           + (f' --stacked_subset={record["stacked_subset"]}' if record.get('stacked_subset') else '')
           + ('' if record['stacked'] else ' --nostacked') + f' --sensitivity_subset={record["sensitivity_subset"]}`; '
           f'measured {record["measured"]} on {prov["device"]["kind"]} ({prov["device"]["processor"]}); '
           + provenance.versions_text(prov) + '.', '',
           f'Settings per seed: the `{corpus}` defaults of faithjax/config.py with preset `{record["preset"]}` '
           f'(config.json in {record["runs_dir"]}/{corpus}/seed*/); every seed uses the same data split.', '']
  if train_only:
    lines += [f'Seeds {", ".join(map(str, train_only))} only trained their classifier: their maps and deletion '
              'rates come from the stacked re-evaluation below (and so do every seed\'s deletion cells, so that '
              'all seeds are scored on the same examples), and the weak learner and the shuffle test (which '
              f'need every training example\'s map) were run on seeds {", ".join(map(str, full))} only.', '']
  lines += [f'## The classifier across {len(seeds)} seeds (Table 2: test metrics, mean ± sd)', '',
            report.markdown_table(['metric', 'mean', 'sd', 'seeds'], without_single_seed_sd(record['classifier'])), '',
            f'## Every evaluation across {len(seeds)} seeds (mean ± sd)', '',
            report.markdown_table(['evaluation', 'explainer', 'mean', 'sd', 'seeds'],
                                  without_single_seed_sd(record['seed_table'])), '',
            '## Agreement between evaluations (Kendall τ of the explainer rankings; exact p over 4! orders)', '',
            report.markdown_table(['seed', 'a', 'b', 'τ', 'p'],
                                  [[s, r['a'], r['b'], r['tau'], r['p']]
                                   for s, rows in zip(seeds, record['per_seed_tau']) for r in rows]),
            '', f'![τ heatmap]({stem}_tau.png)', '',
            '## Per example: Spearman between −deletion rate and shuffle TVD (seed 0, bootstrap 95% CI)', '',
            'Oriented like τ: positive ρ means the examples one evaluation finds faithfully explained, the other '
            'does too.', '',
            report.markdown_table(['explainer', 'ρ', 'low', 'high', 'examples'], record['per_example']), '',
            f'![scatter]({stem}_scatter.png)', '',
            f'## All {len(seeds)} seeds re-evaluated stacked (one vmapped program per bucket)', '']
  if record['stacked']:
    lines += [f'`reevaluate.reevaluate` restored the {len(seeds)} classifiers'
              + ('' if train_only else ' and each seed\'s weak learners') + ', stacked their parameters and computed '
              'the four explainers\' test maps, deletion rates'
              + ('' if train_only else ', weak-learner F1 and shuffle TVDs') + ' for all of them together in '
              f'{record["stacked_seconds"]:.1f} s ({prov["device"]["kind"]}), on '
              + (f'the first {record["stacked_subset"]} ' if record.get('stacked_subset') else 'the ')
              + 'test examples of the deletion evaluation. Beside each seed\'s own run on the same examples (its '
              'stored deletion rates and TVDs; its '
              'weak learner on its stored maps; — where the seed only trained):', '',
              report.markdown_table(['seed', 'evaluation', 'explainer', 'per-seed run', 'stacked',
                                     'largest difference (per example; F1)'],
                                    [[*row[:5], None if row[5] is None else f'{row[5]:.1e}']
                                     for row in record['stacked']]), '']
  else:
    lines += ['Not measured (`--nostacked`).', '']
  lines += ['## Sensitivity to the open choices (seed 0)', '']
  if record['sensitivity']:
    lines += [f'Deletion on the first {record["sensitivity_subset"]} test examples. survives: the row ranks the '
              'explainers as the run\'s own setting does.', '',
              report.markdown_table(['evaluation', 'choice', 'ranking (most faithful first)', 'survives', 'scores'],
                                    [[e, c, ' > '.join(r), 'yes' if same else 'no',
                                      ', '.join(f'{n} {v:.3f}' for n, v in s.items())]
                                     for e, c, s, r, same in record['sensitivity']]), '']
  else:
    lines += ['Not measured (`--sensitivity_subset=0`).', '']
  if record['ground_truth']:
    lines += ['## Ground truth: τ between each evaluation and the planted-token precision@k ranking', '',
              report.markdown_table(['seed', 'evaluation', 'τ'], record['ground_truth']), '']
    for evaluation in recorded_evaluations(record):
      taus = [t for _, e, t in record['ground_truth'] if e == evaluation]
      lines.append(f'- {evaluation}: mean τ {np.mean(taus):.2f} over {len(taus)} seeds')
  return '\n'.join(lines) + '\n'
