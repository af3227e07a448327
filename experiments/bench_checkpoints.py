"""N checkpoints re-evaluated stacked (one vmapped program) vs one at a time.

  python -m experiments.bench_checkpoints [--checkpoints 8] [--examples 64] [--markdown PATH]

Random-init classifiers (same shapes as trained ones, same cost) are saved as
orbax checkpoints; each explainer's maps plus deletion until flip run on a
fixed random set of documents. Each mode runs once to compile, then is timed.
Prints one JSON line per (explainer, mode) and the stacked/loop speed-up.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import jax

from faithjax import io
from faithjax import provenance
from faithjax import reevaluate
from faithjax import train
from faithjax.data import encode
from faithjax.data import synthetic
from faithjax.models import classifier
from faithjax.models import contract

MODES = {'stacked': reevaluate.reevaluate, 'loop': reevaluate.loop_reevaluate}


def parse_args(argv):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--checkpoints', type=int, default=8)
  parser.add_argument('--examples', type=int, default=64, help='test documents, 8..32 tokens')
  parser.add_argument('--emb_dim', type=int, default=32)
  parser.add_argument('--hidden', type=int, default=32)
  parser.add_argument('--ig_steps', type=int, default=8)
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--pool', type=int, default=64, help='deletion: examples per program')
  parser.add_argument('--markdown', help='also write the results as a markdown report here')
  return parser.parse_args(argv)


def save_checkpoints(model, count, root):
  """`count` random-init classifiers laid out as train.fit leaves them: root/<i>/best/0."""
  for seed in range(count):
    train.save_best(os.path.join(root, str(seed)), contract.init(model, jax.random.key(seed)))


def timed(fn):
  """Seconds of a second call (the first one compiles)."""
  fn()
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def run(args, root):
  sizes = {'train': 64, 'valid': 8, 'test': args.examples}
  corpus, _ = encode.encode_corpus('synthetic', synthetic.generate(seed=0, sizes=sizes, min_len=8, max_len=32))
  model = classifier.Classifier(vocab_size=len(corpus.vocab), emb_dim=args.emb_dim, hidden=args.hidden,
                                att_hidden=args.hidden)
  save_checkpoints(model, args.checkpoints, root)
  rows = []
  for name, options in (('saliency', {}), ('integrated_gradients', {'steps': args.ig_steps})):
    for mode, fn in MODES.items():
      seconds = timed(lambda: fn(os.path.join(root, '*'), corpus, model, {name: options},
                                 batch_size=args.batch_size, deletion_options={'pool': args.pool}))
      rows.append({'explainer': name, 'mode': mode, 'checkpoints': args.checkpoints, 'examples': args.examples,
                   'seconds': round(seconds, 3),
                   'examples_per_s': round(args.checkpoints * args.examples / seconds, 1)})
      print(json.dumps(rows[-1]), flush=True)
    speedup = rows[-1]['seconds'] / rows[-2]['seconds']
    rows.append({'explainer': name, 'speedup_stacked_over_loop': round(speedup, 2)})
    print(json.dumps(rows[-1]), flush=True)
  return rows


def cpu_model():
  lscpu = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
  return next((line.split(':', 1)[1].strip() for line in lscpu.splitlines() if line.startswith('Model name')), '?')


def markdown(args, rows):
  timings = [r for r in rows if 'mode' in r]
  lines = ['# Many checkpoints: stacked + vmapped vs one at a time', '',
           f'Command: `python -m experiments.bench_checkpoints {" ".join(sys.argv[1:])}`  ',
           f'Date: {provenance.now()}  ', f'CPU: {cpu_model()} ({os.cpu_count()} cores visible), '
           f'jax devices: {provenance.device()}  ',
           'Versions: ' + ', '.join(f'{k} {v}' for k, v in provenance.versions().items()), '',
           f'{args.checkpoints} random-init classifiers (emb_dim={args.emb_dim}, hidden={args.hidden}, BiLSTM), '
           f'{args.examples} synthetic documents of 8..32 tokens; per explainer: its maps, then deletion until '
           f'flip (pad, pool {args.pool}). IG: {args.ig_steps} steps. Seconds of the second call (the first compiles), '
           'restoring the checkpoints included.', '',
           '| explainer | mode | seconds | checkpoint-examples/s |', '|---|---|---:|---:|']
  lines += [f'| {r["explainer"]} | {r["mode"]} | {r["seconds"]} | {r["examples_per_s"]} |' for r in timings]
  lines += [''] + [f'Speed-up stacked over loop, {r["explainer"]}: **{r["speedup_stacked_over_loop"]}x**'
                   for r in rows if 'speedup_stacked_over_loop' in r]
  return '\n'.join(lines) + '\n'


def main(argv=None):
  args = parse_args(argv)
  with tempfile.TemporaryDirectory() as root:
    rows = run(args, root)
  if args.markdown:
    io.write_text(args.markdown, markdown(args, rows))


if __name__ == '__main__':
  main()
