"""A memory estimate before allocating: a batch size that cannot fit is one line naming the flag to lower,
not minutes of swapping or an out-of-memory kill."""

import os
from typing import Any

import jax

from faithjax import FaithjaxError

FLOAT_BYTES = 4
# Per token of a batch, the activations a forward and backward pass keep: the embedding, both directions'
# LSTM gates and states (5 x hidden each), the attention's hidden layer; doubled for their gradients.
ACTIVATION_FACTOR = 2


def bytes_per_token(config: Any) -> int:  # config: a RunConfig
  """Float32 bytes one token of a batch holds while a classifier of `config`'s sizes runs forward and back."""
  return FLOAT_BYTES * ACTIVATION_FACTOR * (config.emb_dim + 10 * config.hidden + config.att_hidden)


def available_bytes() -> int:
  """The memory of this process's first device: an accelerator's limit, or the host's physical memory."""
  stats = jax.local_devices()[0].memory_stats() or {}  # jax.devices()[0] is another process's on hosts > 0
  if 'bytes_limit' in stats:
    return int(stats['bytes_limit'])
  return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')


def check(config: Any, max_len: int, available: int | None = None) -> None:  # config: a RunConfig
  """Refuses batch sizes whose batches of `max_len` tokens need more memory than the device has."""
  available = available_bytes() if available is None else available
  for flag in ('batch_size', 'eval_batch_size'):
    needed = getattr(config, flag) * max_len * bytes_per_token(config)
    if needed > available:
      raise FaithjaxError(f'--{flag}={getattr(config, flag)} needs about {needed / 2**30:,.1f} GiB for batches of '
                          f'{max_len} tokens, more than the {available / 2**30:,.1f} GiB of this device; lower '
                          f'--{flag}')
