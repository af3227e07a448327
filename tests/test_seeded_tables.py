"""The seed-aware reproduction cells (experiments/evaluated_runs.py) against a brute-force two-level bootstrap."""

import types

import numpy as np
import pytest

from experiments import evaluated_runs
from faithjax import config as config_lib
from faithjax import metrics
from faithjax import paper
from faithjax import study

N_TEST, N_SEEDS = 40, 3


class FakeSplit(types.SimpleNamespace):
  def __len__(self):
    return len(self.labels)


class FakeRun(evaluated_runs.EvaluatedRun):
  """What seeded_rows reads of a finished workdir: its test labels and evaluation files, made up."""

  def __init__(self, rng, measured):
    self.test = FakeSplit(labels=rng.integers(0, 2, N_TEST))
    self.labels = self.test.labels
    rates = np.round(rng.uniform(0, 1, measured.sum()), 3)
    self.files = {('deletion', n): {'rates': rates + rng.normal(0, .1), 'indices': np.flatnonzero(measured)}
                  for n in paper.EXPLAINERS}
    for n in (*paper.EXPLAINERS, *paper.BASELINES):
      self.files['weak_learner', n] = {'labels': self.test.labels, 'test_probs': rng.dirichlet([1, 1], N_TEST)}

  def has(self, section, name):
    return (section, name) in self.files

  def saved(self, section, name):
    return self.files[section, name]


@pytest.fixture(scope='module')
def runs():
  rng = np.random.default_rng(0)
  measured = rng.uniform(size=N_TEST) < .6  # deletion ran on a test subset: NaN elsewhere
  return {'sst': [FakeRun(rng, measured) for _ in range(N_SEEDS)]}


def brute_force_cell(per_seed_units, statistic, draws):
  """The cell from units stacked by hand, one seed at a time: (mean, (low, high), sd). The bootstrap itself is
  checked against a loop with its own draws in tests/test_metrics.py; this checks what seeded_rows feeds it."""
  per_seed = [statistic(*(u[s] for u in per_seed_units)) for s in range(N_SEEDS)]
  estimate, boot = metrics.two_level_bootstrap(tuple(per_seed_units), statistic, draws)
  return np.mean(per_seed), draws.interval(estimate, boot), np.std(per_seed, ddof=1)


@pytest.mark.parametrize('evaluation', ['deletion_rate', 'weak_learner_f1'])
def test_seeded_rows_equal_a_brute_force_two_level_bootstrap(runs, evaluation):
  draws = metrics.two_level_draws(N_SEEDS, N_TEST, 'crossed', 200, seed=1)
  rows = evaluated_runs.seeded_rows(runs, evaluation, lambda corpus: draws)
  names = [r['map'] for r in rows]
  assert names == list({'deletion_rate': paper.TABLE3, 'weak_learner_f1': paper.TABLE4}[evaluation])
  for row in rows:
    seeds = runs['sst']
    if evaluation == 'deletion_rate':
      per_seed_units = [np.stack([s.units(types.SimpleNamespace(section='deletion', units=None, per_example='rates'),
                                          row['map'])[0] for s in seeds])]
      statistic = lambda v: np.nanmean(v, -1)
    else:
      per_seed_units = [np.stack([s.test.labels for s in seeds]),
                        np.stack([s.files['weak_learner', row['map']]['test_probs'].argmax(-1) for s in seeds])]
      statistic = metrics.f1_along_last_axis
    mean, (low, high), sd = brute_force_cell(per_seed_units, statistic, draws)
    assert row['ours'] == pytest.approx(mean) and row['seed_sd'] == pytest.approx(sd)
    assert (row['low'], row['high']) == pytest.approx((low, high))
    assert row['seeds'] == N_SEEDS and row['design'] == 'crossed'
    assert row['diff'] == pytest.approx(row['ours'] - row['paper'])


def test_seed_spread_widens_the_interval_beyond_the_example_bootstrap(runs):
  # The same examples, but the seeds' deletion rates shifted apart: the two-level CI must cover the spread.
  draws = metrics.two_level_draws(N_SEEDS, N_TEST, 'crossed', 500, seed=2)
  values = np.tile(np.linspace(0, 1, N_TEST), (N_SEEDS, 1))
  alike = evaluated_runs.seeded_cell((values,), evaluated_runs.nanmean, draws)
  apart = evaluated_runs.seeded_cell((values + np.array([[-.2], [0.], [.2]]),), evaluated_runs.nanmean, draws)
  assert alike['seed_sd'] == 0 and apart['seed_sd'] == pytest.approx(.2)
  assert apart['high'] - apart['low'] > 2 * (alike['high'] - alike['low'])


def test_closeness_counts():
  rows = [{'ours': .50, 'low': .45, 'high': .55, 'paper': .52, 'diff': -.02},   # close and inside
          {'ours': .50, 'low': .49, 'high': .51, 'paper': .54, 'diff': -.04},   # close, outside
          {'ours': .50, 'low': .30, 'high': .70, 'paper': .60, 'diff': -.10},   # inside, not close
          {'ours': .50, 'low': .45, 'high': .55, 'paper': None, 'diff': None}]  # the paper has no such cell
  assert evaluated_runs.closeness_counts(rows) == {'cells': 3, 'within_05': 2, 'inside_ci': 2}


def test_not_reproduced_are_the_far_cells_outside_their_interval_largest_gap_first():
  far_outside = {'map': 'saliency', 'ours': .80, 'low': .75, 'high': .85, 'paper': .50, 'diff': .30}
  farther = {'map': 'attention', 'ours': .10, 'low': .05, 'high': .15, 'paper': .50, 'diff': -.40}
  far_inside = {'map': 'random', 'ours': .50, 'low': .30, 'high': .70, 'paper': .60, 'diff': -.10}
  close_outside = {'map': 'uniform', 'ours': .50, 'low': .49, 'high': .51, 'paper': .54, 'diff': -.04}
  unreported = {'map': 'eraser', 'ours': .50, 'low': .45, 'high': .55, 'paper': None, 'diff': None}
  tables = {'deletion_rate': [far_outside, far_inside, close_outside], 'shuffle_tvd': [unreported, farther]}
  assert evaluated_runs.not_reproduced(tables) == [('shuffle_tvd', farther), ('deletion_rate', far_outside)]
  assert evaluated_runs.cell_name('table2', {'metric': 'f1'}) == ('classifier_f1', 'classifier')
  assert evaluated_runs.cell_name('shuffle_tvd', farther) == ('shuffle_tvd', 'attention')


@pytest.mark.parametrize('gap, move, low, high, expected', [
    (+.3, -.2, -.25, -.15, 'closer'),
    (+.3, -.7, -.75, -.65, 'further'),  # past the paper by more than the gap
    (+.3, +.1, +.05, +.15, 'further'),
    (-.3, +.1, +.05, +.15, 'closer'),
    (+.3, -.1, -.2, +.01, 'tie'),
    (+.3, 0., 0., 1e-9, 'tie'),  # float rounding is not a move
])
def test_direction(gap, move, low, high, expected):
  assert evaluated_runs.direction(gap, move, low, high) == expected


def test_variant_move_is_the_difference_of_means_with_an_interval_covering_it():
  rng = np.random.default_rng(3)
  base = rng.uniform(0, 1, (N_SEEDS, N_TEST))
  shift = -.15
  cells = [study.with_paper(evaluated_runs.seeded_cell(
      (values,), evaluated_runs.nanmean, metrics.two_level_draws(N_SEEDS, N_TEST, 'crossed', 500, seed=seed)), .2)
           for seed, values in ((0, base), (1, base + shift))]
  move = evaluated_runs.variant_move(*cells)
  assert move['move'] == pytest.approx(shift) and move['variant'] == pytest.approx(cells[1]['ours'])
  assert move['low'] < shift < move['high'] < 0
  assert move['direction'] == ('closer' if cells[0]['diff'] > 0 else 'further')


def test_departure_moves_keep_the_corpus_cell_and_intervals_that_exclude_zero():
  row = lambda name, move, low, high: ['deletion_rate', name, .5, .5 + move, move, low, high, 300]
  records = {
      'sst': {'corpus': 'sst', 'departures': [
          {'departure': 'baseline'},
          {'departure': 'init_scheme', 'field': 'init_scheme', 'original': 'pytorch',
           'rows': [row('saliency', -.2, -.25, -.15), row('attention', -.1, -.12, -.08)]},
          {'departure': 'pad_rule', 'field': 'pad_rule', 'original': 'trailing',
           'rows': [row('saliency', .01, -.01, .03)]}]},  # a tie: not a move
      'ag_news': {'corpus': 'ag_news', 'departures': [
          {'departure': 'baseline'},
          {'departure': 'init_scheme', 'field': 'init_scheme', 'original': 'pytorch',
           'rows': [row('saliency', -.3, -.35, -.25)]}]},
  }
  found = evaluated_runs.departure_moves('sst', ('deletion_rate', 'saliency'), +.26, records)
  assert found == [('sst', 'init_scheme=pytorch', -.2, -.25, -.15, 'closer')]


def test_a_variant_header_names_only_what_it_changes_on_a_corpus_both_reproductions_have():
  """The cpu preset runs IMDB at other epochs and test size than 20 News: a 20 News-only variant compared with
  the first corpus of ours (IMDB) would name those too."""
  run = lambda corpus, labels, **changed: types.SimpleNamespace(
      config=config_lib.make_config(corpus, preset='cpu', **changed), labels=np.array(labels))
  ours = {'imdb': [run('imdb', [0, 1])], '20news': [run('20news', [0, 1, 2])]}
  assert (evaluated_runs.variant_change(ours, {'20news': [run('20news', [0, 1, 2], bidirectional=False)]})
          == 'bidirectional=False')
  assert (evaluated_runs.variant_change(ours, {'20news': [run('20news', [0, 2], length_filter=True)]})
          == 'length_filter=True; other test documents on 20news')
  assert evaluated_runs.variant_change(ours, {'imdb': [run('imdb', [0, 1])]}) == 'the same settings'


def test_seeds_that_scored_the_same_documents_are_crossed():
  labels = np.random.default_rng(9).integers(0, 2, (2, N_TEST))
  seed = lambda k: types.SimpleNamespace(labels=labels[k].copy())
  assert evaluated_runs.design_of([seed(0), seed(0), seed(0)]) == 'crossed'
  assert evaluated_runs.design_of([seed(0), seed(1)]) == 'nested'
