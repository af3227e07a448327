"""report.md: a conclusion computed from the numbers, settings as written, no NaN from empty documents."""

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
