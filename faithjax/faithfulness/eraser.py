"""ERASER (DeYoung et al. 2020) comprehensiveness and sufficiency, and their AOPC.

Tokens are ranked and removed as in deletion.py (same modes, same ties); each
example's probes run in one forward. The `evaluate` / `summarise` pair is the
entry point the evaluation registry (evaluations.py) calls.
"""

import dataclasses
from typing import TYPE_CHECKING, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from faithjax import FaithjaxError
from faithjax import batching
from faithjax import faithfulness
from faithjax import metrics
from faithjax import parallel
from faithjax.data import encode
from faithjax.data.text import PAD_ID
from faithjax.faithfulness import deletion
from faithjax.models import contract

if TYPE_CHECKING:  # evaluations imports this module
  from faithjax.faithfulness import evaluations

PERCENTS = (1, 5, 10, 20, 50)
AOPC = ('aopc_comprehensiveness', 'aopc_sufficiency')


@dataclasses.dataclass(frozen=True)
class EraserOptions:
  """ERASER's settings (plugins.Evaluation.options; flags --evaluation.eraser.<option>)."""
  percents: tuple = PERCENTS  # the bins: the top b% of each document's real tokens, rounded up


def check(options: EraserOptions) -> None:
  """Refuses bins outside 1..100 or none at all."""
  if not options.percents or not all(0 < p <= 100 for p in options.percents):
    raise FaithjaxError(f'--evaluation.eraser.percents must be numbers in 1..100; got {options.percents}')


def removal_counts(n: jax.Array, percents: Sequence[int]) -> jax.Array:
  """Tokens in the top `percents`% of n real tokens, rounded up: <int>[batch] -> [batch, bins]."""
  return (n[:, None] * jnp.asarray(percents) + 99) // 100


@faithfulness.jit(('model', 'mode', 'percents'))
def eraser_scores(model: contract.TextClassifier | contract.Nnx | contract.Functions, params: contract.Params,
                  ids: jax.Array, scores: jax.Array, *, absolute: bool = False, mode: str = 'pad',
                  percents: tuple[int, ...] = PERCENTS) -> dict[str, jax.Array]:
  """ERASER (DeYoung et al. 2020) faithfulness for a batch, all probes in one forward.

  With p(x) the probability of the class predicted on the full input and r_b
  the top ceil(b% * n) tokens for each bin b in `percents`:
    comprehensiveness_b = p(x) - p(x without r_b)   (higher = more faithful)
    sufficiency_b       = p(x) - p(r_b alone)       (lower = more faithful)
  AOPC is the mean over the bins. (ERASER's paper also averages in an empty
  bin, dividing by |bins| + 1; here it is the plain mean over `percents`.)
  An input without any real token (r_b of a one-token document removed, or an
  empty document) scores as the empty document (contract.empty_logits).
  ids, scores: [batch, seq]. Returns {'comprehensiveness', 'sufficiency':
  [batch, bins]; 'aopc_comprehensiveness', 'aopc_sufficiency': [batch]}.
  """
  projected, mask = contract.inputs(model, params, ids), ids != PAD_ID
  unk_projection, empty = deletion.unk_inputs(model, params), contract.empty_logits(model, params)
  probs = jax.nn.softmax(contract.removal_logits(model, params, projected, mask, empty), -1)
  label = jnp.argmax(probs, -1)
  top = deletion.token_ranks(scores, mask, absolute)[:, None, :] < removal_counts(mask.sum(-1), percents)[:, :, None]
  removed = jnp.concatenate([top, ~top], axis=1)  # bins without r_b, then r_b alone
  probe_probs = jax.nn.softmax(deletion.probes(model, params, projected, mask, removed, mode, unk_projection, empty), -1)
  of_label = lambda p: jnp.take_along_axis(p, label.reshape((-1,) + (1,) * (p.ndim - 1)), -1)[..., 0]
  comprehensiveness, sufficiency = jnp.split(of_label(probs)[:, None] - of_label(probe_probs), 2, axis=1)
  return {'comprehensiveness': comprehensiveness, 'sufficiency': sufficiency,
          'aopc_comprehensiveness': comprehensiveness.mean(-1), 'aopc_sufficiency': sufficiency.mean(-1)}


def eraser_metrics(model: contract.TextClassifier | contract.Nnx | contract.Functions, params: contract.Params,
                   split: encode.EncodedSplit, scores: np.ndarray, *, absolute: bool = False, mode: str = 'pad',
                   percents: Sequence[int] = PERCENTS, batch_size: int = 64,
                   mesh: jax.sharding.Mesh | None = None) -> dict[str, np.ndarray]:
  """`eraser_scores` for every example of an EncodedSplit: arrays with a leading [len(split)] axis.

  With a `mesh`, each batch is split over its devices.
  """
  scores_of = parallel.sharded(mesh, lambda params, ids, batch_scores: eraser_scores(
      model, params, ids, batch_scores, absolute=absolute, mode=mode, percents=tuple(percents)))
  def batch_scores(rows: np.ndarray, ids: np.ndarray, batch_scores: np.ndarray) -> dict[str, jax.Array]:
    del rows
    return scores_of(params, ids, batch_scores)
  return batching.map_split(batch_scores, split, [scores], batch_size=batch_size, label=f'eraser ({mode})')


def evaluate(context: 'evaluations.Context', explainer: str,
             maps: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Per-example ERASER scores of one map on the context's test examples, and their indices (eraser_scores's
  arrays with a leading [len(subset)] axis); maps: {split: ragged map [tokens]}."""
  part, scores = context.test_part(explainer, maps)
  return {'indices': context.subset, **eraser_metrics(
      context.model, context.params, part, scores, **deletion.options_of(context.config),
      percents=context.config.evaluation_options('eraser').percents, mesh=context.mesh)}


def summarise(saved: Mapping[str, np.ndarray]) -> dict[str, dict]:
  """{aopc_comprehensiveness, aopc_sufficiency: mean, ci95, n} over examples."""
  return {k: metrics.mean_with_ci(saved[k]) for k in AOPC}


def applies(explainer: str) -> bool:
  """Uniform scores rank tokens by position only: no ERASER row."""
  return explainer != 'uniform'
