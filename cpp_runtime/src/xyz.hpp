// Reader for (extended) XYZ files (internal header, used by zoo-run and zoo-bench).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace zoo::detail {

struct Frame {
  std::vector<double> positions;  // n*3, Å
  std::vector<int64_t> numbers;
  std::array<double, 9> cell{};   // rows are lattice vectors
  std::array<bool, 3> pbc{};
  bool has_cell = false;
};

/// Reads every frame. Extended XYZ: Lattice="ax ay az bx by bz cx cy cz", pbc="T T T" (default
/// T T T when a Lattice is given, F F F otherwise), Properties=species:S:1:pos:R:3:... (Z:I:1 also
/// accepted for the element column). Plain XYZ: "symbol x y z" per atom line.
/// Throws zoo::Error naming the file and line on malformed input.
std::vector<Frame> read_xyz(const std::string& path);

}  // namespace zoo::detail
