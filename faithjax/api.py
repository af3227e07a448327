"""faithjax as a library: explain and evaluate a classifier trained elsewhere, on your own arrays.

`explain_maps` and `evaluate_maps` (exported as faithjax.explain_maps and
faithjax.evaluate_maps) run the registered plug-ins (faithjax/plugins.py) the
way the pipeline does, on padded arrays instead of a workdir's corpus: the
same explainer records and options, the same evaluation path
(pipeline.evaluate_maps), the same per-example arrays and bootstrap CIs.
The model is a flax.linen module with its params, a flax.nnx module (params=None:
its own), or a contract.Functions record with its params, implementing
faithjax/models/contract.py (docs/extending.md, docs/library.md).
"""

import dataclasses
import tempfile
from typing import Any, Mapping, Sequence

import numpy as np

from faithjax import FaithjaxError
from faithjax import config as config_lib
from faithjax import explain
from faithjax import io
from faithjax import pipeline
from faithjax import plugins
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.data.text import PAD_ID
from faithjax.models import contract


@dataclasses.dataclass(frozen=True)
class Evaluated:
  """One evaluation of one map."""
  per_example: dict  # {array: [n] or [n, ...]}, e.g. deletion's 'rates', ERASER's 'aopc_comprehensiveness'
  summary: dict  # the evaluation's summarise(): means with 95% bootstrap CIs ({'mean', 'ci95', 'n'}, ...)


def _split(ids: np.ndarray, mask: np.ndarray | None, labels: np.ndarray | None = None) -> encode.EncodedSplit:
  """Padded ids [n, seq] (PAD after each document's tokens) as a ragged EncodedSplit."""
  ids = np.asarray(ids)
  real = ids != PAD_ID
  if mask is not None and not np.array_equal(np.asarray(mask, bool), real):
    raise FaithjaxError(f'mask must be ids != {PAD_ID} (faithjax reads id {PAD_ID} as PAD): set ids[~mask] = 0')
  if np.any(real[:, 1:] & ~real[:, :-1]):
    raise FaithjaxError('each row of ids must hold its tokens first, then PAD (0) to the end')
  labels = np.zeros(len(ids), np.int32) if labels is None else np.asarray(labels)
  return encode.EncodedSplit.from_lists([row[keep] for row, keep in zip(ids, real)], labels)


def _config(explainers: Sequence[str] = explain.DEFAULT, options: Mapping | None = None, **settings):
  """A RunConfig for arrays: the library defaults, `settings` (RunConfig fields) and explainer `options`."""
  return config_lib.make_config('arrays', explainers=tuple(explainers), explainer=dict(options or {}), **settings)


def explain_maps(model: Any, params: Any, ids: np.ndarray, mask: np.ndarray | None = None,
                 explainers: Sequence[str] = explain.DEFAULT, *, options: Mapping | None = None,
                 target: str = 'prob', detach_attention: bool = False, seed: int = 0,
                 batch_size: int = 256) -> dict[str, np.ndarray]:
  """Feature maps of the predicted class: {explainer: float32 [n, seq]}, 0 on PAD.

  model, params: a classifier implementing faithjax/models/contract.py and its
  parameters (a flax.linen module or a contract.Functions record and its
  params; a flax.nnx module and None, its own parameters; contract.adapt); ids: <int>[n, seq], each row its tokens then PAD (0); mask:
  <bool>[n, seq], ids != 0 (checked) or None; explainers: registered names,
  optionally with map transforms ('integrated_gradients.abs'); options:
  {explainer: {option: value}} over the defaults (docs/extending.md); seed:
  the PRNG seed of the sampling explainers.
  """
  model, params = contract.adapt(model, params)
  config = _config(explainers, options, target=target, detach_attention=detach_attention, seed=seed)
  split = _split(ids, mask)
  maps = {}
  for name in explainers:
    fn = explain.make_explainer(name, model, **pipeline.explainer_options(config, name))
    flat = explain.explain_split(fn, params, split, batch_size, pipeline.explainer_key(config, name, 0))
    maps[name] = split.padded(np.arange(len(split)), np.shape(ids)[1], flat)
  return maps


def evaluate_maps(model: Any, params: Any, ids: np.ndarray, maps: Mapping[str, np.ndarray],
                  evaluations: Sequence[str] = ('deletion', 'eraser'), *, mask: np.ndarray | None = None,
                  baselines: bool = True, workdir: str | None = None, seed: int = 0, batch_size: int = 256,
                  **settings: Any) -> dict[str, dict[str, Evaluated]]:
  """Faithfulness of each map under each evaluation: {evaluation: {map: Evaluated}}.

  model, params: as for explain_maps; ids: <int>[n, seq] as for explain_maps; maps: {name: [n, seq]} (e.g.
  explain_maps' output); evaluations: registered names whose records do not
  `train` a model on the maps (the weak learner and shuffle test need a
  corpus's train and valid splits: run the pipeline); baselines: also the
  registered baselines (uniform, random), every evaluation's floor. settings:
  RunConfig fields the evaluations read (deletion_mode, pad_rule, absolute).
  workdir: where the per-example arrays are kept (a killed call resumes);
  default a temporary folder.
  """
  records = [plugins.get(plugins.Evaluation, e) for e in evaluations]
  training = [r.name for r in records if r.trains]
  if training:
    raise FaithjaxError(f'{", ".join(training)} train a model on the maps of a train and valid split; evaluate '
                        'them with the pipeline (python run.py, or pipeline.evaluate_maps with an EncodedCorpus)')
  model, params = contract.adapt(model, params)
  config = _config(seed=seed, eval_batch_size=batch_size, **settings)
  split = _split(ids, mask)
  corpus = encode.EncodedCorpus('arrays', [], {'test': split}, num_classes=model.num_classes)
  names = [*maps, *(explain.baseline_names() if baselines else ())]
  ragged = {name: {'test': _flat(split, values)} for name, values in maps.items()}
  with tempfile.TemporaryDirectory() as scratch:
    out = workdir_lib.Workdir(workdir or scratch)
    summary = pipeline.evaluate_maps(config, corpus, model, params, out, names, ragged.get,
                                     sections=[r.name for r in records])
    return {r.name: {name: Evaluated(dict(io.load_npz(out.evaluation(r.name, name))), entry)
                     for name, entry in summary[r.name].items()} for r in records}


def _flat(split: encode.EncodedSplit, values: np.ndarray) -> np.ndarray:
  """A padded map [n, seq] as a ragged one aligned with split.ids."""
  values = np.asarray(values, np.float32)
  return np.concatenate([values[i, :length] for i, length in enumerate(split.lengths)])
