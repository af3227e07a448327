"""Agreement statistics with power rendered: agreement_stats_<corpus>.md from its JSON record (faithjax/meta/stats.py).

The renderers read the JSON record, not the typed records, so that every committed record renders as it did,
also those measured before a section or the two-level t interval existed.
"""

from faithjax import provenance
from faithjax import report
from faithjax.faithfulness import evaluations
from faithjax.meta import stats

COMMAND = 'python -m experiments.agreement_stats'  # the driver, named in every page


def ci(cell: dict) -> str:
  """'mean [low, high]' of a {'mean', 'ci95'} cell of the record."""
  return f'{cell["mean"]:.3f} [{cell["ci95"][0]:.3f}, {cell["ci95"][1]:.3f}]'


def rank_table(rows: list[dict]) -> str:
  """The rank agreement rows as markdown; with a BH-corrected p column per statistic where the rows have one."""
  corrected = bool(rows) and 'p_bh' in rows[0]['kendall_tau']
  columns = lambda name: [name, '95% CI', *(['p (BH)'] if corrected else [])]
  cells = lambda c: [f'{c["value"]:+.3f}', '[{:+.3f}, {:+.3f}]'.format(*c['ci95']),
                     *([f'{c["p_bh"]:.3f}'] if corrected else [])]
  return report.markdown_table(['a', 'b', 'explainers', *columns('Kendall τ-b'), *columns('Spearman ρ')], [
      [evaluations.SCORES[r['a']].label, evaluations.SCORES[r['b']].label, len(r['explainers']),
       *cells(r['kendall_tau']), *cells(r['spearman_rho'])] for r in rows])


def interval_text(record: dict) -> str:
  """How a record's CIs were made: the two-level t interval of its design, or (records measured before it) the
  percentile interval of the nested two-level bootstrap."""
  seeds = len(record['seeds'])
  if 'design' not in record:
    return (f'95% percentile, {record["n_resamples"]} paired resamples ('
            + (f'{seeds} seeds: seeds resampled, then test examples within each drawn seed' if seeds > 1 else
               'one seed: the two-level bootstrap reduces to the example bootstrap') + ')')
  design = ('crossed: every seed scored the same test documents, so one example draw is shared by all seeds'
            if record['design'] == 'crossed' else 'nested: each seed scored its own documents')
  return (f'95% t intervals of a paired two-level bootstrap (metrics.two_level_interval; {seeds} seeds, '
          f'{record["examples"]} test examples, design {design}): the seed variance from {record["n_resamples"]} '
          f'resamples of the seeds, the examples\' from {record["n_resamples"]} resamples of the examples, degrees '
          'of freedom by Welch–Satterthwaite')


def pooled_markdown(record: dict) -> str:
  """agreement_stats_<name>.md of a pooled record (stats.pooled_to_json plus the command's keys)."""
  explainers = record['rank_agreement'][0]['explainers'] if record['rank_agreement'] else []
  corrected = 'rank_agreement_without_baselines' in record  # measured with the two-level t interval
  return '\n'.join([
      f'# Agreement statistics with power, pooled over {", ".join(record["pool"])}', '',
      f'Command: `{COMMAND} {" ".join(record["arguments"])}`; measured '
      f'{record["measured"]}' + (f' with {provenance.versions_text(record["provenance"])}' if corrected else '')
      + ', from the resamples that agreement_stats_<corpus>.json of each corpus records '
      f'(seeds: ' + '; '.join(f'{c} {s}' for c, s in record['seeds'].items()) + ').', '',
      'Per evaluation pair, over the explainers every corpus scores (' + ', '.join(explainers) + '): the mean '
      'over corpora of the per-corpus Kendall τ-b and Spearman ρ; the CI is ' + (
          'the t interval of that mean from the corpora\'s two-level resamples (independent draws per corpus; '
          'metrics.two_level_interval with the fewest seeds and test examples of the pooled corpora), p (the '
          'statistic is 0) corrected by Benjamini–Hochberg over the table\'s evaluation pairs.' if corrected else
          'the percentile interval of that mean over the corpora\'s resamples (independent draws per corpus).'),
      '', rank_table(record['rank_agreement']),
      *(['', 'Without the baselines (uniform and random): over the explainers alone.', '',
         rank_table(record['rank_agreement_without_baselines'])] if 'rank_agreement_without_baselines' in record
        else []),
      *(['', '## Does the corpus change the verdict? One evaluation\'s ranking on two corpora', '',
         'Per evaluation and pair of corpora, over the explainers and baselines every corpus scores: Kendall τ-b '
         'between the two corpora\'s rankings, t interval from their independent two-level resamples, p (τ = 0) '
         'corrected by Benjamini–Hochberg over all the rows. τ = 1: the corpus does not change the ranking.', '',
         report.markdown_table(['evaluation', 'a', 'b', 'explainers', 'Kendall τ-b', '95% CI', 'p (BH)'], [
             [evaluations.SCORES[r['evaluation']].label, r['a'], r['b'], len(r['explainers']),
              f'{r["kendall_tau"]["value"]:+.3f}', '[{:+.3f}, {:+.3f}]'.format(*r['kendall_tau']['ci95']),
              f'{r["kendall_tau"]["p_bh"]:.3f}'] for r in record['between_corpora']])]
        if 'between_corpora' in record else [])]) + '\n'


def markdown(record: dict) -> str:
  """agreement_stats_<corpus>.md of one corpus's record (stats.to_json plus the command's keys), also one measured
  before a section or the two-level t interval existed: it renders as it did."""
  prov = record['provenance']
  sources = (f'Archives: {", ".join(record["archives"])} (experiments.reproduce\'s; seed {record["seeds"][0]} '
             'settings: ' if 'archives' in record else f'Runs: {", ".join(record["runs"])} (config.json in each; '
             f'seed {record["seeds"][0]} settings: ')
  corrected = 'design' in record
  lines = [f'# Agreement statistics with power ({record["corpus"]})', '',
           provenance.measured_text(f'{COMMAND} ' + ' '.join(record['arguments']),
                                    record['measured'], prov), '',
           sources + ', '.join(f'{k}={v}' for k, v in record['settings'].items() if k not in ('explainers',)) + ').',
           f'CIs: {interval_text(record)}; every explainer and '
           'evaluation reads the same draws. A score is the mean over seeds of the per-seed statistic (mean, '
           'or F1 for the weak learner). Deletion and ERASER read only their test subset.', '',
           '## 1. Scores and pairwise differences', '',
           'Pairs: a − b oriented (> 0: a more faithful); ' + (
               '"tie" when the pair\'s p, corrected by Benjamini–Hochberg over the evaluation\'s pairs (its '
               'family), is >= .05; the CIs shown are the uncorrected 95% ones.' if corrected else
               '"tie" when the CI covers 0.'), '']
  for evaluation, entry in record['evaluations'].items():
    label = evaluations.SCORES[evaluation].label
    order = sorted(entry['scores'], key=lambda n: -evaluations.SCORES[evaluation].orientation
                   * entry['scores'][n]['mean'])
    lines += [f'### {label}', '', 'Ranking (most faithful first): ' + ', '.join(
        f'{n} {ci(entry["scores"][n])}' for n in order), '']
    ties = [p for p in entry['pairs'] if p['verdict'] == 'tie']
    lines.append(f'{len(entry["pairs"]) - len(ties)} of {len(entry["pairs"])} pairs separated; ties: '
                 + ('; '.join(f'{p["a"]}–{p["b"]} {p["difference"]:+.3f} [{p["ci95"][0]:+.3f}, '
                              f'{p["ci95"][1]:+.3f}]' + (f' (p BH {p["p_bh"]:.3f})' if 'p_bh' in p else '')
                              for p in ties) or 'none') + '.')
    lines.append('')
  lines += ['## 2. Rank agreement between evaluations', '',
            'Over the explainers and baselines both evaluations score (|X| variants left out); CIs from the '
            'same resamples as the scores' + ('; p (the statistic is 0) corrected by Benjamini–Hochberg over the '
                                              'table\'s evaluation pairs.' if corrected else '.'), '',
            rank_table(record['rank_agreement'])]
  if 'rank_agreement_without_baselines' in record:
    lines += ['', 'Without the baselines (uniform and random, which every evaluation puts low and so inflate the '
              'agreement): over the explainers alone.', '', rank_table(record['rank_agreement_without_baselines'])]
  if 'leakage' not in record:  # measured from archives: the maps and classifiers are not in them
    return '\n'.join(lines) + '\n'
  lines += ['', '## 3. Label leakage: does the weak learner repeat the classifier?', '',
            '"follows when wrong": on the test examples the classifier gets wrong, the share where the weak '
            'learner predicts the classifier\'s (wrong) class. "fixed class": the weak learner retrained on maps '
            f'of class {stats.FIXED_CLASS} instead of the predicted class (signed maps only; for a probability target '
            'the other class\'s map is the negated map), and its F1 minus the predicted-class one with a paired '
            'bootstrap CI.', '']
  table = []
  for r in record['leakage']:
    follows = ('—' if r['follows_classifier_when_wrong'] is None else
               f'{r["follows_classifier_when_wrong"]:.3f}' + (' [{:.3f}, {:.3f}]'.format(*r['follows_ci95'])
                                                              if r['follows_ci95'] else ''))
    fixed = r.get('fixed_class')
    table.append([r['seed'], r['explainer'], f'{r["f1"]:.3f}', f'{r["classifier_f1"]:.3f}',
                  f'{r["agrees_with_classifier"]:.3f}', r['classifier_wrong'], follows,
                  f'{fixed["agrees_with_classifier"]:.3f}' if fixed else '—',
                  (f'{fixed["follows_classifier_when_wrong"]:.3f}' if fixed['follows_classifier_when_wrong']
                   is not None else '—') if fixed else '—',
                  '{:+.3f} [{:+.3f}, {:+.3f}]'.format(r['fixed_minus_predicted_f1']['difference'],
                                                      *r['fixed_minus_predicted_f1']['ci95']) if fixed else '—'])
  lines += [report.markdown_table(['seed', 'explainer', 'weak F1', 'classifier F1', 'agrees with classifier',
                                   'classifier wrong', 'follows when wrong', 'fixed class: agrees',
                                   'fixed class: follows when wrong', 'fixed − predicted F1'], table), '',
            '## 4. What deletion removes: tokens that oppose the prediction', '',
            f'Per seed and explainer: mean deletion rate on the test subset; of the tokens removed before the '
            f'flip (all of them when none flips), the share whose {stats.EFFECT} score (of the predicted class) is '
            'negative, i.e. whose removal raises the prediction; and that share among all tokens of those '
            'examples (what a random order removes on average). An example that never flips has every token '
            'removed, so its share is that of all its tokens; the last three columns keep only the examples that '
            'flip before their last token.', '',
            report.markdown_table(['seed', 'explainer', 'deletion rate', 'removed tokens', 'opposing share',
                                   'opposing among all tokens', 'flipping examples', 'opposing share (flipping)',
                                   'opposing among all tokens (flipping)'],
                                  [[r['seed'], r['explainer'], f'{r["deletion_rate"]:.3f}', r['removed'],
                                    f'{r["opposing"]:.3f}', f'{r["all_tokens"]:.3f}', r['flipped']['examples'],
                                    f'{r["flipped"]["opposing"]:.3f}', f'{r["flipped"]["all_tokens"]:.3f}']
                                   for r in record['opposing']])]
  if 'per_example' in record:  # records measured before this section render as they were
    rho = lambda c: report.signed_with_ci(c['rho'], c['low'], c['high'])
    lines += ['', '## 5. Per example: do deletion and the shuffle test agree on which documents are explained '
              'faithfully?', '',
              'Spearman ρ between −deletion rate and shuffle TVD over the test examples deletion measured '
              '(bootstrap 95% CI over examples, 1000 resamples), and the partial ρ with document length and '
              'the classifier\'s margin (top-1 minus top-2 probability) partialled out of the ranks. The random '
              'map is the null: its ρ is what length and margin alone make the two evaluations share.', '',
              report.markdown_table(['seed', 'explainer', 'examples', 'ρ', 'partial ρ (length, margin)'],
                                    [[r['seed'], r['explainer'] + (' (null)' if r['explainer'] == 'random' else ''),
                                      r['examples'], rho(r['rho']), rho(r['partial_rho'])]
                                     for r in record['per_example']])]
  return '\n'.join(lines) + '\n'
