"""faithjax.meta.stats and faithjax.meta.seeds (what experiments.agreement_stats and experiments.agreement measured
in the scripts themselves): the committed numbers measured again, every committed page rendered again."""

import dataclasses
import glob
import json
import os

import numpy as np
import pytest

from faithjax import explain
from faithjax import io
from faithjax import paper
from faithjax.meta import seeds
from faithjax.meta import seeds_render
from faithjax.meta import stats
from faithjax.meta import stats_render
from experiments import evaluated_runs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, 'experiments', 'results')


def committed(pattern):
  return sorted(p for p in glob.glob(os.path.join(RESULTS, pattern)) if os.path.exists(p[:-len('json')] + 'md'))


def text_of(path):
  with open(path, encoding='utf-8') as f:
    return f.read()


@pytest.mark.parametrize('path', committed('agreement_stats_*.json'), ids=os.path.basename)
def test_every_committed_agreement_stats_record_renders_to_its_page(path):
  record = io.read_json(path)
  render = stats_render.pooled_markdown if 'pool' in record else stats_render.markdown
  assert render(record) == text_of(path[:-len('json')] + 'md')


def test_every_committed_agreement_record_renders_to_its_page_and_the_summary():
  paths = {os.path.basename(p)[len('agreement_'):-len('.json')]: p
           for p in committed('agreement_*.json') if 'agreement_stats_' not in p}
  assert len(paths) == 5
  records = {c: io.read_json(paths[c]) for c in ('synthetic', *paper.CORPORA) if c in paths}
  for corpus, record in records.items():
    assert seeds_render.render_corpus(record) == text_of(paths[corpus][:-len('json')] + 'md'), corpus
  assert seeds_render.render_summary(records, tuple(explain.DEFAULT)) == text_of(os.path.join(RESULTS, 'agreement.md'))


def test_the_library_measures_the_committed_20news_archive_record_again():
  """agreement_stats_20news_cpu_seeds.json was measured by the script's own copy; the library's records, written
  as JSON, give its scores, pairs and rank agreement to the last digit (the same draws)."""
  record = io.read_json(os.path.join(RESULTS, 'agreement_stats_20news_cpu_seeds.json'))
  runs = [evaluated_runs.ArchivedRun(os.path.join(REPO, path))
          for path in record['arguments'][1].split('=', 1)[1].split(',')]
  draws, scored = stats.resampled_scores(runs, record['n_resamples'])
  result = stats.measure_runs(runs, draws, scored)
  assert result.leakage is None  # archives hold no maps or classifier
  again = json.loads(json.dumps(stats.to_json(result)))
  for key in ('seeds', 'explainers', 'design', 'examples', 'evaluations', 'rank_agreement',
              'rank_agreement_without_baselines'):
    assert again[key] == record[key], key


def slow_kendall_tau_b(x, y):
  """tau-b by its definition: (concordant - discordant) / sqrt((pairs - ties in x)(pairs - ties in y))."""
  n, concordant, discordant, tied_x, tied_y = len(x), 0, 0, 0, 0
  for i in range(n):
    for j in range(i + 1, n):
      sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
      concordant += sx * sy > 0
      discordant += sx * sy < 0
      tied_x += sx == 0
      tied_y += sy == 0
  pairs = n * (n - 1) / 2
  return (concordant - discordant) / np.sqrt((pairs - tied_x) * (pairs - tied_y))


def test_pooling_and_corpus_agreement_against_a_loop():
  """pooled keeps what every corpus shares in the first corpus's order; corpus_agreements' tau is the loop's, its
  p corrected over every row."""
  rng = np.random.default_rng(0)

  def corpus(names):
    estimate = rng.normal(size=len(names))
    return {'deletion_rate': {'explainers': names, 'estimate': estimate,
                              'boot': estimate[:, None] + 0.3 * rng.normal(size=(len(names), 60))},
            **({'shuffle_tvd': {'explainers': names, 'estimate': estimate, 'boot': np.zeros((len(names), 60))}}
               if len(names) > 4 else {})}
  scored = [corpus(['a', 'b', 'c', 'd', 'e']), corpus(['e', 'd', 'c', 'b']), corpus(['b', 'c', 'd', 'e', 'x'])]
  shared = stats.pooled(scored)
  assert list(shared) == ['deletion_rate'] and shared['deletion_rate']['explainers'] == ['b', 'c', 'd', 'e']
  rows = stats.corpus_agreements(shared, ['p', 'q', 'r'], (1, 20, 'crossed'))
  assert [(r.a, r.b) for r in rows] == [('p', 'q'), ('p', 'r'), ('q', 'r')]
  for r, (i, j) in zip(rows, [(0, 1), (0, 2), (1, 2)]):
    np.testing.assert_allclose(r.kendall_tau['value'], slow_kendall_tau_b(shared['deletion_rate']['estimate'][i],
                                                                          shared['deletion_rate']['estimate'][j]))
    assert r.kendall_tau['p'] <= r.kendall_tau['p_bh'] <= 1


def test_rank_agreement_json_groups_the_records_by_pair_and_table():
  rows = [stats.measure.RankAgreement('x', 'y', statistic, baselines, ('a', 'b'), value, (0., 1.), .5, .6)
          for baselines in (True, False) for statistic, value in (('kendall_tau', .1), ('spearman_rho', .2))]
  assert stats.rank_agreement_json(rows, False) == [{
      'a': 'x', 'b': 'y', 'explainers': ['a', 'b'],
      'kendall_tau': {'value': .1, 'ci95': [0., 1.], 'p': .5, 'p_bh': .6},
      'spearman_rho': {'value': .2, 'ci95': [0., 1.], 'p': .5, 'p_bh': .6}}]


def test_opposing_and_leakage_rows_flatten_to_the_committed_shape():
  share = stats.OpposingShare(4, .5, .25)
  row = stats._opposing_json(stats.Opposing(0, 'saliency', .3, share, 2, stats.OpposingShare(1, 0., .5)))  # pylint: disable=protected-access
  assert row == {'seed': 0, 'explainer': 'saliency', 'deletion_rate': .3, 'removed': 4, 'opposing': .5,
                 'all_tokens': .25, 'flipped': {'examples': 2, 'removed': 1, 'opposing': 0., 'all_tokens': .5}}
  leak = stats.leakage_of([0, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1])
  plain = stats._leakage_json(stats.WeakLearnerLeakage(1, 'saliency', .5, .6, leak))  # pylint: disable=protected-access
  assert 'fixed_class' not in plain and plain['follows_classifier_when_wrong'] == .5
  fixed = stats._leakage_json(stats.WeakLearnerLeakage(1, 'saliency', .5, .6, leak, leak, {'difference': 0.}))  # pylint: disable=protected-access
  assert fixed['fixed_class'] == dataclasses.asdict(leak) and fixed['fixed_minus_predicted_f1'] == {'difference': 0.}


def test_train_only_seeds_adopt_the_stacked_deletion_means_without_touching_the_runs():
  whole = seeds.SeedRun(None, 'w0', {'stages': {'explain': {}, 'evaluate': {'shuffle': {'x': 1}}}})
  trained = seeds.SeedRun(None, 'w1', {'stages': {'train': {}}})
  stacked = [[0, 'deletion_rate', 'ig', .3, .25, .1], [1, 'deletion_rate', 'ig', None, .4, None],
             [0, 'shuffle_tvd', 'ig', .1, .1, 0.]]
  adopted = seeds.adopt_stacked_deletion({0: whole, 1: trained}, stacked)
  assert adopted[0].results['stages']['evaluate'] == {'shuffle': {'x': 1}, 'deletion': {'ig': {'mean': .25,
                                                                                             'ci95': None}}}
  assert adopted[1].results['stages']['evaluate'] == {'deletion': {'ig': {'mean': .4, 'ci95': None}}}
  assert adopted[1].whole is False and 'deletion' not in whole.results['stages']['evaluate']
  assert seeds.adopt_stacked_deletion({0: whole}, stacked) == {0: whole}


def test_a_rerun_keeps_the_sections_a_killed_run_left_over_the_older_record(tmp_path):
  stem = str(tmp_path / 'agreement_synthetic')
  assert not seeds.kept_record(stem)
  io.write_json(stem + '.json', {'seeds': [0], 'sensitivity': ['old'], 'stacked': ['old']})
  assert seeds.kept_record(stem)['sensitivity'] == ['old']
  io.write_json(seeds.partial_path(stem), {'seeds': [0, 1], 'sensitivity': ['new']})
  assert seeds.kept_record(stem) == {'seeds': [0, 1], 'sensitivity': ['new'], 'stacked': ['old']}
