#!/usr/bin/env bash
# Trains SERAC for fact-base (issue 26) on its train splits (CounterFact + zsRE records of
# train-split subjects), both classifiers' routing threshold calibrated on the validation splits
# (never the eval split), single-threaded, one `medit train serac` per component, then copies the
# artefact to test-fixtures/serac/fact-base (its scope-embedding is also IKE's retrieval encoder):
#   1. scope-embedding: SCOPE_STEPS (default 10,000: ~3,200 train edits, three times fact-small's
#      1,000, at 8 edits a step) steps, lr 1e-3, 4 positives per edit, half of them rephrases;
#   2. scope-cross: the same settings for CROSS_STEPS (default 2,500) steps, starting from the
#      trained scope-embedding;
#   3. counterfactual, stage 1: CF1_STEPS (default 1,200) steps from fact-base (seed 0);
#   4. counterfactual, stage 2: CF2_STEPS (default 1,500) steps from stage 1 (seed 1); stage 1's
#      record is kept as counterfactual/training-stage1.json. CF2_STEPS=0: stage 1 is the model.
# The classifiers are 2-layer BERTs of width 128 over fact-base's 13,500-token BPE (the base
# model's tokenizer, its EOS as [CLS]/[SEP]); the counterfactual model is a copy of fact-base.
# A step whose output exists is skipped, so a rerun resumes after the last finished step (a step
# cut midway starts over). Each component's training.json records its data (files, SHA-256, case
# ids) and the medit command that made it.
# Overrides: MODEL, EDITS, OUT, DEST, SCOPE_STEPS, CROSS_STEPS, CF1_STEPS, CF2_STEPS,
# LOCK=FILE (each step under flock FILE, a shared machine's queue).
#
#   packages/serac/scripts/train-fact-base.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
MODEL="${MODEL:-test-fixtures/models/fact-base}"
EDITS="${EDITS:-test-fixtures/factbase/edits}"
OUT="${OUT:-/tmp/medit-runs/serac-fact-base}"
DEST="${DEST:-test-fixtures/serac/fact-base}"
SCOPE_STEPS="${SCOPE_STEPS:-10000}" CROSS_STEPS="${CROSS_STEPS:-2500}" CF1_STEPS="${CF1_STEPS:-1200}" CF2_STEPS="${CF2_STEPS:-1500}"
STAGE1="${OUT}-stage1"
for f in "$MODEL/config.json" "$EDITS/counterfact-train.json" "$EDITS/zsre-train.json" "$EDITS/counterfact-validation.json" "$EDITS/zsre-validation.json"; do
  [ -e "$f" ] || { echo "train-fact-base.sh: $f does not exist (train fact-base and build its edit sets first: test-fixtures/factbase/README.md)" >&2; exit 1; }
done
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MEDIT_NUM_THREADS="${MEDIT_NUM_THREADS:-1}"
run() { ${LOCK:+flock "$LOCK"} node packages/cli/dist/bin.js train serac \
  --dataset "$EDITS/counterfact-train.json,$EDITS/zsre-train.json" \
  --validation "$EDITS/counterfact-validation.json,$EDITS/zsre-validation.json" "$@"; }
scope=(--scope-lr 1e-3 --scope-positives 4 --scope-rephrase-share 0.5)
[ -d "$OUT/scope-embedding" ] || run --model "$MODEL" --out "$OUT" --components scope-embedding --scope-steps "$SCOPE_STEPS" "${scope[@]}"
[ -d "$OUT/scope-cross" ] || run --model "$MODEL" --out "$OUT" --components scope-cross --scope-init "$OUT/scope-embedding" --scope-steps "$CROSS_STEPS" "${scope[@]}"
if [ "$CF2_STEPS" = 0 ]; then
  [ -d "$OUT/counterfactual" ] || run --model "$MODEL" --out "$OUT" --components counterfactual --cf-steps "$CF1_STEPS"
else
  [ -d "$STAGE1/counterfactual" ] || run --model "$MODEL" --out "$STAGE1" --components counterfactual --cf-steps "$CF1_STEPS"
  if [ ! -d "$OUT/counterfactual" ]; then
    run --model "$STAGE1/counterfactual" --out "$OUT" --components counterfactual --cf-steps "$CF2_STEPS" --seed 1
    cp "$STAGE1/counterfactual/training.json" "$OUT/counterfactual/training-stage1.json"
  fi
fi
# into the fixtures, one component at a time (a copy cut midway leaves the older one or none)
mkdir -p "$DEST"
for c in scope-embedding scope-cross counterfactual; do
  rm -rf "$DEST/$c.tmp"
  cp -r "$OUT/$c" "$DEST/$c.tmp"
  rm -rf "$DEST/$c"
  mv "$DEST/$c.tmp" "$DEST/$c"
done
cp "$OUT/serac.json" "$DEST/serac.json"
echo "SERAC for fact-base: $DEST"
