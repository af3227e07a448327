"""A small pre-LN Transformer encoder classifier, pooled by additive attention.

Token + learned position embeddings, `layers` pre-LayerNorm encoder blocks
(self-attention over the real tokens, then a GELU MLP, each residual), a final
LayerNorm, and the LSTM classifier's additive-attention pooling and output
layer, so the attention explainer and the shuffle test apply unchanged. It
implements faithjax/models/contract.py without the optional fast path:
explainers and deletion work on its token embeddings (position embeddings are
added inside `logits_from_embeddings`, so attributions are per token, and a
token deleted by shifting takes its new position's embedding).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from faithjax.data.text import PAD_ID
from faithjax.models.classifier import AdditiveAttention


class EncoderBlock(nn.Module):
  """x + SelfAttention(LN(x)), then x + MLP(LN(x))."""
  heads: int
  mlp_dim: int

  @nn.compact
  def __call__(self, x, mask):
    """x: [batch, seq, features]; mask: <bool>[batch, seq] -> [batch, seq, features]."""
    y = nn.LayerNorm(name='attention_norm')(x)
    # Every position attends to the real tokens only; a PAD query's output is never pooled.
    y = nn.MultiHeadDotProductAttention(num_heads=self.heads, name='self_attention')(
        y, y, mask=nn.make_attention_mask(jnp.ones_like(mask), mask))
    x = x + y
    y = nn.LayerNorm(name='mlp_norm')(x)
    y = nn.Dense(x.shape[-1], name='mlp_out')(nn.gelu(nn.Dense(self.mlp_dim, name='mlp_in')(y)))
    return x + y


class Transformer(nn.Module):
  vocab_size: int
  num_classes: int = 2
  emb_dim: int = 64
  layers: int = 2
  heads: int = 4
  mlp_dim: int = 128
  att_hidden: int = 64
  max_len: int = 1024

  def setup(self) -> None:
    self.embedding = nn.Embed(self.vocab_size, self.emb_dim, name='embedding')
    # float32 explicitly, like nn.Embed: under jax_enable_x64 the initialiser would give float64.
    self.positions = self.param('positions', nn.initializers.normal(0.02), (self.max_len, self.emb_dim),
                                jnp.float32)
    self.blocks = [EncoderBlock(self.heads, self.mlp_dim, name=f'block_{i}') for i in range(self.layers)]
    self.final_norm = nn.LayerNorm(name='final_norm')
    self.attention = AdditiveAttention(self.att_hidden)
    self.output = nn.Dense(self.num_classes)

  def embed(self, ids: jax.Array) -> jax.Array:
    """<int>[batch, seq] -> <float>[batch, seq, emb]; PAD ids embed to zero."""
    return self.embedding(ids) * (ids != PAD_ID)[..., None]

  def logits_from_embeddings(self, emb: jax.Array, mask: jax.Array,
                             detach_attention: bool = False) -> tuple[jax.Array, jax.Array]:
    """emb: [batch, seq, emb]; mask: <bool>[batch, seq] -> (logits [batch, classes], attention [batch, seq])."""
    if emb.shape[1] > self.max_len:
      raise ValueError(f'{emb.shape[1]} tokens exceed the Transformer\'s max_len={self.max_len}')
    x = emb + self.positions[:emb.shape[1]].astype(emb.dtype)
    for block in self.blocks:
      x = block(x, mask)
    states = self.final_norm(x)
    attention = self.attention(states, mask)
    weights = jax.lax.stop_gradient(attention) if detach_attention else attention
    return self.output(jnp.einsum('bs,bsf->bf', weights, states)), attention

  def __call__(self, ids, mask=None):
    """ids: <int>[batch, seq] -> (logits [batch, classes], attention [batch, seq])."""
    mask = ids != PAD_ID if mask is None else mask
    return self.logits_from_embeddings(self.embed(ids), mask)
