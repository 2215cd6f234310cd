"""The README is a test: its ```python blocks run, its CLI lines parse, and its first lines give the
two commands a new user (and the CI) runs.

Each ```python block runs on its own (fresh namespace) in a scratch folder that links the
repository's ``tests/``, ``data/`` and ``checkpoints/``, so the README's relative paths work and
nothing is written into the checkout. A block containing ``# skip-test`` is only compiled (long jobs,
files that only exist after ``make demo``). Every ``starmd ...`` line of a ```bash block must name a
real subcommand with real options (checked with ``--help`` appended, which parses without running).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SKIP = "# skip-test"


def fenced_blocks(text: str, language: str) -> list[tuple[int, str]]:
    """(first line number, code) of every ```language fenced block."""
    blocks, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == f"```{language}":
            start, body = i + 2, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            blocks.append((start, "\n".join(body) + "\n"))
        i += 1
    return blocks


TEXT = README.read_text()
PYTHON = fenced_blocks(TEXT, "python")
BASH = fenced_blocks(TEXT, "bash")


def test_readme_starts_with_the_two_commands():
    head = TEXT.splitlines()
    assert head[0].startswith("# ") and head[2] == "```bash" and head[5] == "```"  # the first lines
    block = head[3:5]
    assert block[0].split("#")[0].strip() == "make setup && make demo"
    assert block[1].split("#")[0].strip() == "make test"


def test_readme_has_blocks_to_run():
    runnable = [b for b in PYTHON if SKIP not in b[1]]
    assert len(runnable) >= 4 and len(PYTHON) > len(runnable)


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    for name in ("tests", "data", "checkpoints"):
        if (ROOT / name).exists():
            (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    # README blocks may register toy backends: restore the registry afterwards
    from starmd.backends import base

    saved = base.registered_backends()  # built-in backends loaded, then copied
    yield tmp_path
    base._REGISTRY.clear()
    base._REGISTRY.update(saved)


@pytest.mark.parametrize("line,code", PYTHON, ids=[f"README.md:{line}" for line, _ in PYTHON])
def test_readme_python_block(line, code, scratch):
    compiled = compile(code, f"README.md:{line}", "exec")
    if SKIP in code:
        pytest.skip(f"README.md:{line} is marked {SKIP}")
    namespace = {"__name__": f"readme_block_{line}"}
    exec(compiled, namespace)  # noqa: S102 - executing the README is the point


def _starmd_commands() -> list[tuple[int, list[str]]]:
    commands = []
    for line, code in BASH:
        joined = re.sub(r"\\\n\s*", " ", code)
        for offset, raw in enumerate(joined.splitlines()):
            if SKIP in raw:
                continue
            for part in raw.split("&&"):
                words = shlex.split(part, comments=True)
                if "starmd_cli.main" in words:  # torchrun ... -m starmd_cli.main train ...
                    words = ["starmd", *words[words.index("starmd_cli.main") + 1:]]
                if words and words[0] == "starmd":
                    commands.append((line + offset, words[1:]))
    return commands


COMMANDS = _starmd_commands()


def test_readme_names_every_subcommand():
    named = {args[0] for _, args in COMMANDS if args}
    assert {"simulate", "prepare", "train", "rollout", "evaluate"} <= named


@pytest.mark.parametrize("line,args", COMMANDS, ids=[f"README.md:{line}:{a[0] if a else ''}" for line, a in COMMANDS])
def test_readme_cli_line_parses(line, args):
    from starmd_cli.main import cli

    res = CliRunner().invoke(cli, [*args, "--help"])
    assert res.exit_code == 0, f"README.md:{line}: starmd {' '.join(args)}\n{res.output}"
