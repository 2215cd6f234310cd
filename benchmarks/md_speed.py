"""Benchmark 4: simulated ns per day, starmd against OpenMM implicit-solvent MD of the same peptide, same run.

Peptides: the tetrapeptide YPGE (N = 4) and the chignolin sequence GYDPETGTWG (N = 10), built
fully extended with PeptideBuilder (heavy atoms + OXT). OpenMM gets that PDB completed by
pdbfixer (hydrogens at pH 7, charged termini, as ``starmd simulate`` does); starmd gets the same PDB.

OpenMM (CPU platform, ``--md-threads`` threads, default 1), two physics settings:

- ``amber14+GBn2``: the default ``SimulateSpec`` — amber14-all + implicit/gbn2, no cut-off,
  Langevin middle 300 K, 1/ps, 4 fs with HMR (H 3 amu), H-bond constraints;
- ``amber99sbildn+OBC``: amber99sbildn + amber99_obc (OpenMM's native GBSA-OBC force, much cheaper
  than the custom GBn2 force), 4 fs, HMR (H 4 amu), H-bond constraints — the faster setting.

Each: minimise (≤ 200 iterations), 250 warm-up steps, then ``--md-steps`` timed steps.

starmd: ``rollout`` of the shipped model (``checkpoints/default.ckpt``, small preset; ``--checkpoint``)
with the demo's settings: renoise sampler, 20 reverse steps, window 32 (sink 1), refinement on,
1 sample, 1 torch thread; marginal cost per frame = (rollout of 1 + k frames − rollout of 1
frame) / k. A trained model matters here: the refinement's cost depends on how close the network's
frames are to a chain. Its ns/day is frames/day × Δt, so it
scales linearly with the Δt per frame the user asks for (the cost of a frame does not depend on
Δt): the table gives Δt = 0.01 ns (the bundled data's 10 ps saving interval, what the demo uses)
and Δt = 1 ns (the paper's long-horizon setting). Whether a frame 1 ns later is *physically right*
is what the evaluation measures, not this benchmark.

Times: CPU seconds of this process (both engines run single-threaded here) and wall seconds.

    .venv/bin/python benchmarks/md_speed.py          # quick: 2,500 MD steps (10 ps), 10 starmd frames
    .venv/bin/python benchmarks/md_speed.py --full   # 25,000 MD steps (100 ps), 50 starmd frames
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import CHIGNOLIN, TETRA, Clock, base_parser, extended_pdb, print_table, set_threads, write_json

MD_COLUMNS = ["peptide", "N residues", "engine", "setting", "atoms", "CPU ms/ps", "ns/day (CPU)", "ns/day (wall)"]
RATIO_COLUMNS = ["peptide", "Δt ns/frame", "starmd CPU ms/frame", "starmd ns/day (CPU)", "× amber14+GBn2", "× amber99sbildn+OBC"]
VARIANTS = {
    "amber14+GBn2": dict(forcefield=["amber14-all.xml", "implicit/gbn2.xml"], hydrogen_mass_amu=3.0),
    "amber99sbildn+OBC": dict(forcefield=["amber99sbildn.xml", "amber99_obc.xml"], hydrogen_mass_amu=4.0),
}


def openmm_speed(pdb: Path, variant: str, steps: int, threads: int, platform: str = "CPU") -> tuple[int, Clock]:
    """(atoms, Clock of ``steps`` Langevin steps) for one physics setting."""
    import openmm as mm
    import openmm.app as app
    import openmm.unit as u

    from starmd.core.simulate import load_structure
    from starmd.core.specs import SimulateSpec

    spec = SimulateSpec(**VARIANTS[variant], step_fs=4.0, platform=platform, cpu_threads=threads)
    topology, positions = load_structure(pdb, ph=spec.ph)
    system = app.ForceField(*spec.forcefield).createSystem(
        topology, nonbondedMethod=app.NoCutoff, constraints=app.HBonds, hydrogenMass=spec.hydrogen_mass_amu * u.amu)
    integrator = mm.LangevinMiddleIntegrator(spec.temperature_k * u.kelvin, spec.friction_per_ps / u.picosecond,
                                             spec.step_fs * u.femtosecond)
    integrator.setRandomNumberSeed(1)
    props = {"Threads": str(threads)} if platform == "CPU" else {}
    sim = app.Simulation(topology, system, integrator, mm.Platform.getPlatformByName(platform), props)
    sim.context.setPositions(positions)
    sim.minimizeEnergy(maxIterations=200)
    sim.context.setVelocitiesToTemperature(spec.temperature_k * u.kelvin, 1)
    sim.step(250)
    with Clock() as clock:
        sim.step(steps)
        sim.context.getState(getPositions=True)  # make sure the work is done
    return system.getNumParticles(), clock


def starmd_speed(pdb: Path, checkpoint: Path, frames: int, steps: int, window: int, device: str = "cpu") -> tuple[float, float]:
    """Marginal (CPU s, wall s) per frame of a rollout of ``checkpoint`` with the demo's settings."""
    from starmd.core.checkpoint import load_checkpoint
    from starmd.core.rollout import rollout
    from starmd.core.specs import RolloutSpec

    model = load_checkpoint(checkpoint)
    kw = dict(dt_ns=0.01, steps=steps, window=window, sink=1, progress=False, seed=0, device=device,
              spec=RolloutSpec(max_ca_jump=1e6, sampler="renoise"))
    rollout(model, str(pdb), n_frames=1, **kw)  # warm-up (lazy imports, allocator)
    with Clock() as one:
        rollout(model, str(pdb), n_frames=1, **kw)
    with Clock() as more:
        rollout(model, str(pdb), n_frames=1 + frames, **kw)
    return (more.cpu - one.cpu) / frames, (more.wall - one.wall) / frames


def main() -> None:
    p = base_parser(__doc__)
    p.add_argument("--peptides", nargs="+", default=[TETRA, CHIGNOLIN])
    p.add_argument("--md-steps", type=int, help="timed 4-fs MD steps (default 2,500 quick, 25,000 full)")
    p.add_argument("--md-threads", type=int, default=1, help="OpenMM CPU threads (default 1, like torch here)")
    p.add_argument("--md-platform", choices=["CPU", "CUDA"], default="CPU", help="OpenMM platform (default CPU)")
    p.add_argument("--frames", type=int, help="timed starmd frames (default 10 quick, 50 full)")
    p.add_argument("--checkpoint", type=Path, default=Path(__file__).resolve().parent.parent / "checkpoints" / "default.ckpt",
                   help="model to time (default: the shipped checkpoints/default.ckpt)")
    p.add_argument("--steps", type=int, default=20, help="reverse-SDE steps per frame (default 20, the demo's)")
    p.add_argument("--window", type=int, default=32, help="sliding window (default 32, the demo's)")
    p.add_argument("--dt-ns", type=float, nargs="+", default=[0.01, 1.0], help="Δt per frame to report ns/day for")
    args = p.parse_args()
    set_threads(args.threads)
    md_steps = args.md_steps or (25000 if args.full else 2500)
    frames = args.frames or (50 if args.full else 10)
    md_rows, ratio_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seq in args.peptides:
            pdb = extended_pdb(seq, Path(tmp) / f"{seq}.pdb")
            md = {}
            for variant in VARIANTS:
                atoms, c = openmm_speed(pdb, variant, md_steps, args.md_threads, args.md_platform)
                ps = md_steps * 4e-3
                md[variant] = ps * 1e-3 / c.cpu * 86400
                md_rows.append({"peptide": seq, "N residues": len(seq), "engine": "OpenMM", "setting": variant, "atoms": atoms,
                                "CPU ms/ps": 1000 * c.cpu / ps, "ns/day (CPU)": md[variant],
                                "ns/day (wall)": ps * 1e-3 / c.wall * 86400})
                print(f"  {seq} OpenMM {variant}: {md[variant]:.1f} ns/day (CPU)", flush=True)
            cpu, wall = starmd_speed(pdb, args.checkpoint, frames, args.steps, args.window, args.device)
            print(f"  {seq} starmd: {1000 * cpu:.0f} CPU ms/frame", flush=True)
            for dt in args.dt_ns:
                nsd = dt / cpu * 86400
                md_rows.append({"peptide": seq, "N residues": len(seq), "engine": "starmd", "setting": f"shipped, {args.steps} steps, "
                                f"Δt {dt:g} ns", "atoms": None, "CPU ms/ps": 1000 * cpu / (dt * 1000), "ns/day (CPU)": nsd,
                                "ns/day (wall)": dt / wall * 86400})
                ratio_rows.append({"peptide": seq, "Δt ns/frame": dt, "starmd CPU ms/frame": 1000 * cpu, "starmd ns/day (CPU)": nsd,
                                   "× amber14+GBn2": nsd / md["amber14+GBn2"],
                                   "× amber99sbildn+OBC": nsd / md["amber99sbildn+OBC"]})
    note = (f"OpenMM {md_steps} steps of 4 fs, CPU platform, {args.md_threads} thread(s); starmd {args.checkpoint.name} (renoise, refined), {args.steps} steps/frame, "
            f"window {args.window}, {frames} frames, {args.threads} torch thread(s); ns/day from CPU time")
    print_table("Simulated ns/day: OpenMM implicit solvent vs starmd (same machine, same run)", MD_COLUMNS, md_rows, note)
    print_table("starmd speed as a multiple of OpenMM (ns/day ratio, CPU time)", RATIO_COLUMNS, ratio_rows,
                "ratio ∝ Δt: a starmd frame costs the same whatever Δt it represents")
    write_json(args.json, "md_speed", {"md_steps": md_steps, "md_threads": args.md_threads, "frames": frames, "steps": args.steps,
                                       "window": args.window, "dt_ns": args.dt_ns, "threads": args.threads,
                                       "device": args.device, "md_platform": args.md_platform},
               {"md_speed": {"columns": MD_COLUMNS, "rows": md_rows, "note": note},
                "ratio": {"columns": RATIO_COLUMNS, "rows": ratio_rows}})


if __name__ == "__main__":
    main()
