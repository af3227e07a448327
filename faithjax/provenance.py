"""What produced a result: library versions, device, command line."""

import datetime
import importlib.metadata
import platform
import sys

import jax

LIBRARIES = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'numpy', 'scipy')


def versions():
  out = {'python': platform.python_version()}
  for name in LIBRARIES:
    try:
      out[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      out[name] = None
  return out


def device():
  devices = jax.devices()
  return {'platform': devices[0].platform, 'kind': devices[0].device_kind,
          'count': len(devices), 'processor': platform.processor() or platform.machine()}


def record():
  """Deterministic for a given machine and command (no clock), so results.json is reproducible."""
  return {'versions': versions(), 'device': device(), 'command': ' '.join(sys.argv)}


def now():
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
