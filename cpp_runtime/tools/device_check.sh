#!/usr/bin/env bash
# One-shot check on a GPU machine: build the runtime, run ctest, the golden vectors on CUDA, and the
# latency benchmark (CPU on quiet cores, and CUDA when the installed torch has it). Results in $OUT.
#   OUT=/tmp/out ZOO_SHARED_DATA=... bash cpp_runtime/tools/device_check.sh
set -u
OUT=${OUT:-/tmp/zoo_device_out}
mkdir -p "$OUT"
log() { echo "== $(date -u +%T) $*" | tee -a "$OUT/summary.txt"; }
log "host $(hostname), $(nproc) cores"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee -a "$OUT/summary.txt"
python -c "import torch;print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.version.cuda)" \
  2>&1 | tee -a "$OUT/summary.txt"
HAS_CUDA=$(python -c "import torch;print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
export ZOO_BUILD_JOBS=${ZOO_BUILD_JOBS:-16}
# artifacts exported beforehand (zoo.export needs ASE, which a bare GPU machine may lack)
ARTS=""
[ -f build/bench_artifacts/schnet_float32.pt ] && ARTS="--artifact build/bench_artifacts/schnet_float32.pt \
  --scaling-artifact build/bench_artifacts/schnet_small_float32.pt"
log "build"
python -c "
import sys; sys.path.insert(0, 'tests'); import cpp_build
cpp_build.build(targets=['zoo_runtime', 'zoo-run', 'zoo-bench', 'zoo_runtime_tests'])" >"$OUT/build.log" 2>&1 \
  || { log "build FAILED"; tail -50 "$OUT/build.log" >>"$OUT/summary.txt"; exit 1; }
log "ctest"
ctest --test-dir build/cmake -R '^zoo_runtime\.' --output-on-failure >"$OUT/ctest.log" 2>&1
log "ctest rc=$? $(grep -E 'tests passed' "$OUT/ctest.log")"
if [ "$HAS_CUDA" = 1 ]; then
  log "golden on CUDA"
  build/cmake/cpp_runtime/tests/zoo_runtime_tests build/cmake/cpp_runtime/tests/artifacts export/golden --cuda \
    >"$OUT/cuda_golden.log" 2>&1
  log "cuda golden rc=$? $(tail -1 "$OUT/cuda_golden.log")"
  log "bench cuda"
  timeout 180 python benchmarks/cpp_latency.py --device cuda --threads 1 --repeat 10 --min-time 0.5 $ARTS \
    --scaling 1000,2000,5000,10000,20000,50000,100000 --neighbors-only-above 100000 \
    --json-out "$OUT/bench_cuda.json" >"$OUT/bench_cuda.txt" 2>"$OUT/bench_cuda.err"
  log "bench cuda rc=$?"
fi
log "bench cpu (1 thread)"
timeout 180 python benchmarks/cpp_latency.py --device cpu --threads 1 --repeat 5 --min-time 0.5 $ARTS \
  --scaling 1000,5000 --json-out "$OUT/bench_cpu1.json" >"$OUT/bench_cpu1.txt" 2>"$OUT/bench_cpu1.err"
log "bench cpu rc=$?"
log "bench cpu (16 threads, latency only)"
timeout 100 python benchmarks/cpp_latency.py --device cpu --threads 16 --repeat 5 --min-time 0.5 $ARTS \
  --scaling "" --json-out "$OUT/bench_cpu16.json" >"$OUT/bench_cpu16.txt" 2>"$OUT/bench_cpu16.err"
log "bench cpu16 rc=$?"
cat "$OUT"/bench_*.txt >>"$OUT/summary.txt" 2>/dev/null
log "done"
