"""Ablations: grid expansion, per-row specs, and a tiny end-to-end grid through `starmd ablate`
(train a few steps, roll out a few frames, evaluate, tabulate), its reuse on rerun, and null metrics
(not a crash) when the evaluation refuses a too-short trajectory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from starmd.core.specs import AblationSpec, EvaluationSpec, RolloutSpec
from starmd.errors import SpecError
from starmd.eval.ablation import HEADLINE, grid_rows, markdown, row_folder, row_name, row_specs
from starmd_cli.main import cli


def test_grid_rows_is_the_cartesian_product_in_order():
    rows = grid_rows({"model.attention": ["joint", "factorized"], "context_noise.enabled": [True, False]})
    assert rows == [{"model.attention": "joint", "context_noise.enabled": True},
                    {"model.attention": "joint", "context_noise.enabled": False},
                    {"model.attention": "factorized", "context_noise.enabled": True},
                    {"model.attention": "factorized", "context_noise.enabled": False}]
    assert grid_rows({}) == [{}] and row_name({}) == "base"
    assert row_name(rows[1]) == "attention=joint,enabled=False"
    assert row_folder(rows[1], 1) == "01_attention-joint_enabled-False"
    assert row_folder({"rollout.dt_ns": "a b/c"}, 0) == "00_dt_ns-a_b_c"
    with pytest.raises(SpecError, match="model.attention"):
        grid_rows({"model.attention": []})


def test_row_specs_route_overrides_and_follow_context_noise(tiny_training_spec, tmp_path):
    spec = AblationSpec(base=tiny_training_spec, rollout=RolloutSpec(n_frames=5))
    row = {"model.backend.kind": "e3nn_graph", "context_noise.enabled": False, "rollout.window": 4}
    train, roll, data_dt = row_specs(spec, row, tmp_path / "r")
    assert train.model.backend.kind == "e3nn_graph" and train.model.hidden == tiny_training_spec.model.hidden
    assert not train.context_noise.enabled and train.out_dir == str(tmp_path / "r" / "train")
    assert roll.window == 4 and roll.n_frames == 5
    assert roll.context_noise == 0.0  # no context noise in training → none at inference
    assert data_dt  # dt_ns not given: each protein's frame spacing
    _, roll, data_dt = row_specs(AblationSpec(base=tiny_training_spec, rollout=RolloutSpec(dt_ns=0.5, context_noise=0.2)),
                                 {}, tmp_path / "s")
    assert roll.context_noise == 0.2 and roll.dt_ns == 0.5 and not data_dt
    with pytest.raises(SpecError, match="model.attnetion"):
        row_specs(spec, {"model.attnetion": "joint"}, tmp_path / "t")


def test_markdown_shows_missing_values_as_dashes():
    metrics = dict.fromkeys(HEADLINE)
    report = {"rows": {"attention=joint": {"metrics": metrics, "train_loss": None, "errors": {"P": "too short"}}},
              "reference_rows": {}}
    text = markdown(report)
    assert "| attention=joint | – | " + " | ".join(["–"] * len(HEADLINE)) + " | 1 |" in text
    assert "- attention=joint / P: too short" in text


def _grid_file(tmp_path: Path, base, **kw) -> Path:
    spec = AblationSpec(base=base.model_copy(update={"steps": 2, "val_every": 100, "checkpoint_every": 100}),
                        grid={"model.attention": ["joint", "factorized"]}, proteins=["AFGPLK"],
                        rollout=RolloutSpec(n_frames=8, steps=2, max_ca_jump=1e6, device="cpu"),
                        evaluation=EvaluationSpec(tica_lag_ns=0.002, tica_min_pairs=5, msm_clusters=3),
                        out_dir=str(tmp_path / "ablation"), **kw)
    data = spec.to_dict()
    data["rollout"].pop("dt_ns")  # unset: the rollout follows the data's 1 ps frame spacing
    path = tmp_path / "ablation.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_tiny_ablation_end_to_end(tiny_training_spec, tmp_path):
    grid = _grid_file(tmp_path, tiny_training_spec)
    res = CliRunner().invoke(cli, ["ablate", "--grid", str(grid), "--quiet"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = tmp_path / "ablation"
    assert "wrote" in res.output and "attention=factorized" in res.output
    for name in ("ablation.md", "ablation.json", "ablation.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out / "ablation.json").read_text())
    rows = report["rows"]
    assert list(rows) == ["attention=joint", "attention=factorized"]
    joint, fact = rows["attention=joint"], rows["attention=factorized"]
    assert not joint["errors"] and not fact["errors"]
    assert all(isinstance(joint["metrics"][k], float) for k in ("jsd", "recall", "ca_aa_valid"))
    assert joint["metrics"] != fact["metrics"] and joint["train_loss"] != fact["train_loss"]
    assert set(report["reference_rows"]) == {"oracle", "static", "random_walk"}
    table = (out / "ablation.md").read_text()
    assert "| attention=joint |" in table and "| *oracle* |" in table
    # the rollout used the data's frame spacing (1 ps): 8 generated frames + the start
    import mdtraj as md

    folder = out / joint["folder"]
    gen = md.load(str(folder / "AFGPLK.xtc"), top=str(folder / "AFGPLK.pdb"))
    assert gen.n_frames == 9 and abs(float(gen.time[1] - gen.time[0]) - 1.0) < 1e-3
    assert (folder / "report_AFGPLK" / "report.json").exists()

    # rerun: finished rows are reused (row.json untouched), the table is rewritten
    stamp = (folder / "row.json").stat().st_mtime_ns
    res = CliRunner().invoke(cli, ["ablate", "--grid", str(grid), "--quiet"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert (folder / "row.json").stat().st_mtime_ns == stamp
    assert json.loads((out / "ablation.json").read_text())["rows"] == rows

    # evaluation settings the 9-frame rollouts cannot satisfy: null metrics and the reason, no crash;
    # the trained models are reused (same training spec)
    res = CliRunner().invoke(cli, ["ablate", "--grid", str(grid), "--quiet", "--set", "evaluation.tica_min_pairs=30"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = json.loads((out / "ablation.json").read_text())["rows"]
    for row in rows.values():
        assert all(v is None for v in row["metrics"].values())
        assert "too short" in row["errors"]["AFGPLK"]
    assert "## Errors" in (out / "ablation.md").read_text()


def test_ablate_cli_bad_grid_path_is_one_line(tiny_training_spec, tmp_path):
    grid = _grid_file(tmp_path, tiny_training_spec)
    res = CliRunner().invoke(cli, ["ablate", "--grid", str(grid), "--set", "grid={model.attnetion: [joint]}"])
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "model.attnetion: unknown field" in lines[0]
    assert not (tmp_path / "ablation" / "00_attnetion-joint" / "train").exists()


def test_ablate_help_has_examples():
    res = CliRunner().invoke(cli, ["ablate", "--help"])
    assert res.exit_code == 0 and "starmd ablate --grid ablation.yaml" in res.output and "model.attention" in res.output
