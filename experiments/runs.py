"""A finished workdir, read back for an experiment: its config, corpus and files (no absl flags here, so
several experiments can share it)."""

import os

import numpy as np

from faithjax import FaithjaxError
from faithjax import config as config_lib
from faithjax import io
from faithjax import pipeline
from faithjax import train
from faithjax import workdir as workdir_lib
from faithjax.data import encode


class Run:
  """One evaluated workdir: its config, corpus, and evaluation files."""

  def __init__(self, root):
    self.work = workdir_lib.Workdir(os.path.abspath(root))
    if not os.path.exists(self.work.path('config.json')):
      raise FaithjaxError(f'{root!r} is not a run (no config.json); pass workdirs whose evaluate stage has run')
    saved = io.read_json(self.work.path('config.json'))
    self.config = config_lib.RunConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})
    self.corpus = encode.EncodedCorpus.load(self.work.corpus)
    self.test = self.corpus.splits['test']

  def has(self, section, name):
    return os.path.exists(self.work.evaluation(section, name))

  def saved(self, section, name):
    return io.load_npz(self.work.evaluation(section, name))

  def units(self, spec, name):
    """The evaluation's resampled arrays over the whole test split ([n_test] each; NaN where not measured)."""
    saved = self.saved(spec.section, name)
    if spec.units:
      return spec.units(saved)[0]
    values = np.full(len(self.test), np.nan)
    values[saved['indices'] if 'indices' in saved else slice(None)] = saved[spec.per_example]
    return (values,)

  def classifier(self):
    """(model, selected params) of the run's trained classifier."""
    return pipeline.load_classifier(self.config, self.work, self.corpus)

  def classifier_probs(self, split='test'):
    """The classifier's class probabilities on `split`: [n, classes]."""
    model, params = self.classifier()
    return train.predict_split(model, params, self.corpus.splits[split], self.config.eval_batch_size)

  def classifier_predictions(self, split='test'):
    return self.classifier_probs(split).argmax(-1)
