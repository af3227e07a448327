"""faithjax: do faithfulness evaluations of feature-attribution explanations agree?"""

__version__ = "0.1.0"


class FaithjaxError(Exception):
  """A user-facing error: its message says what is wrong and how to fix it."""


class Interrupted(KeyboardInterrupt):
  """Ctrl-C while `args[0]` (e.g. 'stage train') was running; the entry point turns it into one line."""
