#!/usr/bin/env bash
# The main job on a fresh machine: install, build, then run the pipeline on
# synthetic data and print what it made. Output goes to out/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/build.sh
BIN=${BUILD_DIR:-build}/bin/halorec
OUT=out/quickstart
mkdir -p "$OUT"

echo "== synth: interactions with planted interest communities"
"$BIN" synth --users 2000 --items 1000 --interactions 60000 --communities 8 --seed 7 \
  --out "$OUT/interactions.tsv"

echo "== prepare: clean (5-core), map ids, split each user's last 2 interactions to test"
"$BIN" prepare --format tsv --input "$OUT/interactions.tsv" --header \
  --user-col user --item-col item --time-col time --kcore 5 --split temporal:2 \
  --out "$OUT/dataset.h5"

echo "== info"
"$BIN" info --dataset "$OUT/dataset.h5"

echo
echo "wrote:"
echo "  $OUT/interactions.tsv              synthetic log (user, item, time)"
echo "  $OUT/interactions.communities.tsv  planted communities"
echo "  $OUT/dataset.h5                    prepared dataset (docs/formats.md)"
