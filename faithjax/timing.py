"""Where a stage's time goes: compiling XLA programs, or running them.

Cold start on a CPU is mostly compilation (every bucket width of every
explainer and evaluation is a program of its own), so each stage reports its
compile time and program count beside its wall time. The counts come from
JAX's own monitoring events, so they cover every jitted function the stage
calls, faithjax's or a library's.
"""

import contextlib
import dataclasses
import time
from typing import Any, Iterator

from jax import monitoring

# jax/_src/dispatch.py: tracing to a jaxpr, lowering to MLIR, and the backend's compile (or persistent-cache read).
TRACE_EVENTS = ('/jax/core/compile/jaxpr_trace_duration', '/jax/core/compile/jaxpr_to_mlir_module_duration')
BACKEND_COMPILE_EVENT = '/jax/core/compile/backend_compile_duration'
CACHE_HIT_EVENT = '/jax/compilation_cache/cache_hits'


@dataclasses.dataclass
class StageTime:
  """Seconds of one block of work: wall, of which tracing + lowering + compiling, and programs compiled."""
  wall_s: float = 0.
  compile_s: float = 0.
  programs: int = 0
  from_cache: int = 0  # programs read from the persistent compile cache instead of compiled

  @property
  def run_s(self) -> float:
    """Wall time outside tracing and compiling: running programs, host work, I/O."""
    return max(self.wall_s - self.compile_s, 0.)

  def describe(self) -> str:
    cached = f', {self.from_cache} from the compile cache' if self.from_cache else ''
    programs = f'{self.programs} program' + ('' if self.programs == 1 else 's')
    return f'{self.wall_s:.1f} s: compiling {self.compile_s:.1f} s ({programs}{cached}), running {self.run_s:.1f} s'

  def as_dict(self) -> dict:
    return {**dataclasses.asdict(self), 'run_s': self.run_s}


@contextlib.contextmanager
def measure() -> Iterator[StageTime]:
  """The StageTime of the block: filled in as JAX reports its compiles, wall time set on exit."""
  spent = StageTime()

  def on_duration(event: str, seconds: float, **_: Any) -> None:
    if event == BACKEND_COMPILE_EVENT:
      spent.programs += 1
    if event == BACKEND_COMPILE_EVENT or event in TRACE_EVENTS:
      spent.compile_s += seconds

  def on_event(event: str, **_: Any) -> None:
    if event == CACHE_HIT_EVENT:
      spent.from_cache += 1

  monitoring.register_event_duration_secs_listener(on_duration)
  monitoring.register_event_listener(on_event)
  start = time.perf_counter()
  try:
    yield spent
  finally:
    spent.wall_s = time.perf_counter() - start
    monitoring.unregister_event_duration_listener(on_duration)
    monitoring.unregister_event_listener(on_event)
