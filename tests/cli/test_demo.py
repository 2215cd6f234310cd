"""`starmd demo` runs end to end on a tiny checkpoint and a held-out protein, and fails cleanly without files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from starmd_cli.main import cli


def test_demo_end_to_end(tiny_training_spec, hexapeptide_manifest, tmp_path):
    from starmd.core.specs import apply_overrides
    from starmd.core.train import train

    result = train(apply_overrides(tiny_training_spec, ["steps=2"]), progress=False)
    manifest = yaml.safe_load(hexapeptide_manifest.read_text())
    manifest["proteins"][0]["split"] = "test"
    hexapeptide_manifest.write_text(yaml.safe_dump(manifest))
    out = tmp_path / "demo"
    res = CliRunner().invoke(cli, ["demo", "--checkpoint", str(result.last_checkpoint), "--manifest", str(hexapeptide_manifest),
                                   "--frames", "40", "--steps", "2", "--max-ca-jump", "1e6", "--out", str(out), "--no-figures", "--quiet"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "AFGPLK" in res.output and "oracle" in res.output and "static" in res.output
    assert (out / "report" / "report.json").exists() and (out / "AFGPLK_generated.xtc").exists()


def test_demo_without_checkpoint(tmp_path):
    res = CliRunner().invoke(cli, ["demo", "--checkpoint", str(tmp_path / "missing.ckpt")])
    assert res.exit_code == 2
    assert "missing.ckpt: default checkpoint not found" in res.output


def test_demo_passes_its_rollout_switches(monkeypatch):
    import starmd.demo

    seen = {}

    def fake(**kw):
        seen.update(kw)
        raise starmd.demo.InputError("stop here")

    monkeypatch.setattr(starmd.demo, "run_demo", fake)
    res = CliRunner().invoke(cli, ["demo", "--no-refine", "--sampler", "sde", "--frames", "7", "--torsion-temperature", "0.5",
                                   "--dihedral-sigma", "0.05"])
    assert res.exit_code == 2 and "stop here" in res.output
    assert seen["refine_backbone"] is False and seen["sampler"] == "sde" and seen["n_frames"] == 7
    assert seen["torsion_temperature"] == 0.5 and seen["dihedral_sigma"] == 0.05
    CliRunner().invoke(cli, ["demo"])
    assert seen["torsion_temperature"] is None and seen["dihedral_sigma"] is None  # None: the rollout spec's default


@pytest.mark.parametrize("option, field", [("--torsion-temperature", "torsion_temperature"),
                                           ("--dihedral-sigma", "dihedral_sigma")])
def test_demo_refuses_a_bad_option_in_one_line(option, field):
    root = Path(__file__).resolve().parents[2]
    res = CliRunner().invoke(cli, ["demo", "--checkpoint", str(root / "checkpoints" / "default.ckpt"), "--manifest",
                                   str(root / "data" / "manifest.yaml"), option, "0", "--frames", "2"])
    assert res.exit_code == 2 and res.output.count("\n") == 1
    assert f"{field}: Input should be greater than 0" in res.output
