"""zoo.datasets: downloads from a local HTTP server (127.0.0.1) serving files in the exact upstream formats,
built at test time from the real samples in shared/data/samples."""

from __future__ import annotations

import csv
import http.server
import importlib
import io
import json
import os
import tarfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import ase.db
import h5py
import numpy as np
import pytest
from conftest import answer_range

from zoo.data import AtomsDataset
from zoo.data.units import HARTREE_TO_EV, KCAL_MOL_TO_EV
from zoo.datasets import ANI1, ISO17, MD17, QM9, MaterialsProject, RemoteFile, download, file_hash
from zoo.datasets import qm9 as qm9_module
from zoo.errors import DataError, DownloadError

SHARED = Path(os.environ.get("ZOO_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SAMPLES = SHARED / "samples"
pytestmark = pytest.mark.skipif(not SAMPLES.exists(), reason=f"shared data not found at {SHARED}")


# ------------------------------------------------------------------------------------------ HTTP server
class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        srv = self.server
        url = urllib.parse.urlsplit(self.path)
        srv.requests.append((url.path, self.headers.get("Range")))
        if url.path in srv.delays:
            time.sleep(srv.delays[url.path])
        if url.path == "/materials/summary/":
            return self._mp(urllib.parse.parse_qs(url.query))
        body = srv.files.get(url.path)
        if body is None:
            self.send_error(404)
            return
        payload = answer_range(self, body, srv.ranges)
        if payload is None:
            return
        cut = srv.cut_once.pop(url.path, None)
        try:
            self.wfile.write(payload if cut is None else payload[:cut])
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (time-out test)
            pass
        self.close_connection = cut is not None

    def _mp(self, query: dict[str, list[str]]) -> None:
        srv = self.server
        if self.headers.get("X-API-KEY") != "test-key":
            self.send_error(401)
            return
        skip, limit = int(query["_skip"][0]), int(query["_limit"][0])
        body = json.dumps({"data": srv.mp_docs[skip : skip + limit], "meta": {"total_doc": len(srv.mp_docs)}})
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.cut_once: dict[str, int] = {}
        self.delays: dict[str, float] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.mp_docs: list[dict] = []
        self.ranges = True

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@pytest.fixture()
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _tar(members: dict[str, bytes], mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _leftovers(folder: Path) -> list[str]:
    """Temporary or partial files anywhere under ``folder``."""
    return [str(p) for p in folder.rglob("*") if ".tmp" in p.name or p.name.endswith(".part")]


# ------------------------------------------------------------------------------------------ QM9 fixtures
def _mathematica(x: float) -> str:
    """QM9 writes small numbers in Mathematica notation (1.2*^-6)."""
    return repr(float(x)).replace("e", "*^")


def _qm9_rows() -> list:
    return list(ase.db.connect(str(SAMPLES / "qm9_20_allprops.db")).select())


def _qm9_xyz(index: int, row) -> bytes:
    # line 2 and the atom lines hold the real values of the db; the Mulliken charges, frequencies, SMILES and
    # InChI are not in the sample db and zoo does not read them: zeros / "-" keep the line structure.
    values = [row.data[k][0] for k in QM9.PROPERTIES]  # same names in the sample db
    lines = [str(row.natoms), "gdb " + str(index) + "\t" + "\t".join(_mathematica(v) for v in values)]
    for sym, pos in zip(row.symbols, row.positions, strict=True):
        lines.append(f"{sym}\t" + "\t".join(_mathematica(c) for c in pos) + "\t0.0")
    lines += ["0.0", "- -", "- -"]
    return ("\n".join(lines) + "\n").encode("ascii")


UNCHARACTERIZED = (4, 11)


def _uncharacterized_txt() -> bytes:
    header = (
        [" Indices of molecules which failed the consistency check (fixture with the real layout)"]
        + [f" header line {i}" for i in range(2, 9)]
        + ["   Index   SMILES_GDB   SMILES_B3LYP   deviations"]
    )
    rows = [f"  {i:7d}   C   C   0.1   0.2" for i in UNCHARACTERIZED]
    return ("\n".join(header + rows + [" end"]) + "\n").encode()


def _qm9_tarball() -> bytes:
    return _tar({f"dsgdb9nsd_{i:06d}.xyz": _qm9_xyz(i, r) for i, r in enumerate(_qm9_rows(), 1)}, "w:bz2")


def _qm9pack_csv(folder: Path) -> None:
    """qm9pack's CSV layout, written from the same db rows (characterized molecules only, like qm9pack)."""
    folder.mkdir(parents=True)
    cols = ["XYZ_file", "Index", "SMILES", "InChi", "N_atoms", "Stoichiometry", "Elements", "XYZ_Ang",
            "Mulliken_pop", "Harmonic_Freq_cmi", *qm9_module.QM9PACK_COLUMNS.values()]  # fmt: skip
    rows = [(i, r) for i, r in enumerate(_qm9_rows(), 1) if i not in UNCHARACTERIZED]
    for part, chunk in zip(qm9_module.QM9PACK_FILES, (rows[:6], rows[6:12], rows[12:]), strict=True):
        with open(folder / part, "w", newline="") as f:
            w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)
            w.writerow(cols)
            for i, r in chunk:
                elements = "[" + ",".join(f"'{s}'" for s in r.symbols) + "]"
                xyz = (
                    "[" + ",".join("[" + ",".join(repr(float(c)) for c in p) + "]" for p in r.positions) + "]"
                )
                props = [float(r.data[k][0]) for k in qm9_module.QM9PACK_COLUMNS]
                w.writerow(
                    [f"dsgdb9nsd_{i:06d}.xyz", i, "-", "-", r.natoms, "-", elements, xyz, "-", "-", *props]
                )


@pytest.fixture()
def qm9_server(server: _Server) -> _Server:
    server.files["/files/3195389"] = _qm9_tarball()
    server.files["/files/3195404"] = _uncharacterized_txt()
    return server


def _qm9(root: Path, srv: _Server, **kw) -> QM9:
    urls = {"xyz": srv.url("/files/3195389"), "uncharacterized": srv.url("/files/3195404")}
    qm9 = QM9(root, urls=urls, source="figshare", progress=False, **kw)
    qm9.remote["xyz"] = RemoteFile("dsgdb9nsd.xyz.tar.bz2", urls["xyz"])  # the fixture is not the pinned file
    return qm9


# ------------------------------------------------------------------------------------------ QM9 tests
def test_qm9_download_convert_reuse(tmp_path: Path, qm9_server: _Server) -> None:
    qm9 = _qm9(tmp_path, qm9_server, properties=[QM9.U0, QM9.mu])
    ds = qm9.dataset
    rows = _qm9_rows()
    kept = [i for i in range(1, 21) if i not in UNCHARACTERIZED]
    assert len(ds) == len(kept) == 18
    np.testing.assert_array_equal(ds.get_property(QM9.index), kept)
    assert ds.units[QM9.U0] == "eV" and ds.units[QM9.mu] == "e*Ang" and ds.units[QM9.alpha] == "Ang^3"
    from ase.units import Bohr, Debye

    for pos, gdb in enumerate(kept):
        row = rows[gdb - 1]
        s = ds[pos]
        np.testing.assert_array_equal(s["Z"].numpy(), row.numbers)
        np.testing.assert_allclose(s["R"].numpy(), row.positions, rtol=0, atol=1e-12)
        np.testing.assert_allclose(float(s[QM9.U0]), row.data["energy_U0"][0] * HARTREE_TO_EV, rtol=1e-14)
        np.testing.assert_allclose(float(s[QM9.mu]), row.data["dipole_moment"][0] * Debye, rtol=1e-14)
        np.testing.assert_allclose(float(s[QM9.alpha]), row.data["isotropic_polarizability"][0] * Bohr**3)
    assert set(qm9[0]) == {"Z", "R", "cell", "pbc", "n_atoms", QM9.U0, QM9.mu}
    n_requests = len(qm9_server.requests)
    again = _qm9(tmp_path, qm9_server, download=False)  # converted once, then reused without the network
    assert len(again.dataset) == 18 and len(qm9_server.requests) == n_requests
    everything = _qm9(tmp_path, qm9_server, remove_uncharacterized=False)
    assert len(everything.dataset) == 20
    assert _leftovers(tmp_path) == []


def test_qm9_atomrefs_match_published_values() -> None:
    published = ase.db.connect(str(SAMPLES / "qm9_20_allprops.db")).metadata["atomrefs"]
    refs = QM9.atomrefs()
    for prop in (QM9.U0, QM9.U, QM9.H, QM9.G):
        np.testing.assert_allclose(refs[prop][:100], np.asarray(published[prop]) * HARTREE_TO_EV, rtol=1e-15)
    np.testing.assert_allclose(refs[QM9.Cv][:100], published[QM9.Cv])


def test_qm9_same_numbers_by_either_route(
    tmp_path: Path, qm9_server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    via_tar = _qm9(tmp_path / "a", qm9_server).dataset
    _qm9pack_csv(tmp_path / "qm9pack_data")
    monkeypatch.setattr(qm9_module, "qm9pack_folder", lambda: tmp_path / "qm9pack_data")
    via_pack = QM9(tmp_path / "b", download=False, progress=False).dataset  # auto: no tarball -> qm9pack
    assert via_pack.attrs["route"] == "qm9pack" and via_tar.attrs["route"] == "figshare"
    assert len(via_pack) == len(via_tar) == 18
    for name in [*QM9.PROPERTIES, QM9.index]:
        np.testing.assert_array_equal(via_pack.get_property(name), via_tar.get_property(name), err_msg=name)
    np.testing.assert_array_equal(via_pack.read_arrays([])["R"], via_tar.read_arrays([])["R"])


def test_qm9pack_installed_matches_sample_db() -> None:
    folder = qm9_module.qm9pack_folder()
    if folder is None:
        pytest.skip("qm9pack is not installed (pip install qm9pack)")
    mols = {}
    for m in qm9_module.read_qm9pack(folder):
        mols[m[QM9.index]] = m
        if len(mols) == 20:
            break
    for gdb, row in enumerate(_qm9_rows(), 1):
        m = mols[gdb]
        np.testing.assert_array_equal(m["Z"], row.numbers)
        np.testing.assert_allclose(m["R"], row.positions, atol=1e-9)
        np.testing.assert_allclose(m[QM9.U0], row.data["energy_U0"][0] * HARTREE_TO_EV, rtol=1e-12)
        np.testing.assert_allclose(m[QM9.gap], row.data["gap"][0] * HARTREE_TO_EV, rtol=1e-12)


def test_qm9_truncated_archive(tmp_path: Path, qm9_server: _Server) -> None:
    raw = tmp_path / "qm9" / "raw"
    raw.mkdir(parents=True)
    full = _qm9_tarball()
    (raw / "dsgdb9nsd.xyz.tar.bz2").write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match=r"dsgdb9nsd\.xyz\.tar\.bz2 is truncated or corrupt"):
        _qm9(tmp_path, qm9_server).prepare()
    assert not (tmp_path / "qm9" / "qm9.h5").exists() and _leftovers(tmp_path) == []


def test_qm9_offline_says_where_to_put_the_file(tmp_path: Path) -> None:
    sentence = r"download https://ndownloader.figshare.com/files/3195389 and place it at .*qm9/raw/dsgdb9nsd"
    with pytest.raises(DownloadError, match=sentence):
        QM9(tmp_path, download=False, source="figshare").prepare()
    with pytest.raises(DownloadError, match="place it at"):  # unreachable server: same sentence
        QM9(tmp_path, source="figshare", urls={"xyz": "http://127.0.0.1:9/x"}, timeout=2).prepare()


# ------------------------------------------------------------------------------------------ downloader
def test_download_resumes_with_range(tmp_path: Path, server: _Server) -> None:
    data = os.urandom(300_000)
    server.files["/big.bin"] = data
    server.cut_once["/big.bin"] = 100_000
    dest = tmp_path / "big.bin"
    sha = file_hash_bytes(data)
    with pytest.raises(DownloadError, match="run again to resume"):
        download(server.url("/big.bin"), dest, sha256=sha, progress=False, timeout=5)
    part = tmp_path / "big.bin.part"
    assert part.exists() and part.stat().st_size == 100_000 and not dest.exists()
    download(server.url("/big.bin"), dest, sha256=sha, progress=False, timeout=5)
    assert dest.read_bytes() == data and not part.exists()
    assert server.requests[-1] == ("/big.bin", "bytes=100000-")
    n = len(server.requests)
    download(server.url("/big.bin"), dest, sha256=sha[:12], progress=False)  # present and valid: no request
    assert len(server.requests) == n and file_hash(dest) == sha


def file_hash_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_download_restarts_when_server_ignores_range(tmp_path: Path, server: _Server) -> None:
    data = os.urandom(50_000)
    server.files["/f"] = data
    server.ranges = False
    (tmp_path / "f.part").write_bytes(b"garbage!")
    download(server.url("/f"), tmp_path / "f", sha256=file_hash_bytes(data), progress=False)
    assert (tmp_path / "f").read_bytes() == data


def test_download_errors(tmp_path: Path, server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    server.files["/ok"] = b"x" * 1000
    mismatch = r"Checksum mismatch for ok \(from http://127.0.0.1:\d+/ok\): sha256 is .* expected 0000"
    with pytest.raises(DownloadError, match=mismatch):
        download(server.url("/ok"), tmp_path / "ok", sha256="0" * 64, progress=False)
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(server.url("/missing"), tmp_path / "missing", progress=False)
    server.delays["/ok"] = 1.5
    with pytest.raises(DownloadError, match="timed out"):
        download(server.url("/ok"), tmp_path / "slow", progress=False, timeout=0.3)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    server.delays.clear()
    dl = importlib.import_module("zoo.datasets.download")  # the package re-exports the function of that name
    monkeypatch.setattr(dl, "part_path", lambda dest: Path("/dev/full"))
    with pytest.raises(DownloadError, match="disk is full"):
        download(server.url("/ok"), tmp_path / "full", progress=False)


# ------------------------------------------------------------------------------------------ MD17 / rMD17
def _md17_arrays() -> dict[str, np.ndarray]:
    rows = list(ase.db.connect(str(SAMPLES / "md17_ethanol_20.db")).select())
    assert all((r.numbers == rows[0].numbers).all() for r in rows)
    return {
        "z": rows[0].numbers.astype(np.int64),
        "R": np.stack([r.positions for r in rows]),
        "E": np.array([r.data["energy"] for r in rows]),  # (20, 1) kcal/mol like MD17
        "F": np.stack([r.data["forces"] for r in rows]),
    }


def _npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_md17_npz(tmp_path: Path, server: _Server) -> None:
    a = _md17_arrays()
    server.files["/md17_ethanol.npz"] = _npz(**a, name=np.array("ethanol"), theory=np.array("PBE+TS"))
    md = MD17(tmp_path, "ethanol", urls={"ethanol": server.url("/md17_ethanol.npz")}, progress=False)
    ds = md.dataset
    assert (
        len(ds) == 20 and ds.units == {"energy": "eV", "forces": "eV/Ang"} and ds.attrs["theory"] == "PBE+TS"
    )
    np.testing.assert_allclose(float(ds[7]["energy"]), a["E"][7, 0] * KCAL_MOL_TO_EV)
    np.testing.assert_allclose(ds[7]["forces"].numpy(), a["F"][7] * KCAL_MOL_TO_EV)
    with pytest.raises(DataError, match="no molecule 'water'"):
        MD17(tmp_path, "water")


def test_md17_npz_missing_key(tmp_path: Path, server: _Server) -> None:
    a = _md17_arrays()
    del a["F"]
    server.files["/md17_ethanol.npz"] = _npz(**a)
    md = MD17(tmp_path, "ethanol", urls={"ethanol": server.url("/md17_ethanol.npz")}, progress=False)
    with pytest.raises(DataError, match=r"md17_ethanol\.npz has no key 'F'"):
        md.prepare()
    assert not md.processed_path.exists() and _leftovers(tmp_path) == []


def test_rmd17_archive_and_splits(tmp_path: Path, server: _Server) -> None:
    a = _md17_arrays()
    npz = _npz(nuclear_charges=a["z"], coords=a["R"], energies=a["E"][:, 0], forces=a["F"],
               old_indices=np.arange(20), old_energies=a["E"][:, 0], old_forces=a["F"])  # fmt: skip
    members = {"rmd17/npz_data/rmd17_ethanol.npz": npz}
    for k in range(1, 6):
        members[f"rmd17/splits/index_train_0{k}.csv"] = "\n".join(str(i) for i in range(k, 15)).encode()
        members[f"rmd17/splits/index_test_0{k}.csv"] = "\n".join(str(i) for i in range(15, 20)).encode()
    server.files["/rmd17.tar.bz2"] = _tar(members, "w:bz2")
    md = MD17(tmp_path, "ethanol", revised=True, urls={"rmd17": server.url("/rmd17.tar.bz2")}, progress=False)
    md.remote["rmd17"] = RemoteFile(
        "rmd17.tar.bz2", server.url("/rmd17.tar.bz2")
    )  # the fixture is not pinned
    ds = md.dataset
    assert len(ds) == 20
    np.testing.assert_allclose(float(ds[3]["energy"]), a["E"][3, 0] * KCAL_MOL_TO_EV)
    train, test = md.splits(2)
    assert train.tolist() == list(range(2, 15)) and test.tolist() == list(range(15, 20))


def test_pinned_checksum_refuses_other_file(tmp_path: Path, server: _Server) -> None:
    server.files["/rmd17.tar.bz2"] = _tar({"x": b"not the real rMD17"}, "w:bz2")
    md = MD17(tmp_path, "ethanol", revised=True, urls={"rmd17": server.url("/rmd17.tar.bz2")}, progress=False)
    mismatch = r"Checksum mismatch for rmd17\.tar\.bz2 \(from .*\).*expected cddeea2ec2c4"
    with pytest.raises(DownloadError, match=mismatch):
        md.prepare()
    assert list((tmp_path / "rmd17" / "raw").iterdir()) == []


# ------------------------------------------------------------------------------------------ ISO17
def test_iso17_archive(tmp_path: Path, server: _Server) -> None:
    db = (SAMPLES / "iso17_40.db").read_bytes()
    server.files["/iso17.tar.gz"] = _tar({"iso17/reference.db": db, "iso17/test_other.db": db}, "w:gz")
    iso = ISO17(tmp_path, fold="test_other", urls={"archive": server.url("/iso17.tar.gz")}, progress=False)
    ds = iso.dataset
    row = ase.db.connect(str(SAMPLES / "iso17_40.db")).get(5)
    assert len(ds) == 40 and ds.units == {"energy": "eV", "forces": "eV/Ang"}
    assert float(ds[4]["energy"]) == row.key_value_pairs["total_energy"]
    np.testing.assert_array_equal(ds[4]["forces"].numpy(), np.asarray(row.data["atomic_forces"]))
    with pytest.raises(DataError, match=r"iso17\.tar\.gz does not contain iso17/test_within\.db"):
        ISO17(tmp_path, fold="test_within", progress=False).prepare()


# ------------------------------------------------------------------------------------------ ANI-1 / ANI-1x
def _ani1_h5(path: Path, bad: bool = False) -> list:
    rows = list(ase.db.connect(str(SAMPLES / "ani1_20.db")).select())
    with h5py.File(path, "w") as f:
        g = f.create_group("gdb11_s01").create_group("gdb11_s01-0")
        g["species"] = np.array([s.encode() for s in rows[0].symbols])
        g["coordinates"] = np.stack([r.positions for r in rows]).astype(np.float32)
        g["energies"] = np.array([float(r.data["energy"][0]) for r in rows]) / HARTREE_TO_EV
        g["smiles"] = np.array([b"C"])
        if bad:
            g2 = f["gdb11_s01"].create_group("gdb11_s01-1")
            g2["species"] = g["species"][()]
            g2["coordinates"] = g["coordinates"][()]
            g2["energies"] = g["energies"][:-3]
    return rows


def test_ani1_h5_layout(tmp_path: Path, server: _Server) -> None:
    rows = _ani1_h5(tmp_path / "ani_gdb_s01.h5")
    server.files["/ani1.tar.gz"] = _tar(
        {"ANI-1_release/ani_gdb_s01.h5": (tmp_path / "ani_gdb_s01.h5").read_bytes()}, "w:gz"
    )
    ani = ANI1(tmp_path / "root", heavy_atoms=[1], urls={"ani1": server.url("/ani1.tar.gz")}, progress=False)
    ds = ani.dataset
    assert len(ds) == 20 and ds.units == {"energy": "eV"} and ds.elements == [1, 6]
    np.testing.assert_allclose(float(ds[3]["energy"]), float(rows[3].data["energy"][0]), rtol=1e-12)
    np.testing.assert_allclose(ds[3]["R"].numpy(), rows[3].positions, atol=1e-6)


def test_ani1_mismatched_group(tmp_path: Path, server: _Server) -> None:
    _ani1_h5(tmp_path / "ani_gdb_s01.h5", bad=True)
    server.files["/ani1.tar.gz"] = _tar(
        {"ANI-1_release/ani_gdb_s01.h5": (tmp_path / "ani_gdb_s01.h5").read_bytes()}, "w:gz"
    )
    ani = ANI1(tmp_path / "root", heavy_atoms=[1], urls={"ani1": server.url("/ani1.tar.gz")}, progress=False)
    with pytest.raises(DataError, match=r"ani_gdb_s01\.h5:/gdb11_s01/gdb11_s01-1 has mismatched shapes"):
        ani.prepare()
    assert not ani.processed_path.exists() and _leftovers(tmp_path / "root") == []


def test_ani1x_layout(tmp_path: Path, server: _Server) -> None:
    a = _md17_arrays()
    path = tmp_path / "ani1x-release.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("C2H6O")
        g["atomic_numbers"] = a["z"].astype(np.uint8)
        g["coordinates"] = a["R"]
        energy = a["E"][:, 0] * KCAL_MOL_TO_EV / HARTREE_TO_EV
        energy[5] = np.nan  # conformers without a DFT energy are skipped
        g["wb97x_dz.energy"] = energy
        g["wb97x_dz.forces"] = a["F"] * KCAL_MOL_TO_EV / HARTREE_TO_EV
    server.files["/ani1x.h5"] = path.read_bytes()
    ani = ANI1(tmp_path / "root", variant="ani1x", urls={"ani1x": server.url("/ani1x.h5")}, progress=False)
    ani.remote["ani1x"] = RemoteFile("ani1x-release.h5", server.url("/ani1x.h5"))  # the fixture is not pinned
    ds = ani.dataset
    assert len(ds) == 19 and ds.units == {"energy": "eV", "forces": "eV/Ang"}
    np.testing.assert_allclose(float(ds[5]["energy"]), a["E"][6, 0] * KCAL_MOL_TO_EV, rtol=1e-12)
    np.testing.assert_allclose(ds[5]["forces"].numpy(), a["F"][6] * KCAL_MOL_TO_EV, rtol=1e-12)


# ------------------------------------------------------------------------------------------ Materials Project
def _pymatgen_dict(atoms) -> dict:
    return {
        "@module": "pymatgen.core.structure", "@class": "Structure", "charge": 0,
        "lattice": {"matrix": np.asarray(atoms.cell).tolist(), "pbc": [True, True, True]},
        "sites": [{"species": [{"element": s, "occu": 1}], "xyz": p.tolist(), "abc": f.tolist(), "label": s}
                  for s, p, f in zip(atoms.get_chemical_symbols(), atoms.positions,
                                     atoms.get_scaled_positions(wrap=False), strict=True)],
    }  # fmt: skip


def test_materials_project_paged_and_cached(tmp_path: Path, server: _Server) -> None:
    row = ase.db.connect(str(SAMPLES / "si16_pbc.db")).get(1)
    si = row.toatoms()
    docs = []
    # real periodic structures; formation_energy_per_atom is a stand-in taken from each source's energy/atom
    for k in range(5):
        atoms = si.copy()
        atoms.positions += 0.01 * k
        docs.append({"material_id": f"mp-{k}", "formation_energy_per_atom": float(row.data["energy"][0]) / 16,
                     "structure": _pymatgen_dict(atoms)})  # fmt: skip
    docs.insert(
        2, {"material_id": "mp-x", "formation_energy_per_atom": None, "structure": docs[0]["structure"]}
    )
    server.mp_docs = docs
    api = server.url("/materials/summary/")
    with pytest.raises(DownloadError, match="refused the API key"):
        MaterialsProject(tmp_path, api_key="wrong", api_url=api, page_size=2, progress=False).prepare()
    mp = MaterialsProject(tmp_path, api_key="test-key", api_url=api, page_size=2, progress=False)
    ds = mp.dataset
    assert len(ds) == 5 and ds.units == {"formation_energy_per_atom": "eV/atom"}
    assert mp.material_ids == [f"mp-{k}" for k in range(5)]
    s = ds[3]
    assert s["pbc"].all() and s["R"].shape == (16, 3)
    np.testing.assert_allclose(s["cell"].numpy(), np.asarray(si.cell))
    np.testing.assert_allclose(s["R"].numpy(), si.positions + 0.03)
    assert (
        len([r for r in server.requests if r[0] == "/materials/summary/"]) == 1 + 3
    )  # refused + 3 pages of 2
    offline = MaterialsProject(tmp_path, api_key=None, api_url=api, page_size=2, download=False)
    assert len(offline.dataset) == 5  # converted file reused, no key needed
    with pytest.raises(DownloadError, match="set MP_API_KEY"):
        MaterialsProject(tmp_path / "empty", api_key=None, api_url=api).prepare()


# ------------------------------------------------------------------------------------------ CLI
def test_cli_prepare_md17(tmp_path: Path, server: _Server, capsys: pytest.CaptureFixture[str]) -> None:
    from zoo.cli import main

    server.files["/md17_ethanol.npz"] = _npz(**_md17_arrays())
    rc = main(["data", "prepare", "md17", "--root", str(tmp_path), "--molecule", "ethanol",
               "--url", f"ethanol={server.url('/md17_ethanol.npz')}"])  # fmt: skip
    assert rc == 0 and "20 structures" in capsys.readouterr().out
    assert AtomsDataset(tmp_path / "md17" / "md17_ethanol.h5").units["energy"] == "eV"
    assert main(["data", "prepare", "iso17", "--root", str(tmp_path), "--no-download"]) == 2
    assert "place it at" in capsys.readouterr().err
