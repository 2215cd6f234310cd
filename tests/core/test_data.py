"""Trajectory ingestion, manifests, cached featurization, windows and bad-input errors."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest
import torch
import yaml

from starmd.core import data as D
from starmd.core.protein import featurize
from starmd.core.specs import DataSpec
from starmd.errors import InputError


# ----------------------------------------------------------------------------- helpers
def _dataset_folder(tmp_path: Path, peptide_pdb: Path, peptide_xtc: Path) -> Path:
    """Three proteins (different frame ranges / lengths of the fixture) + one test protein."""
    root = tmp_path / "set"
    t = md.load(str(peptide_xtc), top=str(peptide_pdb))
    specs = {"P1": (t[:12], None), "P2": (t[2:16], None), "P3": (t[:10], 12), "P4": (t[4:], None)}
    for name, (traj, n_res) in specs.items():
        (root / name).mkdir(parents=True)
        if n_res:
            traj = traj.atom_slice(traj.topology.select(f"resid < {n_res}"))
        traj[0].save_pdb(str(root / name / f"{name}.pdb"))
        traj.save_xtc(str(root / name / f"{name}_R1.xtc"))
        traj[::-1].save_xtc(str(root / name / f"{name}_R2.xtc"))
    manifest = {"dt_ps": 10, "proteins": [
        {"name": n, "topology": f"{n}/{n}.pdb", "replicas": [f"{n}/{n}_R1.xtc", f"{n}/{n}_R2.xtc"]} for n in specs]}
    manifest["proteins"][1]["dt_ps"] = 20
    manifest["proteins"][3]["split"] = "test"
    (root / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    return root


@pytest.fixture
def dataset_root(tmp_path, peptide_pdb, peptide_xtc):
    return _dataset_folder(tmp_path, peptide_pdb, peptide_xtc)


def _spec(root: Path, cache: Path, **kw) -> DataSpec:
    base = dict(manifest=str(root / "manifest.yaml"), window=4, strides=[1, 2, 4], val_proteins=["P3"], cache_dir=str(cache))
    base.update(kw)
    return DataSpec(**base)


# ----------------------------------------------------------------------------- load_trajectory
def test_load_trajectory_pdb_and_xtc(peptide_pdb, peptide_xtc):
    pt = D.load_trajectory(peptide_pdb, peptide_xtc)
    assert (pt.n_frames, pt.n_residues, pt.sequence, pt.dt_ps, pt.name) == (16, 20, "MKWTDYEGAHRSNVQPLIFC", 1.0, "peptide")
    single = D.load_trajectory(peptide_pdb)
    assert single.n_frames == 1 and single.dt_ps is None
    assert D.load_trajectory(peptide_pdb, peptide_xtc, dt_ps=10).dt_ps == 10


def test_load_strips_hydrogens_and_solvent(tmp_path, peptide_pdb):
    t = md.load(str(peptide_pdb))
    top = t.topology.copy()
    top.add_atom("H", md.element.hydrogen, top.residue(0))
    wat = top.add_residue("HOH", top.add_chain())
    top.add_atom("O", md.element.oxygen, wat)
    ion = top.add_residue("NA", top.add_chain())
    top.add_atom("NA", md.element.sodium, ion)
    xyz = np.concatenate([t.xyz, np.full((1, 3, 3), 0.5, np.float32)], axis=1)
    path = tmp_path / "solvated.pdb"
    md.Trajectory(xyz, top).save_pdb(str(path))
    pt = D.load_trajectory(path)
    assert pt.traj.n_atoms == t.n_atoms and pt.n_residues == 20


def test_aliases_are_mapped(tmp_path, peptide_pdb):
    text = peptide_pdb.read_text().replace("HIS A  10", "HSD A  10").replace("MET A   1", "MSE A   1")
    path = tmp_path / "alias.pdb"
    path.write_text(text)
    assert D.load_trajectory(path).sequence == "MKWTDYEGAHRSNVQPLIFC"


# ----------------------------------------------------------------------------- bad input
def _bad(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text) if isinstance(text, str) else p.write_bytes(text)
    return p


def test_bad_inputs_raise_input_error_naming_the_file(tmp_path, peptide_pdb, peptide_xtc):
    pdb = peptide_pdb.read_text()
    atoms = [line for line in pdb.splitlines() if line.startswith("ATOM")]
    cases = {
        "missing file": (tmp_path / "nope.pdb", None, "not found"),
        "empty file": (_bad(tmp_path, "empty.pdb", ""), None, "empty"),
        "garbage": (peptide_pdb, _bad(tmp_path, "garbage.xtc", b"\x00\x01garbage" * 50), "cannot read"),
        "truncated": (peptide_pdb, _bad(tmp_path, "cut.xtc", peptide_xtc.read_bytes()[:500]), "cannot read"),
        "missing CA": (_bad(tmp_path, "noca.pdb", pdb.replace(atoms[1] + "\n", "")), None, "lacks backbone atom"),
        "non-standard": (_bad(tmp_path, "xyz.pdb", pdb.replace("LYS A   2", "XYZ A   2")), None, "XYZ 2"),
    }
    short = md.load(str(peptide_pdb))
    short = short.atom_slice(short.topology.select("resid < 19"))
    short.save_pdb(str(tmp_path / "short.pdb"))
    cases["atom count mismatch"] = (tmp_path / "short.pdb", peptide_xtc, "atom count")
    nan = md.load(str(peptide_xtc), top=str(peptide_pdb))[:3]
    nan.xyz[1, 5] = np.nan
    nan.save_dcd(str(tmp_path / "nan.dcd"))
    cases["NaN"] = (peptide_pdb, tmp_path / "nan.dcd", "NaN")
    for what, (top, traj, expected) in cases.items():
        with pytest.raises(InputError) as info:
            D.load_trajectory(top, traj)
        msg = str(info.value)
        named = Path(traj if traj is not None else top)
        assert "\n" not in msg and named.name in msg and expected in msg, f"{what}: {msg}"


def test_manifest_missing_file(tmp_path, dataset_root):
    path = dataset_root / "manifest.yaml"
    data = yaml.safe_load(path.read_text())
    data["proteins"][0]["replicas"].append("P1/gone.xtc")
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match=r"manifest\.yaml.*P1.*gone\.xtc.*not found"):
        D.load_manifest(path)


def test_bad_manifest_text(tmp_path):
    with pytest.raises(InputError, match="m.yaml"):
        D.load_manifest(_bad(tmp_path, "m.yaml", "proteins: [unclosed"))
    with pytest.raises(InputError, match="m2.yaml.*proteins"):
        D.load_manifest(_bad(tmp_path, "m2.yaml", "name: x"))


# ----------------------------------------------------------------------------- manifests
def test_yaml_csv_and_atlas_manifests_agree(dataset_root, tmp_path, peptide_pdb, peptide_xtc):
    yml = D.load_manifest(dataset_root / "manifest.yaml")
    rows = ["name,topology,replicas,dt_ps,split"] + [
        f"{e.name},{e.topology.relative_to(dataset_root)},{';'.join(str(r.relative_to(dataset_root)) for r in e.replicas)},{e.dt_ps},{e.split}"
        for e in yml]
    (dataset_root / "manifest.csv").write_text("\n".join(rows) + "\n")
    csv_entries = D.load_manifest(dataset_root / "manifest.csv")
    assert [(e.name, e.topology, e.replicas, e.dt_ps, e.split) for e in csv_entries] == \
        [(e.name, e.topology, e.replicas, e.dt_ps, e.split) for e in yml]
    assert [e.dt_ps for e in yml] == [10.0, 20.0, 10.0, 10.0] and yml[3].split == "test"
    atlas = tmp_path / "atlas"
    atlas.mkdir()
    shutil.copy(peptide_pdb, atlas / "1abc_A.pdb")
    for r in (1, 2, 3):
        shutil.copy(peptide_xtc, atlas / f"1abc_A_prod_R{r}_fit.xtc")
    (entry,) = D.load_atlas_dir(atlas)
    assert entry.name == "1abc_A" and len(entry.replicas) == 3 and entry.dt_ps == 10.0


# ----------------------------------------------------------------------------- windows and cache
def test_windows_have_the_right_frames_and_dt(dataset_root, cache_dir):
    ds = D.WindowDataset(_spec(dataset_root, cache_dir), "train")
    assert ds.names == ["P1", "P2"]
    # P1: 12 frames, P2: 14 frames, 2 replicas each; L=4 → windows per stride k: T - 3k
    expected = sum(2 * (T - 3 * k) for T in (12, 14) for k in (1, 2, 4) if T - 3 * k > 0)
    assert len(ds) == expected
    ref = featurize(D.load_trajectory(dataset_root / "P2/P2.pdb", dataset_root / "P2/P2_R1.xtc"))
    for r, k, start in [(2, 2, 3), (2, 4, 1), (2, 1, 0)]:
        item = ds[ds.index_of(r, k, start)]
        assert item["name"] == "P2" and item["stride"] == k and item["start"] == start
        assert item["dt_ns"].item() == pytest.approx(k * 20 / 1000)
        frames = list(range(start, start + 3 * k + 1, k))
        assert torch.equal(item["atom14"], ref.atom14[frames]) and torch.equal(item["trans"], ref.frames.trans[frames])
        assert torch.equal(item["torsions"], ref.torsions[frames]) and torch.equal(item["rots"], ref.frames.rots[frames])
        assert item["rots"].shape == (4, 20, 3, 3) and item["atom14_mask"].shape == (20, 14) and item["aatype"].dtype == torch.long
    assert ds.locate(len(ds) - 1) == (3, 4, 14 - 12 - 1)


def test_cache_is_reused(dataset_root, cache_dir, monkeypatch):
    spec = _spec(dataset_root, cache_dir)
    first = D.WindowDataset(spec, "train")
    assert first.store.n_featurized == 4
    assert not list((cache_dir / "features").glob("*.tmp-*"))  # atomic writes leave no temporaries

    def boom(*a, **k):
        raise AssertionError("featurize called on a cache hit")

    monkeypatch.setattr(D, "featurize", boom)
    second = D.WindowDataset(spec, "train")
    assert second.store.n_featurized == 0 and len(second) == len(first)
    assert torch.equal(second[5]["atom14"], first[5]["atom14"])


def test_split_by_protein(dataset_root, cache_dir):
    spec = _spec(dataset_root, cache_dir, val_proteins=None, val_fraction=0.34, split_seed=3)
    parts = {s: set(D.WindowDataset(spec, s).names) for s in ("train", "val", "test")}
    assert parts["test"] == {"P4"}
    assert len(parts["val"]) == 1 and parts["train"] | parts["val"] == {"P1", "P2", "P3"}
    assert not (parts["train"] & parts["val"]) and not ((parts["train"] | parts["val"]) & parts["test"])
    assert set(D.WindowDataset(_spec(dataset_root, cache_dir), "val").names) == {"P3"}


def test_long_proteins_are_skipped(dataset_root, cache_dir):
    with pytest.warns(UserWarning, match="P1: 20 residues"):
        ds = D.WindowDataset(_spec(dataset_root, cache_dir, max_residues=15, val_proteins=["P2"]), "train")
    assert ds.names == ["P3"]


def test_sampler_is_log_uniform_over_available_strides(dataset_root, cache_dir):
    ds = D.WindowDataset(_spec(dataset_root, cache_dir, strides=[1, 2, 4, 8]), "val")  # P3: 10 frames → k ∈ {1, 2}
    counts = Counter(ds[i]["stride"] for i in D.LogUniformWindowSampler(ds, 400, seed=0))
    assert set(counts) == {1, 2} and abs(counts[1] - counts[2]) < 80
    again = list(D.LogUniformWindowSampler(ds, 20, seed=0))
    assert again == list(D.LogUniformWindowSampler(ds, 20, seed=0))


def test_collate_pads_residues(dataset_root, cache_dir):
    train = D.WindowDataset(_spec(dataset_root, cache_dir), "train")
    val = D.WindowDataset(_spec(dataset_root, cache_dir), "val")
    batch = D.collate_windows([train[0], val[0]])
    assert batch["rots"].shape == (2, 4, 20, 3, 3) and batch["atom14"].shape == (2, 4, 20, 14, 3)
    assert batch["mask"].tolist() == [[True] * 20, [True] * 12 + [False] * 8]
    assert torch.equal(batch["rots"][1, :, 12:], torch.eye(3).expand(4, 8, 3, 3))
    assert not batch["atom14_mask"][1, 12:].any() and batch["dt_ns"].shape == (2,) and batch["name"] == ["P1", "P3"]
