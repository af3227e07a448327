"""report.md: a conclusion computed from the numbers, settings as written, no NaN from empty documents."""

import re

import numpy as np

from faithjax import report
from faithjax.data import encode


def cell(mean):
  return {'mean': mean, 'ci95': [mean - 0.01, mean + 0.01]}


def evaluated(deletion, f1, tvd):
  """An evaluate summary: per map {deletion rate, weak-learner F1, shuffle TVD}; 'uniform' has no deletion row."""
  return {'deletion': {n: cell(v) for n, v in deletion.items()},
          'eraser': {},
          'weak_learner': {n: {'f1': v, 'macro_f1': v} for n, v in f1.items()},
          'shuffle': {n: cell(v) for n, v in tvd.items()}, 'test_subset': 10}


def test_conclusion_ranks_each_evaluation_and_flags_maps_worse_than_random():
  ev = evaluated(deletion={'saliency': 0.9, 'attention': 0.3, 'integrated_gradients': 0.5, 'random': 0.8},
                 f1={'saliency': 0.7, 'attention': 0.95, 'integrated_gradients': 0.8, 'uniform': 0.6, 'random': 0.65},
                 tvd={'saliency': 0.2, 'attention': 0.4, 'integrated_gradients': 0.1, 'uniform': 0.0, 'random': 0.15})
  lines = report._conclusion_section(ev)
  text = '\n'.join(lines)
  # lower deletion is more faithful: attention (.3) < IG (.5) < saliency (.9)
  assert '- Ranking by deletion rate: attention (0.300) > integrated_gradients (0.500) > saliency (0.900)' in lines
  assert '- Ranking by weak-learner F1: attention (0.950) > integrated_gradients (0.800) > saliency (0.700)' in lines
  assert '- Ranking by shuffle TVD: attention (0.400) > saliency (0.200) > integrated_gradients (0.100)' in lines
  # deletion and weak learner order the three alike (tau 1); shuffle swaps the last two (tau 1/3)
  assert 'deletion rate vs weak-learner F1 τ = +1.00' in text and 'τ = +0.33' in text
  assert 'Positive Kendall τ in 3 of 3 pairs' in text
  assert 'saliency is less faithful than the random map by deletion rate (0.900 vs 0.800)' in text
  assert 'integrated_gradients is less faithful than the random map by shuffle TVD (0.100 vs 0.150)' in text
  assert 'ERASER' not in text  # not measured here: no ranking
  assert 'attention' not in text.split('Worse than the random map:')[1]


def test_no_map_worse_than_random_says_so():
  ev = evaluated({'saliency': 0.1, 'attention': 0.2, 'random': 0.9}, {'saliency': 0.9, 'attention': 0.8, 'random': 0.5},
                 {'saliency': 0.3, 'attention': 0.2, 'random': 0.1})
  assert '- Worse than the random map: none, under every evaluation.' in report._conclusion_section(ev)


def test_settings_and_device_are_written_as_a_person_types_them():
  assert report.setting(1e-05) == '1e-05' and report.setting(0.001) == '0.001'
  assert report.setting(['saliency', 'attention']) == 'saliency,attention' and report.setting(True) == 'True'
  assert report.device_name({'platform': 'cpu', 'kind': 'cpu', 'count': 1, 'processor': 'x86_64'}) == 'CPU (x86_64)'
  assert report.device_name({'platform': 'gpu', 'kind': 'NVIDIA H200', 'count': 1}) == '1 × NVIDIA H200 (gpu)'


def test_documents_without_a_token_are_dropped_and_counted_per_split():
  raw = {'train': ([['a'], [], ['b', 'c']], np.array([0, 1, 1], np.int32), [[True], [], [False, True]]),
         'valid': ([['a']], np.array([1], np.int32), [[True]]),
         'test': ([[], []], np.array([0, 1], np.int32), [[], []])}
  kept, dropped = encode.drop_empty(raw)
  assert dropped == {'train': 1, 'valid': 0, 'test': 2}
  assert kept['train'][0] == [['a'], ['b', 'c']] and kept['train'][1].tolist() == [0, 1]
  assert kept['train'][2] == [[True], [False, True]]
  assert kept['valid'][0] == [['a']] and kept['valid'][1].tolist() == [1]
  assert kept['test'][0] == [] and len(kept['test'][1]) == 0


def markdown_tables(markdown):
  """{section heading: [table, ...]} of a rendered report; a table is its rows of cells, header first."""
  sections, heading, previous = {}, None, ''
  for line in markdown.splitlines():
    if line.startswith('## '):
      heading = line[3:]
      sections[heading] = []
    elif line.startswith('|') and not line.startswith('|---'):
      if not previous.startswith('|'):
        sections[heading].append([])
      sections[heading][-1].append([cell.strip() for cell in line.strip('|').split('|')])
    previous = line
  return sections


def value_and_ci(text):
  """'0.812 [0.790, 0.830]' -> (0.812, 0.79, 0.83)."""
  match = re.fullmatch(r'(-?\d+\.\d+) \[(-?\d+\.\d+), (-?\d+\.\d+)\]', text)
  assert match, text
  return tuple(float(v) for v in match.groups())


def stability(median):
  return {'median_spearman': median, 'documents': 64}


def test_render_reads_back_every_stage_table():
  ev = evaluated(deletion={'saliency': 0.61234, 'attention': 0.4, 'integrated_gradients': 0.5, 'random': 0.7},
                 f1={'saliency': 0.8, 'attention': 0.9, 'integrated_gradients': 0.7, 'uniform': 0.5, 'random': 0.55},
                 tvd={'saliency': 0.3, 'attention': 0.2, 'integrated_gradients': 0.25, 'uniform': 0.0, 'random': 0.1})
  ev['eraser'] = {n: {'aopc_comprehensiveness': cell(c), 'aopc_sufficiency': cell(0.3 - c)}
                 for n, c in (('saliency', 0.25), ('attention', 0.1), ('integrated_gradients', 0.2))}
  train = {'test': {'accuracy': 0.81249, 'accuracy_ci95': [0.79, 0.83], 'f1': 0.8, 'f1_ci95': [0.78, 0.82],
                    'macro_f1': 0.805, 'roc_auc': 0.9},
           'selected_epoch': 2,
           'history': [{'epoch': e, 'train_loss': 1 / e, 'valid_loss': 0.5 / e, 'valid_accuracy': 0.7 + e / 20,
                        'valid_roc_auc': 0.8 + e / 50} for e in (1, 2)]}
  encoded = {'display_name': 'Synthetic', 'protocol': 'planted', 'vocab_size': 40, 'max_len': 16,
             'sizes': {'train': 100, 'valid': 20, 'test': 30}, 'truncated': {'train': 3}, 'dropped_empty': {'test': 2}}
  per_document = {'evaluations': {'median': 15., 'mean': 20.94, 'p90': 45., 'max': 105.},
                  'completeness_relative_error': {'median': 5.9e-7, 'mean': 3e-6, 'p90': 1.4e-6, 'max': 1.7e-4},
                  'at_cap': {'share': 0.0125}}
  results = {'config': {'corpus': 'synthetic', 'explainers': ['saliency', 'attention'], 'l2': 1e-05, 'epochs': 2},
             'provenance': {'command': 'run.py --epochs=2', 'versions': {'jax': '9.1', 'flax': '9.2'},
                            'device': {'platform': 'cpu', 'kind': 'cpu', 'count': 1, 'processor': 'x86_64'}},
             'stages': {'encode': encoded, 'train': train, 'evaluate': ev,
                        'explain': {'heatmaps': ['heatmaps/test_0.png', 'heatmaps/test_0.html'],
                                    'quality': {'saliency': {'precision_at_k': 0.75}, 'attention': {},
                                                'kernel_shap': {'seed_stability': stability(0.5)},
                                                'lime': {'seed_stability': stability(0.93)},
                                                'integrated_gradients': {
                                                    'completeness_relative_error': {'median': 5.9e-7, 'p90': 1.4e-6},
                                                    'per_document': per_document}}}}}
  text = report.render(results)
  tables = markdown_tables(text)

  assert text.splitlines()[0] == '# faithjax run: synthetic' and 'by `run.py --epochs=2` on CPU (x86_64)' in text
  assert tables['Corpus: Synthetic'] == [[['split', 'examples', 'truncated', 'dropped (no token)'],
                                          ['train', '100', '3', '0'], ['valid', '20', '0', '0'],
                                          ['test', '30', '0', '2']]]
  test_table, history = tables['Classifier (Table 2)']
  assert value_and_ci(test_table[1][0]) == (0.812, 0.79, 0.83) and test_table[1][3] == '0.900'
  assert [row[0] for row in history[1:]] == ['1', '2'] and [float(row[4]) for row in history[1:]] == [0.82, 0.84]
  assert tables['Explainers'][0][1:] == [['saliency', '0.750', '—', '—'], ['attention', '—', '—', '—'],
                                         ['kernel_shap', '—', '—', '0.50 (below 0.9: the map depends on the seed)'],
                                         ['lime', '—', '—', '0.93'],
                                         ['integrated_gradients', '—', '5.9e-07 / 1.4e-06', '—']]
  assert tables['Explainers'][1][1:] == [['integrated_gradients', '15 / 20.9 / 105', '5.9e-07 / 1.4e-06 / 1.7e-04',
                                          '1.2%']]  # IG to a tolerance: its per-document counts
  assert '![heatmaps/test_0.png](heatmaps/test_0.png) ([HTML](heatmaps/test_0.html))' in text

  [evaluations_table] = tables['Faithfulness evaluations (Tables 3–5 and ERASER)']
  header, *rows = evaluations_table
  assert header == ['map', 'deletion rate', 'weak-learner F1', 'shuffle TVD', 'ERASER AOPC comprehensiveness',
                    'ERASER AOPC sufficiency']
  by_map = {row[0]: dict(zip(header[1:], row[1:])) for row in rows}
  assert list(by_map) == ['saliency', 'attention', 'integrated_gradients', 'random', 'uniform']  # every map any evaluation measured
  assert value_and_ci(by_map['saliency']['deletion rate']) == (0.612, 0.602, 0.622)
  assert value_and_ci(by_map['saliency']['ERASER AOPC sufficiency']) == (0.05, 0.04, 0.06)
  assert by_map['uniform']['deletion rate'] == '—' and by_map['random']['ERASER AOPC comprehensiveness'] == '—'
  assert by_map['uniform']['weak-learner F1'] == '0.500'  # no CI given, none shown

  # The conclusion orders by each evaluation's own direction: lower deletion rate, higher F1 and TVD first.
  assert '- Ranking by deletion rate: attention (0.400) > integrated_gradients (0.500) > saliency (0.612)' in text
  assert '- Ranking by shuffle TVD: saliency (0.300) > integrated_gradients (0.250) > attention (0.200)' in text
  [config_table] = tables['Config']
  assert config_table[1:] == [['corpus', 'synthetic'], ['epochs', '2'], ['explainers', 'saliency,attention'],
                              ['l2', '1e-05']]
  assert tables['Versions'] == [[['library', 'version'], ['flax', '9.2'], ['jax', '9.1']]]


def test_a_corpus_named_by_a_file_name_is_text_in_the_report_not_markup():
  assert report.escaped('jsonl:/d/<img src=x onerror=alert(1)>_[a]*b|c.jsonl') == (
      'jsonl:/d/&lt;img src=x onerror=alert(1)&gt;\\_\\[a\\]\\*b\\|c.jsonl')


def test_a_three_class_run_reports_macro_f1_and_names_its_classes():
  train = {'test': {'accuracy': 0.7, 'accuracy_ci95': [0.6, 0.8], 'f1': 0.65, 'f1_ci95': [0.55, 0.75],
                    'f1_average': 'macro', 'macro_f1': 0.65, 'roc_auc': 0.85},
           'selected_epoch': 1, 'history': [{'epoch': 1, 'train_loss': 1., 'valid_loss': 1., 'valid_accuracy': 0.7,
                                             'valid_roc_auc': 0.8}]}
  encoded = {'display_name': 'jsonl:x.jsonl', 'protocol': 'mine', 'vocab_size': 40, 'max_len': 16,
             'classes': ['sports', 'tech', 'world'], 'sizes': {'train': 10, 'valid': 5, 'test': 5}, 'truncated': {}}
  text = '\n'.join(report._corpus_section(encoded) + report._train_section(train))  # pylint: disable=protected-access
  assert 'Classes: 0 sports, 1 tech, 2 world.' in text
  test_table = markdown_tables(text)['Classifier (Table 2)'][0]
  assert test_table[0] == ['accuracy', 'F1 (macro)', 'ROC-AUC (macro one-vs-rest)']
  assert value_and_ci(test_table[1][1]) == (0.65, 0.55, 0.75) and test_table[1][2] == '0.850'
