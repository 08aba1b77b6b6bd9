// zoo-run: evaluate a zoo artifact on the frames of an (extended) XYZ file.
//   zoo-run MODEL.pt STRUCTURE.xyz [--json] [--device cpu|cuda[:N]]
// Exit status: 0 success, 2 input/artifact error (message on stderr), 1 anything else.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "elements.hpp"
#include "xyz.hpp"
#include "zoo/model.hpp"

#ifndef ZOO_VERSION
#define ZOO_VERSION "unknown"
#endif

namespace {

const char* kUsage =
    "usage: zoo-run MODEL.pt STRUCTURE.xyz [--json] [--device cpu|cuda[:N]]\n"
    "Evaluates a zoo artifact on every frame of an (extended) XYZ file and prints energy (eV),\n"
    "forces (eV/A) and, for cells periodic in all three directions, the stress (eV/A^3, ASE sign\n"
    "convention: -virial/volume). --json prints one JSON object per frame (one per line).\n";

double det3(const std::array<double, 9>& c) {
  return c[0] * (c[4] * c[8] - c[5] * c[7]) - c[1] * (c[3] * c[8] - c[5] * c[6]) +
         c[2] * (c[3] * c[7] - c[4] * c[6]);
}

void json_array(const double* v, std::size_t n) {
  std::printf("[");
  for (std::size_t k = 0; k < n; ++k) std::printf("%s%.17g", k ? ", " : "", v[k]);
  std::printf("]");
}

void json_rows(const double* v, std::size_t rows) {
  std::printf("[");
  for (std::size_t r = 0; r < rows; ++r) {
    if (r) std::printf(", ");
    json_array(v + 3 * r, 3);
  }
  std::printf("]");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  bool as_json = false;
  zoo::Options options;
  for (int k = 1; k < argc; ++k) {
    const std::string a = argv[k];
    if (a == "--json") {
      as_json = true;
    } else if (a == "--device" && k + 1 < argc) {
      const std::string d = argv[++k];
      if (d == "cpu") {
        options.device = zoo::DeviceKind::CPU;
      } else if (d.rfind("cuda", 0) == 0) {
        options.device = zoo::DeviceKind::CUDA;
        if (d.size() > 5 && d[4] == ':') options.cuda_index = std::stoi(d.substr(5));
      } else {
        std::cerr << "zoo-run: error: unknown device '" << d << "'\n" << kUsage;
        return 2;
      }
    } else if (a == "--version") {
      std::cout << "zoo-run (zoo C++ runtime) " << ZOO_VERSION << "\n";
      return 0;
    } else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "zoo-run: error: unknown option '" << a << "'\n" << kUsage;
      return 2;
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() != 2) {
    std::cerr << kUsage;
    return 2;
  }
  try {
    const zoo::Model model(pos[0], options);
    const auto frames = zoo::detail::read_xyz(pos[1]);
    for (std::size_t f = 0; f < frames.size(); ++f) {
      const auto& fr = frames[f];
      const auto r = model.compute(fr.positions, fr.numbers, fr.cell, fr.pbc);
      const std::size_t n = fr.numbers.size();
      const bool periodic = fr.pbc[0] && fr.pbc[1] && fr.pbc[2];
      std::array<double, 9> stress{};
      if (periodic) {
        const double vol = std::abs(det3(fr.cell));
        for (int k = 0; k < 9; ++k) stress[k] = -r.virial[k] / vol;
      }
      if (as_json) {
        std::printf("{\"frame\": %zu, \"n_atoms\": %zu, \"energy\": %.17g, \"atom_energies\": ", f, n, r.energy);
        json_array(r.atom_energies.data(), r.atom_energies.size());
        std::printf(", \"forces\": ");
        json_rows(r.forces.data(), n);
        std::printf(", \"virial\": ");
        json_rows(r.virial.data(), 3);
        if (periodic) {
          std::printf(", \"stress\": ");
          json_rows(stress.data(), 3);
        }
        std::printf("}\n");
      } else {
        if (frames.size() > 1) std::printf("frame %zu\n", f);
        std::printf("energy %.10f eV  (%zu atoms)\n", r.energy, n);
        std::printf("forces (eV/A)\n");
        for (std::size_t a = 0; a < n; ++a)
          std::printf("%6zu %-3s %16.10f %16.10f %16.10f\n", a, zoo::detail::element_symbol(fr.numbers[a]).c_str(),
                      r.forces[3 * a], r.forces[3 * a + 1], r.forces[3 * a + 2]);
        if (periodic) {
          std::printf("stress (eV/A^3, -virial/volume)\n");
          for (int row = 0; row < 3; ++row)
            std::printf("    %16.10f %16.10f %16.10f\n", stress[3 * row], stress[3 * row + 1], stress[3 * row + 2]);
        }
      }
    }
  } catch (const zoo::Error& e) {
    std::cerr << "zoo-run: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "zoo-run: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
