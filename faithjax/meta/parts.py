"""A run's part of the meta-evaluation: what it measures with the run's classifier and maps, kept in one file.

The statistics over runs (faithjax/meta/measure.py) read a run's own evaluations
and this part, nothing else: a run archived on another machine or in another
session (faithjax.runs.write_archive, its part at faithjax.runs.part_path) joins
a meta-evaluation without its workdir, as long as its part was measured under
the same options.
"""

import dataclasses
import json
import os

import numpy as np

from faithjax import FaithjaxError
from faithjax import io
from faithjax.faithfulness import naopc

SEPARATOR = '/'  # file keys: '<field>/<key part>/.../<array>'; no name in a key holds it


@dataclasses.dataclass(frozen=True)
class PartOptions:
  """The meta-evaluation's options a part was measured under (its flags, as asked); parts are put together only
  where these are equal."""
  sections: tuple | None  # the evaluations to diagnose (None: each run's default, measure.run_sections)
  train_evaluations: bool  # also those that train on the maps, retrained on every map and its copies
  levels: tuple  # noise levels
  depth: int  # cascading randomisation's depth
  seed: int  # the meta-evaluation's seed: the diagnosis sample and the degradations' noise
  examples: int  # the diagnosis sample's size (0: every evaluated example)
  naopc_bounds: bool
  naopc_examples: int
  naopc_max_tokens: int
  weak_epochs: int | None  # the retrained weak learners' epochs (None: each run's)

  def differences(self, other: 'PartOptions') -> list[str]:
    """'field: mine vs other' for every field in which the two differ."""
    return [f'{f.name}: {getattr(self, f.name)} vs {getattr(other, f.name)}' for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(other, f.name)]


@dataclasses.dataclass(frozen=True)
class RunPart:
  """The meta-evaluation's measurements of one run that need its classifier or its maps."""
  options: PartOptions
  diagnosed: tuple  # the maps it degraded (measure.diagnosed_explainers of the run's explainers)
  sections: tuple  # the evaluations whose scores of the copies it measured on the run's own setting
  training: tuple  # the evaluations it retrained on every diagnosed map and its copies
  weak_epochs: int | None  # the retrained weak learners' epochs (None: nothing retrained)
  subset: np.ndarray  # <int>[n] the evaluated test examples, as indices into the test split
  lengths: np.ndarray  # <int>[n] their tokens
  margins: np.ndarray  # [n] the classifier's top-1 minus top-2 probability on them
  preferences: dict  # {(score, degradation, explainer): (map's score [rows], copy's score [rows])}, not oriented
  costs: dict  # {section: (seconds per example, the same in forward passes)}
  retrained: dict  # {(section, copy): saved arrays} of the retrained evaluations, copy '<explainer>~<degradation>'
  bounds: naopc.Bounds | None  # the AOPC bounds on the searched rows (measure.searched_rows); None: not asked
  truth: dict  # {explainer: precision@k of the planted tokens per test example [n_test]}; {} where none planted


def write(part: RunPart, path: str) -> None:
  """Writes `part` to `path` (.npz, compressed: parts of archived runs are kept in git; verified when read)."""
  measured = {'options': dataclasses.asdict(part.options), 'diagnosed': part.diagnosed, 'sections': part.sections,
              'training': part.training, 'weak_epochs': part.weak_epochs}
  arrays = {'measured': np.array(json.dumps(measured)),
            'subset': part.subset, 'lengths': part.lengths, 'margins': part.margins}
  for (score, degradation, name), (original, degraded) in part.preferences.items():
    arrays |= {_key('preference', score, degradation, name, 'original'): original,
               _key('preference', score, degradation, name, 'degraded'): degraded}
  arrays |= {_key('cost', section): np.asarray(cost) for section, cost in part.costs.items()}
  for (section, copy), saved in part.retrained.items():
    arrays |= {_key('retrained', section, copy, key): value for key, value in saved.items()}
  if part.bounds is not None:
    arrays |= {_key('bounds', field): value for field, value in dataclasses.asdict(part.bounds).items()}
  arrays |= {_key('truth', name): values for name, values in part.truth.items()}
  io.save_npz(path, compress=True, **arrays)


def read(path: str) -> RunPart:
  """The part written to `path`; a missing file is a one-line error that says how to measure it."""
  if not os.path.exists(path):
    raise FaithjaxError(f'no meta-evaluation part at {path}: measure it from the run\'s workdir with python -m '
                        'faithjax.meta --runs=WORKDIR --out=DIR --measure_only (its options) and store it there')
  arrays = io.load_npz(path)
  measured = json.loads(str(arrays.pop('measured')))
  as_tuples = lambda record: {k: tuple(v) if isinstance(v, list) else v for k, v in record.items()}
  fields = {'preference': {}, 'cost': {}, 'retrained': {}, 'bounds': {}, 'truth': {}}
  for key, value in arrays.items():
    if SEPARATOR in key:
      field, *rest = key.split(SEPARATOR)
      fields[field][tuple(rest) if len(rest) > 1 else rest[0]] = value
  preferences = {}
  for (score, degradation, name, side), values in fields['preference'].items():
    preferences.setdefault((score, degradation, name), {})[side] = values
  retrained = {}
  for (section, copy, key), values in fields['retrained'].items():
    retrained.setdefault((section, copy), {})[key] = values
  return RunPart(
      options=PartOptions(**as_tuples(measured.pop('options'))), **as_tuples(measured),
      subset=arrays['subset'], lengths=arrays['lengths'], margins=arrays['margins'],
      preferences={k: (v['original'], v['degraded']) for k, v in preferences.items()},
      costs={section: tuple(cost.tolist()) for section, cost in fields['cost'].items()}, retrained=retrained,
      bounds=naopc.Bounds(**fields['bounds']) if fields['bounds'] else None, truth=fields['truth'])


def _key(*parts: str) -> str:
  if any(SEPARATOR in p for p in parts):
    raise FaithjaxError(f'a name in {parts} holds {SEPARATOR!r}; the meta-evaluation\'s part cannot store it')
  return SEPARATOR.join(parts)
