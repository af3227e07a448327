"""Constructed feature maps with one controlled property each (issue 15, item 3: the map-property probe).

On the synthetic corpus the planted evidence tokens are the true rationale, so
maps can be built to be exactly right, exactly wrong, or right with one
property changed: sign, sparsity, concentration, noise, or the attention form
(positive, summing to 1). Running them through every evaluation shows what
each evaluation rewards.

Every construction is a pure numpy function of padded arrays: scores
<float>[batch, seq], mask <bool>[batch, seq] (real tokens); it returns a new
<float64>[batch, seq] map that is 0 on PAD. The random ones take a
numpy Generator. `constructed_maps` builds the probe's whole set from a
split's rationale, and `split_maps` every split's, ragged like the ids.
"""

import numpy as np
from numpy.typing import ArrayLike

from faithjax.data import encode


def ground_truth(rationale: ArrayLike, mask: np.ndarray) -> np.ndarray:
  """1 on the planted rationale tokens, 0 elsewhere: <bool>[batch, seq] x2 -> [batch, seq]."""
  return (np.asarray(rationale, bool) & mask).astype(np.float64)


def sign_flipped(scores: ArrayLike, mask: np.ndarray) -> np.ndarray:
  """-scores on real tokens: the same magnitudes, every direction reversed: [batch, seq]."""
  return np.where(mask, -np.asarray(scores, np.float64), 0.)


def top_k(scores: ArrayLike, mask: np.ndarray, k: int) -> np.ndarray:
  """The k highest-scoring real tokens keep their score, every other token 0 (ties: earlier first): [batch, seq]."""
  scores = np.asarray(scores, np.float64)
  order = np.argsort(np.where(mask, -scores, np.inf), axis=-1, kind='stable')
  ranks = np.argsort(order, axis=-1, kind='stable')
  return np.where(mask & (ranks < k), scores, 0.)


def with_temperature(scores: ArrayLike, mask: np.ndarray, temperature: float) -> np.ndarray:
  """sign(s) |s|^(1 / temperature) on real tokens: the same ranking, sharper below 1, flatter above.

  As temperature grows every nonzero magnitude tends to 1 (a sign map); as it
  falls to 0 the largest magnitude dominates.
  """
  scores = np.asarray(scores, np.float64)
  return np.where(mask, np.sign(scores) * np.abs(scores) ** (1. / temperature), 0.)


def noisy(rng: np.random.Generator, scores: ArrayLike, mask: np.ndarray, sigma: float) -> np.ndarray:
  """scores + sigma * N(0, 1) noise on every real token: [batch, seq]."""
  return np.where(mask, np.asarray(scores, np.float64) + sigma * rng.standard_normal(mask.shape), 0.)


def permuted(rng: np.random.Generator, scores: ArrayLike, mask: np.ndarray) -> np.ndarray:
  """Each row's real-token values in a uniformly random order: a random map with the same sparsity and values."""
  scores = np.asarray(scores, np.float64)
  draws = np.where(mask, rng.random(mask.shape), np.inf)  # real tokens in random order, then PAD
  source = np.argsort(draws, axis=-1, kind='stable')
  target = np.argsort(~mask, axis=-1, kind='stable')  # real positions in order, then PAD
  out = np.zeros_like(scores)
  np.put_along_axis(out, target, np.take_along_axis(scores, source, -1), -1)
  return np.where(mask, out, 0.)


def attention_like(scores: ArrayLike, mask: np.ndarray) -> np.ndarray:
  """softmax of the scores over each row's real tokens: positive, summing to 1, the same ranking."""
  scores = np.where(mask, np.asarray(scores, np.float64), -np.inf)
  top = np.max(scores, -1, keepdims=True)
  weights = np.where(mask, np.exp(scores - np.where(np.isfinite(top), top, 0.)), 0.)
  total = weights.sum(-1, keepdims=True)
  return weights / np.where(total > 0, total, 1.)


# The probe's grid: one property varied per family, every other map built from the graded base.
NOISE_LEVELS = (0.1, 0.25, 0.5, 1., 2., 4.)
BASE_NOISE = 0.5  # the graded base (truth + 0.5 N(0, 1)) the sparsity, temperature and attention maps start from
TOP_K = (1, 2, 4, 8, 16)
TEMPERATURES = (0.25, 0.5, 2., 4.)  # temperature 1 is the base itself


def name_of(family: str, value: float) -> str:
  """A map's name: its family and its parameter, e.g. 'noise_0.5'."""
  return f'{family}_{value:g}'


BASE = name_of('noise', BASE_NOISE)
# The response curves: {family: [(x, map name)]}; temperature 1 is the base.
FAMILIES = {
    'noise': [(s, name_of('noise', s)) for s in NOISE_LEVELS],
    'topk': [(k, name_of('topk', k)) for k in TOP_K],
    'random_topk': [(k, name_of('random_topk', k)) for k in TOP_K],
    'temperature': sorted([(t, name_of('temperature', t)) for t in TEMPERATURES] + [(1., BASE)]),
}
SINGLE = ('truth', 'truth_flipped', 'random_like_truth', 'attention_like')  # maps outside the curves
NAMES = tuple(dict.fromkeys([*SINGLE, *(name for family in FAMILIES.values() for _, name in family)]))


def constructed_maps(rng: np.random.Generator, rationale: ArrayLike, mask: np.ndarray) -> dict[str, np.ndarray]:
  """The probe's maps: {name: [batch, seq]} from one split's rationale.

  truth, truth_flipped, random_like_truth (truth's values permuted);
  noise_<sigma> = truth + sigma * N(0, 1) for NOISE_LEVELS; the graded base is
  noise_<BASE_NOISE>; from it topk_<k> and random_topk_<k> (topk_<k> permuted)
  for TOP_K, temperature_<t> for TEMPERATURES, and attention_like.
  """
  truth = ground_truth(rationale, mask)
  maps = {'truth': truth, 'truth_flipped': sign_flipped(truth, mask), 'random_like_truth': permuted(rng, truth, mask)}
  maps.update({name_of('noise', s): noisy(rng, truth, mask, s) for s in NOISE_LEVELS})
  for k in TOP_K:
    maps[name_of('topk', k)] = top_k(maps[BASE], mask, k)
    maps[name_of('random_topk', k)] = permuted(rng, maps[name_of('topk', k)], mask)
  maps.update({name_of('temperature', t): with_temperature(maps[BASE], mask, t) for t in TEMPERATURES})
  maps['attention_like'] = attention_like(maps[BASE], mask)
  return maps


def split_maps(corpus: encode.EncodedCorpus, seed: int) -> dict[str, dict[str, np.ndarray]]:
  """{map name: {split: ragged float32 map aligned with the split's ids}} of an EncodedCorpus with rationales.

  Split i draws its random maps from default_rng([seed, 15, i]).
  """
  maps = {}
  for index, (split_name, split) in enumerate(corpus.splits.items()):
    width = int(split.lengths.max())
    mask = np.arange(width) < split.lengths[:, None]
    rationale = split.padded(np.arange(len(split)), width, split.rationale)
    for name, values in constructed_maps(np.random.default_rng([seed, 15, index]), rationale, mask).items():
      maps.setdefault(name, {})[split_name] = values[mask].astype(np.float32)  # row-major = the ragged order
  return maps
