#!/usr/bin/env bash
# Trains SERAC for fact-small (test-fixtures/serac/fact-small) on the train splits (CounterFact +
# zsRE), the classifiers' routing threshold calibrated on the validation splits (never the eval
# split), single-threaded, one `medit train serac` per component:
#   1. scope-embedding: 6,000 steps, lr 1e-3, 4 positives per edit, half of them rephrases;
#   2. scope-cross: the same settings for 1,500 steps, starting from the trained scope-embedding;
#   3. counterfactual, stage 1: CF1_STEPS (default 1,200) steps from fact-small (seed 0);
#   4. counterfactual, stage 2: CF2_STEPS (default 1,500) steps from stage 1 (seed 1); stage 1's
#      record is kept as counterfactual/training-stage1.json. CF2_STEPS=0: stage 1 is the model.
# A step whose output exists is skipped, so a rerun resumes after the last finished step.
# LOCK=FILE runs each step under flock FILE (a shared machine's queue).
#
#   LOCK=/work/.heavy.lock packages/serac/scripts/train-fact-small.sh
#   cp -r /tmp/medit-runs/serac-fact-small/{scope-embedding,scope-cross,counterfactual} test-fixtures/serac/fact-small/
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
OUT="${OUT:-/tmp/medit-runs/serac-fact-small}"
STAGE1="${OUT}-stage1"
edits="$root/test-fixtures/factworld/edits"
model="$root/test-fixtures/models/fact-small"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
run() { ${LOCK:+flock "$LOCK"} node "$root/packages/cli/dist/bin.js" train serac \
  --dataset "$edits/counterfact-train.json,$edits/zsre-train.json" \
  --validation "$edits/counterfact-validation.json,$edits/zsre-validation.json" "$@"; }
scope=(--scope-lr 1e-3 --scope-positives 4 --scope-rephrase-share 0.5)
[ -d "$OUT/scope-embedding" ] || run --model "$model" --out "$OUT" --components scope-embedding --scope-steps 6000 "${scope[@]}"
[ -d "$OUT/scope-cross" ] || run --model "$model" --out "$OUT" --components scope-cross --scope-init "$OUT/scope-embedding" --scope-steps 1500 "${scope[@]}"
CF1_STEPS="${CF1_STEPS:-1200}" CF2_STEPS="${CF2_STEPS:-1500}"
if [ "$CF2_STEPS" = 0 ]; then
  [ -d "$OUT/counterfactual" ] || run --model "$model" --out "$OUT" --components counterfactual --cf-steps "$CF1_STEPS"
else
  [ -d "$STAGE1/counterfactual" ] || run --model "$model" --out "$STAGE1" --components counterfactual --cf-steps "$CF1_STEPS"
  if [ ! -d "$OUT/counterfactual" ]; then
    run --model "$STAGE1/counterfactual" --out "$OUT" --components counterfactual --cf-steps "$CF2_STEPS" --seed 1
    cp "$STAGE1/counterfactual/training.json" "$OUT/counterfactual/training-stage1.json"
  fi
fi
echo "SERAC for fact-small: $OUT"
