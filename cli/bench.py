"""``starmd bench``: run the benchmark suite (``benchmarks/run_all.py``) with this Python."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from starmd_cli.common import handle_errors

EXAMPLES = """
\b
Examples:
  starmd bench                      # the quick suite (minutes on a laptop CPU)
  starmd bench --full               # every size and horizon of BENCHMARKS.md (long)
  starmd bench -- --help            # options of benchmarks/run_all.py itself (after --)

\b
Runs benchmarks/run_all.py of the source checkout (found from the current folder, else next to
the installed package) in a subprocess with this interpreter, streaming its output, and exits with
its exit status. Results and how to read them: BENCHMARKS.md.
"""

SCRIPT = Path("benchmarks") / "run_all.py"


def find_script() -> Path | None:
    """benchmarks/run_all.py under the current folder, else under the checkout that holds the package."""
    import starmd

    for root in (Path.cwd(), Path(starmd.__file__).resolve().parent.parent):
        if (root / SCRIPT).is_file():
            return root / SCRIPT
    return None


@click.command(epilog=EXAMPLES, context_settings={"ignore_unknown_options": True})
@click.option("--full", is_flag=True, help="the full suite (passed through to run_all.py)")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
@handle_errors
def bench(full, extra):
    """Benchmark rollout speed and memory, cache vs recomputation, starmd vs OpenMM, training throughput."""
    from starmd.errors import InputError

    script = find_script()
    if script is None:
        raise InputError(f"{SCRIPT}: benchmark script not found (run from the starmd source checkout)")
    cmd = [sys.executable, str(script), *(["--full"] if full else []), *extra]
    click.echo(" ".join(cmd), err=True)
    rc = subprocess.call(cmd, cwd=script.parent.parent)
    sys.exit(rc)
