"""IG at matched accuracy (issue 16 item 4, issue 19 item 3): the steps each quadrature rule needs.

  python -m experiments.quadrature --runs=runs/reproduce/cpu/sst,runs/reproduce/cpu/20news

For every trained workdir of --runs (one per corpus) and every rule of
explain.QUADRATURES (and Captum's riemann_trapezoid, CAPTUM_TRAPEZOID),
Integrated Gradients (the run's own target and model, faithjax's
`integrated_gradients`) is computed at each step count of --steps, in
increasing order, on a seeded sample of --subset test examples (the sample
pipeline.test_subset draws from the run's split_seed; all of them where the
split is smaller), and its completeness relative error
|sum_t IG_t - (f(x) - f(0))| / |f(x) - f(0)| (explain.split_completeness)
summarised by its median and 90th percentile. A rule stops at the first step
count whose p90 is <= --target, then bisects down to the fewest steps that
reach it (--refine); that count is the rule's cost at the target (every rule
costs one forward and backward pass per step). A rule whose p90 stops falling
(`stalled`) is reported with its smallest p90: the float32 floor, or a tail of
examples the counts tried do not resolve.

Writes <out>/quadrature_<corpus>.json and .md per run, after every rule (a
stopped run leaves the rules it finished, its `pending` ones named).
faithjax's `midpoint` and `gauss_legendre` are Captum's `riemann_middle` and
`gausslegendre` (tests/test_quadrature.py), so their counts are the ones
Captum's IntegratedGradients needs on the same model; Captum's
`riemann_trapezoid` is not faithjax's `trapezoid` (its weights sum to
(n - 1)/n) and is measured as a rule of its own.
"""

import dataclasses
import os
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
from faithjax import report

from experiments.evaluated_runs import Run

FLAGS = flags.FLAGS


def define_flags():
  """The command line's flags, defined only when it runs: absl refuses a flag name defined by two modules, so
  the tests can import this module beside the other experiments."""
  config_lib.define_compile_cache_flag()
  flags.DEFINE_list('runs', [], 'Trained workdirs, one per corpus (their train stage has run; read only).')
  flags.DEFINE_string('out', 'experiments/results', 'Where quadrature_<corpus>.{json,md} go.')
  flags.DEFINE_integer('subset', 300, 'Test examples (a seeded sample; all where the test split is smaller).')
  flags.DEFINE_float('target', 1e-3, 'The p90 of the completeness relative error a rule must reach.')
  flags.DEFINE_list('steps', [str(2 ** k) for k in range(1, 13)], 'Step counts tried, increasing (each rule '
                    'stops at the first reaching --target).')
  flags.DEFINE_list('quadratures', list(RULES), f'Rules measured: explain.QUADRATURES and {CAPTUM_TRAPEZOID} '
                    '(Captum\'s riemann_trapezoid, whose weights sum to (n - 1)/n).')
  flags.DEFINE_bool('refine', True, 'Bisect between the last grid count missing --target and the first reaching '
                    'it, so that the fewest steps are exact, not a grid count.')
  flags.DEFINE_float('floor_factor', FLOOR_FACTOR, 'A rule stops once its p90 improved less than this factor at '
                     'two step counts in a row (stalled); 0: never (each rule runs to --target or the last count).')
  flags.DEFINE_string('suffix', '', 'Appended to the output name: quadrature_<corpus><suffix>.{json,md}.')
  flags.DEFINE_bool('summary_only', False, 'Only rebuild quadrature_<corpus>.md from its JSON in --out.')


# A rule whose p90 improved less than this factor on its best so far at each of its last two step counts has
# stopped converging: its sweep stops there. Below ~1e-5 that is the float32 floor; on 20 News' long documents it
# is a tail of examples (p90 ~0.4) that no rule resolves at these counts. Halving per doubling (an O(1/n) rule) is
# not it, nor are the slow first doublings of errors of order 1 (20 News: x1.13, then x1.35).
FLOOR_FACTOR = 1.2


def stalled(p90s, factor: float = FLOOR_FACTOR) -> bool:
  """Whether the last two of a rule's p90s, in increasing steps, each improved < factor on the best before."""
  return len(p90s) >= 3 and all(min(p90s[:i]) < factor * p90s[i] for i in (-2, -1))


@dataclasses.dataclass(frozen=True)
class Point:
  """One rule at one step count: its completeness relative error over the examples."""
  quadrature: str
  steps: int
  median: float
  p90: float
  max: float


def summarise(quadrature: str, steps: int, relative: np.ndarray) -> Point:
  """relative: the completeness relative error of each example [n]."""
  return Point(quadrature, steps, float(np.median(relative)), float(np.quantile(relative, 0.9)),
               float(np.max(relative)))


def relative_errors(model, params, split, config: config_lib.RunConfig, quadrature: str, steps: int,
                    scale: float = 1., **options) -> np.ndarray:
  """IG with `quadrature` at `steps` over an EncodedSplit, as the pipeline runs it: relative error [len(split)].

  `scale` multiplies the maps first: a rule with the same nodes and scaled weights (Captum's riemann_trapezoid).
  `options`: IG's other options (guide_segments), over the run's.
  """
  # A fixed rule whatever the run's tolerance (the presets' 1e-3 would run the adaptive rule at every count).
  options = {**pipeline.explainer_options(config, 'integrated_gradients'), **options, 'steps': steps,
             'quadrature': quadrature, 'tolerance': 0.}
  fn = explain.make_explainer('integrated_gradients', model, **options)
  maps = explain.explain_split(fn, params, split, config.eval_batch_size, progress=f'{steps} steps')
  return explain.split_completeness(model, params, split, scale * maps, config.eval_batch_size, config.target)[1]


# Captum's riemann_trapezoid is not faithjax's trapezoid (bench.captum_weight_sum): measured as a rule of its own.
CAPTUM_TRAPEZOID = 'captum_riemann_trapezoid'
RULES = (*explain.QUADRATURES, CAPTUM_TRAPEZOID)


def rule_errors(model, params, split, config, rule, steps):
  """relative_errors of a rule of RULES: Captum's trapezoid as faithjax's with Captum's weights."""
  if rule == CAPTUM_TRAPEZOID:
    return relative_errors(model, params, split, config, 'trapezoid', steps,
                           bench.captum_weight_sum('riemann_trapezoid', steps))
  return relative_errors(model, params, split, config, rule, steps)


def sweep(errors_at, quadratures, grid, target, refine=True, after_rule=None, floor_factor=FLOOR_FACTOR):
  """Points of every rule at increasing steps, each rule stopped at its first p90 <= target (or its floor).

  errors_at(quadrature, steps) -> relative errors [n]. The trapezoids start at 2 steps (one node is no rule).
  With `refine`, the counts between the last grid count that missed the target and the first that reached it
  are bisected (the error falls with the steps between two grid counts), so the fewest steps come out exact;
  for every rule but CAPTUM_TRAPEZOID. after_rule(points) is called once each rule is done (partial records).
  """
  points = []

  def measured(quadrature, steps):
    point = summarise(quadrature, steps, errors_at(quadrature, steps))
    io.log(f'{quadrature} {steps} steps: completeness relative error median {point.median:.2e}, '
           f'p90 {point.p90:.2e}')
    points.append(point)
    return point

  for quadrature in io.scoped(quadratures):
    missed = None  # the most steps known to miss the target
    for steps in sorted(s for s in grid if s >= (2 if 'trapezoid' in quadrature else 1)):
      if measured(quadrature, steps).p90 <= target:
        # Not Captum's trapezoid: its error is about 1/n, so its count is about 1/target and bisecting it costs
        # dozens of evaluations at ~1/target steps.
        while refine and quadrature != CAPTUM_TRAPEZOID and missed is not None and steps - missed > 1:
          middle = (missed + steps) // 2
          if measured(quadrature, middle).p90 <= target:
            steps = middle
          else:
            missed = middle
        break
      missed = steps
      if floor_factor and stalled([p.p90 for p in points if p.quadrature == quadrature], floor_factor):
        break
    if after_rule:
      after_rule(points)
  return points


def cheapest(points, quadrature, target):
  """The rule's point with the fewest steps whose p90 <= target, or None."""
  return min((p for p in points if p.quadrature == quadrature and p.p90 <= target), key=lambda p: p.steps,
             default=None)


def floor(points, quadrature):
  """(smallest p90, whether the rule had stopped converging) of a rule that never reached the target."""
  p90s = [p.p90 for p in sorted(points, key=lambda p: p.steps) if p.quadrature == quadrature]
  return min(p90s), stalled(p90s)


def verdicts(points, quadratures, target):
  """{rule: {'steps', 'p90', 'median'} at its cheapest, or {'steps': None, 'best_p90', 'floor'}}."""
  out = {}
  for quadrature in quadratures:
    best = cheapest(points, quadrature, target)
    if best:
      out[quadrature] = {'steps': best.steps, 'p90': best.p90, 'median': best.median}
    else:
      best_p90, flat = floor(points, quadrature)
      out[quadrature] = {'steps': None, 'best_p90': best_p90, 'floor': flat}
  return out


def recommended(verdict):
  """The rule reaching the target in the fewest steps (ties: the order of explain.QUADRATURES), or None."""
  reached = [q for q in explain.QUADRATURES if q in verdict and verdict[q]['steps']]
  return min(reached, key=lambda q: verdict[q]['steps'], default=None)


def load_trained(root):
  """The Run of a workdir whose train stage has finished; a one-line FaithjaxError otherwise."""
  if not os.path.exists(os.path.join(root, 'stages', 'train.json')):
    raise FaithjaxError(f'{root!r} has no trained classifier (no stages/train.json); run its train stage first')
  return Run(root)


def measure(root, subset, quadratures, grid, target, refine=True, write=None, floor_factor=FLOOR_FACTOR):
  """The record of one trained workdir: every point of the sweep and each rule's verdict.

  write(record), if given, receives the record so far after each rule (its `pending` rules not yet measured).
  """
  run = load_trained(root)
  config = run.config
  if config.detach_attention:
    raise FaithjaxError(f'{root!r} detaches attention: completeness holds for the true gradient only')
  indices = pipeline.test_subset(dataclasses.replace(config, test_subset=subset), run.test)
  split = run.test.subset(indices)
  model, params = run.classifier()
  io.log(f'{config.corpus}: {len(split)} of {len(run.test)} test examples, target {config.target}, '
         f'{", ".join(quadratures)} at up to {max(grid)} steps')

  def record_of(points):
    done = [q for q in quadratures if any(p.quadrature == q for p in points)]
    verdict = verdicts(points, done, target)
    return {'corpus': config.corpus, 'workdir': root, 'arguments': sys.argv[1:], 'target': target,
            'examples': len(split), 'test_size': len(run.test), 'subset_seed': [config.split_seed, 7],
            'grid': sorted(grid), 'refined': refine, 'floor_factor': floor_factor, 'explained': config.target,
            'model': config.model,
            'config': config.fingerprint(), 'measured': provenance.now(), 'provenance': provenance.record(),
            'points': [dataclasses.asdict(p) for p in points], 'verdict': verdict,
            'recommended': recommended(verdict), 'pending': [q for q in quadratures if q not in done]}

  with io.progress_scope(config.corpus):
    points = sweep(lambda q, s: rule_errors(model, params, split, config, q, s), quadratures, grid, target, refine,
                   after_rule=write and (lambda points: write(record_of(points))), floor_factor=floor_factor)
  return record_of(points)


def verdict_cell(verdict):
  if verdict['steps']:
    return f"{verdict['steps']}", f"{verdict['p90']:.2e}"
  floor_note = 'stopped falling' if verdict['floor'] else 'still falling at the last count'
  return 'not reached', f"best {verdict['best_p90']:.2e} ({floor_note})"


def render(record):
  prov = record['provenance']
  settings = record['config']
  lines = [f'# IG quadrature at matched accuracy ({record["corpus"]})', '',
           provenance.measured_text('python -m experiments.quadrature ' + ' '.join(record['arguments']),
                                    record['measured'], prov), '',
           f'Run: {record["workdir"]} ({settings["model"]}, emb {settings["emb_dim"]}, hidden {settings["hidden"]}, '
           f'bidirectional {settings["bidirectional"]}, seed {settings["seed"]}); IG of the predicted class\'s '
           f'`{record["explained"]}`, zero baseline. {record["examples"]} of {record["test_size"]} test examples '
           f'(seeded sample, numpy default_rng({record["subset_seed"]})). Completeness relative error: '
           '|sum_t IG_t - (f(x) - f(0))| / |f(x) - f(0)| per example. Each rule stops at the first step count of '
           f'{record["grid"]} whose p90 is <= {record["target"]:g}'
           + ('; the counts between it and the last that missed are then bisected, so its count is the fewest '
              'that reaches the target' if record.get('refined') else '') + '.'
           + (' A rule also stops once its p90 improved less than '
              + (f'{record["floor_factor"]:g}x' if 'floor_factor' in record else 'a set factor')
              + ' on its best at two counts in a row ("stopped falling": the float32 floor, or a tail of examples '
              'that needs far more steps; the points below tell which).' if record.get('floor_factor', 1) else ''),
           '',
           f'`{CAPTUM_TRAPEZOID}` is Captum\'s `riemann_trapezoid`: the trapezoid\'s nodes with weights 1/n, '
           'halved at the ends, which sum to (n - 1)/n, so its attributions are faithjax\'s trapezoid ones times '
           '(n - 1)/n and its completeness error is about 1/n. Captum\'s `riemann_middle` and `gausslegendre` are '
           'faithjax\'s `midpoint` and `gauss_legendre` (same nodes and weights; tests/test_quadrature.py), so '
           'their counts are the ones Captum needs. Its own count is a grid count (not bisected: the fewest is about '
           '1/target, at the cost of dozens of passes at that many steps).', '',
           *([f'**Partial**: not yet measured: {", ".join(record["pending"])} (the run was stopped).', '']
             if record.get('pending') else []),
           '## Steps each rule needs', '',
           report.markdown_table(['rule', f'steps for p90 <= {record["target"]:g}', 'p90 there'],
                                 [[q, *verdict_cell(record['verdict'][q])] for q in RULES if q in record['verdict']]),
           '',
           f'Cheapest: **{record["recommended"] or "none reaches the target"}**'
           + (f' at {record["verdict"][record["recommended"]]["steps"]} steps' if record['recommended'] else '')
           + ' (every rule costs one forward and backward pass per step).', '',
           '## Every point', '',
           report.markdown_table(['rule', 'steps', 'median', 'p90', 'max'],
                                 [[p['quadrature'], p['steps'], f"{p['median']:.2e}", f"{p['p90']:.2e}",
                                   f"{p['max']:.2e}"]
                                  for p in sorted(record['points'], key=lambda p: (RULES.index(p['quadrature']),
                                                                                   p['steps']))])]
  return '\n'.join(lines) + '\n'


def write(record):
  """<out>/quadrature_<corpus>.json and .md of a record, complete or partial."""
  stem = os.path.join(FLAGS.out, f'quadrature_{record["corpus"]}{FLAGS.suffix}')
  os.makedirs(FLAGS.out, exist_ok=True)
  io.write_json(stem + '.json', record)
  io.write_text(stem + '.md', render(io.read_json(stem + '.json')))


def main(argv):
  del argv  # flags only
  if not FLAGS.runs:
    raise FaithjaxError('pass --runs: trained workdirs, one per corpus')
  if unknown := set(FLAGS.quadratures) - set(RULES):
    raise FaithjaxError(f'--quadratures {sorted(unknown)}: not among {RULES}')
  grid = [int(s) for s in FLAGS.steps]
  if min(grid) < 1:
    raise FaithjaxError(f'--steps must be >= 1; got {grid}')
  config_lib.enable_compile_cache(FLAGS.compile_cache)
  for root in FLAGS.runs:
    if FLAGS.summary_only:
      corpus = io.read_json(os.path.join(root, 'config.json'))['corpus']
      stem = os.path.join(FLAGS.out, f'quadrature_{corpus}{FLAGS.suffix}')
      io.write_text(stem + '.md', render(io.read_json(stem + '.json')))
    else:
      record = measure(root, FLAGS.subset, FLAGS.quadratures, grid, FLAGS.target, FLAGS.refine, write,
                       FLAGS.floor_factor)
      stem = os.path.join(FLAGS.out, f'quadrature_{record["corpus"]}{FLAGS.suffix}')
    print(f'wrote {stem}.md')


if __name__ == '__main__':
  logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
  define_flags()
  cli.run(main)
