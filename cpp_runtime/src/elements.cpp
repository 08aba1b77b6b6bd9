#include "elements.hpp"

#include <array>
#include <cctype>

namespace zoo::detail {
namespace {
constexpr std::array<const char*, 119> kSymbols = {
    "X",  "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al", "Si",
    "P",  "S",  "Cl", "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co", "Ni", "Cu",
    "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",  "Zr", "Nb", "Mo", "Tc", "Ru",
    "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I",  "Xe", "Cs", "Ba", "La", "Ce", "Pr",
    "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W",
    "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac",
    "Th", "Pa", "U",  "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf",
    "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og"};
}  // namespace

std::string element_symbol(int64_t z) {
  if (z >= 1 && z <= 118) return kSymbols[static_cast<std::size_t>(z)];
  return "Z=" + std::to_string(z);
}

int64_t atomic_number(const std::string& symbol) {
  if (symbol.empty()) return 0;
  std::string s = symbol;
  s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  for (std::size_t k = 1; k < s.size(); ++k)
    s[k] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[k])));
  for (std::size_t z = 1; z < kSymbols.size(); ++z)
    if (s == kSymbols[z]) return static_cast<int64_t>(z);
  return 0;
}

}  // namespace zoo::detail
