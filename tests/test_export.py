"""zoo export: checkpoint -> artifact, metadata + schema, weights_sha256 rule, refusal of bad artifacts."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch
from conftest import REPO

from zoo.cli import main
from zoo.errors import ArtifactError
from zoo.export import export_model, load_artifact, read_metadata, torchscript_weights_sha256
from zoo.model import build_model, default_config
from zoo.neighbors import neighbor_list

SCHEMA = json.loads((REPO / "export" / "metadata.schema.json").read_text())
GOLDEN = REPO / "export" / "golden"


pytestmark = pytest.mark.usefixtures("one_thread")


def _config(kind: str = "schnet") -> dict:
    cfg = default_config(kind, [1, 6, 8], ["energy", "forces"], cutoff=3.5)
    if kind == "schnet":
        cfg["representation"].update(n_atom_basis=16, n_interactions=2, n_rbf=8)
    else:
        cfg["representation"].update(n_radial=4, n_angular=2)
        cfg["head"]["n_hidden"] = [8]
    return cfg


def _checkpoint(path: Path, kind: str = "schnet") -> tuple[torch.nn.Module, dict]:
    cfg = _config(kind)
    torch.manual_seed(3)
    model = build_model(cfg)
    ckpt = {
        "format": "zoo-checkpoint",
        "version": 1,
        "config": cfg,
        "state_dict": model.state_dict(),
        "provenance": {
            "dataset": "malonaldehyde",
            "n_train": 800,
            "n_val": 100,
            "n_test": 100,
            "split_sha256": "0" * 64,
            "properties": ["energy", "forces"],
            "units": {"energy": "eV", "forces": "eV/Angstrom"},
        },
        "test_errors": {"energy": {"mae": 0.01, "rmse": 0.02, "unit": "eV"}},
        "epoch": 7,
    }
    torch.save(ckpt, path)
    return model.eval(), ckpt


def _structure(n: int = 9, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(n, 3, generator=g, dtype=torch.float64) * 1.3
    num = torch.tensor([[1, 6, 8][k % 3] for k in range(n)])
    ei, sh = neighbor_list(pos, 3.5)
    return pos, num, ei, sh


def _validate(meta: dict) -> None:
    jsonschema.validate(meta, SCHEMA, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cli_export_matches_eager_model(tmp_path: Path, dtype: str, capsys) -> None:
    model, ckpt = _checkpoint(tmp_path / "best.ckpt")
    out = tmp_path / "model.pt"
    assert main(["export", str(tmp_path / "best.ckpt"), "-o", str(out), "--dtype", dtype]) == 0
    assert "wrote" in capsys.readouterr().out
    art = load_artifact(out)
    meta = art.metadata
    _validate(meta)
    assert meta["format_version"] == "1.0" and meta["dtype"] == dtype and meta["encoding"] == "torchscript"
    assert meta["model_kind"] == "schnet" and meta["species"] == [1, 6, 8]
    assert meta["interactions"] == 2 and meta["receptive_field"] == pytest.approx(7.0)
    assert meta["provenance"]["n_train"] == 800 and meta["test_errors"]["energy"]["mae"] == 0.01
    assert meta["training"] == {"epoch": 7}
    assert (
        meta["source"]["checkpoint_sha256"]
        == hashlib.sha256((tmp_path / "best.ckpt").read_bytes()).hexdigest()
    )
    assert meta["units"]["energy"] == "eV" and meta["units"]["length"] == "Angstrom"
    assert not list(tmp_path.glob(".*.tmp")), "temporary file left behind"

    pos, num, ei, sh = _structure()
    got = art.compute(pos.numpy(), num.numpy(), ei.numpy(), sh.numpy())
    n = len(num)
    ref = model.double()(
        num, pos, ei, sh, torch.zeros(n, dtype=torch.long), 1, torch.ones(n, dtype=torch.float64), True, True
    )
    rtol = 1e-5 if dtype == "float32" else 1e-10
    for key in ("energy", "forces", "virial"):
        want = ref[key].detach().numpy().reshape(got[key].shape)
        np.testing.assert_allclose(got[key], want, rtol=rtol, atol=rtol * np.abs(want).max())


def test_weights_sha256_rule_is_reproducible_and_independent(tmp_path: Path) -> None:
    cfg = _config()
    torch.manual_seed(0)
    model = build_model(cfg)
    a = export_model(model, cfg, tmp_path / "a.pt")
    b = export_model(model, cfg, tmp_path / "b.pt")
    assert a["weights_sha256"] == b["weights_sha256"] == torchscript_weights_sha256(tmp_path / "a.pt")
    # the rule of SPEC.md, re-implemented with zipfile only (what the C++ reader does)
    h = hashlib.sha256()
    with zipfile.ZipFile(tmp_path / "a.pt") as z:
        records = {name.split("/", 1)[1]: name for name in z.namelist()}
        names = sorted((r for r in records if re.fullmatch(r"(data|constants)/[0-9]+", r)), key=str.encode)
        assert names, "no tensor records found"
        for r in names:
            h.update(r.encode())
            h.update(z.read(records[r]))
    assert h.hexdigest() == a["weights_sha256"]
    # different weights give a different digest
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    c = export_model(model, cfg, tmp_path / "c.pt")
    assert c["weights_sha256"] != a["weights_sha256"]


def _rewrite_zip(src: Path, dst: Path, edit) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = edit(info.filename, zin.read(info.filename))
            zout.writestr(info, data)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("art") / "model.pt"
    cfg = _config()
    torch.manual_seed(1)
    export_model(build_model(cfg), cfg, path)
    return path


def test_tampered_weights_are_refused(artifact: Path, tmp_path: Path) -> None:
    bad = tmp_path / "tampered.pt"

    def edit(name: str, data: bytes) -> bytes:
        if re.search(r"/constants/2$", name):
            arr = bytearray(data)
            arr[0] ^= 0x01
            return bytes(arr)
        return data

    _rewrite_zip(artifact, bad, edit)
    with pytest.raises(ArtifactError, match="corrupt or was modified after export"):
        load_artifact(bad)


def test_newer_major_version_is_refused(artifact: Path, tmp_path: Path) -> None:
    newer = tmp_path / "newer.pt"

    def edit(name: str, data: bytes) -> bytes:
        if name.endswith("extra/metadata.json"):
            meta = json.loads(data)
            meta.update(format_version="2.0", zoo_version="9.1.0")
            return json.dumps(meta).encode()
        return data

    _rewrite_zip(artifact, newer, edit)
    with pytest.raises(ArtifactError, match=r"format version 2\.0.*install zoo 9\.1\.0 or newer") as exc:
        load_artifact(newer)
    assert "\n" not in str(exc.value)
    # a newer MINOR version is fine
    minor = tmp_path / "minor.pt"

    def edit_minor(name: str, data: bytes) -> bytes:
        if name.endswith("extra/metadata.json"):
            meta = json.loads(data)
            meta.update(format_version="1.7", some_future_field=[1, 2])
            return json.dumps(meta).encode()
        return data

    _rewrite_zip(artifact, minor, edit_minor)
    assert load_artifact(minor).metadata["format_version"] == "1.7"


def test_corrupt_missing_and_metadata_free_files(artifact: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist"):
        load_artifact(tmp_path / "nope.pt")
    trunc = tmp_path / "truncated.pt"
    trunc.write_bytes(artifact.read_bytes()[:2000])
    with pytest.raises(ArtifactError, match="corrupt"):
        load_artifact(trunc)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a model\n" * 10)
    with pytest.raises(ArtifactError, match="corrupt"):
        load_artifact(junk)
    plain = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.load(str(artifact)), str(plain))
    with pytest.raises(ArtifactError, match="no zoo metadata"):
        load_artifact(plain)
    # the CLI turns errors into one line and exit status 2
    assert main(["export", str(tmp_path / "missing.ckpt"), "-o", str(tmp_path / "x.pt")]) == 2


def test_golden_metadata_validates_against_schema() -> None:
    files = sorted(GOLDEN.glob("*.pt")) + sorted(GOLDEN.glob("*.onnx"))
    assert len(files) >= 19
    for f in files:
        meta = read_metadata(f)
        _validate(meta)
        assert meta["created"] == "2026-01-01T00:00:00Z"
    with pytest.raises(jsonschema.ValidationError):
        _validate({**read_metadata(files[0]), "dtype": "float16"})


def test_onnx_export_with_dipole_matches_torchscript(tmp_path: Path) -> None:
    """`zoo export --format onnx` on an ACSF model with a dipole head; checksum refusal for ONNX too."""
    import onnx
    from ase import Atoms

    from zoo.ase import ZooCalculator

    cfg = default_config("acsf", [1, 6, 8], ["energy", "forces", "dipole"], cutoff=3.5)
    cfg["representation"].update(n_radial=3, n_angular=2, zetas=[1, 2])
    cfg["head"]["n_hidden"] = [6]
    torch.manual_seed(5)
    model = build_model(cfg)
    torch.save(
        {"format": "zoo-checkpoint", "version": 1, "config": cfg, "state_dict": model.state_dict()},
        tmp_path / "best.ckpt",
    )
    assert main(["export", str(tmp_path / "best.ckpt"), "-o", str(tmp_path / "m.onnx")]) == 0
    assert main(["export", str(tmp_path / "best.ckpt"), "-o", str(tmp_path / "m.pt")]) == 0
    ox, ts = load_artifact(tmp_path / "m.onnx"), load_artifact(tmp_path / "m.pt")
    assert ox.encoding == "onnx" and ox.outputs == ts.outputs == [
        "energy",
        "atom_energies",
        "forces",
        "virial",
        "atom_virial",
        "dipole",
    ]
    _validate(ox.metadata)
    pos, num, ei, sh = _structure(n=10, seed=4)
    a = ox.compute(pos.numpy(), num.numpy(), ei.numpy(), sh.numpy(), 8)  # two ghosts
    b = ts.compute(pos.numpy(), num.numpy(), ei.numpy(), sh.numpy(), 8)
    for key in ts.outputs:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-5 * max(1.0, np.abs(b[key]).max()))
    atoms = Atoms(numbers=num.numpy(), positions=pos.numpy())
    atoms.calc = ZooCalculator(tmp_path / "m.onnx")
    assert atoms.get_dipole_moment().shape == (3,)
    # tampering with an initializer is detected
    proto = onnx.load(str(tmp_path / "m.onnx"))
    init = max(proto.graph.initializer, key=lambda t: len(t.raw_data))
    raw = bytearray(init.raw_data)
    raw[0] ^= 0x10
    init.raw_data = bytes(raw)
    onnx.save(proto, str(tmp_path / "bad.onnx"))
    with pytest.raises(ArtifactError, match="modified after export"):
        load_artifact(tmp_path / "bad.onnx")


def test_cli_export_filter_table(tmp_path: Path, capsys) -> None:
    """`zoo export --filter-table N`: format 1.1 metadata that validates against the schema, the table's
    error printed, and the artifact reproduces the eager model to the table's accuracy."""
    model, _ = _checkpoint(tmp_path / "best.ckpt")
    out = tmp_path / "table.pt"
    args = [
        "export",
        str(tmp_path / "best.ckpt"),
        "-o",
        str(out),
        "--dtype",
        "float64",
        "--filter-table",
        "256",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "filter table: 256 intervals" in printed and "(slopes)" in printed
    art = load_artifact(out)
    _validate(art.metadata)
    assert art.metadata["format_version"] == "1.1" and art.metadata["operators"] == ["zoo::cfconv_tab"]
    pos, num, ei, sh = _structure()
    got = art.compute(pos.numpy(), num.numpy(), ei.numpy(), sh.numpy())
    n = len(num)
    ref = model.double()(
        num, pos, ei, sh, torch.zeros(n, dtype=torch.long), 1, torch.ones(n, dtype=torch.float64), True, True
    )
    assert float(got["energy"]) == pytest.approx(float(ref["energy"].detach().sum()), rel=1e-7)
    want = ref["forces"].detach().numpy()
    np.testing.assert_allclose(got["forces"], want, atol=1e-5 * np.abs(want).max())
    assert (
        main(["export", str(tmp_path / "best.ckpt"), "-o", str(tmp_path / "t.onnx"), "--filter-table", "8"])
        == 2
    )
    assert "ONNX Runtime does not have" in capsys.readouterr().err
