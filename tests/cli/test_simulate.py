"""`starmd simulate`: help, a tiny run, errors as one line with exit status 2."""

from __future__ import annotations

import mdtraj as md
import yaml
from click.testing import CliRunner

from starmd_cli.main import cli

FAST = ["--set", "save_ps=1", "--set", "chunk_ps=2", "--set", "equilibration_ps=0", "--set", "cpu_threads=1",
        "--set", "platform=CPU", "--set", "minimize_iterations=200"]


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_help_has_examples():
    res = invoke("simulate", "--help")
    assert res.exit_code == 0
    assert "Examples:" in res.output and "--sequence" in res.output and "--pdb" in res.output


def test_tiny_run(tmp_path):
    res = invoke("simulate", "--sequence", "AAAA", "--out", str(tmp_path), "--name", "ala4", "--length-ns", "0.002",
                 "--replicas", "1", "--split", "test", "--quiet", *FAST)
    assert res.exit_code == 0, res.output
    assert "ala4: 1 replicas × 2 frames × 21 heavy atoms" in res.output
    traj = md.load(str(tmp_path / "ala4" / "ala4_R1.xtc"), top=str(tmp_path / "ala4" / "ala4.pdb"))
    assert traj.n_frames == 2 and traj.n_atoms == 21
    entry = yaml.safe_load((tmp_path / "manifest.yaml").read_text())["proteins"][0]
    assert entry["name"] == "ala4" and entry["split"] == "test"


def test_spec_file(tmp_path):
    spec = tmp_path / "sim.yaml"
    spec.write_text(yaml.safe_dump({"save_ps": 1, "chunk_ps": 1, "length_ns": 0.001, "equilibration_ps": 0,
                                    "replicas": 1, "cpu_threads": 1, "platform": "CPU", "minimize_iterations": 100}))
    res = invoke("simulate", "--sequence", "GG", "--out", str(tmp_path / "o"), "--spec", str(spec), "--quiet")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "GG" / "GG_R1.xtc").exists()


def one_error_line(res):
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output
    return lines[0]


def test_errors_exit_2(tmp_path):
    assert "'Z' at position 3" in one_error_line(invoke("simulate", "--sequence", "AAZA", "--out", str(tmp_path)))
    assert "missing.pdb" in one_error_line(invoke("simulate", "--pdb", str(tmp_path / "missing.pdb"), "--out", str(tmp_path)))
    assert "exactly one" in one_error_line(invoke("simulate", "--out", str(tmp_path)))
    assert "unknown field" in one_error_line(invoke("simulate", "--sequence", "AAAA", "--set", "nope=1", "--out", str(tmp_path)))
    assert "save_ps" in one_error_line(invoke("simulate", "--sequence", "AAAA", "--set", "save_ps=0.003", "--out", str(tmp_path)))
