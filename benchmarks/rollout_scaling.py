"""Benchmark 1: rollout time per frame and KV-cache memory against protein size N.

For every N an ideal α-helix of N residues (PeptideBuilder; the sequence cycles through 19 residue
types) is the start structure; an untrained model of the chosen preset (speed does not depend on the
weights) generates frames for 1 sample, without a window, cache on. Two measurements per N:

- network: ``Generator.next_frame`` + ``Generator.append`` (``steps + 1`` denoising calls and one
  cache append per frame), i.e. the model alone; median over the timed frames;
- rollout: ``starmd.core.rollout.rollout`` without refinement (network + torsion sampling + atoms
  + guard + output conversion), the marginal cost per frame = (rollout of 1 + k frames − rollout
  of 1 frame) / k;
- refinement: ``refine_peptide_bonds`` of the helix with its frames perturbed like a generated
  frame (0.08 rad, 0.3 Å per residue) towards the helix's φ/ψ, with the rollout's settings, median
  of k structures. An untrained model's frames are far from a chain, so its rollouts would time
  the refinement on garbage; this column gives the cost on a realistic frame, which a rollout
  with ``refine_backbone: true`` (the default) adds to the rollout column.

Times are CPU seconds of this process (1 torch thread) and wall seconds; on a shared machine wall
includes waiting for a core. Cache: tensor bytes per cached frame (measured, checked against the
exact formula ``estimate_cache_bytes``) and the cache a 1,000- and a 10,000-frame rollout without a
window would hold.

    .venv/bin/python benchmarks/rollout_scaling.py            # quick: N = 10 … 400, 3 frames each
    .venv/bin/python benchmarks/rollout_scaling.py --full     # 5 frames each, + the default preset
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from _common import Clock, base_parser, helix_pdb, mib, print_table, set_threads, write_json

COLUMNS = ["preset", "N residues", "net CPU ms/frame", "net CPU ms/call", "rollout CPU ms/frame", "rollout wall ms/frame",
           "refine CPU ms/frame", "cache KiB/frame", "cache MiB @1k frames", "cache MiB @10k frames"]


def build(preset: str):
    """An untrained model of ``preset`` (tiny, small or default) in eval mode."""
    import starmd

    spec = {"tiny": starmd.ModelSpec.tiny, "small": starmd.ModelSpec.small, "default": starmd.ModelSpec}[preset]()
    return starmd.build_model(spec).eval()


def network_cost(model, pdb: Path, frames: int, steps: int, device: str) -> tuple[float, int]:
    """Median CPU s of next_frame + append over ``frames`` frames after a warm-up frame; cache bytes per cached frame."""
    import torch

    from starmd.core.rollout import Generator, load_start
    from starmd.core.specs import DiffusionSpec

    gen = Generator(model, load_start(str(pdb)), 1, steps, DiffusionSpec(), 0.05, 1.0, None, 1, 0, torch.device(device))
    with torch.no_grad():
        gen.append(gen.start_rigids, 1.0)
        clean, _ = gen.next_frame(1.0)  # warm-up
        gen.append(clean, 1.0)
        cpu = []
        for _ in range(frames):
            with Clock() as clock:
                clean, _ = gen.next_frame(1.0)
                gen.append(clean, 1.0)
            cpu.append(clock.cpu)
    return statistics.median(cpu), gen.cache_bytes() // gen.cache.num_frames


def rollout_cost(model, pdb: Path, frames: int, steps: int, device: str) -> tuple[float, float]:
    """Marginal (CPU s, wall s) per frame of ``rollout``: (1 + frames) frames minus 1 frame."""
    from starmd.core.rollout import rollout
    from starmd.core.specs import RolloutSpec

    kw = dict(dt_ns=1.0, steps=steps, window=None, progress=False, seed=0, device=device,
              spec=RolloutSpec(max_ca_jump=1e6, refine_backbone=False))
    with Clock() as one:
        rollout(model, str(pdb), n_frames=1, **kw)
    with Clock() as more:
        rollout(model, str(pdb), n_frames=1 + frames, **kw)
    return (more.cpu - one.cpu) / frames, (more.wall - one.wall) / frames


def refine_cost(pdb: Path, frames: int) -> float:
    """Median CPU s of ``refine_peptide_bonds`` on ``frames`` perturbed copies of the start helix."""
    import roma
    import torch

    from starmd.core.protein import RESTYPE_ORDER
    from starmd.core.refine import backbone_dihedrals, refine_peptide_bonds
    from starmd.core.rigid import Rigid
    from starmd.core.rollout import load_start
    from starmd.core.specs import RolloutSpec

    start = load_start(str(pdb))
    rigids = Rigid(start.rigids.rots.double()[None], start.rigids.trans.double()[None])
    n = rigids.shape[-1]
    targets = backbone_dihedrals(rigids)
    linked = torch.ones(n - 1, dtype=torch.bool)
    proline = start.aatype == RESTYPE_ORDER["P"]
    sigma = RolloutSpec().dihedral_sigma
    cpu = []
    for k in range(frames):
        g = torch.Generator().manual_seed(k)
        turn = roma.rotvec_to_rotmat(torch.randn(1, n, 3, generator=g, dtype=torch.float64) * 0.08)
        noisy = Rigid(rigids.rots @ turn, rigids.trans + 0.3 * torch.randn(1, n, 3, generator=g, dtype=torch.float64))
        with Clock() as clock:
            refine_peptide_bonds(noisy, linked, dihedrals=targets, proline=proline, sigma_dihedral=sigma)
        cpu.append(clock.cpu)
    return statistics.median(cpu)


def measure(model, preset: str, pdb: Path, n_res: int, frames: int, steps: int, device: str) -> dict:
    """One table row for ``n_res`` residues."""
    from starmd.core.rollout import estimate_cache_bytes

    net, per_frame = network_cost(model, pdb, frames, steps, device)
    dtype = next(model.parameters()).dtype
    assert per_frame == estimate_cache_bytes(model, n_res, 1, 1, dtype), "cache bytes differ from the formula"
    cpu, wall = rollout_cost(model, pdb, frames, steps, device)
    return {"preset": preset, "N residues": n_res, "net CPU ms/frame": 1000 * net,
            "net CPU ms/call": 1000 * net / (steps + 2), "rollout CPU ms/frame": 1000 * cpu,
            "rollout wall ms/frame": 1000 * wall, "refine CPU ms/frame": 1000 * refine_cost(pdb, max(frames, 3)),
            "cache KiB/frame": per_frame / 1024,
            "cache MiB @1k frames": mib(1000 * per_frame), "cache MiB @10k frames": mib(10000 * per_frame)}


def main() -> None:
    p = base_parser(__doc__)
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 25, 50, 100, 200, 400])
    p.add_argument("--preset", choices=["tiny", "small", "default"], default="small")
    p.add_argument("--steps", type=int, default=5, help="reverse-SDE steps per frame (default 5)")
    p.add_argument("--frames", type=int, help="timed frames per N (default 3 quick, 5 full)")
    args = p.parse_args()
    set_threads(args.threads)
    frames = args.frames or (5 if args.full else 3)
    presets = [args.preset] + (["default"] if args.full and args.preset != "default" else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in presets:
            model = build(preset).to(args.device)
            for n in args.sizes:
                rows.append(measure(model, preset, helix_pdb(n, Path(tmp) / f"helix{n}.pdb"), n, frames, args.steps,
                                    args.device))
                print(f"  {preset} N={n}: {rows[-1]['net CPU ms/frame']:.1f} ms/frame (network, CPU)", flush=True)
    note = (f"{args.steps} reverse-SDE steps/frame (= {args.steps + 1} denoising calls + 1 cache append), 1 sample, no window, "
            f"{frames} timed frames, float32, {args.threads} torch thread(s), {args.device}")
    print_table("Rollout time per frame and KV cache vs N residues", COLUMNS, rows, note)
    write_json(args.json, "rollout_scaling", {"steps": args.steps, "frames": frames, "presets": presets, "threads": args.threads, "device": args.device},
               {"rollout_vs_n": {"columns": COLUMNS, "rows": rows, "note": note}})


if __name__ == "__main__":
    main()
