"""CLI: `starmd prepare` featurizes and caches a data set (training then reads the cache), prints a
table, and fails with one line and exit 2 on bad input; `starmd bench --help`."""

from __future__ import annotations

import yaml
from click.testing import CliRunner

from starmd.core.data import WindowDataset
from starmd.core.specs import save_spec
from starmd_cli.main import cli


def _invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def test_prepare_caches_what_training_reads(tiny_training_spec, hexapeptide_manifest, tmp_path):
    cache = tmp_path / "prep-cache"
    res = _invoke("prepare", "--manifest", hexapeptide_manifest, "--cache-dir", cache, "--quiet")
    assert res.exit_code == 0, res.output
    row = next(line for line in res.output.splitlines() if "AFGPLK" in line)
    assert [c.strip() for c in row.strip("│ ").split("│")][:7] == ["AFGPLK", "train", "2", "400", "6", "1", "1566"]  # windows: 2 × (193 + 186 + 172 + 144 + 88), L=8
    assert "featurized 2, 0 already cached" in res.output and f"cache: {cache / 'features'}" in res.output
    assert len([p for p in (cache / "features").iterdir() if (p / "meta.json").exists()]) == 2

    res = _invoke("prepare", "--manifest", hexapeptide_manifest, "--cache-dir", cache, "--quiet")
    assert res.exit_code == 0 and "featurized 0, 2 already cached" in res.output

    data = tiny_training_spec.data.model_copy(update={"cache_dir": str(cache)})
    dataset = WindowDataset(data, split="train")
    assert len(dataset) > 0 and dataset.store.n_featurized == 0  # training found every replica in the cache


def test_prepare_reads_the_data_section_of_a_training_spec(tiny_training_spec, tmp_path):
    spec_path = tmp_path / "train.yaml"
    save_spec(tiny_training_spec, spec_path)
    res = _invoke("prepare", "--spec", spec_path, "--set", "data.strides=[1]", "--quiet")
    assert res.exit_code == 0, res.output
    assert "396 windows of 3 frames (strides [1])" in res.output  # 2 replicas × (200 − 2)
    assert f"cache: {tmp_path / 'cache' / 'features'}" in res.output


def test_prepare_missing_replica_is_one_line(tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump({"dt_ps": 10, "proteins": [{"name": "x", "topology": "x.pdb", "replicas": ["x_R1.xtc"]}]}))
    res = _invoke("prepare", "--manifest", manifest, "--cache-dir", tmp_path / "c")
    assert res.exit_code == 2
    lines = _lines(res.output)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "x.pdb" in lines[0] and "not found" in lines[0]


def test_prepare_corrupt_trajectory_is_one_line(tmp_path):
    from pathlib import Path

    pdb = Path(__file__).parent.parent / "eval" / "data" / "peptide.pdb"
    bad = tmp_path / "bad.xtc"
    bad.write_bytes(b"not an xtc file" * 10)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump({"dt_ps": 1, "proteins": [{"name": "p", "topology": str(pdb), "replicas": [str(bad)]}]}))
    res = _invoke("prepare", "--manifest", manifest, "--cache-dir", tmp_path / "c", "--quiet")
    assert res.exit_code == 2
    lines = _lines(res.output)
    assert len(lines) == 1 and str(bad) in lines[0]
    assert not list((tmp_path / "c").rglob("meta.json"))


def test_prepare_without_data_is_one_line(tmp_path):
    res = _invoke("prepare", "--cache-dir", tmp_path / "c")
    assert res.exit_code == 2 and _lines(res.output) == ["error: data: set data.manifest or data.atlas_dir"]


def test_prepare_and_bench_help_show_examples():
    res = _invoke("prepare", "--help")
    assert res.exit_code == 0 and "starmd prepare --manifest data/manifest.yaml" in res.output
    res = _invoke("bench", "--help")
    assert res.exit_code == 0 and "starmd bench --full" in res.output and "run_all.py" in res.output
