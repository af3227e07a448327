"""faithjax: do faithfulness evaluations of feature-attribution explanations agree?"""

__version__ = "0.1.0"


class FaithjaxError(Exception):
  """A user-facing error: its message says what is wrong and how to fix it."""


class Interrupted(KeyboardInterrupt):
  """Ctrl-C while `args[0]` (e.g. 'stage train') was running; the entry point turns it into one line."""


def __getattr__(name):
  """faithjax.explain_maps and faithjax.evaluate_maps (faithjax/api.py) and faithjax.meta_evaluate
  (faithjax/meta), imported on first use: `import faithjax` stays light."""
  if name in ('explain_maps', 'evaluate_maps', 'Evaluated'):
    from faithjax import api  # pylint: disable=g-import-not-at-top
    return getattr(api, name)
  if name == 'meta_evaluate':
    from faithjax import meta  # pylint: disable=g-import-not-at-top
    return meta.meta_evaluate
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
