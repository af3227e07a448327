#!/bin/bash
# The study at power, one corpus: 5 classifier seeds at the cpu preset, each explained by the nine explainers and
# the |.| of the six signed ones (uniform and random always), LANES seeds at a time; each seed archived in
# experiments/results/study_seeds as it finishes, with its part of the meta-evaluation (what needs its classifier
# and maps: <corpus>-seed<k>.meta.npz); then the meta-evaluation over the archives, its meta.{md,json,png} copied
# to experiments/results/study/meta_<corpus>/. Workdirs need not outlive a session: the archives are committed.
#
#   experiments/study.sh synthetic                        # seeds 0-4, then the meta-evaluation
#   SEEDS=2 LANES=1 META=0 experiments/study.sh ag_news   # one seed alone; no meta-evaluation yet
#   META_FLAGS=--examples=100 experiments/study.sh sst    # other meta-evaluation flags (python -m faithjax.meta
#                                                         # --help): the same for every seed's part and the whole
#
# The study's own flags per corpus are below (study_run_flags, study_meta_flags): its named reductions, which each
# run records in its command and meta.md prints in its "Runs" table. Settings (environment): PRESET (cpu), SEEDS
# ("0 1 2 3 4"), LANES (2: seeds run at once), META (1; 0 runs and archives the seeds only), EXPLAINERS (the
# study's 15), RUN_FLAGS and META_FLAGS (run.py's and the meta-evaluation's flags in place of the study's),
# STUDY_RUNS (runs/study: workdirs, logs and the meta-evaluation's copies), RESULTS (experiments/results: the
# archives and the meta-evaluation's files), PYTHON (.venv/bin/python).
# Every step resumes: a seed archived with its part is not run again (one archived without it runs again), an
# unfinished workdir continues, and a killed part keeps its scored copies.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:?usage: experiments/study.sh CORPUS}
seeds=${SEEDS:-0 1 2 3 4}
python=${PYTHON:-.venv/bin/python}
runs=${STUDY_RUNS:-runs/study}
results=${RESULTS:-experiments/results}
study_maps=saliency,input_x_gradient,integrated_gradients,attention,occlusion,smoothgrad,gradient_shap,kernel_shap,lime
study_maps+=,input_x_gradient.abs,integrated_gradients.abs,occlusion.abs,gradient_shap.abs,kernel_shap.abs,lime.abs
explainers=${EXPLAINERS:-$study_maps}
# Named reductions (BUILD_NOTES: Plan: the study at power): KernelSHAP and LIME at 50 samples where a seed would not
# fit a session at 200 (on AG News they took 55 of 115 explain minutes), and IMDB's weak learner and shuffle test on
# 2,000 seeded training documents
sampling_reduced="--explainer.kernel_shap.samples=50 --explainer.lime.samples=50"
case $corpus in
  ag_news) study_run_flags=$sampling_reduced ;;
  imdb) study_run_flags="--weak_train_subset=2000 $sampling_reduced" ;;
  *) study_run_flags="" ;;
esac
# the meta-evaluation: degraded copies on 500 test examples (synthetic: all 400), AOPC bounds on 24, the evaluations
# that train retrained for 3 epochs
study_meta_flags="--examples=500 --naopc_examples=24 --train_evaluations --weak_epochs=3"
if [ "$corpus" = synthetic ]; then study_meta_flags="--naopc_examples=24 --train_evaluations"; fi
run_flags=${RUN_FLAGS-$study_run_flags}
meta_flags=${META_FLAGS-$study_meta_flags}
archives=$results/study_seeds
mkdir -p "$runs/logs" "$archives"

run_seed() {  # one seed: run.py (resumes), its archive, then its part of the meta-evaluation beside it
  local seed=$1 workdir=$runs/$corpus/seed$1 archive=$archives/$corpus-seed$1.npz log=$runs/logs/${corpus}_seed$1.log
  local part=$archives/$corpus-seed$1.meta.npz
  [ -f "$part" ] && { echo "$corpus seed $seed: archived with its part, not run again"; return; }
  # an archive without its part (made before parts were, its workdir gone with its session): the seed runs again
  # and its archive is replaced when it is done
  echo "$corpus seed $seed: running (log $log)"
  # shellcheck disable=SC2086  # run_flags: several flags
  "$python" run.py --corpus="$corpus" --preset="${PRESET:-cpu}" --seed="$seed" --explainers="$explainers" \
    --workdir="$workdir" $run_flags >> "$log" 2>&1
  "$python" -c "from faithjax import runs; runs.write_archive(runs.Run('$workdir'), '$archive')"
  echo "$corpus seed $seed: archived in $archive"
  echo "$corpus seed $seed: measuring its part of the meta-evaluation (log $log)"
  # shellcheck disable=SC2086  # meta_flags: several flags
  "$python" -m faithjax.meta --runs="$workdir" --out="$runs/meta/$corpus" --measure_only $meta_flags >> "$log" 2>&1
  "$python" -c "from faithjax import runs; from faithjax.meta import parts
parts.write(parts.read('$runs/meta/$corpus/parts/seed$seed.npz'), runs.part_path('$archive'))"
  echo "$corpus seed $seed: its part in $part"
}

running=0 failed=0
for seed in $seeds; do  # LANES at a time; a failed seed (see its log) leaves the others running
  run_seed "$seed" &
  running=$((running + 1))
  if [ "$running" -ge "${LANES:-2}" ]; then wait -n || failed=1; running=$((running - 1)); fi
done
while [ "$running" -gt 0 ]; do wait -n || failed=1; running=$((running - 1)); done
[ "$failed" = 0 ] || { echo "$corpus: a seed failed; see its log"; exit 1; }
[ "${META:-1}" = 0 ] && exit 0

archived=""
for seed in $seeds; do
  [ -f "$archives/$corpus-seed$seed.meta.npz" ] || { echo "$corpus seed $seed did not finish; see its log"; exit 1; }
  archived+=$archives/$corpus-seed$seed.npz,
done
# shellcheck disable=SC2086  # meta_flags: several flags
"$python" -m faithjax.meta --runs="${archived%,}" --out="$runs/meta/$corpus" $meta_flags \
  2>&1 | tee -a "$runs/logs/meta_$corpus.log"
mkdir -p "$results/study/meta_$corpus"
cp "$runs/meta/$corpus"/meta.{md,json,png} "$results/study/meta_$corpus/"
echo "$results/study/meta_$corpus/meta.md"
