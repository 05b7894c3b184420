#!/usr/bin/env bash
# The scale table (docs/benchmarks.md, "Scale"): for each size, a synthetic
# interaction log is made, then prepared, partitioned and trained for one
# epoch in minibatch mode under mpirun, and the model is compared with
# popularity on the same sampled test users. One Markdown row per size:
# wall time and peak RSS of every stage (every rank's for train), trained
# edges per second (and per core), Recall@20 of the model and of popularity,
# then the export by the same ranks (each writes its rows; model.h5 joins them).
#   bench/scale.sh [SIZE ...]     SIZE: 10M, 30M, 100M, or USERS:ITEMS:INTERACTIONS
# Environment: RANKS (2), PARTITION (random), LAYERS (1), FANOUTS (10), DIM
# (64), BATCH (8192), LR (0.01), EVAL_USERS (10000), THREADS (cores / ranks),
# WORK (a temporary folder, removed unless KEEP=1), EXTRA ("key=value ..."
# more train --set overrides). The log for N interactions has N/10 users and
# N/50 items, 256 planted communities, seed 3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(cd "${BUILD_DIR:-build}/bin" && pwd)/halorec
RANKS=${RANKS:-2}
CORES=$(nproc)
THREADS=${THREADS:-$(( CORES / RANKS > 0 ? CORES / RANKS : 1 ))}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10M 30M 100M)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
if [ -n "${WORK:-}" ]; then
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d)
  [ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
fi

# seconds of a command, its stdout to $1
timed() {
  local out=$1
  shift
  local start=$EPOCHREALTIME
  "$@" > "$out"
  /usr/bin/python3 -c "print(round($EPOCHREALTIME - $start, 1))"
}

echo "| interactions | train edges | synth s | prepare s / MiB | partition s / MiB | train s (epoch) | eval s | train peak RSS MiB per rank | export s / MiB per rank | edges/s | edges/s/core | Recall@20 | popularity | ratio |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |"
for size in "${SIZES[@]}"; do
  case $size in
    *:*:*) IFS=: read -r users items n <<< "$size" ;;
    *M) n=$(( ${size%M} * 1000000 )); users=$(( n / 10 )); items=$(( n / 50 )) ;;
    *) echo "bench/scale.sh: size '$size' is not 10M, 30M, 100M or USERS:ITEMS:INTERACTIONS" >&2
       exit 2 ;;
  esac
  d="$WORK/${size//:/x}"
  mkdir -p "$d"
  synth_s=$(timed "$d/synth.json" "$BIN" --log-level warn synth --users "$users" --items "$items" \
    --interactions "$n" --communities 256 --seed 3 --out "$d/log.tsv" --force --json)
  prep_s=$(timed "$d/prepare.json" "$BIN" --log-level warn prepare --format tsv --header \
    --train "$d/log.tsv" --time-col time --split random:0.2 --out "$d/data.h5" --json)
  rm -f "$d/log.tsv" "$d/log.communities.tsv"
  part_s=$(timed "$d/partition.json" "$BIN" --log-level warn partition --dataset "$d/data.h5" \
    --parts "$RANKS" --method "${PARTITION:-random}" --out "$d/parts" --force --json)
  sets=(data.dataset="$d/data.h5" data.parts="$d/parts" output.dir="$d/run"
        train.propagation=minibatch model.type=lightgcn model.layers="${LAYERS:-1}"
        train.fanouts="${FANOUTS:-10}" model.dim="${DIM:-64}" train.batch_size="${BATCH:-8192}"
        train.lr="${LR:-0.01}" train.sampler=edge train.epochs=1 train.threads="$THREADS"
        eval.users="${EVAL_USERS:-10000}" checkpoint.every=0)
  for kv in ${EXTRA:-}; do sets+=("$kv"); done
  args=()
  for kv in "${sets[@]}"; do args+=(--set "$kv"); done
  rm -rf "$d/run"
  train_s=$(timed "$d/train.out" mpirun -np "$RANKS" "$BIN" --log-level warn train --force \
    "${args[@]}")
  export_s=$(timed "$d/export.json" mpirun -np "$RANKS" "$BIN" --log-level warn export \
    --checkpoint "$d/run/checkpoints" --out "$d/model.h5" --json)
  mpirun -np "$RANKS" "$BIN" --log-level warn baseline --method popularity --dataset "$d/data.h5" \
    --parts "$d/parts" --eval-users "${EVAL_USERS:-10000}" --json > "$d/popularity.json"
  /usr/bin/python3 - "$d" "$n" "$synth_s" "$prep_s" "$part_s" "$train_s" "$CORES" "$export_s" <<'PY'
import json, sys
d, n, synth_s, prep_s, part_s, train_s, cores, export_s = sys.argv[1:]
export = json.load(open(f"{d}/export.json"))
export_rss = " / ".join(f"{x:.0f}" for x in export["peak_rss_mib"])
prep = json.load(open(f"{d}/prepare.json"))
part = json.load(open(f"{d}/partition.json"))
records = [json.loads(line) for line in open(f"{d}/run/metrics.jsonl")]
epoch = next(r for r in records if r.get("epoch") == 1)
final = next(r for r in records if r.get("final"))
pop = json.load(open(f"{d}/popularity.json"))
mib = lambda b: b / 2**20
eps = epoch["edges_per_second"]
rss = " / ".join(f"{x:.0f}" for x in final["peak_rss_mib"])
print(f"| {int(n):,} | {prep['train']:,} | {synth_s} | {prep_s} / {mib(prep['peak_rss_bytes']):.0f} "
      f"| {part_s} / {mib(part['peak_rss_bytes']):.0f} | {train_s} ({epoch['epoch_seconds']:.1f}) "
      f"| {epoch['eval_seconds']:.1f} | {rss} | {export_s} / {export_rss} | {eps:,.0f} | {eps / int(cores):,.0f} "
      f"| {epoch['recall@20']:.4f} | {pop['recall@20']:.4f} "
      f"| {epoch['recall@20'] / max(pop['recall@20'], 1e-12):.1f}x |", flush=True)
PY
done
