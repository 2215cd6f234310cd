"""The shipped default model: it loads, matches its training spec, and keeps a held-out peptide whole."""

from __future__ import annotations

from pathlib import Path

import mdtraj as md
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
CKPT = ROOT / "checkpoints" / "default.ckpt"


@pytest.fixture(scope="module")
def model():
    import starmd

    return starmd.load_checkpoint(CKPT)


def test_it_is_the_spec_committed_beside_it(model):
    from starmd.core.specs import TrainingSpec, load_spec

    spec = load_spec(ROOT / "checkpoints" / "default.train.yaml", TrainingSpec)
    assert model.spec == spec.model
    assert model.spec.torsion_head == "categorical"
    assert CKPT.stat().st_size < 10 * 2**20  # "a few MB"


def test_a_held_out_peptide_stays_a_valid_chain(model, tmp_path):
    from starmd.core.rollout import rollout
    from starmd.core.specs import RolloutSpec
    from starmd.eval.validity import validity

    out = tmp_path / "ypge.xtc"
    spec = RolloutSpec(n_frames=5, dt_ns=0.01, steps=10, window=32, sampler="renoise")
    res = rollout(model, ROOT / "data" / "YPGE" / "YPGE_R1.xtc", topology=ROOT / "data" / "YPGE" / "YPGE.pdb",
                  out=out, spec=spec, progress=False)
    assert res.stopped_early is None and res.n_frames == 5
    traj = md.load(str(out), top=str(out.with_suffix(".pdb")))
    v = validity(traj)
    assert v["ca_percent"] == 100.0  # no break, no clash, in every frame
    ca = traj.xyz[:, traj.topology.select("name CA")] * 10
    assert np.abs(np.linalg.norm(ca[:, 1:] - ca[:, :-1], axis=-1) - 3.8).max() < 0.15
