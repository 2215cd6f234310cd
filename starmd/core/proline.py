"""Proline geometry that a frame-and-torsion representation does not enforce by itself.

Proline's side chain is a ring: Cδ is bonded to the backbone N. The atom builder places Cδ from
χ1 and χ2 like any other side chain, so a χ2 drawn independently of χ1 (a sample of a torsion
head) leaves the ring open: N–Cδ of 1.8–3 Å instead of 1.47 Å. The ring also fixes φ near −63°,
because N is planar and bonded to the preceding C (used by :mod:`starmd.core.refine`).

Angles in radians unless named ``_DEG``; distances in Å.
"""

from __future__ import annotations

import functools
import math

import torch

from starmd.core.protein import RESTYPE_ORDER, to_atoms
from starmd.core.rigid import Rigid

# N–Cδ bond (Engh & Huber 1991) and the φ window the ring allows: −63 ± 15° (Lovell et al. 2003,
# Proteins 50:437; MacArthur & Thornton 1991, J. Mol. Biol. 218:397), here ±20° about the mean
BOND_N_CD = 1.473
ANGLE_CD_N_CA = 111.7  # degrees (Engh & Huber 1991)
PROLINE_PHI_DEG = (-83.0, -43.0)
_PRO = RESTYPE_ORDER["P"]
_CHI1, _CHI2 = 3, 4  # torsion slots (ω, φ, ψ, χ1, χ2, χ3, χ4)
_N, _CA, _CD = 0, 1, 6  # atom14 slots in proline


def _build(torsions: torch.Tensor) -> torch.Tensor:
    """Local atom14 coordinates (Å) of prolines with these torsions: [P, 7, 2] → [P, 14, 3]."""
    p = torsions.shape[0]
    frames = Rigid(torch.eye(3, dtype=torsions.dtype).expand(p, 3, 3), torch.zeros(p, 3, dtype=torsions.dtype))
    return to_atoms(frames, torsions, torch.full((p,), _PRO, dtype=torch.long))[0]


def _n_cd_squared(torsions: torch.Tensor, chi2: float) -> torch.Tensor:
    """|N–Cδ|² (Å²) of prolines built with the given torsions and χ2 set to ``chi2``: [P, 7, 2] → [P]."""
    atoms = _build(_with_angle(torsions, _CHI2, torch.full(torsions.shape[:1], chi2, dtype=torsions.dtype)))
    return (atoms[:, _N] - atoms[:, _CD]).pow(2).sum(-1)


def _cd_n_ca(torsions: torch.Tensor) -> torch.Tensor:
    """The ring angle Cδ–N–Cα (degrees) of prolines built with these torsions: [P, 7, 2] → [P]."""
    atoms = _build(torsions)
    u, v = atoms[:, _CD] - atoms[:, _N], atoms[:, _CA] - atoms[:, _N]
    return torch.rad2deg(torch.atan2(torch.linalg.cross(u, v).norm(dim=-1), (u * v).sum(-1)))


def _with_angle(torsions: torch.Tensor, slot: int, angle: torch.Tensor) -> torch.Tensor:
    out = torsions.clone()
    out[:, slot] = torch.stack([torch.sin(angle), torch.cos(angle)], -1)
    return out


def _closing_chi2(pro: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two χ2 (rad) that close each ring for its χ1, and whether they exist: [P, 7, 2] → ([P, 2], [P]).

    Cδ turns about the Cβ–Cγ axis as χ2 changes, so |N–Cδ|² = a + b·cos χ2 + c·sin χ2 exactly:
    three builds give a, b, c and the closing χ2 follow in closed form."""
    d0, d90, d180 = (_n_cd_squared(pro, x) for x in (0.0, math.pi / 2, math.pi))
    a, b = (d0 + d180) / 2, (d0 - d180) / 2
    c = d90 - a
    amplitude = torch.sqrt(b * b + c * c).clamp_min(1e-9)
    ratio = (BOND_N_CD ** 2 - a) / amplitude
    centre, spread = torch.atan2(c, b), torch.arccos(ratio.clamp(-1.0, 1.0))
    return torch.stack([centre + spread, centre - spread], -1), ratio.abs() <= 1.0


@functools.lru_cache(maxsize=1)
def _max_closing_chi1() -> float:
    """Largest |χ1| (rad) for which some χ2 closes the ring with this package's ideal geometry (≈ 34°).

    The shortest N–Cδ over χ2 grows with |χ1| (symmetric in its sign), so the closable χ1 form one
    interval about 0; found once by bisection."""
    base = torch.zeros(1, 7, 2, dtype=torch.float64)
    base[..., 1] = 1.0
    lo, hi = 0.0, math.pi / 2  # χ1 = 0 closes, 90° does not
    for _ in range(50):
        mid = (lo + hi) / 2
        closes = bool(_closing_chi2(_with_angle(base, _CHI1, torch.tensor([mid], dtype=torch.float64)))[1])
        lo, hi = (mid, hi) if closes else (lo, mid)
    return lo


def close_proline_rings(torsions: torch.Tensor, aatype: torch.Tensor) -> torch.Tensor:
    """Set every proline's χ2 so that its ring closes (N–Cδ = ``BOND_N_CD``) with its χ1 as given.

    torsions: [*, N, 7, 2] (sin, cos); aatype: [N] or [*, N] long. Returns a copy with χ2 of the
    prolines replaced (as unit sin/cos); other residues and torsions are unchanged. Of the two
    closing χ2 the one whose Cδ–N–Cα angle is ideal is kept: χ2 ≈ −χ1, the pucker set by χ1's
    sign (Cγ-endo χ1 > 0, Cγ-exo χ1 < 0). With this package's ideal geometry a ring closes
    only for |χ1| ≲ 34° (MD prolines sit near ±30°); a χ1 beyond that is first brought back to
    that limit. Computed on the CPU; returned on ``torsions``' device.
    """
    aa = torch.as_tensor(aatype, device=torsions.device).expand(torsions.shape[:-2])
    is_pro = aa == _PRO
    if not bool(is_pro.any()):
        return torsions
    pro = torsions[is_pro].detach().to("cpu", torch.float64)  # [P, 7, 2]; a few atoms: always on the CPU
    limit = _max_closing_chi1()  # a χ1 beyond it cannot close: bring it back to the limit
    chi1 = torch.atan2(pro[:, _CHI1, 0], pro[:, _CHI1, 1]).clamp(-limit, limit)
    pro = _with_angle(pro, _CHI1, chi1)
    options = _closing_chi2(pro)[0]
    # of the two closures keep the one with the proper angle at N (the other bends Cδ–N–Cα by ~8°)
    strain = torch.stack([(_cd_n_ca(_with_angle(pro, _CHI2, options[:, k])) - ANGLE_CD_N_CA).abs() for k in range(2)], -1)
    chi2 = options.gather(-1, strain.argmin(-1, keepdim=True)).squeeze(-1)
    out = torsions.clone()
    out[is_pro] = _with_angle(pro, _CHI2, chi2).to(torsions.device, torsions.dtype)
    return out


__all__ = ["BOND_N_CD", "PROLINE_PHI_DEG", "close_proline_rings"]
