"""Issue 19 item 2: why a throughput target is or is not in reach, from the matrix-multiply FLOPs each side does.

    python -m experiments.bench_flops experiments/results/bench_interleaved.jsonl \
        --out experiments/results/bench_flops.md

Both sides run the same LSTM + additive attention, so an example costs each the same matrix multiplies except
where faithjax skips some (module docstring of faithjax/explain.py): Input x Gradient and IG never take the
gradient back through the input projection (sum_k P_k df/dP_k), and IG projects the input once, not per step.
At an equal FLOP rate the ratio of the two counts is the speed-up the algorithm alone buys ("bound"); a target
above it needs faithjax to run its multiplies that much faster than PyTorch's oneDNN LSTM does. The counts are
analytic (2 FLOPs per multiply-add of every matmul; elementwise work left out), checked against XLA's own cost
analysis of faithjax's programs in tests/test_bench_flops.py; the rates divide them by the measured
examples/s of the interleaved table (median over rounds).
"""

import argparse
import collections
import dataclasses

import numpy as np

from faithjax import bench
from faithjax import io
from faithjax import report

# Throughput targets of issue 19 item 2: (faithjax explainer, peer impl) -> faithjax / peer examples/s.
TARGETS = {('saliency', 'captum'): 2., ('input_x_gradient', 'captum'): 2., ('integrated_gradients', 'captum'): 5.,
           ('integrated_gradients', 'torch_batched'): 3.}


@dataclasses.dataclass(frozen=True)
class Shape:
  """One benchmark case: tokens, embedding, hidden per direction, directions, attention hidden, IG steps."""
  seq: int
  emb: int = 300
  hidden: int = 128
  directions: int = 1
  att_hidden: int = 128
  steps: int = 50

  def passes(self) -> dict[str, float]:
    """FLOPs per example of each part of one pass: forward ('*_f') and backward to the inputs ('*_b')."""
    gates = 4 * self.hidden * self.directions
    projection = 2 * self.seq * self.emb * gates  # [seq, emb] x [emb, dirs*4h]
    recurrence = 2 * self.seq * self.hidden * gates  # per direction [1, h] x [h, 4h] at each step
    attention = 2 * self.seq * self.hidden * self.directions * self.att_hidden
    return {'projection_f': projection, 'projection_b': projection, 'recurrence_f': recurrence,
            'recurrence_b': recurrence, 'attention_f': attention, 'attention_b': attention}


def flops(explainer: str, impl: str, shape: Shape) -> float:
  """Matmul FLOPs per example of one explainer on one side; impl 'faithjax', 'captum' or 'torch_batched'."""
  p = shape.passes()
  forward = p['projection_f'] + p['recurrence_f'] + p['attention_f']
  to_embeddings = forward + p['projection_b'] + p['recurrence_b'] + p['attention_b']
  to_projection = to_embeddings - p['projection_b'] - p['projection_f']  # df/dP of a given P
  if impl == 'faithjax':
    return {'saliency': to_embeddings,
            'input_x_gradient': p['projection_f'] + to_projection,
            # P once, the predicted class's forward, then every step's df/dP at alpha P
            'integrated_gradients': forward + shape.steps * to_projection}[explainer]
  # Captum and the peer's batched IG differentiate the whole model w.r.t. the embeddings at every point; the
  # target class comes from one forward pass.
  return {'saliency': to_embeddings, 'input_x_gradient': to_embeddings,
          'integrated_gradients': forward + shape.steps * to_embeddings}[explainer]


def shape_of(case: str, steps: int) -> Shape:
  """'BiLSTM seq 256' -> its Shape (the interleaved bench's emb, hidden and attention sizes)."""
  model, _, seq = case.split()
  return Shape(int(seq), directions=2 if model == 'BiLSTM' else 1, steps=steps)


def median_rates(records: list[dict]) -> dict[tuple[str, str, str], float]:
  """{(case, explainer, impl): median examples/s over rounds} of an interleaved jsonl."""
  rates = collections.defaultdict(list)
  for r in records:
    rates[r['case'], r['explainer'], r['impl']].append(r['examples_per_s'])
  return {k: float(np.median(v)) for k, v in rates.items()}


def rows(records: list[dict]) -> list[list]:
  """One row per (case, target pair): FLOPs, rates and what the target needs."""
  rates, steps = median_rates(records), {r['case']: r['steps'] for r in records if r['side'] == 'faithjax'}
  out = []
  for case in dict.fromkeys(r['case'] for r in records):
    shape = shape_of(case, steps[case])
    for (explainer, peer), target in TARGETS.items():
      if (case, explainer, 'faithjax') not in rates or (case, explainer, peer) not in rates:
        continue
      ours, theirs = flops(explainer, 'faithjax', shape), flops(explainer, peer, shape)
      ours_rate, peer_rate = rates[case, explainer, 'faithjax'], rates[case, explainer, peer]
      bound = theirs / ours
      out.append([case, explainer, peer, ours / 1e6, theirs / 1e6, f'{bound:.2f}x', f'{ours_rate / peer_rate:.2f}x',
                  ours * ours_rate / 1e9, theirs * peer_rate / 1e9, f'{target:g}x', f'{target / bound:.2f}x'])
  return out


def render(records: list[dict], source: str, command: str) -> str:
  header = ['case', 'explainer', 'peer', 'faithjax MFLOP/example', 'peer MFLOP/example',
            'bound (equal FLOP rate)', 'measured ratio (of the medians)', 'faithjax GFLOP/s', 'peer GFLOP/s', 'target',
            'FLOP rate faithjax needs (x the peer\'s)']
  return '\n'.join([
      '# What the throughput targets ask for, in FLOPs', '', f'Command: `{command}`', '',
      f'From the examples/s of `{source}` (median over its rounds) and analytic matmul FLOPs per example '
      '(experiments/bench_flops.py: 2 per multiply-add, elementwise work left out). "bound": the peer\'s FLOPs '
      'over faithjax\'s, the ratio at an equal FLOP rate; the last column is the target over the bound, the '
      'factor by which faithjax would have to out-run the peer\'s multiplies to meet it.', '',
      report.markdown_table(header, rows(records)), ''])


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('jsonl', help='an interleaved run\'s every result (faithjax.bench --interleave --jsonl)')
  p.add_argument('--out', default='experiments/results/bench_flops.md')
  a = p.parse_args(argv)
  records = [r for r in bench.read_json_lines([a.jsonl]) if 'case' in r]
  command = f'python -m experiments.bench_flops {a.jsonl} --out {a.out}'
  io.write_text(a.out, render(records, a.jsonl, command))
  print(f'wrote {a.out}')


if __name__ == '__main__':
  main()
