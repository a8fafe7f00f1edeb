#!/usr/bin/env bash
# The training recipe study (docs/results.md, "Training recipe study"): every run is a
# fine-tune of the shipped base (assets/checkpoints/tiny-base.sfck) with the same step
# budget, schedule and seed; each recipe trains its own lambda-0 baseline (the learned
# rate's is the clipped multi-depth recipe's, the same network at lambda 0). Runs resume
# from their checkpoints when the script is run again.
#
#   bash bench/recipe_study.sh train      # train every run that is not finished
#   bash bench/recipe_study.sh eval N     # evaluate each finished run on N validation scenes
#   bash bench/recipe_study.sh compare N  # the study table from those evaluations
#   bash bench/recipe_study.sh seeds      # lambda 0.03 against lambda 0 over three seed pairs
#
# The "from scratch" runs train without the base: the base's schedule (peak lr 2e-3,
# 100 warm-up steps) over its 3000 steps plus a fine-tune's 400, the learned rate at
# the deployed quantizer with lambda raised from 0 over the first 1000 steps; their
# baseline is the same run at lambda 0.
#
# The "zoo" runs train at the zoo's budget (5400 steps, the shipped recipe of `cargo
# xtask zoo`): its baseline, zoo-l0, is the same command at lambda 0 (--learned-rate
# included, so it starts from the lambda models' weights: "Two baselines" in
# docs/results.md), lambda 0.03 with task priorities, and seeds 2 and 3 of both.
#
# DEVICE=tch uses LibTorch (cargo xtask torch-setup; build with --features tch).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/splitfeat}
DEVICE=${DEVICE:-flex}
STEPS=${STEPS:-400}
OUT=${OUT:-runs/study}
BASE=assets/checkpoints/tiny-base.sfck
COMMON=(--init-from "$BASE" --steps "$STEPS" --lr 0.0005 --warmup 20 --checkpoint-every 50 --quiet)

# name | flags
RUNS=(
  "clip-multi-l0|--lambda 0 --range q999 --noise-bits 3,4,5,6,7,8"
  "clip-multi-l0.01|--lambda 0.01 --range q999 --noise-bits 3,4,5,6,7,8"
  "clip-multi-l0.03|--lambda 0.03 --range q999 --noise-bits 3,4,5,6,7,8"
  "clip-8bit-l0|--lambda 0 --range q999"
  "clip-8bit-l0.01|--lambda 0.01 --range q999"
  "clip-multi-l0.1|--lambda 0.1 --range q999 --noise-bits 3,4,5,6,7,8"
  "clip-multi-l0.003|--lambda 0.003 --range q999 --noise-bits 3,4,5,6,7,8"
  "reference-l0|--lambda 0"
  "rate-multi-l0.3|--lambda 0.3 --range q999 --noise-bits 3,4,5,6,7,8 --learned-rate"
  "rate-multi-l0.1|--lambda 0.1 --range q999 --noise-bits 3,4,5,6,7,8 --learned-rate"
  "rate-multi-l1|--lambda 1 --range q999 --noise-bits 3,4,5,6,7,8 --learned-rate"
  "reference-l0.01|--lambda 0.01"
)

SCRATCH_STEPS=${SCRATCH_STEPS:-3400}
# From nothing, lambda ramped in, the learned rate at the deployed quantizer.
FROM_SCRATCH=(--lambda-ramp 1000 --range q999 --noise-bits 3,4,5,6,7,8 --learned-rate --checkpoint-every 50 --quiet)
SCRATCH=(--steps "$SCRATCH_STEPS" "${FROM_SCRATCH[@]}")
SCRATCH_RUNS=(
  "scratch-ramp-l0.1|--lambda 0.1"
  "scratch-ramp-l0.03|--lambda 0.03"
  "scratch-ramp-l0.01|--lambda 0.01"
  "scratch-ramp-l0|--lambda 0"
  "scratch-seg3-l0.03|--lambda 0.03 --task-priorities 3,1,1"
  "scratch-seg3-l0|--lambda 0 --task-priorities 3,1,1"
)

ZOO_STEPS=${ZOO_STEPS:-5400}
ZOO=(--steps "$ZOO_STEPS" "${FROM_SCRATCH[@]}")
ZOO_RUNS=(
  "zoo-l0|--lambda 0"
  "zoo-l0.03-prio1-2-2|--lambda 0.03 --task-priorities 1,2,2"
  "zoo-l0.03-prio1.5-2-2|--lambda 0.03 --task-priorities 1.5,2,2"
  # seed 2 of the baseline and lambda 0.03, with starting weights from the seed alone
  # (trained after MultiTaskModel::initialized; the runs above were trained before it)
  "zoo-s2-l0|--lambda 0 --seed 2"
  "zoo-s2-l0.03|--lambda 0.03 --seed 2"
  "zoo-s3-l0|--lambda 0 --seed 3"
  "zoo-s3-l0.03|--lambda 0.03 --seed 3"
)

# The steps a finished run of `name` has.
steps_of() {
  case $1 in
    scratch-*) echo "$SCRATCH_STEPS" ;;
    zoo-*) echo "$ZOO_STEPS" ;;
    *) echo "$STEPS" ;;
  esac
}

case "${1:-}" in
  train)
    for spec in "${RUNS[@]}" "${SCRATCH_RUNS[@]}" "${ZOO_RUNS[@]}"; do
      name=${spec%%|*}; flags=${spec#*|}
      dir=$OUT/$name
      case $name in
        scratch-*) common=("${SCRATCH[@]}") ;;
        zoo-*) common=("${ZOO[@]}") ;;
        *) common=("${COMMON[@]}") ;;
      esac
      if [[ -f $dir/checkpoint.sfck ]]; then
        # shellcheck disable=SC2086
        "$BIN" train --out "$dir" --resume --steps "$(steps_of "$name")" --quiet --device "$DEVICE"
      else
        # shellcheck disable=SC2086
        "$BIN" train --out "$dir" "${common[@]}" --device "$DEVICE" $flags
      fi
    done
    ;;
  eval)
    n=${2:?scene count}
    for spec in "${RUNS[@]}" "${SCRATCH_RUNS[@]}" "${ZOO_RUNS[@]}"; do
      name=${spec%%|*}
      dir=$OUT/$name
      [[ -f $dir/checkpoint.sfck ]] || continue
      [[ -f $dir/eval-$n.json ]] && continue
      # Only finished runs: the last metrics line is the last step.
      [[ $(tail -n 1 "$dir/metrics.jsonl" | grep -o '"step":[0-9]*') == "\"step\":$(steps_of "$name")" ]] || continue
      "$BIN" eval --checkpoint "$dir/checkpoint.sfck" --count "$n" --device "$DEVICE" --out "$dir/eval-$n.json" > "$dir/eval-$n.txt"
    done
    ;;
  compare)
    n=${2:?scene count}
    for recipe in clip-multi clip-8bit reference rate-multi scratch-ramp scratch-seg3 zoo zoo-s2 zoo-s3; do
      # The learned rate at lambda 0 trains the same network as the clipped,
      # multi-depth recipe: that run is its baseline.
      base_recipe=$recipe
      [[ $recipe == rate-multi ]] && base_recipe=clip-multi
      base=$OUT/$base_recipe-l0/eval-$n.json
      [[ -f $base ]] || continue
      models=()
      for f in "$OUT"/$recipe-l*/eval-$n.json; do
        [[ -f $f && $f != "$base" ]] || continue
        models+=("$(basename "$(dirname "$f")")=$f")
      done
      (( ${#models[@]} )) || continue
      echo "### $recipe ($n scenes, baseline $base_recipe-l0)"
      "$BIN" compare --baseline "$base" "${models[@]}"
      echo
    done
    ;;
  seeds)
    # Lambda 0.03 against lambda 0 over three seeds, each pair from the same starting
    # weights: seed 1 is the shipped lambda 0.03 and its twin baseline zoo-l0 (both
    # trained with a prior before MultiTaskModel::initialized, so both drew the prior's
    # order), seeds 2 and 3 the zoo-s2 and zoo-s3 runs. Prints the mean of the runs
    # against the mean of the baselines, then the pairs' spread.
    shipped=$(mktemp)
    python3 -c "import json, sys; m = json.load(open('assets/manifest.json')); json.dump(next(x['eval'] for x in m['models'] if x['name'] == 'tiny-l0.03'), open(sys.argv[1], 'w'))" "$shipped"
    "$BIN" compare --paired \
      --baseline "$OUT/zoo-l0/eval-500.json,$OUT/zoo-s2-l0/eval-500.json,$OUT/zoo-s3-l0/eval-500.json" \
      "λ0.03=$shipped,$OUT/zoo-s2-l0.03/eval-500.json,$OUT/zoo-s3-l0.03/eval-500.json"
    rm -f "$shipped"
    ;;
  *)
    echo "usage: $0 train | eval N | compare N | seeds" >&2
    exit 2
    ;;
esac
