#!/usr/bin/env bash
# Trains MEND or KE for fact-small on the train splits (zsRE + CounterFact) with early stopping on
# the validation splits (never the eval split), single-threaded, in the foreground. Each run
# records the files and case ids it used in the editor's JSON (training.data). Resume an
# interrupted run with RESUME=1; LOCK=FILE runs it under flock FILE (a shared machine's queue).
#
#   packages/mend/scripts/train-fact-small.sh mend     # or: ke
#   tail -f /tmp/medit-runs/mend-fact-small/train-log.jsonl
#
# The trained editor is $OUT/best.safetensors (+ .json); the committed fixtures
# test-fixtures/editors/{mend,ke}-fact-small.safetensors(.json) and .train-log.jsonl are copies.
set -euo pipefail
method="${1:?usage: train-fact-small.sh mend|ke}"
root="$(cd "$(dirname "$0")/../../.." && pwd)"
OUT="${OUT:-/tmp/medit-runs/${method}-fact-small}"
edits="$root/test-fixtures/factworld/edits"
mkdir -p "$(dirname "$OUT")"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
${LOCK:+flock "$LOCK"} node "$root/packages/cli/dist/bin.js" train "$method" \
  --model "$root/test-fixtures/models/fact-small" \
  --dataset "$edits/zsre-train.json,$edits/counterfact-train.json" \
  --validation "$edits/zsre-validation.json,$edits/counterfact-validation.json" \
  --hparams "$root/packages/mend/hparams/fact-small-${method}.json" \
  --out "$OUT" ${RESUME:+--resume}
