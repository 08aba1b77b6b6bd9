"""What the benchmarks share: where the test data are, and the two systems most of them time.

    from common import SHARED, MALONALDEHYDE, water_box   # scripts run as python benchmarks/NAME.py
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _shared() -> Path:
    """$ZOO_SHARED_DATA, else ../shared/data beside the repository (the CI layout), else shared/data
    inside it (what benchmarks/gpu_session.sh carries to a GPU machine)."""
    if os.environ.get("ZOO_SHARED_DATA"):
        return Path(os.environ["ZOO_SHARED_DATA"])
    beside = REPO.parent / "shared" / "data"
    return beside if beside.is_dir() else REPO / "shared" / "data"


SHARED = _shared()
WATER = SHARED / "water" / "data_0"  # DeePMD-kit's example DFT water: 192-atom frames
MALONALDEHYDE = SHARED / "md" / "xtb_malonaldehyde.npz"  # GFN2-xTB MD of malonaldehyde (MD17 layout)


def water_box(reps: int = 2):  # type: ignore[no-untyped-def]
    """ASE Atoms: the first water frame (elements from its type_map.raw) repeated reps x reps x reps,
    periodic; reps = 2 is the 1,536-atom box of docs/RESULTS.md."""
    from ase import Atoms

    from zoo.data import keys
    from zoo.data.io import read_deepmd

    frame = next(read_deepmd(WATER)[0])
    atoms = Atoms(numbers=frame[keys.Z], positions=frame[keys.R], cell=frame[keys.cell], pbc=True)
    return atoms.repeat((reps, reps, reps))
