"""Validity checks: clashes, chain breaks, Ramachandran and rotamer outliers (known answers)."""

from __future__ import annotations

import io
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest
from Bio.PDB import PDBIO

from starmd.core.specs import EvaluationSpec
from starmd.eval import validity as V

DATA = Path(__file__).parent / "data"


def _ca_trace(coords: np.ndarray) -> md.Trajectory:
    top = md.Topology()
    ch = top.add_chain()
    for i in range(len(coords)):
        top.add_atom("CA", md.element.carbon, top.add_residue("ALA", ch, resSeq=i + 1))
    return md.Trajectory(np.asarray(coords, np.float32)[None] / 10.0, top)


def _line(n: int, spacing: float = 3.8) -> np.ndarray:
    return np.stack([np.arange(n) * spacing, np.zeros(n), np.zeros(n)], 1)


def test_clash_at_2_angstrom():
    x = _line(6)
    assert V.ca_clashes(_ca_trace(x))[0] == 0
    x[5] = x[2] + [0.0, 2.0, 0.0]  # residues 3 and 6 two Å apart
    assert V.ca_clashes(_ca_trace(x))[0] >= 1


def test_neighbours_never_clash():
    x = _line(4, spacing=2.0)  # |i−j| = 1 at 2 Å is a bond, not a clash (|i−j| = 2 at 4 Å is fine)
    assert V.ca_clashes(_ca_trace(x))[0] == 0


def test_chain_break_at_5_angstrom():
    x = _line(6)
    assert V.chain_breaks(_ca_trace(x))[0] == 0
    x[3:] += [1.2, 0.0, 0.0]  # 5.0 Å gap between residues 3 and 4
    assert V.chain_breaks(_ca_trace(x))[0] == 1


def _helix(n: int = 12, phi: float = -57.0, psi: float = -47.0, seq: str | None = None,
           **geometry: float) -> md.Trajectory:
    """A peptide built by PeptideBuilder with every (φ, ψ) set; ``geometry``: extra PeptideBuilder
    attributes (e.g. side-chain dihedrals) set on every residue that has them."""
    import PeptideBuilder
    from PeptideBuilder import Geometry

    seq = seq or "A" * n
    geos = [Geometry.geometry(a) for a in seq]
    for g in geos:
        g.phi, g.psi_im1 = phi, psi
        for k, v in geometry.items():
            if hasattr(g, k):
                setattr(g, k, v)
    s = PeptideBuilder.initialize_res(geos[0])
    for g in geos[1:]:
        PeptideBuilder.add_residue(s, g)
    buf = io.StringIO()
    w = PDBIO()
    w.set_structure(s)
    w.save(buf)
    path = io.StringIO(buf.getvalue())
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".pdb", delete=False) as fh:
        fh.write(path.getvalue())
    return md.load(fh.name)


def test_ideal_helix_has_no_rama_outliers():
    t = _helix(12, seq="AEKLMQRSTVFA")
    r = V.ramachandran(t)
    np.testing.assert_allclose(r["phi"], -57.0, atol=1.0)
    np.testing.assert_allclose(r["psi"], -47.0, atol=1.0)
    assert not r["outlier"].any()
    v = V.validity(t)
    assert v["ca_percent"] == 100.0  # an α-helix has no Cα clash (i, i+3 ≈ 5 Å) and no break


def test_positive_phi_negative_psi_is_outlier():
    t = _helix(5, phi=60.0, psi=-120.0)
    r = V.ramachandran(t)
    assert r["outlier"].all()  # all interior alanines at (+60, −120)
    assert V.in_regions(60.0, -120.0, V.RAMA_REGIONS["general"]) == False  # noqa: E712
    assert V.in_regions(-57.0, -47.0, V.RAMA_REGIONS["general"])
    assert V.in_regions(-63.0, 140.0, V.RAMA_REGIONS["proline"])  # PPII proline
    assert V.in_regions(60.0, -150.0, V.RAMA_REGIONS["glycine"])  # mirror of β: allowed for Gly only


def test_glycine_extended_region_below_beta_is_allowed_for_glycine_only():
    # (−160°, −125°) and its inversion lie inside the glycine "allowed" contour of the Top500
    # Ramachandran table (Lovell et al. 2003, Proteins 50:437) and outside the general one
    for point in ((-160.0, -125.0), (160.0, 125.0), (-100.0, -140.0)):
        assert V.in_regions(*point, V.RAMA_REGIONS["glycine"])
        assert not V.in_regions(*point, V.RAMA_REGIONS["general"])
    t = _helix(6, phi=-160.0, psi=-125.0, seq="AGGLGA")
    by = V.outliers_by_residue(t)["rama"]
    assert by == {"GLY2": 0.0, "GLY3": 0.0, "LEU4": 100.0, "GLY5": 0.0}


@pytest.mark.parametrize("chi2, outlier", [(93.1, False), (-85.0, False), (-30.0, False), (150.0, False),
                                           (30.0, True), (-150.0, True)])
def test_aromatic_chi2_wells_are_the_rotamer_library_ones(chi2, outlier):
    # Phe/Tyr rotamers of the penultimate library (Lovell et al. 2000): p90, t80, m-85 and m-30; χ2 is
    # 180°-symmetric, so m-30 (χ1 ≈ −65°, χ2 ≈ −30°) is also χ2 ≈ 150°. χ2 ≈ ±30°+180k lies in none.
    t = _helix(3, phi=-65.0, psi=140.0, seq="AYA", N_CA_CB_CG_diangle=-65.0, CA_CB_CG_CD1_diangle=chi2,
               CA_CB_CG_CD2_diangle=chi2 + 180.0)
    _, chi = md.compute_chi2(t)
    assert np.degrees(chi[0, 0]) == pytest.approx((chi2 + 180.0) % 360.0 - 180.0, abs=0.5)
    assert V.rotamer_outliers(t)["outlier"][0, 0] == outlier


def test_outliers_by_residue_names_the_residues_and_their_frame_fractions():
    helix, bad = _helix(5, seq="AGLLA"), _helix(5, phi=60.0, psi=-120.0, seq="AGLLA")
    both = md.join([helix, bad, bad, bad])  # 1 good frame, 3 with every interior residue at (+60°, −120°)
    by = V.outliers_by_residue(both)
    # (+60, −120) is the mirror of the allowed (−60, 120): glycine only
    assert by["rama"] == {"GLY2": 0.0, "LEU3": 75.0, "LEU4": 75.0}
    assert set(by["rotamer"]) == {"LEU3", "LEU4"}  # the residues with a checked χ
    assert V.outliers_by_residue(helix)["rama"] == {"GLY2": 0.0, "LEU3": 0.0, "LEU4": 0.0}


def test_rotamer_wells():
    x = np.array([60.0, 180.0, -60.0, 0.0, 120.0, -120.0, 95.0])
    d = np.min([V._angdiff(x, w) for w in V.ROTAMER_WELLS["LEU"]["chi1"]], axis=0)
    assert list(d > V.ROTAMER_TOLERANCE) == [False, False, False, True, True, True, False]


def test_rotamer_outlier_detected():
    t = _helix(6, seq="ALLLLA")
    base = V.rotamer_outliers(t)["outlier"]
    assert not base.any()  # PeptideBuilder's default Leu rotamer is a staggered one
    # rotate Leu2's side chain about CA–CB by 60° (χ1 → eclipsed)
    top = t.topology
    res = top.residue(1)
    ca, cb = (next(a.index for a in res.atoms if a.name == n) for n in ("CA", "CB"))
    side = [a.index for a in res.atoms if a.name not in ("N", "CA", "C", "O", "CB")]
    xyz = t.xyz[0].astype(np.float64)
    axis = (xyz[cb] - xyz[ca]) / np.linalg.norm(xyz[cb] - xyz[ca])
    th = np.radians(60.0)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    R = np.eye(3) + np.sin(th) * K + (1 - np.cos(th)) * K @ K
    xyz[side] = (xyz[side] - xyz[cb]) @ R.T + xyz[cb]
    t2 = md.Trajectory(xyz[None].astype(np.float32), top)
    r = V.rotamer_outliers(t2)
    assert r["outlier"][0, r["residues"].index(1)]


def test_aa_thresholds_from_spec():
    t = md.load(str(DATA / "rep1.xtc"), top=str(DATA / "peptide.pdb"))
    strict = V.validity(t, EvaluationSpec(rama_outlier_max=0.0, rotamer_outlier_max=0.0), per_frame=True)
    loose = V.validity(t, EvaluationSpec(rama_outlier_max=1.0, rotamer_outlier_max=1.0))
    assert loose["aa_percent"] == 100.0 and strict["aa_percent"] <= loose["aa_percent"]
    assert strict["ca_aa_percent"] == pytest.approx(100 * np.mean(np.array(strict["ca_valid"]) & np.array(strict["aa_valid"])))
    assert strict["ca_percent"] == 100.0  # real MD of a peptide: no clash, no break
