"""The PyTorch/Captum peer with another quadrature rule for Captum's IntegratedGradients.

  python faithjax/peer_method.py --method riemann_trapezoid --peer ../shared/bench/peer_torch.py \
      --device cpu --n 32 --seq_len 32 --batch 32 --steps 40

The peer (read-only) calls IntegratedGradients.attribute without `method`, so
Captum's default, gausslegendre, applies. This runs the peer unchanged, in this
process, with that default replaced by --method; every other flag goes to the
peer. `python -m faithjax.bench --interleave --peer_ig_method ...` runs it. It
imports nothing of faithjax (nor jax), so the peer's process is as light as
when it runs alone.
"""

import argparse
import functools
import runpy
import sys


def use_method(method: str) -> None:
  """Makes `method` the default of IntegratedGradients.attribute; without captum, leaves the peer to say so."""
  try:
    from captum.attr import IntegratedGradients  # pylint: disable=g-import-not-at-top
  except ImportError:
    return
  IntegratedGradients.attribute = functools.partialmethod(IntegratedGradients.attribute, method=method)


def main(argv: list[str]) -> None:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--method', required=True, help="Captum's IG method, e.g. riemann_middle, riemann_trapezoid")
  p.add_argument('--peer', required=True, help='the peer script (peer_torch.py)')
  args, rest = p.parse_known_args(argv)
  use_method(args.method)
  sys.argv = [args.peer, *rest]
  runpy.run_path(args.peer, run_name='__main__')


if __name__ == '__main__':
  main(sys.argv[1:])
