"""`zoo md MODEL --structure FILE --task {optimize,vibrations,md,spectrum} ...` (ASE with a zoo artifact)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "md",
        help="geometry optimisation, normal modes, MD and VACF spectra with an exported model (ASE)",
        description="Run ASE with an exported artifact (.pt, .onnx or .pt2); results go to --output.",
    )
    p.add_argument("model", help="exported artifact (.pt TorchScript, .onnx or .pt2 AOTInductor)")
    p.add_argument(
        "--structure", required=True, help="structure file ASE can read (xyz, extxyz, cif, POSCAR, ...)"
    )
    p.add_argument("--task", choices=("optimize", "vibrations", "md", "spectrum"), default="md")
    p.add_argument(
        "--steps", type=int, default=1000, help="MD steps (spectrum: production steps); BFGS max steps"
    )
    p.add_argument("--timestep", type=float, default=0.5, help="fs")
    p.add_argument("--temperature", type=float, default=300.0, help="K (initial velocities, Langevin)")
    p.add_argument("--thermostat", choices=("langevin", "nve"), default="langevin", help="md task")
    p.add_argument("--friction", type=float, default=0.01, help="Langevin friction, 1/fs")
    p.add_argument(
        "--equilibration", type=int, default=0, help="spectrum: Langevin steps before NVE production"
    )
    p.add_argument("--fmax", type=float, default=1e-3, help="optimize: force convergence, eV/Å")
    p.add_argument(
        "--optimize-first", action="store_true", help="relax with BFGS before vibrations/md/spectrum"
    )
    p.add_argument("--output", default="zoo_md", help="output folder")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from zoo.md import Simulation

    sim = Simulation(args.model, args.structure, output=args.output, device=args.device, seed=args.seed)
    if args.task == "optimize" or args.optimize_first:
        res = sim.optimize(fmax=args.fmax, steps=args.steps if args.task == "optimize" else 1000)
        print(
            f"BFGS: E = {res['energy']:.6f} eV, fmax = {res['fmax']:.2e} eV/Å after {res['steps']} steps"
            f"{'' if res['converged'] else ' (not converged)'}"
        )
    if args.task == "vibrations":
        freqs = sim.vibrations()
        print("frequencies / cm^-1: " + " ".join(f"{f:.1f}" for f in freqs))
    elif args.task == "md":
        res = sim.md(args.steps, args.timestep, args.temperature, args.thermostat, args.friction)
        print(
            f"{args.thermostat} MD: {res['time_fs']:.1f} fs, <T> = {res['mean_temperature']:.1f} K, "
            f"E_tot drift {res['etot_drift_eV']:.3e} eV (max deviation {res['etot_max_dev_eV']:.3e} eV)"
        )
    elif args.task == "spectrum":
        freq, intensity = sim.spectrum(
            args.steps, args.timestep, args.temperature, args.equilibration, args.friction
        )
        band = freq > 100.0
        top = freq[band][intensity[band].argmax()] if band.any() else float("nan")
        print(
            f"power spectrum: {len(freq)} points up to {freq[-1]:.0f} cm^-1, "
            f"strongest peak above 100 cm^-1 at {top:.0f} cm^-1"
        )
    print(f"results in {sim.output}/")
    return 0
