"""IG's time to a tolerance (issue 35 item 3): faithjax's adaptive rule, its best fixed rule, and Captum.

  python -m experiments.time_to_tolerance --runs=/tmp/sst_cpu [--tolerance=1e-3] [--subset=300]

For every trained workdir of --runs, on a seeded sample of --subset test
documents (pipeline.test_subset's), each row gives examples/s and the
completeness relative error |sum_t IG_t - (f(x) - f(0))| / |f(x) - f(0)| per
document (median, p90, max):
- faithjax adaptive: explain.explain_split_to_tolerance at --tolerance (an
  example stops when its map's estimated L1 error and its completeness error
  are both <= tolerance x |f(x) - f(0)|), --max_evaluations, --kronrod_nodes;
  also the gradient evaluations per document;
- faithjax fixed: Gauss-Legendre at the fewest nodes that `meet` the target
  on these documents (p90 <= tolerance and every one <= 10 x tolerance,
  issue 35's), found by doubling, then bisection, up to --max_evaluations;
- faithjax output_guided (issue 35 item 2), for each --output_guided count of
  guide segments: the fewest nodes that meet the target, found as for
  Gauss-Legendre; its evaluations per document are the nodes plus the
  pre-pass's forward passes (one per segment, each counted as a whole
  gradient evaluation though it costs about a third of one);
- Captum at its default, 50 Gauss-Legendre steps, and at that fewest count.
  Captum's gausslegendre has faithjax's nodes and weights
  (tests/test_quadrature.py), so its errors are the ones measured here; its
  examples/s is the peer's (bench.PEER, Captum's IntegratedGradients with
  internal_batch_size = batch x steps) at the run's shape (vocabulary,
  embedding, hidden, direction), batches of --batch_size documents of the
  sample's mean length (fewer where batch x steps x length would pass
  PEER_TOKENS), random weights (the cost does not depend on them).
faithjax rows are timed as bench.best_seconds (a first, compiling call not
timed; best of --repeats), over the sample in length buckets of --batch_size.
The 1-minute load average is recorded beside every row.

Writes <out>/<name>_<corpus>.{json,md} (--name: time_to_tolerance).
"""

import dataclasses
import json
import os
import subprocess
import sys

from absl import flags
from absl import logging
import numpy as np

from faithjax import FaithjaxError
from faithjax import bench
from faithjax import cli
from faithjax import config as config_lib
from faithjax import explain
from faithjax import io
from faithjax import pipeline
from faithjax import provenance

from experiments import quadrature

FLAGS = flags.FLAGS
CAPTUM_DEFAULT_STEPS = 50
PEER_TOKENS = 2**18  # token positions (documents x steps x length) in one batch of the peer's IG: about 3 GB
SLACK = 10  # every document's error within SLACK x tolerance, besides the p90 within it


def define_flags():
  config_lib.define_compile_cache_flag()
  flags.DEFINE_list('runs', [], 'Trained workdirs, one per corpus (their train stage has run; read only).')
  flags.DEFINE_string('out', 'experiments/results', 'Where time_to_tolerance_<corpus>.{json,md} go.')
  flags.DEFINE_integer('subset', 300, 'Test documents (a seeded sample; all where the test split is smaller).')
  flags.DEFINE_float('tolerance', 1e-3, 'The relative tolerance of the adaptive rule and the fixed rules\' target.')
  flags.DEFINE_integer('max_evaluations', 512, 'The adaptive rule\'s cap per document, and the fixed rules\' largest '
                       'node count tried.')
  flags.DEFINE_integer('kronrod_nodes', 15, 'The adaptive rule\'s Gauss-Kronrod pair: 7 or 15 points per panel.')
  flags.DEFINE_integer('batch_size', 256, 'Documents per batch, both sides (faithjax\'s adaptive rule refines '
                       'explain.POOL_PER_SLOT times fewer at a time, each slot refilled from the batch).')
  flags.DEFINE_integer('fewest_nodes', 0, 'The fewest Gauss-Legendre nodes meeting the target, if known from an '
                       'earlier run on the same documents (0: search them).')
  flags.DEFINE_integer('search_from', 1, 'The fewest-nodes search starts here (doubling up to --max_evaluations, '
                       'bisecting down if it meets at once): e.g. 256 where fewer fail (20 News).')
  flags.DEFINE_integer('repeats', 2, 'Timed calls per faithjax row (the best is kept).')
  flags.DEFINE_bool('peer', True, 'Time Captum (needs torch and captum: pip install -e .[bench]).')
  flags.DEFINE_list('output_guided', [], 'Guide segment counts of the output_guided rule measured (none: not '
                    'measured).')
  flags.DEFINE_string('name', 'time_to_tolerance', 'The output files\' stem: <name>_<corpus>.{json,md}.')


@dataclasses.dataclass(frozen=True)
class Row:
  """One method: its speed, its completeness relative errors' summary and, if adaptive, its evaluations."""
  method: str
  steps: str  # 'adaptive' or the fixed node count
  examples_per_s: float
  median: float
  p90: float
  max: float
  load: float  # 1-minute load average when the row was measured
  evaluations: dict | None = None  # median, mean, max gradient evaluations per document


def meets(relative: np.ndarray, tolerance: float) -> bool:
  """The target: p90 of the relative errors <= tolerance and every one <= SLACK x tolerance."""
  return bool(np.quantile(relative, 0.9) <= tolerance and relative.max() <= SLACK * tolerance)


def fewest_nodes(errors_at, tolerance: float, cap: int, least: int = 1, start: int | None = None) -> int | None:
  """The fewest node counts least <= n <= cap whose errors_at(n) `meets` the tolerance: doubling from `start`
  (default least), then bisection; a `start` that meets at once is a guess, so the bisection goes down to least."""
  start = start or least
  low, high = least - 1, start
  while not meets(errors_at(high), tolerance):
    if high >= cap:
      return None
    low, high = high, min(2 * high, cap)
  while high - low > 1:
    mid = (low + high) // 2
    low, high = (low, mid) if meets(errors_at(mid), tolerance) else (mid, high)
  return high


def summary(method, steps, examples_per_s, relative, evaluations=None) -> Row:
  point = quadrature.summarise(method, 0, relative)
  used = evaluations is not None and {'median': float(np.median(evaluations)), 'mean': float(np.mean(evaluations)),
                                      'max': int(np.max(evaluations))}
  return Row(method, str(steps), examples_per_s, point.median, point.p90, point.max, os.getloadavg()[0],
             used or None)


def timed(run, n):
  """examples/s of run() over n documents (bench.best_seconds: compiled first, best of --repeats)."""
  return n / bench.best_seconds(run, FLAGS.repeats)


def captum_examples_per_s(config, vocab: int, seq_len: int, steps: int) -> float | None:
  """The peer's Captum IG examples/s at `steps` Gauss-Legendre steps and the run's model shape; None without it."""
  args = bench.parse_args(['--vocab', str(vocab), '--emb', str(config.emb_dim), '--hidden', str(config.hidden),
                           '--steps', str(steps), *(['--bidirectional'] if config.bidirectional else [])])
  # The peer runs all steps of a batch at once (internal_batch_size = batch x steps): at 256 documents of 120
  # tokens and 50 steps it held 17.5 GB and was killed for memory, so its batch keeps PEER_TOKENS token positions.
  batch = max(1, min(FLAGS.batch_size, PEER_TOKENS // (steps * seq_len)))
  result = subprocess.run(bench.peer_command(args, seq_len, batch), capture_output=True, text=True, check=False)
  for line in result.stdout.splitlines():
    record = json.loads(line)
    if record.get('impl') == 'captum' and record.get('explainer') == 'integrated_gradients':
      return record['examples_per_s']
  io.log(f'the peer gave no Captum IG line (exit {result.returncode}; -9: killed, e.g. for memory): '
         f'{result.stderr[-500:] or result.stdout[-500:]}')
  return None


def measure(root):
  """The rows of one trained workdir."""
  run = quadrature.load_trained(root)
  config = run.config
  if config.detach_attention:
    raise FaithjaxError(f'{root!r} detaches attention: completeness holds for the true gradient only')
  split = run.test.subset(pipeline.test_subset(dataclasses.replace(config, test_subset=FLAGS.subset), run.test))
  model, params = run.classifier()
  batch, n, tolerance = FLAGS.batch_size, len(split), FLAGS.tolerance
  options = dict(target=config.target, tolerance=tolerance, max_evaluations=FLAGS.max_evaluations,
                 kronrod_nodes=FLAGS.kronrod_nodes)
  io.log(f'{config.corpus}: {n} of {len(run.test)} test documents, tolerance {tolerance}')
  adaptive = lambda: explain.explain_split_to_tolerance(model, params, split, batch, **options)
  speed = timed(lambda: adaptive()[0], n)
  _, evaluations, relative = adaptive()
  rows = [summary('faithjax adaptive', 'adaptive', speed, relative, evaluations)]

  errors = {}

  def errors_at(steps):
    if steps not in errors:
      errors[steps] = quadrature.relative_errors(model, params, split, config, 'gauss_legendre', steps)
    return errors[steps]

  fewest = FLAGS.fewest_nodes or fewest_nodes(errors_at, tolerance, FLAGS.max_evaluations, start=FLAGS.search_from)
  # Where no fixed rule meets the target, the largest one tried is timed: what the cap buys a fixed rule.
  for steps in sorted({fewest or max(errors), CAPTUM_DEFAULT_STEPS}):
    fixed = explain.make_explainer('integrated_gradients', model, target=config.target, steps=steps,
                                   quadrature='gauss_legendre')
    speed = timed(lambda: explain.explain_split(fixed, params, split, batch), n)
    rows.append(summary('faithjax gauss_legendre', steps, speed, errors_at(steps)))
    if FLAGS.peer:
      peer_speed = captum_examples_per_s(config, len(run.corpus.vocab), int(round(split.lengths.mean())), steps)
      rows.append(summary('captum gausslegendre', steps, peer_speed or float('nan'), errors_at(steps)))
  for segments in map(int, FLAGS.output_guided):
    rows.append(output_guided_row(model, params, split, config, segments))
  return {'corpus': config.corpus, 'workdir': root, 'arguments': sys.argv[1:], 'examples': n,
          'test_size': len(run.test), 'tolerance': tolerance, 'slack': SLACK, 'fewest_fixed_nodes': fewest,
          'fixed_tried': {str(s): {'p90': float(np.quantile(e, 0.9)), 'max': float(e.max())}
                          for s, e in sorted(errors.items())},
          'explained': config.target, 'config': config.fingerprint(), 'measured': provenance.now(),
          'provenance': provenance.record(), 'cpu_count': os.cpu_count(), 'rows': [dataclasses.asdict(r) for r in rows]}


def output_guided_row(model, params, split, config, segments: int) -> Row:
  """The output_guided rule with `segments` guide segments at the fewest nodes meeting the target (or the cap)."""
  guided = {'quadrature': explain.OUTPUT_GUIDED, 'guide_segments': segments}
  errors = {}

  def errors_at(steps):
    if steps not in errors:
      errors[steps] = quadrature.relative_errors(model, params, split, config, steps=steps, **guided)
    return errors[steps]

  steps = fewest_nodes(errors_at, FLAGS.tolerance, FLAGS.max_evaluations, least=segments) or FLAGS.max_evaluations
  fn = explain.make_explainer('integrated_gradients', model, target=config.target, steps=steps, **guided)
  speed = timed(lambda: explain.explain_split(fn, params, split, FLAGS.batch_size), len(split))
  tried = ', '.join(f'{s}: p90 {np.quantile(e, 0.9):.1e}, max {e.max():.1e}' for s, e in sorted(errors.items()))
  io.log(f'output_guided, {segments} segments: {steps} nodes ({tried})')
  return summary(f'faithjax output_guided, {segments} segments', f'{steps} + {segments}', speed, errors_at(steps),
                 np.full(len(split), steps + segments))


def render(record):
  lines = [f'# IG time to tolerance ({record["corpus"]})', '',
           f'Command: `python -m experiments.time_to_tolerance {" ".join(record["arguments"])}`; measured '
           f'{record["measured"]}, {record["cpu_count"]} CPUs.', '',
           f'{record["examples"]} of {record["test_size"]} test documents; IG of the predicted class\'s '
           f'`{record["explained"]}`, zero baseline. Errors: completeness relative error per document. Target '
           f'{record["tolerance"]:g}: p90 within it and every document within {record["slack"]}x; the fewest '
           f'Gauss-Legendre nodes meeting it: {record["fewest_fixed_nodes"] or "none up to the cap"}.', '',
           *([f'Gauss-Legendre node counts tried (p90 / max error): ' + ', '.join(
               f'{s}: {e["p90"]:.1e} / {e["max"]:.1e}' for s, e in record['fixed_tried'].items()) + '.', '']
             if record.get('fixed_tried') else []),
           '| method | steps | examples/s | median | p90 | max | evaluations (median / mean / max) | load |',
           '|---|---|---:|---:|---:|---:|---|---:|']
  for row in record['rows']:
    used = row['evaluations'] and '{median:g} / {mean:.1f} / {max}'.format(**row['evaluations'])
    lines.append(f'| {row["method"]} | {row["steps"]} | {row["examples_per_s"]:.1f} | {row["median"]:.2e} | '
                 f'{row["p90"]:.2e} | {row["max"]:.2e} | {used or ""} | {row["load"]:.1f} |')
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv  # flags only
  if not FLAGS.runs:
    raise FaithjaxError('pass --runs: trained workdirs, one per corpus')
  config_lib.enable_compile_cache(FLAGS.compile_cache)
  for root in FLAGS.runs:
    record = measure(root)
    stem = os.path.join(FLAGS.out, f'{FLAGS.name}_{record["corpus"]}')
    os.makedirs(FLAGS.out, exist_ok=True)
    io.write_json(stem + '.json', record)
    io.write_text(stem + '.md', render(record))
    print(f'wrote {stem}.md')


if __name__ == '__main__':
  logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
  define_flags()
  cli.run(main)
