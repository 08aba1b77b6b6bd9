#include "xyz.hpp"

#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "elements.hpp"
#include "zoo/model.hpp"

namespace zoo::detail {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> split_ws(const std::string& s) {
  std::istringstream is(s);
  std::vector<std::string> out;
  std::string tok;
  while (is >> tok) out.push_back(tok);
  return out;
}

/// key=value pairs of an extended-XYZ comment line; keys lower-cased; bare words map to "T".
std::map<std::string, std::string> parse_comment(const std::string& line) {
  std::map<std::string, std::string> kv;
  std::size_t p = 0;
  const std::size_t n = line.size();
  while (p < n) {
    while (p < n && std::isspace(static_cast<unsigned char>(line[p]))) ++p;
    if (p >= n) break;
    std::size_t k0 = p;
    while (p < n && line[p] != '=' && !std::isspace(static_cast<unsigned char>(line[p]))) ++p;
    std::string key = lower(line.substr(k0, p - k0));
    while (p < n && std::isspace(static_cast<unsigned char>(line[p]))) ++p;
    if (p >= n || line[p] != '=') {
      kv[key] = "T";
      continue;
    }
    ++p;
    while (p < n && std::isspace(static_cast<unsigned char>(line[p]))) ++p;
    std::string value;
    if (p < n && (line[p] == '"' || line[p] == '\'')) {
      const char q = line[p++];
      const std::size_t v0 = p;
      while (p < n && line[p] != q) ++p;
      value = line.substr(v0, p - v0);
      if (p < n) ++p;
    } else {
      const std::size_t v0 = p;
      while (p < n && !std::isspace(static_cast<unsigned char>(line[p]))) ++p;
      value = line.substr(v0, p - v0);
    }
    kv[key] = value;
  }
  return kv;
}

bool parse_bool(const std::string& s, bool& out) {
  const std::string l = lower(s);
  if (l == "t" || l == "true" || l == "1") {
    out = true;
    return true;
  }
  if (l == "f" || l == "false" || l == "0") {
    out = false;
    return true;
  }
  return false;
}

double to_double(const std::string& s, const std::string& where) {
  std::size_t used = 0;
  double v = 0.0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size()) throw Error(where + ": '" + s + "' is not a number");
  return v;
}

}  // namespace

std::vector<Frame> read_xyz(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open structure file '" + path + "'");
  std::vector<Frame> frames;
  std::string line;
  std::size_t lineno = 0;
  auto where = [&] { return path + ":" + std::to_string(lineno); };
  while (std::getline(in, line)) {
    ++lineno;
    const auto head = split_ws(line);
    if (head.empty()) continue;  // blank lines between frames
    std::size_t n_atoms = 0;
    try {
      std::size_t used = 0;
      const long long v = std::stoll(head[0], &used);
      if (used != head[0].size() || v < 0) throw std::invalid_argument("n");
      n_atoms = static_cast<std::size_t>(v);
    } catch (const std::exception&) {
      throw Error(where() + ": expected the number of atoms, got '" + line + "'");
    }
    if (!std::getline(in, line)) throw Error(where() + ": missing comment line");
    ++lineno;
    const auto kv = parse_comment(line);
    Frame f;
    if (auto it = kv.find("lattice"); it != kv.end()) {
      const auto tok = split_ws(it->second);
      if (tok.size() != 9) throw Error(where() + ": Lattice needs 9 numbers");
      for (std::size_t k = 0; k < 9; ++k) f.cell[k] = to_double(tok[k], where());
      f.has_cell = true;
      f.pbc = {true, true, true};
    }
    if (auto it = kv.find("pbc"); it != kv.end()) {
      const auto tok = split_ws(it->second);
      if (tok.size() != 3) throw Error(where() + ": pbc needs 3 values");
      for (std::size_t k = 0; k < 3; ++k)
        if (!parse_bool(tok[k], f.pbc[k])) throw Error(where() + ": bad pbc value '" + tok[k] + "'");
    }
    if (!f.has_cell && (f.pbc[0] || f.pbc[1] || f.pbc[2]))
      throw Error(where() + ": pbc given without a Lattice");
    // Columns.
    std::string props = "species:S:1:pos:R:3";
    if (auto it = kv.find("properties"); it != kv.end()) props = it->second;
    int species_col = -1, z_col = -1, pos_col = -1;
    {
      std::vector<std::string> parts;
      std::string part;
      std::istringstream ps(props);
      while (std::getline(ps, part, ':')) parts.push_back(part);
      if (parts.size() % 3 != 0) throw Error(where() + ": malformed Properties '" + props + "'");
      int col = 0;
      for (std::size_t k = 0; k < parts.size(); k += 3) {
        const std::string name = lower(parts[k]);
        const int width = static_cast<int>(to_double(parts[k + 2], where()));
        if (name == "species") species_col = col;
        else if (name == "z" || name == "numbers") z_col = col;
        else if (name == "pos" || name == "positions") pos_col = col;
        col += width;
      }
    }
    if (pos_col < 0 || (species_col < 0 && z_col < 0))
      throw Error(where() + ": Properties must name species (or Z) and pos columns");
    f.positions.reserve(3 * n_atoms);
    f.numbers.reserve(n_atoms);
    for (std::size_t a = 0; a < n_atoms; ++a) {
      if (!std::getline(in, line)) throw Error(where() + ": file ends after " + std::to_string(a) + " of " +
                                               std::to_string(n_atoms) + " atoms");
      ++lineno;
      const auto tok = split_ws(line);
      const int need = std::max(pos_col + 3, std::max(species_col, z_col) + 1);
      if (static_cast<int>(tok.size()) < need) throw Error(where() + ": too few columns");
      int64_t z = 0;
      if (species_col >= 0) {
        const std::string& s = tok[static_cast<std::size_t>(species_col)];
        z = atomic_number(s);
        if (z == 0 && !s.empty() && std::isdigit(static_cast<unsigned char>(s[0])))
          z = static_cast<int64_t>(to_double(s, where()));
        if (z == 0) throw Error(where() + ": unknown element symbol '" + s + "'");
      } else {
        z = static_cast<int64_t>(to_double(tok[static_cast<std::size_t>(z_col)], where()));
      }
      f.numbers.push_back(z);
      for (int d = 0; d < 3; ++d)
        f.positions.push_back(to_double(tok[static_cast<std::size_t>(pos_col + d)], where()));
    }
    frames.push_back(std::move(f));
  }
  if (frames.empty()) throw Error("structure file '" + path + "' holds no frame");
  return frames;
}

}  // namespace zoo::detail
