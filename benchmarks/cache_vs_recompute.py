"""Benchmark 3: cached rollout against full recomputation of the history, same run, same noise.

Two ``Generator`` objects for the same start structure, seed and model (small preset, untrained,
1 sample, the tetrapeptide YPGE built extended): one with the KV cache (each finished frame goes
through the trunk once; denoising calls attend to cached keys/values), one with
``use_cache=False`` (every denoising call re-runs the whole history: 2·(l+1) frame copies through the
trunk at frame l). Both generate the same number of frames in this process; the table gives the
cumulative CPU time at each checkpoint, the cost of the last frame, both speed-ups, and the largest
Cα deviation between the two trajectories (float32: they agree to rounding; DESIGN.md's 1e-5
equality test is done in float64 by tests/).

    .venv/bin/python benchmarks/cache_vs_recompute.py          # quick: 10, 50, 100 frames
    .venv/bin/python benchmarks/cache_vs_recompute.py --full   # 10, 50, 100, 250 frames
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import TETRA, Clock, base_parser, extended_pdb, print_table, set_threads, write_json

COLUMNS = ["frames", "cached CPU s (total)", "recompute CPU s (total)", "speed-up (total)", "cached ms (last frame)",
           "recompute ms (last frame)", "speed-up (last frame)", "max |ΔCα| Å"]


def run(model, start, frames: list[int], steps: int, use_cache: bool, device: str = "cpu") -> tuple[dict[int, tuple[float, float]], list]:
    """Generate max(frames) frames; {checkpoint: (cumulative CPU s, last-frame CPU s)} and the Cα per frame."""
    import torch

    from starmd.core.rollout import Generator
    from starmd.core.specs import DiffusionSpec

    gen = Generator(model, start, 1, steps, DiffusionSpec(), 0.05, 1.0, None, 1, 0, torch.device(device), use_cache=use_cache)
    total, out, ca = 0.0, {}, []
    with torch.no_grad():
        gen.append(gen.start_rigids, 1.0)
        for i in range(1, max(frames) + 1):
            with Clock() as c:
                clean, _ = gen.next_frame(1.0)
                gen.append(clean, 1.0)
            total += c.cpu
            ca.append(clean.trans.detach().clone())
            if i in frames:
                out[i] = (total, c.cpu)
                print(f"  {'cached' if use_cache else 'recompute'}: {i} frames, {total:.2f} CPU s", flush=True)
    return out, ca


def main() -> None:
    p = base_parser(__doc__)
    p.add_argument("--frames", type=int, nargs="+", help="checkpoints (default 10 50 100 quick, 10 50 100 250 full)")
    p.add_argument("--sequence", default=TETRA, help=f"peptide built extended (default {TETRA})")
    p.add_argument("--steps", type=int, default=5, help="reverse-SDE steps per frame (default 5)")
    args = p.parse_args()
    set_threads(args.threads)
    import starmd
    from starmd.core.rollout import load_start

    frames = sorted(args.frames or ([10, 50, 100, 250] if args.full else [10, 50, 100]))
    model = starmd.build_model(starmd.ModelSpec.small()).eval().to(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        start = load_start(str(extended_pdb(args.sequence, Path(tmp) / "start.pdb")))
    cached, ca_c = run(model, start, frames, args.steps, True, args.device)
    full, ca_f = run(model, start, frames, args.steps, False, args.device)
    rows = []
    for f in frames:
        dev = max(float((a - b).abs().max()) for a, b in zip(ca_c[:f], ca_f[:f]))
        rows.append({"frames": f, "cached CPU s (total)": cached[f][0], "recompute CPU s (total)": full[f][0],
                     "speed-up (total)": full[f][0] / cached[f][0], "cached ms (last frame)": 1000 * cached[f][1],
                     "recompute ms (last frame)": 1000 * full[f][1], "speed-up (last frame)": full[f][1] / cached[f][1],
                     "max |ΔCα| Å": dev})
    note = (f"small preset, {args.sequence} (N = {len(args.sequence)}), 1 sample, {args.steps} reverse-SDE steps/frame, no window, float32, "
            f"{args.threads} torch thread(s); CPU time of this process")
    print_table("Cached rollout vs full recomputation (same run)", COLUMNS, rows, note)
    write_json(args.json, "cache_vs_recompute", {"steps": args.steps, "frames": frames, "sequence": args.sequence, "threads": args.threads, "device": args.device},
               {"cache_vs_recompute": {"columns": COLUMNS, "rows": rows, "note": note}})


if __name__ == "__main__":
    main()
