"""evaluate(): the full report on the real MD fixture, baselines, errors, atomic outputs."""

from __future__ import annotations

import json
from pathlib import Path

import mdtraj as md
import pytest

from starmd.core.specs import EvaluationSpec
from starmd.errors import InputError, StarMDError
from starmd.eval import validity as V
from starmd.eval.report import evaluate

DATA = Path(__file__).parent / "data"
TOP = DATA / "peptide.pdb"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return evaluate(DATA / "rep1.xtc", DATA / "rep2.xtc", TOP, oracle=DATA / "rep2.xtc", out=out), out


def test_report_rows_and_files(report):
    rep, out = report
    assert set(rep["summary"]) == {"reference", "generated", "oracle", "static", "random_walk"}
    assert json.loads((out / "report.json").read_text())["summary"] == json.loads(json.dumps(rep["summary"]))
    md_text = (out / "report.md").read_text()
    assert "| generated |" in md_text and "random_walk" in md_text
    assert len(rep["figures"]) == 7 and all((out / f).stat().st_size > 0 for f in rep["figures"])
    assert not list(out.rglob("*.tmp"))


def test_outliers_by_residue_are_the_validity_module_s_and_the_table_lists_them(report):
    rep, out = report
    by = rep["outliers_by_residue"]
    assert set(by) == {"reference", "generated", "oracle"}  # not the baselines: their frames are not proteins
    ref_traj = md.load(str(DATA / "rep1.xtc"), top=str(TOP))
    assert by["reference"] == V.outliers_by_residue(ref_traj)
    md_text = (out / "report.md").read_text()
    listed = {line.split(" | ")[0][2:] for line in md_text.split("## Outliers by residue (% of frames)")[1].split("## Notes")[0]
              .splitlines() if line.startswith("| ") and not line.startswith("| residue")}
    nonzero = {r for row in by.values() for kind in row.values() for r, pct in kind.items() if pct > 0}
    assert nonzero and listed == nonzero  # the table lists exactly the residues that are outliers somewhere


def test_floor_and_ceiling_ordering(report):
    s = report[0]["summary"]
    assert s["generated"] == s["oracle"]  # same file: identical numbers
    # independent MD replica beats both baselines on distribution and dynamics
    for key in ("jsd", "rmsd_lag_dev", "pairwise_rmsd_w"):
        assert s["generated"][key] < s["static"][key] and s["generated"][key] < s["random_walk"][key]
    assert s["generated"]["recall"] > s["static"]["recall"]
    assert s["static"]["ca_valid"] == 100.0 and s["random_walk"]["ca_valid"] < 50.0


def test_self_comparison_is_perfect():
    t = md.load(str(DATA / "rep1.xtc"), top=str(TOP))
    rep = evaluate(t, t, baselines=False)
    g = rep["summary"]["generated"]
    assert g["jsd"] == pytest.approx(0.0, abs=1e-12) and g["recall"] == 1.0
    assert g["rmsd_lag_dev"] == pytest.approx(0.0, abs=1e-9) and g["vamp2_dev"] == pytest.approx(0.0, abs=1e-9)


def test_mismatched_residue_count(tmp_path):
    t = md.load(str(DATA / "rep1.xtc"), top=str(TOP))
    short = t.atom_slice(t.topology.select("resid 0 to 4"))
    short.save_xtc(str(tmp_path / "short.xtc"))
    short[0].save_pdb(str(tmp_path / "short.pdb"))
    with pytest.raises(StarMDError, match="5 residues, but the reference .* has 6") as err:
        evaluate(DATA / "rep1.xtc", tmp_path / "short.xtc", TOP, generated_topology=tmp_path / "short.pdb")
    assert "\n" not in str(err.value)


def test_topology_mismatch_and_missing_file(tmp_path):
    t = md.load(str(DATA / "rep1.xtc"), top=str(TOP))
    t.atom_slice(t.topology.select("resid 0 to 4"))[0].save_pdb(str(tmp_path / "short.pdb"))
    with pytest.raises(InputError, match="rep2.xtc"):
        evaluate(DATA / "rep1.xtc", DATA / "rep2.xtc", TOP, generated_topology=tmp_path / "short.pdb")
    with pytest.raises(InputError, match="nope.xtc: generated file not found"):
        evaluate(DATA / "rep1.xtc", tmp_path / "nope.xtc", TOP)


def test_too_short(tmp_path):
    t = md.load(str(DATA / "rep1.xtc"), top=str(TOP))
    with pytest.raises(StarMDError, match="too short"):
        evaluate(t, t[:20], spec=EvaluationSpec(), baselines=False)
