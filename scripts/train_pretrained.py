#!/usr/bin/env python
"""Retrain the pretrained models shipped in ``zoo/pretrained/`` and rewrite their registry entries.

Every step is an ordinary ``zoo`` command (printed before it runs), so anyone can retrain a model by hand:

    zoo data import --format md17 /work/shared/data/md/xtb_malonaldehyde.npz -o WORK/xtb_malonaldehyde.h5
    zoo train --data WORK/xtb_malonaldehyde.h5 --model schnet ... --max-time 480 --output WORK/NAME
    zoo eval WORK/NAME/best.ckpt --data WORK/xtb_malonaldehyde.h5 --split test --json
    zoo export WORK/NAME/tested.ckpt -o zoo/pretrained/NAME.pt        # tested.ckpt = best.ckpt + test errors

Usage:

    python scripts/train_pretrained.py                      # all models, 480 s of training each
    python scripts/train_pretrained.py --models schnet-malonaldehyde-xtb --max-time 60 --work /tmp/w
    python scripts/train_pretrained.py --skip-train         # re-evaluate/re-export existing runs

Training runs with one torch thread (OMP_NUM_THREADS=1), the wall time of each step, the command and the
hardware go into ``zoo/pretrained/registry.json`` (and the tables of docs/pretrained.md are written from it).
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

MODELS: dict[str, dict[str, Any]] = {
    "schnet-malonaldehyde-xtb": {
        "dataset": "malonaldehyde",
        "model": "schnet",
        "args": ["--cutoff", "5.0", "--n-atom-basis", "64", "--n-interactions", "3", "--n-rbf", "20"],
        "description": "SchNet (F=64, 3 interactions, 5 Å cutoff) fitted to energies and forces of "
        "malonaldehyde at 500 K, GFN2-xTB reference, 1,000 training configurations",
    },
    "acsf-malonaldehyde-xtb": {
        "dataset": "malonaldehyde",
        "model": "acsf",
        "args": ["--cutoff", "5.0", "--n-radial", "22", "--n-angular", "5"],
        "description": "Behler-Parrinello network on ACSF (22 radial, 5 angular, 5 Å cutoff) "
        "fitted to energies and forces of malonaldehyde at 500 K, GFN2-xTB reference, 1,000 training "
        "configurations",
    },
    "wacsf-malonaldehyde-xtb": {
        "dataset": "malonaldehyde",
        "model": "wacsf",
        "args": ["--cutoff", "5.0", "--n-radial", "22", "--n-angular", "5"],
        "description": "Behler-Parrinello network on weighted ACSF (22 radial, 5 angular, 5 Å cutoff) "
        "fitted to energies and forces of malonaldehyde at 500 K, GFN2-xTB reference, 1,000 training "
        "configurations",
    },
}

DATASETS: dict[str, dict[str, Any]] = {
    "malonaldehyde": {
        "source": str(MALONALDEHYDE_NPZ),
        "file": "xtb_malonaldehyde.h5",
        "summary": "malonaldehyde C3H4O2, 25,000 configurations of 500 K Langevin MD labelled by GFN2-xTB "
        "(tblite 0.8.0), MD17 layout (/work/shared/data/md/xtb_malonaldehyde.npz)",
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


def rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
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
        f"{cpu}, {os.cpu_count()} logical cores shared with other jobs (1-min load {load:.1f} at start), "
        f"1 torch thread, torch {torch.__version__}, Python {platform.python_version()}, {platform.system()}"
    )


def prepare_data(name: str, work: Path) -> Path:
    spec = DATASETS[name]
    out = work / spec["file"]
    if not out.exists():
        run(["zoo", "data", "import", "--format", "md17", spec["source"], "-o", str(out)])
    return out


def train(name: str, work: Path, max_time: float, skip: bool) -> dict[str, Any]:
    spec = MODELS[name]
    data = prepare_data(spec["dataset"], work)
    out = work / name
    cmd = ["zoo", "train", "--data", str(data), "--model", spec["model"], *spec["args"], *MD_COMMON]
    cmd += ["--max-time", f"{max_time:g}", "--output", str(out)]
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
    return info


def evaluate_and_export(name: str, work: Path, info: dict[str, Any]) -> dict[str, Any]:
    from zoo.train.checkpoint import read_checkpoint, save_checkpoint

    spec = MODELS[name]
    data = work / DATASETS[spec["dataset"]]["file"]
    out = work / name
    best = out / "best.ckpt"
    stdout, eval_wall = run(
        ["zoo", "eval", str(best), "--data", str(data), "--split", "test", "--json"],
        out.with_suffix(".eval.log"),
    )
    test_errors = json.loads(stdout)
    ckpt = read_checkpoint(best)
    ckpt["test_errors"] = test_errors
    tested = out / "tested.ckpt"
    save_checkpoint(tested, {k: v for k, v in ckpt.items() if k not in ("format", "version")})
    artifact = PRETRAINED / f"{name}.pt"
    run(["zoo", "export", str(tested), "-o", str(artifact), "--dtype", "float32"])
    log_rows = (out / "log.csv").read_text().strip().splitlines()
    epochs = len(log_rows) - 1
    prov = ckpt.get("provenance") or {}
    return {
        "test_errors": test_errors,
        "eval_wall_s": round(eval_wall, 1),
        "epochs": epochs,
        "best_epoch": int(ckpt.get("epoch", 0)),
        "provenance": prov,
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
                "data_sha256": sha256(Path(data_spec["source"])),
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
            "eval_command": f"zoo eval {rel(args.work / name / 'best.ckpt')} --data "
            f"{rel(args.work / data_spec['file'])} --split test",
            "eval_wall_s": result["eval_wall_s"],
        }
        reg = load_registry()
        reg["models"][name] = entry
        write_registry(reg)
        print(f"registered {name}: {entry['size']} bytes, sha256 {entry['sha256'][:12]}…", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
