"""zoo.data: HDF5 format, importers on the real files in shared/data, splits, statistics, loader, CLI."""

from __future__ import annotations

import os
from pathlib import Path

import ase.db
import ase.io
import h5py
import numpy as np
import pytest
import torch

from zoo.data import (
    AtomsDataset,
    collate,
    create_splits,
    fit_atomrefs,
    load_splits,
    make_loader,
    per_atom_stats,
    sample_path,
    split_hash,
)
from zoo.data.io import import_file
from zoo.data.units import HARTREE_TO_EV, KCAL_MOL_TO_EV
from zoo.errors import DataError

SHARED = Path(os.environ.get("ZOO_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SAMPLES = SHARED / "samples"
MALON = SHARED / "md" / "xtb_malonaldehyde.npz"

needs_shared = pytest.mark.skipif(not SAMPLES.exists(), reason=f"shared data not found at {SHARED}")


def _structures(n: int = 5) -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        k = 2 + i % 3
        out.append(
            {
                "Z": rng.integers(1, 10, k),
                "R": rng.normal(size=(k, 3)),
                "energy": float(i) - 3.0,
                "forces": rng.normal(size=(k, 3)),
                "dipole": rng.normal(size=3),
            }
        )
    return out


UNITS = {"energy": "eV", "forces": "eV/Ang", "dipole": "e*Ang"}


def _only(folder: Path, *names: str) -> None:
    """Nothing but ``names`` in ``folder``: no temporary or partial file was left behind."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


# ------------------------------------------------------------------------------------------ format
def test_round_trip_and_random_access(tmp_path: Path) -> None:
    structs = _structures(7)
    ds = AtomsDataset.create(tmp_path / "a.h5", structs, UNITS, source="unit test", chunk_size=3, note="x")
    assert len(ds) == 7
    assert ds.available_properties == ["dipole", "energy", "forces"]
    assert ds.units == UNITS
    assert ds.is_per_atom("forces") and not ds.is_per_atom("dipole")
    assert ds.elements == sorted({int(z) for s in structs for z in s["Z"]})
    np.testing.assert_array_equal(ds.n_atoms, [len(s["Z"]) for s in structs])
    assert ds.attrs["source"] == "unit test" and ds.attrs["note"] == "x" and ds.attrs["format_version"] == 1
    for i in (6, 0, 3, -1):
        s, ref = ds[i], structs[i]
        assert s["Z"].dtype == torch.int64
        np.testing.assert_array_equal(s["Z"].numpy(), ref["Z"])
        np.testing.assert_array_equal(s["R"].numpy(), ref["R"])
        np.testing.assert_array_equal(s["forces"].numpy(), ref["forces"])
        np.testing.assert_array_equal(s["dipole"].numpy(), ref["dipole"])
        assert float(s["energy"]) == ref["energy"] and s["energy"].shape == ()
        assert s["cell"].shape == (3, 3) and s["pbc"].shape == (3,) and not s["pbc"].any()
    with pytest.raises(IndexError):
        ds[7]
    _only(tmp_path, "a.h5")


def test_create_from_flat_arrays_matches_iterable(tmp_path: Path) -> None:
    structs = _structures(4)
    arrays = {
        "Z": np.concatenate([s["Z"] for s in structs]),
        "R": np.concatenate([s["R"] for s in structs]),
        "n_atoms": [len(s["Z"]) for s in structs],
        "energy": np.array([s["energy"] for s in structs]),
        "forces": np.concatenate([s["forces"] for s in structs]),
        "dipole": np.stack([s["dipole"] for s in structs]),
        "pbc": [True, True, False],
        "cell": np.eye(3) * 10,
    }
    a = AtomsDataset.create(tmp_path / "a.h5", arrays, UNITS)
    b = AtomsDataset.create(tmp_path / "b.h5", structs, UNITS)
    for i in range(4):
        for k in ("Z", "R", "energy", "forces", "dipole"):
            np.testing.assert_array_equal(a[i][k].numpy(), b[i][k].numpy())
        np.testing.assert_array_equal(a[i]["pbc"].numpy(), [True, True, False])
        np.testing.assert_array_equal(a[i]["cell"].numpy(), np.eye(3) * 10)


def test_dataset_pickles_for_workers(tmp_path: Path) -> None:
    import pickle

    ds = AtomsDataset.create(tmp_path / "a.h5", _structures(3), UNITS)
    ds[0]
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone[2]["R"].numpy(), ds[2]["R"].numpy())


# ------------------------------------------------------------------------------------------ bad input
def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        AtomsDataset(tmp_path / "nope.h5")
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"this is not HDF5" * 100)
    with pytest.raises(DataError, match=r"garbage\.h5 is not a readable HDF5 file"):
        AtomsDataset(garbage)
    good = AtomsDataset.create(tmp_path / "good.h5", _structures(50), UNITS).path
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataError, match=r"truncated\.h5"):
        AtomsDataset(truncated)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = [1, 2]
    with pytest.raises(DataError, match=r"other\.h5 is not a zoo dataset"):
        AtomsDataset(tmp_path / "other.h5")


def test_nan_coordinates(tmp_path: Path) -> None:
    structs = _structures(4)
    structs[2]["R"][1, 0] = np.nan
    with pytest.raises(DataError, match=r"nan\.h5.*structure 2 has NaN"):
        AtomsDataset.create(tmp_path / "nan.h5", structs, UNITS)
    _only(tmp_path)
    # a file written by someone else with NaN positions is refused on open
    path = AtomsDataset.create(tmp_path / "ok.h5", _structures(4), UNITS).path
    with h5py.File(path, "r+") as f:
        f["R"][3, 1] = np.nan
    with pytest.raises(DataError, match=r"ok\.h5 has a NaN"):
        AtomsDataset(path)


def test_empty_dataset(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"e\.h5.*empty dataset"):
        AtomsDataset.create(tmp_path / "e.h5", [], UNITS)
    with pytest.raises(DataError, match="empty dataset"):
        AtomsDataset.create(tmp_path / "e.h5", {"Z": [], "R": np.zeros((0, 3)), "n_atoms": []}, {})
    _only(tmp_path)
    with h5py.File(tmp_path / "e0.h5", "w") as f:
        for k, shape in (("Z", (0,)), ("R", (0, 3)), ("cell", (0, 3, 3)), ("pbc", (0, 3))):
            f[k] = np.zeros(shape)
        f["offsets"] = np.zeros(1, dtype=np.int64)
    with pytest.raises(DataError, match=r"e0\.h5 is an empty dataset"):
        AtomsDataset(tmp_path / "e0.h5")


def test_missing_property(tmp_path: Path) -> None:
    structs = _structures(5)
    del structs[3]["dipole"]
    with pytest.raises(DataError, match=r"m\.h5: structure 3 has no property 'dipole'"):
        AtomsDataset.create(tmp_path / "m.h5", structs, UNITS, chunk_size=2)
    _only(tmp_path)
    ds = AtomsDataset.create(tmp_path / "ok.h5", _structures(2), {"energy": "eV"})
    with pytest.raises(DataError, match=r"ok\.h5 has no property 'forces'"):
        ds.get_property("forces")
    with pytest.raises(DataError, match="no property 'forces'"):
        make_loader(ds, properties=["forces"])


def test_mismatched_shapes(tmp_path: Path) -> None:
    structs = _structures(4)
    structs[1]["forces"] = structs[1]["forces"][:-1]
    with pytest.raises(DataError, match="per-atom property 'forces' of structure 1"):
        AtomsDataset.create(tmp_path / "s.h5", structs, UNITS)
    structs = _structures(4)
    structs[2]["R"] = structs[2]["R"][:, :2]
    with pytest.raises(DataError, match="structure 2 has .* positions of shape"):
        AtomsDataset.create(tmp_path / "s.h5", structs, UNITS)
    structs = _structures(4)
    structs[3]["dipole"] = np.zeros(4)
    with pytest.raises(DataError, match="'dipole' has inconsistent shapes"):
        AtomsDataset.create(tmp_path / "s.h5", structs, UNITS)
    arrays = {"Z": [1, 1, 8], "R": np.zeros((3, 3)), "n_atoms": [3], "energy": [1.0, 2.0]}
    with pytest.raises(DataError, match="mismatched shapes: property 'energy'"):
        AtomsDataset.create(tmp_path / "s.h5", arrays, {"energy": "eV"})
    with pytest.raises(DataError, match="mismatched shapes"):
        AtomsDataset.create(tmp_path / "s.h5", {"Z": [1, 1], "R": np.zeros((3, 3)), "n_atoms": [3]}, {})
    _only(tmp_path)
    path = AtomsDataset.create(tmp_path / "ok.h5", _structures(3), UNITS).path
    with h5py.File(path, "r+") as f:
        del f["properties/energy"]
        f["properties/energy"] = np.zeros(5)
    with pytest.raises(DataError, match=r"ok\.h5: property 'energy' has shape \(5,\)"):
        AtomsDataset(path)


# ------------------------------------------------------------------------------------------ importers
@needs_shared
def test_import_asedb_qm9_units(tmp_path: Path) -> None:
    src = SAMPLES / "qm9_20_allprops.db"
    ds = import_file(
        "asedb", src, tmp_path / "q.h5", properties={"energy": "energy_U0", "dipole_moment": "dipole_moment"}
    )
    assert ds.units == {"energy": "eV", "dipole_moment": "e*Ang"}
    rows = list(ase.db.connect(str(src)).select())
    assert len(ds) == len(rows) == 20
    from ase.units import Debye

    for i in (0, 7, 19):
        np.testing.assert_allclose(float(ds[i]["energy"]), rows[i].data["energy_U0"][0] * HARTREE_TO_EV)
        np.testing.assert_allclose(float(ds[i]["dipole_moment"]), rows[i].data["dipole_moment"][0] * Debye)
        np.testing.assert_array_equal(ds[i]["Z"].numpy(), rows[i].numbers)
        np.testing.assert_allclose(ds[i]["R"].numpy(), rows[i].positions)
    assert ds.elements == [1, 6, 7, 8]


@needs_shared
def test_import_asedb_periodic_and_legacy(tmp_path: Path) -> None:
    si = import_file(
        "asedb", SAMPLES / "si16_pbc.db", tmp_path / "si.h5", properties=["energy", "forces", "stress"]
    )
    row = ase.db.connect(str(SAMPLES / "si16_pbc.db")).get(1)
    s = si[0]
    assert s["pbc"].all() and s["stress"].shape == (3, 3) and s["forces"].shape == (16, 3)
    np.testing.assert_allclose(s["cell"].numpy(), np.asarray(row.cell))
    np.testing.assert_allclose(s["stress"].numpy(), row.data["stress"][0])
    # qm9_500_u0.db stores arrays in the old base64 row.data encoding, U0 already in eV (no unit metadata)
    q = import_file("asedb", SAMPLES / "qm9_500_u0.db", tmp_path / "q.h5", units={"energy_U0": "eV"})
    assert len(q) == 500 and q.units == {"energy_U0": "eV"}
    np.testing.assert_allclose(float(q[0]["energy_U0"]), -40.47893 * HARTREE_TO_EV)  # methane U0 in QM9
    # ISO17: total_energy as key-value pair, atomic_forces in row.data
    iso = import_file(
        "asedb",
        SAMPLES / "iso17_40.db",
        tmp_path / "i.h5",
        properties={"energy": "total_energy", "forces": "atomic_forces"},
    )
    irow = ase.db.connect(str(SAMPLES / "iso17_40.db")).get(2)
    assert float(iso[1]["energy"]) == irow.key_value_pairs["total_energy"]
    assert iso[1]["forces"].shape == (19, 3)


@needs_shared
def test_import_extxyz_from_md17_rows(tmp_path: Path) -> None:
    from ase.calculators.singlepoint import SinglePointCalculator

    rows = list(ase.db.connect(str(SAMPLES / "md17_ethanol_20.db")).select())
    frames = []
    for row in rows:
        atoms = row.toatoms()
        atoms.calc = SinglePointCalculator(atoms, energy=row.data["energy"][0], forces=row.data["forces"])
        frames.append(atoms)
    ase.io.write(tmp_path / "eth.xyz", frames, format="extxyz")
    ds = import_file(
        "extxyz",
        tmp_path / "eth.xyz",
        tmp_path / "eth.h5",
        units={"energy": "kcal/mol", "forces": "kcal/mol/Ang"},
    )
    assert len(ds) == 20 and ds.units == {"energy": "eV", "forces": "eV/Ang"}
    np.testing.assert_allclose(float(ds[5]["energy"]), rows[5].data["energy"][0] * KCAL_MOL_TO_EV)
    np.testing.assert_allclose(ds[5]["forces"].numpy(), rows[5].data["forces"] * KCAL_MOL_TO_EV)


@needs_shared
def test_import_md17_npz_and_sample(tmp_path: Path) -> None:
    raw = np.load(MALON)
    ds = import_file("md17", MALON, tmp_path / "m.h5")
    assert len(ds) == 25000 and ds.units == {"energy": "eV", "forces": "eV/Ang"}
    np.testing.assert_allclose(float(ds[123]["energy"]), raw["E"][123, 0] * KCAL_MOL_TO_EV)
    np.testing.assert_allclose(ds[123]["forces"].numpy(), raw["F"][123] * KCAL_MOL_TO_EV)
    np.testing.assert_array_equal(ds[123]["R"].numpy(), raw["R"][123])
    assert ds.attrs["theory"].startswith("GFN2-xTB")
    sample = AtomsDataset(sample_path("malonaldehyde"))
    assert (
        len(sample) == 1000 and sample.attrs["stride"] == 25 and "xtb_malonaldehyde" in sample.attrs["source"]
    )
    assert sample.path.stat().st_size < 1 << 20
    for i in (0, 1, 999):
        np.testing.assert_array_equal(sample[i]["R"].numpy(), raw["R"][25 * i])
        np.testing.assert_allclose(float(sample[i]["energy"]), raw["E"][25 * i, 0] * KCAL_MOL_TO_EV)
    bad = tmp_path / "bad.npz"
    np.savez(bad, z=raw["z"], R=raw["R"][:3], E=raw["E"][:3])
    with pytest.raises(DataError, match=r"bad\.npz has no key 'F'"):
        import_file("md17", bad, tmp_path / "bad.h5")
    _only(tmp_path, "m.h5", "bad.npz")


@needs_shared
def test_import_deepmd_water(tmp_path: Path) -> None:
    ds = import_file("deepmd", SHARED / "water", tmp_path / "w.h5")
    assert len(ds) == 400 and ds.elements == [1, 8]
    s = ds[0]
    assert s["pbc"].all() and s["R"].shape == (192, 3)
    system = SHARED / "water" / "data_0"
    box = np.load(system / "set.000" / "box.npy")
    np.testing.assert_allclose(s["cell"].numpy().reshape(-1), box[0])
    np.testing.assert_allclose(float(s["energy"]), np.load(system / "set.000" / "energy.npy")[0])
    np.testing.assert_allclose(s["forces"].numpy().reshape(-1), np.load(system / "set.000" / "force.npy")[0])
    types = np.loadtxt(system / "type.raw", dtype=int)
    np.testing.assert_array_equal(s["Z"].numpy(), np.where(types == 0, 8, 1))


# ------------------------------------------------------------------------------------------ splits
def test_splits_reproducible_and_reused(tmp_path: Path) -> None:
    a = create_splits(100, 60, 20, seed=3)
    b = create_splits(100, 60, 20, seed=3)
    assert a.sha256 == b.sha256 and len(a.test) == 20
    assert sorted(np.concatenate([a.train, a.val, a.test]).tolist()) == list(range(100))
    assert create_splits(100, 60, 20, seed=4).sha256 != a.sha256
    assert split_hash(a.train, a.val, a.test) == a.sha256
    train, val, test = a
    assert train is a.train and val is a.val and test is a.test
    path = tmp_path / "split.npz"
    c = create_splits(100, 60, 20, seed=3, path=path)
    assert c.sha256 == a.sha256 and path.exists()
    d = create_splits(100, 60, 20, seed=99, path=path)  # existing file wins
    assert d.sha256 == a.sha256
    assert load_splits(path, 100).sha256 == a.sha256
    frac = create_splits(1000, 0.8, 0.1, seed=0)
    assert (len(frac.train), len(frac.val), len(frac.test)) == (800, 100, 100)
    with pytest.raises(DataError, match=r"split\.npz holds a split of sizes 60/20/20"):
        create_splits(100, 50, 20, path=path)
    with pytest.raises(DataError, match=r"split\.npz was made for a dataset of 100"):
        create_splits(200, 60, 20, path=path)
    with pytest.raises(DataError, match="n_train \\+ n_val = 101 exceeds the dataset's 100"):
        create_splits(100, 81, 20, path=tmp_path / "new.npz")
    _only(tmp_path, "split.npz")


# ------------------------------------------------------------------------------------------ statistics
@needs_shared
def test_atomrefs_least_squares(tmp_path: Path) -> None:
    db = ase.db.connect(str(SAMPLES / "qm9_20_allprops.db"))
    published = np.asarray(db.metadata["atomrefs"]["energy_U0"]) * HARTREE_TO_EV
    q = import_file("asedb", SAMPLES / "qm9_500_u0.db", tmp_path / "q.h5", units={"energy_U0": "eV"})
    comp_energy = [float(published[q[i]["Z"].numpy()].sum()) for i in range(len(q))]
    arrays = q.read_arrays([])
    arrays["n_atoms"] = q.n_atoms
    arrays["energy"] = np.array(comp_energy)
    exact = AtomsDataset.create(tmp_path / "exact.h5", arrays, {"energy": "eV"})
    refs = fit_atomrefs(exact)  # energies built from the published references are fitted exactly
    np.testing.assert_allclose(refs[[1, 6, 7, 8, 9]], published[[1, 6, 7, 8, 9]], rtol=1e-9)
    refs = fit_atomrefs(q, "energy_U0", indices=np.arange(400))
    # the fit absorbs the mean binding energy: it beats the isolated-atom references on the real energies
    from zoo.data.stats import composition

    comp, y = composition(q, np.arange(400)), q.get_property("energy_U0", np.arange(400))
    fitted_rms = np.sqrt(np.mean((y - comp @ refs) ** 2))
    published_rms = np.sqrt(np.mean((y - comp @ np.pad(published, (0, 19))) ** 2))
    assert fitted_rms < 1.0 and fitted_rms < published_rms / 5
    assert np.all(np.abs(refs[[1, 6, 7, 8, 9]] - published[[1, 6, 7, 8, 9]]) < 8.0)
    mean, std = per_atom_stats(q, "energy_U0", np.arange(400), atomrefs=refs)
    raw_mean, raw_std = per_atom_stats(q, "energy_U0", np.arange(400))
    assert abs(mean) < 0.01 and std < 0.2 and raw_std > 1.0 and raw_mean < -100


# ------------------------------------------------------------------------------------------ loader
def test_collate_and_in_memory_batches_agree() -> None:
    ds = AtomsDataset(sample_path("malonaldehyde"))
    idx = np.array([5, 900, 17, 3])
    batch = collate([ds[int(i)] for i in idx])
    assert batch["idx_m"].tolist() == np.repeat(np.arange(4), 9).tolist()
    assert (
        batch["n_atoms"].tolist() == [9] * 4 and batch["R"].shape == (36, 3) and batch["energy"].shape == (4,)
    )
    for preload in (True, False):
        loader = make_loader(ds, idx, batch_size=4, dtype=torch.float64, preload=preload)
        (fast,) = list(loader)
        assert set(fast) == set(batch)
        for k in batch:
            torch.testing.assert_close(fast[k], batch[k], rtol=0, atol=0)
    for preload in (True, False):  # both loaders refuse indices outside the file
        with pytest.raises(DataError, match="Split indices fall outside"):
            make_loader(ds, np.array([0, len(ds)]), batch_size=2, preload=preload)
    mixed = [
        {"Z": np.array([1, 8]), "R": np.zeros((2, 3)), "energy": 1.0},
        {"Z": np.array([6]), "R": np.ones((1, 3)), "energy": 2.0},
    ]
    b = collate(mixed, dtype=torch.float32)
    assert b["idx_m"].tolist() == [0, 0, 1] and b["R"].dtype == torch.float32 and b["Z"].dtype == torch.int64


def test_loader_shuffle_seed_and_distributed() -> None:
    ds = AtomsDataset(sample_path("malonaldehyde"))
    split = create_splits(len(ds), 800, 100, seed=0)

    def energies(loader) -> list[float]:
        return [e for b in loader for e in b["energy"].tolist()]

    a = make_loader(ds, split.train, batch_size=100, shuffle=True, seed=1)
    b = make_loader(ds, split.train, batch_size=100, shuffle=True, seed=1)
    ea, eb = energies(a), energies(b)
    assert ea == eb and len(ea) == 800
    assert energies(a) != ea  # next epoch, another order
    assert sorted(ea) == sorted(ds.get_property("energy", split.train).astype(np.float32).tolist())
    first = next(iter(a))
    assert first["R"].dtype == torch.get_default_dtype() and first["Z"].dtype == torch.int64
    shards = [
        energies(
            make_loader(
                ds, split.val, batch_size=16, shuffle=True, seed=2, distributed=True, num_replicas=2, rank=r
            )
        )
        for r in (0, 1)
    ]
    assert len(shards[0]) == len(shards[1]) == 50
    assert sorted(shards[0] + shards[1]) == sorted(
        ds.get_property("energy", split.val).astype(np.float32).tolist()
    )


# ------------------------------------------------------------------------------------------ CLI
@needs_shared
def test_cli_info_and_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from zoo.cli import main

    out = tmp_path / "iso.h5"
    rc = main(
        [
            "data",
            "import",
            "--format",
            "asedb",
            str(SAMPLES / "iso17_40.db"),
            "-o",
            str(out),
            "--properties",
            "energy=total_energy,forces=atomic_forces",
        ]
    )
    assert rc == 0 and out.exists()
    assert main(["data", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "structures  40" in text and "H, C, O" in text
    assert "energy" in text and "per-structure" in text and "eV/Ang" in text and "per-atom" in text
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n" + b"\0" * 64)
    assert main(["data", "info", str(bad)]) == 2
    assert "bad.h5 is not a readable HDF5 file" in capsys.readouterr().err
