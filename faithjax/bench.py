"""Explainer throughput, as JSON lines in the schema of ../shared/bench/peer_torch.py.

Random weights and random token ids (throughput does not depend on training),
the peer's shapes (emb 300, hidden 128, vocab 20000). For each explainer every
batch size in --batches is timed and the best is reported, the others under
`tried`. Run it beside the peer, on the same machine, in the same session:

    python -m faithjax.bench --n 512 --seq_len 256 --batches 64,256 --steps 50 [--bidirectional]
    python -m faithjax.bench --explainers occlusion,smoothgrad,gradient_shap,lime,kernel_shap  # peer's --extra
"""

import argparse
import json
import time

import jax
import numpy as np

from faithjax import explain
from faithjax.data.text import PAD_ID
from faithjax.models import classifier

EXPLAINERS = ('saliency', 'input_x_gradient', 'integrated_gradients')
# The counterparts of the peer's --extra (Captum's Occlusion, NoiseTunnel SmoothGrad, GradientShap, Lime,
# KernelShap), with its settings: zero-embedding removal, sigma 0.1, baselines from the batch.
EXTRA = ('occlusion', 'smoothgrad', 'gradient_shap', 'lime', 'kernel_shap')


def best_seconds(run, repeats):
  """Best wall time of `repeats` calls of run(); a first, compiling call is not timed."""
  jax.block_until_ready(run())
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(run())
    times.append(time.perf_counter() - start)
  return min(times)


def as_batches(ids, batch):
  """[n, seq] -> device batches [batch, seq]; the last one filled with PAD rows (still computed)."""
  rows = -(-len(ids) // batch) * batch
  ids = np.pad(ids, ((0, rows - len(ids)), (0, 0)), constant_values=PAD_ID)
  return [jax.device_put(ids[i:i + batch]) for i in range(0, rows, batch)]


# Rows of one IG chunk (steps x examples): on CPU bigger chunks gained nothing in
# our runs and only cost memory; an accelerator wants the biggest matmuls that fit.
DEFAULT_MAX_ROWS = {'cpu': 1024}
ACCELERATOR_MAX_ROWS = 32768


def rows_budget(max_rows):
  return max_rows or DEFAULT_MAX_ROWS.get(jax.devices()[0].platform, ACCELERATOR_MAX_ROWS)


def step_chunk_for(batch, steps, max_rows):
  """IG steps per chunk so that one chunk's stacked batch has at most max_rows rows."""
  return max(1, min(steps, rows_budget(max_rows) // batch))


def explainer_options(name, batch, args):
  """IG gets --steps and a step chunk that fits the batch; EXTRA the peer's settings; the others the defaults."""
  path_tokens = dict(path_tokens=rows_budget(args.max_rows) * args.seq_len)  # the same row budget as IG's
  return {
      'integrated_gradients': dict(steps=args.steps, step_chunk=step_chunk_for(batch, args.steps, args.max_rows)),
      'occlusion': dict(removal='zero', **path_tokens),
      'smoothgrad': dict(samples=args.nt_samples, sigma=0.1, **path_tokens),
      'gradient_shap': dict(samples=args.shap_samples, **path_tokens),
      'lime': dict(samples=args.surrogate_samples, **path_tokens),
      'kernel_shap': dict(samples=args.surrogate_samples, **path_tokens),
  }.get(name, {})


def measure(fn, params, ids, batch, repeats):
  """(examples/s, seconds) of fn over all of `ids` in batches of `batch`."""
  batches = [(b, b != PAD_ID) for b in as_batches(ids, batch)]
  key = jax.random.key(2)  # used by the sampling explainers only
  seconds = best_seconds(lambda: [fn(params, b, mask, key) for b, mask in batches], repeats)
  return len(ids) / seconds, seconds


def device_meta():
  device = jax.devices()[0]
  return dict(device=device.platform, gpu=device.device_kind if device.platform == 'gpu' else None,
              jax=jax.__version__)


def bench(args):
  """Yields one result dict per explainer, at its best batch size."""
  model = classifier.Classifier(vocab_size=args.vocab, emb_dim=args.emb, hidden=args.hidden,
                                att_hidden=args.att_hidden, bidirectional=args.bidirectional)
  params = jax.jit(classifier.init, static_argnums=0)(model, jax.random.key(0))
  ids = np.asarray(jax.random.randint(jax.random.key(1), (args.n, args.seq_len), 1, args.vocab))
  meta = dict(**device_meta(), bidirectional=args.bidirectional, n=args.n, seq_len=args.seq_len, steps=args.steps)
  batches = [b for b in args.batches if b <= args.n] or [args.n]
  for name in args.explainers:
    tried = {b: measure(explain.make_explainer(name, model, **explainer_options(name, b, args)),
                        params, ids, b, args.repeats)
             for b in batches}
    best = max(tried, key=lambda b: tried[b][0])
    eps, seconds = tried[best]
    yield dict(impl='faithjax', explainer=name, examples_per_s=round(eps, 2), seconds=round(seconds, 4),
               **meta, batch=best, step_chunk=explainer_options(name, best, args).get('step_chunk'),
               tried={b: round(r[0], 2) for b, r in tried.items()})


PEERS = ('captum', 'torch_batched', 'torch_loop')


def compare(results):
  """Markdown table of faithjax beside its peers, each at its best batch size, with the ratios.

  results: dicts as printed by this module and by peer_torch.py, from one machine.
  """
  best = {}
  for r in results:
    key = (r.get('bidirectional'), r.get('seq_len'), r.get('explainer'), r['impl'])
    if 'examples_per_s' in r and r['examples_per_s'] > best.get(key, {}).get('examples_per_s', 0):
      best[key] = r
  cell = lambda r: f"{r['examples_per_s']:,.1f} (b{r['batch']})" if r else '-'
  lines = ['| model | seq | explainer | faithjax | ' + ' | '.join(PEERS) + ' | '
           + ' | '.join(f'faithjax / {p}' for p in PEERS) + ' |',
           '|' + '---|' * (4 + 2 * len(PEERS))]
  for bidirectional, seq_len, explainer in sorted({k[:3] for k in best}):
    ours = best.get((bidirectional, seq_len, explainer, 'faithjax'))
    peers = [best.get((bidirectional, seq_len, explainer, p)) for p in PEERS]
    ratios = [f"{ours['examples_per_s'] / p['examples_per_s']:.1f}x" if ours and p else '-' for p in peers]
    lines.append(f"| {'BiLSTM' if bidirectional else 'LSTM'} | {seq_len} | {explainer} | {cell(ours)} | "
                 + ' | '.join(map(cell, peers)) + ' | ' + ' | '.join(ratios) + ' |')
  return '\n'.join(lines)


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--n', type=int, default=256, help='examples per timed pass')
  p.add_argument('--seq_len', type=int, default=256)
  p.add_argument('--batches', type=lambda s: [int(b) for b in s.split(',')], default=[64, 256],
                 help='comma-separated batch sizes to try; the best is reported')
  p.add_argument('--steps', type=int, default=50, help='Integrated Gradients steps')
  p.add_argument('--max_rows', type=int, default=None,
                 help='IG: at most this many (step, example) rows per chunk (default 1024 on CPU, '
                 f'{ACCELERATOR_MAX_ROWS} on accelerators); bounds memory')
  p.add_argument('--vocab', type=int, default=20000)
  p.add_argument('--emb', type=int, default=300)
  p.add_argument('--hidden', type=int, default=128)
  p.add_argument('--att_hidden', type=int, default=128)
  p.add_argument('--bidirectional', action='store_true', help='BiLSTM, as the default faithjax model')
  p.add_argument('--explainers', type=lambda s: s.split(','), default=list(EXPLAINERS),
                 help=f'comma-separated; the peer\'s --extra counterparts: {",".join(EXTRA)}')
  p.add_argument('--nt_samples', type=int, default=10, help='SmoothGrad noise samples (as the peer\'s)')
  p.add_argument('--shap_samples', type=int, default=10, help='GradientSHAP samples per example (as the peer\'s)')
  p.add_argument('--surrogate_samples', type=int, default=200, help='LIME / KernelSHAP coalitions per example')
  p.add_argument('--repeats', type=int, default=3)
  p.add_argument('--compare', nargs='+', metavar='JSONL',
                 help='instead of measuring: print a markdown table from saved JSON lines of both sides')
  return p.parse_args(argv)


def read_json_lines(paths):
  results = []
  for path in paths:
    with open(path, encoding='utf-8') as f:
      results += [json.loads(line) for line in f if line.startswith('{')]
  return results


def main(argv=None):
  args = parse_args(argv)
  if args.compare:
    print(compare(read_json_lines(args.compare)))
    return
  for result in bench(args):
    print(json.dumps(result), flush=True)


if __name__ == '__main__':
  main()
