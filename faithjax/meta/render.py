"""The meta-evaluation rendered: a markdown page led by the verdict table, and a figure of diagnosticity."""

import matplotlib

matplotlib.use('Agg')  # files only; never a window
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

from faithjax.faithfulness import evaluations  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax.meta import measure  # pylint: disable=g-import-not-at-top,wrong-import-position


OWN_SCORES = "the runs' own scores"  # a diagnosis whose maps were not rescored


def _number(value, digits=3):
  return '–' if value is None else f'{value:.{digits}f}'


def _interval(value, ci95):
  return f'{value:.3f} [{ci95[0]:.3f}, {ci95[1]:.3f}]'


def _label(score):
  if score == measure.GROUND_TRUTH:
    return 'ground truth (precision@k of the planted tokens)'
  return evaluations.SCORES[score].label if score in evaluations.SCORES else score


def verdict_table(rows: list) -> list:
  """The verdict table's markdown lines: measure.Verdict rows (a τ-with-the-ground-truth column where measured)."""
  truth = any(v.truth_tau for v in rows)
  lines = ['| evaluation | verdict | diagnosticity | s / example | forward equivalents / example | mean τ | '
           + ('τ with ground truth | ' if truth else '') + 'pairs told apart | NAOPC changes ranking |',
           '|---' * (8 + truth) + '|']
  for v in rows:
    changes = '–' if v.naopc_changes_ranking is None else ('yes' if v.naopc_changes_ranking else 'no')
    truth_cell = (f'{_interval(v.truth_tau.value, v.truth_tau.ci95)} | ' if v.truth_tau else '– | ') if truth else ''
    lines.append(f'| {_label(v.score)} | {v.verdict} | {_number(v.diagnosticity, 2)} | '
                 f'{_number(v.seconds_per_example, 4)} | {_number(v.forward_equivalents, 1)} | '
                 f'{_number(v.mean_tau, 2)} | {truth_cell}{v.separated} of {v.pairs} | {changes} |')
  return lines


def runs_table(settings: tuple) -> list:
  """The markdown lines naming what produced each run (measure.RunSetting): its command, where every reduction it
  ran under is a flag, and each completeness-tracking explainer's error p90 (and share at the cap) over test."""
  if not settings:
    return []
  lines = ['## Runs', '', 'Each run\'s command as it recorded it (a reduction is one of its flags) and, for an explainer '
           'that tracks completeness, the relative completeness error p90 over the test documents (the share of '
           'them at the evaluation cap).', '', '| seed | command | completeness p90 (at cap) |', '|---|---|---|']
  for s in settings:
    exact = ', '.join(f'{name} {p90:.1e} ({at_cap:.0%})' for name, p90, at_cap in s.completeness) or '–'
    lines.append(f'| {s.seed} | ' + (f'`{s.command}`' if s.command else 'not recorded') + f' | {exact} |')
  return lines + ['']


def markdown(meta: measure.MetaEvaluation, opening: str = '') -> str:
  """The whole meta-evaluation as one markdown page; `opening`: a paragraph under the title (what produced it)."""
  level = f'{measure.LEVEL:.0%}'
  lines = [f'# Meta-evaluation: {meta.corpus}', '', *([opening, ''] if opening else []),
           f'{len(meta.seeds)} run(s) (seeds {", ".join(map(str, meta.seeds))}), a test split of {meta.examples} examples, '
           f'{meta.design} design. Diagnosticity: the share of (example, map) pairs where the evaluation prefers the '
           'map over a degraded copy (ties half); "blind to" lists the degradations whose one-sided test of share > 1/2 '
           'fails after Holm\'s correction over the diagnosticity table. Forward equivalents / example: the evaluation\'s time '
           'in forward passes of the classifier over the same examples. Mean τ: Kendall τ-b with the other '
           'evaluations\' rankings, without the baselines. τ with ground truth (a corpus with planted evidence): '
           'Kendall τ-b between the evaluation\'s ranking of the explainers and their precision@k of the planted '
           f'tokens, with its {level} crossed two-level CI.', '', *verdict_table(measure.verdicts(meta)), '']
  lines += runs_table(meta.settings)
  retrained = [v for v in measure.verdicts(meta) if v.setting]
  if retrained:  # one setting for all of them (meta_evaluate's weak_epochs)
    lines += [f'Diagnosed on a reduced setting ({", ".join(_label(v.score) for v in retrained)}): '
              f'{retrained[0].setting}.', '']
  sample = (f'a seeded sample of {meta.diagnosis_examples} of the evaluated test examples (--examples, a named '
            'reduction)' if meta.diagnosis_examples else 'every evaluated test example')
  lines += ['## Diagnosticity', '',
            f'Degraded copies of {len(meta.diagnosed)} maps, one per explainer ({", ".join(meta.diagnosed)}; a map '
            f'transform such as |X| is not degraded again), scored on {sample}. '
            f'{level} CIs resample examples (one draw shared by every run and explainer); p: one-sided t test of '
            f'share > 1/2, Holm-corrected over the {len(meta.diagnoses)} rows.', '',
            '| evaluation | degradation | share | pairs | p (Holm) | setting |', '|---|---|---|---|---|---|']
  lines += [f'| {_label(d.score)} | {d.degradation} | {_interval(d.share, d.ci95)} | {d.pairs} | {d.p_holm:.3g} | '
            f'{d.setting or OWN_SCORES} |' for d in meta.diagnoses]
  if meta.differences:
    lines += ['', 'Retrained evaluations, dataset level: the score of the map minus that of its degraded copy, '
              f'oriented (> 0: the map preferred), mean over the runs with its {level} two-level CI; for the weak '
              'learner a pair above counts as won when it is right under the map and wrong under the copy.', '',
              '| evaluation | degradation | map | difference | setting |', '|---|---|---|---|---|']
    lines += [f'| {_label(d.score)} | {d.degradation} | {d.explainer} | {_interval(d.difference, d.ci95)} | '
              f'{d.setting} |' for d in meta.differences]
  lines += ['', '## Cost', '', '| evaluation | s / example | forward-pass equivalents / example |', '|---|---|---|']
  lines += [f'| {c.evaluation} | {c.seconds_per_example:.4f} | {c.forward_equivalents:.1f} |' for c in meta.costs]
  for baselines in (True, False):
    rows = [a for a in meta.agreements if a.baselines == baselines]
    lines += ['', f'## Rank agreement {"over all maps" if baselines else "without the baselines"}', '',
              f'{level} CIs of the crossed two-level bootstrap (seeds × shared test examples); p of "the statistic '
              f'is 0", Benjamini–Hochberg over the table\'s {len(rows) // len(measure.agreement.RANK_STATISTICS)} '
              'evaluation pairs.', '',
              '| a | b | statistic | value | p (BH) | explainers |', '|---|---|---|---|---|---|']
    lines += [f'| {_label(a.a)} | {_label(a.b)} | {a.statistic} | {_interval(a.value, a.ci95)} | {a.p_bh:.3g} | '
              f'{len(a.explainers)} |' for a in rows]
  if meta.concordance:
    c = meta.concordance
    lines += ['', f"Kendall's W over {len(c.scores)} evaluations and {len(c.explainers)} explainers: "
              f'{_interval(c.w, c.ci95)}.']
  lines += ['', '## Explainer pairs', '',
            f'Oriented difference a − b (> 0: a more faithful), {level} two-level CI; a pair whose '
            'Benjamini–Hochberg-corrected p (over the evaluation\'s pairs) is ≥ .05 is a tie.', '',
            '| evaluation | a | b | difference | p (BH) | verdict |', '|---|---|---|---|---|---|']
  lines += [f'| {_label(p.score)} | {p.a} | {p.b} | {_interval(p.difference, p.ci95)} | {p.p_bh:.3g} | {p.verdict} |'
            for p in meta.pairs]
  lines += ['', '## Per-example agreement', '',
            'Spearman ρ between two evaluations over the test examples every run measured both on, each run\'s ρ '
            'averaged over the runs, plain and with document length and classifier margin partialled out; the '
            f'{measure.RANDOM} map\'s row is the null. {level} CIs of the two-level bootstrap ({meta.design}: seeds '
            '× test examples); p of "ρ is 0", Benjamini–Hochberg over the table\'s '
            f'{2 * len(meta.per_example)} correlations.', '',
            '| a | b | map | examples | ρ | p (BH) | partial ρ | p (BH) |', '|---|---|---|---|---|---|---|---|']
  lines += [f'| {_label(e.a)} | {_label(e.b)} | {e.explainer} | {e.examples} | '
            f'{_interval(e.rho.value, e.rho.ci95)} | {e.rho.p_bh:.3g} | '
            f'{_interval(e.partial_rho.value, e.partial_rho.ci95)} | {e.partial_rho.p_bh:.3g} |'
            for e in meta.per_example]
  if meta.naopc:
    population = 'evaluated test examples' + (
        f' of at most {meta.naopc_max_tokens} tokens (--naopc_max_tokens, a named reduction: the search\'s time grows '
        'with the cube of a document\'s length)' if meta.naopc_max_tokens else '')
    sample = (f'{meta.naopc_examples} {population}, a seeded sample where --naopc_examples asked for fewer (a named '
              'reduction)' if meta.naopc_examples else 'every evaluated test example')
    lines += ['', '## AOPC and normalised AOPC', '',
              f'Each run\'s AOPC bounds over token orderings and its explainers\' AOPC on {sample}; means over '
              'the runs.', '', '| kind | by AOPC | by NAOPC | τ | ranking changed |', '|---|---|---|---|---|']
    lines += [f'| {r.kind} | {", ".join(f"{n} {v:.3f}" for n, v in r.aopc)} | '
              f'{", ".join(f"{n} {v:.3f}" for n, v in r.naopc)} | {r.tau:.2f} | {"yes" if r.changed else "no"} |'
              for r in meta.naopc]
  return '\n'.join(lines) + '\n'


def figure(meta: measure.MetaEvaluation, path: str) -> None:
  """Diagnosticity of every evaluation (rows) against every degradation (columns), a heat map, written to path."""
  scores = list(dict.fromkeys(d.score for d in meta.diagnoses))
  degradations = list(dict.fromkeys(d.degradation for d in meta.diagnoses))
  share = {(d.score, d.degradation): d for d in meta.diagnoses}
  grid = [[share[s, g].share if (s, g) in share else float('nan') for g in degradations] for s in scores]
  fig, ax = plt.subplots(figsize=(1.1 * len(degradations) + 3, 0.5 * len(scores) + 1.5))
  image = ax.imshow(grid, cmap='RdBu', vmin=0, vmax=1, aspect='auto')
  ax.set_xticks(range(len(degradations)), degradations, rotation=30, ha='right')
  ax.set_yticks(range(len(scores)), [_label(s) for s in scores])
  for i, s in enumerate(scores):
    for j, g in enumerate(degradations):
      if (s, g) in share:
        ax.text(j, i, f'{share[s, g].share:.2f}' + ('' if share[s, g].p_holm < 1 - measure.LEVEL else '*'),
                ha='center', va='center', fontsize=8)
  fig.colorbar(image, ax=ax, label='share preferring the map')
  ax.set_title(f'Diagnosticity on {meta.corpus} (*: not above 1/2, Holm)')
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
