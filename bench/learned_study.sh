#!/usr/bin/env bash
# The learned-rate study (docs/results.md, "Learned entropy model"): fine-tunes of the
# shipped base (assets/checkpoints/tiny-base.sfck) with a fixed-step quantizer and a
# factorized prior, lambda weighing the rate in bits per element; the same step budget,
# schedule and seed as the paper-method zoo. Runs resume from their checkpoints when
# the script is run again.
#
#   bash bench/learned_study.sh train      # train every run that is not finished
#   bash bench/learned_study.sh eval N     # evaluate each finished run on N validation scenes
#
# DEVICE=tch uses LibTorch (cargo xtask torch-setup; build with --features tch).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/splitfeat}
DEVICE=${DEVICE:-flex}
STEPS=${STEPS:-400}
STEP_SIZE=${STEP_SIZE:-0.15}
OUT=${OUT:-runs/learned}
LAMBDAS=${LAMBDAS:-0.1 0.3 0.03 1}
BASE=assets/checkpoints/tiny-base.sfck
COMMON=(--init-from "$BASE" --steps "$STEPS" --lr 0.0005 --warmup 20 --checkpoint-every 50 --quiet --range "step$STEP_SIZE")

case "${1:-}" in
  train)
    for lambda in $LAMBDAS; do
      dir=$OUT/step$STEP_SIZE-l$lambda
      if [[ -f $dir/checkpoint.sfck ]]; then
        "$BIN" train --out "$dir" --resume --steps "$STEPS" --quiet --device "$DEVICE"
      else
        "$BIN" train --out "$dir" "${COMMON[@]}" --device "$DEVICE" --lambda "$lambda"
      fi
    done
    ;;
  eval)
    n=${2:?scene count}
    for dir in "$OUT"/*/; do
      dir=${dir%/}
      [[ -f $dir/checkpoint.sfck ]] || continue
      [[ -f $dir/eval-$n.json ]] && continue
      [[ $(tail -n 1 "$dir/metrics.jsonl" | grep -o '"step":[0-9]*') == "\"step\":$STEPS" ]] || continue
      "$BIN" eval --checkpoint "$dir/checkpoint.sfck" --count "$n" --out "$dir/eval-$n.json" > "$dir/eval-$n.txt"
    done
    ;;
  *)
    echo "usage: $0 train | eval N" >&2
    exit 2
    ;;
esac
