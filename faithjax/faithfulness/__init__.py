"""Faithfulness evaluations of feature maps: deletion, ERASER, weak learner, shuffle test.

Each evaluation has a batch-level function (jitted, fixed shapes) and a
split-level one that runs it over an EncodedSplit in length buckets with
faithjax.batching.map_split; evaluations.py is their registry.
"""

import functools
import inspect
from typing import Any, Callable, Sequence

import jax



def jit(static_argnames: Sequence[str]) -> Callable[[Callable], Callable]:
  """jax.jit that binds default arguments before the call.

  Plain jax.jit keys its cache on the keywords as spelled, so f(x) and
  f(x, option=default) would trace and compile twice.
  """
  def decorate(fn: Callable) -> Callable:
    jitted = jax.jit(fn, static_argnames=static_argnames)
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
      bound = signature.bind(*args, **kwargs)
      bound.apply_defaults()
      return jitted(*bound.args, **bound.kwargs)
    return call
  return decorate
