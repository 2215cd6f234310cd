"""CLI: `starmd train` and `starmd rollout` end to end, and their one-line errors with exit code 2."""

from __future__ import annotations

from pathlib import Path

import mdtraj as md
import yaml
from click.testing import CliRunner

from starmd.core.specs import save_spec
from starmd_cli.main import cli

START = Path(__file__).parent.parent / "eval" / "data" / "peptide.pdb"


def _invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_train_then_rollout(tiny_training_spec, tmp_path):
    spec_path = tmp_path / "train.yaml"
    save_spec(tiny_training_spec, spec_path)
    res = _invoke("train", "--spec", spec_path, "--set", "steps=2", "--quiet")
    assert res.exit_code == 0, res.output
    ckpt = Path(tiny_training_spec.out_dir) / "checkpoints" / "last.ckpt"
    assert ckpt.exists() and "trained to step 2" in res.output
    out = tmp_path / "gen.xtc"
    res = _invoke("rollout", ckpt, START, "--frames", 2, "--dt-ns", 0.01, "--steps", 2, "--out", out, "--quiet",
                  "--set", "max_ca_jump=1e6")
    assert res.exit_code == 0, res.output
    assert "2 frames" in res.output and md.load(str(out), top=str(tmp_path / "gen.pdb")).n_frames == 3


def test_train_bad_spec_field(tmp_path):
    spec_path = tmp_path / "bad.yaml"
    spec_path.write_text(yaml.safe_dump({"model": {"hiddn": 3}}))
    res = CliRunner().invoke(cli, ["train", "--spec", str(spec_path)])
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert lines == [f"error: {spec_path}: model.hiddn: unknown field"]


def test_train_manifest_with_missing_file(tiny_training_spec, tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump({"proteins": [{"name": "x", "topology": "nope.pdb", "replicas": ["nope.xtc"]}]}))
    res = CliRunner().invoke(cli, ["train", "--set", f"data.manifest={manifest}", "--set", f"out_dir={tmp_path / 'run'}", "--quiet"])
    assert res.exit_code == 2 and "nope.pdb" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_train_resume_from_checkpoint_of_other_spec(tiny_training_spec, tmp_path):
    spec_path = tmp_path / "train.yaml"
    save_spec(tiny_training_spec, spec_path)
    assert _invoke("train", "--spec", spec_path, "--set", "steps=1", "--quiet").exit_code == 0
    ckpt = Path(tiny_training_spec.out_dir) / "checkpoints" / "last.ckpt"
    before = ckpt.stat().st_mtime_ns
    res = CliRunner().invoke(cli, ["train", "--spec", str(spec_path), "--set", "model.hidden=64", "--resume", str(ckpt), "--quiet"])
    assert res.exit_code == 2 and "model.hidden: checkpoint 32 vs spec 64" in res.output
    assert ckpt.stat().st_mtime_ns == before


def test_rollout_bad_inputs(tmp_path):
    res = CliRunner().invoke(cli, ["rollout", str(tmp_path / "none.ckpt"), str(START), "--frames", "1", "--out", str(tmp_path / "g.xtc")])
    assert res.exit_code == 2 and "none.ckpt: checkpoint file not found" in res.output
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    res = CliRunner().invoke(cli, ["rollout", str(junk), str(START), "--frames", "1", "--out", str(tmp_path / "g.mp4")])
    assert res.exit_code == 2 and "unsupported output format" in res.output
