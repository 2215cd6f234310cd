"""`starmd evaluate` end to end on the real MD fixture."""

from __future__ import annotations

from pathlib import Path

import mdtraj as md
from click.testing import CliRunner

from starmd_cli.main import cli

DATA = Path(__file__).resolve().parents[1] / "eval" / "data"


def test_evaluate_writes_report(tmp_path):
    out = tmp_path / "report"
    res = CliRunner().invoke(cli, ["evaluate", "--reference", str(DATA / "rep1.xtc"), "--generated", str(DATA / "rep2.xtc"),
                                   "--topology", str(DATA / "peptide.pdb"), "--out", str(out), "--set", "msm_clusters=5"])
    assert res.exit_code == 0, res.output
    assert (out / "report.json").is_file() and (out / "report.md").is_file()
    assert len(list((out / "figures").glob("*.png"))) == 7
    assert "random_walk" in res.output and "report.json" in res.output


def test_evaluate_mismatched_residues_exits_2(tmp_path):
    t = md.load(str(DATA / "rep1.xtc"), top=str(DATA / "peptide.pdb"))
    short = t.atom_slice(t.topology.select("resid 0 to 4"))
    short.save_xtc(str(tmp_path / "short.xtc"))
    short[0].save_pdb(str(tmp_path / "short.pdb"))
    res = CliRunner().invoke(cli, ["evaluate", "--reference", str(DATA / "rep1.xtc"), "--generated", str(tmp_path / "short.xtc"),
                                   "--topology", str(DATA / "peptide.pdb"), "--generated-topology", str(tmp_path / "short.pdb"),
                                   "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "residues" in lines[0]
    assert not (tmp_path / "r" / "report.json").exists()


def test_evaluate_help_has_examples():
    res = CliRunner().invoke(cli, ["evaluate", "--help"])
    assert res.exit_code == 0 and "starmd evaluate --reference" in res.output
