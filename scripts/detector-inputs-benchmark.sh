#!/usr/bin/env bash
# detector-inputs-benchmark.sh: the HDM05 benchmark's split (test actors mm, tr; validation from held-out
# takes of the training actors), one seed: small-weak, small-weak trained for detector inputs, and
# small-full, each evaluated on exact 2D, Gaussian noise of 2/5/10/20 px, one random joint missing and
# the detector-like corruption (docs/detector-inputs.md).
#
#   scripts/detector-inputs-benchmark.sh [MOCAP_FOLDER] [OUT_FOLDER] [SEED]
#       (defaults: ../shared/data/mocap  runs/detector-inputs  0); about 45 minutes on 2 idle cores.
set -euo pipefail
MOCAP=${1:-../shared/data/mocap}
OUT=${2:-runs/detector-inputs}
SEED=${3:-0}
if [ -e "$OUT" ]; then
    echo "error: $OUT exists; give another OUT_FOLDER (nothing is overwritten)" >&2
    exit 2
fi
mkdir -p "$OUT"
A="$OUT/hdm05.npz"
gatepose data import-mocap "$MOCAP" --actions "$MOCAP/cmu_index.tsv" --cameras 2 \
    --test-subjects HDM_mm,HDM_tr --drop-implausible --out "$A"
C=(--data "$A" --val-split clips --seed "$SEED" --quiet)
gatepose train --preset small-weak "${C[@]}" --steps 6000 --out "$OUT/weak"
gatepose train --preset small-weak "${C[@]}" --steps 6000 --aug-noise-2d 0.012 --aug-drop-joints 0.05 \
    --out "$OUT/weak-aug"
gatepose train --preset small-full "${C[@]}" --steps 12000 --eval-every 500 --out "$OUT/full"
for run in weak weak-aug full; do
    for setting in "exact:" "n2:--noise-2d 2" "n5:--noise-2d 5" "n10:--noise-2d 10" "n20:--noise-2d 20" \
                   "d1:--drop-joints 1" "det:--detector-noise"; do
        gatepose eval --run "$OUT/$run" --data "$A" --format json ${setting#*:} > "$OUT/$run.${setting%%:*}.json"
    done
done
echo "done: $OUT (per run and input: OUT/RUN.SETTING.json, 'All frames' of results.model)"
