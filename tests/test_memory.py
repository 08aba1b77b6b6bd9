"""zoo.memory.reuse_freed_memory: large freed blocks keep their pages; the ASE calculator switches it on."""

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
# 64 MiB block, before and after the switch; then whether ZooCalculator flips the switch (it is
# process-wide, hence a fresh interpreter per case).
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
        faults()
        out["released"] = faults()
        out["switched"] = zoo.memory.reuse_freed_memory()
        faults()
        out["reused"] = faults()
    else:
        from zoo.ase import ZooCalculator
        ZooCalculator(sys.argv[2], reuse_memory=sys.argv[1] == "calc-default")
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
    assert out["reused"] < 1000, out


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_calculator_switches_unless_told_not_to() -> None:
    model = REPO / "zoo" / "pretrained" / "schnet-malonaldehyde-xtb.pt"
    assert _run("calc-default", str(model))["state"] is True
    assert _run("calc-off", str(model))["state"] is None
