#!/usr/bin/env bash
# Trains MEND or KE for fact-base (issue 26) on its train splits (zsRE + CounterFact records of
# train-split subjects) with early stopping on the validation splits (never the eval split),
# single-threaded, in the foreground, then copies the best editor into the fixtures:
#
#   packages/mend/scripts/train-fact-base.sh mend     # or: ke
#   tail -f /tmp/medit-runs/mend-fact-base/train-log.jsonl
#
# Resumable: run the same command again after an interruption; it continues from
# $OUT/last.safetensors (written at every validation). Once a run has finished ($OUT/finished),
# running it again only copies the editor again.
# The editor file's header records what it trained and stopped on (training.data: files, SHA-256,
# case ids) and the medit command (training.command); test-fixtures/editors/<method>-fact-base
# .safetensors and .train-log.jsonl are copies of $OUT/best.safetensors and its log.
# Overrides: MODEL, EDITS, HPARAMS, OUT, DEST (the fixture path without .safetensors), MAX_ITERS,
# LOCK=FILE (run under flock FILE, a shared machine's queue).
set -euo pipefail
method="${1:?usage: train-fact-base.sh mend|ke}"
case "$method" in mend | ke) ;; *) echo "train-fact-base.sh: expected mend or ke but received \"$method\"" >&2; exit 2 ;; esac
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
MODEL="${MODEL:-test-fixtures/models/fact-base}"
EDITS="${EDITS:-test-fixtures/factbase/edits}"
HPARAMS="${HPARAMS:-packages/mend/hparams/fact-base-${method}.json}"
OUT="${OUT:-/tmp/medit-runs/${method}-fact-base}"
DEST="${DEST:-test-fixtures/editors/${method}-fact-base}"
for f in "$MODEL/config.json" "$EDITS/zsre-train.json" "$EDITS/counterfact-train.json" "$EDITS/zsre-validation.json" "$EDITS/counterfact-validation.json" "$HPARAMS"; do
  [ -e "$f" ] || { echo "train-fact-base.sh: $f does not exist (train fact-base and build its edit sets first: test-fixtures/factbase/README.md)" >&2; exit 1; }
done
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MEDIT_NUM_THREADS="${MEDIT_NUM_THREADS:-1}"
if [ ! -f "$OUT/finished" ]; then
  resume=()
  [ -f "$OUT/last.safetensors" ] && resume=(--resume)
  mkdir -p "$(dirname "$OUT")"
  ${LOCK:+flock "$LOCK"} node packages/cli/dist/bin.js train "$method" \
    --model "$MODEL" \
    --dataset "$EDITS/zsre-train.json,$EDITS/counterfact-train.json" \
    --validation "$EDITS/zsre-validation.json,$EDITS/counterfact-validation.json" \
    --hparams "$HPARAMS" \
    --out "$OUT" ${MAX_ITERS:+--max-iters "$MAX_ITERS"} ${resume[@]+"${resume[@]}"}
  touch "$OUT/finished"
fi
mkdir -p "$(dirname "$DEST")"
cp "$OUT/best.safetensors" "$DEST.safetensors.tmp"
mv "$DEST.safetensors.tmp" "$DEST.safetensors"
cp "$OUT/train-log.jsonl" "$DEST.train-log.jsonl"
echo "$method for fact-base: $DEST.safetensors"
