"""Embedding -> (Bi)LSTM -> additive attention -> dense: the classifier under explanation.

The forward pass is split at two seams, as in the Flax `examples/sst2` model:
`embed` (ids -> embeddings) and `logits_from_embeddings`. The LSTM's input
projection is a third seam, `project`, because it is linear: Integrated
Gradients and Input x Gradient are computed through `logits_from_projection`
(see faithjax/explain.py). It implements faithjax/models/contract.py, with the
projection as its fast path; use it through that module's functions.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from faithjax.data.text import PAD_ID

NEG_INF = -1e9
# Time steps per iteration of the compiled LSTM loop (lax.scan's unroll), read when a
# program is traced; the same arithmetic in the same order whatever its value.
SCAN_UNROLL = 1


def trailing_valid(mask):
  """True up to the last real token: [batch, seq] -> [batch, seq].

  Positions after it are padding, which the LSTM must skip in both directions;
  masked positions inside the text (deleted tokens) are still stepped over.
  """
  return jnp.flip(jnp.cumsum(jnp.flip(mask, -1), -1), -1) > 0


class LSTMRecurrence(nn.Module):
  """The recurrent half of one LSTM direction; its input arrives pre-projected.

  Gates are ordered (input, forget, cell, output).
  """
  hidden: int
  reverse: bool = False

  @nn.compact
  def __call__(self, projected, valid):
    """projected: <float>[batch, seq, 4*hidden] (x W, no bias); valid: <bool>[batch, seq].

    Returns hidden states <float>[batch, seq, hidden], zero where not valid.
    """
    # float32 explicitly, like nn.Dense: under jax_enable_x64 the initialisers would give float64.
    kernel = self.param('recurrent_kernel', nn.initializers.orthogonal(), (self.hidden, 4 * self.hidden), jnp.float32)
    bias = self.param('bias', nn.initializers.zeros, (4 * self.hidden,), jnp.float32)
    xs = (jnp.swapaxes(projected, 0, 1), jnp.swapaxes(valid, 0, 1))

    def step(carry, x):
      h, c = carry
      z, ok = x
      i, f, g, o = jnp.split(z + bias + h @ kernel.astype(h.dtype), 4, axis=-1)
      c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
      h_new = jax.nn.sigmoid(o) * jnp.tanh(c_new)
      ok = ok[:, None]
      return (jnp.where(ok, h_new, h), jnp.where(ok, c_new, c)), jnp.where(ok, h_new, 0.)

    batch = projected.shape[0]
    zeros = jnp.zeros((batch, self.hidden), projected.dtype)
    _, hs = jax.lax.scan(step, (zeros, zeros), xs, reverse=self.reverse, unroll=SCAN_UNROLL)
    return jnp.swapaxes(hs, 0, 1)


class AdditiveAttention(nn.Module):
  """a = softmax(v . tanh(W h + b)) over real tokens."""
  hidden: int = 128

  @nn.compact
  def __call__(self, states, mask):
    """states: <float>[batch, seq, features]; mask: <bool>[batch, seq] -> <float>[batch, seq]."""
    scores = nn.Dense(1, use_bias=False, name='v')(jnp.tanh(nn.Dense(self.hidden, name='W')(states)))[..., 0]
    return jax.nn.softmax(jnp.where(mask, scores, NEG_INF), axis=-1)


class Classifier(nn.Module):
  """The Jain & Wallace (2019) text classifier."""
  vocab_size: int
  num_classes: int = 2
  emb_dim: int = 300
  hidden: int = 128
  att_hidden: int = 128
  bidirectional: bool = True

  def setup(self):
    self.embedding = nn.Embed(self.vocab_size, self.emb_dim, name='embedding')
    directions = 2 if self.bidirectional else 1
    self.input_kernel = self.param('input_kernel', nn.initializers.lecun_normal(),
                                   (self.emb_dim, directions * 4 * self.hidden), jnp.float32)
    self.recurrences = [LSTMRecurrence(self.hidden, reverse=bool(d)) for d in range(directions)]
    self.attention = AdditiveAttention(self.att_hidden)
    self.output = nn.Dense(self.num_classes)

  def embed(self, ids):
    """<int>[batch, seq] -> <float>[batch, seq, emb]; PAD ids embed to zero."""
    return self.embedding(ids) * (ids != PAD_ID)[..., None]

  def project(self, emb):
    """The LSTM input projection, linear in `emb`: [batch, seq, emb] -> [batch, seq, dirs*4*hidden]."""
    return emb @ self.input_kernel.astype(emb.dtype)

  def logits_from_projection(self, projected, mask, detach_attention=False):
    """projected: [batch, seq, dirs*4*hidden]; mask: <bool>[batch, seq] (real tokens).

    Returns (logits [batch, classes], attention [batch, seq]).
    """
    valid = trailing_valid(mask)
    parts = jnp.split(projected, len(self.recurrences), axis=-1)
    states = jnp.concatenate([rnn(p, valid) for rnn, p in zip(self.recurrences, parts)], axis=-1)
    attention = self.attention(states, mask)
    weights = jax.lax.stop_gradient(attention) if detach_attention else attention
    context = jnp.einsum('bs,bsf->bf', weights, states)
    return self.output(context), attention

  def logits_from_embeddings(self, emb, mask, detach_attention=False):
    return self.logits_from_projection(self.project(emb), mask, detach_attention)

  def __call__(self, ids, mask=None):
    """ids: <int>[batch, seq] -> (logits [batch, classes], attention [batch, seq])."""
    mask = ids != PAD_ID if mask is None else mask
    return self.logits_from_embeddings(self.embed(ids), mask)
