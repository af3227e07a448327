"""The files experiments/gpu_session.sh returns -> a markdown report with issue 17's GPU targets.

  python experiments/gpu_results.py FOLDER [--output experiments/results/gpu_h200.md]

FOLDER holds bench.jsonl (faithjax and peer lines), extra.jsonl (bf16, memory
and stacked-checkpoint lines), steps.tsv (step, status, seconds, limit) and
session.txt (the machine). Missing measurements show as '-' and their targets
as 'not measured'.
"""

import argparse
import json
import os
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from faithjax import bench  # noqa: E402  (the path line above makes the script runnable from anywhere)
from faithjax import io  # noqa: E402

# (explainer, peer, least faithjax/peer ratio), at every sequence length: issue 17's GPU targets.
RATIO_TARGETS = (('integrated_gradients', 'captum', 10), ('integrated_gradients', 'torch_batched', 4),
                 ('saliency', 'captum', 2), ('input_x_gradient', 'captum', 2))
DELETION_TARGET = (256, 1000)  # seq_len, examples/s
STUDY_TARGET_S = 600
CORPUS_ORDER = ('sst', 'ag_news', '20news', 'imdb')


def read_lines(path):
  return bench.read_json_lines([path]) if os.path.exists(path) else []


def read_steps(path):
  """steps.tsv -> [(name, status, seconds)]."""
  if not os.path.exists(path):
    return []
  with open(path, encoding='utf-8') as f:
    return [(name, status, int(seconds)) for name, status, seconds, *_ in (line.rstrip('\n').split('\t') for line in f)]


def model_name(bidirectional):
  return 'BiLSTM' if bidirectional else 'LSTM'


def verdict(value, target):
  return 'not measured' if value is None else ('met' if value >= target else 'missed')


def target_rows(results):
  """Markdown rows: each target of issue 17 per model and length, measured value, verdict."""
  best = bench.best_results(results)
  configs = sorted({(k[0], k[1]) for k in best})
  rows = ['| model | seq | target | measured | verdict |', '|---|---|---|---|---|']
  for bidirectional, seq_len in configs:
    get = lambda explainer, impl: best.get((bidirectional, seq_len, explainer, impl))
    for explainer, peer, least in RATIO_TARGETS:
      ours, theirs = get(explainer, 'faithjax'), get(explainer, peer)
      ratio = ours['examples_per_s'] / theirs['examples_per_s'] if ours and theirs else None
      rows.append(f'| {model_name(bidirectional)} | {seq_len} | {explainer} >= {least}x {peer} | '
                  f'{"-" if ratio is None else f"{ratio:.1f}x"} | {verdict(ratio, least)} |')
    ours, loop = get('eraser_deletion', 'faithjax'), get('eraser_deletion', 'torch_loop')
    ratio = f', {ours["examples_per_s"] / loop["examples_per_s"]:,.0f}x the loop' if ours and loop else ''
    seq, least = DELETION_TARGET
    measured = f'{ours["examples_per_s"]:,.0f} ex/s{ratio}' if ours else '-'
    check = verdict(ours and ours['examples_per_s'], least) if seq_len == seq else 'no target at this length'
    rows.append(f'| {model_name(bidirectional)} | {seq_len} | deletion until flip >= {least:,} ex/s at seq {seq} | '
                f'{measured} | {check} |')
  return rows


def study_rows(steps):
  """Per corpus: seconds per stage and in all; the total over corpora that finished."""
  stages = ('encode', 'train', 'explain', 'evaluate', 'report')
  times = {}
  for name, status, seconds in steps:
    parts = name.split('/')
    if parts[0] == 'study':
      times.setdefault(parts[1], {})[parts[2]] = (status, seconds)
  rows = ['| corpus | ' + ' | '.join(stages) + ' | all stages (s) |', '|---' * (len(stages) + 2) + '|']
  total, complete = 0, True
  for corpus in sorted(times, key=lambda c: (CORPUS_ORDER + (c,)).index(c)):
    cells = [f'{times[corpus][s][1]}' if times[corpus].get(s, ('', 0))[0] == 'ok'
             else times[corpus].get(s, ('not run',))[0] for s in stages]
    done = all(times[corpus].get(s, ('',))[0] == 'ok' for s in stages)
    seconds = sum(t for _, t in times[corpus].values())
    complete &= done
    total += seconds
    rows.append(f'| {corpus} | ' + ' | '.join(cells) + f' | {seconds}{"" if done else " (incomplete)"} |')
  finished = complete and set(CORPUS_ORDER) <= set(times)
  check = ('met' if total < STUDY_TARGET_S else 'missed') if finished else 'not measured (not every corpus finished)'
  rows.append(f'\nWhole study: {total} s over {len(times)} corpora; target < {STUDY_TARGET_S} s for all four: {check}.')
  return rows


def bf16_rows(extra, results):
  best = bench.best_results(results)
  rows = ['| model | seq | explainer | bf16 ex/s | f32 ex/s | speed-up | Spearman (median) | rel. L2 (median) '
          '| top-10 overlap |', '|---|---|---|---|---|---|---|---|---|']
  for r in extra:
    if r.get('dtype') == 'bfloat16' and 'examples_per_s' in r:
      f32 = best.get((r['bidirectional'], r['seq_len'], r['explainer'], 'faithjax'), {}).get('examples_per_s')
      cells = [model_name(r['bidirectional']), r['seq_len'], r['explainer'], f'{r["examples_per_s"]:,.1f}',
               f'{f32:,.1f}' if f32 else '-', f'{r["examples_per_s"] / f32:.2f}x' if f32 else '-',
               *(r.get(k, '-') for k in ('spearman_median', 'relative_l2_median', 'top10_overlap_mean'))]
      rows.append('| ' + ' | '.join(map(str, cells)) + ' |')
  return rows


def memory_rows(extra):
  rows = ['| explainer | dtype | seq | batch | peak bytes | source | bytes per example | '
          'largest batch in 16 GiB (estimate) |', '|---|---|---|---|---|---|---|---|']
  rows += [f'| {r["explainer"]} | {r["dtype"]} | {r["seq_len"]} | {r["batch"]} | {r["peak_bytes"]:,} | '
           f'{r["source"]} | {r["bytes_per_example"]:,} | {r["max_batch_in_budget_estimate"]:,} |'
           for r in extra if 'peak_bytes' in r]
  return rows


def checkpoint_rows(extra):
  rows = ['| explainer | mode | checkpoints | examples | seconds | checkpoint-examples/s |', '|---|---|---|---|---|---|']
  rows += [f'| {r["explainer"]} | {r["mode"]} | {r["checkpoints"]} | {r["examples"]} | {r["seconds"]} | '
           f'{r["examples_per_s"]:,} |' for r in extra if 'mode' in r]
  rows += [f'\nStacked over loop, {r["explainer"]}: **{r["speedup_stacked_over_loop"]}x**'
           for r in extra if 'speedup_stacked_over_loop' in r]
  return rows


def tolerance_rows(folder):
  """IG's time to a tolerance per corpus: the rows of the time_to_tolerance_<corpus>.json in study.tar.gz."""
  path = os.path.join(folder, 'study.tar.gz')
  records = []
  if os.path.exists(path):
    with tarfile.open(path) as tar:
      records = [json.load(tar.extractfile(member)) for member in tar.getmembers()
                 if os.path.basename(member.name).startswith('time_to_tolerance_')
                 and member.name.endswith('.json')]
  rows = ['| corpus | documents | tolerance | method | steps | examples/s | p90 | max | evaluations (median / mean / '
          'max) |', '|---|---|---|---|---|---|---|---|---|']
  for record in sorted(records, key=lambda r: (CORPUS_ORDER + (r['corpus'],)).index(r['corpus'])):
    for row in record['rows']:
      used = row['evaluations'] and '{median:g} / {mean:.1f} / {max}'.format(**row['evaluations'])
      rows.append(f'| {record["corpus"]} | {record["examples"]} | {record["tolerance"]:g} | {row["method"]} | '
                  f'{row["steps"]} | {row["examples_per_s"]:,.1f} | {row["p90"]:.1e} | {row["max"]:.1e} | '
                  f'{used or ""} |')
  return rows


def report(folder):
  results = read_lines(os.path.join(folder, 'bench.jsonl'))
  extra = read_lines(os.path.join(folder, 'extra.jsonl'))
  steps = read_steps(os.path.join(folder, 'steps.tsv'))
  session = ''
  if os.path.exists(os.path.join(folder, 'session.txt')):
    with open(os.path.join(folder, 'session.txt'), encoding='utf-8') as f:
      session = f.read().strip()
  failed = [f'{name} ({status})' for name, status, _ in steps if status != 'ok']
  lines = ['# faithjax on a GPU: experiments/gpu_session.sh', '',
           'Produced by `python experiments/gpu_results.py FOLDER` from the files the session returned. '
           'Random weights and token ids for the benchmarks; each side at its best batch; one run, one machine.',
           '', '```', session, '```', '',
           '## Targets (issue 17)', '', *target_rows(results), '',
           '## Benchmark: faithjax beside the peer (examples/s, float32)', '', bench.compare(results), '',
           '## Full study, seconds per stage (one process per stage, compiles included)', '', *study_rows(steps), '',
           '## IG to a tolerance (experiments/time_to_tolerance.py, on the study\'s classifiers)', '',
           *tolerance_rows(folder), '',
           '## bf16 against float32 (same inputs)', '', *bf16_rows(extra, results), '',
           '## Peak memory', '', *memory_rows(extra), '',
           '## Stacked checkpoints vs one at a time', '', *checkpoint_rows(extra), '',
           f'Steps not ok: {", ".join(failed) if failed else "none"}; '
           f'{sum(s for *_, s in steps)} s over {len(steps)} steps.']
  return '\n'.join(lines) + '\n'


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('folder')
  parser.add_argument('--output', default='experiments/results/gpu_h200.md')
  args = parser.parse_args(argv)
  if not os.path.isdir(args.folder):
    print(f'faithjax: error: no folder {args.folder}', file=sys.stderr)
    sys.exit(2)
  io.write_text(args.output, report(args.folder))
  print(f'wrote {args.output}')


if __name__ == '__main__':
  main()
