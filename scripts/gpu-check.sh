#!/usr/bin/env bash
# gpu-check.sh: prove the GPU path on a machine with an NVIDIA GPU and CuPy, in under five minutes.
#
#   scripts/gpu-check.sh [SUMMARY_FILE]      (default: gpu-check-summary.txt in the current folder)
#
# Runs, in order, each step timed and its verdict written to the summary file:
#   1. `--device auto` must pick the GPU (`gatepose bench --tiny --device auto` reports gpu);
#   2. the GPU tests (`pytest -m gpu`: normalisation, metrics and every test taking the xp fixture);
#   3. `gatepose gradcheck --device gpu` (every registered gradient check, float64 on the GPU);
#   4. a short tiny-model `gatepose train --device gpu`, then 2 + `--resume` 2 steps, whose
#      checkpoint must equal 4 straight steps' exactly;
#   5. `gatepose bench --device gpu --json` (SGEMM at 4096 and 8192, TF32 status, pool high water);
#   6. one SPEC-size training iteration timed on the CPU and on the GPU, side by side.
# Exits 2 with one `error:` line where there is no GPU or no CuPy; 1 when a step fails.
# Uses the Python on PATH (activate the project's venv first); needs no network.
set -u
OUT=${1:-gpu-check-summary.txt}
PY=${PYTHON:-python}
cd "$(dirname "$0")/.." || exit 2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if ! "$PY" -c "import cupy" 2>/dev/null; then
    echo "error: CuPy is not importable with $PY (pip install -e '.[gpu-cuda12]' or '.[gpu-cuda13]'; see the README's GPU section)" >&2
    exit 2
fi
if ! "$PY" -c "from gatepose.backend import gpu_available, gpu_unavailable_reason as r; import sys; ok = gpu_available(); print(r() or '', file=sys.stderr); sys.exit(0 if ok else 1)" 2>"$WORK/why"; then
    echo "error: no usable GPU: $(tail -1 "$WORK/why")" >&2
    exit 2
fi

: > "$OUT"
FAILED=0
say() { echo "$*" | tee -a "$OUT"; }
step() {   # step NAME LIMIT_S COMMAND...: run, time, record pass/fail and the output's tail
    local name=$1 limit=$2; shift 2
    local t0=$(date +%s%N)
    timeout "$limit" "$@" > "$WORK/$name.log" 2>&1
    local rc=$? t1=$(date +%s%N)
    local ms=$(( (t1 - t0) / 1000000 ))
    local dt=$(( ms / 1000 )).$(printf '%03d' $(( ms % 1000 )))
    if [ $rc -eq 0 ]; then say "PASS  $name  (${dt}s)"; else say "FAIL  $name  (rc $rc, ${dt}s)"; FAILED=1; fi
    tail -n 15 "$WORK/$name.log" | sed 's/^/      /' >> "$OUT"
}

say "gatepose gpu-check  $(date -u +%Y-%m-%dT%H:%M:%SZ)  commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
say "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
say "$("$PY" -c 'import cupy, numpy; print("CuPy", cupy.__version__, "CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(), "NumPy", numpy.__version__)')"

step auto-picks-gpu 60 bash -c "$PY -m cli.main bench --tiny --device auto --json 2>&1 | tee /dev/stderr | grep -q '\"device\": \"gpu\"'"
step gpu-tests 120 "$PY" -m pytest -q -m gpu -p no:cacheprovider
step gradcheck-gpu 90 "$PY" -m cli.main gradcheck --device gpu
TINY="--layers 1 --d-model 16 --heads 2 --d-ff 32 --gate-hidden 8 --camera-width 16 --critic-pose-width 8 --critic-kcs-width 16 --batch-size 32 --synth-subjects 2 --quiet"
step train-resume-exact 120 bash -c "
  $PY -m cli.main train --device gpu --steps 4 $TINY --out $WORK/straight &&
  $PY -m cli.main train --device gpu --steps 2 $TINY --out $WORK/split &&
  $PY -m cli.main train --device gpu --steps 4 --quiet --resume $WORK/split &&
  $PY - <<PYEOF
import numpy as np
a, b = np.load('$WORK/straight/checkpoint.npz'), np.load('$WORK/split/checkpoint.npz')
keys = [k for k in a.files if k != '__meta__']
bad = [k for k in keys if not np.array_equal(a[k], b[k])]
print(len(keys), 'arrays compared;', 'all equal' if not bad else 'differ: ' + ', '.join(bad[:5]))
raise SystemExit(1 if bad else 0)
PYEOF"
step bench-gpu 150 bash -c "$PY -m cli.main bench --device gpu --json > $WORK/bench.json && cat $WORK/bench.json"
cp "$WORK/bench.json" "${OUT%.txt}-bench.json" 2>/dev/null
step iteration-cpu-vs-gpu 120 "$PY" - <<'PYEOF'
import time
import numpy as np
from gatepose.backend import resolve_device, synchronize
from gatepose.bench import random_train_data
from gatepose.options import TrainOptions
from gatepose.train import Trainer

opts = TrainOptions(steps=1)                    # SPEC sizes: batch 256, n_critic 5, d 256, 4 layers
data = random_train_data(17, 4 * opts.batch_size * (opts.n_critic + 1))
for name in ("cpu", "gpu"):
    xp, desc = resolve_device(name)
    tr = Trainer(opts, data, xp)
    tr.iteration(); synchronize(xp)
    times = []
    for _ in range(3):
        t = time.perf_counter(); tr.iteration(); synchronize(xp); times.append(time.perf_counter() - t)
    print(f"{name}: one SPEC-size training iteration {1e3 * np.median(times):.1f} ms (median of 3; {desc})")
PYEOF
say ""
if [ $FAILED -eq 0 ]; then say "gpu-check: all steps passed"; else say "gpu-check: FAILED (see above)"; fi
echo "summary written to $OUT" >&2
exit $FAILED
