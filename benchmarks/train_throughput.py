"""Benchmark 5: training throughput (frames/s = windows × L per second) for the tiny and default presets,
in one process and with 2 DDP processes (gloo, CPU).

Data: one peptide of the bundled data set (default YPGE; its topology and replica files are copied
to a temporary folder with a one-entry manifest, so a data set being regenerated does not disturb
the run). Windows of L = 8 frames, strides 1 and 2, batch 4 per process, the default TrainingSpec
otherwise (losses, context noise, AdamW, EMA, gradient clipping; float32 on CPU). One warm-up
step, then ``--steps`` timed ``Trainer.train_step()`` calls.

DDP: ``torch.multiprocessing.spawn`` of 2 processes (as tests/core/test_train.py does), each with
1 torch thread and batch 4, so a step trains 2 × 4 windows; rank 0's wall time per step is the global
step time. A training window of L frames is run as 2L frame copies (clean + noisy); frames/s counts L.

    .venv/bin/python benchmarks/train_throughput.py          # quick: 3 timed steps
    .venv/bin/python benchmarks/train_throughput.py --full   # 10 timed steps
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

from _common import DATA, TETRA, Clock, base_parser, print_table, set_threads, write_json

COLUMNS = ["preset", "params M", "processes", "windows/step", "s/step (wall)", "s/step (CPU, rank 0)", "frames/s (wall)",
           "frames/s (CPU)"]


def one_peptide_manifest(name: str, dest: Path) -> Path:
    """Copy peptide ``name`` (or the first one listed) of data/manifest.yaml into ``dest`` with its own manifest."""
    import yaml

    raw = yaml.safe_load((DATA / "manifest.yaml").read_text())
    entries = [e for e in raw["proteins"] if (DATA / e["topology"]).exists()]
    if not entries:
        raise SystemExit(f"{DATA / 'manifest.yaml'}: no peptide with its files present")
    entry = next((e for e in entries if e["name"] == name), entries[0])
    for rel in [entry["topology"], *entry["replicas"]]:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA / rel, dest / rel)
    entry = dict(entry, split="train")
    (dest / "manifest.yaml").write_text(yaml.safe_dump({"dt_ps": raw.get("dt_ps", entry.get("dt_ps")), "proteins": [entry]}))
    return dest / "manifest.yaml"


def training_spec(preset: str, manifest: Path, out: Path, batch: int, device: str = "cpu"):
    """TrainingSpec for ``preset`` on the one-peptide manifest (windows of 8, strides 1 and 2)."""
    from starmd.core.specs import DataSpec, ModelSpec, TrainingSpec

    model = {"tiny": ModelSpec.tiny, "small": ModelSpec.small, "default": ModelSpec}[preset]()
    return TrainingSpec(model=model, batch_size=batch, steps=1000, warmup_steps=10, device=device, out_dir=str(out),
                        data=DataSpec(manifest=str(manifest), window=8, strides=[1, 2], val_fraction=0.0,
                                      cache_dir=str(out / "cache")))


def time_steps(trainer, steps: int) -> Clock:
    """One warm-up step, then a Clock around ``steps`` train steps."""
    trainer.train_step()
    trainer.step += 1
    with Clock() as clock:
        for _ in range(steps):
            trainer.train_step()
            trainer.step += 1
    return clock


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, spec_json: str, steps: int, threads: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank))
    set_threads(threads)
    import torch.distributed as dist

    from starmd.core.specs import TrainingSpec
    from starmd.core.train import Trainer

    trainer = Trainer(TrainingSpec.model_validate_json(spec_json), progress=False)
    clock = time_steps(trainer, steps)
    Path(f"{out}.{rank}").write_text(json.dumps({"wall": clock.wall, "cpu": clock.cpu}))
    dist.destroy_process_group()


def measure(preset: str, spec, world: int, steps: int, threads: int, tmp: Path) -> dict:
    """One row: ``world`` processes (1: in this process; 2: spawned DDP)."""
    import torch.multiprocessing as mp

    from starmd.core.model import build_model
    from starmd.core.train import Trainer

    if world == 1:
        clock = time_steps(Trainer(spec, progress=False), steps)
        wall, cpu = clock.wall, clock.cpu
    else:
        out = str(tmp / f"ddp_{preset}")
        mp.spawn(_ddp_worker, args=(world, _free_port(), spec.model_dump_json(), steps, threads, out), nprocs=world, join=True)
        res = json.loads(Path(f"{out}.0").read_text())
        wall, cpu = res["wall"], res["cpu"]
    windows = spec.batch_size * world
    frames = windows * spec.data.window
    params = sum(p.numel() for p in build_model(spec.model).parameters()) / 1e6
    return {"preset": preset, "params M": params, "processes": world, "windows/step": windows, "s/step (wall)": wall / steps,
            "s/step (CPU, rank 0)": cpu / steps, "frames/s (wall)": frames * steps / wall,
            "frames/s (CPU)": frames * steps / cpu if world == 1 else None}


def main() -> None:
    p = base_parser(__doc__)
    p.add_argument("--peptide", default=TETRA, help=f"bundled peptide to train on (default {TETRA})")
    p.add_argument("--presets", nargs="+", default=["tiny", "default"])
    p.add_argument("--batch", type=int, default=4, help="windows per process per step (default 4)")
    p.add_argument("--steps", type=int, help="timed steps (default 3 quick, 10 full)")
    p.add_argument("--no-ddp", action="store_true", help="skip the 2-process runs")
    args = p.parse_args()
    set_threads(args.threads)
    steps = args.steps or (10 if args.full else 3)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        manifest = one_peptide_manifest(args.peptide, tmp / "data")
        for preset in args.presets:
            for world in [1] if args.no_ddp or args.device == "cuda" else [1, 2]:
                spec = training_spec(preset, manifest, tmp / f"run_{preset}_{world}", args.batch, args.device)
                rows.append(measure(preset, spec, world, steps, args.threads, tmp))
                print(f"  {preset} × {world} process(es): {rows[-1]['frames/s (wall)']:.1f} frames/s (wall)", flush=True)
        import yaml

        trained_on = yaml.safe_load(Path(manifest).read_text())["proteins"][0]["name"]
    note = (f"peptide {trained_on}, windows of 8 frames (strides 1, 2), batch {args.batch} per process, float32, "
            f"{args.threads} torch thread(s) per process, gloo; {steps} timed steps after 1 warm-up")
    print_table("Training throughput (frames/s = windows × L per second)", COLUMNS, rows, note)
    write_json(args.json, "train_throughput", {"peptide": trained_on, "batch": args.batch, "window": 8, "steps": steps,
                                               "threads": args.threads, "device": args.device},
               {"train_throughput": {"columns": COLUMNS, "rows": rows, "note": note}})


if __name__ == "__main__":
    main()
