"""Benchmark 2: time per frame and KV-cache bytes against frames already generated, with and without a window.

A ``Generator`` (small preset, untrained, 1 sample, the 10-residue chignolin sequence GYDPETGTWG, built extended) is
filled with ``Generator.append`` (the real model pass that adds a finished frame to the cache; the
frame appended is the start structure each time: the cost does not depend on the coordinates) up
to checkpoints of 1, 10, 100, 1,000 and 10,000 frames. At every checkpoint ``next_frame`` (the
``steps + 1`` denoising calls of one new frame, attending to the whole cache) is timed ``--reps``
times (median) and 3 appends are timed (mean); per-frame cost = next_frame + append.

Without a window the cache holds every frame: bytes grow as O(N·L·d) and so does the time per
frame (each denoising call attends to all cached keys). Filling it for real is quadratic in
compute (every append is a model pass attending to the whole cache), so beyond ``--real-limit``
frames (default 1,000) the no-window cache is filled *synthetically*: the keys/values already held are tiled to the target
length in one step (same tensor sizes, so the same cost; the values are meaningless). Those rows
say ``tiled``. With a window (default W = 16, sink 1) the cache stops growing after sink + W frames
and the whole fill is real.

    .venv/bin/python benchmarks/cache_growth.py           # quick: 1 … 10,000 frames
    .venv/bin/python benchmarks/cache_growth.py --full    # also a real (not tiled) no-window fill to 3,000
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from _common import CHIGNOLIN, Clock, base_parser, extended_pdb, mib, print_table, set_threads, write_json

COLUMNS = ["window", "frames generated", "frames in cache", "cache MiB", "allocated MiB", "next_frame CPU ms", "append CPU ms",
           "CPU ms/frame", "wall ms/frame", "fill"]


def make_generator(model, window: int | None, sink: int, steps: int, device: str = "cpu"):
    """A Generator for 1 sample of the 10-residue peptide."""
    import torch

    from starmd.core.rollout import Generator, load_start
    from starmd.core.specs import DiffusionSpec

    with tempfile.TemporaryDirectory() as tmp:
        start = load_start(str(extended_pdb(CHIGNOLIN, Path(tmp) / "start.pdb")))
    return Generator(model, start, 1, steps, DiffusionSpec(), 0.05, 1.0, window, sink, 0, torch.device(device))


def tile_cache(cache, target: int) -> None:
    """Grow a window-less cache to ``target`` frames by repeating the keys/values it holds (cost-equivalent)."""
    import torch

    held = cache.num_frames
    reps = -(-target // held)
    cache.keys = [k[:, :, :held].repeat(1, 1, reps, 1, 1)[:, :, :target].contiguous() for k in cache.keys]
    cache.values = [v[:, :, :held].repeat(1, 1, reps, 1, 1)[:, :, :target].contiguous() for v in cache.values]
    cache.frame_index = torch.arange(target, dtype=torch.long, device=cache.keys[0].device)
    cache.next_frame = target
    cache.reserve(target + 1 + max(64, target // 4))  # the free capacity appends would have left


def probe(gen, reps: int) -> dict:
    """Time ``reps`` next_frame calls (median) and 3 appends (mean) at the current fill."""
    import torch

    nxt = []
    with torch.no_grad():
        for _ in range(reps):
            with Clock() as c:
                clean, _ = gen.next_frame(1.0)
            nxt.append(c)
        with Clock() as app:
            for _ in range(3):
                gen.append(gen.start_rigids, 1.0)
    cpu_next = statistics.median(c.cpu for c in nxt)
    wall_next = statistics.median(c.wall for c in nxt)
    return {"next_frame CPU ms": 1000 * cpu_next, "append CPU ms": 1000 * app.cpu / 3,
            "CPU ms/frame": 1000 * (cpu_next + app.cpu / 3), "wall ms/frame": 1000 * (wall_next + app.wall / 3)}


def sweep(model, window: int | None, sink: int, steps: int, checkpoints: list[int], real_limit: int, reps: int,
          device: str) -> list[dict]:
    """Fill the cache to each checkpoint and probe; rows of the table."""
    import torch

    gen = make_generator(model, window, sink, steps, device)
    rows = []
    label = "none" if window is None else f"W={window}, sink={sink}"
    with torch.no_grad():
        for target in checkpoints:
            how = "real"
            if window is None and target > real_limit:
                tile_cache(gen.cache, target)
                gen.frame_index = target
                how = "tiled"
            else:
                while gen.cache.next_frame < target:
                    gen.append(gen.start_rigids, 1.0)
            row = {"window": label, "frames generated": target, "frames in cache": gen.cache.num_frames,
                   "cache MiB": mib(gen.cache_bytes()), "allocated MiB": mib(gen.cache.allocated_nbytes()), "fill": how}
            row.update(probe(gen, reps))  # its 3 appends advance the fill by 3 frames
            rows.append(row)
            print(f"  window={label} frames={target}: {row['CPU ms/frame']:.1f} CPU ms/frame, {row['cache MiB']:.3g} MiB",
                  flush=True)
    return rows


def main() -> None:
    p = base_parser(__doc__)
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--sink", type=int, default=1)
    p.add_argument("--steps", type=int, default=5, help="reverse-SDE steps per frame (default 5)")
    p.add_argument("--reps", type=int, default=2, help="next_frame calls timed per checkpoint")
    p.add_argument("--checkpoints", type=int, nargs="+", default=[1, 10, 100, 1000, 10000])
    p.add_argument("--real-limit", type=int, help="no-window fills beyond this are tiled (default 1000; 3000 with --full)")
    args = p.parse_args()
    set_threads(args.threads)
    import starmd

    model = starmd.build_model(starmd.ModelSpec.small()).eval().to(args.device)
    real_limit = args.real_limit or (3000 if args.full else 1000)
    checkpoints = sorted(set(args.checkpoints + ([3000] if args.full else [])))
    rows = sweep(model, None, args.sink, args.steps, checkpoints, real_limit, args.reps, args.device)
    rows += sweep(model, args.window, args.sink, args.steps, checkpoints, real_limit, args.reps, args.device)
    note = (f"small preset, N = 10 residues, 1 sample, {args.steps} reverse-SDE steps/frame, float32, {args.threads} torch thread(s); "
            f"'tiled' = cache grown by repeating held keys/values (same sizes and cost), not by {real_limit}+ real appends")
    print_table("Time per frame and KV cache vs frames already generated", COLUMNS, rows, note)
    write_json(args.json, "cache_growth", {"window": args.window, "sink": args.sink, "steps": args.steps, "reps": args.reps,
                                           "real_limit": real_limit, "threads": args.threads,
                                           "device": args.device},
               {"cache_growth": {"columns": COLUMNS, "rows": rows, "note": note}})


if __name__ == "__main__":
    main()
