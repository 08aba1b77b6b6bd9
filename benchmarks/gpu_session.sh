#!/usr/bin/env bash
# Everything a lent CUDA machine should check and measure, in one command, most valuable first
# (docs/RESULTS.md "GPU"). Each step has its own time limit; a failed step does not stop the others.
#
#   OUT=/tmp/gpu_out ZOO_SHARED_DATA=/path/to/shared/data [ZOO_CHECKPOINT=best.ckpt] \
#     [ZOO_GPU_STEPS="check md compare train cpp"] [ZOO_MD_ARGS=...] [ZOO_COMPARE_ARGS=...] \
#     bash benchmarks/gpu_session.sh
#
# 1. benchmarks/gpu_check.py: neighbour lists, SchNet/ACSF/wACSF and the filter-table operator on the
#    GPU against the CPU; CUDA graphs against none; ASE calculator ms/call and ms/MD step there; then
#    the pytest tests that need a GPU (tests/test_cuda_graph.py).
# 2. benchmarks/md_step.py --device cuda: malonaldehyde MD step, zoo vs SchNetPack on the GPU (the
#    paper's 11 ms/step on a P100), with ZOO_CHECKPOINT's trained weights when given.
# 3. benchmarks/compare_schnetpack.py --device cuda: training molecules/s, GPU memory and ASE ms/call.
# 4. benchmarks/train_throughput.py --device cuda: zoo's SchNet, ACSF and wACSF training rates (TF32).
# 5. The C++ runtime (built in the background from the start): golden vectors on CUDA, and
#    benchmarks/cpp_latency.py --device cuda (latency and size scaling).
# SchNetPack and ASE come from wheels in .whl/ when the machine lacks them (PYTHONPATH=/tmp/site); on a
# machine with the pinned environment, leave .whl/ out. Fetched (for the GPU machine's Python 3.12) with
#   python -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 -d .whl ase==3.29.0 tensorboardX==2.6.5 schnetpack==2.1.1 \
#     torch-ema==0.3 matscipy==1.3.1 hydra-core==1.3.8 omegaconf==2.3.1 fasteners==0.20 dirsync==2.2.6
#   python -m pip wheel --no-deps -w .whl antlr4-python3-runtime==4.9.3     # source-only on PyPI
set -u
OUT=${OUT:-/tmp/zoo_gpu_out}
mkdir -p "$OUT"
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
export PYTHONUNBUFFERED=1 TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-/tmp/zoo_torch_ext}
export ZOO_SHARED_DATA=${ZOO_SHARED_DATA:-$REPO/../shared/data}
PY=${PYTHON:-python3}
log() { echo "== $(date -u +%T) $*" | tee -a "$OUT/summary.txt"; }
step() {  # step NAME SECONDS COMMAND...: output to $OUT/log.txt, status and last lines to summary.txt
  local name=$1 limit=$2
  shift 2
  log "$name: $*"
  echo "######## $name: $*" >>"$OUT/log.txt"
  timeout "$limit" "$@" >"$OUT/step.txt" 2>&1
  local rc=$?
  cat "$OUT/step.txt" >>"$OUT/log.txt"
  log "$name rc=$rc"
  grep -v "Warning\|warn(" "$OUT/step.txt" | tail -n 40 >>"$OUT/summary.txt"
  rm -f "$OUT/step.txt"
}

if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl >"$OUT/pip.txt" 2>&1 || log "wheel install failed (see pip.txt)"
  export PYTHONPATH=$REPO:/tmp/site
else
  export PYTHONPATH=$REPO
fi
log "host $(hostname), $(nproc) cores; $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"
$PY -c "import torch, ase; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available(),
'ase', ase.__version__)" 2>&1 | tee -a "$OUT/summary.txt"

STEPS=" ${ZOO_GPU_STEPS:-check md compare train cpp} "
want() { [[ $STEPS == *" $1 "* ]]; }
# the C++ runtime builds at low priority while the Python steps run
want cpp && (nice -n 19 env ZOO_BUILD_JOBS=${ZOO_BUILD_JOBS:-10} $PY -c "
import sys; sys.path.insert(0, 'tests'); import cpp_build
cpp_build.build(targets=['zoo_runtime', 'zoo-run', 'zoo-bench', 'zoo_runtime_tests'])" >"$OUT/build.log" 2>&1
  echo $? >/tmp/zoo_build_rc) &
BUILD=$!

CKPT=()
[ -n "${ZOO_CHECKPOINT:-}" ] && [ -f "$ZOO_CHECKPOINT" ] && CKPT=(--checkpoint "$ZOO_CHECKPOINT")
want check && step gpu_check 150 $PY benchmarks/gpu_check.py
want check && step gpu_tests 90 $PY -m pytest -q -p no:cacheprovider tests/test_cuda_graph.py
# shellcheck disable=SC2086  # the ARGS variables are word lists
want md && step md_step 200 $PY benchmarks/md_step.py --device cuda \
  ${ZOO_MD_ARGS:---steps 500 --rounds 2 --filter-table 512} "${CKPT[@]}"
# shellcheck disable=SC2086
want compare && step compare_schnetpack 150 $PY benchmarks/compare_schnetpack.py --device cuda \
  ${ZOO_COMPARE_ARGS:---rounds 2 --steps 20 --calls 50 --box-calls 10 --filter-table 512}
want train && step train_throughput 45 $PY benchmarks/train_throughput.py --device cuda --steps 20
want cpp || { log "done"; exit 0; }

wait $BUILD
log "C++ build rc=$(cat /tmp/zoo_build_rc 2>/dev/null || echo '?')"
tail -n 5 "$OUT/build.log" >>"$OUT/summary.txt"
if [ -x build/cmake/cpp_runtime/zoo-bench ]; then
  step cpp_artifacts 60 $PY cpp_runtime/tests/make_test_artifact.py build/cmake/cpp_runtime/tests/artifacts
  step cpp_golden_cuda 60 build/cmake/cpp_runtime/tests/zoo_runtime_tests \
    build/cmake/cpp_runtime/tests/artifacts export/golden --cuda
  step cpp_latency 90 $PY benchmarks/cpp_latency.py --device cuda --threads 1 --repeat 5 --min-time 0.3 \
    --scaling 1000,10000,100000
fi
log "done"
