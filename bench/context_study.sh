#!/usr/bin/env bash
# The context-model study of docs/results.md ("A context model of the codes"): a context
# model fitted to each shipped model's frozen codes, per bit depth, its ideal code length
# on the 500 evaluation scenes against the bytes `ans` makes of the same codes; then the
# fair comparison with every model's `ans` rows replaced by it.
#
#   bash bench/context_study.sh fit [MODEL ...]   # about 3.5 min a depth on 2 cores
#   bash bench/context_study.sh compare           # tables and charts (docs/context/)
#
# BIN: the splitfeat binary (default target/debug/splitfeat: its dependencies are
# optimised in the dev profile); OUT: where the studies go (default runs/context).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/debug/splitfeat}
OUT=${OUT:-runs/context}
mkdir -p "$OUT"

case "${1:-}" in
fit)
  shift
  models=("$@")
  [ ${#models[@]} -gt 0 ] || models=(tiny-l0 tiny-l0.03 tiny-l0.1 tiny-l0.01)
  for m in "${models[@]}"; do
    "$BIN" context-study --model "$m" --bits 8,4,2 --out "$OUT/$m.json"
    # The depths between, for the models whose whole frontier is compared.
    case "$m" in tiny-l0 | tiny-l0.03)
      "$BIN" context-study --model "$m" --bits 7,6,5,3 --out "$OUT/$m-7653.json" ;;
    esac
  done
  ;;
compare)
  python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
for e in json.load(open("assets/manifest.json"))["models"]:
    json.dump(e["eval"], open(f"{out}/{e['name']}-eval.json", "w"), indent=1)
EOF
  for m in tiny-l0 tiny-l0.03; do
    python3 bench/context_frontier.py "$m" "$OUT/$m-ctx-eval.json" "$OUT/$m.json" "$OUT/$m-7653.json"
  done
  # The context model against ans on each model's own codes (ans+JPEG column: the
  # context model + JPEG), and lambda 0.03 against the baseline when both use it.
  "$BIN" compare --baseline "$OUT/tiny-l0-eval.json" \
    "baseline, context model=$OUT/tiny-l0-ctx-eval.json" \
    "λ 0.03, ans=$OUT/tiny-l0.03-eval.json" \
    "λ 0.03, context model=$OUT/tiny-l0.03-ctx-eval.json"
  "$BIN" compare --baseline "$OUT/tiny-l0-ctx-eval.json" \
    "λ 0.03, context model=$OUT/tiny-l0.03-ctx-eval.json" --charts docs/context
  ;;
*)
  sed -n '2,12p' "$0"
  exit 2
  ;;
esac
