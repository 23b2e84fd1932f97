#!/usr/bin/env bash
# supervision-gap-benchmark.sh: weak supervision against a tuned supervised baseline on two tests,
# at equal minutes (docs/benchmark-gap.md), from a fresh clone.
#
#   scripts/supervision-gap-benchmark.sh PHASE [OUT_FOLDER] [MOCAP_FOLDER]
#       PHASE         all, or one of: import steptimes search weak full untuned previous size detector
#                     rig projection critic perspective schedule eval table (in that order; weak and
#                     size need only import, so they may run beside search + full; previous needs
#                     steptimes; untuned, detector and rig need steptimes and search; projection,
#                     critic, perspective and schedule need rig's archive)
#       OUT_FOLDER    default runs/gap (phases add to it; a run folder that exists is never touched)
#       MOCAP_FOLDER  default ../shared/data/mocap (HDM05's hdm05/ and the CMU clips below it)
#   Environment: SEEDS (3), WEAK_STEPS (6000), SEARCH_STEPS (3000), DET_SEEDS (1), RIG_SEEDS (1),
#   PROJ_SEEDS (1).
#
# The two tests (HDM05 + CMU; train on HDM05's bd, bk, dg and every CMU clip):
#   test       HDM05's actors mm and tr: new people on their own skeletons (as hdm05-benchmark.sh);
#   test-seen  every 5th take of the training actors, held out whole (import-mocap
#              --test-seen-every 5): new takes of people and motions seen in training, where labels
#              help most.
# Validation (best.npz, and every choice below) is whole takes of the training split (--val-split
# clips), never either test.
# Phases:
#   import     the archive, OUT/hdm05.npz;
#   steptimes  one step of small-weak and of small-full timed side by side (gatepose bench --preset)
#              on this machine; the full runs' steps are WEAK_STEPS times their ratio (equal minutes
#              of training steps; validation and start-up are left out of both);
#   search     the supervised recipe: small-full as it was before this search (no EMA, cosine:
#              UNTUNED below) and one change at a time (Adam's betas, learning rate, squared loss,
#              batch, EMA, mirrored inputs, a constant rate), SEARCH_STEPS steps, seed 0; then every
#              change that beat the start on validation, together; the lowest best validation
#              N-MPJPE wins (OUT/search/winner.txt; small-full is now that winner);
#   weak       small-weak, WEAK_STEPS steps, SEEDS seeds (size, detector, projection and critic
#              below add their lever to small-weak as it was before its perspective and its constant
#              rate: --perspective 0 --lr-schedule cosine);
#   full       the winner for the equal minutes, SEEDS seeds;
#   untuned    the search's start for the equal minutes, seed 0 (may run beside full);
#   previous   what this page first reported, SEEDS seeds: small-weak before 2026-12-07 (the depth
#              lift, no 2D noise) and the first search's winner (--ema 0.99, cosine);
#   size       small-weak at d 96 (seeds 0-2) and d 128 (seeds 0, 1) for the same minutes (4150
#              and 3150 steps);
#   detector   trained for detector inputs (docs/detector-inputs.md), DET_SEEDS seeds: small-weak
#              with joint dropout and without the clean target; small-weak with more noise
#              (--aug-noise-2d 0.016, 0.02); small-weak with a noise level per pose
#              (--aug-noise-spread, at 0.012, 0.014 and 0.016); the winner with 2D noise and joint
#              dropout (noise 0.012, 0.008, 0.006), with a noise level per pose with and without
#              dropout, and with the offset lift on exact 2D and with noise 0.012 and dropout;
#   rig        the fixed rig: the same motion filmed by Human3.6M's four cameras (every take, train
#              and test alike: OUT/hdm05-h36m.npz, import-mocap --camera-rig h36m), so a held-out take
#              is new motion seen from the cameras training saw, as in Human3.6M's protocols;
#              small-weak (rig-weak) and the winner for the equal minutes (rig-full), RIG_SEEDS
#              seeds, each evaluated on its archive's tests and training frames;
#   projection small-weak with the random-projection critic (--w-adv-2d 1) for the same minutes as
#              small-weak (4900 steps), and with batch 64 (8000 steps), on both archives
#              (weak-adv2d, rig-adv2d, weak-b64, rig-b64), PROJ_SEEDS seeds;
#   critic     small-weak with three critic steps per generator step (5000 steps) and with the
#              critic's KCS path 512 wide (4900 steps), the same minutes, on both archives (weak-nc3,
#              rig-nc3, weak-kcs512, rig-kcs512), PROJ_SEEDS seeds;
#   perspective small-weak without its perspective (--perspective 0: the orthographic reprojection,
#              small-weak before its perspective), the same 6000 steps (a step timed side by side: 144.9
#              against 144.6 ms with it), SEEDS seeds on both archives (weak-ortho, rig-ortho); and
#              small-weak with a misjudged K on the fixed rig, half and twice its 0.4 (rig-k02,
#              rig-k08), seed 0; and small-weak with the random-projection critic, whose turned
#              poses have the perspective too (4900 steps, weak-adv2dp, rig-adv2dp), seed 0 (these
#              three with the cosine rate, as measured);
#   schedule   small-weak with small's cosine decay of the rate (--lr-schedule cosine: small-weak
#              before its constant rate), SEEDS seeds on both archives (weak-cosine, rig-cosine); and
#              with twice the self-consistency weight (--w-geo 6) on the fixed rig, seed 0 (rig-geo6);
#              and small-weak with a longer moving average (--ema 0.998) there, seed 0 (rig-ema998);
#   eval       every run's best.npz on both tests, on 6000 of its own training frames (how well it
#              fits what it saw: --split train), and on the test split with 2D noise (5 and 10
#              px), one joint missing and detector-like errors (docs/detector-inputs.md): RUN.<test>.json
#              beside each run, each pose lifted once; an offset-lift run (small-weak) also
#              RUN.<test>-refined.json, lifted twice where its first lift moved the joints further
#              than on 99 % of its clean validation poses;
#   table      scripts/gap-table.py OUT > OUT/table.md.
# Uses the Python on PATH (activate the project's venv first); needs no network.
set -euo pipefail
PHASES="all import steptimes search weak full untuned previous size detector rig projection critic perspective schedule eval table"
PHASE=${1:-}
if [[ " $PHASES " != *" $PHASE "* || -z $PHASE ]]; then   # before anything is made
    echo "error: PHASE: expected one of: ${PHASES// /, }, got '$PHASE' (usage: scripts/supervision-gap-benchmark.sh PHASE [OUT_FOLDER] [MOCAP_FOLDER])" >&2
    exit 2
fi
OUT=${2:-runs/gap}
MOCAP=${3:-../shared/data/mocap}
SEEDS=${SEEDS:-3}
WEAK_STEPS=${WEAK_STEPS:-6000}
SEARCH_STEPS=${SEARCH_STEPS:-3000}
DET_SEEDS=${DET_SEEDS:-1}
RIG_SEEDS=${RIG_SEEDS:-1}
PROJ_SEEDS=${PROJ_SEEDS:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
# small-weak reprojects with perspective since late on 2026-12-07 (--perspective 0.4) and keeps a constant
# rate since later that day; the levers below were measured against it before then, so they run without
# them, as measured (docs/benchmark-gap.md)
COSINE="--lr-schedule cosine"
ORTHO="--perspective 0 $COSINE"
ARCHIVE="$OUT/hdm05.npz"
COMMON=(--data "$ARCHIVE" --val-split clips --quiet)
mkdir -p "$OUT"

train() {  # train OUT_RUN OPTIONS...: a run, unless its folder is there already (a finished phase)
    local run=$1
    shift
    if [ -e "$run" ]; then echo "kept: $run (exists)"; return; fi
    echo "training $run: $*"
    gatepose train "${COMMON[@]}" "$@" --out "$run"
}

best_val() {  # the lowest validation N-MPJPE a run logged
    python3 -c 'import json, sys
print(min(json.loads(l)["val_n_mpjpe"] for l in open(sys.argv[1]) if "val_n_mpjpe" in l))' "$1/metrics.jsonl"
}

import_archive() {  # import_archive OUT_FILE CAMERA_OPTIONS...: the benchmark's split, filmed as asked
    local out=$1
    shift
    [ -e "$out" ] && { echo "kept: $out (exists)"; return; }
    gatepose data import-mocap "$MOCAP" --actions "$MOCAP/cmu_index.tsv" "$@" \
        --test-subjects HDM_mm,HDM_tr --test-seen-every 5 --drop-implausible --out "$out"
}

phase_import() {
    import_archive "$ARCHIVE" --cameras 2
}

phase_steptimes() {
    gatepose bench --preset small-weak --json > "$OUT/bench-small-weak.json"
    gatepose bench --preset small-full --json > "$OUT/bench-small-full.json"
    python3 -c 'import json, sys
w, f = (json.load(open(p))["step_ms"] for p in sys.argv[1:3])
print(max(500, int(round(int(sys.argv[3]) * w / f / 500)) * 500))' \
        "$OUT/bench-small-weak.json" "$OUT/bench-small-full.json" "$WEAK_STEPS" > "$OUT/full-steps.txt"
    echo "a weak step costs $(python3 -c 'import json, sys
w, f = (json.load(open(p))["step_ms"] for p in sys.argv[1:3]); print(f"{w / f:.2f}")' \
        "$OUT/bench-small-weak.json" "$OUT/bench-small-full.json") supervised steps: full runs $(cat "$OUT/full-steps.txt") steps"
}

# The search starts from small-full as it was before the search chose its recipe (since 2026-12-07
# small-full is the winner, --ema 0.99 --lr-schedule constant); "small-full" below names that start.
UNTUNED=(--preset small-full --ema 0 --lr-schedule cosine)
# the search's candidates: name, then the options that differ from the start
CANDIDATES=(
    "small-full|"
    "betas|--betas 0.9 0.999"
    "lr-1e-3|--lr 1e-3"
    "lr-2e-4|--lr 2e-4"
    "squared|--sup-loss squared"
    "batch-256|--batch-size 256"
    "ema|--ema 0.99"
    "flip|--aug-flip-2d"
    "constant|--lr-schedule constant"
)

phase_search() {
    mkdir -p "$OUT/search"
    local name opts base better=()
    : > "$OUT/search/results.txt.tmp"      # an interrupted search's lines are not kept twice
    for c in "${CANDIDATES[@]}"; do
        name=${c%%|*}; opts=${c#*|}
        # shellcheck disable=SC2086
        train "$OUT/search/$name" "${UNTUNED[@]}" --steps "$SEARCH_STEPS" --eval-every 250 --seed 0 $opts
        echo "$name|$opts|$(best_val "$OUT/search/$name")" >> "$OUT/search/results.txt.tmp"
    done
    mv "$OUT/search/results.txt.tmp" "$OUT/search/results.txt"
    base=$(best_val "$OUT/search/small-full")
    for c in "${CANDIDATES[@]:1}"; do
        name=${c%%|*}; opts=${c#*|}
        if python3 -c 'import sys; sys.exit(not float(sys.argv[1]) < float(sys.argv[2]))' \
            "$(best_val "$OUT/search/$name")" "$base"; then better+=("$opts"); fi
    done
    if [ ${#better[@]} -ge 2 ]; then
        # shellcheck disable=SC2068
        train "$OUT/search/combined" "${UNTUNED[@]}" --steps "$SEARCH_STEPS" --eval-every 250 --seed 0 ${better[@]}
        echo "combined|${better[*]}|$(best_val "$OUT/search/combined")" >> "$OUT/search/results.txt"
    fi
    sort -t'|' -k3 -g "$OUT/search/results.txt" | head -1 | cut -d'|' -f2 > "$OUT/search/winner.txt"
    echo "supervised recipe: small-full $(cat "$OUT/search/winner.txt") (best validation of: $OUT/search/results.txt)"
}

phase_weak() {
    for ((s = 0; s < SEEDS; s++)); do
        train "$OUT/weak-s$s" --preset small-weak --steps "$WEAK_STEPS" --seed "$s"
    done
}

phase_full() {
    local steps opts
    steps=$(cat "$OUT/full-steps.txt")
    opts=$(cat "$OUT/search/winner.txt")
    for ((s = 0; s < SEEDS; s++)); do
        # shellcheck disable=SC2086
        train "$OUT/full-tuned-s$s" "${UNTUNED[@]}" --steps "$steps" --eval-every 500 --seed "$s" $opts
    done
}

phase_untuned() {  # the search's start for the same minutes, seed 0: what the search changed
    train "$OUT/full-untuned-s0" "${UNTUNED[@]}" --steps "$(cat "$OUT/full-steps.txt")" --eval-every 500 --seed 0
}

phase_size() {  # a wider small-weak at equal minutes: 6000 steps times the step-time ratio
    # (timed 2026-12-07 on one core beside a run on the other, steps 40-160: d 64 216 ms a step,
    # d 96 312 ms, d 128 409 ms; time another machine's with a short run of each)
    local s
    for s in 0 1 2; do
        train "$OUT/weak-d96-s$s" --preset small-weak $ORTHO --d-model 96 --d-ff 192 --steps 4150 --seed "$s"
    done
    for s in 0 1; do
        train "$OUT/weak-d128-s$s" --preset small-weak $ORTHO --d-model 128 --d-ff 256 --steps 3150 --seed "$s"
    done
}

phase_previous() {  # what this page first reported: small-weak before 2026-12-07, the first search's winner
    local s
    for ((s = 0; s < SEEDS; s++)); do
        train "$OUT/weak-depth-s$s" --preset small-weak --steps "$WEAK_STEPS" --seed "$s" --lift depth \
            --aug-noise-2d 0 --no-reproject-clean $ORTHO
        train "$OUT/full-cosine-s$s" --preset small-full --steps "$(cat "$OUT/full-steps.txt")" --eval-every 500 \
            --seed "$s" --ema 0.99 --lr-schedule cosine
    done
}

phase_detector() {
    local s run
    for ((s = 0; s < DET_SEEDS; s++)); do
        # small-weak without the clean target, with joint dropout (the missing-joint token)
        train "$OUT/det-weak-s$s" --preset small-weak $ORTHO --steps "$WEAK_STEPS" --seed "$s" --no-reproject-clean \
            --aug-drop-joints 0.05
        train "$OUT/weak-noise16-s$s" --preset small-weak $ORTHO --steps "$WEAK_STEPS" --seed "$s" --aug-noise-2d 0.016
        train "$OUT/weak-noise20-s$s" --preset small-weak $ORTHO --steps "$WEAK_STEPS" --seed "$s" --aug-noise-2d 0.02
        # a noise level per pose, uniform on [0, 2 SIGMA]
        train "$OUT/weak-spread12-s$s" --preset small-weak $ORTHO --steps "$WEAK_STEPS" --seed "$s" --aug-noise-spread
        train "$OUT/weak-spread16-s$s" --preset small-weak $ORTHO --steps "$WEAK_STEPS" --seed "$s" --aug-noise-2d 0.016 \
            --aug-noise-spread
        # the supervised winner trained for detector inputs (its own xyz output moves x and y)
        # shellcheck disable=SC2046
        train "$OUT/det-full-s$s" "${UNTUNED[@]}" --steps "$(cat "$OUT/full-steps.txt")" --eval-every 500 \
            --seed "$s" $(cat "$OUT/search/winner.txt") --aug-noise-2d 0.012 --aug-drop-joints 0.05
        # shellcheck disable=SC2046
        train "$OUT/full-spread-s$s" "${UNTUNED[@]}" --steps "$(cat "$OUT/full-steps.txt")" --eval-every 500 \
            --seed "$s" $(cat "$OUT/search/winner.txt") --aug-noise-2d 0.012 --aug-noise-spread --aug-drop-joints 0.05
        # shellcheck disable=SC2046
        train "$OUT/full-spreadnd-s$s" "${UNTUNED[@]}" --steps "$(cat "$OUT/full-steps.txt")" --eval-every 500 \
            --seed "$s" $(cat "$OUT/search/winner.txt") --aug-noise-2d 0.012 --aug-noise-spread
        train "$OUT/weak-spread14-s$s" --preset small-weak $ORTHO --steps "$WEAK_STEPS" --seed "$s" --aug-noise-2d 0.014 \
            --aug-noise-spread
        # the winner with less noise (0.006, 0.008) and dropout; with the offset lift, on exact and noisy 2D
        for run in "n006d|--aug-noise-2d 0.006 --aug-drop-joints 0.05" "n008d|--aug-noise-2d 0.008 --aug-drop-joints 0.05" \
            "off|--lift offset" "off012d|--lift offset --aug-noise-2d 0.012 --aug-drop-joints 0.05"; do
            # shellcheck disable=SC2046,SC2086
            train "$OUT/full-${run%%|*}-s$s" "${UNTUNED[@]}" --steps "$(cat "$OUT/full-steps.txt")" --eval-every 500 \
                --seed "$s" $(cat "$OUT/search/winner.txt") ${run#*|}
        done
    done
}

evaluate() {  # evaluate RUN NAME OPTIONS...: RUN.NAME.json on $ARCHIVE, unless there; each pose lifted
    # once (--no-refine), and for an offset-lift run also RUN.NAME-refined.json: lifted twice where noisy,
    # by the threshold of its own validation poses (scripts/refine-threshold.py: best.npz's rule)
    local run=$1 name=$2 threshold
    shift 2
    if [ ! -e "$run.$name.json" ]; then
        gatepose eval --run "$run" --data "$ARCHIVE" --format json --no-refine "$@" > "$run.$name.json.tmp"
        mv "$run.$name.json.tmp" "$run.$name.json"
    fi
    [ -e "$run.$name-refined.json" ] && return
    # the run's threshold, once per run (RUN.refine-above beside it; "none": not an offset lift)
    [ -e "$run.refine-above" ] || { python3 "$HERE/refine-threshold.py" "$run" "$ARCHIVE" 2>/dev/null || echo none; } \
        > "$run.refine-above"
    threshold=$(cat "$run.refine-above")
    [ "$threshold" = none ] && return
    gatepose eval --run "$run" --data "$ARCHIVE" --format json --refine-above "$threshold" "$@" > "$run.$name-refined.json.tmp"
    mv "$run.$name-refined.json.tmp" "$run.$name-refined.json"
}

phase_rig() {  # the fixed rig's archive, its two runs, and their evaluations on it
    # train and evaluate read ARCHIVE and COMMON: these locals point them at the rig's archive
    local s run ARCHIVE="$OUT/hdm05-h36m.npz" COMMON=(--data "$OUT/hdm05-h36m.npz" --val-split clips --quiet)
    import_archive "$ARCHIVE" --camera-rig h36m
    for ((s = 0; s < RIG_SEEDS; s++)); do
        train "$OUT/rig-weak-s$s" --preset small-weak --steps "$WEAK_STEPS" --seed "$s"
        # shellcheck disable=SC2046
        train "$OUT/rig-full-s$s" "${UNTUNED[@]}" --steps "$(cat "$OUT/full-steps.txt")" --eval-every 500 \
            --seed "$s" $(cat "$OUT/search/winner.txt")
        for run in "$OUT/rig-weak-s$s" "$OUT/rig-full-s$s"; do
            evaluate "$run" test
            evaluate "$run" test-seen --split test-seen
            evaluate "$run" train --split train --max-frames 6000
        done
    done
}

lever_runs() {  # lever_runs "NAME|OPTIONS"...: small-weak with each lever, PROJ_SEEDS seeds, on both
    # archives (OUT/weak-NAME-sN, OUT/rig-NAME-sN; the rig's runs evaluated here, the others by eval)
    local s lever
    for ((s = 0; s < PROJ_SEEDS; s++)); do
        for lever in "$@"; do
            # shellcheck disable=SC2086
            train "$OUT/weak-${lever%%|*}-s$s" --preset small-weak --seed "$s" ${lever#*|}
        done
    done
    rig_lever_runs "$@"
}

rig_lever_runs() {  # rig_lever_runs "NAME|OPTIONS"...: the same on the fixed rig's archive alone
    local s run lever ARCHIVE="$OUT/hdm05-h36m.npz" COMMON=(--data "$OUT/hdm05-h36m.npz" --val-split clips --quiet)
    for ((s = 0; s < PROJ_SEEDS; s++)); do
        for lever in "$@"; do
            run="$OUT/rig-${lever%%|*}-s$s"
            # shellcheck disable=SC2086
            train "$run" --preset small-weak --seed "$s" ${lever#*|}
            evaluate "$run" test
            evaluate "$run" test-seen --split test-seen
            evaluate "$run" train --split train --max-frames 6000
        done
    done
}

phase_projection() {  # two levers at small-weak's minutes: the random-projection critic (its step
    # costs 1.18 small-weak steps, 4900 steps) and batch 64 (0.74, 8000 steps); timed 2026-12-07
    # side by side with small-weak on the idle machine (gatepose bench --preset, medians of 3 rounds)
    lever_runs "adv2d|--steps 4900 --w-adv-2d 1 $ORTHO" "b64|--steps 8000 --batch-size 64 $ORTHO"
}

phase_critic() {  # a stronger critic at small-weak's minutes: three critic steps per generator step
    # (a step costs 1.19 small-weak steps, 5000 steps) and the KCS path at 512 wide (1.22, 4900
    # steps); timed 2026-12-07 side by side with small-weak in one process (medians of 60 steps each)
    lever_runs "nc3|--steps 5000 --n-critic 3 $ORTHO" "kcs512|--steps 4900 --critic-kcs-width 512 $ORTHO"
}

phase_perspective() {  # small-weak's perspective (K 0.4: the median pose size over camera distance
    # of either archive's training poses, 0.401 and 0.406): without it (the orthographic
    # reprojection, small-weak before its perspective), SEEDS seeds on both archives; and a misjudged K
    # on the fixed rig (half and twice its own), seed 0
    PROJ_SEEDS=$SEEDS lever_runs "ortho|--steps $WEAK_STEPS $ORTHO"
    PROJ_SEEDS=1 rig_lever_runs "k02|--steps $WEAK_STEPS --perspective 0.2 $COSINE" \
        "k08|--steps $WEAK_STEPS --perspective 0.8 $COSINE"
    # the random-projection critic again, its turned poses now drawn with the perspective (4900 steps)
    PROJ_SEEDS=1 lever_runs "adv2dp|--steps 4900 --w-adv-2d 1 $COSINE"
}

phase_schedule() {  # small-weak with small's cosine decay of the rate (small-weak before its constant
    # rate; the step's cost is the same), SEEDS seeds on both archives (weak-cosine, rig-cosine); and
    # twice the self-consistency weight with it on the fixed rig, seed 0 (rig-geo6)
    PROJ_SEEDS=$SEEDS lever_runs "cosine|--steps $WEAK_STEPS $COSINE"
    PROJ_SEEDS=1 rig_lever_runs "geo6|--steps $WEAK_STEPS --w-geo 6 $COSINE"
    # a longer moving average with the constant rate (small-weak as it is), fixed rig, seed 0 (rig-ema998)
    PROJ_SEEDS=1 rig_lever_runs "ema998|--steps $WEAK_STEPS --ema 0.998"
}

phase_eval() {
    local run
    for run in "$OUT"/weak-s* "$OUT"/weak-*-s* "$OUT"/full-*-s* "$OUT"/det-*-s*; do
        [ -d "$run" ] || continue
        evaluate "$run" test
        evaluate "$run" test-seen --split test-seen
        evaluate "$run" train --split train --max-frames 6000
        evaluate "$run" noise-5 --noise-2d 5
        evaluate "$run" noise-10 --noise-2d 10
        evaluate "$run" drop-1 --drop-joints 1
        evaluate "$run" detector --detector-noise
    done
}

phase_table() {
    python3 "$HERE/gap-table.py" "$OUT" > "$OUT/table.md"
    cat "$OUT/table.md"
}

case "$PHASE" in
    all) phase_import; phase_steptimes; phase_search; phase_weak; phase_full; phase_untuned; phase_previous
         phase_size; phase_detector; phase_rig; phase_projection; phase_critic; phase_perspective; phase_schedule
         phase_eval; phase_table ;;
    *) "phase_$PHASE" ;;   # one of PHASES (checked at the top)
esac
