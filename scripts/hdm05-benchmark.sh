#!/usr/bin/env bash
# hdm05-benchmark.sh: the HDM05 benchmark of docs/benchmark-hdm05.md, from a fresh clone.
#
#   scripts/hdm05-benchmark.sh [MOCAP_FOLDER] [OUT_FOLDER] [SEEDS]
#       MOCAP_FOLDER  default ../shared/data/mocap (HDM05's hdm05/ and the CMU clips below it)
#       OUT_FOLDER    default runs/hdm05 (must not exist: nothing is overwritten)
#       SEEDS         default 3
#
# Unseen people, seen kinds of motion (Human3.6M's S9/S11 protocol): train on HDM05's actors bd,
# bk and dg plus every CMU clip, test on HDM05's mm and tr; validation (best.npz) from whole takes
# of the training subjects (--val-split clips), never from the test actors. Steps, in order:
#   1. import (no flags needed for the folder; --drop-implausible leaves out 84 frames with a knee
#      folded past its ASF limit);
#   2. weak small-weak, 3000 steps, SEEDS seeds;
#   3. full supervision (small-full), the same 3000 steps, and 10000 steps (about the weak run's
#      minutes: a weak step costs about 3.4 supervised ones here);
#   4. gatepose eval of each run's best.npz on the test actors (JSON beside the run);
#   5. Table 3: gatepose ablate --seeds SEEDS --steps 1500.
# On the 2-core development machine this takes about 2.5 hours.
# Uses the Python on PATH (activate the project's venv first); needs no network.
set -euo pipefail
MOCAP=${1:-../shared/data/mocap}
OUT=${2:-runs/hdm05}
SEEDS=${3:-3}
if [ -e "$OUT" ]; then
    echo "error: $OUT exists; give another OUT_FOLDER (nothing is overwritten)" >&2
    exit 2
fi
mkdir -p "$OUT"
ARCHIVE="$OUT/hdm05.npz"
gatepose data import-mocap "$MOCAP" --actions "$MOCAP/cmu_index.tsv" --cameras 2 \
    --test-subjects HDM_mm,HDM_tr --drop-implausible --out "$ARCHIVE"
COMMON=(--data "$ARCHIVE" --val-split clips)
for ((s = 0; s < SEEDS; s++)); do
    gatepose train --preset small-weak "${COMMON[@]}" --steps 3000 --seed "$s" --out "$OUT/weak-3000-s$s"
    gatepose train --preset small-full "${COMMON[@]}" --steps 3000 --seed "$s" --out "$OUT/full-3000-s$s"
    gatepose train --preset small-full "${COMMON[@]}" --steps 10000 --eval-every 500 --seed "$s" \
        --out "$OUT/full-10000-s$s"
done
for run in "$OUT"/*-s*/; do
    gatepose eval --run "$run" --data "$ARCHIVE" --format json > "${run%/}.eval.json"
    gatepose eval --run "$run" --data "$ARCHIVE" --format markdown > "${run%/}.eval.md"
done
gatepose ablate "${COMMON[@]}" --preset small-weak --steps 1500 --seeds "$SEEDS" \
    --out "$OUT/ablate" --format markdown > "$OUT/ablate.md"
echo "done: $OUT (eval tables: $OUT/*.eval.md; Table 3: $OUT/ablate.md)"
