"""Ctrl-C is not lost inside asyncio.run (orbax's checkpoint I/O) once faithjax's handler is installed."""

import asyncio
import gc
import os
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


def test_ctrl_c_during_a_garbage_collection_is_recorded_without_a_traceback(default_handler, monkeypatch):
  # jax's gc callback is where CI saw one: a KeyboardInterrupt raised there is printed as a traceback and dropped.
  interrupts.install()
  dropped = []  # what Python would print as 'Exception ignored in ...' with its traceback
  monkeypatch.setattr(sys, 'unraisablehook', dropped.append)

  def interrupt_inside_the_collection(phase, info):
    del info
    if phase == 'start':
      os.kill(os.getpid(), signal.SIGINT)
      for _ in range(1000):  # let the main thread run the handler here, inside the callback
        pass

  gc.callbacks.insert(1, interrupt_inside_the_collection)  # after faithjax's start marker, like jax's
  try:
    gc.collect()
  finally:
    gc.callbacks.remove(interrupt_inside_the_collection)
  assert interrupts.received()
  assert not dropped
  with pytest.raises(Interrupted, match='stage train'):
    interrupts.raise_if_received('stage train')
  with pytest.raises(KeyboardInterrupt):  # outside a collection Ctrl-C raises as before
    os.kill(os.getpid(), signal.SIGINT)
    threading.Event().wait(1)
