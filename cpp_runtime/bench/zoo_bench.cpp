// zoo-bench: per-call latency of zoo::Model on the first frame of an (extended) XYZ file.
//   zoo-bench MODEL.pt STRUCTURE.xyz [--repeat R] [--warmup W] [--min-time S] [--device cpu|cuda]
//             [--no-model] [--release-memory]
// Prints one JSON object: atoms, pairs, and median/min/p90 milliseconds of
//   neighbors      the cell-list search alone
//   compute        Model::compute (neighbour search + tensors + forward/backward + copies out)
//   compute_pairs  Model::compute_pairs with the pair list precomputed (LAMMPS path)
// Each timed phase runs `warmup` untimed calls, then at least `repeat` calls and at least `min-time`
// seconds. --no-model times the neighbour search only (for sizes a model would not fit in memory).
// --release-memory loads the model with Options::reuse_memory = false (glibc's default of handing large
// freed blocks back to the kernel), to measure what zoo::reuse_freed_memory() gains.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "neighbors.hpp"
#include "xyz.hpp"
#include "zoo/model.hpp"

namespace {

struct Stats {
  double median = 0, min = 0, p90 = 0;
  int calls = 0;
};

Stats time_it(const std::function<void()>& fn, int warmup, int repeat, double min_time) {
  for (int k = 0; k < warmup; ++k) fn();
  std::vector<double> ms;
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    const auto a = std::chrono::steady_clock::now();
    fn();
    const auto b = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(b - a).count());
    const double total = std::chrono::duration<double>(b - t0).count();
    if (static_cast<int>(ms.size()) >= repeat && total >= min_time) break;
    if (static_cast<int>(ms.size()) >= 100000) break;
  }
  std::sort(ms.begin(), ms.end());
  Stats s;
  s.calls = static_cast<int>(ms.size());
  s.median = ms[ms.size() / 2];
  s.min = ms.front();
  s.p90 = ms[std::min(ms.size() - 1, static_cast<std::size_t>(0.9 * static_cast<double>(ms.size())))];
  return s;
}

/// Peak resident memory of this process (VmHWM, Linux), MB; -1 elsewhere.
double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1.0;
}

void print(const char* name, const Stats& s) {
  std::printf(", \"%s\": {\"median_ms\": %.6g, \"min_ms\": %.6g, \"p90_ms\": %.6g, \"calls\": %d}", name, s.median,
              s.min, s.p90, s.calls);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  int repeat = 20, warmup = 3;
  double min_time = 0.0;
  bool model_too = true;
  zoo::Options options;
  for (int k = 1; k < argc; ++k) {
    const std::string a = argv[k];
    if (a == "--repeat" && k + 1 < argc) repeat = std::stoi(argv[++k]);
    else if (a == "--warmup" && k + 1 < argc) warmup = std::stoi(argv[++k]);
    else if (a == "--min-time" && k + 1 < argc) min_time = std::stod(argv[++k]);
    else if (a == "--device" && k + 1 < argc) options.device = std::string(argv[++k]) == "cuda" ? zoo::DeviceKind::CUDA : zoo::DeviceKind::CPU;
    else if (a == "--no-model") model_too = false;
    else if (a == "--release-memory") options.reuse_memory = false;
    else pos.push_back(a);
  }
  if (pos.size() != 2) {
    std::cerr << "usage: zoo-bench MODEL.pt STRUCTURE.xyz [--repeat R] [--warmup W] [--min-time S] "
                 "[--device cpu|cuda] [--no-model] [--release-memory]\n";
    return 2;
  }
  try {
    const zoo::Model model(pos[0], options);
    const auto frames = zoo::detail::read_xyz(pos[1]);
    const auto& f = frames.front();
    const auto n = static_cast<int64_t>(f.numbers.size());
    zoo::detail::PairList pairs;
    const double rc = model.metadata().cutoff;
    const Stats nl = time_it([&] { zoo::detail::neighbor_list(f.positions.data(), n, f.cell, f.pbc, rc, pairs); },
                             warmup, repeat, min_time);
    std::printf("{\"atoms\": %lld, \"pairs\": %zu, \"cutoff\": %g", static_cast<long long>(n), pairs.size(), rc);
    print("neighbors", nl);
    if (model_too) {
      double energy = 0.0;
      const Stats cp = time_it(
          [&] {
            energy = model
                         .compute_pairs(f.positions.data(), f.numbers.data(), n, n, pairs.i.data(), pairs.j.data(),
                                        pairs.shifts.data(), static_cast<int64_t>(pairs.size()))
                         .energy;
          },
          warmup, repeat, min_time);
      const Stats c = time_it([&] { energy = model.compute(f.positions, f.numbers, f.cell, f.pbc).energy; }, warmup,
                              repeat, min_time);
      print("compute_pairs", cp);
      print("compute", c);
      std::printf(", \"energy\": %.12g", energy);
    }
    std::printf(", \"reuse_memory\": %s, \"peak_rss_mb\": %.1f}\n", options.reuse_memory ? "true" : "false",
                peak_rss_mb());
  } catch (const zoo::Error& e) {
    std::cerr << "zoo-bench: error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
