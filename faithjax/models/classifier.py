"""Embedding -> (Bi)LSTM -> additive attention -> dense: the classifier under explanation.

The forward pass is split at two seams, as in the Flax `examples/sst2` model:
`embed` (ids -> embeddings) and `logits_from_embeddings`. The LSTM's input
projection is a third seam, `project`, because it is linear: Integrated
Gradients and Input x Gradient are computed through `logits_from_projection`
(see faithjax/explain.py). It implements faithjax/models/contract.py, with the
projection as its fast path; use it through that module's functions.
"""

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from faithjax.data.text import PAD_ID
from faithjax.models import contract

NEG_INF = -1e9
# Time steps per iteration of the compiled LSTM loop (lax.scan's unroll), read when a
# program is traced; the same arithmetic in the same order whatever its value.
SCAN_UNROLL = 1
# Initialisations (RunConfig.init_scheme): 'flax' (ours: orthogonal recurrent kernel, lecun-normal input kernel, zero
# LSTM bias, Flax's Dense and Embed defaults) or 'pytorch' (the defaults of the nn.LSTM, nn.Linear and
# nn.Embedding of Jain & Wallace's code, model/modules/Encoder.py).
INITS = ('flax', 'pytorch')


def symmetric_uniform(bound: float, terms: int = 1) -> Callable[..., jax.Array]:
  """U(-bound, bound), or the sum of `terms` independent such draws (PyTorch's LSTM has two biases, b_ih + b_hh,
  which our one bias stands for)."""
  def init(key: jax.Array, shape: tuple[int, ...], dtype: jnp.dtype = jnp.float32) -> jax.Array:
    keys = jax.random.split(key, terms)
    return sum(jax.random.uniform(k, shape, dtype, -bound, bound) for k in keys)
  return init


def dense_inits(init: str, fan_in: int) -> tuple[Callable[..., jax.Array], Callable[..., jax.Array]]:
  """(kernel_init, bias_init) of a Dense layer with `fan_in` inputs: Flax's defaults, or PyTorch nn.Linear's
  (kaiming_uniform(a=sqrt(5)) weights and U(+-1/sqrt(fan_in)) biases: both U(+-1/sqrt(fan_in)))."""
  if init == 'pytorch':
    return symmetric_uniform(fan_in ** -0.5), symmetric_uniform(fan_in ** -0.5)
  return nn.linear.default_kernel_init, nn.initializers.zeros


def trailing_valid(mask: jax.Array) -> jax.Array:
  """True up to the last real token: [batch, seq] -> [batch, seq] (contract.text_span).

  Positions after it are padding, which the LSTM must skip in both directions;
  masked positions inside the text (deleted tokens) are still stepped over.
  """
  return contract.text_span(mask)


class LSTMRecurrence(nn.Module):
  """The recurrent half of one LSTM direction; its input arrives pre-projected.

  Gates are ordered (input, forget, cell, output).
  """
  hidden: int
  reverse: bool = False
  init_scheme: str = 'flax'  # INITS

  @nn.compact
  def __call__(self, projected, valid):
    """projected: <float>[batch, seq, 4*hidden] (x W, no bias); valid: <bool>[batch, seq].

    Returns hidden states <float>[batch, seq, hidden], zero where not valid.
    """
    # float32 explicitly, like nn.Dense: under jax_enable_x64 the initialisers would give float64.
    pytorch = self.init_scheme == 'pytorch'  # nn.LSTM: every weight and bias U(+-1/sqrt(hidden))
    kernel = self.param('recurrent_kernel', symmetric_uniform(self.hidden ** -0.5) if pytorch else
                        nn.initializers.orthogonal(), (self.hidden, 4 * self.hidden), jnp.float32)
    bias = self.param('bias', symmetric_uniform(self.hidden ** -0.5, terms=2) if pytorch else nn.initializers.zeros,
                      (4 * self.hidden,), jnp.float32)
    xs = (jnp.swapaxes(projected, 0, 1), jnp.swapaxes(valid, 0, 1))

    def step(carry: tuple[jax.Array, jax.Array],
             x: tuple[jax.Array, jax.Array]) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
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
  init_scheme: str = 'flax'  # INITS

  @nn.compact
  def __call__(self, states, mask):
    """states: <float>[batch, seq, features]; mask: <bool>[batch, seq] -> <float>[batch, seq]."""
    w_kernel, w_bias = dense_inits(self.init_scheme, states.shape[-1])
    v_kernel, _ = dense_inits(self.init_scheme, self.hidden)
    hidden = jnp.tanh(nn.Dense(self.hidden, kernel_init=w_kernel, bias_init=w_bias, name='W')(states))
    scores = nn.Dense(1, use_bias=False, kernel_init=v_kernel, name='v')(hidden)[..., 0]
    return jax.nn.softmax(jnp.where(mask, scores, NEG_INF), axis=-1)


class Classifier(nn.Module):
  """The Jain & Wallace (2019) text classifier."""
  vocab_size: int
  num_classes: int = 2
  emb_dim: int = 300
  hidden: int = 128
  att_hidden: int = 128
  bidirectional: bool = True
  init_scheme: str = 'flax'  # INITS

  def setup(self) -> None:
    if self.init_scheme not in INITS:
      raise ValueError(f'unknown init {self.init_scheme!r}; choose one of {INITS}')
    pytorch = self.init_scheme == 'pytorch'
    # nn.Embedding: N(0, 1)
    self.embedding = nn.Embed(self.vocab_size, self.emb_dim, name='embedding',
                              **({'embedding_init': nn.initializers.normal(1.)} if pytorch else {}))
    directions = 2 if self.bidirectional else 1
    self.input_kernel = self.param('input_kernel', symmetric_uniform(self.hidden ** -0.5) if pytorch else
                                   nn.initializers.lecun_normal(),
                                   (self.emb_dim, directions * 4 * self.hidden), jnp.float32)
    self.recurrences = [LSTMRecurrence(self.hidden, reverse=bool(d), init_scheme=self.init_scheme)
                        for d in range(directions)]
    self.attention = AdditiveAttention(self.att_hidden, init_scheme=self.init_scheme)
    kernel_init, bias_init = dense_inits(self.init_scheme, directions * self.hidden)
    self.output = nn.Dense(self.num_classes, kernel_init=kernel_init, bias_init=bias_init)

  def embed(self, ids: jax.Array) -> jax.Array:
    """<int>[batch, seq] -> <float>[batch, seq, emb]; PAD ids embed to zero."""
    return self.embedding(ids) * (ids != PAD_ID)[..., None]

  def project(self, emb: jax.Array) -> jax.Array:
    """The LSTM input projection, linear in `emb`: [batch, seq, emb] -> [batch, seq, dirs*4*hidden]."""
    return emb @ self.input_kernel.astype(emb.dtype)

  def logits_from_projection(self, projected: jax.Array, mask: jax.Array, detach_attention: bool = False,
                             span: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """projected: [batch, seq, dirs*4*hidden]; mask: <bool>[batch, seq] (real tokens); span: <bool>[batch, seq],
    the positions both directions step over (default `trailing_valid(mask)`; a masked position inside it gets
    a zero input).

    Returns (logits [batch, classes], attention [batch, seq]).
    """
    valid = trailing_valid(mask) if span is None else span
    parts = jnp.split(projected, len(self.recurrences), axis=-1)
    states = jnp.concatenate([rnn(p, valid) for rnn, p in zip(self.recurrences, parts)], axis=-1)
    attention = self.attention(states, mask)
    weights = jax.lax.stop_gradient(attention) if detach_attention else attention
    context = jnp.einsum('bs,bsf->bf', weights, states)
    return self.output(context), attention

  def logits_from_embeddings(self, emb: jax.Array, mask: jax.Array,
                             detach_attention: bool = False) -> tuple[jax.Array, jax.Array]:
    """emb: [batch, seq, emb]; mask: <bool>[batch, seq] -> (logits [batch, classes], attention [batch, seq])."""
    return self.logits_from_projection(self.project(emb), mask, detach_attention)

  def __call__(self, ids, mask=None):
    """ids: <int>[batch, seq] -> (logits [batch, classes], attention [batch, seq])."""
    mask = ids != PAD_ID if mask is None else mask
    return self.logits_from_embeddings(self.embed(ids), mask)
