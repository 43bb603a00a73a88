#!/usr/bin/env bash
# Trains MEND or KE on fact-small's train splits (zsRE + CounterFact; never the eval split),
# single-threaded in the background. Progress: $OUT/train-log.jsonl (one JSON object per line)
# and $OUT.log (the CLI's --json stream). Resume an interrupted run with RESUME=1.
#
#   packages/mend/scripts/train-fact-small.sh mend     # or: ke
#   tail -f /tmp/medit-runs/mend-fact-small/train-log.jsonl
#
# The trained editor is $OUT/best.safetensors (+ .json); the committed fixtures
# test-fixtures/editors/{mend,ke}-fact-small.safetensors are copies of it.
set -euo pipefail
method="${1:?usage: train-fact-small.sh mend|ke}"
root="$(cd "$(dirname "$0")/../../.." && pwd)"
OUT="${OUT:-/tmp/medit-runs/${method}-fact-small}"
edits="$root/test-fixtures/factworld/edits"
mkdir -p "$(dirname "$OUT")"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
nohup node "$root/packages/cli/dist/bin.js" train "$method" \
  --model "$root/test-fixtures/models/fact-small" \
  --dataset "$edits/zsre-train.json,$edits/counterfact-train.json" \
  --hparams "$root/packages/mend/hparams/fact-small-${method}.json" \
  --out "$OUT" ${RESUME:+--resume} --json > "$OUT.log" 2>&1 &
echo "training $method in the background (pid $!): $OUT/train-log.jsonl"
