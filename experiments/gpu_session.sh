#!/usr/bin/env bash
# One prepared run for a lent GPU machine (device tool), sized for its 15 minutes:
#   1. faithjax beside ../shared/bench/peer_torch.py, same shapes, same run (issue: speed targets);
#   2. the SST reproduction at full settings, timed by stage.
# Before the call, here:  mkdir -p .carry && cp -r ../shared/bench .carry/ && cp -r ../shared/datasets/sst .carry/
# Call: run(command="bash experiments/gpu_session.sh", carry=[".carry"], timeout_s=540)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
python3 -m pip install -q --no-index --no-deps --target .site .carry/bench/wheels/*.whl && export PYTHONPATH=$PWD:$PWD/.site
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
for shape in "512 256 64,256,1024 256" "2048 32 256,1024,4096 1024"; do
  read -r n seq batches peer_batch <<< "$shape"
  for model in "" "--bidirectional"; do
    name="seq${seq}${model:+_bi}"
    timeout 120 python3 -m faithjax.bench --n "$n" --seq_len "$seq" --batches "$batches" $model > "$OUT/$name.faithjax.jsonl"
    timeout 120 python3 .carry/bench/peer_torch.py --device cuda --n "$n" --seq_len "$seq" --batch "$peer_batch" \
      --steps 50 $model > "$OUT/$name.peer.jsonl"
  done
done
python3 -m faithjax.bench --compare "$OUT"/*.jsonl | tee "$OUT/bench_table.md"
mkdir -p .carry/data && ln -sfn "$PWD/.carry/sst" .carry/data/sst
/usr/bin/time -v python3 run.py --corpus=sst --data_dir=.carry/data --workdir=/tmp/sst_full --compile_cache=/tmp/xla \
  2> "$OUT/sst_time.txt" | tail -1
cp /tmp/sst_full/report.md "$OUT/sst_report.md"; cp /tmp/sst_full/results.json "$OUT/sst_results.json"
