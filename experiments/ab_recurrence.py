"""Interleaved A/B of the LSTM loop's unroll (classifier.SCAN_UNROLL) per explainer, in one process.

Each variant's program is compiled once; then for --rounds rounds every variant
makes one timed pass over the n examples, the variant that goes first alternating
between rounds (faithjax.interleave.run_rounds), and the speed-up of each variant
over the first is its median with the min-max over rounds. The maps of every
variant are compared with the first's.

    python -m experiments.ab_recurrence --unroll 1,4,8 --seq_len 256 --n 32 --batch 32 [--bidirectional]
"""

import argparse
import contextlib
import json
import time

import jax
import numpy as np

from faithjax import bench
from faithjax import explain  # pylint: disable=unused-import (registers the built-in explainers)
from faithjax import plugins
from faithjax import interleave
from faithjax.data.text import PAD_ID
from faithjax.models import classifier


@contextlib.contextmanager
def scan_unroll(unroll):
  old, classifier.SCAN_UNROLL = classifier.SCAN_UNROLL, unroll
  try:
    yield
  finally:
    classifier.SCAN_UNROLL = old


def compiled(name, model, params, ids, mask, unroll, options):
  """The explainer's program for ids [batch, seq], traced and compiled with the given unroll."""
  fn = jax.jit(lambda p, i, m: plugins.EXPLAINERS[name].fn(model, p, i, m, **options))
  with scan_unroll(unroll):
    return fn.lower(params, ids, mask).compile()


def main():
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument('--unroll', type=lambda s: [int(x) for x in s.split(',')], default=[1, 8])
  p.add_argument('--explainers', type=lambda s: s.split(','), default=list(bench.EXPLAINERS))
  p.add_argument('--seq_len', type=int, default=256)
  p.add_argument('--n', type=int, default=32)
  p.add_argument('--batch', type=int, default=32)
  p.add_argument('--rounds', type=int, default=5)
  p.add_argument('--bidirectional', action='store_true')
  a = p.parse_args()
  args = bench.parse_args(['--seq_len', str(a.seq_len), *(['--bidirectional'] if a.bidirectional else [])])
  model, params, ids = bench.setup(args, a.n)
  batches = [(b, b != PAD_ID) for b in bench.as_batches(ids, a.batch)]
  for name in a.explainers:
    options = bench.explainer_options(name, a.batch, args)
    programs = {u: compiled(name, model, params, *batches[0], u, options) for u in a.unroll}
    maps = {u: np.asarray(f(params, *batches[0])) for u, f in programs.items()}

    def timed(u):
      def run():
        start = time.perf_counter()
        jax.block_until_ready([programs[u](params, b, m) for b, m in batches])
        yield dict(impl=f'unroll{u}', explainer=name, examples_per_s=a.n / (time.perf_counter() - start))
      return run
    records = list(interleave.run_rounds({name: {u: timed(u) for u in a.unroll}}, a.rounds))
    rate = {(r['impl'], r['round']): r['examples_per_s'] for r in records}
    base = a.unroll[0]
    for u in a.unroll[1:]:
      ratio = np.array([rate[f'unroll{u}', r] / rate[f'unroll{base}', r] for r in range(a.rounds)])
      print(json.dumps(dict(explainer=name, bidirectional=a.bidirectional, seq_len=a.seq_len, batch=a.batch,
                            variant=f'unroll {u} / unroll {base}', speedup_median=round(float(np.median(ratio)), 3),
                            speedup_min=round(float(ratio.min()), 3), speedup_max=round(float(ratio.max()), 3),
                            max_abs_map_difference=float(np.abs(maps[u] - maps[base]).max()),
                            loads=interleave.loads(records), cores=interleave.cores())), flush=True)


if __name__ == '__main__':
  main()
