"""N checkpoints re-evaluated stacked (one program) vs one at a time.

  python -m experiments.bench_checkpoints [--checkpoints 8] [--examples 64] [--repeats 3] [--markdown PATH]

Random-init classifiers (same shapes as trained ones, same cost) are saved as
orbax checkpoints; each explainer's maps plus deletion until flip run on a
fixed random set of documents. Each mode runs once to compile, then is timed
`--repeats` times (the median is reported; on a shared CPU use 3 or more).
Modes: stacked with the backend's default group (parallel.default_group),
where that is not all checkpoints (a CPU) also stacked fully vmapped, and the
loop. Prints one JSON line per (explainer, mode) and the speed-ups over the loop.
"""

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np

from faithjax import io
from faithjax import parallel
from faithjax import provenance
from faithjax import reevaluate
from faithjax import train
from faithjax.data import encode
from faithjax.data import synthetic
from faithjax.models import classifier
from faithjax.models import contract

VMAPPED = 'stacked, all vmapped'


def modes(checkpoints):
  vmapped = {} if parallel.default_group(checkpoints) == checkpoints else {
      VMAPPED: functools.partial(reevaluate.reevaluate, group=checkpoints)}
  return {'stacked': reevaluate.reevaluate, **vmapped, 'loop': reevaluate.loop_reevaluate}


def parse_args(argv):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--checkpoints', type=int, default=8)
  parser.add_argument('--examples', type=int, default=64, help='test documents, 8..32 tokens')
  parser.add_argument('--emb_dim', type=int, default=32)
  parser.add_argument('--hidden', type=int, default=32)
  parser.add_argument('--ig_steps', type=int, default=8)
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--pool', type=int, default=64, help='deletion: examples per program')
  parser.add_argument('--repeats', type=int, default=1, help='timed calls per mode; the median is reported')
  parser.add_argument('--markdown', help='also write the results as a markdown report here')
  return parser.parse_args(argv)


def save_checkpoints(model, corpus, count, root):
  """`count` random-init classifiers laid out as train.train_classifier leaves them: root/<i>/best/0 and the
  record of their vocabulary."""
  for seed in range(count):
    train.save_best(os.path.join(root, str(seed)), contract.init(model, jax.random.key(seed)))
    train.record_vocabulary(os.path.join(root, str(seed)), corpus)


def timed(fn, repeats):
  """Median seconds of `repeats` calls after a first one (which compiles)."""
  fn()
  seconds = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    seconds.append(time.perf_counter() - start)
  return float(np.median(seconds))


def run(args, root):
  sizes = {'train': 64, 'valid': 8, 'test': args.examples}
  corpus, _ = encode.encode_corpus('synthetic', synthetic.generate(seed=0, sizes=sizes, min_len=8, max_len=32))
  model = classifier.Classifier(vocab_size=len(corpus.vocab), emb_dim=args.emb_dim, hidden=args.hidden,
                                att_hidden=args.hidden)
  save_checkpoints(model, corpus, args.checkpoints, root)
  rows = []
  for name, options in (('saliency', {}), ('integrated_gradients', {'steps': args.ig_steps})):
    seconds = {}
    for mode, fn in modes(args.checkpoints).items():
      seconds[mode] = timed(lambda: fn(os.path.join(root, '*'), corpus, model, {name: options},
                                       batch_size=args.batch_size, deletion_options={'pool': args.pool}),
                            args.repeats)
      rows.append({'explainer': name, 'mode': mode, 'checkpoints': args.checkpoints, 'examples': args.examples,
                   'seconds': round(seconds[mode], 3), 'load_average': round(os.getloadavg()[0], 1),
                   'examples_per_s': round(args.checkpoints * args.examples / seconds[mode], 1)})
      print(json.dumps(rows[-1]), flush=True)
    for mode, key in (('stacked', 'speedup_stacked_over_loop'), (VMAPPED, 'speedup_all_vmapped_over_loop')):
      if mode in seconds:
        rows.append({'explainer': name, key: round(seconds['loop'] / seconds[mode], 2)})
        print(json.dumps(rows[-1]), flush=True)
  return rows


def cpu_model():
  lscpu = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
  return next((line.split(':', 1)[1].strip() for line in lscpu.splitlines() if line.startswith('Model name')), '?')


def markdown(args, rows):
  timings = [r for r in rows if 'seconds' in r]
  lines = ['# Many checkpoints: stacked (one program) vs one at a time', '',
           f'Command: `python -m experiments.bench_checkpoints {" ".join(sys.argv[1:])}`  ',
           f'Date: {provenance.now()}  ', f'CPU: {cpu_model()} ({os.cpu_count()} cores visible), '
           f'jax devices: {provenance.device()}  ',
           'Versions: ' + ', '.join(f'{k} {v}' for k, v in provenance.versions().items()), '',
           f'{args.checkpoints} random-init classifiers (emb_dim={args.emb_dim}, hidden={args.hidden}, BiLSTM), '
           f'{args.examples} synthetic documents of 8..32 tokens; per explainer: its maps, then deletion until '
           f'flip (pad, pool {args.pool}). IG: {args.ig_steps} steps. Median seconds of {args.repeats} calls after '
           'a first one (which compiles), restoring the checkpoints included; load average (1 min) when each mode '
           'finished.', '',
           '| explainer | mode | seconds | checkpoint-examples/s | load average |', '|---|---|---:|---:|---:|']
  lines += [f'| {r["explainer"]} | {r["mode"]} | {r["seconds"]} | {r["examples_per_s"]} | {r["load_average"]} |'
            for r in timings]
  lines += [''] + [f'Speed-up over the loop, {r["explainer"]}, {mode}: **{r[key]}x**' for r in rows
                   for mode, key in (('stacked', 'speedup_stacked_over_loop'), (VMAPPED, 'speedup_all_vmapped_over_loop'))
                   if key in r]
  return '\n'.join(lines) + '\n'


def main(argv=None):
  args = parse_args(argv)
  with tempfile.TemporaryDirectory() as root:
    rows = run(args, root)
  if args.markdown:
    io.write_text(args.markdown, markdown(args, rows))


if __name__ == '__main__':
  main()
