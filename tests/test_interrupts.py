"""Ctrl-C is not lost inside asyncio.run (orbax's checkpoint I/O) once faithjax's handler is installed."""

import asyncio
import os
import signal
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
