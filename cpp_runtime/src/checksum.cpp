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
// Tensor records of a TorchScript archive: "data/<digits>" or "constants/<digits>" (names as listed by
// PyTorchStreamReader::getAllRecords, i.e. without the archive's top-level folder).
bool tensor_record(const std::string& name) {
  for (const std::string prefix : {"data/", "constants/"}) {
    if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0)
      return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(),
                         [](char c) { return c >= '0' && c <= '9'; });
  }
  return false;
}

// AOTInductor archives (encoding "aoti"): every record of the compiled model package.
constexpr const char* kAotiPrefix = "data/aotinductor/";
bool aoti_record(const std::string& name) { return name.rfind(kAotiPrefix, 0) == 0; }
}  // namespace

std::string sha256_hex(const std::string& bytes) {
  detail::Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex_digest();
}

// Rule of export/SPEC.md (zoo/export/checksum.py, zoo/export/aoti.py): the tensor records (TorchScript)
// or the data/aotinductor/ records (AOTInductor) in byte-wise sorted name order; for each, its UTF-8
// name bytes and then its content bytes are fed to one SHA-256.
std::string weights_sha256(const std::string& path) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    const std::vector<std::string> all = reader.getAllRecords();
    const bool aoti = std::any_of(all.begin(), all.end(), aoti_record);
    std::vector<std::string> names;
    for (const std::string& name : all)
      if (aoti ? aoti_record(name) : tensor_record(name)) names.push_back(name);
    std::sort(names.begin(), names.end());  // std::string compares bytes (char_traits<char>)
    detail::Sha256 h;
    for (const std::string& name : names) {
      h.update(name.data(), name.size());
      auto [data, size] = reader.getRecord(name);
      h.update(data.get(), size);
    }
    return h.hex_digest();
  } catch (const c10::Error& e) {
    std::string msg = e.what();
    msg = msg.substr(0, msg.find('\n'));
    throw Error("cannot read '" + path + "' as a TorchScript or AOTInductor archive: " + msg);
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
