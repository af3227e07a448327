#!/usr/bin/env bash
# One prepared run for a lent GPU machine (device tool): under 8 minutes of wall time.
# Steps, most valuable first, each under a hard `timeout` and run only while the budget
# covers its minimum (later ones are skipped, never killed mid-write):
#   a. faithjax.bench beside ../shared/bench/peer_torch.py (--device cuda), seq 256 and 32,
#      LSTM and BiLSTM: saliency, Input x Gradient, IG (50 steps), deletion until flip;
#   b. bf16 against f32 (throughput, map agreement); peak memory of IG and deletion, seq 512, batch 256;
#   c. 8 stacked checkpoints vs the loop (experiments/bench_checkpoints.py);
#   d. the full study per corpus (SST, AG News, 20 News, IMDB), one process per stage, timed, and IG's time to
#      a tolerance on the classifier it trained (experiments/time_to_tolerance.py; its .md/.json in study.tar.gz).
# $OUT ends with at most 8 files (bench.jsonl, extra.jsonl, steps.tsv, session.txt, log.txt,
# bench_table.md, summary.md, study.tar.gz); the last lines printed are summary.md.
# experiments/gpu_results.py turns the returned folder into experiments/results/gpu_h200.md.
#
# Before the call, here (in the worktree root; .carry is git-ignored, about 43 MiB):
#   rm -rf .carry && mkdir -p .carry && cp -r /work/shared/bench .carry/bench && cp -r /work/shared/datasets .carry/datasets
# Call: run(command="bash experiments/gpu_session.sh", carry=[".carry"], timeout_s=560)
# CPU smoke test of every step and of the packaging (tiny shapes; the peer only if torch imports):
#   GPU_SESSION_SMOKE=1 OUT=/tmp/gpu_smoke bash experiments/gpu_session.sh
# GPU_SESSION_FROM=b|c|d starts at that part; GPU_SESSION_CORPORA="sst imdb" picks the study's corpora.
{  # the whole script is one block: bash parses it before running, so editing the file meanwhile is safe
set -uo pipefail
cd "$(dirname "$0")/.."
SMOKE=${GPU_SESSION_SMOKE:-0}
OUT=${OUT:-/tmp/gpu_session_out}
PY=${PYTHON:-python3}
BUDGET=${GPU_SESSION_BUDGET_S:-$([ "$SMOKE" = 1 ] && echo 1800 || echo 440)}  # seconds, for all steps
SLOW=${GPU_SESSION_SLOW:-$([ "$SMOKE" = 1 ] && echo 5 || echo 1)}  # step limits x this (a loaded CPU)
CARRY=${GPU_SESSION_CARRY:-$PWD/.carry}
FROM=${GPU_SESSION_FROM:-a}  # start at this part (a, b, c or d): a rerun of the later ones
WORK=$(mktemp -d /tmp/gpu_session.XXXXXX)
mkdir -p "$OUT" "$WORK/study"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
START=$SECONDS

part() { [[ ! "$1" < "$FROM" ]]; }
log() { echo "[gpu_session $((SECONDS - START))s] $*" | tee -a "$WORK/log.txt" >&2; }

# step NAME LIMIT MIN OUTFILE CMD...: runs CMD (stdout appended to OUTFILE, stderr to log.txt) under
# `timeout` of LIMIT seconds, cut to the budget left; skipped when less than MIN seconds are left.
# Logs NAME, status, seconds and limit to steps.tsv; fails unless CMD ran and succeeded.
step() {
  local name=$1 limit=$(($2 * SLOW)) min=$3 outfile=$4; shift 4
  local left=$((BUDGET - (SECONDS - START)))
  if (( left < min )); then
    printf '%s\tskipped\t0\t%s\n' "$name" "budget: ${left}s left" >> "$WORK/steps.tsv"; log "skip $name"; return 1
  fi
  (( limit > left )) && limit=$left
  log "run $name (timeout ${limit}s): $*"
  local t0=$SECONDS rc
  timeout -k 5 "$limit" "$@" >> "$outfile" 2>> "$WORK/log.txt"; rc=$?
  local status=ok; (( rc == 124 || rc == 137 )) && status=timeout; (( rc != 0 && rc != 124 && rc != 137 )) && status="rc$rc"
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - t0))" "$limit" >> "$WORK/steps.tsv"
  [ "$status" = ok ]
}

package() {
  log "packaging into $OUT"
  "$PY" -m faithjax.bench --compare "$WORK/bench.jsonl" > "$OUT/bench_table.md" 2>> "$WORK/log.txt"
  cp "$WORK/bench.jsonl" "$WORK/extra.jsonl" "$WORK/steps.tsv" "$WORK/session.txt" "$OUT/" 2>/dev/null
  tar -czf "$OUT/study.tar.gz" -C "$WORK" study 2>> "$WORK/log.txt"
  tail -c 400000 "$WORK/log.txt" > "$OUT/log.txt"
  "$PY" experiments/gpu_results.py "$OUT" --output "$OUT/summary.md" >> "$OUT/log.txt" 2>&1
  echo "total: $((SECONDS - START))s of a ${BUDGET}s budget"; cat "$OUT/summary.md" 2>/dev/null
}
trap package EXIT
touch "$WORK/bench.jsonl" "$WORK/extra.jsonl" "$WORK/steps.tsv"

{ date -u; uname -m; nproc; command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  "$PY" -c 'import jax, sys; print("python", sys.version.split()[0], "jax", jax.__version__, jax.devices())'
} > "$WORK/session.txt" 2>&1
# Captum is a pure-Python wheel: unzipped onto the path, no pip and no network needed.
mkdir -p "$WORK/site" && for w in "$CARRY"/bench/wheels/*.whl; do "$PY" -m zipfile -e "$w" "$WORK/site"; done 2>> "$WORK/log.txt"
export PYTHONPATH=$PWD:$WORK/site
PEER=0; DEVICE=$("$PY" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")' 2>/dev/null) \
  && [ -f "$CARRY/bench/peer_torch.py" ] && PEER=1
echo "peer: $PEER on $DEVICE" >> "$WORK/session.txt"

if [ "$SMOKE" = 1 ]; then
  SHAPES=("16 16 8,16 8 8")  # n seq faithjax_batches peer_batch eraser_n(peer); one shape: the code is the same
  TINY=(--vocab 100 --emb 8 --hidden 8 --att_hidden 8 --steps 4 --repeats 1)
  PEER_TINY=(--vocab 100 --emb 8 --hidden 8 --steps 4)
  DEL_N=(16 32); MEM=(--memory_batch 8 --seq_len 16); BF16=(--n 16 --seq_len 16 --batches 16 --agreement_n 16)
  CKPT=(--checkpoints 2 --examples 16 --emb_dim 8 --hidden 8 --ig_steps 4 --batch_size 16 --pool 16)
  CORPORA=${GPU_SESSION_CORPORA:-sst}
  STUDY=(--epochs=1 --emb_dim=8 --hidden=8 --explainer.integrated_gradients.kronrod_nodes=7  # as the smoke preset
         --explainer.integrated_gradients.max_evaluations=7 --weak_epochs=1 --permutations=5 --test_subset=20)
  # No search for the fixed rule (its compiles); G3K7 panels, at most 3
  TOLERANCE=(--subset=20 --repeats=1 --fewest_nodes=4 --kronrod_nodes=7 --max_evaluations=21)
else
  SHAPES=("1024 256 256,1024 256 8" "4096 32 1024,4096 1024 32")
  TINY=(--steps 50 --max_rows 16384); PEER_TINY=(--steps 50)  # IG chunks of <= 16k rows: well inside 139 GiB
  DEL_N=(1024 4096); MEM=(--memory_batch 256 --seq_len 512); BF16=(--n 1024 --seq_len 256 --batches 1024)
  CKPT=(--checkpoints 8 --examples 512 --emb_dim 300 --hidden 128 --ig_steps 50 --batch_size 256 --pool 512)
  CORPORA=${GPU_SESSION_CORPORA:-sst ag_news 20news imdb}
  STUDY=()
  TOLERANCE=(--subset=1000 --repeats=2)
fi

# a. The benchmark beside the peer: each side at its best batch; the peer's second batch size last.
i=0
part a && for model in "" "--bidirectional"; do
  for shape in "${SHAPES[@]}"; do
    read -r n seq batches peer_batch peer_eraser <<< "$shape"; del_n=${DEL_N[$((i % 2))]}; i=$((i + 1))
    name="seq${seq}${model:+_bi}"
    [ -n "$model" ] && batches=${batches##*,}  # BiLSTM: the LSTM's larger batch only, to save compiles
    step "bench/$name/faithjax" 120 30 "$WORK/bench.jsonl" "$PY" -m faithjax.bench --n "$n" --seq_len "$seq" \
      --batches "$batches" --eraser_n "$del_n" "${TINY[@]}" $model
    [ "$PEER" = 1 ] && step "bench/$name/peer_b$peer_batch" 90 30 "$WORK/bench.jsonl" "$PY" "$CARRY/bench/peer_torch.py" \
      --device "$DEVICE" --n "$n" --seq_len "$seq" --batch "$peer_batch" --eraser_n "$peer_eraser" "${PEER_TINY[@]}" $model
  done
done

# b. bf16 against f32 (f32 figures: the bench lines above); peak memory, one program per process
#    (the backend's peak is the process's).
part b && step "bf16/seq256" 75 30 "$WORK/extra.jsonl" "$PY" -m faithjax.bench --dtype bfloat16 "${BF16[@]}" "${TINY[@]}" \
  --explainers saliency,integrated_gradients,eraser_deletion --eraser_n "${DEL_N[0]}"
part b && for explainer in integrated_gradients eraser_deletion; do
  step "memory/$explainer" 45 20 "$WORK/extra.jsonl" "$PY" -m faithjax.bench --memory "${MEM[@]}" "${TINY[@]}" \
    --explainers "$explainer"
done

# c. Stacked checkpoints vs the loop.
part c && step "checkpoints" 120 60 "$WORK/extra.jsonl" "$PY" -m experiments.bench_checkpoints "${CKPT[@]}" \
  --markdown "$WORK/study/checkpoints.md"

# The peer at its other batch size, LSTM only, if there is time.
if part c && [ "$PEER" = 1 ] && [ "$SMOKE" != 1 ]; then
  step "bench/seq256/peer_b64" 45 40 "$WORK/bench.jsonl" "$PY" "$CARRY/bench/peer_torch.py" --device "$DEVICE" \
    --n 1024 --seq_len 256 --batch 64 --eraser_n 8 --steps 50
  step "bench/seq32/peer_b256" 45 40 "$WORK/bench.jsonl" "$PY" "$CARRY/bench/peer_torch.py" --device "$DEVICE" \
    --n 4096 --seq_len 32 --batch 256 --eraser_n 32 --steps 50
fi

# d. The full study, one corpus after another, one process per stage (a stage's time includes its compiles).
for corpus in $CORPORA; do
  for stage in encode train explain evaluate report; do
    step "study/$corpus/$stage" 240 30 "$WORK/study/stdout.txt" "$PY" run.py --corpus="$corpus" \
      --data_dir="$CARRY/datasets" --workdir="$WORK/study/$corpus" --compile_cache="$WORK/xla" --stages="$stage" \
      "${STUDY[@]}" || break  # a later stage would redo the failed one
  done
  [ -f "$WORK/study/$corpus/stages/train.json" ] && step "tolerance/$corpus" 60 20 "$WORK/study/stdout.txt" \
    "$PY" -m experiments.time_to_tolerance --runs="$WORK/study/$corpus" --out="$WORK/study" \
    --compile_cache="$WORK/xla" --nopeer "${TOLERANCE[@]}"
  # keep what the report needs and the stage summaries, not checkpoints or maps
  find "$WORK/study/$corpus" -mindepth 1 -maxdepth 1 ! -name report.md ! -name results.json ! -name stages \
    -exec rm -rf {} + 2>/dev/null
done
exit
}
