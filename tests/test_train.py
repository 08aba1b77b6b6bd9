"""Trainer: learning on real data, exact resume, DDP with 2 gloo processes, the CLI contract, bad input."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.cli import main
from zoo.data.io import import_file
from zoo.errors import ZooError
from zoo.train.checkpoint import load_model, read_checkpoint
from zoo.train.config import TrainConfig
from zoo.train.step import predict
from zoo.train.trainer import Trainer

SMALL = {"n_atom_basis": 16, "n_interactions": 2, "n_rbf": 10, "progress": False}


@pytest.fixture(scope="module")
def malonaldehyde_h5(shared_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "malonaldehyde.h5"
    import_file("md17", shared_data / "md" / "xtb_malonaldehyde.npz", out)
    return out


def _log(path: Path) -> list[dict[str, str]]:
    with (path / "log.csv").open() as fh:
        return list(csv.DictReader(fh))


def _cfg(data: Path, out: Path, **kw) -> TrainConfig:
    base = {"data": str(data), "output": str(out), "n_train": 200, "n_val": 50, "batch_size": 25, **SMALL}
    base.update(kw)
    return TrainConfig.from_dict(base)


def test_training_lowers_validation_error(malonaldehyde_h5, tmp_path):
    cfg = _cfg(
        malonaldehyde_h5,
        tmp_path / "run",
        epochs=5,
        lr=1e-3,
        batch_size=10,
        n_atom_basis=32,
        n_interactions=3,
        n_rbf=20,
    )
    Trainer(cfg).fit()
    log = _log(tmp_path / "run")
    assert len(log) == 5
    first, last = float(log[0]["val_forces_mae"]), min(float(r["val_forces_mae"]) for r in log)
    assert last < 0.8 * first
    for name in ("best.ckpt", "last.ckpt", "split.npz", "log.csv"):
        assert (tmp_path / "run" / name).is_file()
    assert any((tmp_path / "run" / "tensorboard").iterdir())
    model, ckpt = load_model(tmp_path / "run" / "best.ckpt")
    assert ckpt["provenance"]["n_train"] == 200 and len(ckpt["provenance"]["split_sha256"]) == 64


@pytest.mark.parametrize("kind", ["schnet", "wacsf"])
def test_resume_reproduces_uninterrupted_run(malonaldehyde_h5, tmp_path, kind):
    kw = {
        "model": kind,
        "n_train": 60,
        "n_val": 20,
        "batch_size": 20,
        "n_radial": 4,
        "n_angular": 2,
        "lr": 1e-3,
    }
    Trainer(_cfg(malonaldehyde_h5, tmp_path / "full", epochs=4, **kw)).fit()
    Trainer(_cfg(malonaldehyde_h5, tmp_path / "part", epochs=2, **kw)).fit()
    Trainer(_cfg(malonaldehyde_h5, tmp_path / "part", epochs=4, resume=True, **kw)).fit()
    full = read_checkpoint(tmp_path / "full" / "last.ckpt")["state_dict"]
    part = read_checkpoint(tmp_path / "part" / "last.ckpt")["state_dict"]
    for key in full:
        torch.testing.assert_close(part[key], full[key], rtol=0, atol=0)
    a = [r["val_loss"] for r in _log(tmp_path / "full")]
    b = [r["val_loss"] for r in _log(tmp_path / "part")]
    assert a == b


def test_resumed_log_keeps_time_and_drops_rows_past_the_checkpoint(malonaldehyde_h5, tmp_path):
    kw = {"model": "wacsf", "n_train": 40, "n_val": 20, "batch_size": 20, "n_radial": 4, "n_angular": 2}
    out = tmp_path / "run"
    Trainer(_cfg(malonaldehyde_h5, out, epochs=2, **kw)).fit()
    t2 = float(_log(out)[-1]["time"])
    with (out / "log.csv").open("a") as fh:  # a row logged just before a crash lost its checkpoint
        fh.write("3,999999.00,1e-3,1,1" + ",1" * 4 + "\n")
    Trainer(_cfg(malonaldehyde_h5, out, epochs=4, resume=True, **kw)).fit()
    log = _log(out)
    assert [int(r["epoch"]) for r in log] == [1, 2, 3, 4]
    times = [float(r["time"]) for r in log]
    assert times[2] > t2 and times == sorted(times) and times[-1] < 999999
    elapsed = read_checkpoint(out / "last.ckpt")["trainer_state"]["elapsed"]
    assert elapsed == pytest.approx(times[-1], abs=0.01)


def test_ddp_two_gloo_processes(malonaldehyde_h5, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "zoo.cli",
        "train",
        "--data",
        str(malonaldehyde_h5),
        "--n-train",
        "80",
        "--n-val",
        "20",
        "--epochs",
        "2",
        "--batch-size",
        "20",
        "--output",
        str(out),
        "--n-atom-basis",
        "16",
        "--n-interactions",
        "2",
        "--no-progress",
        "--device",
        "cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert len(_log(out)) == 2
    assert res.stdout.count("trained 2 epochs") == 1  # only rank 0 reports
    model, _ = load_model(out / "best.ckpt")
    assert model.cutoff == 5.0


def test_cli_train_and_eval(malonaldehyde_h5, tmp_path, capsys):
    out = tmp_path / "cli"
    cfg = tmp_path / "train.yaml"
    cfg.write_text(
        f"data: {malonaldehyde_h5}\nmodel: acsf\nproperties: energy,forces\nn_train: 40\nn_val: 10\n"
        f"epochs: 1\nbatch_size: 20\noutput: {out}\nn_radial: 4\nn_angular: 2\nprogress: false\n"
    )
    assert main(["train", "--config", str(cfg)]) == 0
    assert main(["eval", str(out / "best.ckpt"), "--data", str(malonaldehyde_h5), "--split", "test"]) == 0
    text = capsys.readouterr().out
    assert "kcal/mol/Å" in text and "energy" in text and "forces" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--properties", "energy,dipole"], "has no property 'dipole'"),
        (["--n-train", "20000", "--n-val", "6000"], "exceeds the dataset"),
        (["--cutoff", "-1"], "cutoff must be positive"),
        (["--model", "painn"], "unknown model"),
        (["--threads", "-1"], "threads must be >= 0"),
    ],
)
def test_cli_bad_input_is_one_clear_error(malonaldehyde_h5, tmp_path, capsys, args, message):
    out = tmp_path / "bad"
    code = main(["train", "--data", str(malonaldehyde_h5), "--output", str(out), "--epochs", "1", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1
    assert not (out / "last.ckpt").exists()


def test_nan_coordinates_in_data_are_refused(tmp_path):
    from zoo.data.dataset import AtomsDataset
    from zoo.errors import DataError

    r = np.zeros((2, 3))
    r[1, 0] = np.nan
    with pytest.raises(DataError):
        AtomsDataset.create(
            tmp_path / "nan.h5", [{"Z": np.array([1, 1]), "R": r, "energy": 1.0}], {"energy": "eV"}
        )
    assert not (tmp_path / "nan.h5").exists()


def test_atom_references_fitted_when_compositions_differ(shared_data, malonaldehyde_h5, tmp_path):
    """QM9 U0 (total energies, -1e4 eV) starts near its target only with fitted per-element references."""
    qm9 = import_file(
        "asedb", shared_data / "samples" / "qm9_500_u0.db", tmp_path / "q.h5", units={"energy_U0": "eV"}
    )
    errors = {}
    for mode in ("auto", "none"):
        cfg = _cfg(qm9.path, tmp_path / mode, properties=["energy_U0"], n_train=300, atomrefs=mode)
        trainer = Trainer(cfg)
        model = trainer.build()
        atomref = model.heads["energy_U0"].atomref[:, 0].double()
        assert (atomref[[1, 6, 7, 8]].abs() > 10).all() if mode == "auto" else (atomref == 0).all()
        batch = next(iter(trainer_loader(trainer)))
        pred = predict(model, batch, ["energy_U0"], create_graph=False)["energy_U0"].detach()
        errors[mode] = float((pred.double() - batch["energy_U0"].double()).abs().mean())
    assert errors["auto"] < 2.0 < 50.0 < errors["none"], errors  # eV per molecule, untrained network
    # one composition (an MD trajectory): nothing to fit, the per-atom mean carries the offset
    model = Trainer(_cfg(malonaldehyde_h5, tmp_path / "md")).build()
    assert (model.heads["energy"].atomref == 0).all()


def trainer_loader(trainer: Trainer):
    from zoo.data.loader import make_loader

    return make_loader(trainer.dataset, trainer.split.train, 100, shuffle=False)


def test_dipole_magnitude_data_train_the_norm(shared_data, tmp_path, capsys):
    """QM9 gives |mu| per molecule: the dipole head then predicts |mu| of its vector (SchNetPack's
    predict_magnitude), trains, evaluates and reloads from the checkpoint."""
    qm9 = import_file("asedb", shared_data / "samples" / "qm9_20_allprops.db", tmp_path / "q.h5")
    cfg = _cfg(qm9.path, tmp_path / "run", properties=["dipole_moment"], n_train=14, n_val=4, epochs=2)
    trainer = Trainer(cfg)
    trainer.fit()
    model, ckpt = load_model(tmp_path / "run" / "best.ckpt")
    assert ckpt["config"]["head"]["dipole_magnitude"] is True
    batch = next(iter(trainer_loader(trainer)))
    mu = predict(model, batch, ["dipole_moment"], create_graph=False)["dipole_moment"]
    assert mu.shape == batch["dipole_moment"].shape and bool((mu >= 0).all())
    assert main(["eval", str(tmp_path / "run" / "best.ckpt"), "--data", str(qm9.path), "--json"]) == 0
    assert "dipole_moment" in capsys.readouterr().out
    # an artifact serves energies and forces: a dipole-only model is refused with one clear message
    assert main(["export", str(tmp_path / "run" / "best.ckpt"), "-o", str(tmp_path / "m.pt")]) != 0
    assert "needs a scalar energy property" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()


def test_compiled_training_matches_eager(shared_data, tmp_path):
    """--compile (torch.compile) trains energy-only models to the same weights as eager, up to rounding;
    with forces it is refused before anything is written."""
    qm9 = import_file(
        "asedb", shared_data / "samples" / "qm9_500_u0.db", tmp_path / "q.h5", units={"energy_U0": "eV"}
    )
    logs = {}
    for compiled in (False, True):
        out = tmp_path / f"run{int(compiled)}"
        cfg = _cfg(qm9.path, out, properties=["energy_U0"], n_train=100, n_val=20, epochs=2, compile=compiled)
        Trainer(cfg).fit()
        logs[compiled] = [float(r["val_energy_U0_mae"]) for r in _log(out)]
    np.testing.assert_allclose(logs[True], logs[False], rtol=1e-3)
    with pytest.raises(ZooError, match="--compile cannot train on forces"):
        _cfg(qm9.path, tmp_path / "f", properties=["energy", "forces"], compile=True)
    assert not (tmp_path / "f").exists()
