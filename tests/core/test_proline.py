"""Proline ring closure: χ2 from χ1 closes N–Cδ at the ideal bond length; MD prolines are already closed."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from starmd.core.proline import BOND_N_CD, close_proline_rings
from starmd.core.protein import RESTYPE_ORDER, to_atoms

PRO = RESTYPE_ORDER["P"]


def _n_cd(frames, torsions, aatype) -> torch.Tensor:
    atoms, _ = to_atoms(frames, torsions, aatype)
    k = aatype == PRO
    return (atoms[..., 0, :] - atoms[..., 6, :]).norm(dim=-1)[..., k]


def _angle(sincos: torch.Tensor) -> torch.Tensor:
    return torch.atan2(sincos[..., 0], sincos[..., 1])


def test_md_prolines_are_closed_and_keep_their_pucker(peptide_features):
    frames, tors = peptide_features.frames, peptide_features.torsions.double()
    aatype = torch.as_tensor(peptide_features.aatype)
    closed = close_proline_rings(tors, aatype)
    # rebuilt with ideal geometry, MD's own χ1/χ2 leave some rings off the bond length: there is work to do
    assert float((_n_cd(frames, tors, aatype) - BOND_N_CD).abs().max()) > 0.05
    assert float((_n_cd(frames, closed, aatype) - BOND_N_CD).abs().max()) < 1e-6
    chi2 = _angle(tors[:, aatype == PRO, 4])
    new = _angle(closed[:, aatype == PRO, 4])
    assert bool((new * chi2 > 0).all())  # each ring keeps its pucker (the sign of χ2)
    chi1, new1 = _angle(tors[:, aatype == PRO, 3]), _angle(closed[:, aatype == PRO, 3])
    small = chi1.abs() < math.radians(30)  # a closable χ1 is kept; a larger one shrinks towards 0, keeping its sign
    assert bool(small.any()) and torch.allclose(new1[small], chi1[small], atol=1e-12)
    assert bool((new1.abs() <= chi1.abs() + 1e-12).all() and (new1 * chi1 >= 0).all())
    others = aatype != PRO
    assert torch.equal(closed[:, others], tors[:, others]) and torch.equal(closed[..., :3, :], tors[..., :3, :])


@settings(max_examples=40, deadline=None)
@given(st.floats(-40.0, 40.0), st.floats(-180.0, 180.0))
def test_any_pucker_chi1_closes_the_ring(peptide_features, chi1_deg, chi2_deg):
    # Pro χ1 in MD lies within ±40°; for any such χ1 and any starting χ2 the ring closes exactly
    frames = peptide_features.frames[:1]
    aatype = torch.as_tensor(peptide_features.aatype)
    tors = peptide_features.torsions[:1].double().clone()
    for slot, deg in ((3, chi1_deg), (4, chi2_deg)):
        tors[:, aatype == PRO, slot] = torch.tensor([math.sin(math.radians(deg)), math.cos(math.radians(deg))],
                                                    dtype=torch.float64)
    closed = close_proline_rings(tors, aatype)
    assert float((_n_cd(frames, closed, aatype) - BOND_N_CD).abs().max()) < 1e-6
    # the two puckers: χ2 has the opposite sign of χ1 (Cγ-endo: χ1 > 0, χ2 < 0; exo: the reverse)
    if abs(chi1_deg) > 10:
        assert bool((_angle(closed[:, aatype == PRO, 4]) * chi1_deg < 0).all())
