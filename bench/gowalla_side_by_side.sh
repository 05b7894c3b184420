#!/usr/bin/env bash
# HaloRec P=1 beside the PyTorch eager LightGCN baseline (../shared/bench/
# torch_lightgcn.py), on Gowalla, same machine, same threads, same BLAS, in
# one run: step time (dim 64, 3 layers, batch 2048) and one full evaluation.
#   bench/gowalla_side_by_side.sh [threads] [steps]
# Needs Debian's python3-torch for the baseline (apt-get install python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-2}
STEPS=${2:-30}
SHARED=${HALOREC_SHARED_DIR:-../shared}
BIN=${BUILD_DIR:-build}/bin/halorec
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

"$BIN" prepare --format lightgcn --train "$SHARED/data/gowalla/train.txt" \
  --test "$SHARED/data/gowalla/test.txt" --out "$OUT/gowalla.h5" > /dev/null 2>&1
"$BIN" train --set data.dataset="$OUT/gowalla.h5" --set output.dir="$OUT/run" \
  --set train.threads="$THREADS" --set train.max_steps="$STEPS" --set train.epochs=1 \
  --set eval.every=1 < /dev/null > "$OUT/halorec.log" 2>&1
/usr/bin/python3 "$SHARED/bench/torch_lightgcn.py" --data "$SHARED/data/gowalla" \
  --steps "$STEPS" --eval --threads "$THREADS" > "$OUT/torch.json"
/usr/bin/python3 - "$OUT/run/metrics.jsonl" "$OUT/torch.json" <<'PY'
import json, sys
ours = json.loads(open(sys.argv[1]).readline())
base = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
print(json.dumps({
    "halorec_step_ms_median": round(ours["step_ms_median"], 2),
    "torch_step_ms_median": base["step_ms_median"],
    "step_ratio": round(ours["step_ms_median"] / base["step_ms_median"], 3),
    "halorec_eval_s": round(ours["eval_seconds"], 2),
    "torch_eval_s": base["eval_s"],
    "eval_ratio": round(ours["eval_seconds"] / base["eval_s"], 3),
    "threads": base["threads"]}))
PY
