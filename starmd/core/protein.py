"""Residue constants and the atoms <-> (frames, torsions) maps, with ideal geometry.

Representation of one frame of a protein with N residues:

* ``frames``: :class:`Rigid` [*, N], one backbone frame per residue from (N, Cα, C) via
  ``Rigid.from_3_points`` (origin Cα, x along Cα→C, N in the xy plane), translations in Å.
* ``torsions``: [*, N, 7, 2] as (sin, cos) of (ω, φ, ψ, χ1, χ2, χ3, χ4), radians, IUPAC signs:
  ω_i = CA(i-1)-C(i-1)-N(i)-CA(i), φ_i = C(i-1)-N(i)-CA(i)-C(i), ψ_i = N(i)-CA(i)-C(i)-N(i+1),
  χ as in the table ``CHI_ATOMS`` (the same atoms mdtraj's compute_chi* use).
* ``atom14``: [*, N, 14, 3] heavy atoms in Å in a fixed 14-slot layout per residue type
  (``ATOM14_NAMES``; slots 0..3 = N, CA, C, O), with ``atom14_mask`` [N, 14].

Ideal geometry. Every heavy atom is placed from three earlier atoms of the same residue by a
bond length, a bond angle and a dihedral (the natural-extension reference frame, NeRF). The
internal-coordinate table ``_ZMATRIX`` below is written from standard covalent geometry
(typical X-ray values of the Engh & Huber kind: sp3 C-C 1.52-1.53 Å, aromatic C-C 1.39 Å,
C=O 1.23 Å, C-S 1.81 Å, sp3 angles 109.5-116°, sp2 angles 120°, planar rings and amide /
carboxylate / guanidinium groups). Dihedrals are either a torsion of the state plus a constant
offset (0 for the atom that defines the χ, ±120° for sp3 branches, 180° for sp2 branches) or a
constant (ring closures, planar groups). ω and φ move no heavy atom (they are carried for the
model only); ψ places O at N-CA-C-O = ψ + 180°.

OXT choice. ``atom14`` never holds OXT. :func:`oxt_positions` builds the second carboxylate
oxygen of every residue from its CA, C and O (planar sp2 carbon, symmetric to O), and
:func:`make_topology` / :func:`atoms_to_mdtraj` add OXT to the last residue of every chain
when ``oxt=True`` (the default). :func:`featurize` ignores OXT in its input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from starmd.core.rigid import Rigid
from starmd.errors import InputError

# ----------------------------------------------------------------------------- residue names
RESTYPES = "ARNDCQEGHILKMFPSTWYV"
"""One-letter codes of the 20 standard amino acids; index 20 (``UNK``) is unknown."""
UNK = 20
RESTYPES_3 = ["ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
              "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL"]
RESTYPE_3TO1 = {three: one for three, one in zip(RESTYPES_3, RESTYPES, strict=False)}
RESTYPE_1TO3 = {one: three for three, one in RESTYPE_3TO1.items()}
RESTYPE_ORDER = {one: i for i, one in enumerate(RESTYPES)}

RESIDUE_ALIASES = {
    # force-field protonation / disulfide / terminal variants -> the standard residue
    "HSD": "HIS", "HSE": "HIS", "HSP": "HIS", "HID": "HIS", "HIE": "HIS", "HIP": "HIS", "HISD": "HIS",
    "HISE": "HIS", "HISH": "HIS", "HIS1": "HIS", "HIS2": "HIS",
    "CYX": "CYS", "CYM": "CYS", "CYS2": "CYS", "ASH": "ASP", "ASPP": "ASP", "GLH": "GLU", "GLUP": "GLU",
    "LYN": "LYS", "LSN": "LYS", "ARN": "ARG",
    # safe chemical modifications whose heavy-atom skeleton maps onto the standard residue
    "MSE": "MET",
}
"""Residue names mapped onto a standard residue (anything else non-standard is refused)."""

ATOM_ALIASES = {
    ("ILE", "CD"): "CD1",  # CHARMM
    ("MET", "SE"): "SD",   # selenomethionine
    ("*", "OT1"): "O", ("*", "OT2"): "OXT", ("*", "O1"): "O", ("*", "O2"): "OXT", ("*", "OC1"): "O", ("*", "OC2"): "OXT",
}
"""Atom names of other conventions mapped onto the PDB names (``*``: any residue)."""

# ----------------------------------------------------------------------------- 14-slot layout
_SIDECHAIN = {
    "ALA": ["CB"],
    "ARG": ["CB", "CG", "CD", "NE", "CZ", "NH1", "NH2"],
    "ASN": ["CB", "CG", "OD1", "ND2"],
    "ASP": ["CB", "CG", "OD1", "OD2"],
    "CYS": ["CB", "SG"],
    "GLN": ["CB", "CG", "CD", "OE1", "NE2"],
    "GLU": ["CB", "CG", "CD", "OE1", "OE2"],
    "GLY": [],
    "HIS": ["CB", "CG", "ND1", "CD2", "CE1", "NE2"],
    "ILE": ["CB", "CG1", "CG2", "CD1"],
    "LEU": ["CB", "CG", "CD1", "CD2"],
    "LYS": ["CB", "CG", "CD", "CE", "NZ"],
    "MET": ["CB", "CG", "SD", "CE"],
    "PHE": ["CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ"],
    "PRO": ["CB", "CG", "CD"],
    "SER": ["CB", "OG"],
    "THR": ["CB", "OG1", "CG2"],
    "TRP": ["CB", "CG", "CD1", "CD2", "NE1", "CE2", "CE3", "CZ2", "CZ3", "CH2"],
    "TYR": ["CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ", "OH"],
    "VAL": ["CB", "CG1", "CG2"],
}
ATOM14_NAMES: list[list[str]] = [["N", "CA", "C", "O"] + _SIDECHAIN[r] + [""] * (10 - len(_SIDECHAIN[r])) for r in RESTYPES_3]
ATOM14_NAMES.append(["N", "CA", "C", "O"] + [""] * 10)  # UNK: backbone only
"""``ATOM14_NAMES[restype][slot]``: atom name, ``""`` for an unused slot."""
ATOM14_MASK = np.array([[bool(n) for n in names] for names in ATOM14_NAMES])  # [21, 14]

CHI_ATOMS = {
    "ARG": [("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD"), ("CB", "CG", "CD", "NE"), ("CG", "CD", "NE", "CZ")],
    "ASN": [("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "OD1")],
    "ASP": [("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "OD1")],
    "CYS": [("N", "CA", "CB", "SG")],
    "GLN": [("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD"), ("CB", "CG", "CD", "OE1")],
    "GLU": [("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD"), ("CB", "CG", "CD", "OE1")],
    "HIS": [("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "ND1")],
    "ILE": [("N", "CA", "CB", "CG1"), ("CA", "CB", "CG1", "CD1")],
    "LEU": [("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD1")],
    "LYS": [("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD"), ("CB", "CG", "CD", "CE"), ("CG", "CD", "CE", "NZ")],
    "MET": [("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "SD"), ("CB", "CG", "SD", "CE")],
    "PHE": [("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD1")],
    "PRO": [("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD")],
    "SER": [("N", "CA", "CB", "OG")],
    "THR": [("N", "CA", "CB", "OG1")],
    "TRP": [("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD1")],
    "TYR": [("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD1")],
    "VAL": [("N", "CA", "CB", "CG1")],
}
"""The four atoms defining each χ angle (IUPAC), per residue type."""
CHI_MASK = np.zeros((21, 4), dtype=bool)
for _i, _r in enumerate(RESTYPES_3):
    CHI_MASK[_i, : len(CHI_ATOMS.get(_r, []))] = True
TORSION_NAMES = ["omega", "phi", "psi", "chi1", "chi2", "chi3", "chi4"]
TORSION_MASK = np.concatenate([np.ones((21, 3), dtype=bool), CHI_MASK], axis=1)  # [21, 7]
"""Which of (ω, φ, ψ, χ1..χ4) exist for each residue type (ω/φ/ψ also need neighbours)."""

# ----------------------------------------------------------------------------- ideal geometry
BOND_N_CA = 1.458  # Å
BOND_CA_C = 1.525
BOND_C_O = 1.231
BOND_C_N = 1.329  # peptide bond (used only to tell chain breaks: > PEPTIDE_BREAK)
ANGLE_N_CA_C = 111.2  # degrees
ANGLE_CA_C_O = 120.5
PEPTIDE_BREAK = 2.0  # Å, a C(i-1)-N(i) distance above this is a chain break

# Each entry: atom, (a, b, c) reference atoms, bond c-atom (Å), angle b-c-atom (deg),
# dihedral a-b-c-atom = (torsion index or None, offset / constant in degrees).
# Torsion indices: 2 = ψ, 3..6 = χ1..χ4.
_CB = ("CB", ("C", "N", "CA"), 1.530, 110.5, (None, -122.6))
_ZMATRIX: dict[str, list[tuple]] = {
    "ALA": [_CB],
    "ARG": [_CB, ("CG", ("N", "CA", "CB"), 1.520, 114.1, (3, 0.0)), ("CD", ("CA", "CB", "CG"), 1.520, 111.3, (4, 0.0)),
            ("NE", ("CB", "CG", "CD"), 1.460, 112.0, (5, 0.0)), ("CZ", ("CG", "CD", "NE"), 1.329, 124.2, (6, 0.0)),
            ("NH1", ("CD", "NE", "CZ"), 1.326, 120.0, (None, 0.0)), ("NH2", ("CD", "NE", "CZ"), 1.326, 120.0, (None, 180.0))],
    "ASN": [_CB, ("CG", ("N", "CA", "CB"), 1.516, 112.6, (3, 0.0)), ("OD1", ("CA", "CB", "CG"), 1.231, 120.8, (4, 0.0)),
            ("ND2", ("CA", "CB", "CG"), 1.328, 116.4, (4, 180.0))],
    "ASP": [_CB, ("CG", ("N", "CA", "CB"), 1.516, 112.6, (3, 0.0)), ("OD1", ("CA", "CB", "CG"), 1.250, 118.4, (4, 0.0)),
            ("OD2", ("CA", "CB", "CG"), 1.250, 118.4, (4, 180.0))],
    "CYS": [_CB, ("SG", ("N", "CA", "CB"), 1.808, 114.0, (3, 0.0))],
    "GLN": [_CB, ("CG", ("N", "CA", "CB"), 1.520, 114.1, (3, 0.0)), ("CD", ("CA", "CB", "CG"), 1.516, 112.6, (4, 0.0)),
            ("OE1", ("CB", "CG", "CD"), 1.231, 120.8, (5, 0.0)), ("NE2", ("CB", "CG", "CD"), 1.328, 116.4, (5, 180.0))],
    "GLU": [_CB, ("CG", ("N", "CA", "CB"), 1.520, 114.1, (3, 0.0)), ("CD", ("CA", "CB", "CG"), 1.516, 112.6, (4, 0.0)),
            ("OE1", ("CB", "CG", "CD"), 1.250, 118.4, (5, 0.0)), ("OE2", ("CB", "CG", "CD"), 1.250, 118.4, (5, 180.0))],
    "GLY": [],
    "HIS": [_CB, ("CG", ("N", "CA", "CB"), 1.497, 113.7, (3, 0.0)), ("ND1", ("CA", "CB", "CG"), 1.378, 122.7, (4, 0.0)),
            ("CD2", ("CA", "CB", "CG"), 1.356, 131.0, (4, 180.0)), ("CE1", ("CB", "CG", "ND1"), 1.321, 109.0, (None, 180.0)),
            ("NE2", ("CB", "CG", "CD2"), 1.374, 107.0, (None, 180.0))],
    "ILE": [_CB, ("CG1", ("N", "CA", "CB"), 1.530, 110.4, (3, 0.0)), ("CG2", ("N", "CA", "CB"), 1.527, 110.5, (3, -122.0)),
            ("CD1", ("CA", "CB", "CG1"), 1.513, 113.9, (4, 0.0))],
    "LEU": [_CB, ("CG", ("N", "CA", "CB"), 1.530, 116.3, (3, 0.0)), ("CD1", ("CA", "CB", "CG"), 1.521, 110.5, (4, 0.0)),
            ("CD2", ("CA", "CB", "CG"), 1.521, 110.5, (4, -122.0))],
    "LYS": [_CB, ("CG", ("N", "CA", "CB"), 1.520, 114.1, (3, 0.0)), ("CD", ("CA", "CB", "CG"), 1.520, 111.3, (4, 0.0)),
            ("CE", ("CB", "CG", "CD"), 1.520, 111.3, (5, 0.0)), ("NZ", ("CG", "CD", "CE"), 1.489, 111.9, (6, 0.0))],
    "MET": [_CB, ("CG", ("N", "CA", "CB"), 1.520, 114.1, (3, 0.0)), ("SD", ("CA", "CB", "CG"), 1.807, 112.7, (4, 0.0)),
            ("CE", ("CB", "CG", "SD"), 1.791, 100.9, (5, 0.0))],
    "PHE": [_CB, ("CG", ("N", "CA", "CB"), 1.502, 113.8, (3, 0.0)), ("CD1", ("CA", "CB", "CG"), 1.389, 120.7, (4, 0.0)),
            ("CD2", ("CA", "CB", "CG"), 1.389, 120.7, (4, 180.0)), ("CE1", ("CB", "CG", "CD1"), 1.389, 120.7, (None, 180.0)),
            ("CE2", ("CB", "CG", "CD2"), 1.389, 120.7, (None, 180.0)), ("CZ", ("CG", "CD1", "CE1"), 1.389, 120.0, (None, 0.0))],
    "PRO": [("CB", ("C", "N", "CA"), 1.530, 103.0, (None, -120.0)), ("CG", ("N", "CA", "CB"), 1.495, 104.5, (3, 0.0)),
            ("CD", ("CA", "CB", "CG"), 1.507, 106.1, (4, 0.0))],
    "SER": [_CB, ("OG", ("N", "CA", "CB"), 1.417, 111.1, (3, 0.0))],
    "THR": [_CB, ("OG1", ("N", "CA", "CB"), 1.433, 109.2, (3, 0.0)), ("CG2", ("N", "CA", "CB"), 1.521, 111.1, (3, -120.0))],
    "TRP": [_CB, ("CG", ("N", "CA", "CB"), 1.498, 113.6, (3, 0.0)), ("CD1", ("CA", "CB", "CG"), 1.365, 127.0, (4, 0.0)),
            ("CD2", ("CA", "CB", "CG"), 1.433, 126.6, (4, 180.0)), ("NE1", ("CB", "CG", "CD1"), 1.374, 110.2, (None, 180.0)),
            ("CE2", ("CB", "CG", "CD2"), 1.409, 107.2, (None, 180.0)), ("CE3", ("CB", "CG", "CD2"), 1.398, 133.9, (None, 0.0)),
            ("CZ2", ("CG", "CD2", "CE2"), 1.394, 122.4, (None, 180.0)), ("CZ3", ("CG", "CD2", "CE3"), 1.382, 118.7, (None, 180.0)),
            ("CH2", ("CD2", "CE2", "CZ2"), 1.368, 117.5, (None, 0.0))],
    "TYR": [_CB, ("CG", ("N", "CA", "CB"), 1.512, 113.9, (3, 0.0)), ("CD1", ("CA", "CB", "CG"), 1.389, 120.8, (4, 0.0)),
            ("CD2", ("CA", "CB", "CG"), 1.389, 120.8, (4, 180.0)), ("CE1", ("CB", "CG", "CD1"), 1.389, 121.2, (None, 180.0)),
            ("CE2", ("CB", "CG", "CD2"), 1.389, 121.2, (None, 180.0)), ("CZ", ("CG", "CD1", "CE1"), 1.378, 119.6, (None, 0.0)),
            ("OH", ("CD1", "CE1", "CZ"), 1.376, 119.9, (None, 180.0))],
    "VAL": [_CB, ("CG1", ("N", "CA", "CB"), 1.524, 110.7, (3, 0.0)), ("CG2", ("N", "CA", "CB"), 1.524, 110.4, (3, 122.0))],
}
_O_ENTRY = ("O", ("N", "CA", "C"), BOND_C_O, ANGLE_CA_C_O, (2, 180.0))


def _build_tables() -> dict[str, np.ndarray]:
    """Per (restype, slot) NeRF tables [21, 14]: reference slots, bond, angle, torsion index, offset."""
    refs = np.tile(np.array([0, 1, 2]), (21, 14, 1))
    bond = np.full((21, 14), 1.5)
    angle = np.full((21, 14), math.radians(109.5))
    tor = np.full((21, 14), 7)  # 7 = the constant zero torsion
    offset = np.zeros((21, 14))
    for r, names in enumerate(ATOM14_NAMES):
        entries = [_O_ENTRY] + _ZMATRIX.get(RESTYPES_3[r] if r < 20 else "", [])
        for atom, (a, b, c), length, ang, (t, off) in entries:
            s = names.index(atom)
            refs[r, s] = [names.index(a), names.index(b), names.index(c)]
            bond[r, s] = length
            angle[r, s] = math.radians(ang)
            tor[r, s] = 7 if t is None else t
            offset[r, s] = math.radians(off)
    return {"refs": refs, "bond": bond, "angle": angle, "tor": tor, "offset": offset}


NERF_TABLES = _build_tables()
"""NeRF tables per (restype, slot); slots 0..2 (N, CA, C) come from the frame instead."""


def ideal_backbone_local() -> np.ndarray:
    """Ideal N, CA, C in the backbone frame, [3, 3] Å (CA at origin, C on +x, N in the xy plane, y > 0)."""
    t = math.radians(ANGLE_N_CA_C)
    return np.array([[BOND_N_CA * math.cos(t), BOND_N_CA * math.sin(t), 0.0], [0.0, 0.0, 0.0], [BOND_CA_C, 0.0, 0.0]])


# ----------------------------------------------------------------------------- geometry helpers
def dihedral(p0: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor, p3: torch.Tensor) -> torch.Tensor:
    """IUPAC dihedral angle p0-p1-p2-p3 in radians, (-π, π]; points [*, 3] → [*]."""
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1n = b1 / torch.linalg.norm(b1, dim=-1, keepdim=True).clamp_min(1e-8)
    v = b0 - (b0 * b1n).sum(-1, keepdim=True) * b1n
    w = b2 - (b2 * b1n).sum(-1, keepdim=True) * b1n
    x = (v * w).sum(-1)
    y = (torch.linalg.cross(b1n, v, dim=-1) * w).sum(-1)
    return torch.atan2(y, x)


def _nerf(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, bond: torch.Tensor, angle: torch.Tensor,
          sin_d: torch.Tensor, cos_d: torch.Tensor) -> torch.Tensor:
    """Place d with |cd| = bond, angle b-c-d = angle, dihedral a-b-c-d given by (sin, cos); [*, 3]."""
    bc = c - b
    bc = bc / torch.linalg.norm(bc, dim=-1, keepdim=True).clamp_min(1e-8)
    n = torch.linalg.cross(b - a, bc, dim=-1)
    n = n / torch.linalg.norm(n, dim=-1, keepdim=True).clamp_min(1e-8)
    m = torch.linalg.cross(n, bc, dim=-1)
    bond, angle = bond.unsqueeze(-1), angle.unsqueeze(-1)
    return c + bond * (-torch.cos(angle) * bc + torch.sin(angle) * (cos_d.unsqueeze(-1) * m + sin_d.unsqueeze(-1) * n))


def _as_aatype(aatype: torch.Tensor | np.ndarray | str, device=None) -> torch.Tensor:
    """Residue types as a long tensor [*, N] (a sequence string maps through ``RESTYPES``; others → UNK)."""
    if isinstance(aatype, str):
        return torch.tensor([RESTYPE_ORDER.get(a, UNK) for a in aatype], dtype=torch.long, device=device)
    return torch.as_tensor(aatype, dtype=torch.long, device=device)


def to_atoms(frames: Rigid, torsions: torch.Tensor, aatype: torch.Tensor | np.ndarray | str) -> tuple[torch.Tensor, torch.Tensor]:
    """Rebuild all heavy atoms (OXT excluded, see module doc) with ideal geometry.

    frames: Rigid [*, N] (Å); torsions: [*, N, 7, 2] (sin, cos), need not be normalised;
    aatype: [N] (or [*, N]) long, or a one-letter sequence of length N.
    Returns (atom14 [*, N, 14, 3] Å, atom14_mask [N, 14] bool; [*, N, 14] if aatype is batched).
    Pure torch and differentiable; computed in the dtype of ``frames`` (float64 stays float64).
    Unused slots are exactly zero.
    """
    dtype, device = frames.dtype, frames.device
    aa = _as_aatype(aatype, device)
    tab = {k: torch.as_tensor(v, device=device)[aa] for k, v in NERF_TABLES.items()}  # [*aa, N, 14, ...]
    mask = torch.as_tensor(ATOM14_MASK, device=device)[aa]
    tors = torsions.to(dtype) / torch.linalg.norm(torsions.to(dtype), dim=-1, keepdim=True).clamp_min(1e-8)
    zero = torch.zeros_like(tors[..., :1, :])
    zero[..., 1] = 1.0
    tors = torch.cat([tors, zero], dim=-2)  # [*, N, 8, 2]; index 7 = zero torsion
    batch = tors.shape[:-2]
    tor_idx = tab["tor"].expand(*batch, 14)
    sin_t = torch.gather(tors[..., 0], -1, tor_idx)  # [*, N, 14]
    cos_t = torch.gather(tors[..., 1], -1, tor_idx)
    off = tab["offset"].to(dtype)
    sin_d = sin_t * torch.cos(off) + cos_t * torch.sin(off)
    cos_d = cos_t * torch.cos(off) - sin_t * torch.sin(off)
    bond, angle = tab["bond"].to(dtype).expand(*batch, 14), tab["angle"].to(dtype).expand(*batch, 14)
    refs = tab["refs"].expand(*batch, 14, 3)

    bb = torch.as_tensor(ideal_backbone_local(), dtype=dtype, device=device).expand(*batch, 3, 3)
    pos = [bb[..., 0, :], bb[..., 1, :], bb[..., 2, :]]  # local coordinates
    for s in range(3, 14):
        done = torch.stack(pos, dim=-2)  # [*, N, s, 3]
        r = refs[..., s, :]  # [*, N, 3]
        abc = torch.gather(done, -2, r.unsqueeze(-1).expand(*r.shape, 3))  # [*, N, 3, 3]
        pos.append(_nerf(abc[..., 0, :], abc[..., 1, :], abc[..., 2, :], bond[..., s], angle[..., s], sin_d[..., s], cos_d[..., s]))
    local = torch.stack(pos, dim=-2)  # [*, N, 14, 3]
    atoms = frames.unsqueeze(-1).apply(local)
    atoms = atoms * mask.to(dtype).unsqueeze(-1)
    return atoms, mask


def oxt_positions(atom14: torch.Tensor) -> torch.Tensor:
    """Terminal carboxylate OXT of every residue, [*, N, 3] Å, from CA, C, O of ``atom14`` [*, N, 14, 3].

    C is sp2 and planar: OXT is the mirror of O across the CA→C axis (in the CA-C-O plane).
    """
    ca, c, o = atom14[..., 1, :], atom14[..., 2, :], atom14[..., 3, :]
    axis = (c - ca) / torch.linalg.norm(c - ca, dim=-1, keepdim=True).clamp_min(1e-8)
    v = o - c
    along = (v * axis).sum(-1, keepdim=True) * axis
    return c + 2 * along - v


# ----------------------------------------------------------------------------- featurization
@dataclass
class ProteinFeatures:
    """Model inputs of one trajectory (T frames, N residues); lengths in Å, angles as (sin, cos)."""

    frames: Rigid  # [T, N]
    torsions: torch.Tensor  # [T, N, 7, 2]
    torsion_mask: torch.Tensor  # [N, 7] bool
    aatype: torch.Tensor  # [N] long
    residue_index: torch.Tensor  # [N] long
    chain_index: torch.Tensor  # [N] long
    chain_breaks: torch.Tensor  # [N] bool, True where residue i starts a chain or follows a gap
    atom14: torch.Tensor  # [T, N, 14, 3] Å (zero where masked)
    atom14_mask: torch.Tensor  # [N, 14] bool (residue type and presence in the input)
    sequence: str

    @property
    def n_frames(self) -> int:
        return self.atom14.shape[0]

    @property
    def n_residues(self) -> int:
        return self.atom14.shape[1]


CHAIN_GAP = 100
"""Offset added to ``residue_index`` at every chain start (keeps chains apart in positional encodings)."""


def canonical_resname(name: str) -> str | None:
    """Standard three-letter name for ``name`` (aliases mapped), or None if not a standard amino acid."""
    name = name.upper()
    name = RESIDUE_ALIASES.get(name, name)
    return name if name in RESTYPE_3TO1 else None


def _atom_slot(resname: str, atom_name: str, names: list[str]) -> int | None:
    name = ATOM_ALIASES.get((resname, atom_name), ATOM_ALIASES.get(("*", atom_name), atom_name))
    return names.index(name) if name and name in names else None


def extract_atom14(traj, source: str = "trajectory") -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Heavy atoms of an mdtraj trajectory in the 14-slot layout.

    Returns (atom14 [T, N, 14, 3] float64 Å, atom14_mask [N, 14] bool, aatype [N] int, residues).
    Only amino-acid residues are kept; a residue with backbone atoms (N, CA, C) but an unknown name
    raises InputError. Water, ions and ligands are skipped.
    """
    xyz = np.asarray(traj.xyz, dtype=np.float64) * 10.0
    residues, rows, types = [], [], []
    for res in traj.topology.residues:
        std = canonical_resname(res.name)
        atom_names = {a.name for a in res.atoms}
        if std is None:
            if {"N", "CA", "C"} <= atom_names:
                raise InputError(f"{source}: non-standard residue {res.name} {res.resSeq} (chain {_chain_label(res)}); "
                                 "only the 20 standard amino acids (and aliases such as MSE, HSD, CYX) are supported")
            continue
        r = RESTYPE_ORDER[RESTYPE_3TO1[std]]
        idx = np.full(14, -1)
        for atom in res.atoms:
            if atom.element is not None and atom.element.symbol == "H":
                continue
            s = _atom_slot(std, atom.name, ATOM14_NAMES[r])
            if s is not None:
                idx[s] = atom.index
        missing = [n for n, s in zip(("N", "CA", "C"), range(3), strict=False) if idx[s] < 0]
        if missing:
            raise InputError(f"{source}: residue {res.name} {res.resSeq} (chain {_chain_label(res)}) lacks backbone atom(s) {', '.join(missing)}")
        residues.append(res)
        rows.append(idx)
        types.append(r)
    if not residues:
        raise InputError(f"{source}: no amino-acid residues found")
    idx = np.stack(rows)  # [N, 14]
    mask = idx >= 0
    atom14 = xyz[:, np.where(mask, idx, 0)] * mask[None, :, :, None]
    if not np.isfinite(atom14).all():
        frame = int(np.argwhere(~np.isfinite(atom14))[0, 0])
        raise InputError(f"{source}: NaN or infinite coordinates (first in frame {frame})")
    return atom14, mask, np.array(types), residues


def _chain_label(res) -> str:
    chain_id = getattr(res.chain, "chain_id", None)
    return str(chain_id) if chain_id else str(res.chain.index)


def _chain_layout(residues: list, atom14: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(residue_index [N], chain_index [N], chain_breaks [N]) from topology chains and C(i-1)-N(i) gaps in frame 0."""
    n = len(residues)
    chain_index = np.array([r.chain.index for r in residues])
    _, chain_index = np.unique(chain_index, return_inverse=True)
    breaks = np.ones(n, dtype=bool)
    if n > 1:
        gap = np.linalg.norm(atom14[0, 1:, 0] - atom14[0, :-1, 2], axis=-1)
        breaks[1:] = (chain_index[1:] != chain_index[:-1]) | (gap > PEPTIDE_BREAK)
    residue_index = np.zeros(n, dtype=np.int64)
    for i in range(1, n):
        step = residues[i].resSeq - residues[i - 1].resSeq
        new_chain = chain_index[i] != chain_index[i - 1]
        residue_index[i] = residue_index[i - 1] + (CHAIN_GAP if new_chain else max(int(step), 1))
    return residue_index, chain_index.astype(np.int64), breaks


def compute_torsions(atom14: torch.Tensor, atom14_mask: torch.Tensor, aatype: torch.Tensor,
                     chain_breaks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Torsion angles (ω, φ, ψ, χ1..χ4) from atoms.

    atom14: [T, N, 14, 3] Å; atom14_mask: [N, 14]; aatype: [N]; chain_breaks: [N] bool.
    Returns (angles [T, N, 7] radians (0 where masked), torsion_mask [N, 7] bool).
    ψ of a residue without a bonded successor (chain end or gap) is taken from its O
    (ψ = N-CA-C-O − 180°), so that O can always be rebuilt; ω and φ there are masked.
    """
    T, N = atom14.shape[:2]
    angles = torch.zeros(T, N, 7, dtype=atom14.dtype)
    tmask = torch.zeros(N, 7, dtype=torch.bool)
    n_, ca, c, o = (atom14[:, :, k] for k in range(4))
    bonded = ~chain_breaks[1:]  # residue i+1 is bonded to i, [N-1]
    if N > 1:
        angles[:, 1:, 0] = dihedral(ca[:, :-1], c[:, :-1], n_[:, 1:], ca[:, 1:])
        angles[:, 1:, 1] = dihedral(c[:, :-1], n_[:, 1:], ca[:, 1:], c[:, 1:])
        angles[:, :-1, 2] = dihedral(n_[:, :-1], ca[:, :-1], c[:, :-1], n_[:, 1:])
        tmask[1:, 0] = tmask[1:, 1] = tmask[:-1, 2] = bonded
    psi_from_o = dihedral(n_, ca, c, o) - math.pi
    psi_from_o = torch.atan2(torch.sin(psi_from_o), torch.cos(psi_from_o))
    use_o = ~tmask[:, 2] & atom14_mask[:, 3]
    angles[:, :, 2] = torch.where(use_o, psi_from_o, angles[:, :, 2])
    tmask[:, 2] |= use_o
    angles[:, :, 0:2] *= tmask[:, 0:2]
    for i in range(N):
        names = ATOM14_NAMES[int(aatype[i])]
        for k, quad in enumerate(CHI_ATOMS.get(RESTYPES_3[int(aatype[i])] if int(aatype[i]) < 20 else "", [])):
            slots = [names.index(a) for a in quad]
            if all(bool(atom14_mask[i, s]) for s in slots):
                angles[:, i, 3 + k] = dihedral(*(atom14[:, i, s] for s in slots))
                tmask[i, 3 + k] = True
    return angles, tmask


def featurize(traj, dtype: torch.dtype = torch.float32) -> ProteinFeatures:
    """Frames, torsions, atoms and sequence of a trajectory.

    traj: a :class:`starmd.core.data.ProteinTrajectory` or an ``mdtraj.Trajectory`` (any atoms;
    hydrogens, water, ions and ligands are ignored). Geometry is computed in float64 and returned
    in ``dtype``. Raises InputError for non-standard residues, missing N/CA/C, NaN coordinates.
    """
    md_traj = getattr(traj, "traj", traj)
    source = str(getattr(traj, "source", None) or getattr(traj, "name", None) or "trajectory")
    atom14_np, mask_np, aatype_np, residues = extract_atom14(md_traj, source)
    residue_index, chain_index, breaks = _chain_layout(residues, atom14_np)
    atom14 = torch.from_numpy(atom14_np)
    mask = torch.from_numpy(mask_np)
    aatype = torch.from_numpy(aatype_np).long()
    chain_breaks = torch.from_numpy(breaks)
    angles, tmask = compute_torsions(atom14, mask, aatype, chain_breaks)
    torsions = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1) * tmask[..., None]
    frames = Rigid.from_3_points(atom14[..., 0, :], atom14[..., 1, :], atom14[..., 2, :])
    return ProteinFeatures(
        frames=frames.to(dtype), torsions=torsions.to(dtype), torsion_mask=tmask, aatype=aatype,
        residue_index=torch.from_numpy(residue_index), chain_index=torch.from_numpy(chain_index),
        chain_breaks=chain_breaks, atom14=atom14.to(dtype), atom14_mask=mask,
        sequence="".join(RESTYPES[int(a)] for a in aatype_np),
    )


# ----------------------------------------------------------------------------- writing
def make_topology(aatype: torch.Tensor | np.ndarray | str, chain_index=None, oxt: bool = True):
    """An mdtraj.Topology of heavy atoms in atom14 order (masked slots skipped).

    aatype: [N] or a sequence string; chain_index: [N] ints (default: one chain). With ``oxt``,
    the last residue of every chain gets an OXT atom after its atom14 atoms.
    """
    import mdtraj as md

    aa = _as_aatype(aatype).numpy()
    chains = np.zeros(len(aa), dtype=np.int64) if chain_index is None else np.asarray(chain_index)
    top = md.Topology()
    chain, prev = None, None
    for i, r in enumerate(aa):
        if chain is None or chains[i] != chains[i - 1]:
            chain, prev = top.add_chain(), None
        res = top.add_residue(RESTYPES_3[r] if r < 20 else "UNK", chain, resSeq=i + 1)
        atoms = {}
        for name in ATOM14_NAMES[r]:
            if name:
                atoms[name] = top.add_atom(name, md.element.get_by_symbol(name[0]), res)
        last = i == len(aa) - 1 or chains[i + 1] != chains[i]
        if oxt and last:
            atoms["OXT"] = top.add_atom("OXT", md.element.oxygen, res)
        _add_bonds(top, RESTYPES_3[r] if r < 20 else "", atoms)
        if prev is not None:
            top.add_bond(prev, atoms["N"])
        prev = atoms["C"]
    return top


def _add_bonds(top, resname: str, atoms: dict) -> None:
    """Bonds within one residue: each Z-matrix atom to its parent, plus ring closures."""
    pairs = [("N", "CA"), ("CA", "C"), ("C", "O"), ("C", "OXT")]
    pairs += [(e[1][2], e[0]) for e in _ZMATRIX.get(resname, [])]
    pairs += {"PRO": [("CD", "N")], "PHE": [("CE2", "CZ")], "TYR": [("CE2", "CZ")], "HIS": [("CE1", "NE2")],
              "TRP": [("NE1", "CE2"), ("CZ3", "CH2")]}.get(resname, [])
    for a, b in pairs:
        if a in atoms and b in atoms:
            top.add_bond(atoms[a], atoms[b])


def atoms_to_mdtraj(atom14, aatype, time_ps=None, chain_index=None, oxt: bool = True):
    """An mdtraj.Trajectory (nm) from atom14 coordinates [T, N, 14, 3] Å (numpy or torch).

    aatype: [N] or sequence string; time_ps: [T] times (default 0..T-1); chain_index: [N].
    With ``oxt`` the last residue of every chain gets OXT from :func:`oxt_positions`.
    """
    import mdtraj as md

    xyz = torch.as_tensor(atom14).detach().to("cpu", torch.float64)
    if xyz.dim() == 3:
        xyz = xyz.unsqueeze(0)
    aa = _as_aatype(aatype).numpy()
    chains = np.zeros(len(aa), dtype=np.int64) if chain_index is None else np.asarray(chain_index)
    top = make_topology(aa, chains, oxt=oxt)
    ox = oxt_positions(xyz)
    cols = []
    for i, r in enumerate(aa):
        cols += [xyz[:, i, s] for s in range(14) if ATOM14_MASK[r, s]]
        if oxt and (i == len(aa) - 1 or chains[i + 1] != chains[i]):
            cols.append(ox[:, i])
    coords = torch.stack(cols, dim=1).numpy() / 10.0
    time = np.arange(coords.shape[0], dtype=np.float64) if time_ps is None else np.asarray(time_ps, dtype=np.float64)
    return md.Trajectory(coords.astype(np.float32), top, time=time)


__all__ = [
    "RESTYPES", "RESTYPES_3", "RESTYPE_3TO1", "RESTYPE_1TO3", "RESTYPE_ORDER", "UNK", "RESIDUE_ALIASES", "ATOM_ALIASES",
    "ATOM14_NAMES", "ATOM14_MASK", "CHI_ATOMS", "CHI_MASK", "TORSION_NAMES", "TORSION_MASK", "NERF_TABLES", "CHAIN_GAP",
    "ProteinFeatures", "featurize", "to_atoms", "oxt_positions", "compute_torsions", "extract_atom14", "canonical_resname",
    "dihedral", "ideal_backbone_local", "make_topology", "atoms_to_mdtraj",
]
