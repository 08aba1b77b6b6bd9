"""Build zoo/samples/malonaldehyde_1k.h5: every 25th of the 25,000 GFN2-xTB malonaldehyde configurations.

python scripts/make_sample.py [--src shared/data/md/xtb_malonaldehyde.npz] [--stride 25]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from zoo.data import AtomsDataset, keys
from zoo.data.io import read_md17_arrays

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SRC = (
    Path(os.environ.get("ZOO_SHARED_DATA", ROOT.parent / "shared" / "data")) / "md" / "xtb_malonaldehyde.npz"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC)
    parser.add_argument("--stride", type=int, default=25)
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "zoo" / "samples" / "malonaldehyde_1k.h5")
    args = parser.parse_args()

    arrays, units, meta = read_md17_arrays(args.src)
    n_conf = arrays[keys.n_atoms].shape[0]
    n = int(arrays[keys.n_atoms][0])
    keep = np.arange(0, n_conf, args.stride)
    r = arrays[keys.R].reshape(n_conf, n, 3)[keep]
    f = arrays[keys.forces].reshape(n_conf, n, 3)[keep]
    sub = {
        keys.Z: arrays[keys.Z].reshape(n_conf, n)[keep].reshape(-1),
        keys.R: r.reshape(-1, 3),
        keys.n_atoms: np.full(keep.shape[0], n),
        keys.energy: arrays[keys.energy][keep],
        keys.forces: f.reshape(-1, 3),
    }
    ds = AtomsDataset.create(
        args.out,
        sub,
        units,
        source=f"shared/data/md/{args.src.name}",
        compression="gzip",
        stride=args.stride,
        source_configurations=n_conf,
        md_stride=int(np.load(args.src)["stride"]),
        units_converted_from="kcal/mol, kcal/mol/Ang",
        **meta,
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB): {len(ds)} structures, {ds.units}")


if __name__ == "__main__":
    main()
