#!/bin/bash
# The study at power, one corpus: 5 classifier seeds at the cpu preset, each explained by the nine explainers and
# the |.| of the six signed ones (uniform and random always), LANES seeds at a time; each seed archived in
# experiments/results/study_seeds as it finishes, with its part of the meta-evaluation (what needs its classifier
# and maps: <corpus>-seed<k>.meta.npz); then the meta-evaluation over the archives, its meta.{md,json,png} copied
# to experiments/results/study/meta_<corpus>/. Workdirs need not outlive a session: the archives are committed.
#
#   experiments/study.sh synthetic                        # seeds 0-4, then the meta-evaluation
#   META_FLAGS=--examples=500 experiments/study.sh sst    # meta-evaluation flags (python -m faithjax.meta --help):
#                                                         # the same for every seed's part and the meta-evaluation
#   RUN_FLAGS=--explainer.lime.samples=50 experiments/study.sh imdb   # a named reduction: run.py flags
#   SEEDS=2 LANES=1 META=0 experiments/study.sh ag_news   # one seed beside another job; no meta-evaluation yet
#
# Settings (environment): PRESET (cpu), SEEDS ("0 1 2 3 4"), LANES (2: seeds run at once), META (1; 0 runs and
# archives the seeds only, e.g. a subset of them beside another job), EXPLAINERS (the study's 15), RUN_FLAGS and
# META_FLAGS (added to run.py's and the meta-evaluation's), STUDY_RUNS (runs/study: workdirs, logs and the
# meta-evaluation's copies), RESULTS (experiments/results: the archives and the meta-evaluation's files), PYTHON
# (.venv/bin/python).
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
archives=$results/study_seeds
mkdir -p "$runs/logs" "$archives"

run_seed() {  # one seed: run.py (resumes), its archive, then its part of the meta-evaluation beside it
  local seed=$1 workdir=$runs/$corpus/seed$1 archive=$archives/$corpus-seed$1.npz log=$runs/logs/${corpus}_seed$1.log
  local part=$archives/$corpus-seed$1.meta.npz
  [ -f "$part" ] && { echo "$corpus seed $seed: archived with its part, not run again"; return; }
  # an archive without its part (made before parts were, its workdir gone with its session): the seed runs again
  # and its archive is replaced when it is done
  echo "$corpus seed $seed: running (log $log)"
  # shellcheck disable=SC2086  # RUN_FLAGS: several flags
  "$python" run.py --corpus="$corpus" --preset="${PRESET:-cpu}" --seed="$seed" --explainers="$explainers" \
    --workdir="$workdir" ${RUN_FLAGS:-} >> "$log" 2>&1
  "$python" -c "from faithjax import runs; runs.write_archive(runs.Run('$workdir'), '$archive')"
  echo "$corpus seed $seed: archived in $archive"
  echo "$corpus seed $seed: measuring its part of the meta-evaluation (log $log)"
  # shellcheck disable=SC2086  # META_FLAGS: several flags
  "$python" -m faithjax.meta --runs="$workdir" --out="$runs/meta/$corpus" --measure_only ${META_FLAGS:-} >> "$log" 2>&1
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
# shellcheck disable=SC2086  # META_FLAGS: several flags
"$python" -m faithjax.meta --runs="${archived%,}" --out="$runs/meta/$corpus" ${META_FLAGS:-} \
  2>&1 | tee -a "$runs/logs/meta_$corpus.log"
mkdir -p "$results/study/meta_$corpus"
cp "$runs/meta/$corpus"/meta.{md,json,png} "$results/study/meta_$corpus/"
echo "$results/study/meta_$corpus/meta.md"
