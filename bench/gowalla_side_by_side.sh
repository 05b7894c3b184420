#!/usr/bin/env bash
# HaloRec P=1 beside the PyTorch eager LightGCN baseline (../shared/bench/
# torch_lightgcn.py), on Gowalla, same machine, same threads, same BLAS, in
# one run: step time (dim 64, 3 layers, batch 2048) and one full evaluation.
#   bench/gowalla_side_by_side.sh [threads] [steps]
# HALOREC_BENCH_DATA=DIR (train.txt, test.txt in LightGCN form) runs it on
# other data (the tests use a tiny set). The baseline needs Debian's
# python3-torch, which scripts/install-deps.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-2}
STEPS=${2:-30}
SHARED=${HALOREC_SHARED_DIR:-../shared}
DATA=${HALOREC_BENCH_DATA:-$SHARED/data/gowalla}
BASELINE=${HALOREC_BENCH_BASELINE:-$SHARED/bench/torch_lightgcn.py}
BIN=${BUILD_DIR:-build}/bin/halorec
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "the PyTorch baseline needs Debian's python3-torch: run scripts/install-deps.sh" \
       "(or: apt-get install python3-torch)" >&2
  exit 2
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

"$BIN" prepare --format lightgcn --train "$DATA/train.txt" \
  --test "$DATA/test.txt" --out "$OUT/gowalla.h5" > /dev/null 2>&1
"$BIN" train --set data.dataset="$OUT/gowalla.h5" --set output.dir="$OUT/run" \
  --set train.threads="$THREADS" --set train.max_steps="$STEPS" --set train.epochs=1 \
  --set eval.every=1 < /dev/null > "$OUT/halorec.log" 2>&1
/usr/bin/python3 "$BASELINE" --data "$DATA" \
  --steps "$STEPS" --eval --threads "$THREADS" > "$OUT/torch.json"
/usr/bin/python3 - "$OUT/run/metrics.jsonl" "$OUT/torch.json" <<'PY'
import json, sys
# The final row: the steps run (max_steps may end inside the first epoch).
ours = [json.loads(line) for line in open(sys.argv[1])][-1]
assert ours.get("final"), ours
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
