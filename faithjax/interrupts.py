"""Ctrl-C that no library can swallow.

Python's default SIGINT handler raises KeyboardInterrupt wherever the main
thread happens to be, and two places lose it: `asyncio.run` (which orbax
calls for every checkpoint read and write) replaces that handler with one
that only cancels its task, so a coroutine that absorbs the cancellation
returns normally; and an exception raised inside a finalizer (`__del__`) or
a gc callback (jax registers one) is passed to `sys.unraisablehook`, which
prints it with a traceback and drops it. `install` puts our own handler in
place (asyncio leaves a non-default handler alone), which also records the
signal, so that `raise_if_received` can stop the run at the next stage
boundary even when the KeyboardInterrupt itself was lost; and it wraps
`sys.unraisablehook` so that such a recorded, dropped interrupt is not
printed (Ctrl-C stays one line).
"""

import contextlib
import signal
import sys
import threading
from typing import Iterator

from faithjax import Interrupted

_received = threading.Event()


def _on_sigint(signum, frame):
  del signum, frame
  _received.set()
  raise KeyboardInterrupt


def _record_sigint(signum, frame):
  del signum, frame
  _received.set()


def _quiet_about_recorded_interrupts(hook):
  """An unraisable hook that drops a KeyboardInterrupt our handler recorded and passes the rest to `hook`."""

  def unraisable(args: 'sys.UnraisableHookArgs') -> None:
    if not (issubclass(args.exc_type, KeyboardInterrupt) and received()):
      hook(args)

  unraisable.quiet_about_recorded_interrupts = True
  return unraisable


def install(defer: bool = False) -> None:
  """SIGINT raises KeyboardInterrupt through our handler (from the main thread; elsewhere a no-op).

  defer: only record it, for code that no KeyboardInterrupt may stop half-way (an entry point's imports,
  before its one-line handling is in place): `raise_if_received` stops the run once that code is done.
  """
  if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, _record_sigint if defer else _on_sigint)
    if not getattr(sys.unraisablehook, 'quiet_about_recorded_interrupts', False):
      sys.unraisablehook = _quiet_about_recorded_interrupts(sys.unraisablehook)


def received() -> bool:
  """Whether a SIGINT reached our handler since `install` (or `reset`)."""
  return _received.is_set()


def reset() -> None:
  _received.clear()


def raise_if_received(where: str) -> None:
  """Raises Interrupted(where) if a SIGINT came, whether or not its KeyboardInterrupt got through."""
  if received():
    raise Interrupted(where)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
  """Ctrl-C is recorded, not raised, while the block runs, and raised as KeyboardInterrupt once it is done.

  For work that must not stop half-way, such as a checkpoint save: a KeyboardInterrupt inside orbax's save left
  its threads waiting, and the process could hang on exit. Only the main thread handles signals; elsewhere the
  block just runs.
  """
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  previous = signal.signal(signal.SIGINT, _record_sigint)
  try:
    yield
  finally:
    signal.signal(signal.SIGINT, previous)
  if received():
    raise KeyboardInterrupt
