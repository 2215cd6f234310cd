"""The bundled MD data set is what data/README.md says it is: every entry loads, the split is by
peptide, the held-out peptides have the documented lengths, and the folder stays small."""

from __future__ import annotations

from pathlib import Path

import mdtraj as md
import numpy as np
import pytest
import yaml

DATA = Path(__file__).resolve().parent.parent / "data"
MANIFEST = yaml.safe_load((DATA / "manifest.yaml").read_text())
ENTRIES = {e["name"]: e for e in MANIFEST["proteins"]}
LONG = yaml.safe_load((DATA / "manifest_long.yaml").read_text())  # + the 10-12-mers the default model trains on
VALIDATION = yaml.safe_load((DATA / "manifest_validation.yaml").read_text())  # for choosing rollout settings
ALL = {e["name"]: e for e in LONG["proteins"] + VALIDATION["proteins"]}
# held-out peptides: frames per replica at 10 ps (data/README.md)
TEST_FRAMES = {"YPGE": 300, "FDKA": 300, "HSTV": 300, "GYDPETGTWG": 500}


def test_split_is_by_peptide_and_the_test_set_is_the_documented_one():
    assert {n for n, e in ENTRIES.items() if e["split"] == "test"} == set(TEST_FRAMES)
    assert {e["split"] for e in ENTRIES.values()} == {"train", "test"}
    assert len(ENTRIES) == len(MANIFEST["proteins"])  # no peptide listed twice
    train_seqs = "".join(n for n, e in ENTRIES.items() if e["split"] == "train")
    assert set(train_seqs) == set("ACDEFGHIKLMNPQRSTVWY")  # every amino acid is trained on
    assert any(len(n) >= 10 for n, e in ENTRIES.items() if e["split"] == "test")


def test_the_long_manifest_is_the_bundled_one_plus_training_peptides():
    assert LONG["proteins"][: len(MANIFEST["proteins"])] == MANIFEST["proteins"]  # the bundled entries, unchanged
    extra = LONG["proteins"][len(MANIFEST["proteins"]):]
    assert extra and all(e["split"] == "train" and len(e["name"]) >= 10 for e in extra)


def test_the_validation_peptide_is_in_no_training_manifest():
    names = [e["name"] for e in VALIDATION["proteins"]]
    assert names == ["VDNYYLDTNP"]
    assert not set(names) & {e["name"] for e in LONG["proteins"]}  # manifest_long includes manifest.yaml


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_entry_loads_with_two_replicas_saved_every_10_ps(name):
    e = ALL[name]
    top = md.load_topology(str(DATA / e["topology"]))
    assert "".join(r.code for r in top.residues) == name  # the folder is named by its sequence
    assert e["dt_ps"] == 10 and len(e["replicas"]) == 2
    frames = []
    for rep in e["replicas"]:
        traj = md.load(str(DATA / rep), top=top)
        assert np.allclose(np.diff(traj.time), 10.0)
        assert not top.select("element H").size  # heavy atoms only
        frames.append(traj.n_frames)
    if name in TEST_FRAMES:
        assert frames == [TEST_FRAMES[name]] * 2
    else:
        assert min(frames) >= 50


def test_the_data_set_stays_small():
    size = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert size < 30 * 2**20, f"data/ is {size / 2**20:.1f} MiB"
