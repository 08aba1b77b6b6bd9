// Chemical element symbols (internal header).
#pragma once

#include <cstdint>
#include <string>

namespace zoo::detail {

/// "H" for 1 ... "Og" for 118; "Z=<n>" outside that range.
std::string element_symbol(int64_t z);
/// Atomic number for a symbol (case-insensitive first letter handling as in ASE: "H", "He");
/// 0 when unknown.
int64_t atomic_number(const std::string& symbol);

}  // namespace zoo::detail
