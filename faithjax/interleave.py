"""The interleaved benchmark protocol: faithjax and its peer alternate in one command.

A shared machine slows two programs by different amounts, so throughputs
measured at different moments give ratios that mean little (issue 19: load 4-8
inflated faithjax / Captum ratios by up to 2x). Here every round runs each
benchmark case on both sides back to back, the side that goes first alternating
from round to round, records the 1-minute load average before each case, and a
ratio is reported as its median with the min-max over rounds. A table is only
valid when no round ran with a load average above the core count.

Pure plumbing: the sides are callables yielding result dicts in the schema of
../shared/bench/peer_torch.py, so tests drive it with stub runners.
"""

from collections.abc import Callable, Iterable, Iterator
import os
import time

import numpy as np

# What the peer's Captum runs with its --extra flag (Occlusion, NoiseTunnel SmoothGrad, GradientShap, Lime,
# KernelShap), under faithjax's names for the same explainers.
PEER_EXTRA = ('occlusion', 'smoothgrad', 'gradient_shap', 'lime', 'kernel_shap')
# (faithjax explainer, peer impl) pairs compared; the peer prints the same explainer names.
PAIRS = (('saliency', 'captum'), ('input_x_gradient', 'captum'), ('integrated_gradients', 'captum'),
         ('integrated_gradients', 'torch_batched'), ('eraser_deletion', 'torch_loop'),
         *((name, 'captum') for name in PEER_EXTRA))
Runner = Callable[[], Iterable[dict]]


def cores() -> int:
  """CPUs this process may run on (what the load average is compared with)."""
  return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()


def too_loaded(load: float, n_cores: int) -> bool:
  """Whether a run at this 1-minute load average is too busy to give honest ratios."""
  return load > n_cores


def side_order(sides: Iterable[str], round_: int) -> list[str]:
  """Which side goes first alternates: in the given order in even rounds, reversed in odd ones."""
  sides = list(sides)
  return sides if round_ % 2 == 0 else sides[::-1]


def settled_load(loadavg: Callable[[], tuple[float, ...]], n_cores: int, patience: float,
                 wait: Callable[[float], None] = time.sleep, step: float = 5.) -> float:
  """The 1-minute load average, read again every `step` seconds for up to `patience` seconds while it is
  above the core count: right after a case the benchmark's own threads keep the average near the core
  count for a while, which is not load from other programs (it decays by about 8% in 5 s)."""
  load, waited = loadavg()[0], 0.
  while too_loaded(load, n_cores) and waited < patience:
    wait(step)
    waited += step
    load = loadavg()[0]
  return load


def run_rounds(cases: dict[str, dict[str, Runner]], rounds: int,
               loadavg: Callable[[], tuple[float, ...]] | None = None, patience: float = 0.,
               wait: Callable[[float], None] = time.sleep) -> Iterator[dict]:
  """Yields every result of every case and side, tagged with case, side, round and load.

  cases: {case name: {side: runner}}, each runner() yielding result dicts
  (`impl`, `explainer`, `examples_per_s`, ...), each side at its best batch;
  the sides run in their dict order in even rounds, reversed in odd ones.
  The load is read before each case of each round (loadavg, default os.getloadavg),
  after waiting up to `patience` seconds for it to settle (`settled_load`).
  """
  loadavg = loadavg or os.getloadavg
  for round_ in range(rounds):
    for case, sides in cases.items():
      load = round(settled_load(loadavg, cores(), patience, wait), 2)
      for side in side_order(sides, round_):
        for result in sides[side]():
          yield dict(result, case=case, side=side, round=round_, load=load)


def ratios(records: Iterable[dict]) -> dict[tuple[str, str, str], dict]:
  """{(case, explainer, peer impl): per-round ratio summary} from run_rounds' records.

  Each summary has the round-by-round `ratios` (faithjax / peer examples/s, in
  round order), their `median`, `min`, `max`, and both sides' median examples/s.
  Rounds missing either side are left out.
  """
  by_round = {}
  for r in records:
    if 'examples_per_s' in r:
      by_round[r['case'], r['impl'], r['explainer'], r['round']] = r['examples_per_s']
  summaries = {}
  for case in dict.fromkeys(k[0] for k in by_round):  # in the order run
    for explainer, peer in PAIRS:
      rounds = sorted(k[3] for k in by_round if k[:3] == (case, 'faithjax', explainer)
                      and (case, peer, explainer, k[3]) in by_round)
      if not rounds:
        continue
      ours = np.array([by_round[case, 'faithjax', explainer, r] for r in rounds])
      theirs = np.array([by_round[case, peer, explainer, r] for r in rounds])
      ratio = ours / theirs
      summaries[case, explainer, peer] = dict(
          ratios=ratio.tolist(), median=float(np.median(ratio)), min=float(ratio.min()), max=float(ratio.max()),
          faithjax_median=float(np.median(ours)), peer_median=float(np.median(theirs)), rounds=len(rounds))
  return summaries


def loads(records: Iterable[dict]) -> list[float]:
  """The load averages read, one per case and round, in order."""
  seen = {}
  for r in records:
    seen.setdefault((r['round'], r['case']), r['load'])
  return list(seen.values())


def table(records: list[dict], n_cores: int) -> str:
  """Markdown: the validity line, then one row per case, explainer and peer with the ratio's spread."""
  measured = loads(records)
  worst = max(measured, default=0.0)
  if too_loaded(worst, n_cores):
    validity = (f'**NOT VALID: the load average reached {worst:.2f} on {n_cores} cores** '
                '(over the core count; the ratios are not honest). Rerun on an idle machine.')
  else:
    validity = f'Valid: load average at most {worst:.2f} on {n_cores} cores in every round.'
  lines = [validity, '',
           '| case | explainer | peer | faithjax ex/s | peer ex/s | faithjax / peer (median) | min-max | rounds |',
           '|---|---|---|---|---|---|---|---|']
  for (case, explainer, peer), s in ratios(records).items():
    lines.append(f"| {case} | {explainer} | {peer} | {s['faithjax_median']:,.1f} | {s['peer_median']:,.1f} | "
                 f"{s['median']:.2f}x | {s['min']:.2f}-{s['max']:.2f}x | {s['rounds']} |")
  lines += ['', 'Load average (1 min) before each case, per round: '
            + ', '.join(f'{x:.2f}' for x in measured) + '.']
  return '\n'.join(lines)
