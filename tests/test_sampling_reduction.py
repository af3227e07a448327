"""experiments.sampling_reduction on two fake archives of one seed: what it finds changed, and what it refuses."""

import dataclasses

import numpy as np
import pytest

from experiments import sampling_reduction
from faithjax import FaithjaxError
from faithjax import config as config_lib

MAPS = ('saliency', 'kernel_shap')


class FakeArchive:
  """An archived run's reading surface with deletion rates only: {map: rates [n]}."""

  def __init__(self, config, rates, predictions):
    self.config, self._rates, self._predictions = config, rates, predictions
    self.labels = np.arange(len(predictions)) % 2

  def has(self, section, name):
    return section == 'deletion' and name in self._rates

  def saved(self, section, name):
    return {'rates': self._rates[name]}

  def classifier_predictions(self):
    return self._predictions

  def results(self):
    return {'stages': {'evaluate': {'deletion': {n: {'mean': float(np.mean(r)), 'ci95': None}
                                                 for n, r in self._rates.items()}}}}


def archives(shift, n=400):
  rng = np.random.default_rng(0)
  base_config = config_lib.make_config('synthetic', preset='smoke', explainers=MAPS)
  rates = {'saliency': rng.uniform(.2, .4, n), 'kernel_shap': rng.uniform(.3, .5, n), 'random': rng.uniform(.6, .8, n)}
  moved = dict(rates, saliency=rates['saliency'] + 1e-9,  # a float's noise, on a map the reduction leaves alone
               kernel_shap=rates['kernel_shap'] + shift + rng.normal(0, .02, n))
  predictions = rng.uniform(size=(n, 2))
  return (FakeArchive(base_config, rates, predictions),
          FakeArchive(base_config.with_options('kernel_shap', samples=7), moved, predictions))


def test_the_changed_map_is_found_and_its_difference_is_the_mean_paired_difference():
  base, reduced = archives(shift=.3)
  record = sampling_reduction.compare(base, reduced)
  samples = base.config.explainer_options('kernel_shap').samples
  assert record['reduction'] == [f'explainer.kernel_shap.samples: {samples} vs 7']
  assert record['untouched'] == ['saliency']
  assert record['untouched_largest'] == {'difference': pytest.approx(-1e-9), 'score': 'deletion_rate', 'map': 'saliency'}
  (row,) = record['rows']
  expected = -np.mean(reduced._rates['kernel_shap'] - base._rates['kernel_shap'])  # deletion: lower = more faithful
  assert row['map'] == 'kernel_shap' and row['difference'] == pytest.approx(expected)
  assert row['ci95'][0] < expected < row['ci95'][1] < 0
  assert (row['rank_base'], row['rank_reduced'], row['maps_ranked']) == (2, 3, 3)  # now below the random map
  assert '| deletion_rate | kernel_shap |' in sampling_reduction.render(
      {**record, 'command': 'COMMAND', 'measured': 'NOW'})


def test_archives_of_other_settings_or_classifiers_are_refused():
  base, reduced = archives(shift=0.)
  reduced.config = dataclasses.replace(reduced.config, epochs=reduced.config.epochs + 1)
  with pytest.raises(FaithjaxError, match=r'more than explainer options \(epochs: '):
    sampling_reduction.compare(base, reduced)
  base, reduced = archives(shift=0.)
  reduced._predictions = reduced._predictions[::-1]
  with pytest.raises(FaithjaxError, match='different classifiers'):
    sampling_reduction.compare(base, reduced)
