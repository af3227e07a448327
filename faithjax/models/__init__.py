"""Flax models: the classifiers under explanation (plug-ins by name) and the weak learner.

Each classifier is a `plugins.Model` record: `build(config, vocab_size,
num_classes) -> model`, a flax.linen module, a flax.nnx module or a
contract.Functions record implementing faithjax/models/contract.py. The
built-ins are registered below as a user's is (docs/extending.md); --model
picks one.
"""

from typing import Any

from faithjax import plugins
from faithjax.models import classifier
from faithjax.models import contract
from faithjax.models import transformer


def lstm(config: Any, vocab_size: int, num_classes: int) -> classifier.Classifier:
  """Jain & Wallace's (Bi)LSTM with additive attention (DESIGN.md section 3)."""
  return classifier.Classifier(vocab_size=vocab_size, num_classes=num_classes, emb_dim=config.emb_dim,
                               hidden=config.hidden, att_hidden=config.att_hidden, bidirectional=config.bidirectional,
                               init_scheme=config.init_scheme)


def small_transformer(config: Any, vocab_size: int, num_classes: int) -> transformer.Transformer:
  """A pre-LN Transformer encoder (--layers, --heads; --hidden is its MLP width) pooled by additive attention."""
  return transformer.Transformer(vocab_size=vocab_size, num_classes=num_classes, emb_dim=config.emb_dim,
                                 layers=config.layers, heads=config.heads, mlp_dim=config.hidden,
                                 att_hidden=config.att_hidden)


plugins.register(plugins.Model('lstm', lstm))
plugins.register(plugins.Model('transformer', small_transformer))


def build(config: Any, vocab_size: int,
          num_classes: int) -> contract.TextClassifier | contract.Nnx | contract.Functions:
  """The classifier `config.model` names, for a vocabulary of `vocab_size` ids and `num_classes` classes, as the
  contract's model (contract.model_of: an nnx module becomes its Nnx record, its parameters `contract.init`'s)."""
  return contract.model_of(plugins.get(plugins.Model, config.model).build(config, vocab_size, num_classes))
