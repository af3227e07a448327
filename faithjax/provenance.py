"""What produced a result: library versions, device, command line."""

import datetime
import importlib.metadata
import platform
import sys

import jax

LIBRARIES = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'numpy', 'scipy')


def versions() -> dict[str, str | None]:
  """{'python': version, library: installed version or None}."""
  out = {'python': platform.python_version()}
  for name in LIBRARIES:
    try:
      out[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      out[name] = None
  return out


def device() -> dict[str, str | int]:
  """The first device's platform and kind, the device count and the host processor."""
  devices = jax.devices()
  return {'platform': devices[0].platform, 'kind': devices[0].device_kind,
          'count': len(devices), 'processor': platform.processor() or platform.machine()}


def record() -> dict:
  """Deterministic for a given machine and command (no clock), so results.json is reproducible."""
  return {'versions': versions(), 'device': device(), 'command': ' '.join(sys.argv)}


def now() -> str:
  """The UTC time, ISO 8601 to the second."""
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


def versions_text(recorded: dict) -> str:
  """'flax 0.12.8, jax 0.10.2, ...' of a `record()`: the versions sentence of every results file."""
  return ', '.join(f'{k} {v}' for k, v in recorded['versions'].items())


def measured_text(command: str, measured: str, recorded: dict) -> str:
  """'Command: `<command>`; measured <when> on <device> (<processor>); <versions>.': the opening of a results file."""
  device_ = recorded['device']
  return (f'Command: `{command}`; measured {measured} on {device_["kind"]} ({device_["processor"]}); '
          f'{versions_text(recorded)}.')
