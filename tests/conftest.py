"""Shared fixtures: a small real MD trajectory (OpenMM, amber14 + GBn2; see tests/data/make_fixtures.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch

# One intra-op thread: tiny tensors gain nothing from more, and on a shared 2-core machine OpenMP
# spin-waiting makes multi-threaded tiny ops 10x slower.
torch.set_num_threads(1)

# Never write caches (IGSO(3) tables, features) under the user's home during tests.
os.environ.setdefault("STARMD_CACHE", tempfile.mkdtemp(prefix="starmd-test-cache-"))

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def peptide_pdb() -> Path:
    """20-residue peptide holding every standard amino acid once, heavy atoms + OXT (Å in the file)."""
    return DATA / "peptide.pdb"


@pytest.fixture(scope="session")
def peptide_xtc() -> Path:
    """16 frames of 300 K implicit-solvent MD of ``peptide_pdb``, 1 ps apart."""
    return DATA / "peptide.xtc"


@pytest.fixture(scope="session")
def peptide_traj(peptide_pdb, peptide_xtc):
    """The MD fixture as a starmd ProteinTrajectory."""
    from starmd.core.data import load_trajectory

    return load_trajectory(peptide_pdb, peptide_xtc)


@pytest.fixture(scope="session")
def peptide_features(peptide_traj):
    """featurize(peptide_traj) in float64."""
    import torch

    from starmd.core.protein import featurize

    return featurize(peptide_traj, dtype=torch.float64)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    """A private featurization cache (also exported as $STARMD_CACHE)."""
    path = tmp_path / "cache"
    monkeypatch.setenv("STARMD_CACHE", str(path))
    return path


EVAL_DATA = Path(__file__).parent / "eval" / "data"


@pytest.fixture
def hexapeptide_manifest(tmp_path) -> Path:
    """A one-protein manifest (AFGPLK, two 200-frame replicas 1 ps apart) with absolute paths."""
    import yaml

    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump({"dt_ps": 1, "proteins": [{
        "name": "AFGPLK", "topology": str(EVAL_DATA / "peptide.pdb"),
        "replicas": [str(EVAL_DATA / "rep1.xtc"), str(EVAL_DATA / "rep2.xtc")]}]}))
    return path


@pytest.fixture
def tiny_training_spec(hexapeptide_manifest, tmp_path):
    """A TrainingSpec for a tiny model on the hexapeptide (short windows, a few steps)."""
    from starmd.core.specs import DataSpec, ModelSpec, TrainingSpec

    return TrainingSpec(
        model=ModelSpec.tiny(blocks=1), steps=4, batch_size=2, warmup_steps=1, log_every=1, val_every=2, checkpoint_every=2,
        data=DataSpec(manifest=str(hexapeptide_manifest), window=3, strides=[1, 2], val_fraction=0.0,
                      cache_dir=str(tmp_path / "cache")),
        out_dir=str(tmp_path / "run"))


@pytest.fixture(scope="session")
def small_diffusion_spec(tmp_path_factory):
    """A DiffusionSpec with small IGSO(3) tables (quick to build) cached in a private folder."""
    from starmd.core.specs import DiffusionSpec

    return DiffusionSpec(num_sigma=60, num_omega=400, series_terms=300, cache_dir=str(tmp_path_factory.mktemp("igso3")))
