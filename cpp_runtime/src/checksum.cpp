#include "zoo/checksum.hpp"

#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <string>
#include <vector>

#include "json.hpp"
#include "sha256.hpp"
#include "zoo/model.hpp"

namespace zoo {

namespace {
// Tensor records of a TorchScript archive are stored as "data/<n>" (n = 0, 1, ...).
bool tensor_record(const std::string& name, uint64_t& index) {
  static const std::string prefix = "data/";
  if (name.compare(0, prefix.size(), prefix) != 0 || name.size() == prefix.size()) return false;
  const std::string rest = name.substr(prefix.size());
  if (!std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  index = std::stoull(rest);
  return true;
}
}  // namespace

std::string sha256_hex(const std::string& bytes) {
  detail::Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex_digest();
}

// Rule (provisional until export/SPEC.md states one): SHA-256 over the bytes of the tensor records
// data/0, data/1, ... concatenated in increasing numeric order.
std::string weights_sha256(const std::string& path) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    std::vector<std::pair<uint64_t, std::string>> records;
    for (const std::string& name : reader.getAllRecords()) {
      uint64_t index = 0;
      if (tensor_record(name, index)) records.emplace_back(index, name);
    }
    std::sort(records.begin(), records.end());
    detail::Sha256 h;
    for (const auto& rec : records) {
      auto [data, size] = reader.getRecord(rec.second);
      h.update(data.get(), size);
    }
    return h.hex_digest();
  } catch (const c10::Error& e) {
    std::string msg = e.what();
    msg = msg.substr(0, msg.find('\n'));
    throw Error("cannot read '" + path + "' as a TorchScript archive: " + msg);
  }
}

bool verify_weights(const std::string& path, const std::string& metadata_json) {
  const json::Value meta = json::Value::parse(metadata_json);
  const json::Value* expected = meta.find("weights_sha256");
  if (expected == nullptr || expected->is_null()) return false;
  const std::string& want = expected->as_string("metadata field 'weights_sha256'");
  const std::string got = weights_sha256(path);
  if (got != want)
    throw Error("artifact '" + path + "' is corrupt or was modified: weights SHA-256 " + got +
                " does not match the metadata's " + want);
  return true;
}

}  // namespace zoo
