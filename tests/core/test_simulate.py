"""Reference MD (starmd.core.simulate): files, manifest, resume, bad input. A few ps of a tetrapeptide."""

from __future__ import annotations

import importlib.util

import mdtraj as md
import numpy as np
import pytest
import yaml

from starmd.core.simulate import check_sequence, simulate, update_manifest
from starmd.core.specs import SimulateSpec
from starmd.errors import InputError, SpecError, StarMDError

# 1 ps frames, 2 ps chunks, no equilibration, one CPU thread: ~1 s of MD per replica
FAST = ["save_ps=1", "chunk_ps=2", "equilibration_ps=0", "cpu_threads=1", "platform=CPU", "minimize_iterations=200"]
# uncapped peptides with charged termini: heavy atoms per residue + the terminal OXT
HEAVY = {"A": 5, "G": 4, "P": 7, "F": 11, "K": 9, "E": 9}


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("md")
    result = simulate("AGPF", out=out, length_ns=0.004, replicas=2, overrides=FAST, split="test")
    return out, result


def test_files_readable_by_mdtraj(run):
    out, result = run
    n_atoms = sum(HEAVY[c] for c in "AGPF") + 1
    assert result.n_atoms == n_atoms and result.n_frames == 4
    top = md.load(str(out / "AGPF" / "AGPF.pdb"))
    assert top.n_atoms == n_atoms and top.n_residues == 4
    assert not any(a.element.symbol == "H" for a in top.topology.atoms)
    assert [r.name for r in top.topology.residues] == ["ALA", "GLY", "PRO", "PHE"]
    for r in (1, 2):
        traj = md.load(str(out / "AGPF" / f"AGPF_R{r}.xtc"), top=str(out / "AGPF" / "AGPF.pdb"))
        assert traj.n_frames == 4 and traj.n_atoms == n_atoms
        np.testing.assert_allclose(traj.time, [1, 2, 3, 4], atol=1e-4)  # ps after equilibration
        ca = traj.atom_slice(traj.topology.select("name CA")).xyz * 10.0  # Å
        bonds = np.linalg.norm(np.diff(ca, axis=1), axis=-1)
        assert np.all((bonds > 2.7) & (bonds < 4.3))  # intact chain (Å; ~2.9 for a cis proline, ~3.8 trans)
    r1 = md.load(str(out / "AGPF" / "AGPF_R1.xtc"), top=str(out / "AGPF" / "AGPF.pdb"))
    r2 = md.load(str(out / "AGPF" / "AGPF_R2.xtc"), top=str(out / "AGPF" / "AGPF.pdb"))
    assert not np.allclose(r1.xyz, r2.xyz)  # independent replicas
    assert not (out / "AGPF" / ".work").exists()  # resume data removed once complete


def test_manifest_format(run):
    out, _ = run
    data = yaml.safe_load((out / "manifest.yaml").read_text())
    assert data == {"dt_ps": 1, "proteins": [{
        "name": "AGPF", "topology": "AGPF/AGPF.pdb", "replicas": ["AGPF/AGPF_R1.xtc", "AGPF/AGPF_R2.xtc"],
        "dt_ps": 1, "split": "test"}]}


def test_rerun_of_finished_run_is_a_no_op(run):
    out, _ = run
    before = (out / "AGPF" / "AGPF_R1.xtc").read_bytes()
    result = simulate("AGPF", out=out, length_ns=0.004, replicas=2, overrides=FAST, split="test")
    assert result.skipped == [1, 2] and result.ns_per_day is None
    assert (out / "AGPF" / "AGPF_R1.xtc").read_bytes() == before


def test_rerun_with_other_physics_is_refused(run):
    out, _ = run
    with pytest.raises(SpecError, match="temperature_k"):
        simulate("AGPF", out=out, length_ns=0.004, replicas=2, overrides=[*FAST, "temperature_k=350"])


@pytest.mark.skipif(importlib.util.find_spec("starmd.core.data") is None, reason="starmd.core.data not written yet")
def test_starmd_data_reads_output(run):
    """The data loader (starmd.core.data) reads what simulate writes: trajectory and manifest."""
    from starmd.core import data

    out, _ = run
    traj = data.load_trajectory(out / "AGPF" / "AGPF.pdb", out / "AGPF" / "AGPF_R1.xtc")
    assert traj.n_frames == 4 and traj.n_residues == 4 and traj.sequence == "AGPF"
    assert traj.dt_ps == pytest.approx(1.0, abs=1e-4)
    (entry,) = data.load_manifest(out / "manifest.yaml")
    assert entry.name == "AGPF" and entry.split == "test" and entry.dt_ps == 1.0
    assert [p.name for p in entry.replicas] == ["AGPF_R1.xtc", "AGPF_R2.xtc"]


def test_resume_after_interrupt(tmp_path):
    def stop_after_first_chunk(event):
        if event["replica"] == 1 and event["chunk"] == 1:
            raise Stop

    with pytest.raises(Stop):
        simulate("GAKE", out=tmp_path, length_ns=0.006, replicas=1, overrides=FAST, on_chunk=stop_after_first_chunk)
    folder = tmp_path / "GAKE"
    assert not (folder / "GAKE_R1.xtc").exists()  # nothing under a final name yet
    assert not (tmp_path / "manifest.yaml").exists()  # no finished replica, no entry
    chunk1 = md.load(str(folder / ".work" / "R1" / "chunk_00001.xtc"), top=str(folder / "GAKE.pdb"))
    assert chunk1.n_frames == 2

    events = []
    result = simulate("GAKE", out=tmp_path, length_ns=0.006, replicas=1, overrides=FAST, on_chunk=events.append)
    assert [e["chunk"] for e in events] == [2, 3]  # continued, did not restart
    traj = md.load(str(folder / "GAKE_R1.xtc"), top=str(folder / "GAKE.pdb"))
    assert traj.n_frames == 6 == result.n_frames
    np.testing.assert_allclose(traj.time, np.arange(1, 7), atol=1e-4)
    np.testing.assert_array_equal(traj.xyz[:2], chunk1.xyz)  # first frames unchanged
    assert not (folder / ".work").exists()
    entry = yaml.safe_load((tmp_path / "manifest.yaml").read_text())["proteins"][0]
    assert entry["replicas"] == ["GAKE/GAKE_R1.xtc"] and entry["split"] == "train"


def test_pdb_input_and_manifest_merge(run, tmp_path):
    out, _ = run
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump({"dt_ps": 10, "proteins": [
        {"name": "OTHER", "topology": "OTHER/OTHER.pdb", "replicas": ["OTHER/OTHER_R1.xtc"], "dt_ps": 10, "split": "train"}]}))
    result = simulate(pdb=out / "AGPF" / "AGPF.pdb", out=tmp_path, name="frompdb", length_ns=0.002, replicas=1, overrides=FAST)
    assert result.n_atoms == sum(HEAVY[c] for c in "AGPF") + 1
    data = yaml.safe_load((tmp_path / "manifest.yaml").read_text())
    assert data["dt_ps"] == 10  # an existing top-level dt is kept; entries carry their own
    assert [p["name"] for p in data["proteins"]] == ["OTHER", "frompdb"]
    assert data["proteins"][1]["dt_ps"] == 1


def test_update_manifest_replaces_entry(tmp_path):
    m = tmp_path / "manifest.yaml"
    entry = {"name": "X", "topology": "X/X.pdb", "replicas": ["X/X_R1.xtc"], "dt_ps": 10, "split": "train"}
    update_manifest(m, entry)
    update_manifest(m, {**entry, "replicas": ["X/X_R1.xtc", "X/X_R2.xtc"]})
    data = yaml.safe_load(m.read_text())
    assert len(data["proteins"]) == 1 and len(data["proteins"][0]["replicas"]) == 2
    m.write_text("proteins: 3\n")
    with pytest.raises(InputError, match="manifest.yaml"):
        update_manifest(m, entry)


@pytest.mark.parametrize("seq,match", [("AXGA", "'X' at position 2"), ("A", "at least 2"), ("AB1", "unknown residue")])
def test_bad_sequence(seq, match, tmp_path):
    with pytest.raises(InputError, match=match):
        simulate(seq, out=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="no such structure file"):
        simulate(pdb=tmp_path / "missing.pdb", out=tmp_path)
    bad = tmp_path / "bad.pdb"
    bad.write_text("this is not a PDB file\n")
    with pytest.raises(StarMDError, match="bad.pdb"):
        simulate(pdb=bad, out=tmp_path / "o", overrides=FAST, length_ns=0.002)
    assert not (tmp_path / "missing").exists() and not (tmp_path / "o" / "bad").exists()  # no debris
    with pytest.raises(InputError, match="exactly one"):
        simulate("AAAA", pdb=bad, out=tmp_path)
    with pytest.raises(SpecError, match="chunk_ps"):
        simulate("AAAA", out=tmp_path, overrides=["chunk_ps=15"])
    with pytest.raises(SpecError, match="unknown field"):
        simulate("AAAA", out=tmp_path, overrides=["colour=red"])


def test_spec_checks():
    assert check_sequence(" gavl ") == "GAVL"
    with pytest.raises(ValueError, match="step_fs"):
        SimulateSpec(step_fs=4.0, hydrogen_mass_amu=None)
    with pytest.raises(ValueError, match="phi_deg"):
        SimulateSpec(phi_deg=-60)
    SimulateSpec(step_fs=2.0, hydrogen_mass_amu=None, phi_deg=-60, psi_deg=-45)
