"""Run every benchmark (quick mode by default) and collect their JSON; ``make bench`` calls this.

Each benchmark runs in its own Python process (fresh thread settings and memory; DDP spawns
cleanly), prints its table, and writes ``OUT/NAME.json``. At the end the tables are printed again
as Markdown (the format of BENCHMARKS.md) and written to ``OUT/summary.md``.

    .venv/bin/python benchmarks/run_all.py                    # quick mode, ~10 min on 2 shared CPU cores
    .venv/bin/python benchmarks/run_all.py --full             # the big ranges (much longer)
    .venv/bin/python benchmarks/run_all.py --only md_speed cache_growth
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["rollout_scaling", "cache_growth", "cache_vs_recompute", "md_speed", "train_throughput"]


def run_one(name: str, out: Path, full: bool, threads: int, device: str = "cpu") -> tuple[int, float]:
    """Run ``benchmarks/NAME.py``; (exit code, wall seconds)."""
    cmd = [sys.executable, str(HERE / f"{name}.py"), "--json", str(out / f"{name}.json"), "--threads", str(threads)]
    cmd += ["--device", device]
    if device == "cuda" and name == "md_speed":
        cmd += ["--md-platform", "CUDA"]
    if full:
        cmd.append("--full")
    print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, cwd=HERE.parent)
    return rc, time.perf_counter() - t0


def summary(out: Path, names: list[str], walls: dict[str, float]) -> str:
    """Markdown of every table found in ``OUT/NAME.json``."""
    sys.path.insert(0, str(HERE))
    from _common import markdown_table

    parts = []
    for name in names:
        path = out / f"{name}.json"
        if not path.exists():
            parts.append(f"### {name}\n\n(failed: no results)\n")
            continue
        data = json.loads(path.read_text())
        m = data["machine"]
        parts.append(f"### {name}\n\n{m['date']} · {m['cpu']} · {m['cores']} cores · torch {m['torch']} · "
                     f"{m['torch_threads']} thread(s) · load average {m['loadavg'][0]:.1f} · {walls.get(name, 0):.0f} s\n")
        for tname, table in data["tables"].items():
            parts.append(f"{tname}:\n\n{markdown_table(table['columns'], table['rows'])}\n")
            if table.get("note"):
                parts.append(f"_{table['note']}_\n")
    return "\n".join(parts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="big ranges (slow)")
    p.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these")
    p.add_argument("--out", default=str(HERE / "results"), help="folder for the JSON results (default benchmarks/results)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="torch device (cuda: also OpenMM on CUDA)")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.only or BENCHMARKS
    walls, failed = {}, []
    t0 = time.perf_counter()
    for name in names:
        rc, walls[name] = run_one(name, out, args.full, args.threads, args.device)
        if rc:
            failed.append(name)
    text = summary(out, names, walls)
    (out / "summary.md").write_text(text)
    print("\n" + text)
    print(f"total {time.perf_counter() - t0:.0f} s; results in {out}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
