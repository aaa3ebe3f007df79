#!/usr/bin/env bash
# Issue 15's GPU measurement as ONE command on a lent GPU machine (Python 3.12 with torch, no network):
# the full THINGS-EEG2 protocol's cost for NICE x the weight-free image model, from two full-size
# units of subject 1 (ci/bench_protocol.py). Prepare here first: `bash ci/gpu_wheels.sh` (the
# packages that machine lacks, into .whl/), then run there with carry [".whl"]:
#   bash ci/gpu_protocol.sh              # the recipe's epochs
#   EPOCHS=10 bash ci/gpu_protocol.sh    # fewer epochs when the device time is short (labelled)
#   DEVICE=cpu SIZE=micro EPOCHS=2 bash ci/gpu_protocol.sh   # the same steps on a CPU, in seconds
# Writes $OUT/protocol.json and $OUT/protocol.log (or ./bench-out/ where $OUT is unset); the
# simulation, cache and store go under $WORK (default /tmp/bench-protocol); wheels from $WHEELS (.whl).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-out}"
work="${WORK:-/tmp/bench-protocol}"
wheels="${WHEELS:-.whl}"
mkdir -p "$out" "$work"
if [ -d "$wheels" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$work/site" \
        "$wheels"/*.whl || { echo "installing the carried wheels failed"; exit 1; }
    export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/protocol.log"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" 2>&1 | tee -a "$out/protocol.log"
args=(--device "${DEVICE:-cuda}" --size "${SIZE:-full}" --seeds 2 --cache-dir "$work/cache" --keep "$work/run"
      --json "$out/protocol.json")
[ -n "${EPOCHS:-}" ] && args+=(--epochs "$EPOCHS")
python3 ci/bench_protocol.py "${args[@]}" 2>&1 | tee -a "$out/protocol.log"
exit "${PIPESTATUS[0]}"
