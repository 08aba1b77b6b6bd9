#!/usr/bin/env bash
# Second device pass: neighbour-search timings of the current cell list, and the 1-thread CPU latency.
set -u
OUT=${OUT:-/tmp/zoo_device_out}; mkdir -p "$OUT"
export ZOO_BUILD_JOBS=16
python -c "import sys; sys.path.insert(0, 'tests'); import cpp_build; cpp_build.build(targets=['zoo-bench'])" \
  >"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
python -c "
import sys; sys.path.insert(0, 'benchmarks'); import cpp_latency as c; from pathlib import Path
c.water_frame().repeat(2).write_xyz(Path('/tmp/w8.xyz')); c.water_frame().repeat((8, 8, 8)).write_xyz(Path('/tmp/w512.xyz'))"
for x in /tmp/w8.xyz /tmp/w512.xyz; do
  build/cmake/cpp_runtime/zoo-bench build/bench_artifacts/schnet_float32.pt $x --no-model --repeat 20 | tee -a "$OUT/nl.txt"
done
timeout 170 python benchmarks/cpp_latency.py --device cpu --threads 1 --repeat 3 --warmup 2 --min-time 0 --scaling "" \
  --artifact build/bench_artifacts/schnet_float32.pt --json-out "$OUT/bench_cpu1.json" >"$OUT/bench_cpu1.txt" 2>"$OUT/bench_cpu1.err"
echo "rc=$?"; cat "$OUT/bench_cpu1.txt"; grep '^{' "$OUT/bench_cpu1.err" | cut -c1-300
