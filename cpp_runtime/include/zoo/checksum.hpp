// Integrity check of an artifact's weights (metadata field `weights_sha256`, export/SPEC.md).
// Separate from model.hpp so that the Model API stays unchanged; Model's constructor calls
// verify_weights() itself.
#pragma once

#include <string>

namespace zoo {

/// Lower-case hex SHA-256 of the artifact's tensor records (TorchScript) or compiled-model records
/// (AOTInductor), computed by the rule of export/SPEC.md. Throws zoo::Error if the file cannot be read
/// as a TorchScript or AOTInductor archive.
std::string weights_sha256(const std::string& path);

/// Compares weights_sha256(path) with the `weights_sha256` member of the metadata JSON text
/// (Metadata::json). Throws zoo::Error on a mismatch; returns false (and checks nothing) when the
/// metadata has no such member, true when it matched.
bool verify_weights(const std::string& path, const std::string& metadata_json);

/// Lower-case hex SHA-256 of a byte string (exposed for tests).
std::string sha256_hex(const std::string& bytes);

}  // namespace zoo
