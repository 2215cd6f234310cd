"""Peptide-bond refinement: the smallest move of generated residue frames that closes every
peptide bond with ideal geometry.

A frame-based generator places each residue's rigid backbone (N, Cα, C) independently; nothing in
the representation ties residue i's C to residue i+1's N. Small errors in the relative placement
of neighbours show up as stretched or bent peptide bonds and, past 4.19 Å between Cα, as chain
breaks. After each generated frame, rollouts can minimise

    E = Σ_links [ Σ_k ((d_k − d_k⁰) / σ_bond)² + (Δω / σ_ω)² + (Δφ′ / σ_dih)² + (Δψ / σ_dih)² ]
        + Σ_residues Σ_{N,Cα,C} |x − x_generated|² / σ_move²

over a rigid motion of every residue (rotation about its own Cα, then a translation), with
d = (C–N′, Cα–N′, C–Cα′) per linked pair: the bond length and, through the two other distances,
the angles Cα–C–N′ and C–N′–Cα′; ω held planar (trans, or cis where the start structure is cis);
and, optionally, φ/ψ pulled towards given values (the torsion head's sample). This is the
frame-space analogue of the restrained relaxation that structure predictors run after prediction;
it is rigid per residue, so side chains and torsions ride along.

Ideal values (Engh & Huber 1991): C–N 1.329 Å, Cα–C–N 116.2°, C–N–Cα 121.7°, with this package's
Cα–C 1.525 Å and N–Cα 1.458 Å. Distances in Å.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from starmd.core.proline import PROLINE_PHI_DEG
from starmd.core.protein import BOND_C_N, BOND_CA_C, BOND_N_CA, dihedral, ideal_backbone_local
from starmd.core.rigid import Rigid
from starmd.core.so3 import exp_map

ANGLE_CA_C_N = 116.2  # degrees
ANGLE_C_N_CA = 121.7


def _law_of_cosines(a: float, b: float, angle_deg: float) -> float:
    return math.sqrt(a * a + b * b - 2 * a * b * math.cos(math.radians(angle_deg)))


# ideal (C–N′, Cα–N′, C–Cα′) distances, Å
IDEAL_LINK = (BOND_C_N, _law_of_cosines(BOND_CA_C, BOND_C_N, ANGLE_CA_C_N), _law_of_cosines(BOND_C_N, BOND_N_CA, ANGLE_C_N_CA))


def backbone_atoms(frames: Rigid) -> torch.Tensor:
    """Ideal N, Cα, C of every frame: Rigid [*, N] (Å) → [*, N, 3, 3] (Å)."""
    local = torch.as_tensor(ideal_backbone_local(), dtype=frames.dtype, device=frames.device)
    return torch.einsum("...ij,kj->...ki", frames.rots, local) + frames.trans[..., None, :]


def link_distances(atoms: torch.Tensor) -> torch.Tensor:
    """(C–N′, Cα–N′, C–Cα′) between residue i and i+1: atoms [*, N, 3, 3] (N, Cα, C) → [*, N−1, 3] Å."""
    n1, ca1 = atoms[..., 1:, 0, :], atoms[..., 1:, 1, :]
    ca0, c0 = atoms[..., :-1, 1, :], atoms[..., :-1, 2, :]
    return torch.stack([torch.linalg.norm(c0 - n1, dim=-1), torch.linalg.norm(ca0 - n1, dim=-1),
                        torch.linalg.norm(c0 - ca1, dim=-1)], dim=-1)


def link_deviation(frames: Rigid, linked: torch.Tensor) -> torch.Tensor:
    """Largest |d − d⁰| (Å) over the linked pairs of each structure: frames [S, N], linked bool [S, N−1] → [S]."""
    dev = (link_distances(backbone_atoms(frames)) - frames.trans.new_tensor(IDEAL_LINK)).abs().amax(-1)
    return torch.where(linked, dev, torch.zeros_like(dev)).amax(-1) if dev.shape[-1] else dev.sum(-1)


# link k ∈ (C–N′, Cα–N′, C–Cα′): (atom of residue i, atom of residue i+1) in N=0, Cα=1, C=2 order
_LINK_ATOMS = ((2, 0), (1, 0), (2, 1))


def _skew(v: torch.Tensor) -> torch.Tensor:
    """[..., 3] → the cross-product matrices [..., 3, 3] ([v]× w = v × w)."""
    z = torch.zeros_like(v[..., 0])
    return torch.stack([torch.stack([z, -v[..., 2], v[..., 1]], -1), torch.stack([v[..., 2], z, -v[..., 0]], -1),
                        torch.stack([-v[..., 1], v[..., 0], z], -1)], -2)


def dihedral_gradients(p0: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor, p3: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Gradients of the dihedral p0–p1–p2–p3 (the IUPAC/mdtraj sign, as ``protein.dihedral``) with
    respect to each point: points [..., 3] (Å) → four [..., 3] (rad/Å). Closed form of Blondel &
    Karplus (1996, J. Comput. Chem. 17:1132); no singularity except for collinear points."""
    f, g, h = p0 - p1, p1 - p2, p3 - p2
    a, b = torch.cross(f, g, dim=-1), torch.cross(h, g, dim=-1)
    gn = torch.linalg.norm(g, dim=-1, keepdim=True).clamp_min(1e-9)
    a2 = a.pow(2).sum(-1, keepdim=True).clamp_min(1e-12)
    b2 = b.pow(2).sum(-1, keepdim=True).clamp_min(1e-12)
    fg, hg = (f * g).sum(-1, keepdim=True), (h * g).sum(-1, keepdim=True)
    d0 = -gn / a2 * a
    d3 = gn / b2 * b
    d1 = gn / a2 * a + fg / (a2 * gn) * a - hg / (b2 * gn) * b
    d2 = -gn / b2 * b - fg / (a2 * gn) * a + hg / (b2 * gn) * b
    return d0, d1, d2, d3


def _wrap(angle: torch.Tensor) -> torch.Tensor:
    return torch.remainder(angle + math.pi, 2 * math.pi) - math.pi


# dihedrals across link i → i+1 as (residue, atom) for each of the four points (N=0, Cα=1, C=2; residue 0 = i)
_OMEGA = ((0, 1), (0, 2), (1, 0), (1, 1))  # Cα–C–N′–Cα′ (ω of residue i+1)
_PHI = ((0, 2), (1, 0), (1, 1), (1, 2))  # C–N′–Cα′–C′ (φ of residue i+1)
_PSI = ((0, 0), (0, 1), (0, 2), (1, 0))  # N–Cα–C–N′ (ψ of residue i)


def _link_terms(atoms: torch.Tensor, d_atom: torch.Tensor, weight: torch.Tensor, target: torch.Tensor,
                sigma_bond: torch.Tensor, dihedral_targets: torch.Tensor | None, sigma_omega: float, sigma_dihedral: float,
                cis: torch.Tensor, dihedral_weights: torch.Tensor | None = None):
    """Residuals that couple residue i and i+1: yields (ρ [S,N−1], row_i [S,N−1,6], row_j [S,N−1,6])."""
    scale = (weight / sigma_bond)[..., None]  # sigma_bond [S, 1] (Å)
    for k, (pa, qa) in enumerate(_LINK_ATOMS):  # the three link distances
        diff = atoms[:, :-1, pa] - atoms[:, 1:, qa]  # [S, N−1, 3]
        dist = torch.linalg.norm(diff, dim=-1)
        u = diff / dist.clamp_min(1e-9)[..., None]
        yield ((dist - target[k]) * scale[..., 0], torch.einsum("sli,slic->slc", u, d_atom[:, :-1, pa]) * scale,
               -torch.einsum("sli,slic->slc", u, d_atom[:, 1:, qa]) * scale)
    terms = [(_OMEGA, None, sigma_omega, 1.0)]
    if dihedral_targets is not None:
        dw = torch.ones_like(dihedral_targets) if dihedral_weights is None else dihedral_weights
        terms += [(_PHI, dihedral_targets[..., 0], sigma_dihedral, dw[..., 0]),
                  (_PSI, dihedral_targets[..., 1], sigma_dihedral, dw[..., 1])]
    for points, goal, sigma, extra_weight in terms:
        pts = _link_points(atoms, points)
        value = dihedral(*pts)
        if goal is None:  # ω: planar, trans unless the link is marked cis
            goal = torch.where(cis, torch.zeros_like(value), torch.full_like(value, math.pi))
        w = (weight * extra_weight / sigma)[..., None]
        grads = dihedral_gradients(*pts)
        row_i = sum(torch.einsum("sli,slic->slc", g, d_atom[:, :-1, a]) for (r, a), g in zip(points, grads) if r == 0)
        row_j = sum(torch.einsum("sli,slic->slc", g, d_atom[:, 1:, a]) for (r, a), g in zip(points, grads) if r == 1)
        yield _wrap(value - goal) * w[..., 0], row_i * w, row_j * w


def _normal_equations(rots: torch.Tensor, trans: torch.Tensor, atoms0: torch.Tensor, weight: torch.Tensor,
                      local: torch.Tensor, target: torch.Tensor, sigma_bond: torch.Tensor, sigma_move: float,
                      dihedral_targets: torch.Tensor | None = None, sigma_omega: float = 0.1,
                      sigma_dihedral: float = 0.25, cis: torch.Tensor | None = None,
                      dihedral_weights: torch.Tensor | None = None):
    """Gauss–Newton normal equations at frames (rots [S,N,3,3], trans [S,N,3]) for a per-residue update
    (body-frame rotation vector ω, translation δ): x = R·exp(ω)·a + t + δ, so ∂x/∂ω = −R [a]×, ∂x/∂δ = 1.

    Every residual touches one residue (restraint) or two neighbours (link distances, ω, φ′, ψ), so
    JᵀJ is block tridiagonal. Returns (cost [S], diagonal blocks [S,N,6,6], off-diagonal blocks
    [S,N−1,6,6] (rows residue i, columns i+1), gradient Jᵀr [S,N,6])."""
    atoms = torch.einsum("snij,kj->snki", rots, local) + trans[:, :, None, :]  # [S, N, 3, 3]
    d_omega = -torch.einsum("snij,kjl->snkil", rots, _skew(local))  # [S, N, atom k, xyz, ω]
    s, n = trans.shape[:2]
    eye = torch.eye(3, dtype=trans.dtype, device=trans.device).expand(s, n, 3, 3, 3)
    d_atom = torch.cat([d_omega, eye], -1)  # [S, N, k, xyz, 6]
    r_move = (atoms - atoms0) / sigma_move
    diag = torch.einsum("snkxa,snkxb->snab", d_atom, d_atom) / sigma_move ** 2
    grad = torch.einsum("snkxa,snkx->sna", d_atom, r_move) / sigma_move
    off = torch.zeros(s, n - 1, 6, 6, dtype=trans.dtype, device=trans.device)
    cost = r_move.pow(2).sum((1, 2, 3))
    pad = torch.nn.functional.pad
    cis = torch.zeros_like(weight, dtype=torch.bool) if cis is None else cis
    for rho, row_i, row_j in _link_terms(atoms, d_atom, weight, target, sigma_bond, dihedral_targets,
                                         sigma_omega, sigma_dihedral, cis, dihedral_weights):
        diag = diag + pad(row_i[..., :, None] * row_i[..., None, :], (0, 0, 0, 0, 0, 1)) \
            + pad(row_j[..., :, None] * row_j[..., None, :], (0, 0, 0, 0, 1, 0))
        off = off + row_i[..., :, None] * row_j[..., None, :]
        grad = grad + pad(row_i * rho[..., None], (0, 0, 0, 1)) + pad(row_j * rho[..., None], (0, 0, 1, 0))
        cost = cost + rho.pow(2).sum(-1)
    return cost, diag, off, grad


# LAPACK upper banded storage of a block-tridiagonal matrix with 6×6 blocks: bandwidth 11 (a block and
# its right neighbour); row u + a − b of column 6·m + b holds H[6·n + a, 6·m + b]
_BAND = 11
_DIAG_A, _DIAG_B = np.triu_indices(6)
_OFF_A, _OFF_B = (x.reshape(-1) for x in np.meshgrid(np.arange(6), np.arange(6), indexing="ij"))


def _solve_block_tridiagonal(diag: torch.Tensor, off: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Solve H x = rhs for symmetric positive-definite block-tridiagonal H (blocks 6×6): diag [S,N,6,6],
    off [S,N−1,6,6], rhs [S,N,6] → x [S,N,6]. Uses LAPACK's banded Cholesky (scipy), O(N) per structure."""
    from scipy.linalg import solveh_banded

    s, n = rhs.shape[:2]
    dn, on, bn = diag.detach().cpu().numpy(), off.detach().cpu().numpy(), rhs.detach().cpu().numpy()
    diag_rows = _BAND + _DIAG_A - _DIAG_B
    diag_cols = 6 * np.arange(n)[:, None] + _DIAG_B[None, :]  # [N, 21]
    off_rows = _BAND - (6 + _OFF_B - _OFF_A)
    off_cols = 6 * (np.arange(n - 1)[:, None] + 1) + _OFF_B[None, :]  # [N−1, 36]
    out = np.empty((s, n * 6))
    for k in range(s):
        ab = np.zeros((_BAND + 1, 6 * n))
        ab[diag_rows, diag_cols] = dn[k][:, _DIAG_A, _DIAG_B]
        ab[off_rows, off_cols] = on[k].reshape(n - 1, 36)
        out[k] = solveh_banded(ab, bn[k].reshape(-1), lower=False, check_finite=False)
    return torch.as_tensor(out, dtype=rhs.dtype, device=rhs.device).reshape(s, n, 6)


def _update(rots: torch.Tensor, trans: torch.Tensor, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply a per-residue update step [S, N, 6] (ω, δ): R ← R·exp(ω), t ← t + δ."""
    return rots @ exp_map(step[..., :3]), trans + step[..., 3:]


def _stages(sigma_bond: float, deviation: torch.Tensor) -> torch.Tensor:
    """Bond stiffness stages (Å) per structure: from max(0.1, deviation/3), ÷3 per stage down to
    ``sigma_bond``: deviation [S] (Å) → [K, S], K the longest schedule. Shorter schedules are aligned
    to the end (all structures share the last stage, at ``sigma_bond``) and padded with NaN in front."""
    first = (deviation / 3.0).clamp_min(max(0.1, sigma_bond))
    length = torch.ceil(torch.log(first / sigma_bond) / math.log(3.0) - 1e-4).clamp_min(0).long() + 1  # [S]
    count = int(length.max())
    k = torch.arange(count)[:, None] - (count - length)[None, :]  # stage index within each schedule
    sigma = (first[None, :] / 3.0 ** k.clamp_min(0).to(deviation.dtype)).clamp_min(sigma_bond)
    return torch.where(k >= 0, sigma, torch.full_like(sigma, math.nan))


def _step_size(step: torch.Tensor) -> torch.Tensor:
    """Largest per-residue rotation (rad) or translation (Å) of an update [S, N, 6] → [S]; invariant under
    a global rotation of the frames (ω is in the body frame, |δ| is a length)."""
    return torch.maximum(step[..., :3].norm(dim=-1), step[..., 3:].norm(dim=-1)).amax(-1)


def _proline_phi(proline_next: torch.Tensor, targets: torch.Tensor | None, weights: torch.Tensor | None,
                 stiffness: float):
    """φ targets of links into a proline: the sample where it lies in ``PROLINE_PHI_DEG`` (the ring allows
    no other φ), else the ring's mean. proline_next [S, N−1] (residue i+1 is Pro); targets/weights
    [S, N−1, 2] (φ′, ψ) or None (no dihedral restraints yet) → the updated (targets, weights), with
    weight ``stiffness`` (σ_dihedral / σ_proline) on the proline φ."""
    lo, hi = (math.radians(a) for a in PROLINE_PHI_DEG)
    if targets is None:
        targets = torch.zeros(*proline_next.shape, 2, dtype=torch.float64)
        weights = torch.zeros_like(targets)
    phi = targets[..., 0]
    ring = torch.where((phi >= lo) & (phi <= hi), phi, torch.full_like(phi, (lo + hi) / 2))
    targets = torch.stack([torch.where(proline_next, ring, phi), targets[..., 1]], -1)
    weights = torch.stack([torch.where(proline_next, torch.full_like(phi, stiffness), weights[..., 0]), weights[..., 1]], -1)
    return targets, weights


def _link_points(atoms: torch.Tensor, points) -> list[torch.Tensor]:
    """The four points of a dihedral across every link i → i+1: atoms [*, N, 3, 3] → four [*, N−1, 3]."""
    return [atoms[..., :-1, a, :] if r == 0 else atoms[..., 1:, a, :] for r, a in points]


def _link_dihedral(atoms: torch.Tensor, points) -> torch.Tensor:
    """A dihedral (rad) across every link: atoms [*, N, 3, 3] → [*, N−1]."""
    return dihedral(*_link_points(atoms, points))


def omega(frames: Rigid) -> torch.Tensor:
    """ω (rad) of every link i → i+1 (Cα–C–N′–Cα′): frames [*, N] → [*, N−1]."""
    return _link_dihedral(backbone_atoms(frames), _OMEGA)


def backbone_dihedrals(frames: Rigid) -> torch.Tensor:
    """φ and ψ (rad) of every residue from its frames and its neighbours': frames [*, N] → [*, N, 2];
    φ of the first residue and ψ of the last (undefined) are 0. The layout of ``dihedrals`` below."""
    atoms = backbone_atoms(frames)
    out = atoms.new_zeros(*atoms.shape[:-3], atoms.shape[-3], 2)
    out[..., 1:, 0] = _link_dihedral(atoms, _PHI)  # φ belongs to residue i+1
    out[..., :-1, 1] = _link_dihedral(atoms, _PSI)  # ψ to residue i
    return out


def omega_deviation(frames: Rigid, linked: torch.Tensor, cis: torch.Tensor | None = None) -> torch.Tensor:
    """Largest distance (rad) of a linked ω from its planar value (π, or 0 where ``cis``): frames [S, N],
    linked [S, N−1] → [S]."""
    w = omega(frames).abs()
    dev = math.pi - w if cis is None else torch.where(cis.to(w.device), w, math.pi - w)
    return torch.where(linked, dev, torch.zeros_like(dev)).amax(-1) if dev.shape[-1] else dev.sum(-1)


def refine_peptide_bonds(frames: Rigid, linked: torch.Tensor, dihedrals: torch.Tensor | None = None,
                         cis: torch.Tensor | None = None, proline: torch.Tensor | None = None,
                         sigma_bond: float = 0.01, sigma_move: float = 0.5, sigma_omega: float = 0.1,
                         sigma_dihedral: float = 0.25, sigma_proline: float = 0.1, max_iter: int = 20, tolerance: float = 0.02,
                         gain_tolerance: float = 1e-8) -> Rigid:
    """Move residue frames as little as possible so that every linked peptide bond is ideal.

    frames: Rigid [S, N] (Å); linked: bool [S, N−1] or [N−1] (residues i and i+1 are bonded: same
    chain, consecutive numbering, both present). Besides the link distances, every linked ω is held
    planar (σ ``sigma_omega`` rad): trans, or cis where ``cis`` [S, N−1] / [N−1] says so (isomers do
    not interconvert on MD time scales: take them from the start structure, see :func:`omega`). ``dihedrals`` [S, N, 2]
    (radians, optional): φ and ψ per residue to pull the backbone towards (σ ``sigma_dihedral``),
    e.g. a sample of the model's torsion head. ``proline`` bool [S, N] / [N] (optional): residues
    whose φ the pyrrolidine ring holds (``PROLINE_PHI_DEG``); their φ is pulled (σ ``sigma_proline``
    rad, or ``sigma_dihedral`` where that is tighter: the ring holds φ at least as firmly as anything
    holds another residue's φ/ψ) to the given target when it lies in that window, else to the window's centre, with or
    without ``dihedrals``: in a frame representation nothing else ties the preceding C to the ring,
    so without this term a generated proline can take a φ no proline can have. Returns refined
    frames of the same shape, dtype and device. The least-squares energy of the module docstring is minimised by damped Gauss–Newton
    (Levenberg–Marquardt) in float64, which converges in a few iterations although the bond terms
    are ~10⁴ times stiffer than the restraint; a structure whose links already lie within
    ``tolerance`` Å of ideal is returned unchanged. A structure has converged when an accepted
    step lowers its cost by less than ``gain_tolerance`` (relative). Equivariant: a global rotation/translation of
    the input moves the output the same way. Cost per iteration: O(N) (a banded Cholesky solve).
    Runs on the CPU whatever the frames' device; the result is returned on that device.
    """
    if frames.shape[-1] < 2:
        return frames
    # small sequential float64 work: always on the CPU (on a GPU it would be launch- and sync-bound)
    cpu = torch.device("cpu")
    linked = torch.as_tensor(linked, dtype=torch.bool).to(cpu).expand(*frames.shape[:-1], frames.shape[-1] - 1)
    start = Rigid(frames.rots.detach().to(cpu, torch.float64), frames.trans.detach().to(cpu, torch.float64))
    deviation = link_deviation(start, linked)
    cis = torch.zeros_like(linked) if cis is None else torch.as_tensor(cis, dtype=torch.bool).to(cpu).expand_as(linked)
    todo = (deviation > tolerance) | (omega_deviation(start, linked, cis) > 2 * sigma_omega)
    targets = dihedral_weights = None
    if dihedrals is not None:  # φ of residue i+1 and ψ of residue i for every link i → i+1
        targets = torch.stack([dihedrals[..., 1:, 0], dihedrals[..., :-1, 1]], -1).detach().to(cpu, torch.float64)
        targets = targets.expand(*linked.shape, 2)
        dihedral_weights = torch.ones_like(targets)
    if proline is not None and bool(torch.as_tensor(proline).any()):
        targets, dihedral_weights = _proline_phi(torch.as_tensor(proline, dtype=torch.bool).to(cpu)[..., 1:].expand_as(linked),
                                                 targets, dihedral_weights, sigma_dihedral / min(sigma_proline, sigma_dihedral))
    if targets is not None:
        todo = torch.ones_like(todo)
    if not bool(todo.any()):
        return frames
    rots0, trans0, weight = start.rots[todo], start.trans[todo], linked[todo].double()
    extra = dict(dihedral_targets=None if targets is None else targets[todo],
                 dihedral_weights=None if targets is None else dihedral_weights[todo],
                 sigma_omega=sigma_omega, sigma_dihedral=sigma_dihedral, cis=cis[todo])
    local = torch.as_tensor(ideal_backbone_local(), dtype=torch.float64)
    target = trans0.new_tensor(IDEAL_LINK)

    atoms0 = torch.einsum("snij,kj->snki", rots0, local) + trans0[:, :, None, :]
    rots, trans = rots0, trans0
    eye6 = torch.eye(6, dtype=torch.float64)
    # continuation: stiffen the bonds in stages so every Gauss–Newton stage starts near its answer.
    # Every decision is per structure and uses invariant quantities (costs, body-frame rotations,
    # lengths), so the result does not depend on the pose or on the other structures of the batch.
    stages = _stages(sigma_bond, deviation[todo])
    for stage, sigma in enumerate(stages):
        done = sigma.isnan()  # this structure's schedule has not started yet
        sigma = torch.where(done, torch.full_like(sigma, sigma_bond), sigma)[:, None]
        damping = torch.full_like(sigma[:, 0], 1e-6)
        final = stage == len(stages) - 1  # earlier stages only prepare a start: a loose tolerance will do
        converged = gain_tolerance if final else max(gain_tolerance, 1e-6)
        cost, diag, off, grad = _normal_equations(rots, trans, atoms0, weight, local, target, sigma, sigma_move, **extra)
        for _ in range(max_iter if final else max_iter // 2):
            scale = torch.diagonal(diag, dim1=-2, dim2=-1).mean((-1, -2))
            step = -_solve_block_tridiagonal(diag + (damping * scale)[:, None, None, None] * eye6, off, grad)
            t_rots, t_trans = _update(rots, trans, step)
            t_eq = _normal_equations(t_rots, t_trans, atoms0, weight, local, target, sigma, sigma_move, **extra)
            better = (t_eq[0] <= cost) & ~done
            gain = (cost - t_eq[0]) / cost.clamp_min(1e-30)
            b3, b4 = better[:, None, None], better[:, None, None, None]
            rots, trans = torch.where(b4, t_rots, rots), torch.where(b3, t_trans, trans)
            cost = torch.where(better, t_eq[0], cost)
            diag, off, grad = torch.where(b4, t_eq[1], diag), torch.where(b4, t_eq[2], off), torch.where(b3, t_eq[3], grad)
            damping = torch.where(better, damping * 0.1, damping * 10.0).clamp(1e-12, 1e6)
            # converged: an accepted step that no longer lowers the cost, or a step too small to matter
            done = done | (better & (gain < converged)) | (_step_size(step) < 1e-9)
            if bool(done.all()):
                break
    out_rots, out_trans = frames.rots.detach().clone(), frames.trans.detach().clone()
    todo = todo.to(frames.device)
    out_rots[todo] = rots.to(frames.device, frames.dtype)
    out_trans[todo] = trans.to(frames.device, frames.dtype)
    return Rigid(out_rots, out_trans)


__all__ = ["IDEAL_LINK", "backbone_atoms", "backbone_dihedrals", "link_distances", "link_deviation", "omega", "omega_deviation", "dihedral_gradients",
           "refine_peptide_bonds"]
