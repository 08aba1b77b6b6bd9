/* pair_style schnet: evaluate an exported zoo artifact inside LAMMPS (see docs/lammps.md).

   pair_style schnet model.pt [device cpu|cuda|cuda:N] [mode auto|ghost|shift] [prune yes|no]
   pair_coeff * * O H          (one element symbol per LAMMPS atom type)

   Two ways to hand LAMMPS's atoms to zoo::Model::compute_pairs:

   ghost mode (several MPI ranks; "mode ghost"): full neighbour list including ghost atoms
     (REQ_FULL | REQ_GHOST) -> directed pairs (i, j) with r < cutoff between owned and ghost atoms
     (ghost positions are already imaged, so no shifts), n_local = atom->nlocal -> energy of owned
     atoms, forces on owned *and* ghost atoms (ghost forces go back to their owners: newton_pair
     on), per-atom energies of owned atoms, global virial W from the model. Message passing with T
     interactions needs ghost atoms up to T * cutoff from the sub-domain (metadata
     `receptive_field`): init_style() raises comm->cutghostuser to receptive_field + skin.

   shift mode (one MPI rank; "mode shift"): every ghost atom is a periodic image of an owned atom,
     so pairs (i, j_ghost) become (i, owner(j)) with Cartesian shift x[j] - x[owner(j)], exactly
     like a periodic neighbour list: the model sees only the N owned atoms (no ghost overhead, the
     numbers of the C++ runtime / ASE), and the ghost cutoff stays the usual cutoff + skin.

   "mode auto" (default): shift on one rank, ghost on several.
*/

#include "pair_schnet.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"

#include "zoo/model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

using namespace LAMMPS_NS;

namespace {

// LAMMPS order of a symmetric 3x3 tensor (row-major): xx, yy, zz, xy, xz, yz; dst += scale * W.
void add_voigt(double *dst, const double *W, double scale)
{
  dst[0] += scale * W[0];
  dst[1] += scale * W[4];
  dst[2] += scale * W[8];
  dst[3] += scale * 0.5 * (W[1] + W[3]);
  dst[4] += scale * 0.5 * (W[2] + W[6]);
  dst[5] += scale * 0.5 * (W[5] + W[7]);
}

// eV -> kcal/mol (units real). 1 eV = 23.0605478 kcal/mol (CODATA 2018, thermochemical calorie).
constexpr double EV_TO_KCAL_PER_MOL = 23.060548;

const char *const kElements[] = {
    "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al", "Si", "P",  "S",
    "Cl", "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge",
    "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",  "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd",
    "In", "Sn", "Sb", "Te", "I",  "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd",
    "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W",  "Re", "Os", "Ir", "Pt", "Au", "Hg",
    "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U",  "Np", "Pu", "Am", "Cm",
    "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn",
    "Nh", "Fl", "Mc", "Lv", "Ts", "Og"};
constexpr int kNumElements = sizeof(kElements) / sizeof(kElements[0]);

int symbol_to_z(const std::string &s)
{
  for (int z = 1; z <= kNumElements; ++z)
    if (s == kElements[z - 1]) return z;
  return 0;
}

std::string z_to_symbol(int64_t z)
{
  if (z >= 1 && z <= kNumElements) return kElements[z - 1];
  return "Z=" + std::to_string(z);
}

std::string species_string(const std::vector<int64_t> &species)
{
  std::string s;
  for (size_t k = 0; k < species.size(); ++k) {
    if (k) s += " ";
    s += z_to_symbol(species[k]);
  }
  return s;
}

}    // namespace

/* ---------------------------------------------------------------------- */

PairSchNet::PairSchNet(LAMMPS *lmp) : Pair(lmp)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  ghostneigh = 1;                        // neighbour lists of ghost atoms too (message passing)
  no_virial_fdotr_compute = 1;           // the model returns the exact virial W
  centroidstressflag = CENTROID_NOTAVAIL;
  cutghost = nullptr;
}

PairSchNet::~PairSchNet()
{
  if (copymode) return;
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(cutghost);
  }
}

/* ---------------------------------------------------------------------- */

void PairSchNet::allocate()
{
  allocated = 1;
  const int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  memory->create(cutghost, n, n, "pair:cutghost");
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      setflag[i][j] = 0;
      cutsq[i][j] = 0.0;
      cutghost[i][j] = 0.0;
    }
}

double PairSchNet::unit_scale() const
{
  const std::string units = update->unit_style;
  if (units == "metal") return 1.0;
  if (units == "real") return EV_TO_KCAL_PER_MOL;
  error->all(FLERR,
             "pair_style schnet supports only 'units metal' (eV, Angstrom) and 'units real' "
             "(kcal/mol, Angstrom); current units are '{}'",
             units);
  return 0.0;
}

/* ----------------------------------------------------------------------
   pair_style schnet model.pt [device cpu|cuda|cuda:N] [mode auto|ghost|shift] [prune yes|no]
                               [reuse_memory yes|no]
------------------------------------------------------------------------- */

void PairSchNet::settings(int narg, char **arg)
{
  if (narg < 1)
    error->all(FLERR, "Illegal pair_style schnet command: expected 'pair_style schnet MODEL.pt "
                      "[device cpu|cuda|cuda:N]'");
  unit_scale();    // refuse unsupported unit styles early

  std::string path = arg[0];
  std::string device = "cpu";
  bool prune = true;
  bool reuse_memory = true;
  Mode mode = Mode::AUTO;
  for (int iarg = 1; iarg < narg; iarg += 2) {
    const std::string key = arg[iarg];
    if (key != "device" && key != "prune" && key != "mode" && key != "reuse_memory")
      error->all(FLERR,
                 "Illegal pair_style schnet keyword '{}' (known keywords: device, mode, prune, reuse_memory)",
                 key);
    if (iarg + 1 >= narg)
      error->all(FLERR, "Illegal pair_style schnet command: '{}' needs a value", key);
    const std::string value = arg[iarg + 1];
    if (key == "device") {
      device = value;
    } else if (key == "prune") {
      prune = utils::logical(FLERR, value, false, lmp) == 1;
    } else if (key == "reuse_memory") {
      reuse_memory = utils::logical(FLERR, value, false, lmp) == 1;
    } else {
      if (value == "auto") mode = Mode::AUTO;
      else if (value == "ghost") mode = Mode::GHOST;
      else if (value == "shift") mode = Mode::SHIFT;
      else error->all(FLERR, "pair_style schnet: illegal mode '{}' (use auto, ghost or shift)", value);
    }
  }

  zoo::Options options;
  options.reuse_memory = reuse_memory;    // keep freed memory in the process (zoo::reuse_freed_memory)
  if (device == "cpu") {
    options.device = zoo::DeviceKind::CPU;
  } else if (device.rfind("cuda", 0) == 0) {
    options.device = zoo::DeviceKind::CUDA;
    options.cuda_index = 0;
    if (device.size() > 4) {
      if (device[4] != ':' || device.size() == 5)
        error->all(FLERR, "pair_style schnet: illegal device '{}' (use cpu, cuda or cuda:N)", device);
      options.cuda_index = utils::inumeric(FLERR, device.substr(5), false, lmp);
    }
  } else {
    error->all(FLERR, "pair_style schnet: illegal device '{}' (use cpu, cuda or cuda:N)", device);
  }

  {
    FILE *fp = fopen(path.c_str(), "rb");
    if (!fp) error->all(FLERR, "pair_style schnet: cannot open model file '{}'", path);
    fclose(fp);
  }

  // load the artifact; errors are collected so that every rank fails the same way
  std::string failure;
  try {
    model_ = std::make_unique<zoo::Model>(path, options);
  } catch (std::exception &e) {
    failure = e.what();
  }
  if (!failure.empty())
    error->all(FLERR, "pair_style schnet: cannot load model '{}': {}", path, failure);
  const auto &outs = model_->metadata().outputs;
  has_atom_virial_ = std::find(outs.begin(), outs.end(), "atom_virial") != outs.end();

  const zoo::Metadata &meta = model_->metadata();
  model_path_ = path;
  device_ = device;
  cutoff_ = meta.cutoff;
  interactions_ = meta.interactions;
  receptive_field_ = meta.receptive_field;
  if (receptive_field_ <= 0.0) receptive_field_ = meta.cutoff * std::max(1, meta.interactions);
  species_ = meta.species;
  prune_ = prune;
  mode_ = mode;
  mode_logged_ = false;
  // message-passing depth in units of the cutoff (receptive field may be given explicitly)
  hops_ = std::max(1, (int) std::ceil(receptive_field_ / cutoff_ - 1e-9));
  if (cutoff_ <= 0.0) error->all(FLERR, "pair_style schnet: model '{}' has no positive cutoff", path);

  if (comm->me == 0)
    utils::logmesg(lmp,
                   "pair_style schnet: model {} ({}, {}), cutoff {} A, interactions {}, "
                   "receptive field {} A, species {}, device {}\n",
                   path, meta.model_kind, meta.dtype, cutoff_, interactions_, receptive_field_,
                   species_string(species_), device);

  // a new model invalidates any previous pair_coeff mapping
  if (allocated) {
    for (int i = 1; i <= atom->ntypes; ++i)
      for (int j = i; j <= atom->ntypes; ++j) setflag[i][j] = 0;
  }
  type2z_.clear();
}

/* ----------------------------------------------------------------------
   pair_coeff * * El1 El2 ... (one element per atom type)
------------------------------------------------------------------------- */

void PairSchNet::coeff(int narg, char **arg)
{
  if (!model_) error->all(FLERR, "pair_coeff for pair_style schnet issued before pair_style");
  if (!allocated) allocate();

  const int ntypes = atom->ntypes;
  if (narg < 2 || strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_style schnet needs exactly one 'pair_coeff * * El1 El2 ...' "
                      "with one element symbol per atom type");
  if (narg - 2 != ntypes)
    error->all(FLERR,
               "pair_coeff * * for pair_style schnet: got {} element(s) for {} atom type(s); give "
               "exactly one element symbol per atom type (model species: {})",
               narg - 2, ntypes, species_string(species_));

  type2z_.assign(ntypes + 1, 0);
  for (int t = 1; t <= ntypes; ++t) {
    const std::string sym = arg[t + 1];
    if (sym == "NULL")
      error->all(FLERR, "pair_coeff * * for pair_style schnet: NULL is not supported (type {}); "
                        "every atom type needs an element", t);
    const int z = symbol_to_z(sym);
    if (z == 0)
      error->all(FLERR, "pair_coeff * * for pair_style schnet: '{}' (type {}) is not an element symbol",
                 sym, t);
    if (std::find(species_.begin(), species_.end(), (int64_t) z) == species_.end())
      error->all(FLERR,
                 "pair_coeff * * for pair_style schnet: element {} (type {}) is not in the species "
                 "of model '{}' ({})",
                 sym, t, model_path_, species_string(species_));
    type2z_[t] = z;
  }

  for (int i = 1; i <= ntypes; ++i)
    for (int j = i; j <= ntypes; ++j) setflag[i][j] = 1;
}

/* ---------------------------------------------------------------------- */

void PairSchNet::init_style()
{
  if (!model_) error->all(FLERR, "pair_style schnet: no model loaded");
  if (force->newton_pair == 0)
    error->all(FLERR, "pair_style schnet requires 'newton on' (newton_pair on): forces on ghost "
                      "atoms must be sent back to their owners");
  unit_scale();

  if (mode_ == Mode::SHIFT && comm->nprocs > 1)
    error->all(FLERR, "pair_style schnet mode shift needs a single MPI rank (use mode auto or ghost)");
  if (mode_ == Mode::SHIFT && atom->tag_enable == 0)
    error->all(FLERR, "pair_style schnet mode shift needs atom IDs (atom_modify id yes)");
  use_shifts_ = (mode_ == Mode::SHIFT) || (mode_ == Mode::AUTO && comm->nprocs == 1 && atom->tag_enable);
  ghostneigh = use_shifts_ ? 0 : 1;

  if (comm->me == 0 && !mode_logged_)
    utils::logmesg(lmp,
                   "pair_style schnet: {} mode ({}){}\n", use_shifts_ ? "shift" : "ghost",
                   use_shifts_ ? "one rank: ghost atoms folded onto their owners with periodic shifts"
                               : "owned + ghost atoms, forces on ghosts sent back to their owners",
                   use_shifts_ ? "" : (prune_ ? ", prune yes" : ", prune no"));
  mode_logged_ = true;

  if (use_shifts_) {
    // full list of owned atoms; ghosts within cutoff + skin (the LAMMPS default) suffice
    neighbor->add_request(this, NeighConst::REQ_FULL);
    return;
  }

  // full list, ghosts included: message passing runs over owned and ghost atoms
  neighbor->add_request(this, NeighConst::REQ_FULL | NeighConst::REQ_GHOST);

  // Receptive field: local atom energies depend on atoms up to interactions * cutoff away, and the
  // ghost atoms within (interactions - 1) * cutoff need complete neighbour lists themselves.
  // Ghost shell needed = receptive_field + skin (skin: atoms move between neighbour-list builds).
  if (comm->mode != Comm::SINGLE)
    error->all(FLERR, "pair_style schnet requires 'comm_modify mode single'");
  const double needed = receptive_field_ + neighbor->skin;
  if (comm->cutghostuser < needed) {
    if (comm->me == 0 && ghost_cut_set_ != needed)
      utils::logmesg(lmp,
                     "pair_style schnet: setting ghost-atom cutoff (comm_modify cutoff) to {} A = "
                     "receptive field {} A ({} interaction(s) x cutoff {} A) + neighbor skin {} A "
                     "(was {} A)\n",
                     needed, receptive_field_, interactions_, cutoff_, neighbor->skin,
                     comm->cutghostuser);
    comm->cutghostuser = needed;
    ghost_cut_set_ = needed;
  }
}

/* ---------------------------------------------------------------------- */

double PairSchNet::init_one(int i, int j)
{
  if (setflag[i][j] == 0) error->all(FLERR, "All pair coeffs are not set (pair_coeff * * El1 El2 ...)");
  if (!use_shifts_) cutghost[i][j] = cutghost[j][i] = cutoff_;
  return cutoff_;
}

/* ---------------------------------------------------------------------- */

void PairSchNet::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  if (cvflag_atom)
    error->all(FLERR, "pair_style schnet does not provide centroid per-atom virials "
                      "(compute centroid/stress/atom); use compute stress/atom");
  if (vflag_atom && !has_atom_virial_)
    error->all(FLERR, "pair_style schnet: this artifact has no atom_virial output, so per-atom virials "
                      "(compute stress/atom) are not available; re-export the model with `zoo export`");

  double **x = atom->x;
  double **f = atom->f;
  const int *type = atom->type;
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  if (nlocal == 0) return;    // no owned atoms: no local energy, all gradients vanish

  // Directed pairs (i, j) with r < cutoff, found by a breadth-first walk over the full+ghost
  // neighbour list starting at the owned atoms (hop 0). With T = hops_ message-passing steps, the
  // energy of owned atoms depends on the features of atoms up to T hops away, and only atoms at
  // hop <= T-1 need their own neighbours (atoms at hop T contribute their embedding only). So the
  // walk expands atoms with hop <= T-1, adds both directions of every pair touching them, and
  // passes the model only the atoms with hop <= T ("prune yes"). Pairs between two atoms at hop T
  // or beyond cannot change any owned-atom energy, whatever the direction convention of the model.
  // With "prune no" all owned and ghost atoms and all their pairs are passed (reference mode).
  const double cutsq_model = cutoff_ * cutoff_;
  const int *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;
  pair_i_.clear();
  pair_j_.clear();
  shift_.clear();
  // fn(i, j) for the first `count` atoms of the neighbour list and their neighbours j with r < cutoff
  auto for_each_pair = [&](int count, auto &&fn) {
    const int *ilist = list->ilist;
    for (int ii = 0; ii < count; ++ii) {
      const int i = ilist[ii];
      const double xi = x[i][0], yi = x[i][1], zi = x[i][2];
      const int *jlist = firstneigh[i];
      const int jnum = numneigh[i];
      for (int jj = 0; jj < jnum; ++jj) {
        const int j = jlist[jj] & NEIGHMASK;
        const double dx = x[j][0] - xi, dy = x[j][1] - yi, dz = x[j][2] - zi;
        if (dx * dx + dy * dy + dz * dz < cutsq_model) fn(i, j);
      }
    }
  };

  if (use_shifts_) {
    // one rank: ghost j is an image of owned atom owner(j) (same atom ID)
    const tagint *tag = atom->tag;
    tagint maxtag = 0;
    for (int i = 0; i < nlocal; ++i) maxtag = std::max(maxtag, tag[i]);
    local_of_tag_.assign((size_t) maxtag + 1, -1);
    for (int i = 0; i < nlocal; ++i) local_of_tag_[tag[i]] = i;
    for_each_pair(list->inum, [&](int i, int j) {
      int o = j;
      if (j >= nlocal) {
        o = (tag[j] <= maxtag) ? local_of_tag_[tag[j]] : -1;
        if (o < 0)
          error->one(FLERR, "pair_style schnet mode shift: ghost atom {} has no owned image on this "
                            "rank (use mode ghost)", tag[j]);
      }
      pair_i_.push_back(i);
      pair_j_.push_back(o);
      shift_.push_back(x[j][0] - x[o][0]);
      shift_.push_back(x[j][1] - x[o][1]);
      shift_.push_back(x[j][2] - x[o][2]);
    });
    n_model_ = nlocal;
    order_.resize(nlocal);
    for (int i = 0; i < nlocal; ++i) order_[i] = i;
  } else if (!prune_) {
    for_each_pair(list->inum + list->gnum, [&](int i, int j) {
      pair_i_.push_back(i);
      pair_j_.push_back(j);
    });
    n_model_ = nall;
    order_.resize(nall);
    for (int i = 0; i < nall; ++i) order_[i] = i;
  } else {
    // slot_[a] = index of LAMMPS atom a in the model's atom list, -1 if not passed
    slot_.assign(nall, -1);
    hop_.resize(nall);
    order_.resize(nlocal);
    for (int i = 0; i < nlocal; ++i) {
      slot_[i] = i;
      hop_[i] = 0;
      order_[i] = i;
    }
    const int last_expanded = hops_ - 1;    // atoms with hop <= T-1 need all their pairs
    for (size_t head = 0; head < order_.size(); ++head) {
      const int i = order_[head];
      if (hop_[i] > last_expanded) break;    // BFS order: everything after is at hop T
      const int si = slot_[i];
      const double xi = x[i][0], yi = x[i][1], zi = x[i][2];
      const int *jlist = firstneigh[i];
      const int jnum = numneigh[i];
      for (int jj = 0; jj < jnum; ++jj) {
        const int j = jlist[jj] & NEIGHMASK;
        const double dx = x[j][0] - xi, dy = x[j][1] - yi, dz = x[j][2] - zi;
        if (dx * dx + dy * dy + dz * dz >= cutsq_model) continue;
        if (slot_[j] < 0) {
          slot_[j] = (int) order_.size();
          hop_[j] = hop_[i] + 1;
          order_.push_back(j);
        }
        pair_i_.push_back(si);
        pair_j_.push_back(slot_[j]);
        // j is never expanded: add the reverse direction here
        if (hop_[j] > last_expanded) {
          pair_i_.push_back(slot_[j]);
          pair_j_.push_back(si);
        }
      }
    }
    n_model_ = (int) order_.size();
  }

  // pair p + P/2 = pair p seen from its other atom: SchNet artifacts evaluate each filter once
  zoo::mirror_order(pair_i_, pair_j_, shift_);

  pos_.resize(3 * (size_t) n_model_);
  num_.resize(n_model_);
  for (int s = 0; s < n_model_; ++s) {
    const int a = order_[s];
    pos_[3 * s + 0] = x[a][0];
    pos_[3 * s + 1] = x[a][1];
    pos_[3 * s + 2] = x[a][2];
    num_[s] = type2z_[type[a]];
  }

  zoo::Result res;
  std::string failure;
  try {
    res = model_->compute_pairs(pos_.data(), num_.data(), n_model_, nlocal, pair_i_.data(),
                                pair_j_.data(), use_shifts_ ? shift_.data() : nullptr,
                                (int64_t) pair_i_.size());
  } catch (std::exception &e) {
    failure = e.what();
  }
  if (!failure.empty()) error->one(FLERR, "pair_style schnet: model evaluation failed: {}", failure);

  const double s = unit_scale();
  for (int k = 0; k < n_model_; ++k) {
    const int a = order_[k];
    f[a][0] += s * res.forces[3 * k + 0];
    f[a][1] += s * res.forces[3 * k + 1];
    f[a][2] += s * res.forces[3 * k + 2];
  }
  if (eflag_global) eng_vdwl += s * res.energy;
  if (eflag_atom)
    for (int i = 0; i < nlocal; ++i) eatom[i] += s * res.atom_energies[i];
  if (vflag_global) add_voigt(virial, res.virial.data(), s);
  if (vflag_atom)
    // model atom k is LAMMPS atom order_[k] (ghosts too: compute stress/atom sums them into owners)
    for (int k = 0; k < n_model_; ++k) add_voigt(vatom[order_[k]], res.atom_virial.data() + 9 * k, s);
}
