"""AOTInductor encoding (``.pt2``): the artifact function compiled ahead of time to native code.

The graph is ``zoo.export.graph.traced_artifact`` on mirror-ordered pairs (export/SPEC.md "Pair order";
SchNet evaluates each filter once per unordered pair), exported with ``torch.export`` with dynamic atom
and pair counts and compiled by AOTInductor into a shared library inside a PT2 archive. There is no
interpreter at run time: the C++ runtime (``zoo::Model``), ``pair_style schnet`` and
``zoo.export.load_artifact`` call the library through ``AOTIModelPackageLoader``.

Its kernels are compiled for a thread count (``threads``, default 1): sequential kernels are the
fastest per core (one thread per LAMMPS MPI rank); kernels compiled for N > 1 threads use OpenMP and
atomic scatter-adds, and run about 2x slower on one thread (docs/RESULTS.md). Matrix products use the
run-time thread count either way.

The library is machine code for one instruction set (``compiled`` in the metadata): ``avx2``
(x86-64-v3, the default: any x86-64 CPU since 2013-2015) or ``avx512`` (x86-64-v4), or the exporting
machine's own (``native``, for other architectures). Readers check it before loading. Exporting needs a
C++ compiler (``g++``, or ``$CXX``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import ArtifactError
from zoo.export.graph import check_against_torchscript, dynamic_shapes, split_baddbmm, traced_artifact
from zoo.export.metadata import METADATA_FILE
from zoo.export.torchscript import atomic_write
from zoo.model import AtomisticModel

AOTI_PREFIX = "data/aotinductor/"
ISAS = ("avx2", "avx512", "native")
_X86 = ("x86_64", "amd64", "AMD64")
# instruction set -> (gcc -march, inductor vector width in bits)
_MARCH = {"avx2": ("x86-64-v3", 256), "avx512": ("x86-64-v4", 512)}
# record names written by the archive writer itself
_WRITER_RECORDS = (".data/version", ".data/serialization_id")


def host_isas() -> list[str]:
    """Instruction sets of ISAS this machine runs (``native`` always)."""
    if platform.machine() not in _X86:
        return ["native"]
    cap = torch.backends.cpu.get_cpu_capability()  # "DEFAULT", "AVX2", "AVX512"
    have = {"DEFAULT": [], "AVX2": ["avx2"], "AVX512": ["avx2", "avx512"]}.get(cap, [])
    return [*have, "native"]


def compiled_info(isa: str, threads: int) -> dict[str, Any]:
    """The ``compiled`` metadata member: what the library inside the archive runs on."""
    return {
        "device": "cpu",
        "machine": platform.machine(),
        "isa": isa,
        "threads": threads,
        "torch_version": torch.__version__.split("+")[0],
    }


def check_compiled(meta: dict[str, Any], path: Path) -> None:
    """Refuse, with one sentence, an AOTInductor artifact this machine cannot run."""
    info = meta.get("compiled")
    if not isinstance(info, dict):
        raise ArtifactError(f"artifact {path} is AOTInductor-compiled but its metadata lacks 'compiled'")
    machine, isa = info.get("machine"), info.get("isa")
    if info.get("device") != "cpu":
        device = info.get("device")
        raise ArtifactError(f"artifact {path} was compiled for {device!r}; this zoo runs CPU ones")
    same_arch = machine == platform.machine() or (machine in _X86 and platform.machine() in _X86)
    if not same_arch:
        raise ArtifactError(
            f"artifact {path} was compiled for {machine}, this machine is {platform.machine()}: "
            "export the checkpoint again here, or use the TorchScript artifact"
        )
    if isa not in host_isas():
        raise ArtifactError(
            f"artifact {path} was compiled for the {isa} instruction set, which this CPU lacks: "
            "export it with --isa avx2, or use the TorchScript artifact"
        )
    if isa == "native" and machine in _X86:
        warnings.warn(
            f"artifact {path} was compiled for its exporting CPU (-march=native); it may crash on another",
            stacklevel=3,
        )


def aoti_weights_sha256(path: str | Path) -> str:
    """weights_sha256 of a PT2 archive: every record under data/aotinductor/ (export/SPEC.md)."""
    reader = torch._C.PyTorchFileReader(str(path))
    names = sorted((n for n in reader.get_all_records() if n.startswith(AOTI_PREFIX)), key=str.encode)
    if not names:
        raise ArtifactError(f"artifact {path} holds no AOTInductor model")
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode())
        h.update(reader.get_record(name))
    return h.hexdigest()


def is_aoti_archive(path: str | Path) -> bool:
    reader = torch._C.PyTorchFileReader(str(path))
    return any(n.startswith(AOTI_PREFIX) for n in reader.get_all_records())


@contextlib.contextmanager
def _quiet() -> Any:
    names = ("torch._inductor", "torch._dynamo", "torch.export", "torch.export.pt2_archive._package")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def compile_package(model: AtomisticModel, dtype: str, isa: str, threads: int, out: Path) -> None:
    """torch.export + AOTInductor: write the bare PT2 package (no zoo metadata) to ``out``."""
    if isa not in ISAS:
        raise ArtifactError(f"unknown instruction set {isa!r}; choose one of {', '.join(ISAS)}")
    if isa != "native" and platform.machine() not in _X86:
        raise ArtifactError(f"--isa {isa} is an x86-64 instruction set; on {platform.machine()} use native")
    if threads < 1:
        raise ArtifactError(f"threads must be at least 1, not {threads}")
    configs: dict[str, Any] = {"cpp.threads": threads}
    if isa in _MARCH:
        configs["cpp.march"], configs["cpp.simdlen"] = _MARCH[isa]
    traced = traced_artifact(model, dtype, mirrored=True)
    split_baddbmm(traced.module)
    dim = torch.export.Dim.DYNAMIC
    with _quiet():
        program = torch.export.export(
            traced.module, traced.example, dynamic_shapes=dynamic_shapes(dim, dim), strict=False
        )
        try:
            torch._inductor.aoti_compile_and_package(program, package_path=str(out), inductor_configs=configs)
        except Exception as exc:  # noqa: BLE001 - compiler missing, unsupported operator, ...
            msg = str(exc).strip().splitlines()
            compiler = os.environ.get("CXX", "g++")
            hint = (
                f"; no C++ compiler '{compiler}' was found: install g++ (or set $CXX) to export --format aoti"
                if shutil.which(compiler) is None
                else "; export TorchScript (.pt) instead, and please report this"
            )
            first = msg[0] if msg else ""
            raise ArtifactError(
                f"AOTInductor could not compile the model ({type(exc).__name__}: {first}){hint}"
            ) from None


def load_package(path: str | Path) -> Any:
    """The callable compiled model of a .pt2 archive (torch's own CPU-ISA warning silenced: readers
    check metadata ``compiled`` themselves)."""
    with _quiet():
        return torch._inductor.aoti_load_package(str(path))


def _run_package(package: Path) -> Any:
    runner = load_package(package)

    def run(pos: np.ndarray, num: np.ndarray, ei: np.ndarray, sh: np.ndarray, n_local: int) -> list:
        args = [torch.from_numpy(a) for a in (pos, num, ei, sh)] + [torch.tensor(n_local)]
        return [t.detach().numpy() for t in runner(*args)]

    return run


def save_aoti(
    model: AtomisticModel,
    path: str | Path,
    metadata: dict[str, Any],
    dtype: str,
    isa: str = "avx2",
    threads: int = 1,
) -> dict[str, Any]:
    """Compile, check against TorchScript, then write package + metadata atomically; returns the metadata."""
    path = Path(path)
    meta = dict(metadata)
    meta["compiled"] = compiled_info(isa, threads)
    with tempfile.TemporaryDirectory(prefix="zoo_aoti_") as tmpdir:
        package = Path(tmpdir) / "model.pt2"
        compile_package(model, dtype, isa, threads, package)
        meta["weights_sha256"] = aoti_weights_sha256(package)
        if isa in host_isas():
            run = _run_package(package)
            names = list(meta["outputs"])

            def named(*args: Any) -> dict[str, np.ndarray]:
                return dict(zip(names, run(*args), strict=True))

            check_against_torchscript(model, dtype, named, "AOTInductor library")
        else:
            warnings.warn(
                f"this CPU cannot run {isa} code: {path} is written without the check against TorchScript "
                "that every other export gets; load it once on the target machine before production use",
                stacklevel=2,
            )
        reader = torch._C.PyTorchFileReader(str(package))
        records = [n for n in reader.get_all_records() if n not in _WRITER_RECORDS]

        def write(tmp: Path) -> None:
            # the archive's top folder is named after the file: write under the final name, then move
            staged = Path(tmpdir) / path.name
            writer = torch._C.PyTorchFileWriter(str(staged))
            for name in sorted(records):
                data = reader.get_record(name)
                writer.write_record(name, data, len(data))
            text = json.dumps(meta, indent=1).encode()
            writer.write_record("extra/" + METADATA_FILE, text, len(text))
            writer.write_end_of_file()
            del writer
            shutil.move(str(staged), str(tmp))
            if aoti_weights_sha256(tmp) != meta["weights_sha256"]:
                raise ArtifactError("the AOTInductor archive changed while being written; please report this")

        atomic_write(path, write)
    return meta
