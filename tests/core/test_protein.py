"""Protein constants and the atoms <-> (frames, torsions) maps, checked against real MD and mdtraj."""

from __future__ import annotations

import math

import mdtraj as md
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from starmd.core import protein as P
from starmd.core.rigid import Rigid, random_rotation
from starmd.errors import InputError


def _wrap(a):
    return np.arctan2(np.sin(a), np.cos(a))


def _angles(feats) -> np.ndarray:
    """Torsion angles [T, N, 7] (radians) from (sin, cos)."""
    return torch.atan2(feats.torsions[..., 0], feats.torsions[..., 1]).numpy()


# ----------------------------------------------------------------------------- constants
def test_constants_layout():
    assert len(P.RESTYPES) == 20 and len(set(P.RESTYPES)) == 20
    assert all(P.RESTYPE_3TO1[three] == one for three, one in zip(P.RESTYPES_3, P.RESTYPES, strict=False))
    assert len(P.ATOM14_NAMES) == 21 and all(len(n) == 14 for n in P.ATOM14_NAMES)
    assert all(names[:4] == ["N", "CA", "C", "O"] for names in P.ATOM14_NAMES)
    # heavy-atom counts of the amino acids (chemistry, not our table): residue in a chain
    heavy = {"G": 4, "A": 5, "S": 6, "C": 6, "P": 7, "T": 7, "V": 7, "D": 8, "N": 8, "I": 8, "L": 8, "M": 8,
             "E": 9, "Q": 9, "K": 9, "H": 10, "F": 11, "R": 11, "Y": 12, "W": 14}
    assert {a: int(P.ATOM14_MASK[P.RESTYPE_ORDER[a]].sum()) for a in P.RESTYPES} == heavy
    n_chi = {"G": 0, "A": 0, "S": 1, "C": 1, "T": 1, "V": 1, "P": 2, "D": 2, "N": 2, "I": 2, "L": 2, "H": 2, "F": 2,
             "Y": 2, "W": 2, "M": 3, "E": 3, "Q": 3, "K": 4, "R": 4}
    assert {a: int(P.CHI_MASK[P.RESTYPE_ORDER[a]].sum()) for a in P.RESTYPES} == n_chi
    assert P.CHI_MASK.shape == (21, 4) and P.TORSION_MASK.shape == (21, 7) and not P.CHI_MASK[P.UNK].any()


def test_aliases():
    assert P.canonical_resname("MSE") == "MET" and P.canonical_resname("hsd") == "HIS"
    assert P.canonical_resname("CYX") == "CYS" and P.canonical_resname("HIP") == "HIS"
    assert P.canonical_resname("XYZ") is None and P.canonical_resname("HOH") is None


def test_ideal_geometry_matches_the_table():
    """Built atoms have the table's bond lengths (a check on the NeRF placement)."""
    aa = torch.arange(20)
    tors = torch.randn(3, 20, 7, 2, dtype=torch.float64)
    frames = Rigid.identity((3, 20), dtype=torch.float64)
    atoms, mask = P.to_atoms(frames, tors, aa)
    assert torch.allclose((atoms[:, :, 1] - atoms[:, :, 0]).norm(dim=-1), torch.full((3, 20), P.BOND_N_CA, dtype=torch.float64))
    assert torch.allclose((atoms[:, :, 3] - atoms[:, :, 2]).norm(dim=-1), torch.full((3, 20), P.BOND_C_O, dtype=torch.float64))
    bond = torch.as_tensor(P.NERF_TABLES["bond"])[aa]
    parent = torch.as_tensor(P.NERF_TABLES["refs"])[aa][..., 2]
    d = (atoms - torch.gather(atoms, 2, parent.expand(3, 20, 14).unsqueeze(-1).expand(3, 20, 14, 3))).norm(dim=-1)
    sel = mask.clone()
    sel[:, :3] = False
    assert torch.allclose(d[:, sel], bond[sel].expand(3, -1))
    assert (atoms[:, ~mask] == 0).all()


# ----------------------------------------------------------------------------- featurize vs mdtraj
def test_featurize_shapes(peptide_features):
    f = peptide_features
    T, N = 16, 20
    assert f.frames.shape == (T, N) and f.torsions.shape == (T, N, 7, 2) and f.atom14.shape == (T, N, 14, 3)
    assert f.torsion_mask.shape == (N, 7) and f.atom14_mask.shape == (N, 14)
    assert f.sequence == "MKWTDYEGAHRSNVQPLIFC"
    assert f.aatype.dtype == torch.long and f.residue_index.tolist() == list(range(N)) and f.chain_index.tolist() == [0] * N
    assert f.chain_breaks.tolist() == [True] + [False] * (N - 1)
    assert not f.torsion_mask[0, :2].any() and f.torsion_mask[1:, :3].all() and f.torsion_mask[-1, 2]  # ψ of the C-term from O
    assert (f.atom14_mask == torch.as_tensor(P.ATOM14_MASK)[f.aatype]).all()


def test_torsions_agree_with_mdtraj(peptide_traj, peptide_features):
    ang = _angles(peptide_features)
    t = peptide_traj.traj
    _, phi = md.compute_phi(t)
    _, psi = md.compute_psi(t)
    _, omega = md.compute_omega(t)
    assert np.abs(_wrap(ang[:, 1:, 1] - phi)).max() < 1e-4
    assert np.abs(_wrap(ang[:, :-1, 2] - psi)).max() < 1e-4
    assert np.abs(_wrap(ang[:, 1:, 0] - omega)).max() < 1e-4
    for k, fn in enumerate([md.compute_chi1, md.compute_chi2, md.compute_chi3, md.compute_chi4]):
        idx, chi = fn(t)
        res = [t.topology.atom(int(q[1])).residue.index for q in idx]
        assert len(res) == int(peptide_features.torsion_mask[:, 3 + k].sum())
        assert np.abs(_wrap(ang[:, res, 3 + k] - chi)).max() < 1e-4, f"chi{k + 1}"


# ----------------------------------------------------------------------------- round trips
def _rmsd_per_frame(a, b, mask):
    d2 = ((a - b) ** 2).sum(-1) * mask
    return (d2.sum((-1, -2)) / mask.sum()).sqrt()


def test_round_trip_on_real_md(peptide_features):
    """atoms → (frames, torsions) → atoms on 300 K MD frames.

    Ideal geometry cannot follow thermal bond-angle fluctuations (N-CA-C ~3.5° s.d. in this MD),
    so errors have a floor: geometry fitted to this very trajectory still gives ~0.08 Å backbone
    and ~0.29 Å all-heavy-atom RMSD. Thresholds sit just above what our table reaches.
    """
    f = peptide_features
    atoms, mask = P.to_atoms(f.frames, f.torsions, f.aatype)
    assert torch.allclose(atoms[..., 1, :], f.atom14[..., 1, :], atol=1e-9)  # CA exact
    bb = _rmsd_per_frame(atoms[..., :4, :], f.atom14[..., :4, :], mask[..., :4])
    heavy = _rmsd_per_frame(atoms, f.atom14, mask)
    print(f"backbone RMSD per frame max {bb.max():.3f} mean {bb.mean():.3f}; heavy max {heavy.max():.3f} mean {heavy.mean():.3f}")
    assert bb.max() < 0.11 and bb.mean() < 0.09
    assert heavy.mean() < 0.33 and heavy.max() < 0.5


def test_round_trip_is_exact_on_ideal_geometry(peptide_features):
    """to_atoms output has ideal geometry, so featurize → to_atoms must reproduce it.

    Written as one-residue chains, ψ is read from O and everything is exact. Written as one chain,
    ψ is read from the next residue's (ideal) N, which moves O slightly, and nothing else.
    """
    f = peptide_features
    atoms, _ = P.to_atoms(f.frames, f.torsions, f.aatype)
    n = len(f.sequence)
    f1 = P.featurize(P.atoms_to_mdtraj(atoms, f.aatype, chain_index=np.arange(n)), dtype=torch.float64)
    atoms1, mask = P.to_atoms(f1.frames, f1.torsions, f1.aatype)
    assert (atoms1 - atoms).norm(dim=-1)[..., mask].max() < 2e-3
    chi = f.torsion_mask[:, 3:]
    assert np.abs(_wrap(_angles(f1) - _angles(f)))[..., 3:][..., chi].max() < 1e-3
    f2 = P.featurize(P.atoms_to_mdtraj(atoms, f.aatype), dtype=torch.float64)
    atoms2, _ = P.to_atoms(f2.frames, f2.torsions, f2.aatype)
    err = (atoms2 - atoms).norm(dim=-1)
    not_o = mask.clone()
    not_o[:, 3] = False
    assert err[..., not_o].max() < 2e-3 and err[..., 3].max() < 0.3


def test_oxt_matches_md(peptide_traj, peptide_features):
    t = peptide_traj.traj
    oxt = t.topology.select("name OXT")
    assert len(oxt) == 1
    built = P.oxt_positions(peptide_features.atom14)[:, -1]
    real = torch.from_numpy(t.xyz[:, oxt[0]] * 10.0).double()
    err = (built - real).norm(dim=-1)
    assert err.mean() < 0.2 and err.max() < 0.4  # mirror of O; MD carboxylates are not exactly symmetric


# ----------------------------------------------------------------------------- to_atoms properties
@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple), st.integers(1, 6))
def test_to_atoms_is_se3_equivariant(seed, batch, n):
    g = torch.Generator().manual_seed(seed)
    aa = torch.randint(0, 21, (n,), generator=g)
    frames = Rigid(random_rotation((*batch, n), generator=g), torch.randn(*batch, n, 3, dtype=torch.float64, generator=g))
    tors = torch.randn(*batch, n, 7, 2, dtype=torch.float64, generator=g)
    rot = random_rotation((), generator=g)
    move = Rigid(rot, torch.randn(3, dtype=torch.float64, generator=g))
    atoms, mask = P.to_atoms(frames, tors, aa)
    moved, _ = P.to_atoms(move.compose(frames), tors, aa)
    assert atoms.dtype == torch.float64 and atoms.shape == (*batch, n, 14, 3) and mask.shape == (n, 14)
    assert torch.allclose(moved[..., mask, :], move.apply(atoms)[..., mask, :], atol=1e-9)


def test_to_atoms_is_differentiable_and_accepts_sequences():
    frames = Rigid(random_rotation((2, 3)), torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True))
    tors = torch.randn(2, 3, 7, 2, dtype=torch.float64, requires_grad=True)
    atoms, mask = P.to_atoms(frames, tors, "RWK")
    atoms.sum().backward()
    assert torch.isfinite(tors.grad).all() and tors.grad[..., 3:, :].abs().sum() > 0
    assert torch.isfinite(frames.trans.grad).all()
    assert mask.sum().item() == 11 + 14 + 9
    atoms32, _ = P.to_atoms(frames.to(torch.float32), tors.detach().float(), "RWK")
    assert atoms32.dtype == torch.float32


def test_writer_topology_and_units(peptide_features):
    f = peptide_features
    traj = P.atoms_to_mdtraj(f.atom14[:2], f.aatype, time_ps=[0.0, 10.0])
    assert traj.n_atoms == int(f.atom14_mask.sum()) + 1 and traj.n_frames == 2
    assert [a.name for a in traj.topology.residue(0).atoms][:5] == ["N", "CA", "C", "O", "CB"]
    assert np.allclose(traj.xyz[1, 1] * 10.0, f.atom14[1, 0, 1].numpy(), atol=1e-4)  # CA of residue 0, nm
    assert traj.time.tolist() == [0.0, 10.0] and traj.topology.n_bonds >= traj.n_atoms - 1
    no_oxt = P.make_topology(f.sequence, oxt=False)
    assert no_oxt.n_atoms == int(f.atom14_mask.sum())
    two = P.make_topology("GA" * 3, chain_index=[0, 0, 0, 1, 1, 1])
    assert two.n_chains == 2 and len(two.select("name OXT")) == 2


# ----------------------------------------------------------------------------- chains and errors
def test_two_chains_and_gaps(peptide_traj):
    t = peptide_traj.traj[:2]
    shifted = md.Trajectory(t.xyz + 3.0, t.topology)
    both = t.stack(shifted)
    f = P.featurize(both)
    assert f.chain_index.tolist() == [0] * 20 + [1] * 20
    assert f.chain_breaks.nonzero().flatten().tolist() == [0, 20]
    assert f.residue_index[20] - f.residue_index[19] == P.CHAIN_GAP
    assert not f.torsion_mask[20, :2].any() and f.torsion_mask[19, 2]
    gap = t.atom_slice(t.topology.select("resid != 10"))
    fg = P.featurize(gap)
    assert fg.chain_breaks.nonzero().flatten().tolist() == [0, 10]
    assert not fg.torsion_mask[10, :2].any()


def test_featurize_refuses_unknown_residue(peptide_traj):
    t = md.Trajectory(peptide_traj.traj.xyz[:1].copy(), peptide_traj.traj.topology.copy())
    t.topology.residue(4).name = "XYZ"
    with pytest.raises(InputError, match="XYZ 5"):
        P.featurize(t)
    t.topology.residue(4).name = "MSE"  # maps to MET, but atoms are ASP's: only N/CA/C/O/CB/CG land in slots
    assert P.featurize(t).sequence[4] == "M"


def test_nan_coordinates_raise(peptide_traj):
    t = md.Trajectory(peptide_traj.traj.xyz[:2].copy(), peptide_traj.traj.topology)
    t.xyz[1, 7] = np.nan
    with pytest.raises(InputError, match="NaN"):
        P.featurize(t)


def test_unused_math_is_consistent():
    """dihedral() agrees with mdtraj on random points (sign convention)."""
    pts = np.random.default_rng(0).normal(size=(1, 4, 3)).astype(np.float32)
    top = md.Topology()
    r = top.add_residue("ALA", top.add_chain())
    for i in range(4):
        top.add_atom(f"C{i}", md.element.carbon, r)
    ref = md.compute_dihedrals(md.Trajectory(pts, top), [[0, 1, 2, 3]])[0, 0]
    ours = P.dihedral(*(torch.from_numpy(pts[0, i]).double() for i in range(4))).item()
    assert math.isclose(ours, ref, abs_tol=1e-5)
