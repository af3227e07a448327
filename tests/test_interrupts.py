"""Ctrl-C is not lost inside asyncio.run (orbax's checkpoint I/O), nor printed where Python drops it (a
finalizer, a gc callback), once faithjax's handler is installed."""

import asyncio
import os
import subprocess
import signal
import sys
import threading

import pytest

from faithjax import Interrupted
from faithjax import interrupts


async def absorbs_cancellation():
  """A coroutine like a checkpoint read that finishes its work even when cancelled."""
  try:
    await asyncio.sleep(5)
  except asyncio.CancelledError:
    return 'finished anyway'
  return 'slept'


def interrupt_soon():
  threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()


@pytest.fixture
def default_handler():
  """Restores the SIGINT handler and our record of it around a test."""
  saved = signal.getsignal(signal.SIGINT)
  signal.signal(signal.SIGINT, signal.default_int_handler)
  interrupts.reset()
  yield
  signal.signal(signal.SIGINT, saved)
  interrupts.reset()


def test_asyncio_run_swallows_ctrl_c_under_the_default_handler(default_handler):
  # The failure the handler exists for: asyncio turns SIGINT into a cancellation, which the coroutine absorbs.
  interrupt_soon()
  assert asyncio.run(absorbs_cancellation()) == 'finished anyway'
  assert not interrupts.received()


def test_with_our_handler_ctrl_c_raises_through_asyncio_run(default_handler):
  interrupts.install()
  interrupt_soon()
  with pytest.raises(KeyboardInterrupt):
    asyncio.run(absorbs_cancellation())
  assert interrupts.received()


def test_a_swallowed_interrupt_is_raised_at_the_next_check(default_handler):
  interrupts.install()
  interrupts.raise_if_received('stage train')  # nothing came: no-op
  interrupt_soon()
  try:
    threading.Event().wait(5)
  except KeyboardInterrupt:
    pass  # stands in for a library that drops it
  with pytest.raises(Interrupted, match='stage encode'):
    interrupts.raise_if_received('stage encode')


# Run in a fresh interpreter: pytest routes unraisable exceptions through its own hook.
LOST_IN = {
    'finalizer': 'class Finalizer:\n  def __del__(self):\n    signal.raise_signal(signal.SIGINT)\n'
                 'Finalizer()\n',
    'gc_callback': 'gc.callbacks.append(lambda phase, info: phase == "start" and signal.raise_signal(signal.SIGINT))\n'
                   'gc.collect()\n',
}


@pytest.mark.parametrize('where', sorted(LOST_IN))
@pytest.mark.parametrize('installed', [False, True])
def test_an_interrupt_dropped_as_unraisable_is_printed_only_without_our_handler(where, installed):
  """raise_signal runs the Python handler before it returns, so the KeyboardInterrupt is raised inside the
  finalizer or gc callback, where Python drops it through sys.unraisablehook."""
  script = ('import gc, signal\nfrom faithjax import Interrupted, interrupts\n'
            + ('interrupts.install()\n' if installed else '') + LOST_IN[where] + 'print("went on")\n'
            'try:\n  interrupts.raise_if_received("stage train")\nexcept Interrupted:\n  print("interrupted")\n')
  done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120)
  if installed:
    assert (done.stdout, done.stderr) == ('went on\ninterrupted\n', '')
  else:
    assert done.stdout == 'went on\n' and 'KeyboardInterrupt' in done.stderr, done.stderr


def test_other_unraisable_exceptions_still_reach_the_previous_hook():
  script = ('import gc\nfrom faithjax import interrupts\ninterrupts.install()\n'
            'class Finalizer:\n  def __del__(self):\n    raise ValueError("kept")\nFinalizer()\n')
  done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120)
  assert 'ValueError: kept' in done.stderr and done.returncode == 0


def test_a_ctrl_c_inside_a_deferred_block_waits_for_its_end(default_handler):
  interrupts.install()
  steps = []
  with pytest.raises(KeyboardInterrupt):
    with interrupts.deferred():
      os.kill(os.getpid(), signal.SIGINT)  # delivered at once in the main thread: recorded, not raised
      steps.append('the block went on to its end')
  assert steps == ['the block went on to its end'] and interrupts.received()
  assert signal.getsignal(signal.SIGINT) is interrupts._on_sigint  # pylint: disable=protected-access
  interrupts.reset()
  with interrupts.deferred():  # no Ctrl-C: nothing raised
    steps.append('again')
