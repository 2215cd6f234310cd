"""Shared fixtures: a small real MD trajectory (OpenMM, amber14 + GBn2; see tests/data/make_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
