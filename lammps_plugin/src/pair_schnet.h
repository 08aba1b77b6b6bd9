/* pair_style schnet: evaluate an exported zoo artifact (TorchScript) inside LAMMPS.

   This header is LAMMPS-facing: it includes no libtorch header. The model is reached only through
   the pimpl'd zoo::Model API (cpp_runtime/include/zoo/model.hpp), which is forward-declared here.
*/
#ifndef ZOO_LAMMPS_PAIR_SCHNET_H
#define ZOO_LAMMPS_PAIR_SCHNET_H

#include "pair.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace zoo {
class Model;
}

namespace LAMMPS_NS {

class PairSchNet : public Pair {
 public:
  explicit PairSchNet(class LAMMPS *);
  ~PairSchNet() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;

 protected:
  void allocate();
  double unit_scale() const;    // model energy unit (eV) -> LAMMPS energy unit

  std::unique_ptr<zoo::Model> model_;
  std::string model_path_;
  std::string device_;          // "cpu", "cuda", "cuda:N"
  double cutoff_ = 0.0;         // model cutoff (Å)
  double receptive_field_ = 0.0;    // interactions * cutoff (Å)
  int interactions_ = 0;
  int hops_ = 1;                // ceil(receptive_field / cutoff): message-passing steps
  bool prune_ = true;           // pass only atoms within hops_ graph hops of the owned atoms
  enum class Mode { AUTO, GHOST, SHIFT };
  Mode mode_ = Mode::AUTO;      // auto: shift on one MPI rank, ghost on several
  bool use_shifts_ = false;     // decided in init_style()
  bool mode_logged_ = false;
  std::vector<int64_t> species_;
  std::vector<int64_t> type2z_;    // LAMMPS type (1..ntypes) -> atomic number
  double ghost_cut_set_ = -1.0;    // last ghost cutoff we set (to avoid repeated log lines)

  // scratch buffers reused every step
  std::vector<double> pos_;
  std::vector<int64_t> num_;
  std::vector<int64_t> pair_i_, pair_j_;
  std::vector<double> shift_;              // shift mode: x[j] - x[owner(j)] per pair
  std::vector<int> local_of_tag_;          // shift mode: atom ID -> owned index
  std::vector<int> slot_, hop_, order_;    // LAMMPS atom -> model slot, hop, model slot -> atom
  int n_model_ = 0;                        // atoms passed to the model (owned first)
  bool has_atom_virial_ = false;           // artifact returns atom_virial (compute stress/atom)
};

}    // namespace LAMMPS_NS

#endif
