"""The weak learner of Wiegreffe & Pinter (2019): an MLP pooled by an imposed feature map.

h_t = tanh(Dense(e_t)) for each token with its own trainable embedding e,
c = sum_t w_t h_t with the FIXED weights w (a normalised feature map), and
logits = Dense(c). The model cannot reorder or reweight tokens itself, so how
well it learns measures how useful the imposed weights are. The seam between
`token_states` and `logits_from_states` is what the shuffle test permutes across.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


class WeakLearner(nn.Module):
  vocab_size: int
  num_classes: int = 2
  emb_dim: int = 300
  hidden: int = 128

  def setup(self) -> None:
    self.embedding = nn.Embed(self.vocab_size, self.emb_dim, name='embedding')
    self.token_mlp = nn.Dense(self.hidden, name='token_mlp')
    self.output = nn.Dense(self.num_classes, name='output')

  def token_states(self, ids: jax.Array) -> jax.Array:
    """<int>[batch, seq] -> h <float>[batch, seq, hidden]."""
    return jnp.tanh(self.token_mlp(self.embedding(ids)))

  def logits_from_states(self, states: jax.Array, weights: jax.Array) -> jax.Array:
    """states: [batch, seq, hidden]; weights: [batch, seq] (0 on PAD) -> logits [batch, classes]."""
    return self.output(jnp.einsum('bs,bsh->bh', weights, states))

  def __call__(self, ids, weights):
    return self.logits_from_states(self.token_states(ids), weights)


# Pure functions over a plain params pytree.

def init(model: WeakLearner, rng: jax.Array, seq_len: int = 8) -> dict:
  """The initial params of `model`, traced on a [1, seq_len] batch."""
  return model.init(rng, jnp.ones((1, seq_len), jnp.int32), jnp.ones((1, seq_len)))['params']


def apply(model: WeakLearner, params: dict, ids: jax.Array, weights: jax.Array) -> jax.Array:
  """ids: <int>[batch, seq]; weights: [batch, seq] -> logits [batch, classes]."""
  return model.apply({'params': params}, ids, weights)


def token_states(model: WeakLearner, params: dict, ids: jax.Array) -> jax.Array:
  """ids: <int>[batch, seq] -> h <float>[batch, seq, hidden]."""
  return model.apply({'params': params}, ids, method=WeakLearner.token_states)


def logits_from_states(model: WeakLearner, params: dict, states: jax.Array, weights: jax.Array) -> jax.Array:
  """states: [batch, seq, hidden]; weights: [batch, seq] (0 on PAD) -> logits [batch, classes]."""
  return model.apply({'params': params}, states, weights, method=WeakLearner.logits_from_states)
