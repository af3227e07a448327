"""The sign control and the map-property probe rendered: markdown pages and the probe's response curves, from the
records of faithjax/meta/sign_control.py and faithjax/meta/probe.py."""

import matplotlib

matplotlib.use('Agg')  # files only; never a window
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from faithjax import explain  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax import io  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax import provenance  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax import report  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax.faithfulness import evaluations  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax.faithfulness import probe_maps  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax.meta import probe as probe_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from faithjax.meta import sign_control  # pylint: disable=g-import-not-at-top,wrong-import-position

FAMILY_AXES = {'noise': 'noise sigma', 'topk': 'k (top-k kept)', 'temperature': 'temperature'}


def _p(value) -> str:
  return '—' if value is None else f'{value:.3g}'


def _measured_on(record) -> str:
  prov = record.provenance
  return (f'measured {record.measured} on {prov["device"]["kind"]} ({prov["device"]["processor"]}); '
          + provenance.versions_text(prov) + '.')


def _tested(contrasts) -> bool:
  """Whether the rows carry p values (a record measured before the correction is rendered as it was: by its CIs)."""
  return any(c.p_bh is not None for c in contrasts)


def sign_control_markdown(record: sign_control.SignControl) -> str:
  """sign_control_<corpus>.md: the table of every contrast, then each evaluation's verdicts in one line."""
  settings = ', '.join(f'{k}={v}' for k, v in record.settings.items())
  tested = _tested(record.contrasts)
  header = ['evaluation', 'explainer', 'signed', '|·|', 'signed − |·|', 'low', 'high',
            *(['p (BH)'] if tested else []), 'examples', 'verdict']
  rows = [[c.label, c.explainer, c.signed, c.absolute, *(f'{v:+.4f}' for v in (c.difference, *c.ci95)),
           *([_p(c.p_bh)] if tested else []), c.examples, c.verdict] for c in record.contrasts]
  test = ('p: two-sided, of "signed − |·| is 0", from the same resamples, Benjamini–Hochberg-corrected over the '
          "table's measured rows; the verdict reads it. ") if tested else ''
  lines = [f'# Sign control ({record.corpus}): which evaluation rewards a signed map?', '',
           f'Command: `python -m experiments.sign_control {" ".join(record.arguments)}`; ' + _measured_on(record),
           '', f'Settings: preset `{record.preset}` with departures ({settings}); the full config is config.json '
           f'in {record.workdir}. One seed ({record.seed}). Deletion and ERASER on {record.test_subset} '
           'test examples, the weak learner and the shuffle test on the whole test split.', '',
           'signed − |·| is oriented: > 0 means the evaluation finds the signed map more faithful (it rewards '
           'sign), < 0 that it prefers the magnitudes alone. 95% CI: paired percentile bootstrap '
           '(scipy.stats.bootstrap, 1000 resamples) over test examples; for the weak learner over (label, '
           'prediction) pairs of the two weak learners. ' + test + '"same input": |X| = X (a map without negative '
           'values), or L1, which normalises |X| in either case.', '',
           report.markdown_table(header, rows), '',
           '## Per evaluation: rewards sign / rewards |·| / tie, over the explainers whose |·| differs', '']
  for label in dict.fromkeys(c.label for c in record.contrasts):
    measured = [c for c in record.contrasts if c.label == label and c.measured]
    if measured:
      lines.append(f'- **{label}**: ' + '; '.join(f'{c.explainer} {c.verdict} ({c.difference:+.4f} '
                                                  f'[{c.ci95[0]:+.4f}, {c.ci95[1]:+.4f}])' for c in measured))
  return '\n'.join(lines) + '\n'


def _scores(record: probe_lib.Probe) -> dict:
  """{score: {map: means per seed}} of the probe's MapScores."""
  table = {}
  for s in record.scores:
    table.setdefault(s.score, {})[s.map] = s.means
  return table


def _rewards(record: probe_lib.Probe, score: str) -> str:
  """One line: the contrasts the score separates (largest first), and those it does not."""
  rows = sorted((c for c in record.contrasts if c.score == score), key=lambda c: -abs(c.difference))
  label = evaluations.SCORES[score].label
  if not rows:
    return f'- **{label}**: no contrast measured.'
  separated = [f'{c.property} ({report.signed_with_ci(c.difference, *c.ci95)})' for c in rows if c.separated]
  blind = [f'{c.property} ({c.difference:+.3f})' for c in rows if not c.separated]
  test = '(BH p ≥ .05)' if _tested(rows) else '(CI covers 0)'
  return (f'- **{label}** separates: ' + ('; '.join(separated) or 'nothing')
          + f'. Does not separate {test}: ' + ('; '.join(blind) or 'nothing') + '.')


def probe_markdown(record: probe_lib.Probe, stem: str) -> str:
  """<stem>.md: the classifiers, every map under every score, the contrasts, what each score rewards, and the
  response curves (<stem>_<score>.png, probe_figure's)."""
  table, seeds, tested = _scores(record), record.seeds, _tested(record.contrasts)
  cell = lambda v: f'{np.mean(v):.3f} [{min(v):.3f}, {max(v):.3f}]'
  lines = [
      '# Map-property probe (synthetic): what does each evaluation reward?', '',
      f'Command: `python -m experiments.probe --seeds={",".join(map(str, seeds))} --preset={record.preset}`; '
      + _measured_on(record), '',
      f'Settings per seed: the synthetic defaults of faithjax/config.py with preset `{record.preset}` '
      f'(config.json in {record.runs_dir}/seed*/); {len(seeds)} seeds, each its own classifier and its own '
      'draw of the random maps, one data split. Maps: faithjax/faithfulness/probe_maps.py. The base is truth + '
      f'{probe_maps.BASE_NOISE} N(0, 1) noise (`{probe_maps.BASE}`); the top-k, temperature and attention-like '
      'maps are built from it, so each differs from it (or from the truth) in one property. Temperature t maps '
      's to sign(s)|s|^(1/t) and softmax keeps the ranking, so deletion and ERASER (which read only the '
      'ranking) cannot tell those maps from the base.', '',
      '## The classifiers', '',
      report.markdown_table(['seed', 'test accuracy', 'test F1'],
                            [[c.seed, c.accuracy, c.f1] for c in record.classifiers]), '',
      '## Every map under every evaluation (mean over seeds [min, max])', '',
      report.markdown_table(['map'] + [evaluations.SCORES[s].label for s in table],
                            [[n] + [cell(table[s][n]) if n in table[s] else None for s in table]
                             for n in probe_lib.map_names()]), '',
      '## Contrasts: maps that differ in one property', '',
      ('Oriented difference a − b (> 0: the evaluation finds a more faithful) over the seeds, with its 95% CI '
       'from the crossed two-level bootstrap (seeds × the test examples they share; the weak learner: its F1 '
       'over (label, prediction) pairs) and the two-sided p of "a − b is 0", Benjamini–Hochberg-corrected over '
       'the table; a contrast is separated where that p < .05.' if tested else
       'Oriented difference a − b (> 0: the evaluation finds a more faithful), with a paired percentile '
       'bootstrap 95% CI (scipy.stats.bootstrap, 1000 resamples) over the test examples of all seeds pooled '
       '(the weak learner: its F1 over the pooled (label, prediction) pairs).'), '',
      report.markdown_table(['evaluation', 'property', 'a', 'b', 'a − b', 'low', 'high',
                             *(['p (BH)'] if tested else []), 'examples'],
                            [[c.score, c.property, c.a, c.b, c.difference, *c.ci95,
                              *([_p(c.p_bh)] if tested else []), c.examples] for c in record.contrasts]), '',
      '## What each evaluation rewards', '']
  lines += [_rewards(record, s) for s in table]
  lines += ['', '## Response curves', '']
  lines += [f'![{s}]({stem}_{s}.png)' for s in table]
  return '\n'.join(lines) + '\n'


def probe_figure(record: probe_lib.Probe, score: str, path: str) -> None:
  """One score's response to each property: a panel per family (mean over seeds, min-max bars), and the single
  maps and baselines as points; written to path."""
  spec, values = evaluations.SCORES[score], _scores(record)[score]
  fig, axes = plt.subplots(1, 4, figsize=(15, 3.4), sharey=True)

  def spread(names: list[str]) -> np.ndarray:
    """errorbar's yerr: each map's mean over seeds minus its min, and its max minus the mean: [2, len(names)]."""
    return np.array([[np.mean(values[n]) - min(values[n]), max(values[n]) - np.mean(values[n])] for n in names]).T

  def plot(ax: plt.Axes, points: list[tuple[float, str]], label: str) -> None:
    present = [(x, n) for x, n in points if n in values]
    ax.errorbar([x for x, _ in present], [np.mean(values[n]) for _, n in present],
                yerr=spread([n for _, n in present]), marker='o', capsize=3, label=label)

  for ax, family in zip(axes, FAMILY_AXES):
    plot(ax, probe_maps.FAMILIES[family], family.replace('_', ' '))
    if family == 'topk':
      plot(ax, probe_maps.FAMILIES['random_topk'], 'random top-k (same values, random places)')
      ax.legend(fontsize=7)
    ax.set_xscale('log')
    ticks = [x for x, _ in probe_maps.FAMILIES[family]]
    ax.set_xticks(ticks, [f'{x:g}' for x in ticks])
    ax.minorticks_off()
    ax.set_xlabel(FAMILY_AXES[family])
  singles = [n for n in (*probe_maps.SINGLE, *explain.baseline_names()) if n in values]
  axes[-1].errorbar(range(len(singles)), [np.mean(values[n]) for n in singles], yerr=spread(singles), fmt='o',
                    capsize=3)
  axes[-1].set_xticks(range(len(singles)), [n.replace('_', ' ') for n in singles], rotation=30, ha='right')
  axes[0].set_ylabel(f'{spec.label} ({"higher" if spec.orientation > 0 else "lower"} = more faithful)', fontsize=8)
  fig.suptitle(f'{spec.label} of constructed maps on synthetic ({len(record.seeds)} seeds, preset '
               f'{record.preset})', fontsize=10)
  io.save_figure(fig, path)
