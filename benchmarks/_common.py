"""Helpers shared by the benchmark scripts: threads, machine info, start structures, tables, JSON.

Every benchmark script imports this module first (``from _common import ...``; the scripts are run
as ``python benchmarks/NAME.py``, so this folder is on ``sys.path``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
TETRA = "YPGE"  # a held-out tetrapeptide of the bundled data
CHIGNOLIN = "GYDPETGTWG"  # the 10-residue held-out peptide (chignolin sequence)
SEQUENCE_CYCLE = "ACDEFGHIKLMNQRSTVWY"  # every standard residue except Pro (helix breaker)


def set_threads(n: int = 1) -> None:
    """Pin torch (and the BLAS libraries it uses) to ``n`` threads: the machine is shared."""
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    os.environ.setdefault("MKL_NUM_THREADS", str(n))
    import torch

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # already set in this process
        pass


def machine() -> dict:
    """What the numbers were measured on (CPU, cores, memory, torch, GPU, date, load)."""
    import torch

    mem_gib = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_gib = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem_gib,
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def base_parser(description: str) -> argparse.ArgumentParser:
    """argparse with the options every benchmark has: --full, --json PATH, --threads."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="the big ranges (slow); default: quick mode")
    p.add_argument("--json", metavar="PATH", help="also write the results (rows + settings + machine) as JSON")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="torch device (default cpu; on cuda read the wall columns)")
    return p


def helix_pdb(n_residues: int, path: Path) -> Path:
    """Write an ideal α-helix of ``n_residues`` (sequence cycles through 19 residue types) as a PDB."""
    import PeptideBuilder

    seq = (SEQUENCE_CYCLE * (n_residues // len(SEQUENCE_CYCLE) + 1))[:n_residues]
    return _save_peptide(lambda: PeptideBuilder.make_structure(seq, [-57.0] * (n_residues - 1), [-47.0] * (n_residues - 1)), path)


def _save_peptide(build, path: Path) -> Path:
    """Build a Bio.PDB structure with ``build()``, add the terminal OXT and save it as a PDB at ``path``."""
    import warnings

    import PeptideBuilder
    from Bio.PDB import PDBIO

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        structure = build()
        PeptideBuilder.add_terminal_OXT(structure)
    io = PDBIO()
    io.set_structure(structure)
    path.parent.mkdir(parents=True, exist_ok=True)
    io.save(str(path))
    return path


class Clock:
    """Wall and CPU seconds of a ``with`` block (CPU: ``time.process_time``, all threads of this process).

    On a shared machine wall time includes waiting for a core; CPU time of a 1-thread process is
    what the work itself costs, so the tables report both.
    """

    def __enter__(self) -> Clock:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def extended_pdb(sequence: str, path: Path) -> Path:
    """Write a fully extended peptide of ``sequence`` (heavy atoms + OXT, as ``starmd simulate`` builds it) as a PDB."""
    import PeptideBuilder

    return _save_peptide(lambda: PeptideBuilder.make_extended_structure(sequence), path)


def timed(fn: Callable[[], object]) -> tuple[Clock, object]:
    """(Clock, result) of one call of ``fn``."""
    with Clock() as c:
        out = fn()
    return c, out


def mib(nbytes: float) -> float:
    return nbytes / 1024**2


def print_table(title: str, columns: Sequence[str], rows: Sequence[dict], note: str | None = None) -> None:
    """A rich table of ``rows`` (dicts keyed by ``columns``); floats get 4 significant digits."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=note, caption_justify="left")
    for c in columns:
        table.add_column(c, justify="right")
    for r in rows:
        table.add_row(*(_fmt(r.get(c)) for c in columns))
    Console(width=160).print(table)


def markdown_table(columns: Sequence[str], rows: Sequence[dict]) -> str:
    """The same table as GitHub Markdown (for BENCHMARKS.md)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 1e5 or abs(v) < 1e-3:
            return f"{v:.3g}"
        return f"{v:.4g}"
    return str(v)


def write_json(path: str | None, name: str, settings: dict, tables: dict[str, dict]) -> None:
    """Write ``{benchmark, settings, machine, tables: {name: {columns, rows}}}`` to ``path`` (if given)."""
    if not path:
        return
    out = {"benchmark": name, "settings": settings, "machine": machine(), "tables": tables}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(out, indent=1, default=str) + "\n")
