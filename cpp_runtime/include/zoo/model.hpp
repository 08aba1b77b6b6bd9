// zoo C++ runtime: load an exported zoo artifact (TorchScript .pt or AOTInductor .pt2) and evaluate it.
// This header deliberately includes no libtorch header (pimpl), so that codes such as LAMMPS,
// whose `LAMMPS_NS::Device` clashes with `c10::Device`, can include it safely.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace zoo {

/// Thrown for every problem with an artifact or with the input given to it.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The artifact's metadata (export/SPEC.md, export/metadata.schema.json).
struct Metadata {
  std::string format_version;   // "MAJOR.MINOR"
  std::string zoo_version;
  std::string model_kind;       // "schnet", "acsf", "wacsf"
  double cutoff = 0.0;          // Å
  int interactions = 0;         // message-passing depth (1 for strictly local models)
  double receptive_field = 0.0; // Å: cutoff * interactions, the ghost shell LAMMPS needs
  std::vector<int64_t> species; // supported atomic numbers
  std::string dtype;            // "float32" or "float64"
  std::vector<std::string> outputs;
  bool per_atom_energies = true;
  std::string encoding;         // "torchscript" or "aoti" (compiled native code, CPU)
  std::string json;             // the whole metadata object as JSON text
};

enum class DeviceKind { CPU, CUDA };

struct Options {
  DeviceKind device = DeviceKind::CPU;
  int cuda_index = 0;
  /// CPU models: call reuse_freed_memory() when the model is loaded (see there). Process-wide.
  bool reuse_memory = true;
};

/// Make this process keep the memory it frees for its next allocations instead of handing it back to
/// the kernel (glibc: mallopt M_MMAP_MAX = 0 and M_TRIM_THRESHOLD = max). glibc otherwise maps every
/// block above 32 MiB afresh and unmaps it when freed, so a model's large per-pair tensors (123 MB
/// each for the default SchNet on 1,536 water atoms) are page-faulted in again on every call: a
/// quarter of a CPU call's time. The price: the process's resident memory stays at its peak (an MD
/// run reaches that peak every step anyway). Process-wide and irreversible; idempotent; returns false
/// where the C library offers no such setting (not glibc).
bool reuse_freed_memory();

struct Result {
  double energy = 0.0;              // eV, sum over local atoms
  std::vector<double> atom_energies; // eV, n_atoms entries (ghosts included)
  std::vector<double> forces;        // eV/Å, n_atoms * 3, row-major
  std::array<double, 9> virial{};    // eV, row-major 3x3, W = -sum_p r_p (x) dE/dr_p
  std::vector<double> atom_virial;   // eV, n_atoms * 9 row-major 3x3 (sums to virial); empty when
                                     // the artifact has no atom_virial output (older exports)
};

/// Reorder a pair list that holds both directions of every pair so that pair p + P/2 is pair p seen
/// from its other atom, (j_p, i_p, -shift_p) (export/SPEC.md "Pair order"): SchNet artifacts then
/// evaluate each filter once per unordered pair. Keeps i < j (for i == j, a periodic image of the atom
/// itself, the image with the lexicographically positive shift) and appends the mirrors. `shifts` is
/// either empty (all zero) or 3 values per pair. Model::compute's own cell list already returns this
/// order; callers of compute_pairs (LAMMPS) use this.
void mirror_order(std::vector<int64_t>& pair_i, std::vector<int64_t>& pair_j, std::vector<double>& shifts);

class Model {
 public:
  explicit Model(const std::string& path, Options options = {});
  ~Model();
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const Metadata& metadata() const;

  /// Own O(N) cell-list neighbour search. positions: n*3 (Å), cell: row-major 3x3 (rows are lattice
  /// vectors, Å; ignored along non-periodic directions).
  Result compute(const std::vector<double>& positions, const std::vector<int64_t>& numbers,
                 const std::array<double, 9>& cell = {}, const std::array<bool, 3>& pbc = {}) const;

  /// Caller's neighbour list (LAMMPS): directed pairs i->j, r = x[j] - x[i] + shift (shifts may be
  /// null when all zero). Atoms n_local..n_atoms-1 are ghosts (energies not summed).
  Result compute_pairs(const double* positions, const int64_t* numbers, int64_t n_atoms,
                       int64_t n_local, const int64_t* pair_i, const int64_t* pair_j,
                       const double* shifts, int64_t n_pairs) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace zoo
