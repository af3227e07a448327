"""Stage times: the compiles JAX reports inside a block, counted and timed."""

import jax
import numpy as np
import pytest

from faithjax import timing


def test_stage_time_counts_the_programs_compiled_inside_it():
  double = jax.jit(lambda x: 2 * x + 1)  # a new function: nothing cached in memory yet
  three, four, five = (np.arange(n, dtype=np.float32) for n in (3, 4, 5))
  with timing.measure() as first:
    double(three).block_until_ready()
  with timing.measure() as again:
    double(three).block_until_ready()  # the jit cache: no compile
  with timing.measure() as other_shapes:
    double(four).block_until_ready()
    double(five).block_until_ready()
  assert (first.programs, again.programs, other_shapes.programs) == (1, 0, 2)
  assert 0 < first.compile_s <= first.wall_s and again.compile_s == 0
  assert first.run_s == pytest.approx(first.wall_s - first.compile_s)
  assert '(1 program)' in first.describe() and set(first.as_dict()) == {'wall_s', 'compile_s', 'programs',
                                                                          'from_cache', 'run_s'}
