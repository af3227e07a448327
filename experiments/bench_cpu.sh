#!/usr/bin/env bash
# faithjax beside ../shared/bench/peer_torch.py on this machine's CPU, one shape at a time,
# each side right after the other. Writes JSON lines and table.md to OUTPUT_FOLDER.
# Needs torch and captum installed (see experiments/results/bench.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
PEER=${PEER:-../shared/bench/peer_torch.py}
OUT=${1:?usage: experiments/bench_cpu.sh OUTPUT_FOLDER}
mkdir -p "$OUT"
# shape: n seq_len faithjax-batches peer-batch
for shape in "32 256 16,32 32" "128 32 64,128 128"; do
  read -r n seq batches peer_batch <<< "$shape"
  for model in "" "--bidirectional"; do
    name="seq${seq}${model:+_bi}"
    $PY -m faithjax.bench --n "$n" --seq_len "$seq" --batches "$batches" $model | tee "$OUT/$name.faithjax.jsonl"
    $PY "$PEER" --device cpu --n "$n" --seq_len "$seq" --batch "$peer_batch" --steps 50 --eraser_n 4 $model \
      | tee "$OUT/$name.peer.jsonl"
  done
done
$PY -m faithjax.bench --compare "$OUT"/*.jsonl > "$OUT/table.md"
cat "$OUT/table.md"
