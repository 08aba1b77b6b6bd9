// Unit and golden-vector tests of the zoo C++ runtime (no test framework; every CHECK counts).
//   zoo_runtime_tests ARTIFACT_DIR GOLDEN_DIR [GOLDEN_DIR...]
// ARTIFACT_DIR: output of make_test_artifact.py (its golden/ subfolder is always tested too).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <sys/resource.h>

#include "json.hpp"
#include "neighbors.hpp"
#include "zoo/checksum.hpp"
#include "zoo/model.hpp"

namespace fs = std::filesystem;

namespace {

int g_checks = 0;
int g_failures = 0;

void check(bool ok, const std::string& what) {
  ++g_checks;
  if (!ok) {
    ++g_failures;
    std::cerr << "  FAILED: " << what << "\n";
  }
}

bool close(double a, double b, double tol) { return std::abs(a - b) <= tol * std::max(1.0, std::abs(b)); }

/// Expects fn() to throw zoo::Error whose message contains every needle.
void expect_error(const std::function<void()>& fn, const std::vector<std::string>& needles,
                  const std::string& what) {
  try {
    fn();
    check(false, what + ": no zoo::Error thrown");
  } catch (const zoo::Error& e) {
    const std::string msg = e.what();
    bool all = true;
    for (const auto& n : needles) all = all && msg.find(n) != std::string::npos;
    check(all, what + ": message lacks expected text: " + msg);
  } catch (const std::exception& e) {
    check(false, what + ": wrong exception type: " + e.what());
  }
}

// ------------------------------------------------------------------ reuse_freed_memory
/// Minor page faults taken while a 64 MiB block is allocated, written and freed.
long faults_of_64mib_block() {
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  {
    std::vector<char> block(64u << 20, 1);
    volatile char sink = block[block.size() / 2];
    (void)sink;
  }
  getrusage(RUSAGE_SELF, &after);
  return after.ru_minflt - before.ru_minflt;
}

/// Minimum and maximum faults over the last 4 of 24 cycles (a kept heap may need a few cycles before a
/// freed block fits again).
std::pair<long, long> steady_faults() {
  long lo = -1, hi = 0;
  for (int k = 0; k < 24; ++k) {
    const long faults = faults_of_64mib_block();
    if (k < 20) continue;
    lo = lo < 0 ? faults : std::min(lo, faults);
    hi = std::max(hi, faults);
  }
  return {lo, hi};
}

/// Must run before any Model is loaded (loading one switches the process over).
void test_memory() {
  const long released = steady_faults().first;  // glibc default: a fresh mapping every time
  const bool switched = zoo::reuse_freed_memory();
#if defined(__GLIBC__)
  check(switched, "reuse_freed_memory takes effect on glibc");
  check(zoo::reuse_freed_memory(), "reuse_freed_memory is idempotent");
  const long reused = steady_faults().second;
  check(released > 8000, "64 MiB block faulted in afresh by default (" + std::to_string(released) + " faults)");
  check(reused < 1000, "64 MiB block reused its pages after reuse_freed_memory (" + std::to_string(reused) +
                           " faults, " + std::to_string(released) + " before)");
#else
  check(!switched, "reuse_freed_memory reports false without glibc");
#endif
}

// ------------------------------------------------------------------ JSON, SHA-256
void test_json() {
  const auto v = zoo::json::Value::parse(
      R"({"a": [1, -2.5e3, true, null], "s": "x\"\u00e9\n", "o": {"k": []}})");
  check(v.find("a")->as_array().size() == 4, "json array size");
  check(v.find("a")->as_array()[1].as_number() == -2500.0, "json number");
  check(v.find("s")->as_string() == "x\"\xc3\xa9\n", "json string escapes");
  check(v.find("o")->find("k")->is_array(), "json nested object");
  expect_error([] { zoo::json::Value::parse("{\"a\": [1, 2}"); }, {"invalid JSON"}, "json syntax error");
  expect_error([] { zoo::json::Value::parse("[1] x"); }, {"trailing"}, "json trailing garbage");
}

void test_sha256() {
  check(zoo::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha256('abc')");
  check(zoo::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "sha256('')");
  check(zoo::sha256_hex(std::string(1000, 'a')) ==
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3",
        "sha256 multi-block");
}

// ------------------------------------------------------------------ neighbour list
using PairKey = std::tuple<int64_t, int64_t, long long, long long, long long>;

std::vector<PairKey> keys(const zoo::detail::PairList& p) {
  std::vector<PairKey> k;
  for (std::size_t q = 0; q < p.size(); ++q)
    k.emplace_back(p.i[q], p.j[q], std::llround(p.shifts[3 * q] * 1e6), std::llround(p.shifts[3 * q + 1] * 1e6),
                   std::llround(p.shifts[3 * q + 2] * 1e6));
  std::sort(k.begin(), k.end());
  return k;
}

// pair p + P/2 is pair p seen from its other atom (what lets an artifact halve SchNet's filter work)
bool mirror_ordered(const zoo::detail::PairList& p) {
  const std::size_t n = p.size(), half = n / 2;
  if (n % 2 != 0) return false;
  for (std::size_t q = 0; q < half; ++q) {
    if (p.i[half + q] != p.j[q] || p.j[half + q] != p.i[q]) return false;
    for (std::size_t d = 0; d < 3; ++d)
      if (p.shifts[3 * (half + q) + d] != -p.shifts[3 * q + d]) return false;
  }
  return true;
}

void test_neighbors() {
  std::mt19937_64 rng(12345);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  int cases = 0;
  long long total_pairs = 0;
  for (int t = 0; t < 300; ++t) {
    const int64_t n = 1 + static_cast<int64_t>(u(rng) * 40);
    const double cutoff = 0.8 + 4.0 * u(rng);
    std::array<double, 9> cell{};
    // triclinic cells, some much smaller than the cutoff
    const double scale = 1.0 + 7.0 * u(rng);
    for (int k = 0; k < 3; ++k)
      for (int d = 0; d < 3; ++d)
        cell[3 * k + d] = (k == d ? scale * (0.4 + u(rng)) : scale * 0.5 * (u(rng) - 0.5));
    std::array<bool, 3> pbc{u(rng) < 0.7, u(rng) < 0.7, u(rng) < 0.7};
    if (t < 40) pbc = {true, true, true};
    std::vector<double> pos(static_cast<std::size_t>(3 * n));
    for (int64_t a = 0; a < n; ++a) {
      double s[3];
      for (double& x : s) x = 1.6 * u(rng) - 0.3;  // partly outside the cell
      for (int d = 0; d < 3; ++d) pos[3 * a + d] = s[0] * cell[d] + s[1] * cell[3 + d] + s[2] * cell[6 + d];
    }
    // zero out a non-periodic cell vector now and then (it must be ignored)
    if (!pbc[2] && t % 3 == 0) cell[6] = cell[7] = cell[8] = 0.0;
    zoo::detail::PairList fast, brute;
    zoo::detail::neighbor_list(pos.data(), n, cell, pbc, cutoff, fast);
    zoo::detail::neighbor_list_brute_force(pos.data(), n, cell, pbc, cutoff, brute);
    const auto kf = keys(fast), kb = keys(brute);
    check(mirror_ordered(fast), "cell list is mirror-ordered");
    zoo::detail::PairList reordered = brute;  // the caller-side reordering (LAMMPS) of any both-ways list
    zoo::mirror_order(reordered.i, reordered.j, reordered.shifts);
    check(mirror_ordered(reordered) && keys(reordered) == keys(brute), "zoo::mirror_order keeps the pairs");
    if (kf != kb) {
      std::ostringstream os;
      os << "cell list != brute force (case " << t << ", n=" << n << ", cutoff=" << cutoff << ", pbc=" << pbc[0]
         << pbc[1] << pbc[2] << "): " << kf.size() << " vs " << kb.size() << " pairs";
      check(false, os.str());
    } else {
      check(true, "");
    }
    // r_ij = x_j - x_i + shift is below the cutoff, and the list is symmetric
    bool ok = true;
    for (std::size_t q = 0; q < fast.size(); ++q) {
      double d2 = 0;
      for (int d = 0; d < 3; ++d) {
        const double r = pos[3 * fast.j[q] + d] - pos[3 * fast.i[q] + d] + fast.shifts[3 * q + d];
        d2 += r * r;
      }
      ok = ok && d2 < cutoff * cutoff * (1 + 1e-12);
    }
    check(ok, "all pairs within cutoff");
    ++cases;
    total_pairs += static_cast<long long>(fast.size());
  }
  check(total_pairs > 1000, "neighbour tests found pairs at all");
  std::cout << "  neighbour list: " << cases << " random cells, " << total_pairs << " pairs\n";

  // a large orthorhombic water-density box: every atom has the same number of neighbours as brute force
  {
    const int64_t n = 3000;
    const double L = std::cbrt(static_cast<double>(n) / 0.1);
    std::array<double, 9> cell{L, 0, 0, 0, L, 0, 0, 0, L};
    std::vector<double> pos(3 * n);
    for (auto& x : pos) x = L * u(rng);
    zoo::detail::PairList fast, brute;
    zoo::detail::neighbor_list(pos.data(), n, cell, {true, true, true}, 5.0, fast);
    zoo::detail::neighbor_list_brute_force(pos.data(), n, cell, {true, true, true}, 5.0, brute);
    check(keys(fast) == keys(brute), "cell list == brute force, 3000-atom box");
  }
  // larger triclinic systems with mixed periodicity (many bins along periodic and open directions)
  for (const std::array<bool, 3> pbc : {std::array<bool, 3>{true, true, false}, std::array<bool, 3>{true, false, false},
                                        std::array<bool, 3>{false, false, false}, std::array<bool, 3>{false, true, true}}) {
    const int64_t n = 1500;
    const std::array<double, 9> cell{22.0, 0, 0, 4.0, 20.0, 0, -3.0, 2.5, 21.0};
    std::vector<double> pos(3 * n);
    for (int64_t a = 0; a < n; ++a) {
      const double s0 = 1.2 * u(rng) - 0.1, s1 = 1.2 * u(rng) - 0.1, s2 = 1.2 * u(rng) - 0.1;
      for (int d = 0; d < 3; ++d) pos[3 * a + d] = s0 * cell[d] + s1 * cell[3 + d] + s2 * cell[6 + d];
    }
    zoo::detail::PairList fast, brute;
    zoo::detail::neighbor_list(pos.data(), n, cell, pbc, 3.7, fast);
    zoo::detail::neighbor_list_brute_force(pos.data(), n, cell, pbc, 3.7, brute);
    check(keys(fast) == keys(brute) && fast.size() > 10000,
          "cell list == brute force, 1500 atoms, pbc " + std::to_string(pbc[0]) + std::to_string(pbc[1]) +
              std::to_string(pbc[2]) + " (" + std::to_string(fast.size()) + " pairs)");
  }
  expect_error([] {
    zoo::detail::PairList p;
    std::vector<double> x{0, 0, 0};
    zoo::detail::neighbor_list(x.data(), 1, {1, 0, 0, 2, 0, 0, 0, 0, 1}, {true, true, true}, 1.0, p);
  }, {"linearly dependent"}, "degenerate cell");
}

// ------------------------------------------------------------------ golden vectors
std::vector<double> flat(const zoo::json::Value& v) {
  std::vector<double> out;
  std::function<void(const zoo::json::Value&)> rec = [&](const zoo::json::Value& x) {
    if (x.is_array())
      for (const auto& e : x.as_array()) rec(e);
    else
      out.push_back(x.as_number());
  };
  rec(v);
  return out;
}

// Tolerance of export/SPEC.md: rtol relative (1e-10 float64, 1e-5 float32) plus an absolute floor of
// 1e-6 times the largest component of the expected array.
void compare(const zoo::Result& r, const zoo::json::Value& expected, double rtol, const std::string& what,
             double& worst_rel) {
  const double e_want = expected.find("energy")->as_number();
  check(std::abs(r.energy - e_want) <= rtol * std::abs(e_want) + 1e-6 * rtol,
        what + ": energy " + std::to_string(r.energy) + " vs " + std::to_string(e_want));
  worst_rel = std::max(worst_rel, std::abs(r.energy - e_want) / std::max(1e-300, std::abs(e_want)));
  auto vec = [&](const std::vector<double>& got, const char* key) {
    const auto want = flat(*expected.find(key));
    bool ok = got.size() == want.size();
    double scale = 0.0, worst = 0.0;
    for (double w : want) scale = std::max(scale, std::abs(w));
    for (std::size_t k = 0; ok && k < got.size(); ++k) {
      const double diff = std::abs(got[k] - want[k]);
      ok = ok && diff <= rtol * std::abs(want[k]) + 1e-6 * scale * (rtol > 1e-8 ? 1.0 : 1e-4);
      worst = std::max(worst, diff);
    }
    if (scale > 0) worst_rel = std::max(worst_rel, worst / scale);
    check(ok, what + ": " + key + " differ (max abs diff " + std::to_string(worst) + ", size " +
                  std::to_string(got.size()) + " vs " + std::to_string(want.size()) + ")");
  };
  vec(r.atom_energies, "atom_energies");
  vec(r.forces, "forces");
  vec(std::vector<double>(r.virial.begin(), r.virial.end()), "virial");
}

bool g_cuda = false;  // --cuda: also evaluate every golden case on CUDA and compare

int run_golden_dir(const fs::path& dir) {
  int cases = 0;
  if (!fs::is_directory(dir)) return 0;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& jf : files) {
    const std::string name = jf.filename().string();
    std::ifstream in(jf);
    std::stringstream ss;
    ss << in.rdbuf();
    const auto doc = zoo::json::Value::parse(ss.str());
    const auto* artifact = doc.find("artifact");
    const fs::path pt = artifact != nullptr ? jf.parent_path() / artifact->as_string()
                                            : fs::path(jf).replace_extension(".pt");
    if (!fs::exists(pt)) {
      check(false, name + ": no matching .pt artifact");
      continue;
    }
    const auto& inp = *doc.find("inputs");
    const auto& expected = *doc.find("expected");
    const auto positions = flat(*inp.find("positions"));
    std::vector<int64_t> numbers;
    for (double z : flat(*inp.find("numbers"))) numbers.push_back(static_cast<int64_t>(z));
    const auto& ei = inp.find("edge_index")->as_array();
    std::vector<int64_t> pi, pj;
    for (double x : flat(ei.at(0))) pi.push_back(static_cast<int64_t>(x));
    for (double x : flat(ei.at(1))) pj.push_back(static_cast<int64_t>(x));
    const auto shifts = flat(*inp.find("shifts"));
    const auto n = static_cast<int64_t>(numbers.size());
    const auto n_local = static_cast<int64_t>(inp.find("n_local")->as_number());
    try {
      zoo::Model model(pt.string());
      const double tol = model.metadata().dtype == "float64" ? 1e-10 : 1e-5;
      double worst_pairs = 0.0, worst_own = 0.0;
      const auto r = model.compute_pairs(positions.data(), numbers.data(), n, n_local, pi.data(), pj.data(),
                                         shifts.empty() ? nullptr : shifts.data(), static_cast<int64_t>(pi.size()));
      compare(r, expected, tol, name + " compute_pairs", worst_pairs);
      if (n_local == n) {
        std::array<double, 9> cell{};
        std::array<bool, 3> pbc{};
        if (const auto* c = inp.find("cell"); c != nullptr && !c->is_null()) {
          const auto cf = flat(*c);
          std::copy(cf.begin(), cf.end(), cell.begin());
        }
        if (const auto* p = inp.find("pbc"); p != nullptr && !p->is_null())
          for (std::size_t k = 0; k < 3; ++k) pbc[k] = p->as_array().at(k).as_bool();
        compare(model.compute(positions, numbers, cell, pbc), expected, tol, name + " compute (own neighbours)",
                worst_own);
      }
      if (g_cuda) {
        zoo::Model gpu(pt.string(), zoo::Options{zoo::DeviceKind::CUDA, 0});
        double worst_gpu = 0.0;
        compare(gpu.compute_pairs(positions.data(), numbers.data(), n, n_local, pi.data(), pj.data(),
                                  shifts.empty() ? nullptr : shifts.data(), static_cast<int64_t>(pi.size())),
                expected, tol == 1e-10 ? 1e-9 : 1e-4, name + " CUDA compute_pairs", worst_gpu);
        std::printf("    %-30s CUDA max rel dev %.1e\n", name.c_str(), worst_gpu);
      }
      char own[32] = "n/a (ghosts)";
      if (n_local == n) std::snprintf(own, sizeof own, "%.1e", worst_own);
      std::printf("    %-30s %5lld atoms %6zu pairs  max rel dev: given pairs %.1e, own neighbours %s\n",
                  name.c_str(), static_cast<long long>(n), pi.size(), worst_pairs, own);
      ++cases;
    } catch (const std::exception& e) {
      check(false, name + ": " + e.what());
    }
  }
  std::cout << "  golden " << dir.string() << ": " << cases << " cases\n";
  return cases;
}

// ------------------------------------------------------------------ model loading and input checks
void test_model(const fs::path& art) {
  const std::string p64 = (art / "pair64.pt").string();
  zoo::Model m(p64);
  const auto& md = m.metadata();
  check(md.format_version == "1.0" && md.dtype == "float64" && md.cutoff == 3.0 && md.interactions == 1,
        "metadata fields");
  check(md.species == std::vector<int64_t>({1, 6, 7, 8}), "metadata species");
  check(md.receptive_field == 3.0 && md.per_atom_energies, "metadata receptive_field");
  check(md.json.find("weights_sha256") != std::string::npos, "metadata json text");
  check(zoo::verify_weights(p64, md.json), "weights_sha256 verified");

  // water dimer: forces = -dE/dx (finite differences through compute())
  std::vector<double> x{0, 0, 0, 0.96, 0, 0, -0.24, 0.93, 0, 2.9, 0.1, 0.2, 3.4, 0.8, 0.1, 3.2, -0.7, 0.5};
  std::vector<int64_t> z{8, 1, 1, 8, 1, 1};
  const std::array<double, 9> cell{6.0, 0, 0, 0.5, 5.0, 0, 0.2, 0.3, 4.0};
  for (const std::array<bool, 3> pbc : {std::array<bool, 3>{false, false, false}, std::array<bool, 3>{true, true, true}}) {
    const auto r = m.compute(x, z, cell, pbc);
    double worst = 0.0;
    const double h = 1e-5;
    for (std::size_t k = 0; k < x.size(); ++k) {
      auto xp = x, xm = x;
      xp[k] += h;
      xm[k] -= h;
      const double fd = -(m.compute(xp, z, cell, pbc).energy - m.compute(xm, z, cell, pbc).energy) / (2 * h);
      worst = std::max(worst, std::abs(fd - r.forces[k]));
    }
    check(worst < 1e-6, "forces == -dE/dx by finite differences (max err " + std::to_string(worst) + ")");
    double sum_e = 0.0;
    for (double e : r.atom_energies) sum_e += e;
    check(close(sum_e, r.energy, 1e-12), "energy == sum of atom energies");
  }
  // float32 artifact agrees with float64
  {
    zoo::Model m32((art / "pair32.pt").string());
    check(m32.metadata().dtype == "float32", "float32 metadata");
    const auto a = m.compute(x, z, cell, {true, true, true});
    const auto b = m32.compute(x, z, cell, {true, true, true});
    bool ok = close(a.energy, b.energy, 1e-5);
    for (std::size_t k = 0; k < a.forces.size(); ++k) ok = ok && std::abs(a.forces[k] - b.forces[k]) < 1e-4;
    check(ok, "float32 artifact == float64 artifact within 1e-4");
  }
  // concurrent calls on one Model (documented as safe)
  {
    const double ref = m.compute(x, z, cell, {true, true, true}).energy;
    std::vector<double> got(4, 0.0);
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < got.size(); ++t)
      pool.emplace_back([&, t] {
        for (int k = 0; k < 20; ++k) got[t] += m.compute(x, z, cell, {true, true, true}).energy / 20.0;
      });
    for (auto& th : pool) th.join();
    bool ok = true;
    for (double g : got) ok = ok && close(g, ref, 1e-12);
    check(ok, "concurrent compute() calls on one Model agree");
  }
  // move semantics
  {
    zoo::Model moved = std::move(m);
    check(std::abs(moved.compute(x, z).energy) > 0.0, "moved-to model works");
    m = std::move(moved);
  }
  // n_local: ghosts' energies excluded, forces still returned
  {
    std::vector<int64_t> pi, pj;
    for (int64_t i = 0; i < 6; ++i)
      for (int64_t j = 0; j < 6; ++j)
        if (i != j) {
          pi.push_back(i);
          pj.push_back(j);
        }
    const auto full = m.compute_pairs(x.data(), z.data(), 6, 6, pi.data(), pj.data(), nullptr, 30);
    const auto part = m.compute_pairs(x.data(), z.data(), 6, 3, pi.data(), pj.data(), nullptr, 30);
    const double e3 = full.atom_energies[0] + full.atom_energies[1] + full.atom_energies[2];
    check(close(part.energy, e3, 1e-12), "n_local sums only local atom energies");
    check(close(full.energy, m.compute(x, z).energy, 1e-12), "compute_pairs (all pairs, null shifts) == compute");
  }

  // ---- refusals
  expect_error([&] { zoo::Model((art / "future.pt").string()); }, {"future.pt", "2.0", "zoo 2.3.0"},
               "newer major format version refused");
  expect_error([&] { zoo::Model((art / "nometa.pt").string()); }, {"nometa.pt", "metadata.json"},
               "artifact without metadata refused");
  expect_error([&] { zoo::Model((art / "missing_cutoff.pt").string()); }, {"missing_cutoff.pt", "'cutoff'"},
               "metadata without cutoff refused");
  expect_error([&] { zoo::Model((art / "tampered.pt").string()); }, {"tampered.pt", "SHA-256"},
               "tampered weights refused");
  expect_error([&] { zoo::Model((art / "no_checksum.pt").string()); }, {"no_checksum.pt", "weights_sha256"},
               "artifact without weights_sha256 refused");
  const fs::path garbage = art / "garbage.pt";
  {
    std::ofstream(garbage) << "this is not a zip archive\n";
  }
  expect_error([&] { zoo::Model(garbage.string()); }, {garbage.string()}, "not-a-zip file refused");
  const fs::path truncated = art / "truncated.pt";
  {
    std::ifstream in(p64, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  expect_error([&] { zoo::Model(truncated.string()); }, {truncated.string()}, "truncated artifact refused");
  expect_error([&] { zoo::Model((art / "does_not_exist.pt").string()); }, {"does_not_exist.pt"},
               "missing file refused");
  expect_error([&] { zoo::Model(p64, zoo::Options{zoo::DeviceKind::CUDA, 99}); }, {"CUDA"},
               "unavailable CUDA device refused");

  // ---- input checks
  auto bad_z = z;
  bad_z[4] = 26;
  expect_error([&] { m.compute(x, bad_z); }, {"Fe", "atom 4"}, "unknown element refused (compute)");
  expect_error([&] { m.compute_pairs(x.data(), bad_z.data(), 6, 6, nullptr, nullptr, nullptr, 0); }, {"Fe"},
               "unknown element refused (compute_pairs)");
  auto nan_x = x;
  nan_x[7] = std::nan("");
  expect_error([&] { m.compute(nan_x, z); }, {"atom 2", "not finite"}, "NaN position refused");
  auto close_x = x;
  close_x[3] = 0.05;
  close_x[4] = 0.0;
  close_x[5] = 0.0;
  expect_error([&] { m.compute(close_x, z); }, {"atoms 0 and 1 are 0.050 Å apart"}, "atoms too close refused");
  {
    // across a periodic boundary
    std::vector<double> y{0.02, 0, 0, 5.97, 0, 0};
    expect_error([&] { m.compute(y, {8, 8}, {6, 0, 0, 0, 6, 0, 0, 0, 6}, {true, true, true}); },
                 {"atoms 0 and 1 are 0.050 Å apart"}, "atoms too close across the boundary refused");
    const int64_t i = 0, j = 1;
    const double s[3] = {-6.0, 0, 0};
    expect_error([&] { m.compute_pairs(y.data(), std::vector<int64_t>{8, 8}.data(), 2, 2, &i, &j, s, 1); },
                 {"atoms 0 and 1 are 0.050 Å apart"}, "atoms too close refused (compute_pairs)");
    const int64_t bad_j = 7;
    expect_error([&] { m.compute_pairs(y.data(), std::vector<int64_t>{8, 8}.data(), 2, 2, &i, &bad_j, s, 1); },
                 {"pair 0"}, "pair index out of range refused");
  }
  expect_error([&] { m.compute({0.0, 0.0}, {1}); }, {"positions"}, "positions size mismatch refused");
  check(m.compute({}, {}).energy == 0.0, "zero atoms give zero energy");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args;
  for (int k = 1; k < argc; ++k) {
    if (std::string(argv[k]) == "--cuda") g_cuda = true;
    else args.emplace_back(argv[k]);
  }
  if (args.size() < 2) {
    std::cerr << "usage: zoo_runtime_tests ARTIFACT_DIR GOLDEN_DIR [GOLDEN_DIR...] [--cuda]\n";
    return 2;
  }
  const fs::path art = args[0];
  auto section = [](const char* name, const std::function<void()>& fn) {
    std::cout << name << "\n";
    try {
      fn();
    } catch (const std::exception& e) {
      check(false, std::string(name) + ": unexpected exception: " + e.what());
    }
  };
  if (g_cuda) {
    section("golden on CUDA only", [&] {
      int cases = 0;
      for (std::size_t k = 1; k < args.size(); ++k) cases += run_golden_dir(args[k]);
      cases += run_golden_dir(art / "golden");
      check(cases > 0, "CUDA golden cases ran");
    });
    std::cout << g_checks - g_failures << "/" << g_checks << " checks passed\n";
    return g_failures == 0 ? 0 : 1;
  }
  section("memory", test_memory);
  section("json", test_json);
  section("sha256", test_sha256);
  section("neighbors", test_neighbors);
  section("model", [&] { test_model(art); });
  section("golden", [&] {
    int cases = run_golden_dir(art / "golden");
    check(cases >= 4, "the runtime's own golden cases ran");
    for (std::size_t k = 1; k < args.size(); ++k) cases += run_golden_dir(args[k]);
    std::cout << "  golden cases in all: " << cases << "\n";
  });
  std::cout << g_checks - g_failures << "/" << g_checks << " checks passed\n";
  return g_failures == 0 ? 0 : 1;
}
