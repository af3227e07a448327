"""Two diagnostics of what an evaluation measures (issue 15, item 4): label leakage and opposing tokens.

- Label leakage: a map of the predicted class may carry the prediction itself (its
  sign says which class it explains), so a weak learner can score by reading the
  classifier's decision off the map. `leakage` measures how often the weak learner
  follows the classifier where the classifier is wrong; `fixed_class_maps` turns
  predicted-class maps into maps of one fixed class, which carry no prediction.
- Opposing tokens: deletion removes tokens by score until the prediction flips;
  an unsigned map (saliency) also removes tokens that push *against* the
  prediction, which moves it away from the flip. `removed_tokens` says which
  tokens deletion removed, `opposing_share` which share of them oppose it.
"""

import numpy as np
from numpy.typing import ArrayLike

from faithjax import metrics
from faithjax.data import encode


def leakage(labels: ArrayLike, classifier_predictions: ArrayLike, weak_predictions: ArrayLike) -> dict:
  """How much a weak learner's predictions follow the classifier's rather than the labels.

  All [n] class ids on the same test examples. Returns the weak learner's
  agreement with the classifier and with the labels over all examples, and on
  the examples the classifier gets wrong, the share where the weak learner
  repeats the classifier's wrong class (with a bootstrap 95% CI): near 1 is
  leakage, near 0 a weak learner that reads the text's label evidence instead.
  """
  labels, classifier, weak = (np.asarray(x) for x in (labels, classifier_predictions, weak_predictions))
  wrong = classifier != labels
  follows = (weak == classifier)[wrong].astype(np.float64)
  return {'agrees_with_classifier': float(np.mean(weak == classifier)), 'accuracy': float(np.mean(weak == labels)),
          'classifier_wrong': int(wrong.sum()),
          'follows_classifier_when_wrong': float(follows.mean()) if wrong.any() else None,
          'follows_ci95': list(metrics.bootstrap_ci(follows)) if wrong.sum() > 1 else None}


def fixed_class_maps(split: encode.EncodedSplit, values: np.ndarray, predictions: ArrayLike,
                     fixed: int = 1) -> np.ndarray:
  """A binary classifier's predicted-class maps turned into maps of class `fixed`: ragged [tokens] -> same.

  Exact for explanations of the predicted class's probability that are linear in
  the explained output (gradients, Input×Gradient, IG, occlusion, SHAP, LIME):
  p_0 = 1 − p_1, so the map of the other class is the negated map. predictions:
  [len(split)] the classifier's class per example.
  """
  sign = np.where(np.asarray(predictions) == fixed, 1., -1.).astype(values.dtype)
  return values * np.repeat(sign, split.lengths)


def removed_tokens(split: encode.EncodedSplit, indices: np.ndarray, scores: np.ndarray, rates: ArrayLike) -> np.ndarray:
  """Which tokens deletion-until-flip removed, padded: <bool>[len(indices), max length].

  Tokens go by score, descending, ties to the earlier position (deletion.token_ranks);
  rates: the examples' deletion rates (first flipping k / n; 1 when none flips),
  so the first round(rate * n) tokens are the removed ones.
  """
  lengths = split.lengths[indices]
  width = max(int(lengths.max(initial=0)), 1)
  mask = np.arange(width) < lengths[:, None]
  key = np.where(mask, -split.padded(indices, width, scores).astype(np.float64), np.inf)
  ranks = np.argsort(np.argsort(key, axis=-1, kind='stable'), axis=-1, kind='stable')
  counts = np.rint(np.asarray(rates) * lengths).astype(np.int64)
  return mask & (ranks < counts[:, None])


def opposing_share(split: encode.EncodedSplit, indices: np.ndarray, removed: np.ndarray,
                   effects: np.ndarray) -> dict:
  """Share of the removed tokens whose effect on the prediction is negative (they oppose it).

  removed: removed_tokens(...) [len(indices), width]; effects: ragged [tokens],
  a signed map of the predicted class (Input×Gradient: the first-order change of
  the prediction when a token's embedding is zeroed is −effect). Returns
  {'removed': count, 'opposing': share of the removed, 'all_tokens': share of
  opposing tokens among every token of those examples (a random order's
  expectation)}.
  """
  opposing = split.padded(indices, removed.shape[1], effects) < 0
  mask = np.arange(removed.shape[1]) < split.lengths[indices][:, None]
  return {'removed': int(removed.sum()), 'opposing': float((opposing & removed).sum() / max(removed.sum(), 1)),
          'all_tokens': float((opposing & mask).sum() / max(mask.sum(), 1))}
