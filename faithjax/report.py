"""report.md: the run's tables in markdown, rendered from results.json's content.

It opens with a conclusion computed from the numbers: the explainers' ranking
under each evaluation, whether the evaluations agree (Kendall tau), and the
explainers that do worse than the random map.
"""

import html
import re
from typing import Any, Mapping, Sequence

from faithjax import explain
from faithjax import plugins
from faithjax import provenance
from faithjax.data.encode import SPLITS
from faithjax.faithfulness import agreement
from faithjax.faithfulness import evaluations

RANDOM_MAP = 'random'  # the baseline an explainer should beat


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  """header: column names; rows: lists of cells (floats shown with 3 decimals, None as —)."""
  cell = lambda v: f'{v:.3f}' if isinstance(v, float) else '—' if v is None else str(v)
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(cell(v) for v in row) + ' |' for row in rows]
  return '\n'.join(lines)


def escaped(text: str) -> str:
  """`text` shown as itself in Markdown: HTML and Markdown's own marks escaped (a corpus named by a file name,
  e.g. jsonl:<b>x</b>.jsonl, is text, not markup)."""
  return re.sub(r'([\\`*_\[\]|])', r'\\\1', html.escape(text, quote=False))


def with_ci(value: float, ci95: Sequence[float] | None = None) -> str:
  """'0.123 [0.100, 0.150]', or the value alone without a CI."""
  return f'{value:.3f}' + (f' [{ci95[0]:.3f}, {ci95[1]:.3f}]' if ci95 else '')


def signed_with_ci(value: float, low: float, high: float) -> str:
  """'+0.123 [+0.100, +0.150]': a difference and its CI."""
  return f'{value:+.3f} [{low:+.3f}, {high:+.3f}]'


def _corpus_section(encode):
  dropped, by_length = encode.get('dropped_empty', {}), encode.get('dropped_by_length', {})
  rows = [[s, encode['sizes'][s], encode['truncated'].get(s, 0), dropped.get(s, 0)] + ([by_length.get(s, 0)] if
          by_length else []) for s in SPLITS]
  classes = encode.get('classes', [])  # recorded since a corpus may have any number of classes
  named = ['Classes: ' + ', '.join(f'{i} {escaped(name)}' for i, name in enumerate(classes)) + '.', ''] * bool(classes)
  return [f'## Corpus: {escaped(encode["display_name"])}', '',
          f'Protocol: {escaped(encode["protocol"])}.', '',
          f'Vocabulary: {encode["vocab_size"]} ids (PAD 0, UNK 1); maximum length: {encode["max_len"]} tokens.', '',
          *named,
          markdown_table(['split', 'examples', 'truncated', 'dropped (no token)'] +
                         (["dropped (Jain & Wallace's length filter)"] if by_length else []), rows), '']


def _train_section(trained):
  test = trained['test']
  history = [[h['epoch'], h['train_loss'], h['valid_loss'], h['valid_accuracy'], h['valid_roc_auc']]
             for h in trained['history']]
  if test.get('f1_average', 'binary') == 'binary':
    table = markdown_table(['accuracy', 'F1 (positive)', 'F1 (macro)', 'ROC-AUC'],
                           [[with_ci(test['accuracy'], test.get('accuracy_ci95')),
                             with_ci(test['f1'], test.get('f1_ci95')), test['macro_f1'], test['roc_auc']]])
  else:  # more than two classes: F1 is the macro average and ROC-AUC the macro one-vs-rest one
    table = markdown_table(['accuracy', 'F1 (macro)', 'ROC-AUC (macro one-vs-rest)'],
                           [[with_ci(test['accuracy'], test.get('accuracy_ci95')),
                             with_ci(test['f1'], test.get('f1_ci95')), test['roc_auc']]])
  return ['## Classifier (Table 2)', '', table, '',
          f'Selected epoch {trained["selected_epoch"]} by validation ROC-AUC.', '',
          markdown_table(['epoch', 'train loss', 'valid loss', 'valid accuracy', 'valid ROC-AUC'], history), '']


def seed_stability(stability: dict | None) -> str:
  """A sampling explainer's seed stability (pipeline.seed_stability's record) in words; '—' for the others."""
  if not stability:
    return '—'
  median = stability['median_spearman']
  if median is None:
    return 'no test document of 2 tokens'
  return f'{median:.2f}' + (f' (below {explain.STABLE}: the map depends on the seed)' if median < explain.STABLE
                            else '')


def _explain_section(explained):
  rows, counted = [], []
  for name, quality in explained['quality'].items():
    completeness = quality.get('completeness_relative_error')
    rows.append([name, quality.get('precision_at_k', '—'),
                 f'{completeness["median"]:.1e} / {completeness["p90"]:.1e}' if completeness else '—',
                 seed_stability(quality.get('seed_stability'))])
    if 'per_document' in quality:
      counts = quality['per_document']
      evaluations, error = counts['evaluations'], counts['completeness_relative_error']
      counted.append([name, f'{evaluations["median"]:.0f} / {evaluations["mean"]:.1f} / {evaluations["max"]:.0f}',
                      f'{error["median"]:.1e} / {error["p90"]:.1e} / {error["max"]:.1e}',
                      f'{counts["at_cap"]["share"]:.1%}'])
  tolerance = ['IG to a tolerance, per test document (stored beside its map, maps/<name>.counts.npz): gradient '
               'evaluations, its completeness error, and the share that spent max_evaluations (the tolerance '
               'may be unmet there).', '',
               markdown_table(['explainer', 'evaluations median / mean / max', 'completeness median / p90 / max',
                               'at the cap'], counted), ''] if counted else []
  return ['## Explainers', '',
          'precision@k: share of the k top-scored tokens that are planted evidence (synthetic corpus only); '
          'completeness: |Σ IG − (f(x) − f(0))| / |f(x) − f(0)|, median / 90th percentile over test; '
          f'seed stability (sampling explainers): median Spearman, over {explain.STABILITY_DOCUMENTS} test '
          'documents, between the maps of two seeds.', '',
          markdown_table(['explainer', 'precision@k', 'IG completeness error', 'seed stability'], rows), '',
          *tolerance,
          'Token heatmaps (red: pushes towards the predicted class, blue: against; rows scaled to their max |score|):',
          ''] + [f'![{p}]({p}) ([HTML]({p[:-4]}.html))' for p in explained['heatmaps'] if p.endswith('.png')] + ['']


def _evaluate_section(evaluated):
  """One column per registered evaluation (faithfulness.evaluations.SCORES), one row per map."""
  registry = evaluations.SCORES
  names = list(dict.fromkeys(n for section in plugins.EVALUATIONS for n in evaluated.get(section, {})))
  cell = lambda c: None if c is None else with_ci(c['mean'], c['ci95'])
  rows = [[name] + [cell(e.cell(evaluated, name)) for e in registry.values()] for name in names]
  direction = lambda e: 'higher' if e.orientation > 0 else 'lower'
  multiclass = any(entry.get('f1_average') == 'macro' for entry in evaluated.get('weak_learner', {}).values())
  macro = ' More than two classes: the weak-learner F1 is the macro F1 (the mean over the classes).' * multiclass
  return ['## Faithfulness evaluations (Tables 3–5 and ERASER)', '',
          f'Deletion until flip and ERASER on {evaluated["test_subset"]} test examples; the weak learner and the '
          'shuffle test on the whole test set. ' + '; '.join(f'{e.label}: {direction(e)} = more faithful'
                                                              for e in registry.values())
          + '. ERASER AOPC averages removing (comprehensiveness) or keeping only (sufficiency) the top '
          '1/5/10/20/50% of tokens. Brackets: bootstrap 95% CI over examples.' + macro, '',
          markdown_table(['map'] + [e.label for e in registry.values()], rows), '']


def _conclusion_section(evaluated):
  """Rankings, pairwise agreement and flags against the random map under every registered evaluation, all
  computed from `evaluated` (the evaluate stage's summary)."""
  registry = evaluations.SCORES
  names = list(evaluated.get('weak_learner') or evaluated.get('deletion') or {})
  scores = {key: {n: cell['mean'] for n in names if (cell := ev.cell(evaluated, n)) is not None}
            for key, ev in registry.items()}
  scores = {key: s for key, s in scores.items() if s}
  lines = ['## Conclusion', '', 'Computed from the tables below; more faithful first under each evaluation.', '']
  baselines = explain.baseline_names()
  for key, by_map in scores.items():
    explainers = {n: v for n, v in by_map.items() if n not in baselines}
    lines.append(f'- Ranking by {registry[key].label}: ' + ' > '.join(
        f'{n} ({explainers[n]:.3f})' for n in agreement.ranking(explainers, key)))
  pairs = agreement.pairwise_agreement({k: {n: v for n, v in s.items() if n not in baselines}
                                        for k, s in scores.items()})
  if pairs:
    agree = sum(row['tau'] > 0 for row in pairs)
    lines.append(f'- Do the evaluations agree? Positive Kendall τ in {agree} of {len(pairs)} pairs: ' + '; '.join(
        f'{registry[r["a"]].label} vs {registry[r["b"]].label} τ = {r["tau"]:+.2f} (p = {r["p"]:.2f})'
        for r in pairs) + f'. p: exact permutation test over the {len(pairs[0]["explainers"])} explainers\' orders.')
  worse = [f'{n} is less faithful than the random map by {registry[key].label} ({v:.3f} vs {by_map[RANDOM_MAP]:.3f})'
           for key, by_map in scores.items() if RANDOM_MAP in by_map
           for n, v in by_map.items()
           if n not in baselines and evaluations.oriented(key, v) < evaluations.oriented(key, by_map[RANDOM_MAP])]
  lines.append('- Worse than the random map: ' + ('; '.join(worse) if worse else 'none, under every evaluation') + '.')
  return lines + ['']


def setting(value: Any) -> str:
  """A config value as it is written on the command line: 1e-05, a comma list."""
  if isinstance(value, (list, tuple)):
    return ','.join(map(str, value))
  return f'{value:g}' if isinstance(value, float) else str(value)


def device_name(device: Mapping[str, Any]) -> str:
  """'CPU (x86_64)' or '1 × NVIDIA H200 (gpu)'."""
  if device['platform'] == 'cpu':
    return f'CPU ({device.get("processor", "?")})'
  return f'{device.get("count", 1)} × {device["kind"]} ({device["platform"]})'


SECTIONS = {'encode': _corpus_section, 'train': _train_section, 'explain': _explain_section,
            'evaluate': _evaluate_section}


def _time_section(times):
  """Wall, compile and run seconds of each stage that ran in this workdir (timing.StageTime dicts)."""
  rows = [[stage, f'{t["wall_s"]:.1f}', f'{t["compile_s"]:.1f}', t['programs'], t['from_cache'], f'{t["run_s"]:.1f}']
          for stage, t in times.items()]
  return ['## Time', '', 'Seconds when each stage last ran; compiling = tracing, lowering and XLA compiles (or '
          'compile-cache reads) of its programs.', '',
          markdown_table(['stage', 'wall', 'compiling', 'programs', 'from cache', 'running'], rows), '']


def render(results: Mapping[str, Any], times: Mapping[str, Mapping[str, Any]] | None = None) -> str:
  """report.md from results.json's content; times: {stage: timing.StageTime dict} adds a Time section."""
  config, stages = results['config'], results['stages']
  prov = results['provenance']
  lines = [f'# faithjax run: {config["corpus"]}', '',
           f'Rendered {provenance.now()} by `{prov["command"]}` on {device_name(prov["device"])}.', '']
  if 'evaluate' in stages:
    lines += _conclusion_section(stages['evaluate'])
  for stage, section in SECTIONS.items():
    if stage in stages:
      lines += section(stages[stage])
  if times:
    lines += _time_section(times)
  lines += ['## Config', '', markdown_table(['field', 'value'], [[k, setting(v)] for k, v in sorted(config.items())]),
            '',
            '## Versions', '', markdown_table(['library', 'version'], sorted(prov['versions'].items())), '']
  return '\n'.join(lines)
