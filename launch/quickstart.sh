#!/usr/bin/env bash
# The main job on a fresh machine: install, build, then the pipeline on
# synthetic data with 2 CPU ranks: synth -> prepare -> partition -> train
# (launch/halorec-run -np 2, i.e. mpirun) -> export -> recommend -> interests
# -> plot -> metrics. Output goes to out/quickstart/.
#
# HALOREC_BIN=PATH uses that binary instead of building one;
# HALOREC_QUICKSTART_OUT=DIR writes somewhere else than out/quickstart.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${HALOREC_BIN:-}" ]; then
  BIN=$HALOREC_BIN
else
  ./scripts/build.sh
  BIN=${BUILD_DIR:-build}/bin/halorec
fi
OUT=${HALOREC_QUICKSTART_OUT:-out/quickstart}
mkdir -p "$OUT"

echo "== synth: interactions with planted interest communities"
# --force here and below: a rerun of the quickstart replaces its own outputs.
"$BIN" synth --users 3000 --items 1500 --interactions 90000 --communities 8 --seed 7 \
  --out "$OUT/interactions.tsv" --force

echo "== prepare: clean (5-core), map ids, split each user's last 2 interactions to test"
"$BIN" prepare --format tsv --input "$OUT/interactions.tsv" --header \
  --user-col user --item-col item --time-col time --kcore 5 --split temporal:2 \
  --out "$OUT/dataset.h5"

echo "== partition: METIS, 2 parts"
"$BIN" partition --dataset "$OUT/dataset.h5" --parts 2 --out "$OUT/parts" --force

echo "== train: LightGCN on 2 CPU ranks"
launch/halorec-run --bin "$BIN" ${MPIRUN:+--mpirun "$MPIRUN"} -np 2 train \
  --config configs/quickstart.yaml --set "data.dataset=$OUT/dataset.h5" \
  --set "data.parts=$OUT/parts" --set "output.dir=$OUT/run" --force

echo "== export: final vectors with original ids and each user's interests -> model.h5"
"$BIN" export --checkpoint "$OUT/run/checkpoints" --out "$OUT/model.h5" --interests

FIRST_USER=$(/usr/bin/python3 -c "import h5py; print(h5py.File('$OUT/dataset.h5')['users/original_id'][0].decode())")
echo "== recommend: top 10 for user $FIRST_USER"
"$BIN" recommend --model "$OUT/model.h5" --user "$FIRST_USER" --k 10 --exclude-seen "$OUT/dataset.h5"
echo "== interests of user $FIRST_USER (clusters of the items they used)"
"$BIN" interests --model "$OUT/model.h5" --dataset "$OUT/dataset.h5" --user "$FIRST_USER"

echo "== plot: training curves and the partition"
/usr/bin/python3 tools/plot.py "$OUT/run" >/dev/null

echo
echo "== metrics ($OUT/run/metrics.jsonl, last evaluation)"
/usr/bin/python3 - "$OUT/run/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
final = rows[-1]
print(f"{'metric':<14}{'value':>10}")
for k in sorted(k for k in final if "@" in k):
    print(f"{k:<14}{final[k]:>10.4f}")
print(f"{'epochs':<14}{final['epochs']:>10}")
print(f"{'seconds':<14}{final['seconds']:>10.1f}")
PY
echo
echo "wrote:"
echo "  $OUT/interactions.tsv              synthetic log (user, item, time)"
echo "  $OUT/interactions.communities.tsv  planted communities"
echo "  $OUT/dataset.h5                    prepared dataset (docs/formats.md)"
echo "  $OUT/parts/                        partition: meta.h5 + rank-0000N.h5"
echo "  $OUT/run/metrics.jsonl             per-epoch loss, timings and metrics"
echo "  $OUT/run/steps.csv                 per-step global loss"
echo "  $OUT/run/config.yaml               effective configuration"
echo "  $OUT/run/checkpoints/              sharded checkpoints (resume with --resume latest)"
echo "  $OUT/run/training.png              loss, metrics and seconds per epoch"
echo "  $OUT/run/partition.png             per-rank nodes, edges and halo"
echo "  $OUT/model.h5                      exported user and item vectors, interests (docs/formats.md)"
