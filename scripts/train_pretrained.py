#!/usr/bin/env python
"""Retrain the pretrained models shipped in ``zoo/pretrained/`` and rewrite their registry entries.

Every step is an ordinary ``zoo`` command (printed before it runs), so anyone can retrain a model by hand:

    zoo data import --format md17 /work/shared/data/md/xtb_malonaldehyde.npz -o WORK/xtb_malonaldehyde.h5
    zoo train --data WORK/xtb_malonaldehyde.h5 --model schnet ... --max-time 480 --output WORK/NAME
    zoo eval WORK/NAME/tested.ckpt --data WORK/xtb_malonaldehyde.h5 --split test --json
    zoo export WORK/NAME/tested.ckpt -o zoo/pretrained/NAME.pt

(``tested.ckpt`` is ``best.ckpt`` (+ the QM9 atom references for QM9), with the test errors added after
``zoo eval``, so that the artifact's metadata carries them.)

Usage:

    python scripts/train_pretrained.py                      # all models, 480 s of training each
    python scripts/train_pretrained.py --models schnet-qm9-u0
    python scripts/train_pretrained.py --models schnet-malonaldehyde-xtb --max-time 60 --work /tmp/w
    python scripts/train_pretrained.py --skip-train         # re-evaluate/re-export existing runs

Training runs with one torch thread (OMP_NUM_THREADS=1). The command, its wall time, the hardware, the
split and the test errors go into ``zoo/pretrained/registry.json`` (docs/pretrained.md quotes them).
QM9 (``schnet-qm9-u0``) is built offline from the PyPI package qm9pack (``zoo data prepare qm9 --source
qm9pack``); the model is trained on U0 minus the QM9 atom references and the references are then written
into the energy head, so the shipped model predicts the total U0 (evaluated against the original file).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "zoo" / "pretrained"
REGISTRY = PRETRAINED / "registry.json"
SHARED = Path(os.environ.get("ZOO_SHARED_DATA", "/work/shared/data"))
MALONALDEHYDE_NPZ = SHARED / "md" / "xtb_malonaldehyde.npz"

# training settings common to the malonaldehyde models (paper Table I: 1,000 training configurations)
MD_COMMON = [
    "--properties", "energy,forces", "--n-train", "1000", "--n-val", "1000", "--epochs", "100000",
    "--batch-size", "32", "--lr", "1e-3", "--lr-decay", "0.5", "--lr-patience", "5", "--lr-min", "1e-6",
    "--early-stopping", "30", "--rho", "0.01", "--seed", "42", "--device", "cpu", "--no-progress",
]  # fmt: skip
# QM9 U0: 10,000 training molecules, energies only
QM9_COMMON = [
    "--properties", "energy_U0", "--n-train", "10000", "--n-val", "1000", "--epochs", "100000",
    "--batch-size", "32", "--lr", "1e-3", "--lr-decay", "0.5", "--lr-patience", "3", "--lr-min", "1e-6",
    "--early-stopping", "30", "--seed", "42", "--device", "cpu", "--no-progress",
]  # fmt: skip

MODELS: dict[str, dict[str, Any]] = {
    "schnet-malonaldehyde-xtb": {
        "dataset": "malonaldehyde",
        "model": "schnet",
        "args": ["--cutoff", "5.0", "--n-atom-basis", "64", "--n-interactions", "3", "--n-rbf", "20"],
        "common": MD_COMMON,
        "description": "SchNet (F=64, 3 interactions, 5 Å cutoff) fitted to energies and forces of "
        "malonaldehyde at 500 K, GFN2-xTB reference, 1,000 training configurations",
    },
    "acsf-malonaldehyde-xtb": {
        "dataset": "malonaldehyde",
        "model": "acsf",
        "args": ["--cutoff", "5.0", "--n-radial", "22", "--n-angular", "5"],
        "common": MD_COMMON,
        "description": "Behler-Parrinello network on ACSF (22 radial, 5 angular, 5 Å cutoff) "
        "fitted to energies and forces of malonaldehyde at 500 K, GFN2-xTB reference, 1,000 training "
        "configurations",
    },
    "wacsf-malonaldehyde-xtb": {
        "dataset": "malonaldehyde",
        "model": "wacsf",
        "args": ["--cutoff", "5.0", "--n-radial", "22", "--n-angular", "5"],
        "common": MD_COMMON,
        "description": "Behler-Parrinello network on weighted ACSF (22 radial, 5 angular, 5 Å cutoff) "
        "fitted to energies and forces of malonaldehyde at 500 K, GFN2-xTB reference, 1,000 training "
        "configurations",
    },
    "schnet-qm9-u0": {
        "dataset": "qm9",
        "model": "schnet",
        "args": ["--cutoff", "5.0", "--n-atom-basis", "64", "--n-interactions", "3", "--n-rbf", "20"],
        "common": QM9_COMMON,
        "atomref": "energy_U0",  # trained on U0 - sum of atom references; the references go into the head
        "description": "SchNet (F=64, 3 interactions, 5 Å cutoff) fitted to QM9 U0 (B3LYP/6-31G(2df,p)) "
        "of 10,000 training molecules; predicts the total U0 in eV (QM9 atom references built in)",
    },
}

DATASETS: dict[str, dict[str, Any]] = {
    "malonaldehyde": {
        "source": str(MALONALDEHYDE_NPZ),
        "file": "xtb_malonaldehyde.h5",
        "summary": "malonaldehyde C3H4O2, 25,000 configurations of 500 K Langevin MD labelled by GFN2-xTB "
        "(tblite 0.8.0), MD17 layout (/work/shared/data/md/xtb_malonaldehyde.npz)",
    },
    "qm9": {
        "source": "qm9pack (PyPI, offline CSV files of QM9) via `zoo data prepare qm9 --source qm9pack`",
        "file": "qm9_u0_atomization.h5",  # what the model is trained on
        "eval_file": "qm9/qm9/qm9.h5",  # what it is evaluated on (total U0)
        "summary": "QM9 (Ramakrishnan et al. 2014), the 130,831 characterized molecules, U0 at "
        "B3LYP/6-31G(2df,p), from the PyPI package qm9pack through zoo.datasets.QM9",
    },
}

DEFAULT_VERSION = "0.1.0"
DEFAULT_BASE_URL = f"https://github.com/zoo-potentials/zoo/releases/download/v{DEFAULT_VERSION}/"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def rel(path: Path | str) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def run(cmd: list[str], log: Path | None = None) -> tuple[str, float]:
    """Run a zoo command with one torch thread; returns (stdout, wall seconds)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    print("$ " + shlex.join(cmd), flush=True)
    t0 = time.time()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.time() - t0
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {shlex.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"command failed ({proc.returncode}): {shlex.join(cmd)}")
    print(proc.stdout.strip()[-2000:], flush=True)
    return proc.stdout, wall


def hardware() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}, {os.cpu_count()} logical cores (1-min load average {load:.1f} at start), "
        f"1 torch thread, torch {torch.__version__}, Python {platform.python_version()}, {platform.system()}"
    )


def prepare_data(name: str, work: Path) -> tuple[Path, Path]:
    """(training file, evaluation file) of a dataset, made with zoo commands when missing."""
    spec = DATASETS[name]
    out = work / spec["file"]
    if name == "malonaldehyde":
        if not out.exists():
            run(["zoo", "data", "import", "--format", "md17", spec["source"], "-o", rel(out)])
        return out, out
    full = work / spec["eval_file"]
    if not full.exists():
        run(["zoo", "data", "prepare", "qm9", "--root", rel(work / "qm9"), "--source", "qm9pack"])
    if not out.exists():
        make_atomization(full, out, "energy_U0")
    return out, full


def make_atomization(src: Path, out: Path, prop: str) -> None:
    """Copy of ``src`` with only ``prop`` minus the QM9 atom references (same structures, same order)."""
    from zoo.data.dataset import AtomsDataset
    from zoo.data.stats import composition
    from zoo.datasets import QM9

    print(f"# {rel(out)} = {rel(src)} with {prop} - sum of QM9 atom references", flush=True)
    ds = AtomsDataset(src)
    arrays = ds.read_arrays([prop])
    arrays[prop] = arrays[prop] - composition(ds) @ QM9.atomrefs()[prop]
    AtomsDataset.create(
        out, arrays, {prop: ds.units[prop]}, source=f"{src.name} minus QM9 atom references",
        atomref_subtracted=prop,
    )  # fmt: skip
    ds.close()


def train(name: str, work: Path, max_time: float, skip: bool) -> dict[str, Any]:
    spec = MODELS[name]
    data, _ = prepare_data(spec["dataset"], work)
    out = work / name
    cmd = ["zoo", "train", "--data", rel(data), "--model", spec["model"], *spec["args"], *spec["common"]]
    cmd += ["--max-time", f"{max_time:g}", "--output", rel(out)]
    info: dict[str, Any] = {"command": shlex.join(cmd), "hardware": hardware()}
    if skip:
        prev = json.loads((out / "train_info.json").read_text()) if (out / "train_info.json").exists() else {}
        info.update(prev)
    else:
        if (out / "last.ckpt").exists():
            raise SystemExit(f"{out} already holds a run; delete it or pass --skip-train")
        _, wall = run(cmd, out.with_suffix(".train.log"))
        info["wall_time_s"] = round(wall, 1)
        (out / "train_info.json").write_text(json.dumps(info, indent=2))
    info["command"] = info["command"].replace(f"{ROOT}/", "")
    return info


def evaluate_and_export(name: str, work: Path, info: dict[str, Any]) -> dict[str, Any]:
    import torch

    from zoo.datasets import QM9
    from zoo.train.checkpoint import read_checkpoint, save_checkpoint

    spec = MODELS[name]
    _, eval_data = prepare_data(spec["dataset"], work)
    out = work / name
    ckpt = read_checkpoint(out / "best.ckpt")
    ckpt = {k: v for k, v in ckpt.items() if k not in ("format", "version")}
    tested = out / "tested.ckpt"  # best.ckpt (+ atom references) + test errors
    if spec.get("atomref"):
        key = f"heads.{spec['atomref']}.atomref"
        ref = torch.as_tensor(QM9.atomrefs()[spec["atomref"]], dtype=ckpt["state_dict"][key].dtype)
        ckpt["state_dict"][key] = ckpt["state_dict"][key] + ref[:, None]
    save_checkpoint(tested, ckpt)
    eval_cmd = ["zoo", "eval", rel(tested), "--data", rel(eval_data), "--split", "test", "--json"]
    stdout, eval_wall = run(eval_cmd, out.with_suffix(".eval.log"))
    test_errors = json.loads(stdout)
    ckpt["test_errors"] = test_errors
    save_checkpoint(tested, ckpt)
    artifact = PRETRAINED / f"{name}.pt"
    run(["zoo", "export", rel(tested), "-o", rel(artifact), "--dtype", "float32"])
    epochs = len((out / "log.csv").read_text().strip().splitlines()) - 1
    return {
        "test_errors": test_errors,
        "eval_command": shlex.join(eval_cmd[:-1]),
        "eval_wall_s": round(eval_wall, 1),
        "epochs": epochs,
        "best_epoch": int(ckpt.get("epoch", 0)),
        "provenance": ckpt.get("provenance") or {},
    }


def summary_of(artifact: Path) -> dict[str, Any]:
    from zoo.export import read_metadata

    meta = read_metadata(artifact)
    rep = meta["hyperparameters"]["representation"]
    keep = ("n_atom_basis", "n_interactions", "n_rbf", "n_radial", "n_angular", "zetas", "centered")
    return {
        "model_kind": meta["model_kind"],
        "format_version": meta["format_version"],
        "zoo_version": meta["zoo_version"],
        "encoding": meta["encoding"],
        "dtype": meta["dtype"],
        "cutoff": meta["cutoff"],
        "species": meta["species"],
        "species_symbols": meta["species_symbols"],
        "properties": meta["properties"],
        "energy_property": meta["energy_property"],
        "outputs": meta["outputs"],
        "units": {k: meta["units"][k] for k in ("energy", "length", "forces")},
        "hyperparameters": {k: rep[k] for k in keep if k in rep},
        "weights_sha256": meta["weights_sha256"],
    }


def load_registry() -> dict[str, Any]:
    if REGISTRY.exists():
        return json.loads(REGISTRY.read_text())
    return {
        "format": "zoo-pretrained-registry",
        "format_version": 1,
        "base_url": DEFAULT_BASE_URL,
        "models": {},
    }


def write_registry(reg: dict[str, Any]) -> None:
    reg["models"] = dict(sorted(reg["models"].items()))
    tmp = REGISTRY.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(reg, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, REGISTRY)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated names (default: all)")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "pretrained", help="data and run folder")
    p.add_argument("--max-time", type=float, default=480.0, help="training wall-time budget per model (s)")
    p.add_argument("--skip-train", action="store_true", help="evaluate/export existing runs in --work")
    p.add_argument("--version", default=DEFAULT_VERSION, help="release version recorded in the registry")
    args = p.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    args.work.mkdir(parents=True, exist_ok=True)
    PRETRAINED.mkdir(parents=True, exist_ok=True)
    for name in names:
        spec = MODELS[name]
        info = train(name, args.work, args.max_time, args.skip_train)
        result = evaluate_and_export(name, args.work, info)
        artifact = PRETRAINED / f"{name}.pt"
        prov = result["provenance"]
        data_spec = DATASETS[spec["dataset"]]
        entry = {
            "version": args.version,
            "file": artifact.name,
            "url": f"https://github.com/zoo-potentials/zoo/releases/download/v{args.version}/{artifact.name}",
            "sha256": sha256(artifact),
            "size": artifact.stat().st_size,
            "description": spec["description"],
            "summary": summary_of(artifact),
            "training": {
                "data": data_spec["summary"],
                "data_sha256": sha256(Path(data_spec["source"]))
                if Path(data_spec["source"]).is_file()
                else None,
                "n_train": prov.get("n_train"),
                "n_val": prov.get("n_val"),
                "n_test": prov.get("n_test"),
                "split_sha256": prov.get("split_sha256"),
                "epochs": result["epochs"],
                "best_epoch": result["best_epoch"],
                "command": info["command"],
                "wall_time_s": info.get("wall_time_s"),
                "max_time_s": args.max_time,
                "hardware": info["hardware"],
                "script": "scripts/train_pretrained.py",
            },
            "test_errors": {
                prop: {
                    "split": "test",
                    "n": prov.get("n_test"),
                    "mae": r["mae"],
                    "rmse": r["rmse"],
                    "unit": r["unit"],
                    "mae_paper": r["mae_paper"],
                    "rmse_paper": r["rmse_paper"],
                    "paper_unit": r["paper_unit"],
                }
                for prop, r in result["test_errors"].items()
            },
            "eval_command": result["eval_command"],
            "eval_wall_s": result["eval_wall_s"],
        }
        reg = load_registry()
        reg["models"][name] = entry
        write_registry(reg)
        print(f"registered {name}: {entry['size']} bytes, sha256 {entry['sha256'][:12]}…", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
