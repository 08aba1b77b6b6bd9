#include "neighbors.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "zoo/model.hpp"

namespace zoo::detail {
namespace {

using Vec3 = std::array<double, 3>;
using Mat3 = std::array<Vec3, 3>;  // rows

constexpr double kSlack = 1e-9;  // relative margin on the cutoff against rounding at bin edges

Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
double norm(const Vec3& a) { return std::sqrt(dot(a, a)); }

/// Inverse of a row-major matrix (x = s H  <=>  s = x H^-1).
Mat3 inverse(const Mat3& h, double det) {
  Mat3 inv{};
  const Vec3 c0 = cross(h[1], h[2]);
  const Vec3 c1 = cross(h[2], h[0]);
  const Vec3 c2 = cross(h[0], h[1]);
  for (int k = 0; k < 3; ++k) {
    inv[k][0] = c0[k] / det;
    inv[k][1] = c1[k] / det;
    inv[k][2] = c2[k] / det;
  }
  return inv;
}

/// The basis used for binning: periodic directions keep their lattice vector; non-periodic ones get
/// unit vectors completing an orthonormal complement of the periodic span (the caller's vectors along
/// non-periodic directions are ignored, as documented).
Mat3 binning_basis(const std::array<double, 9>& cell, const std::array<bool, 3>& pbc) {
  Mat3 h{};
  std::vector<Vec3> ortho;  // orthonormal basis of what has been placed so far
  auto add_ortho = [&](Vec3 v) {
    for (const Vec3& u : ortho) {
      const double p = dot(v, u);
      for (int d = 0; d < 3; ++d) v[d] -= p * u[d];
    }
    const double nv = norm(v);
    for (int d = 0; d < 3; ++d) v[d] /= nv;
    ortho.push_back(v);
    return v;
  };
  double scale = 0.0;
  for (int k = 0; k < 3; ++k) {
    if (!pbc[k]) continue;
    h[k] = {cell[3 * k], cell[3 * k + 1], cell[3 * k + 2]};
    const double len = norm(h[k]);
    if (!(len > 0.0) || !std::isfinite(len))
      throw Error("periodic direction " + std::to_string(k) + " has a zero or non-finite cell vector");
    scale = std::max(scale, len);
  }
  // Check that the periodic vectors are linearly independent, then complete the basis.
  for (int k = 0; k < 3; ++k) {
    if (!pbc[k]) continue;
    Vec3 v = h[k];
    for (const Vec3& u : ortho) {
      const double p = dot(v, u);
      for (int d = 0; d < 3; ++d) v[d] -= p * u[d];
    }
    if (norm(v) <= 1e-10 * scale) throw Error("the periodic cell vectors are linearly dependent");
    add_ortho(v);
  }
  for (int k = 0; k < 3; ++k) {
    if (pbc[k]) continue;
    // Cartesian axis with the largest component outside the current span.
    Vec3 best{};
    double best_norm = -1.0;
    for (int a = 0; a < 3; ++a) {
      Vec3 v{};
      v[a] = 1.0;
      for (const Vec3& u : ortho) {
        const double p = dot(v, u);
        for (int d = 0; d < 3; ++d) v[d] -= p * u[d];
      }
      if (norm(v) > best_norm) {
        best_norm = norm(v);
        best = v;
      }
    }
    h[k] = add_ortho(best);
  }
  return h;
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Of the two periodic images t and -t of an atom's own pair, the one kept before mirroring.
bool lexicographically_positive(double s0, double s1, double s2) {
  if (s0 != 0.0) return s0 > 0.0;
  if (s1 != 0.0) return s1 > 0.0;
  return s2 > 0.0;
}

// The pairs hold one of each pair of mirror images (i <= j); append (j, i, -shift) for each, in the
// same order (shifts empty: all zero).
void append_mirrors(std::vector<int64_t>& pi, std::vector<int64_t>& pj, std::vector<double>& shifts) {
  const std::size_t half = pi.size();
  const bool shifted = !shifts.empty();
  pi.resize(2 * half);
  pj.resize(2 * half);
  if (shifted) shifts.resize(6 * half);
  for (std::size_t p = 0; p < half; ++p) {
    pi[half + p] = pj[p];
    pj[half + p] = pi[p];
    if (shifted)
      for (std::size_t d = 0; d < 3; ++d) shifts[3 * (half + p) + d] = -shifts[3 * p + d];
  }
}

}  // namespace

void neighbor_list(const double* positions, int64_t n, const std::array<double, 9>& cell,
                   const std::array<bool, 3>& pbc, double cutoff, PairList& out) {
  out.clear();
  if (!(cutoff > 0.0) || !std::isfinite(cutoff)) throw Error("the cutoff must be positive");
  if (n <= 0) return;
  const Mat3 h = binning_basis(cell, pbc);
  const double det = dot(h[0], cross(h[1], h[2]));
  const Mat3 hinv = inverse(h, det);
  const double rc = cutoff * (1.0 + kSlack);
  const double rc2 = cutoff * cutoff;

  // Fractional coordinates; wrap the periodic ones into [0, 1).
  std::vector<double> frac(static_cast<std::size_t>(3 * n));
  std::vector<int64_t> wrap(static_cast<std::size_t>(3 * n), 0);
  std::vector<double> xw(static_cast<std::size_t>(3 * n));  // wrapped Cartesian positions
  std::vector<double> wh(static_cast<std::size_t>(3 * n));  // wrap[a] . H (Cartesian)
  Vec3 smin{std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(),
            std::numeric_limits<double>::infinity()};
  Vec3 smax{-smin[0], -smin[1], -smin[2]};
  for (int64_t a = 0; a < n; ++a) {
    const double* x = positions + 3 * a;
    for (int k = 0; k < 3; ++k) {
      double s = x[0] * hinv[0][k] + x[1] * hinv[1][k] + x[2] * hinv[2][k];
      if (pbc[k]) {
        const double f = std::floor(s);
        wrap[3 * a + k] = static_cast<int64_t>(f);
        s -= f;
        if (s >= 1.0) s = 0.0;  // rounding of tiny negative values
      }
      frac[3 * a + k] = s;
      smin[k] = std::min(smin[k], s);
      smax[k] = std::max(smax[k], s);
    }
    for (int d = 0; d < 3; ++d) {
      wh[3 * a + d] = 0.0;
      for (int k = 0; k < 3; ++k) wh[3 * a + d] += static_cast<double>(wrap[3 * a + k]) * h[k][d];
      xw[3 * a + d] = x[d] - wh[3 * a + d];
    }
  }

  // Bins: plane spacing d_k = 1 / |column k of H^-1|; bins at least rc wide where possible.
  std::array<int64_t, 3> nb{};
  std::array<double, 3> lo{}, extent_s{}, width_dist{};
  for (int k = 0; k < 3; ++k) {
    const double col = std::sqrt(hinv[0][k] * hinv[0][k] + hinv[1][k] * hinv[1][k] +
                                 hinv[2][k] * hinv[2][k]);
    const double spacing = 1.0 / col;
    lo[k] = pbc[k] ? 0.0 : smin[k];
    extent_s[k] = pbc[k] ? 1.0 : (smax[k] - smin[k]);
    const double length = extent_s[k] * spacing;
    // bins of about rc/2 (searching +-2 bins): ~2.4x fewer distance tests than rc-wide bins
    nb[k] = std::max<int64_t>(1, static_cast<int64_t>(std::floor(std::min(2.0 * length / rc, 1e6))));
  }
  // Cap the number of bins (sparse or very elongated systems) at a few per atom.
  const int64_t max_bins = std::max<int64_t>(27, 2 * n);
  while (nb[0] * nb[1] * nb[2] > max_bins) {
    const int k = static_cast<int>(std::max_element(nb.begin(), nb.end()) - nb.begin());
    nb[k] = std::max<int64_t>(1, nb[k] / 2);
  }
  std::array<int64_t, 3> reach{};
  for (int k = 0; k < 3; ++k) {
    const double col = std::sqrt(hinv[0][k] * hinv[0][k] + hinv[1][k] * hinv[1][k] +
                                 hinv[2][k] * hinv[2][k]);
    width_dist[k] = extent_s[k] / col / static_cast<double>(nb[k]);
    if (nb[k] == 1 && !pbc[k]) {
      reach[k] = 0;
    } else {
      reach[k] = static_cast<int64_t>(std::ceil(rc / width_dist[k]));
      if (!pbc[k]) reach[k] = std::min(reach[k], nb[k] - 1);
    }
  }

  // Counting sort of the atoms into bins.
  const int64_t total_bins = nb[0] * nb[1] * nb[2];
  std::vector<int64_t> bin_of(static_cast<std::size_t>(n));
  std::vector<int64_t> start(static_cast<std::size_t>(total_bins + 1), 0);
  for (int64_t a = 0; a < n; ++a) {
    int64_t idx[3];
    for (int k = 0; k < 3; ++k) {
      const double u = extent_s[k] > 0.0 ? (frac[3 * a + k] - lo[k]) / extent_s[k] : 0.0;
      idx[k] = std::clamp<int64_t>(static_cast<int64_t>(std::floor(u * static_cast<double>(nb[k]))),
                                   0, nb[k] - 1);
    }
    bin_of[a] = (idx[0] * nb[1] + idx[1]) * nb[2] + idx[2];
    ++start[bin_of[a] + 1];
  }
  for (int64_t b = 0; b < total_bins; ++b) start[b + 1] += start[b];
  std::vector<int64_t> sorted(static_cast<std::size_t>(n));
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t a = 0; a < n; ++a) sorted[fill[bin_of[a]]++] = a;
  }
  // wrapped positions and wrap shifts in bin order: the inner loops read memory contiguously
  std::vector<double> xs(static_cast<std::size_t>(3 * n)), ws(static_cast<std::size_t>(3 * n));
  for (int64_t p = 0; p < n; ++p)
    for (int d = 0; d < 3; ++d) {
      xs[3 * p + d] = xw[3 * sorted[p] + d];
      ws[3 * p + d] = wh[3 * sorted[p] + d];
    }

  const std::size_t guess = static_cast<std::size_t>(n) * 48;
  if (out.i.capacity() < guess) {
    out.i.reserve(guess);
    out.j.reserve(guess);
    out.shifts.reserve(3 * guess);
  }
  double min_d2 = std::numeric_limits<double>::infinity();

  // Per direction: bin coordinate c in [-reach, nb + reach) -> wrapped bin and image (no division in
  // the loops below); -1 marks bins outside a non-periodic direction.
  std::array<std::vector<int64_t>, 3> wrapped, image;
  for (int k = 0; k < 3; ++k) {
    const int64_t len = nb[k] + 2 * reach[k];
    wrapped[k].resize(static_cast<std::size_t>(len));
    image[k].resize(static_cast<std::size_t>(len));
    for (int64_t c = -reach[k]; c < nb[k] + reach[k]; ++c) {
      const auto at = static_cast<std::size_t>(c + reach[k]);
      if (pbc[k]) {
        image[k][at] = floor_div(c, nb[k]);
        wrapped[k][at] = c - image[k][at] * nb[k];
      } else {
        image[k][at] = 0;
        wrapped[k][at] = (c < 0 || c >= nb[k]) ? -1 : c;
      }
    }
  }

  for (int64_t b0 = 0; b0 < nb[0]; ++b0)
    for (int64_t b1 = 0; b1 < nb[1]; ++b1)
      for (int64_t b2 = 0; b2 < nb[2]; ++b2) {
        const int64_t home = (b0 * nb[1] + b1) * nb[2] + b2;
        if (start[home] == start[home + 1]) continue;
        for (int64_t c0 = b0; c0 <= b0 + 2 * reach[0]; ++c0) {
          const int64_t w0 = wrapped[0][static_cast<std::size_t>(c0)];
          if (w0 < 0) continue;
          const auto i0 = static_cast<double>(image[0][static_cast<std::size_t>(c0)]);
          for (int64_t c1 = b1; c1 <= b1 + 2 * reach[1]; ++c1) {
            const int64_t w1 = wrapped[1][static_cast<std::size_t>(c1)];
            if (w1 < 0) continue;
            const auto i1 = static_cast<double>(image[1][static_cast<std::size_t>(c1)]);
            // Bins along direction 2 with consecutive wrapped index and equal image hold consecutive
            // atoms in bin order: treat each such run as one block (fewer, longer inner loops).
            const int64_t c2_end = b2 + 2 * reach[2];
            for (int64_t c2 = b2; c2 <= c2_end;) {
              const int64_t w2 = wrapped[2][static_cast<std::size_t>(c2)];
              if (w2 < 0) {
                ++c2;
                continue;
              }
              const int64_t img2 = image[2][static_cast<std::size_t>(c2)];
              int64_t last = c2;
              const std::vector<int64_t>& wr2 = wrapped[2];
              const std::vector<int64_t>& im2 = image[2];
              while (last < c2_end && wr2[static_cast<std::size_t>(last + 1)] == wr2[static_cast<std::size_t>(last)] + 1 &&
                     im2[static_cast<std::size_t>(last + 1)] == img2)
                ++last;
              const int64_t first_bin = (w0 * nb[1] + w1) * nb[2] + w2;
              const int64_t q_begin = start[first_bin];
              const int64_t q_end = start[first_bin + (last - c2) + 1];
              c2 = last + 1;
              if (q_begin == q_end) continue;
              const auto i2 = static_cast<double>(img2);
              const double t[3] = {i0 * h[0][0] + i1 * h[1][0] + i2 * h[2][0],
                                   i0 * h[0][1] + i1 * h[1][1] + i2 * h[2][1],
                                   i0 * h[0][2] + i1 * h[1][2] + i2 * h[2][2]};
              const bool zero_image = i0 == 0.0 && i1 == 0.0 && i2 == 0.0;
              for (int64_t p = start[home]; p < start[home + 1]; ++p) {
                const int64_t ai = sorted[p];
                const double xi0 = xs[3 * p] - t[0], xi1 = xs[3 * p + 1] - t[1], xi2 = xs[3 * p + 2] - t[2];
                const double* wi = &ws[3 * p];
                for (int64_t q = q_begin; q < q_end; ++q) {
                  const double dx = xs[3 * q] - xi0;
                  const double dy = xs[3 * q + 1] - xi1;
                  const double dz = xs[3 * q + 2] - xi2;
                  const double d2 = dx * dx + dy * dy + dz * dz;
                  if (d2 >= rc2 || (zero_image && p == q)) continue;
                  const int64_t aj = sorted[q];
                  if (aj < ai) continue;  // the mirror (aj, ai) is found from aj's side
                  const double* wj = &ws[3 * q];
                  // shift in terms of the caller's (unwrapped) positions: (img + w_i - w_j) . H
                  const double s0 = t[0] + wi[0] - wj[0], s1 = t[1] + wi[1] - wj[1], s2 = t[2] + wi[2] - wj[2];
                  if (aj == ai && !lexicographically_positive(s0, s1, s2)) continue;  // image -t of t
                  out.i.push_back(ai);
                  out.j.push_back(aj);
                  out.shifts.push_back(s0);
                  out.shifts.push_back(s1);
                  out.shifts.push_back(s2);
                  if (d2 < min_d2) {
                    min_d2 = d2;
                    out.min_i = ai;
                    out.min_j = aj;
                  }
                }
              }
            }
          }
        }
      }
  out.min_distance = std::isfinite(min_d2) ? std::sqrt(min_d2) : 0.0;
  append_mirrors(out.i, out.j, out.shifts);
}

void neighbor_list_brute_force(const double* positions, int64_t n,
                               const std::array<double, 9>& cell, const std::array<bool, 3>& pbc,
                               double cutoff, PairList& out) {
  out.clear();
  if (n <= 0) return;
  const Mat3 h = binning_basis(cell, pbc);
  const double det = dot(h[0], cross(h[1], h[2]));
  const Mat3 hinv = inverse(h, det);
  std::array<int64_t, 3> reach{};
  for (int k = 0; k < 3; ++k) {
    const double col = std::sqrt(hinv[0][k] * hinv[0][k] + hinv[1][k] * hinv[1][k] +
                                 hinv[2][k] * hinv[2][k]);
    reach[k] = pbc[k] ? static_cast<int64_t>(std::ceil(cutoff * col)) + 1 : 0;
  }
  std::vector<double> frac(static_cast<std::size_t>(3 * n));
  for (int64_t a = 0; a < n; ++a)
    for (int k = 0; k < 3; ++k)
      frac[3 * a + k] = positions[3 * a] * hinv[0][k] + positions[3 * a + 1] * hinv[1][k] +
                        positions[3 * a + 2] * hinv[2][k];
  double min_d2 = std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t base[3];
      for (int k = 0; k < 3; ++k)
        base[k] = pbc[k] ? -static_cast<int64_t>(std::floor(frac[3 * j + k] - frac[3 * i + k])) : 0;
      for (int64_t n0 = base[0] - reach[0]; n0 <= base[0] + reach[0]; ++n0)
        for (int64_t n1 = base[1] - reach[1]; n1 <= base[1] + reach[1]; ++n1)
          for (int64_t n2 = base[2] - reach[2]; n2 <= base[2] + reach[2]; ++n2) {
            if (i == j && n0 == 0 && n1 == 0 && n2 == 0) continue;
            double s[3], d2 = 0.0;
            for (int d = 0; d < 3; ++d) {
              s[d] = static_cast<double>(n0) * h[0][d] + static_cast<double>(n1) * h[1][d] +
                     static_cast<double>(n2) * h[2][d];
              const double r = positions[3 * j + d] - positions[3 * i + d] + s[d];
              d2 += r * r;
            }
            if (d2 >= cutoff * cutoff) continue;
            out.i.push_back(i);
            out.j.push_back(j);
            out.shifts.insert(out.shifts.end(), {s[0], s[1], s[2]});
            if (d2 < min_d2) {
              min_d2 = d2;
              out.min_i = i;
              out.min_j = j;
            }
          }
    }
  out.min_distance = std::isfinite(min_d2) ? std::sqrt(min_d2) : 0.0;
}

}  // namespace zoo::detail

namespace zoo {

void mirror_order(std::vector<int64_t>& pair_i, std::vector<int64_t>& pair_j, std::vector<double>& shifts) {
  if (pair_j.size() != pair_i.size() || (!shifts.empty() && shifts.size() != 3 * pair_i.size()))
    throw Error("mirror_order: pair_i, pair_j and shifts (3 per pair, or none) differ in length");
  const bool shifted = !shifts.empty();
  std::size_t half = 0;
  for (std::size_t p = 0; p < pair_i.size(); ++p) {
    const int64_t i = pair_i[p], j = pair_j[p];
    if (i > j) continue;  // the mirror (j, i) is kept instead
    if (i == j && !(shifted && detail::lexicographically_positive(shifts[3 * p], shifts[3 * p + 1],
                                                                  shifts[3 * p + 2])))
      continue;
    pair_i[half] = i;
    pair_j[half] = j;
    if (shifted)
      for (std::size_t d = 0; d < 3; ++d) shifts[3 * half + d] = shifts[3 * p + d];
    ++half;
  }
  pair_i.resize(half);
  pair_j.resize(half);
  if (shifted) shifts.resize(3 * half);
  detail::append_mirrors(pair_i, pair_j, shifts);
}

}  // namespace zoo
