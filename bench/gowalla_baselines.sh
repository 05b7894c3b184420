#!/usr/bin/env bash
# Every baseline on Gowalla (the LightGCN split), one after the other on this
# machine, and any exported models given as arguments, in one Markdown table:
# Recall@20, NDCG@20, coverage@20, wall seconds and peak RSS.
#   bench/gowalla_baselines.sh [ranks] [model.h5 ...]
# HALOREC_BENCH_DATA=DIR (train.txt, test.txt in LightGCN form) runs it on
# other data (the tests use a tiny set); BASELINES="popularity itemknn gfcf
# bspm chebycf" picks methods (ease is left out by default: Gowalla's dense
# item system needs 37.5 GiB); GFCF_OPTS passes options to gfcf, FILTER_OPTS
# to gfcf, bspm and chebycf.
set -euo pipefail
cd "$(dirname "$0")/.."
RANKS=${1:-1}
shift || true
SHARED=${HALOREC_SHARED_DIR:-../shared}
DATA=${HALOREC_BENCH_DATA:-$SHARED/data/gowalla}
BIN=$(cd "${BUILD_DIR:-build}/bin" && pwd)/halorec
METHODS=${BASELINES:-popularity itemknn gfcf bspm chebycf}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

"$BIN" prepare --format lightgcn --train "$DATA/train.txt" --test "$DATA/test.txt" \
  --out "$OUT/data.h5" > /dev/null 2>&1
for m in $METHODS; do
  extra=()
  case $m in
    gfcf) extra=(${FILTER_OPTS:-} ${GFCF_OPTS:-}) ;;
    bspm | chebycf) extra=(${FILTER_OPTS:-}) ;;
  esac
  start=$EPOCHREALTIME
  mpirun -np "$RANKS" "$BIN" --log-level warn baseline --method "$m" --dataset "$OUT/data.h5" \
    --k 20 --json "${extra[@]}" > "$OUT/$m.json"
  echo "{\"start\": $start, \"end\": $EPOCHREALTIME}" > "$OUT/$m.wall"
done
for model in "$@"; do
  name=$(basename "$model" .h5)
  # evaluate reports no memory: its peak RSS is read as a child's.
  start=$EPOCHREALTIME
  rss=$(/usr/bin/python3 -c 'import resource, subprocess, sys
with open(sys.argv[1], "w") as out:
    subprocess.run(sys.argv[2:], stdout=out, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)' \
    "$OUT/model-$name.json" "$BIN" --log-level warn evaluate --model "$model" \
    --dataset "$OUT/data.h5" --k 20 --strategy single --json)
  echo "{\"start\": $start, \"end\": $EPOCHREALTIME, \"rss\": $rss}" > "$OUT/model-$name.wall"
done
/usr/bin/python3 - "$OUT" "$RANKS" $METHODS <<'PY'
import glob, json, os, sys
out, ranks, methods = sys.argv[1], sys.argv[2], sys.argv[3:]
print(f"| method | Recall@20 | NDCG@20 | coverage@20 | wall s | peak RSS MiB |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for m in methods:
    r = json.load(open(f"{out}/{m}.json"))
    w = json.load(open(f"{out}/{m}.wall"))
    wall = w["end"] - w["start"]
    print(f"| {m} (P={ranks}) | {r['recall@20']:.4f} | {r['ndcg@20']:.4f} | "
          f"{r['coverage@20']:.4f} | {wall:.1f} | {r['peak_rss_bytes'] / 2**20:.0f} |")
for path in sorted(glob.glob(f"{out}/model-*.json")):
    r = json.load(open(path))
    w = json.load(open(path[:-5] + ".wall"))
    wall = w["end"] - w["start"]
    name = os.path.basename(path)[6:-5]
    print(f"| {name} (evaluate) | {r['single/recall@20']:.4f} | {r['single/ndcg@20']:.4f} | "
          f"{r['single/coverage@20']:.4f} | {wall:.1f} | {w['rss'] / 2**20:.0f} |")
PY
