"""Every random stream a run derives from --seed and --split_seed, named in one place.

Each stream is a pure function of the seed and a fixed salt, so a stream is
the same whatever ran before it (a resumed run draws what an uninterrupted one
did) and two streams never share draws. The salts are today's values: changing
one changes the results of every run, so they are constants, not settings.

From --seed (initialisation, batch order, explainer randomness):
  train_step_key     the classifier's dropout/noise key of step i of an epoch
  explainer_key      a sampling explainer's key on split 0, 1, 2 (train, valid, test)
  stability_keys     the two keys of a sampling explainer's seed stability (a salt past every split's index)
  baseline_rng       GradientSHAP's baseline training documents
  batch order        numpy default_rng([seed, epoch]) in train.py and faithfulness/weak_learner.py
From --split_seed (the same for every --seed, so seeds measure the same documents):
  test_subset_rng    deletion's --test_subset sample of test examples
  weak_train_rng     the --weak_train_subset sample of training documents (explained, and the weak learner's)
  stability_rng      the test documents of the seed-stability measurement
From the meta-evaluation's --seed (python -m faithjax.meta; the same for every run it reads):
  diagnosis_rng      its --examples (and --naopc_examples) sample of the runs' evaluated test examples
(The train/valid split and the synthetic corpus draw from --split_seed in faithjax/data; the probe maps from
default_rng([seed, 15, split]) in faithfulness/probe_maps.py.)
"""

import jax
import numpy as np

TRAIN_STEP_STRIDE = 1_000_003  # a prime above any epoch's step count: epoch * stride + step never repeats
STABILITY_STREAM = 2**31 - 1  # beside the splits' 0, 1, 2
BASELINE_SALT = 15
TEST_SUBSET_SALT = 7
STABILITY_SALT = 36
DIAGNOSIS_SALT = 41
WEAK_TRAIN_SALT = 43


def train_step_key(seed: int, epoch: int, step: int) -> jax.Array:
  """The PRNG key of training step `step` of epoch `epoch`."""
  return jax.random.fold_in(jax.random.key(seed), epoch * TRAIN_STEP_STRIDE + step)


def explainer_key(seed: int, split_index: int) -> jax.Array:
  """A sampling explainer's PRNG key on one split (0 train, 1 valid, 2 test)."""
  return jax.random.fold_in(jax.random.key(seed), split_index)


def stability_keys(seed: int) -> jax.Array:
  """The two PRNG keys [2] whose maps a sampling explainer's seed stability compares."""
  return jax.random.split(jax.random.fold_in(jax.random.key(seed), STABILITY_STREAM))


def baseline_rng(seed: int) -> np.random.Generator:
  """The generator that draws GradientSHAP's baseline training documents."""
  return np.random.default_rng([seed, BASELINE_SALT])


def test_subset_rng(split_seed: int) -> np.random.Generator:
  """The generator that draws the --test_subset sample of test examples."""
  return np.random.default_rng([split_seed, TEST_SUBSET_SALT])


def weak_train_rng(split_seed: int) -> np.random.Generator:
  """The generator that draws the --weak_train_subset sample of training documents."""
  return np.random.default_rng([split_seed, WEAK_TRAIN_SALT])


def sample_rows(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
  """Sorted rows <int>[min(size, n)] of n: all of them where size is 0 or at least n, else `size` drawn from `rng`
  without replacement (the named samples: --test_subset, --weak_train_subset, the meta-evaluation's --examples)."""
  if not size or size >= n:
    return np.arange(n)
  return np.sort(rng.choice(n, size, replace=False))


def stability_rng(split_seed: int) -> np.random.Generator:
  """The generator that draws the seed-stability test documents."""
  return np.random.default_rng([split_seed, STABILITY_SALT])


def diagnosis_rng(meta_seed: int) -> np.random.Generator:
  """The generator that draws the meta-evaluation's samples of test examples (--examples, --naopc_examples)."""
  return np.random.default_rng([meta_seed, DIAGNOSIS_SALT])
