#!/usr/bin/env bash
# hdm05-benchmark.sh: the HDM05 benchmark of docs/benchmark-hdm05.md, from a fresh clone.
#
#   scripts/hdm05-benchmark.sh [MOCAP_FOLDER] [OUT_FOLDER] [SEEDS] [WEAK_STEPS]
#       MOCAP_FOLDER  default ../shared/data/mocap (HDM05's hdm05/ and the CMU clips below it)
#       OUT_FOLDER    default runs/hdm05 (must not exist: nothing is overwritten)
#       SEEDS         default 3
#       WEAK_STEPS    default 6000 (the weak runs' steps; Table 3 runs half of them)
#
# Unseen people, seen kinds of motion (Human3.6M's S9/S11 protocol): train on HDM05's actors bd,
# bk and dg plus every CMU clip, test on HDM05's mm and tr; validation (best.npz) from whole takes
# of the training subjects (--val-split clips), never from the test actors. Steps, in order:
#   1. import (no flags needed for the folder; --drop-implausible leaves out 84 frames with a knee
#      folded past its ASF limit);
#   2. weak, small-weak, WEAK_STEPS steps, SEEDS seeds, one after another;
#   3. full supervision (small-full) for the same steps as the weak runs, then for the same
#      minutes: the weak runs' mean minutes over a supervised step's time, measured by those
#      same-steps runs (so the comparison is at equal wall clock on whatever machine runs this);
#   4. gatepose eval of each run's best.npz on the test actors (JSON and Markdown beside the run),
#      and the table of all runs (scripts/runs-table.py) in OUT_FOLDER/table.md;
#   5. Table 3: gatepose ablate --seeds SEEDS --steps WEAK_STEPS/2, every attention variant.
# Run it on an otherwise idle machine: the minutes are the comparison. On the 2-core development
# machine it takes about two hours.
# Uses the Python on PATH (activate the project's venv first); needs no network.
set -euo pipefail
MOCAP=${1:-../shared/data/mocap}
OUT=${2:-runs/hdm05}
SEEDS=${3:-3}
WEAK_STEPS=${4:-6000}
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -e "$OUT" ]; then
    echo "error: $OUT exists; give another OUT_FOLDER (nothing is overwritten)" >&2
    exit 2
fi
mkdir -p "$OUT"
ARCHIVE="$OUT/hdm05.npz"
gatepose data import-mocap "$MOCAP" --actions "$MOCAP/cmu_index.tsv" --cameras 2 \
    --test-subjects HDM_mm,HDM_tr --drop-implausible --out "$ARCHIVE"
COMMON=(--data "$ARCHIVE" --val-split clips)

minutes() {  # the wall-clock minutes of training a run logged last (metrics.jsonl)
    python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["minutes"])' \
        "$1/metrics.jsonl"
}

for ((s = 0; s < SEEDS; s++)); do
    gatepose train --preset small-weak "${COMMON[@]}" --steps "$WEAK_STEPS" --seed "$s" --out "$OUT/weak-s$s"
done
# full supervision for the same steps; its minutes give a supervised step's time on this machine
# (whole runs, so start-up and warm-up weigh as little as in the runs compared), and so the steps
# that fill the weak runs' mean minutes
for ((s = 0; s < SEEDS; s++)); do
    gatepose train --preset small-full "${COMMON[@]}" --steps "$WEAK_STEPS" --seed "$s" \
        --out "$OUT/full-same-steps-s$s"
done
FULL_STEPS=$(python3 -c '
import sys
n, k = int(sys.argv[1]), int(sys.argv[2])
weak, full = [float(m) for m in sys.argv[3:3 + k]], [float(m) for m in sys.argv[3 + k:]]
per_step = sum(full) / len(full) / n
print(max(500, int(round(sum(weak) / len(weak) / per_step / 500)) * 500))' "$WEAK_STEPS" "$SEEDS" \
    $(for ((s = 0; s < SEEDS; s++)); do minutes "$OUT/weak-s$s"; done) \
    $(for ((s = 0; s < SEEDS; s++)); do minutes "$OUT/full-same-steps-s$s"; done))
echo "full supervision for the weak runs' minutes: $FULL_STEPS steps"
for ((s = 0; s < SEEDS; s++)); do
    gatepose train --preset small-full "${COMMON[@]}" --steps "$FULL_STEPS" --eval-every 500 --seed "$s" \
        --out "$OUT/full-same-minutes-s$s"
done
for run in "$OUT"/*-s*/; do
    gatepose eval --run "$run" --data "$ARCHIVE" --format json > "${run%/}.eval.json"
    gatepose eval --run "$run" --data "$ARCHIVE" --format markdown > "${run%/}.eval.md"
done
python3 "$HERE/runs-table.py" "$OUT"/weak-s*/ "$OUT"/full-same-minutes-s*/ "$OUT"/full-same-steps-s*/ \
    > "$OUT/table.md"
gatepose ablate "${COMMON[@]}" --preset small-weak --steps $((WEAK_STEPS / 2)) --seeds "$SEEDS" \
    --metric n_mpjpe --out "$OUT/ablate" --format markdown > "$OUT/ablate.md"
echo "done: $OUT (the table: $OUT/table.md; per run: $OUT/*.eval.md; Table 3: $OUT/ablate.md)"
