"""Per-frame structural validity of a trajectory: Cα clashes, chain breaks, Ramachandran and
rotamer outliers, and the CA % / AA % / CA+AA % summaries of the paper.

Works on mdtraj trajectories (heavy atoms; hydrogens are ignored). Distances in Å, angles in
degrees. Thresholds come from :class:`starmd.core.specs.EvaluationSpec`.

Definitions
-----------
* Cα clash: two Cα closer than ``clash_distance`` (3.0 Å) with sequence separation |i−j| > 1.
* Chain break: consecutive Cα (same chain) farther apart than ``break_distance`` (4.19 Å).
* CA-valid frame: no clash and no break.
* Ramachandran outlier: a residue with both φ and ψ defined whose (φ, ψ) lies outside every
  allowed region of its class (general, glycine, proline; see ``RAMA_REGIONS``).
* Rotamer outlier: a residue with at least one checked side-chain dihedral (χ1, χ2; see
  ``ROTAMER_WELLS``) that lies farther than ``tolerance`` from every well of that dihedral.
* AA-valid frame: Ramachandran-outlier fraction ≤ ``rama_outlier_max`` (4.12 %) of the residues
  with φ/ψ, and rotamer-outlier fraction ≤ ``rotamer_outlier_max`` (7.05 %) of the residues with a
  checked χ. CA+AA-valid: both.
"""

from __future__ import annotations

import mdtraj as md
import numpy as np

from starmd.core.specs import EvaluationSpec
from starmd.errors import StarMDError

# ---------------------------------------------------------------------------- regions
# Allowed Ramachandran regions as boxes (φ_min, φ_max, ψ_min, ψ_max) in degrees, drawn by us as a
# deliberately broad, simple approximation of the "allowed" contours of the published
# high-resolution-structure Ramachandran plots (Ramachandran et al. 1963; Lovell et al. 2003,
# Proteins 50:437, general / Gly / Pro panels). Wrap-around at ±180° is handled by splitting a
# region into two boxes. Pre-proline residues use the general regions (a stated simplification).
_GENERAL = [
    (-180.0, -30.0, -100.0, 60.0),   # right-handed α helix, 3₁₀, and the bridge region
    (-180.0, -40.0, 60.0, 180.0),    # β sheet, polyproline II, C7eq / γ'
    (-180.0, -45.0, -180.0, -150.0),  # β continuing across ψ = ±180°
    (30.0, 100.0, -30.0, 90.0),      # left-handed α helix (and αL/γ of non-Gly residues)
]
# Glycine is achiral: its allowed map is symmetric under (φ, ψ) → (−φ, −ψ). It is the general map,
# the extended region below the β box (ψ −155…−100° at φ ≤ −75°, well populated by glycine only),
# and the inversion of both. Without that extra box 4.2 % of the glycine density of the Top500
# Ramachandran table (Lovell et al. 2003) fell outside these regions; with it, 0.2 %.
_GLYCINE_HALF = _GENERAL + [(-180.0, -75.0, -155.0, -100.0)]
_GLYCINE = _GLYCINE_HALF + [(-b, -a, -d, -c) for (a, b, c, d) in _GLYCINE_HALF]
# Proline: φ is held near −65° by the ring; α and PPII/β ψ.
_PROLINE = [
    (-105.0, -35.0, -75.0, 180.0),
    (-105.0, -35.0, -180.0, -165.0),
]
RAMA_REGIONS: dict[str, list[tuple[float, float, float, float]]] = {
    "general": _GENERAL, "glycine": _GLYCINE, "proline": _PROLINE,
}

# Rotamer wells (degrees) per residue and dihedral. sp3–sp3 bonds have three staggered wells
# g+ (60°), t (180°), g− (−60°) (IUPAC convention, as tabulated in rotamer libraries such as
# Lovell et al. 2000, Proteins 40:389). Proline χ1 follows the ring pucker (≈ ±30°). Aromatic χ2 of
# Phe/Tyr is 180°-symmetric (the ring flips onto itself); its wells are those of the library's four
# rotamers p90, t80, m-85 (χ2 ≈ ±90°) and m-30 (χ2 ≈ −30° ≡ 150°). Dihedrals with broad or
# planar-end distributions (χ2 of Asp, Asn, His, Trp; Pro χ2) are not checked.
_STAGGERED = (60.0, 180.0, -60.0)
ROTAMER_WELLS: dict[str, dict[str, tuple[float, ...]]] = {
    **{r: {"chi1": _STAGGERED} for r in ("SER", "THR", "VAL", "CYS", "ASP", "ASN", "HIS", "TRP")},
    **{r: {"chi1": _STAGGERED, "chi2": _STAGGERED} for r in ("LEU", "ILE", "MET", "LYS", "ARG", "GLU", "GLN")},
    **{r: {"chi1": _STAGGERED, "chi2": (90.0, -90.0, -30.0, 150.0)} for r in ("PHE", "TYR")},
    "PRO": {"chi1": (30.0, -30.0)},
}
# Half-width (degrees) of each well; Pro χ1 wells are narrower and overlap, so they use 25°.
ROTAMER_TOLERANCE = 40.0
_PRO_TOLERANCE = 25.0


def _resname(r) -> str:
    n = r.name.upper()
    return {"HID": "HIS", "HIE": "HIS", "HIP": "HIS", "CYX": "CYS", "ASH": "ASP", "GLH": "GLU", "LYN": "LYS"}.get(n, n)


def in_regions(phi_deg: np.ndarray, psi_deg: np.ndarray, regions) -> np.ndarray:
    """Boolean array: is each (φ, ψ) (degrees, any shape) inside at least one box of ``regions``."""
    phi, psi = np.asarray(phi_deg, float), np.asarray(psi_deg, float)
    inside = np.zeros(np.broadcast(phi, psi).shape, bool)
    for a, b, c, d in regions:
        inside |= (phi >= a) & (phi <= b) & (psi >= c) & (psi <= d)
    return inside


def rama_class(resname: str, next_resname: str | None = None) -> str:
    """Region class of a residue: ``glycine``, ``proline`` or ``general``."""
    r = resname.upper()
    return "glycine" if r == "GLY" else "proline" if r == "PRO" else "general"


def _angdiff(a: np.ndarray, b: float) -> np.ndarray:
    return np.abs((np.asarray(a) - b + 180.0) % 360.0 - 180.0)


# ---------------------------------------------------------------------------- checks


def _ca(traj: md.Trajectory) -> tuple[np.ndarray, np.ndarray]:
    idx = traj.topology.select("name CA")
    if idx.size == 0:
        raise StarMDError("validity: trajectory has no Cα atoms")
    chains = np.array([traj.topology.atom(i).residue.chain.index for i in idx])
    return np.asarray(traj.xyz[:, idx], np.float64) * 10.0, chains


def ca_clashes(traj: md.Trajectory, clash_distance: float = 3.0) -> np.ndarray:
    """Number of Cα–Cα pairs with |i−j| > 1 closer than ``clash_distance`` (Å), per frame ``[T]``."""
    xyz, _ = _ca(traj)
    n = xyz.shape[1]
    i, j = np.triu_indices(n, k=2)
    out = np.zeros(len(xyz), int)
    if i.size == 0:
        return out
    for s in range(0, len(xyz), 256):
        d = np.linalg.norm(xyz[s:s + 256, i] - xyz[s:s + 256, j], axis=-1)
        out[s:s + 256] = (d < clash_distance).sum(1)
    return out


def chain_breaks(traj: md.Trajectory, break_distance: float = 4.19) -> np.ndarray:
    """Number of consecutive Cα pairs (same chain) farther apart than ``break_distance`` (Å), per frame ``[T]``."""
    xyz, chains = _ca(traj)
    same = chains[1:] == chains[:-1]
    d = np.linalg.norm(xyz[:, 1:] - xyz[:, :-1], axis=-1)
    return ((d > break_distance) & same).sum(1)


def ramachandran(traj: md.Trajectory) -> dict:
    """φ/ψ (degrees, ``[T, R]``) of residues with both defined, their classes and outlier mask ``[T, R]``."""
    iphi, phi = md.compute_phi(traj)
    ipsi, psi = md.compute_psi(traj)
    top = traj.topology
    res_phi = {top.atom(q[1]).residue.index: k for k, q in enumerate(iphi)}  # N of residue i (φ: C(i-1) N CA C)
    res_psi = {top.atom(q[1]).residue.index: k for k, q in enumerate(ipsi)}  # CA of residue i (ψ: N CA C N(i+1))
    residues = sorted(set(res_phi) & set(res_psi))
    if not residues:
        z = np.zeros((traj.n_frames, 0))
        return {"residues": [], "classes": [], "phi": z, "psi": z, "outlier": z.astype(bool)}
    P = np.degrees(phi[:, [res_phi[r] for r in residues]])
    S = np.degrees(psi[:, [res_psi[r] for r in residues]])
    classes = [rama_class(_resname(top.residue(r))) for r in residues]
    outlier = np.zeros(P.shape, bool)
    for k, c in enumerate(classes):
        outlier[:, k] = ~in_regions(P[:, k], S[:, k], RAMA_REGIONS[c])
    return {"residues": residues, "classes": classes, "phi": P, "psi": S, "outlier": outlier}


def rotamer_outliers(traj: md.Trajectory, tolerance: float = ROTAMER_TOLERANCE) -> dict:
    """Rotamer-outlier mask ``[T, R]`` over residues with at least one checked χ (``ROTAMER_WELLS``)."""
    top = traj.topology
    per_res: dict[int, np.ndarray] = {}
    for name, fn in (("chi1", md.compute_chi1), ("chi2", md.compute_chi2)):
        idx, ang = fn(traj)
        for k, q in enumerate(idx):
            res = top.atom(q[1]).residue
            wells = ROTAMER_WELLS.get(_resname(res), {}).get(name)
            if not wells:
                continue
            tol = _PRO_TOLERANCE if _resname(res) == "PRO" else tolerance
            deg = np.degrees(ang[:, k])
            bad = np.min([_angdiff(deg, w) for w in wells], axis=0) > tol
            per_res[res.index] = per_res.get(res.index, np.zeros(traj.n_frames, bool)) | bad
    residues = sorted(per_res)
    mask = np.stack([per_res[r] for r in residues], 1) if residues else np.zeros((traj.n_frames, 0), bool)
    return {"residues": residues, "outlier": mask}


def outliers_by_residue(traj: md.Trajectory) -> dict:
    """Percent of frames in which each residue is a Ramachandran or rotamer outlier.

    Returns ``{"rama": {label: percent}, "rotamer": {label: percent}}`` over the residues that are
    checked (labels like ``GLY7``: mdtraj's residue name and sequence number), in chain order — what
    a low AA % is made of.
    """
    return _by_residue(traj.topology, ramachandran(traj), rotamer_outliers(traj))


def _by_residue(top, rama: dict, rot: dict) -> dict:
    """:func:`outliers_by_residue` from the outputs of :func:`ramachandran` and :func:`rotamer_outliers`."""
    return {kind: {str(top.residue(r)): float(100.0 * res["outlier"][:, k].mean()) for k, r in enumerate(res["residues"])}
            for kind, res in (("rama", rama), ("rotamer", rot))}


def validity(traj: md.Trajectory, spec: EvaluationSpec | None = None, per_frame: bool = False) -> dict:
    """CA %, AA %, CA+AA % of frames (percent), the mean outlier fractions and ``outliers_by_residue``
    (see :func:`outliers_by_residue`).

    ``traj``: heavy-atom (or all-atom) protein trajectory. With ``per_frame=True`` the result also
    holds per-frame lists (``ca_valid``, ``aa_valid``, ``clashes``, ``breaks``, ``rama_fraction``,
    ``rotamer_fraction``).
    """
    spec = spec or EvaluationSpec()
    if traj.n_frames == 0:
        raise StarMDError("validity: trajectory has no frames")
    clashes = ca_clashes(traj, spec.clash_distance)
    breaks = chain_breaks(traj, spec.break_distance)
    rama = ramachandran(traj)
    rot = rotamer_outliers(traj)
    rama_frac = rama["outlier"].mean(1) if rama["outlier"].shape[1] else np.zeros(traj.n_frames)
    rot_frac = rot["outlier"].mean(1) if rot["outlier"].shape[1] else np.zeros(traj.n_frames)
    ca_ok = (clashes == 0) & (breaks == 0)
    aa_ok = (rama_frac <= spec.rama_outlier_max + 1e-12) & (rot_frac <= spec.rotamer_outlier_max + 1e-12)
    out = {
        "n_frames": int(traj.n_frames),
        "ca_percent": float(100 * ca_ok.mean()), "aa_percent": float(100 * aa_ok.mean()),
        "ca_aa_percent": float(100 * (ca_ok & aa_ok).mean()),
        "clash_frames_percent": float(100 * (clashes > 0).mean()),
        "break_frames_percent": float(100 * (breaks > 0).mean()),
        "rama_outlier_fraction": float(rama_frac.mean()), "rotamer_outlier_fraction": float(rot_frac.mean()),
        "n_rama_residues": len(rama["residues"]), "n_rotamer_residues": len(rot["residues"]),
        "outliers_by_residue": _by_residue(traj.topology, rama, rot),
    }
    if per_frame:
        out.update(ca_valid=ca_ok.tolist(), aa_valid=aa_ok.tolist(), clashes=clashes.tolist(), breaks=breaks.tolist(),
                   rama_fraction=rama_frac.tolist(), rotamer_fraction=rot_frac.tolist())
    return out


__all__ = ["RAMA_REGIONS", "ROTAMER_WELLS", "ROTAMER_TOLERANCE", "in_regions", "rama_class", "ca_clashes",
           "chain_breaks", "ramachandran", "rotamer_outliers", "outliers_by_residue", "validity"]
