"""zoo.memory.reuse_freed_memory: large freed blocks keep their pages; the ASE calculator and the
trainer switch it on unless told not to."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# Minor page faults of allocating (torch's CPU allocator, the one models use), writing and freeing a
# 64 MiB block, before and after the switch; then whether ZooCalculator or the Trainer flips the switch
# (it is process-wide, hence a fresh interpreter per case).
SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    import torch
    import zoo.memory

    def faults():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        block = torch.ones(64 << 20, dtype=torch.uint8)  # numpy would ask for huge pages
        del block
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    out = {}
    if sys.argv[1] == "faults":
        # steady states, over the last 4 of 24 cycles: torch's 64-byte-aligned blocks leave holes that
        # small allocations split, so a kept heap takes up to ~10 cycles to hold a reusable 64 MiB region
        out["released"] = min([faults() for _ in range(24)][-4:])
        out["switched"] = zoo.memory.reuse_freed_memory()
        out["reused"] = max([faults() for _ in range(24)][-4:])
    elif sys.argv[1].startswith("calc"):
        from zoo.ase import ZooCalculator
        ZooCalculator(sys.argv[2], reuse_memory=sys.argv[1] == "calc-default")
        out["state"] = zoo.memory._state
    else:
        from zoo.data import sample_path
        from zoo.train.config import TrainConfig
        from zoo.train.trainer import Trainer
        cfg = TrainConfig(data=str(sample_path("malonaldehyde")), output=sys.argv[2], device="cpu",
                          n_train=100, n_val=50, reuse_memory=sys.argv[1] == "train-default")
        Trainer(cfg)
        out["state"] = zoo.memory._state
    print(json.dumps(out))
    """
)


def _run(*args: str) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, check=True, timeout=300
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_freed_blocks_keep_their_pages() -> None:
    out = _run("faults")
    assert out["switched"] is True
    assert out["released"] > 8000, out  # 16,384 pages: glibc maps a 64 MiB block afresh each time
    assert out["reused"] < 1000, out  # the kept heap faults in no new pages


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_calculator_switches_unless_told_not_to() -> None:
    model = REPO / "zoo" / "pretrained" / "schnet-malonaldehyde-xtb.pt"
    assert _run("calc-default", str(model))["state"] is True
    assert _run("calc-off", str(model))["state"] is None


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_trainer_switches_unless_told_not_to(tmp_path) -> None:
    assert _run("train-default", str(tmp_path / "a"))["state"] is True
    assert _run("train-off", str(tmp_path / "b"))["state"] is None
