#include "zoo/model.hpp"
#include "zoo/checksum.hpp"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/cuda.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "elements.hpp"
#include "json.hpp"
#include "neighbors.hpp"

namespace zoo {

namespace {

constexpr int kSupportedMajor = 1;
// Operators of zoo's own that this runtime registers (src/cfconv_tab.cpp); metadata "operators".
constexpr const char* kOperators[] = {"zoo::cfconv_tab"};
constexpr double kMinDistance = 0.1;  // Å

std::string first_line(const char* what) {
  std::string s(what);
  const auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

std::string fmt(double v, int precision = 3) {
  std::ostringstream os;
  os.precision(precision);
  os << std::fixed << v;
  return os.str();
}

const json::Value& required(const json::Value& obj, const std::string& key, const std::string& path) {
  const json::Value* v = obj.find(key);
  if (v == nullptr)
    throw Error("artifact '" + path + "': metadata.json lacks the required field '" + key + "'");
  return *v;
}

Metadata parse_metadata(const std::string& text, const std::string& path) {
  json::Value root;
  try {
    root = json::Value::parse(text);
  } catch (const Error& e) {
    throw Error("artifact '" + path + "': metadata.json is not valid JSON (" + e.what() + ")");
  }
  if (!root.is_object()) throw Error("artifact '" + path + "': metadata.json is not a JSON object");
  const std::string where = "artifact '" + path + "': metadata field ";
  Metadata m;
  m.json = text;
  try {
    m.format_version = required(root, "format_version", path).as_string(where + "'format_version'");
    m.zoo_version = required(root, "zoo_version", path).as_string(where + "'zoo_version'");

    // Version gate first, so that a newer artifact is refused with a useful message even if its
    // other fields changed.
    int major = -1, minor = -1;
    {
      const std::string& fv = m.format_version;
      const auto dot = fv.find('.');
      auto all_digits = [](const std::string& s) {
        return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
      };
      if (dot == std::string::npos || !all_digits(fv.substr(0, dot)) || !all_digits(fv.substr(dot + 1)) ||
          dot > 6 || fv.size() - dot > 7)
        throw Error(where + "'format_version' must be \"MAJOR.MINOR\", not \"" + fv + "\"");
      major = std::stoi(fv.substr(0, dot));
      minor = std::stoi(fv.substr(dot + 1));
    }
    (void)minor;  // minor versions only add optional fields: always readable
    if (major > kSupportedMajor)
      throw Error("artifact '" + path + "' has format version " + m.format_version +
                  ", newer than this runtime supports (" + std::to_string(kSupportedMajor) +
                  ".x); it was exported by zoo " + m.zoo_version +
                  ": use the C++ runtime of zoo " + m.zoo_version + " or newer to run it");
    if (major < 1)
      throw Error("artifact '" + path + "' has unsupported format version " + m.format_version);

    m.model_kind = required(root, "model_kind", path).as_string(where + "'model_kind'");
    m.cutoff = required(root, "cutoff", path).as_number(where + "'cutoff'");
    if (!(m.cutoff > 0.0) || !std::isfinite(m.cutoff))
      throw Error(where + "'cutoff' must be a positive number");
    const double interactions = required(root, "interactions", path).as_number(where + "'interactions'");
    if (!(interactions >= 0.0) || interactions != std::floor(interactions) || interactions > 1e6)
      throw Error(where + "'interactions' must be a non-negative integer");
    m.interactions = static_cast<int>(interactions);
    if (const json::Value* rf = root.find("receptive_field"); rf != nullptr && !rf->is_null())
      m.receptive_field = rf->as_number(where + "'receptive_field'");
    else
      m.receptive_field = m.cutoff * std::max(1, m.interactions);
    for (const json::Value& z : required(root, "species", path).as_array(where + "'species'")) {
      const double v = z.as_number(where + "'species' entry");
      if (v != std::floor(v) || v < 1 || v > 118)
        throw Error(where + "'species' holds " + fmt(v, 0) + ", not an atomic number 1..118");
      m.species.push_back(static_cast<int64_t>(v));
    }
    if (m.species.empty()) throw Error(where + "'species' is empty");
    m.dtype = required(root, "dtype", path).as_string(where + "'dtype'");
    if (m.dtype != "float32" && m.dtype != "float64")
      throw Error(where + "'dtype' must be \"float32\" or \"float64\", not \"" + m.dtype + "\"");
    for (const json::Value& o : required(root, "outputs", path).as_array(where + "'outputs'"))
      m.outputs.push_back(o.as_string(where + "'outputs' entry"));
    if (const json::Value* pa = root.find("per_atom_energies"); pa != nullptr && !pa->is_null())
      m.per_atom_energies = pa->as_bool(where + "'per_atom_energies'");
    m.encoding = "torchscript";
    if (const json::Value* enc = root.find("encoding"); enc != nullptr && !enc->is_null())
      m.encoding = enc->as_string(where + "'encoding'");
    // Format 1.1: operators beyond PyTorch's that the model calls; refuse one this runtime lacks.
    if (const json::Value* ops = root.find("operators"); ops != nullptr && !ops->is_null()) {
      for (const json::Value& op : ops->as_array(where + "'operators'")) {
        const std::string name = op.as_string(where + "'operators' entry");
        if (std::find(std::begin(kOperators), std::end(kOperators), name) == std::end(kOperators))
          throw Error("artifact '" + path + "' needs the operator " + name +
                      ", which this runtime does not provide; it was exported by zoo " + m.zoo_version +
                      ": use the C++ runtime of zoo " + m.zoo_version + " or newer");
      }
    }
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.rfind("artifact '", 0) == 0) throw;
    throw Error("artifact '" + path + "': " + msg);
  }
  return m;
}

template <typename T>
void copy_into(torch::Tensor& t, const double* src, std::size_t count) {
  T* dst = t.data_ptr<T>();
  if constexpr (std::is_same_v<T, double>) {
    std::memcpy(dst, src, count * sizeof(double));
  } else {
    for (std::size_t k = 0; k < count; ++k) dst[k] = static_cast<T>(src[k]);
  }
}

// The artifact's outputs by name: a TorchScript Dict[str, Tensor] or the AOTInductor output list in
// metadata `outputs` order.
class Outputs {
 public:
  Outputs(const std::string& path, c10::Dict<c10::IValue, c10::IValue> dict)
      : path_(path), dict_(std::move(dict)) {}
  Outputs(const std::string& path, const std::vector<std::string>& names, std::vector<torch::Tensor> list)
      : path_(path), names_(names), list_(std::move(list)) {
    if (list_.size() != names_.size())
      throw Error("artifact '" + path + "' returned " + std::to_string(list_.size()) +
                  " outputs; its metadata lists " + std::to_string(names_.size()));
  }

  bool has(const std::string& key) const {
    if (!names_.empty()) return std::find(names_.begin(), names_.end(), key) != names_.end();
    return dict_.contains(c10::IValue(key));
  }

  // float64 CPU copy of output `key` with `expected_numel` values.
  torch::Tensor get(const std::string& key, int64_t expected_numel) const {
    torch::Tensor t;
    if (!names_.empty()) {
      const auto it = std::find(names_.begin(), names_.end(), key);
      if (it == names_.end()) throw Error("artifact '" + path_ + "' returned no '" + key + "' output");
      t = list_[static_cast<std::size_t>(it - names_.begin())];
    } else {
      const auto it = dict_.find(c10::IValue(key));
      if (it == dict_.end()) throw Error("artifact '" + path_ + "' returned no '" + key + "' output");
      if (!it->value().isTensor())
        throw Error("artifact '" + path_ + "': output '" + key + "' is not a tensor");
      t = it->value().toTensor();
    }
    t = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
    if (t.numel() != expected_numel)
      throw Error("artifact '" + path_ + "': output '" + key + "' has " + std::to_string(t.numel()) +
                  " values, expected " + std::to_string(expected_numel));
    return t;
  }

 private:
  std::string path_;
  c10::Dict<c10::IValue, c10::IValue> dict_{c10::StringType::get(), c10::TensorType::get()};
  std::vector<std::string> names_;
  std::vector<torch::Tensor> list_;
};

constexpr const char* kAotiPrefix = "data/aotinductor/";

// Whether the zip archive at `path` holds an AOTInductor package; its metadata.json text goes to `text`.
bool read_aoti_archive(const std::string& path, std::string& text) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    bool aoti = false;
    for (const std::string& name : reader.getAllRecords()) aoti = aoti || name.rfind(kAotiPrefix, 0) == 0;
    if (aoti && reader.hasRecord("extra/metadata.json")) {
      auto [data, size] = reader.getRecord("extra/metadata.json");
      text.assign(static_cast<const char*>(data.get()), size);
    }
    return aoti;
  } catch (const c10::Error&) {
    return false;  // not a zip archive: torch::jit::load reports it
  }
}

std::string this_machine() {
#if defined(__x86_64__) || defined(_M_X64)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#else
  return "unknown";
#endif
}

bool cpu_has(const std::string& isa) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (isa == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (isa == "avx512")
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
#endif
  return isa == "native";
}

// The metadata member `compiled` of an AOTInductor artifact: refuse code this CPU cannot run.
void check_compiled(const std::string& text, const std::string& path) {
  const json::Value root = json::Value::parse(text);
  const json::Value* c = root.find("compiled");
  if (c == nullptr || !c->is_object())
    throw Error("artifact '" + path + "' is AOTInductor-compiled but its metadata lacks 'compiled'");
  auto member = [&](const char* key) {
    const json::Value* v = c->find(key);
    return v != nullptr && v->is_string() ? v->as_string() : std::string();
  };
  const std::string device = member("device"), machine = member("machine"), isa = member("isa");
  if (device != "cpu")
    throw Error("artifact '" + path + "' was compiled for '" + device +
                "'; this runtime runs CPU-compiled ones (use the TorchScript artifact on a GPU)");
  const bool x86 = machine == "x86_64" || machine == "AMD64" || machine == "amd64";
  if (!(machine == this_machine() || (x86 && this_machine() == "x86_64")))
    throw Error("artifact '" + path + "' was compiled for " + machine + ", this machine is " +
                this_machine() + ": export it again here, or use the TorchScript artifact");
  if (!cpu_has(isa))
    throw Error("artifact '" + path + "' was compiled for the " + isa +
                " instruction set, which this CPU lacks: export it with --isa avx2, or use the TorchScript "
                "artifact");
}

// Pair p + P/2 is pair p seen from its other atom (export/SPEC.md "Pair order").
bool mirror_ordered(const int64_t* pi, const int64_t* pj, const double* shifts, int64_t n_pairs) {
  if (n_pairs % 2 != 0) return false;
  const int64_t half = n_pairs / 2;
  for (int64_t p = 0; p < half; ++p) {
    if (pi[p + half] != pj[p] || pj[p + half] != pi[p]) return false;
    if (shifts != nullptr)
      for (int d = 0; d < 3; ++d)
        if (shifts[3 * (p + half) + d] != -shifts[3 * p + d]) return false;
  }
  return true;
}

}  // namespace

struct Model::Impl {
  std::string path;
  Metadata meta;
  torch::jit::Module module;
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> aoti;  // encoding "aoti"
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat64;
  std::array<bool, 119> supported{};
  // TorchScript: a forward without autograd calls (SchNet's forces written out, zoo.explicit_forces)
  // runs in inference mode; forward_unchecked skips the artifact's input checks, which this runtime has
  // made already (export/SPEC.md "forward_unchecked"), for a mirror-ordered list of local atoms.
  bool grad_free = false;
  std::optional<torch::jit::Method> unchecked;

  void check_numbers(const int64_t* numbers, int64_t n) const {
    for (int64_t a = 0; a < n; ++a) {
      const int64_t z = numbers[a];
      if (z < 1 || z > 118 || !supported[static_cast<std::size_t>(z)]) {
        std::string list;
        for (int64_t s : meta.species) list += (list.empty() ? "" : ", ") + detail::element_symbol(s);
        throw Error("element " + detail::element_symbol(z) + " (atom " + std::to_string(a) +
                    ") is not supported by this model (species: " + list + ")");
      }
    }
  }

  static void check_positions(const double* x, int64_t n) {
    for (int64_t k = 0; k < 3 * n; ++k)
      if (!std::isfinite(x[k]))
        throw Error("position of atom " + std::to_string(k / 3) + " is not finite (NaN or inf)");
  }

  static void too_close(int64_t i, int64_t j, double d) {
    throw Error("atoms " + std::to_string(i) + " and " + std::to_string(j) + " are " + fmt(d, 3) +
                " Å apart (minimum " + fmt(kMinDistance, 1) + " Å)");
  }

  Result forward(const double* positions, const int64_t* numbers, int64_t n, int64_t n_local,
                 const int64_t* pair_i, const int64_t* pair_j, const double* shifts,
                 int64_t n_pairs) {
    if (aoti && !mirror_ordered(pair_i, pair_j, shifts, n_pairs)) {
      // the compiled graph evaluates SchNet filters on the first half of a mirror-ordered list
      std::vector<int64_t> pi(pair_i, pair_i + n_pairs), pj(pair_j, pair_j + n_pairs);
      std::vector<double> sh;
      if (shifts != nullptr) sh.assign(shifts, shifts + 3 * n_pairs);
      mirror_order(pi, pj, sh);
      if (static_cast<int64_t>(pi.size()) != n_pairs)
        throw Error("the pair list (" + std::to_string(n_pairs) +
                    " pairs) does not hold both directions of every pair (export/SPEC.md)");
      return forward(positions, numbers, n, n_local, pi.data(), pj.data(),
                     sh.empty() ? nullptr : sh.data(), n_pairs);
    }
    // An artifact that differentiates through its own graph needs autograd on, whatever the caller's
    // thread state (torch::NoGradGuard / InferenceMode would break its scripted forward); one that
    // computes its forces without autograd runs in inference mode, skipping autograd's bookkeeping.
    std::optional<c10::InferenceMode> inference_mode;
    std::optional<torch::AutoGradMode> grad_mode;
    if (grad_free) {
      inference_mode.emplace(true);
    } else {
      inference_mode.emplace(false);
      grad_mode.emplace(true);
    }

    const auto fopts = torch::TensorOptions().dtype(dtype);
    const auto iopts = torch::TensorOptions().dtype(torch::kInt64);
    torch::Tensor pos = torch::empty({n, 3}, fopts);
    torch::Tensor num = torch::empty({n}, iopts);
    torch::Tensor edge = torch::empty({2, n_pairs}, iopts);
    torch::Tensor shf;
    if (dtype == torch::kFloat64) copy_into<double>(pos, positions, static_cast<std::size_t>(3 * n));
    else copy_into<float>(pos, positions, static_cast<std::size_t>(3 * n));
    std::memcpy(num.data_ptr<int64_t>(), numbers, static_cast<std::size_t>(n) * sizeof(int64_t));
    if (n_pairs > 0) {
      std::memcpy(edge.data_ptr<int64_t>(), pair_i, static_cast<std::size_t>(n_pairs) * sizeof(int64_t));
      std::memcpy(edge.data_ptr<int64_t>() + n_pairs, pair_j,
                  static_cast<std::size_t>(n_pairs) * sizeof(int64_t));
    }
    if (shifts == nullptr) {
      shf = torch::zeros({n_pairs, 3}, fopts);
    } else {
      shf = torch::empty({n_pairs, 3}, fopts);
      if (dtype == torch::kFloat64) copy_into<double>(shf, shifts, static_cast<std::size_t>(3 * n_pairs));
      else copy_into<float>(shf, shifts, static_cast<std::size_t>(3 * n_pairs));
    }
    if (!device.is_cpu()) {
      pos = pos.to(device);
      num = num.to(device);
      edge = edge.to(device);
      shf = shf.to(device);
    }

    std::optional<Outputs> outs;
    try {
      if (aoti) {
        const torch::Tensor n_loc = torch::scalar_tensor(n_local, iopts);
        outs.emplace(path, meta.outputs, aoti->run({pos, num, edge, shf, n_loc}));
      } else {
        // every input was checked by compute / compute_pairs before this call
        const bool skip_checks =
            unchecked && n_local == n && n_pairs > 0 && mirror_ordered(pair_i, pair_j, shifts, n_pairs);
        c10::IValue out =
            skip_checks ? (*unchecked)({pos, num, edge, shf}) : module.forward({pos, num, edge, shf, n_local});
        if (!out.isGenericDict()) throw Error("artifact '" + path + "' did not return a Dict[str, Tensor]");
        outs.emplace(path, out.toGenericDict());
      }
    } catch (const c10::Error& e) {
      throw Error("artifact '" + path + "' failed: " + first_line(e.what()));
    } catch (const Error&) {
      throw;
    } catch (const std::runtime_error& e) {  // torch::jit::JITException for `raise` in the model
      throw Error("artifact '" + path + "' failed: " + first_line(e.what()));
    }

    Result r;
    r.energy = outs->get("energy", 1).item<double>();
    const torch::Tensor ae = outs->get("atom_energies", n);
    r.atom_energies.assign(ae.data_ptr<double>(), ae.data_ptr<double>() + n);
    const torch::Tensor f = outs->get("forces", 3 * n);
    r.forces.assign(f.data_ptr<double>(), f.data_ptr<double>() + 3 * n);
    const torch::Tensor w = outs->get("virial", 9);
    std::copy(w.data_ptr<double>(), w.data_ptr<double>() + 9, r.virial.begin());
    if (outs->has("atom_virial")) {
      const torch::Tensor av = outs->get("atom_virial", 9 * n);
      r.atom_virial.assign(av.data_ptr<double>(), av.data_ptr<double>() + 9 * n);
    }
    return r;
  }
};

Model::Model(const std::string& path, Options options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = path;
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw Error("cannot open artifact '" + path + "' (no such file or not readable)");
  }
  if (options.device == DeviceKind::CUDA) {
    if (!torch::cuda::is_available())
      throw Error("CUDA device requested for '" + path + "', but this libtorch has no usable CUDA device");
    if (options.cuda_index < 0 || options.cuda_index >= static_cast<int>(torch::cuda::device_count()))
      throw Error("CUDA device index " + std::to_string(options.cuda_index) + " does not exist (" +
                  std::to_string(torch::cuda::device_count()) + " devices)");
    m.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(options.cuda_index));
  } else if (options.reuse_memory) {
    reuse_freed_memory();
  }
  std::string aoti_text;
  const bool aoti = read_aoti_archive(path, aoti_text);
  torch::jit::ExtraFilesMap extra{{"metadata.json", ""}};
  if (!aoti) {
    try {
      m.module = torch::jit::load(path, m.device, extra);
    } catch (const c10::Error& e) {
      throw Error("cannot load '" + path + "' as a TorchScript zoo artifact (corrupt or not a zip archive): " +
                  first_line(e.what()));
    } catch (const std::exception& e) {
      throw Error("cannot load '" + path + "' as a TorchScript zoo artifact: " + first_line(e.what()));
    }
  }
  const std::string& text = aoti ? aoti_text : extra["metadata.json"];
  if (text.empty())
    throw Error("artifact '" + path + "' has no metadata.json: not a zoo artifact (export it with `zoo export`)");
  m.meta = parse_metadata(text, path);
  if (!verify_weights(path, text))
    throw Error("artifact '" + path + "' has no weights_sha256 in its metadata: re-export it with `zoo export` "
                "(export/SPEC.md requires the checksum)");
  if (aoti) {
    m.meta.encoding = "aoti";
    if (options.device == DeviceKind::CUDA)
      throw Error("artifact '" + path + "' is compiled for the CPU; use the TorchScript artifact on a GPU");
    check_compiled(text, path);
    try {
      m.aoti = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path, "model");
    } catch (const std::exception& e) {
      throw Error("cannot load the compiled model in '" + path + "': " + first_line(e.what()));
    }
  }
  m.dtype = m.meta.dtype == "float32" ? torch::kFloat32 : torch::kFloat64;
  for (int64_t z : m.meta.species) m.supported[static_cast<std::size_t>(z)] = true;
  if (!aoti) {
    m.module.eval();
    m.grad_free = m.module.get_method("forward").graph()->toString().find("aten::grad") == std::string::npos;
    if (auto method = m.module.find_method("forward_unchecked")) m.unchecked.emplace(std::move(*method));
  }
}

Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

const Metadata& Model::metadata() const { return impl_->meta; }

Result Model::compute(const std::vector<double>& positions, const std::vector<int64_t>& numbers,
                      const std::array<double, 9>& cell, const std::array<bool, 3>& pbc) const {
  const auto n = static_cast<int64_t>(numbers.size());
  if (positions.size() != 3 * numbers.size())
    throw Error("positions has " + std::to_string(positions.size()) + " values for " +
                std::to_string(n) + " atoms (expected 3 per atom)");
  Impl::check_positions(positions.data(), n);
  impl_->check_numbers(numbers.data(), n);
  for (int k = 0; k < 9; ++k)
    if (pbc[static_cast<std::size_t>(k / 3)] && !std::isfinite(cell[static_cast<std::size_t>(k)]))
      throw Error("the cell is not finite");
  if (n == 0) return Result{};
  // Per-thread pair buffers: capacity is reused across calls (no reallocation or page faults for
  // repeated calls on similar systems) while concurrent calls on one Model stay independent.
  thread_local detail::PairList pairs;
  detail::neighbor_list(positions.data(), n, cell, pbc, impl_->meta.cutoff, pairs);
  if (pairs.size() > 0 && pairs.min_distance < kMinDistance)
    Impl::too_close(std::min(pairs.min_i, pairs.min_j), std::max(pairs.min_i, pairs.min_j), pairs.min_distance);
  return impl_->forward(positions.data(), numbers.data(), n, n, pairs.i.data(), pairs.j.data(),
                        pairs.shifts.data(), static_cast<int64_t>(pairs.size()));
}

Result Model::compute_pairs(const double* positions, const int64_t* numbers, int64_t n_atoms,
                            int64_t n_local, const int64_t* pair_i, const int64_t* pair_j,
                            const double* shifts, int64_t n_pairs) const {
  if (n_atoms < 0 || n_pairs < 0) throw Error("negative atom or pair count");
  if (n_local < 0 || n_local > n_atoms)
    throw Error("n_local = " + std::to_string(n_local) + " is outside 0.." + std::to_string(n_atoms));
  if (n_atoms > 0 && (positions == nullptr || numbers == nullptr)) throw Error("null positions or numbers");
  if (n_pairs > 0 && (pair_i == nullptr || pair_j == nullptr)) throw Error("null pair arrays");
  Impl::check_positions(positions, n_atoms);
  impl_->check_numbers(numbers, n_atoms);
  double min_d2 = kMinDistance * kMinDistance;
  int64_t close = -1;
  for (int64_t p = 0; p < n_pairs; ++p) {
    const int64_t i = pair_i[p], j = pair_j[p];
    if (i < 0 || i >= n_atoms || j < 0 || j >= n_atoms)
      throw Error("pair " + std::to_string(p) + " (" + std::to_string(i) + ", " + std::to_string(j) +
                  ") refers to an atom outside 0.." + std::to_string(n_atoms - 1));
    double d2 = 0.0;
    for (int d = 0; d < 3; ++d) {
      const double r = positions[3 * j + d] - positions[3 * i + d] + (shifts ? shifts[3 * p + d] : 0.0);
      d2 += r * r;
    }
    if (d2 < min_d2) {
      min_d2 = d2;
      close = p;
    }
  }
  if (close >= 0)
    Impl::too_close(std::min(pair_i[close], pair_j[close]), std::max(pair_i[close], pair_j[close]),
                    std::sqrt(min_d2));
  if (n_atoms == 0) return Result{};
  return impl_->forward(positions, numbers, n_atoms, n_local, pair_i, pair_j, shifts, n_pairs);
}

}  // namespace zoo
