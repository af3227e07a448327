"""Many vector integrals over [0, 1] at once, each refined until its own error is below its own tolerance.

`integrate` computes I_b = int_0^1 g_b(alpha) d alpha, g_b(alpha) [width], for every example b of a pool
(explain.integrated_gradients_to_tolerance: g_b = P_b * df/dP(alpha P_b) summed over features, one entry per
token). Each example is integrated by globally adaptive bisection, as QUADPACK's QAG: its panels (subintervals)
each carry a Gauss-Kronrod pair, the (2n+1)-point Kronrod value K and the n-point Gauss value G of the same
nodes, and an error estimate ||K - G||_1 (over the width). The panel with the largest estimate is bisected
until the sum of the estimates, and |sum_t I_t - total| against the exact total the caller knows (for IG:
completeness), are both below the tolerance, or the next bisection would pass `max_evaluations`. The value
returned is the sum of the panels' K.

Batched as deletion's first_flips: `slots` examples are refined at a time, each step evaluating one panel
(2n+1 points) of every slot in one call of the integrand; a slot whose example is finished takes the next one
of the pool, so the cost follows each example's own difficulty. A bisection's right half waits, pending, for
the next step, so every step has the same shape.
"""

from typing import Callable

import flax
import jax
import jax.numpy as jnp
import numpy as np

# The nodes that extend n-point Gauss-Legendre to the (2n+1)-point Kronrod rule, x > 0 of each pair +-x on
# [-1, 1] (Kronrod 1965; QUADPACK's qk15 for 15). kronrod_rule derives the weights.
KRONROD_EXTENSIONS = {
    7: (0.960491268708020283423507092629, 0.434243749346802558002071502844),
    15: (0.991455371120812639206854697526329, 0.864864423359769072789712788640926,
         0.586087235467691130294144845693013, 0.207784955007898467600689403773245),
}


def kronrod_rule(points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """A Gauss-Kronrod pair on [0, 1]: nodes, Kronrod weights and Gauss weights (0 off the Gauss nodes), [points].

  Float64 numpy. The Kronrod weights make the rule exact on polynomials of degree < points (a Legendre
  moment system); with Kronrod's nodes it is then exact up to degree 3n + 1 (n = (points - 1) / 2 Gauss nodes).
  """
  gauss_nodes, gauss_weights = np.polynomial.legendre.leggauss((points - 1) // 2)
  extension = np.array(KRONROD_EXTENSIONS[points])
  nodes = np.concatenate([gauss_nodes, -extension, extension])  # on [-1, 1]
  legendre_moments = np.eye(points)[0] * 2  # int_-1^1 P_m = 2 [m == 0]
  kronrod = np.linalg.solve(np.polynomial.legendre.legvander(nodes, points - 1).T, legendre_moments)
  gauss = np.concatenate([gauss_weights, np.zeros(2 * len(extension))])
  return (nodes + 1) / 2, kronrod / 2, gauss / 2


@flax.struct.dataclass
class Integral:
  """What `integrate` returns for a pool of examples (a pytree: it leaves jitted functions)."""
  values: jax.Array  # [pool, width]: the integrals, the sum of each example's panels' Kronrod values
  evaluations: jax.Array  # <int>[pool]: integrand evaluations (points) spent on the example
  sum_error: jax.Array  # [pool]: |sum over width of values - totals|, absolute (IG: the completeness error)
  estimate: jax.Array  # [pool]: the sum over panels of ||K - G||_1, absolute (bounds sum_error if it holds)


def panels_for(points: int, max_evaluations: int) -> int:
  """How many panels an example can reach: the first costs `points`, each bisection two more panels' worth."""
  return 1 + max(0, max_evaluations - points) // (2 * points)


def integrate(integrand: Callable[[jax.Array, jax.Array], jax.Array], totals: jax.Array, tolerances: jax.Array, *,
              width: int, slots: int, points: int = 15, max_evaluations: int = 512,
              size: int | jax.Array | None = None) -> Integral:
  """Adaptive Gauss-Kronrod integrals of a pool of examples over [0, 1], each to its own tolerance.

  integrand(examples <int>[slots], alphas [points, slots]) -> [points, slots, width]: g of each slot's example
  at its alphas; an index >= pool marks an idle slot, whose values are ignored (they must be finite).
  totals [pool]: the exact sum over width of each integral, checked as a second stopping condition.
  tolerances [pool]: absolute; an example stops when both the estimate and the sum's error are <= its
  tolerance, or when one more bisection would pass max_evaluations (>= points). Examples from `size` on
  (default: the whole pool; may be traced) are not integrated and come back as zeros.
  """
  pool, dtype = totals.shape[0], totals.dtype
  slots = min(slots, pool)
  size = jnp.asarray(pool if size is None else size, jnp.int32)
  nodes, kronrod, gauss = (jnp.asarray(x, dtype) for x in kronrod_rule(points))
  panels = panels_for(points, max_evaluations)
  queued = lambda i: jnp.where(i < size, i, pool)  # index `pool` marks an idle slot
  slot = lambda x, example: jnp.asarray(x).at[example].get(mode='fill', fill_value=0)
  first = jnp.broadcast_to(jnp.arange(panels) == 0, (slots, panels))
  # Each slot's example afresh: one pending panel [0, 1] (an infinite estimate: evaluated next, not bisected).
  fresh = {'lo': jnp.zeros((slots, panels), dtype), 'hi': first.astype(dtype),
           'error': jnp.where(first, jnp.inf, 0).astype(dtype), 'value': jnp.zeros((slots, panels, width), dtype),
           'used': jnp.ones(slots, jnp.int32), 'evaluations': jnp.zeros(slots, jnp.int32)}

  def unfinished(state: dict) -> jax.Array:
    return jnp.any(state['example'] < pool)

  def step(state: dict) -> dict:
    rows, example, s = jnp.arange(slots), state['example'], state['slots']
    panel = jnp.argmax(s['error'], -1)
    lo, hi = s['lo'][rows, panel], s['hi'][rows, panel]
    bisect = ~jnp.isinf(s['error'][rows, panel])  # an evaluated panel is halved, a pending one evaluated
    mid = jnp.where(bisect, (lo + hi) / 2, hi)
    g = integrand(example, lo + (mid - lo) * nodes[:, None])  # [points, slots, width]
    k_value, g_value = ((mid - lo)[:, None] * jnp.einsum('p,psw->sw', w, g) for w in (kronrod, gauss))
    # The right half, if any, is appended pending; the left one (or the pending panel) replaces the panel.
    right = jnp.where(bisect, s['used'], panels)  # out of range: dropped
    error = s['error'].at[rows, right].set(jnp.inf, mode='drop')
    s = {'lo': s['lo'].at[rows, right].set(mid, mode='drop'),
         'hi': s['hi'].at[rows, right].set(hi, mode='drop').at[rows, panel].set(mid),
         'error': error.at[rows, panel].set(jnp.abs(k_value - g_value).sum(-1)),
         'value': s['value'].at[rows, panel].set(k_value), 'used': s['used'] + bisect,
         'evaluations': s['evaluations'] + points}
    integral, estimate = s['value'].sum(1), s['error'].sum(-1)  # estimate: inf while a panel is pending
    sum_error = jnp.abs(integral.sum(-1) - slot(totals, example))
    tolerance = slot(tolerances, example)
    converged = (estimate <= tolerance) & (sum_error <= tolerance)
    done = ~jnp.isinf(estimate) & (converged | (s['evaluations'] + 2 * points > max_evaluations))
    finished = jnp.where(done, example, pool)  # out of range: dropped by the scatters
    out = jax.tree.map(lambda whole, part: whole.at[finished].set(part, mode='drop'), state['out'],
                       Integral(integral, s['evaluations'], sum_error, estimate))
    renew = lambda new, old: jnp.where(done.reshape((-1,) + (1,) * (old.ndim - 1)), new, old)
    return {'example': jnp.where(done, queued(state['next'] + jnp.cumsum(done, dtype=jnp.int32) - 1), example),
            'next': jnp.minimum(state['next'] + done.sum(dtype=jnp.int32), size),
            'slots': jax.tree.map(renew, fresh, s), 'out': out}

  zeros = jnp.zeros(pool, dtype)
  state = jax.lax.while_loop(unfinished, step, {
      'example': queued(jnp.arange(slots)), 'next': jnp.minimum(slots, size), 'slots': fresh,
      'out': Integral(jnp.zeros((pool, width), dtype), jnp.zeros(pool, jnp.int32), zeros, zeros)})
  return state['out']
