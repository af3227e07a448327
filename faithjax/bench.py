"""Explainer throughput, as JSON lines in the schema of ../shared/bench/peer_torch.py.

Random weights and random token ids (throughput does not depend on training),
the peer's shapes (emb 300, hidden 128, vocab 20000). For each explainer every
batch size in --batches is timed and the best is reported, the others under
`tried`. Run it beside the peer, on the same machine, in the same session:

    python -m faithjax.bench --n 512 --seq_len 256 --batches 64,256 --steps 50 [--bidirectional]

`eraser_deletion` is the peer's `eraser_loop`: a random ranking, PAD masking,
until the predicted label flips, on the first --eraser_n examples; here all of
them in one vectorised program (deletion.first_flips, batch = its slots).
`--dtype=bfloat16` casts the parameters (so the activations) to bf16 and adds
the maps' agreement with float32 on the same inputs. `--memory` reports bytes
instead of throughput (see `memory`).

`--interleave` is the honest side-by-side protocol (faithjax.interleave): for
each model and length of INTERLEAVE_SHAPES, faithjax (in this process) and the
peer (a subprocess per batch size) alternate for --rounds rounds, each at its
best batch, and the median ratio with its min-max and the load average go to
--table and --jsonl. It refuses to start on a machine busier than its cores.

The counterparts of the peer's --extra run on request:

    python -m faithjax.bench --explainers occlusion,smoothgrad,gradient_shap,lime,kernel_shap  # peer's --extra
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Any, Callable, Iterable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from faithjax import explain
from faithjax import interleave
from faithjax import io
from faithjax.data.text import PAD_ID
from faithjax.faithfulness import deletion
from faithjax.models import classifier
from faithjax.models import contract

EXPLAINERS = ('saliency', 'input_x_gradient', 'integrated_gradients')
DELETION = 'eraser_deletion'  # the peer's name for deletion until flip
# The counterparts of the peer's --extra, with its settings: zero-embedding removal, sigma 0.1, baselines from
# the batch.
EXTRA = interleave.PEER_EXTRA


def best_seconds(run: Callable[[], Any], repeats: int) -> float:
  """Best wall time of `repeats` calls of run(); a first, compiling call is not timed."""
  jax.block_until_ready(run())
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(run())
    times.append(time.perf_counter() - start)
  return min(times)


def as_batches(ids: np.ndarray, batch: int) -> list[jax.Array]:
  """[n, seq] -> device batches [batch, seq]; the last one filled with PAD rows (still computed)."""
  rows = -(-len(ids) // batch) * batch
  ids = np.pad(ids, ((0, rows - len(ids)), (0, 0)), constant_values=PAD_ID)
  return [jax.device_put(ids[i:i + batch]) for i in range(0, rows, batch)]


# Rows of one IG chunk (steps x examples): on CPU bigger chunks gained nothing in
# our runs and only cost memory; an accelerator wants the biggest matmuls that fit.
DEFAULT_MAX_ROWS = {'cpu': 1024}
ACCELERATOR_MAX_ROWS = 32768


def rows_budget(max_rows: int | None) -> int:
  """--max_rows, else the default of this platform (DEFAULT_MAX_ROWS, or ACCELERATOR_MAX_ROWS)."""
  return max_rows or DEFAULT_MAX_ROWS.get(jax.devices()[0].platform, ACCELERATOR_MAX_ROWS)


def step_chunk_for(batch: int, steps: int, max_rows: int | None) -> int:
  """IG steps per chunk so that one chunk's stacked batch has at most max_rows rows."""
  return max(1, min(steps, rows_budget(max_rows) // batch))


def peer_settings(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
  """The options that match the peer's (Captum's) settings of each explainer: {explainer: {option: value}}."""
  return {'integrated_gradients': dict(steps=args.steps, quadrature=args.quadrature),
          'occlusion': dict(removal='zero'),  # Captum's Occlusion baseline
          'smoothgrad': dict(samples=args.nt_samples, sigma=0.1),
          'gradient_shap': dict(samples=args.shap_samples),
          'lime': dict(samples=args.surrogate_samples),
          'kernel_shap': dict(samples=args.surrogate_samples)}


def explainer_options(name: str, batch: int, args: argparse.Namespace) -> dict[str, Any]:
  """Explainer `name`'s options (its record's, over which the peer's settings) and its memory knobs: a step chunk
  that fits the batch for an explainer that takes one (IG), else the same row budget in path tokens."""
  record = explain.explainer_of(name)
  options = dataclasses.asdict(record.make_options(**peer_settings(args).get(record.name, {})))
  takes = explain.options_of(name)
  if 'step_chunk' in takes:
    options['step_chunk'] = step_chunk_for(batch, options.get('steps', 1), args.max_rows)
  elif 'path_tokens' in takes:
    options['path_tokens'] = rows_budget(args.max_rows) * args.seq_len
  return options


def measure(fn: Callable[..., jax.Array], params: contract.Params, ids: np.ndarray, batch: int,
            repeats: int) -> tuple[float, float]:
  """(examples/s, seconds) of fn over all of `ids` <int>[n, seq_len] in batches of `batch`."""
  batches = [(b, b != PAD_ID) for b in as_batches(ids, batch)]
  key = jax.random.key(2)  # used by the sampling explainers only
  seconds = best_seconds(lambda: [fn(params, b, mask, key) for b, mask in batches], repeats)
  return len(ids) / seconds, seconds


def random_ranking(n: int, seq_len: int) -> jax.Array:
  """Scores whose ranking is a random order of the tokens, as the peer's torch.randperm: [n, seq_len]."""
  return jax.random.uniform(jax.random.key(2), (n, seq_len))


def deletion_counts(model: classifier.Classifier, params: contract.Params, ids: jax.Array, scores: jax.Array,
                    batch: int, chunk: int) -> tuple[jax.Array, jax.Array]:
  """Deletion until flip (PAD masking) of every row of ids: (first flipping k <int>[n], forwards run)."""
  counts, _, steps = deletion.first_flips(model, params, ids, scores, mode='pad', chunk=chunk, slots=batch)
  return counts, steps


def measure_deletion(model: classifier.Classifier, params: contract.Params, ids: np.ndarray, batch: int,
                     args: argparse.Namespace) -> tuple[float, float, float]:
  """(examples/s, seconds, mean first flipping k) of deletion until flip over all of ids."""
  ids = jax.device_put(ids)
  scores = random_ranking(*ids.shape)
  seconds = best_seconds(lambda: deletion_counts(model, params, ids, scores, batch, args.deletion_chunk)[0],
                         args.repeats)
  counts, _ = deletion_counts(model, params, ids, scores, batch, args.deletion_chunk)
  return len(ids) / seconds, seconds, float(np.mean(counts))


def cast(params: contract.Params, dtype: jnp.dtype) -> contract.Params:
  """Floating-point leaves of params in dtype (bf16 params make bf16 activations)."""
  return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, params)


def map_agreement(reference: np.ndarray | jax.Array, other: np.ndarray | jax.Array, top: int = 10) -> dict[str, float]:
  """How far other's maps are from reference's, per example, over [n, seq] maps.

  Returns the median Spearman correlation, the median relative L2 error
  |other - reference| / |reference| and the mean overlap of the top-`top` tokens.
  """
  reference, other = np.asarray(reference, np.float64), np.asarray(other, np.float64)
  spearman = [scipy.stats.spearmanr(r, o).statistic for r, o in zip(reference, other)]
  relative = np.linalg.norm(other - reference, axis=-1) / np.linalg.norm(reference, axis=-1)
  top_of = lambda m: np.argsort(-m, axis=-1, kind='stable')[:, :top]
  overlap = [len(set(a) & set(b)) / top for a, b in zip(top_of(reference), top_of(other))]
  return dict(spearman_median=round(float(np.nanmedian(spearman)), 4),
              relative_l2_median=round(float(np.median(relative)), 4),
              top10_overlap_mean=round(float(np.mean(overlap)), 4))


def agreement(fn: Callable[..., jax.Array], params: contract.Params, ids: np.ndarray, dtype: jnp.dtype,
              n: int) -> dict[str, float]:
  """map_agreement of fn's maps with dtype params against float32 ones on the first n rows of ids."""
  ids = jax.device_put(ids[:n])
  maps = [fn(p, ids, ids != PAD_ID) for p in (params, cast(params, dtype))]
  return map_agreement(*maps)


def device_meta() -> dict[str, str | None]:
  """The platform, GPU kind (None elsewhere) and JAX version that every result line carries."""
  device = jax.devices()[0]
  return dict(device=device.platform, gpu=device.device_kind if device.platform == 'gpu' else None,
              jax=jax.__version__)


def setup(args: argparse.Namespace, n: int) -> tuple[classifier.Classifier, contract.Params, np.ndarray]:
  """(model, float32 params, random ids <int>[n, seq_len]) of the benchmark's shapes."""
  model = classifier.Classifier(vocab_size=args.vocab, emb_dim=args.emb, hidden=args.hidden,
                                att_hidden=args.att_hidden, bidirectional=args.bidirectional)
  params = jax.jit(contract.init, static_argnums=0)(model, jax.random.key(0))
  ids = np.asarray(jax.random.randint(jax.random.key(1), (n, args.seq_len), 1, args.vocab))
  return model, params, ids


def bench(args: argparse.Namespace) -> Iterator[dict]:
  """Yields one result dict per explainer (and deletion), at its best batch size."""
  model, params, ids = setup(args, max(args.n, args.eraser_n))
  dtype = jnp.dtype(args.dtype)
  run_params = cast(params, dtype)
  meta = dict(**device_meta(), bidirectional=args.bidirectional, seq_len=args.seq_len, steps=args.steps,
              quadrature=args.quadrature, dtype=dtype.name)
  for name in args.explainers:
    n = args.eraser_n if name == DELETION else args.n
    batches = [b for b in args.batches if b <= n] or [n]
    if name == DELETION:
      tried = {b: measure_deletion(model, run_params, ids[:n], b, args) for b in batches}
    else:
      tried = {b: measure(explain.make_explainer(name, model, **explainer_options(name, b, args)),
                          run_params, ids[:n], b, args.repeats)
               for b in batches}
    best = max(tried, key=lambda b: tried[b][0])
    eps, seconds = tried[best][:2]
    result = dict(impl='faithjax', explainer=name, examples_per_s=round(eps, 2), seconds=round(seconds, 4),
                  **meta, n=n, batch=best, tried={b: round(r[0], 2) for b, r in tried.items()})
    if name == DELETION:
      result.update(chunk=args.deletion_chunk, mean_flip_k=round(tried[best][2], 2))
    else:
      options = explainer_options(name, best, args)
      result.update(step_chunk=options.get('step_chunk'))
      if dtype != jnp.float32:
        result.update(agreement(explain.make_explainer(name, model, **options), params, ids,
                                dtype, min(n, args.agreement_n)))
    yield result


def memory_bytes(fn: Callable[..., Any], *inputs: Any) -> tuple[int, str]:
  """Peak device bytes of one call of fn(*inputs), and where the figure comes from.

  From the backend's allocator statistics where it keeps them (GPU, TPU: the
  process's peak, so measure one program per process), else from the compiled
  program's memory analysis (CPU: arguments + outputs + temporaries, not run).
  """
  stats = jax.devices()[0].memory_stats()
  if stats and 'peak_bytes_in_use' in stats:
    jax.block_until_ready(fn(*inputs))
    return jax.devices()[0].memory_stats()['peak_bytes_in_use'], 'memory_stats.peak_bytes_in_use'
  analysis = jax.jit(fn).lower(*inputs).compile().memory_analysis()
  total = analysis.argument_size_in_bytes + analysis.output_size_in_bytes + analysis.temp_size_in_bytes
  return total, 'compiled.memory_analysis'


def memory(args: argparse.Namespace) -> Iterator[dict]:
  """Yields the peak bytes of each of --explainers at --memory_batch x --seq_len, one batch each.

  The largest batch fitting in --memory_budget bytes is an estimate: the bytes
  above the parameters' scaled linearly from the measured batch.
  """
  model, params, ids = setup(args, args.memory_batch)
  params = cast(params, jnp.dtype(args.dtype))
  ids = jax.device_put(ids)
  param_bytes = sum(x.nbytes for x in jax.tree.leaves(params))
  for name in args.explainers:
    if name == DELETION:
      fn = lambda p, i, s: deletion_counts(model, p, i, s, args.memory_batch, args.deletion_chunk)[0]
      inputs, options = (params, ids, random_ranking(*ids.shape)), {}
    else:
      options = explainer_options(name, args.memory_batch, args)
      explainer = explain.make_explainer(name, model, **options)
      fn = lambda p, i, e=explainer: e(p, i, i != PAD_ID)
      inputs = (params, ids)
    peak, source = memory_bytes(fn, *inputs)
    per_example = max(peak - param_bytes, 1) / args.memory_batch
    yield dict(impl='faithjax', explainer=name, peak_bytes=int(peak), source=source, **device_meta(),
               bidirectional=args.bidirectional, seq_len=args.seq_len, batch=args.memory_batch,
               dtype=jnp.dtype(args.dtype).name, steps=args.steps,
               step_chunk=options.get('step_chunk'),
               chunk=args.deletion_chunk if name == DELETION else None, param_bytes=param_bytes,
               bytes_per_example=int(per_example), budget_bytes=args.memory_budget,
               max_batch_in_budget_estimate=int((args.memory_budget - param_bytes) // per_example))


PEERS = ('captum', 'torch_batched', 'torch_loop')


def best_results(results: Iterable[dict]) -> dict[tuple, dict]:
  """{(bidirectional, seq_len, explainer, impl): the fastest float32 result} (peer lines carry no dtype)."""
  best = {}
  for r in results:
    if r.get('dtype', 'float32') != 'float32':
      continue
    key = (r.get('bidirectional'), r.get('seq_len'), r.get('explainer'), r['impl'])
    if 'examples_per_s' in r and r['examples_per_s'] > best.get(key, {}).get('examples_per_s', 0):
      best[key] = r
  return best


def compare(results: Iterable[dict]) -> str:
  """Markdown table of faithjax beside its peers, each at its best batch size, with the ratios.

  results: dicts as printed by this module and by peer_torch.py, from one machine.
  """
  best = best_results(results)
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


# seq_len: (examples per pass, batch sizes tried by both sides); issue 19's shapes.
INTERLEAVE_SHAPES = {32: (128, (64, 128)), 256: (32, (8, 16, 32))}
MODELS = {'lstm': False, 'bilstm': True}  # --models name: bidirectional
# Before each case the interleaved run waits up to this long for the load its own previous case left to decay.
SETTLE_SECONDS = 90
PEER = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'bench', 'peer_torch.py'))
# Runs the peer with another default `method` for Captum's IntegratedGradients (the peer passes none).
PEER_METHOD = os.path.join(os.path.dirname(__file__), 'peer_method.py')
CAPTUM_DEFAULT_METHOD = 'gausslegendre'
# Captum's name of each of explain.QUADRATURES: the same nodes; the same weights but for riemann_trapezoid's
# (captum_weight_sum; tests/test_quadrature.py).
CAPTUM_METHODS = {'midpoint': 'riemann_middle', 'trapezoid': 'riemann_trapezoid', 'gauss_legendre': 'gausslegendre'}
PEER_IG_METHODS = ('riemann_left', 'riemann_right', *CAPTUM_METHODS.values())


def captum_weight_sum(method: str, steps: int) -> float:
  """The sum of Captum's weights for `method` at `steps`: 1 but for riemann_trapezoid, whose nodes are the
  trapezoid's but whose weights are 1/n (halved at the ends), summing to (n - 1)/n. Its IG is faithjax's
  trapezoid IG times this, so its completeness error is about 1/n whatever the model."""
  return (steps - 1) / steps if method == 'riemann_trapezoid' else 1.


def peer_steps(args: argparse.Namespace) -> int:
  """The peer's IG steps: --peer_steps, else --steps (matched accuracy may need different counts per rule)."""
  return args.peer_steps or args.steps


def peer_command(args: argparse.Namespace, seq_len: int, batch: int) -> list[str]:
  """The command line of one peer process timing one batch, through PEER_METHOD when --peer_ig_method is set."""
  script = [PEER_METHOD, '--method', args.peer_ig_method, '--peer', args.peer] if args.peer_ig_method else [args.peer]
  return [args.peer_python, *script, '--device', 'cpu', '--n', str(batch), '--seq_len', str(seq_len),
          '--batch', str(batch), '--steps', str(peer_steps(args)), '--eraser_n', str(args.peer_eraser_n),
          '--vocab', str(args.vocab), '--emb', str(args.emb), '--hidden', str(args.hidden),
          *(['--bidirectional'] if args.bidirectional else []), *peer_extra_flags(args)]


def peer_extra_flags(args: argparse.Namespace) -> list[str]:
  """The peer's --extra and its sample counts (the same as ours) when --explainers names an EXTRA one."""
  if not set(args.explainers) & set(EXTRA):
    return []
  return ['--extra', '--nt_samples', str(args.nt_samples), '--shap_samples', str(args.shap_samples),
          '--surrogate_samples', str(args.surrogate_samples), '--surrogate_n', str(args.peer_surrogate_n)]


def tag_peer_ig(results: list[dict], args: argparse.Namespace) -> list[dict]:
  """The peer's lines, Captum's IG tagged with the quadrature it ran (the peer's own lines do not say)."""
  method = args.peer_ig_method or CAPTUM_DEFAULT_METHOD
  return [dict(r, method=method) if (r.get('impl'), r.get('explainer')) == ('captum', 'integrated_gradients')
          else r for r in results]


def best_per_explainer(results: Iterable[dict]) -> list[dict]:
  """The fastest of each (impl, explainer) among results at several batch sizes, with all under `tried`."""
  groups = {}
  for r in results:
    groups.setdefault((r['impl'], r['explainer']), []).append(r)
  return [dict(max(rs, key=lambda r: r['examples_per_s']), tried={r['batch']: r['examples_per_s'] for r in rs})
          for rs in groups.values()]


def peer_runner(args: argparse.Namespace, seq_len: int, batches: Sequence[int]) -> Callable[[], list[dict]]:
  """runner() -> the peer's results at its best of `batches`, one peer process per batch size.

  Each process times one batch (its --n is the batch): its examples/s are those
  of more batches of that size, in a fraction of the time.
  """
  def run() -> list[dict]:
    results = []
    for batch in batches:
      out = subprocess.run(peer_command(args, seq_len, batch), check=True, capture_output=True, text=True).stdout
      lines = [json.loads(line) for line in out.splitlines() if line.startswith('{')]
      if errors := [r['error'] for r in lines if 'error' in r]:
        raise SystemExit(f'faithjax: error: the peer could not run: {errors}')
      results += tag_peer_ig(lines, args)
    return best_per_explainer(results)
  return run


def interleave_cases(args: argparse.Namespace) -> dict[str, dict[str, Callable[[], Any]]]:
  """{case name: {side: runner}} for every --models model and --seq_lens shape."""
  cases = {}
  for bidirectional in (MODELS[m] for m in args.models):
    for seq_len in args.seq_lens:
      n, batches = INTERLEAVE_SHAPES[seq_len]
      case_args = argparse.Namespace(**{**vars(args), 'bidirectional': bidirectional, 'seq_len': seq_len,
                                        'n': n, 'batches': list(batches)})
      cases[f"{'BiLSTM' if bidirectional else 'LSTM'} seq {seq_len}"] = dict(
          faithjax=lambda a=case_args: bench(a), peer=peer_runner(case_args, seq_len, batches))
  return cases


def run_interleaved(args: argparse.Namespace) -> None:
  """The interleaved protocol; writes --jsonl (every result) and --table (bench.md's table)."""
  n_cores, load = interleave.cores(), os.getloadavg()[0]
  if interleave.too_loaded(load, n_cores) and not args.allow_loaded:
    raise SystemExit(f'faithjax: error: load average {load:.2f} exceeds the {n_cores} cores; the ratios would '
                     'not be honest (wait for an idle machine, or --allow_loaded to get a table marked NOT VALID)')
  start = time.perf_counter()
  records = []
  for record in interleave.run_rounds(interleave_cases(args), args.rounds, patience=SETTLE_SECONDS):
    print(json.dumps(record), flush=True)
    records.append(record)
  minutes = (time.perf_counter() - start) / 60
  io.write_text(args.jsonl, ''.join(json.dumps(r) + '\n' for r in records))
  io.write_text(args.table, interleaved_report(records, n_cores, minutes, args))
  print(interleave.table(records, n_cores))


def interleaved_report(records: list[dict], n_cores: int, minutes: float, args: argparse.Namespace) -> str:
  """bench.md: what was run, on what, and the interleaved table."""
  torch_version = next((r.get('torch') for r in records if r.get('torch')), '?')
  captum_version = next((r.get('captum') for r in records if r.get('captum')), '?')
  command = interleave_command(args)
  shapes = '; '.join(f'seq {s}: n {INTERLEAVE_SHAPES[s][0]}, batches {INTERLEAVE_SHAPES[s][1]}'
                     for s in args.seq_lens)
  return f"""# Explainer throughput on CPU: faithjax beside the PyTorch/Captum peer, interleaved

Protocol (`faithjax.interleave`): {args.rounds} rounds; in every round each case
(model x length) runs faithjax and `peer_torch.py` back to back, the side that
goes first alternating between rounds, each side at its best of the batch sizes
({shapes}; the peer times one batch per process); faithjax is best of
{args.repeats} passes after a warm-up, the peer best of its 3. A ratio is
faithjax / peer examples/s within one round; the table gives the median over
rounds and the min-max. Shapes: embedding {args.emb},
hidden {args.hidden} per direction, attention {args.att_hidden}, vocabulary
{args.vocab}, random weights and ids, IG: faithjax {args.steps} steps ({args.quadrature}), the peer
{peer_steps(args)} (Captum's {args.peer_ig_method or CAPTUM_DEFAULT_METHOD}; its hand-batched PyTorch IG the
same count); deletion until flip on
{args.eraser_n} examples (faithjax, vectorised) and {args.peer_eraser_n} (the peer's
per-example loop). faithjax ran {', '.join(args.explainers)}; the peer runs all of
its explainers, and only the pairs both sides measured are compared. Whole run: {minutes:.1f} min.

Command: `{command}`

Versions: jax {jax.__version__}, torch {torch_version}, captum {captum_version};
CPU: {n_cores} cores ({platform_name()}). Every result: `{args.jsonl}`.

{interleave.table(records, n_cores)}
"""


# Named in every interleaved command line; any other option only where it departs from its default.
ALWAYS_NAMED = ('rounds', 'models', 'seq_lens')


def interleave_command(args: argparse.Namespace) -> str:
  """The command line that repeats an interleaved run, e.g. with `--explainers eraser_deletion` for the
  deletion rows alone."""
  defaults = vars(parse_args([]))

  def flag(key: str, value: Any) -> str:
    if isinstance(value, bool):
      return f'--{key}'
    return f"--{key} {','.join(map(str, value)) if isinstance(value, list) else value}"
  departing = [k for k, v in vars(args).items() if k not in (*ALWAYS_NAMED, 'interleave') and v != defaults[k]]
  return ' '.join(['python -m faithjax.bench --interleave',
                   *(flag(k, getattr(args, k)) for k in (*ALWAYS_NAMED, *departing))])


def platform_name() -> str:
  """The CPU's model name from /proc/cpuinfo, where there is one."""
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      return next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), 'unknown')
  except OSError:
    return 'unknown'


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
  """The benchmark's flags (sys.argv's without `argv`)."""
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--n', type=int, default=256, help='examples per timed pass')
  p.add_argument('--seq_len', type=int, default=256)
  p.add_argument('--batches', type=lambda s: [int(b) for b in s.split(',')], default=[64, 256],
                 help='comma-separated batch sizes to try; the best is reported')
  p.add_argument('--steps', type=int, default=50, help='Integrated Gradients steps')
  p.add_argument('--quadrature', default='midpoint', choices=explain.QUADRATURES,
                 help='Integrated Gradients quadrature rule (explain.QUADRATURES)')
  p.add_argument('--max_rows', type=int, default=None,
                 help='IG: at most this many (step, example) rows per chunk (default 1024 on CPU, '
                 f'{ACCELERATOR_MAX_ROWS} on accelerators); bounds memory')
  p.add_argument('--vocab', type=int, default=20000)
  p.add_argument('--emb', type=int, default=300)
  p.add_argument('--hidden', type=int, default=128)
  p.add_argument('--att_hidden', type=int, default=128)
  p.add_argument('--bidirectional', action='store_true', help='BiLSTM, as the default faithjax model')
  p.add_argument('--explainers', type=lambda s: s.split(','), default=[*EXPLAINERS, DELETION],
                 help=f'comma-separated; {DELETION} is deletion until flip; the peer\'s --extra '
                 f'counterparts: {",".join(EXTRA)}')
  p.add_argument('--eraser_n', type=int, default=32, help=f'{DELETION}: examples (the peer\'s --eraser_n)')
  p.add_argument('--deletion_chunk', type=int, default=8, help=f'{DELETION}: removal counts k probed per step')
  p.add_argument('--nt_samples', type=int, default=10, help='SmoothGrad noise samples (as the peer\'s)')
  p.add_argument('--shap_samples', type=int, default=10, help='GradientSHAP samples per example (as the peer\'s)')
  p.add_argument('--surrogate_samples', type=int, default=200, help='LIME / KernelSHAP coalitions per example')
  p.add_argument('--repeats', type=int, default=3)
  p.add_argument('--dtype', default='float32', choices=('float32', 'bfloat16'),
                 help='parameter and activation dtype; bfloat16 adds the maps\' agreement with float32')
  p.add_argument('--agreement_n', type=int, default=256, help='--dtype: examples compared with float32')
  p.add_argument('--memory', action='store_true', help='peak bytes per explainer instead of throughput')
  p.add_argument('--memory_batch', type=int, default=256, help='--memory: the batch measured')
  p.add_argument('--memory_budget', type=float, default=16 * 2**30,
                 help='--memory: bytes (default 16 GiB) for the largest-batch estimate')
  p.add_argument('--interleave', action='store_true',
                 help='the interleaved protocol beside the peer: both models, --seq_lens, --rounds rounds')
  p.add_argument('--rounds', type=int, default=5, help='--interleave: rounds (each side runs once per round)')
  p.add_argument('--seq_lens', type=lambda s: [int(x) for x in s.split(',')], default=sorted(INTERLEAVE_SHAPES),
                 help=f'--interleave: comma-separated lengths among {sorted(INTERLEAVE_SHAPES)}')
  p.add_argument('--models', type=lambda s: s.split(','), default=list(MODELS),
                 help=f'--interleave: comma-separated, among {list(MODELS)}')
  p.add_argument('--peer', default=PEER, help='--interleave: the peer script')
  p.add_argument('--peer_python', default=sys.executable, help='--interleave: python with torch and captum')
  p.add_argument('--peer_steps', type=int, default=None,
                 help='--interleave: the peer\'s IG steps (default --steps): the count its rule needs at matched '
                 'accuracy (experiments/quadrature.py)')
  p.add_argument('--peer_ig_method', default=None, choices=PEER_IG_METHODS,
                 help=f'--interleave: Captum IG\'s method (default the peer\'s: Captum\'s {CAPTUM_DEFAULT_METHOD})')
  p.add_argument('--peer_eraser_n', type=int, default=4,
                 help='--interleave: examples of the peer\'s per-example deletion loop (its rate does not depend on it)')
  p.add_argument('--peer_surrogate_n', type=int, default=4,
                 help='--interleave: examples of the peer\'s Lime / KernelShap, fitted one at a time (its rate '
                 'does not depend on it)')
  p.add_argument('--allow_loaded', action='store_true',
                 help='--interleave: run on a busy machine anyway; the table is marked NOT VALID')
  p.add_argument('--table', default='experiments/results/bench.md', help='--interleave: the markdown report')
  p.add_argument('--jsonl', default='experiments/results/bench_interleaved.jsonl',
                 help='--interleave: every result of every round')
  p.add_argument('--compare', nargs='+', metavar='JSONL',
                 help='instead of measuring: print a markdown table from saved JSON lines of both sides')
  return p.parse_args(argv)


def read_json_lines(paths: Iterable[str]) -> list[dict]:
  """The JSON objects of every line starting with '{' in the files `paths`, in order."""
  results = []
  for path in paths:
    with open(path, encoding='utf-8') as f:
      results += [json.loads(line) for line in f if line.startswith('{')]
  return results


def main(argv: Sequence[str] | None = None) -> None:
  """Prints a --compare table, runs --interleave, or prints one JSON line per --memory or throughput result."""
  args = parse_args(argv)
  if args.compare:
    print(compare(read_json_lines(args.compare)))
    return
  if args.interleave:
    if unknown := set(args.seq_lens) - set(INTERLEAVE_SHAPES):
      raise SystemExit(f'faithjax: error: --seq_lens {sorted(unknown)}: not among {sorted(INTERLEAVE_SHAPES)}')
    if unknown := set(args.models) - set(MODELS):
      raise SystemExit(f'faithjax: error: --models {sorted(unknown)}: not among {list(MODELS)}')
    run_interleaved(args)
    return
  for result in (memory if args.memory else bench)(args):
    print(json.dumps(result), flush=True)


if __name__ == '__main__':
  main()
