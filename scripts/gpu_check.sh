#!/usr/bin/env bash
# On a machine with an NVIDIA GPU, nvcc and a CUDA build of torch: build specdiff._C with the CUDA kernels,
# run the op tests (the CUDA ones in tests/ops/test_cuda.py included) and time every op on the GPU.
#
#   scripts/gpu_check.sh [OUT_DIR]        (default results/; PYTHON=... picks the interpreter)
#
# Writes OUT_DIR/gpu_check.txt (the whole log), OUT_DIR/gpu_bench.json and OUT_DIR/gpu_bench.md (the timings,
# with the device's measured copy bandwidth and each spectral_filter2d time against it). Exits non-zero if
# the build, a test or the benchmark fails. `make gpu-check` runs it with the project's virtual environment.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-results}
py=${PYTHON:-python3}
mkdir -p "$out"
log="$out/gpu_check.txt"

step() {  # step NAME COMMAND...: runs it, remembers a failure, goes on
    echo "== $1"
    shift
    "$@" || { echo "FAILED (exit $?): $*"; failed=1; }
}

run() {
    failed=0
    step environment "$py" -c "import sys, torch; print('python', sys.version.split()[0], '| torch', torch.__version__, '| CUDA', torch.version.cuda); assert torch.cuda.is_available(), 'no GPU visible to torch'; print(torch.cuda.get_device_name(), torch.cuda.get_device_capability())"
    nvcc --version | tail -n 1
    start=$SECONDS
    SPECDIFF_FORCE_CUDA=1 "$py" setup.py -q build_ext --inplace >"$out/gpu_build.txt" 2>&1 \
        || { tail -n 40 "$out/gpu_build.txt"; echo "FAILED: build (SPECDIFF_FORCE_CUDA=1 setup.py build_ext --inplace)"; return 1; }
    echo "== built in $((SECONDS - start)) s (log: $out/gpu_build.txt)"
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
    step "kernels per op" "$py" -c "import torch, specdiff.ops, specdiff.extension as e; assert torch.ops.specdiff._built_with_cuda(), 'specdiff._C was built without CUDA'; print({op: e.has_kernel(op, 'cuda') for op in e.OPS})"
    step "CUDA op tests" "$py" -m pytest -q -p no:cacheprovider tests/ops/test_cuda.py
    step "CUDA op benchmark" "$py" scripts/gpu_bench.py "$out"
    xdist=$("$py" -c "import xdist" 2>/dev/null && echo "-n 8" || true)
    # shellcheck disable=SC2086
    step "all op tests (CPU and CUDA)" "$py" -m pytest -q -p no:cacheprovider $xdist tests/ops
    step "models on CUDA: kernels vs reference" "$py" scripts/gpu_models.py
    return "$failed"
}

run 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
echo "gpu check exit status $status; log in $log"
exit "$status"
