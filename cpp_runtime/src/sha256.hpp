// SHA-256 (FIPS 180-4), incremental (internal header).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace zoo::detail {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t n);
  /// Lower-case hex digest; the object must not be updated afterwards.
  std::string hex_digest();

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_{};
  std::array<uint8_t, 64> buf_{};
  std::size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

}  // namespace zoo::detail
