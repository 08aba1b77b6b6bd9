// O(N) cell-list neighbour search (internal header, exported from the library for the tests and
// the benchmark; not part of the stable API).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace zoo::detail {

/// Directed pairs (both i->j and j->i) with r_ij = x[j] - x[i] + shift < cutoff. neighbor_list returns
/// them mirror-ordered: pair p + P/2 is (j_p, i_p, -shift_p).
struct PairList {
  std::vector<int64_t> i;
  std::vector<int64_t> j;
  std::vector<double> shifts;  // n_pairs * 3, Cartesian, Å
  double min_distance = 0.0;   // smallest pair distance found (0 when there are no pairs)
  int64_t min_i = -1, min_j = -1;
  std::size_t size() const { return i.size(); }
  void clear() {
    i.clear();
    j.clear();
    shifts.clear();
    min_distance = 0.0;
    min_i = min_j = -1;
  }
};

/// Cell-list search. positions: n*3 (Å). cell: row-major 3x3, rows are lattice vectors; only the
/// rows of periodic directions are used. Periodic cells may be triclinic and smaller than the
/// cutoff (several images of an atom, including of itself, are then found). Throws zoo::Error for a
/// degenerate periodic cell or a non-positive cutoff. `out` is cleared and refilled (its capacity is
/// reused).
void neighbor_list(const double* positions, int64_t n, const std::array<double, 9>& cell,
                   const std::array<bool, 3>& pbc, double cutoff, PairList& out);

/// O(N^2 * images) reference implementation for tests.
void neighbor_list_brute_force(const double* positions, int64_t n,
                               const std::array<double, 9>& cell, const std::array<bool, 3>& pbc,
                               double cutoff, PairList& out);

}  // namespace zoo::detail
