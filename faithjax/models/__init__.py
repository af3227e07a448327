"""Flax models: the classifiers under explanation (a registry by name) and the weak learner.

`MODELS` maps a --model name to a builder `(config, vocab_size) -> module`; the
module implements faithjax/models/contract.py. `register` adds one, also from
outside the package (README "Add your own model").
"""

from faithjax import FaithjaxError
from faithjax.models import classifier
from faithjax.models import transformer

MODELS = {}


def register(name):
  """Decorator: `@register('mine') def build(config, vocab_size) -> module` makes --model=mine."""
  def add(build):
    MODELS[name] = build
    return build
  return add


@register('lstm')
def lstm(config, vocab_size):
  """Jain & Wallace's (Bi)LSTM with additive attention (DESIGN.md section 3)."""
  return classifier.Classifier(vocab_size=vocab_size, emb_dim=config.emb_dim, hidden=config.hidden,
                               att_hidden=config.att_hidden, bidirectional=config.bidirectional,
                               init_scheme=config.init_scheme)


@register('transformer')
def small_transformer(config, vocab_size):
  """A pre-LN Transformer encoder (--layers, --heads; --hidden is its MLP width) pooled by additive attention."""
  return transformer.Transformer(vocab_size=vocab_size, emb_dim=config.emb_dim, layers=config.layers,
                                 heads=config.heads, mlp_dim=config.hidden, att_hidden=config.att_hidden)


def build(config, vocab_size):
  """The classifier `config.model` names, for a vocabulary of `vocab_size` ids."""
  if config.model not in MODELS:
    raise FaithjaxError(f'unknown model {config.model!r}; choose from {", ".join(MODELS)}')
  return MODELS[config.model](config, vocab_size)
