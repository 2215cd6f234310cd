"""Peptide-bond refinement: the smallest move of generated residue frames that closes every
peptide bond with ideal geometry.

A frame-based generator places each residue's rigid backbone (N, Cα, C) independently; nothing in
the representation ties residue i's C to residue i+1's N. Small errors in the relative placement
of neighbours show up as stretched or bent peptide bonds and, past 4.19 Å between Cα, as chain
breaks. After each generated frame, rollouts can minimise

    E = Σ_links Σ_k ((d_k − d_k⁰) / σ_bond)²  +  Σ_residues Σ_{N,Cα,C} |x − x_generated|² / σ_move²

over a rigid motion of every residue (rotation about its own Cα, then a translation), with
d = (C–N′, Cα–N′, C–Cα′) per linked pair: the bond length and, through the two other distances,
the angles Cα–C–N′ and C–N′–Cα′. The ω dihedral is left free (trans and cis both keep
Cα–Cα′ ≤ 3.8 Å). This is the frame-space analogue of the restrained relaxation that structure
predictors run after prediction; it is rigid per residue, so side chains and torsions ride along.

Ideal values (Engh & Huber 1991): C–N 1.329 Å, Cα–C–N 116.2°, C–N–Cα 121.7°, with this package's
Cα–C 1.525 Å and N–Cα 1.458 Å. Distances in Å.
"""

from __future__ import annotations

import math

import numpy as np
import roma
import torch

from starmd.core.protein import BOND_C_N, BOND_CA_C, BOND_N_CA, ideal_backbone_local
from starmd.core.rigid import Rigid

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


def _normal_equations(rots: torch.Tensor, trans: torch.Tensor, atoms0: torch.Tensor, weight: torch.Tensor,
                      local: torch.Tensor, target: torch.Tensor, sigma_bond: float, sigma_move: float):
    """Gauss–Newton normal equations at frames (rots [S,N,3,3], trans [S,N,3]) for a per-residue update
    (body-frame rotation vector ω, translation δ): x = R·exp(ω)·a + t + δ, so ∂x/∂ω = −R [a]×, ∂x/∂δ = 1.

    Every residual touches one residue (restraint) or two neighbours (bond), so JᵀJ is block
    tridiagonal. Returns (cost [S], diagonal blocks [S,N,6,6], off-diagonal blocks [S,N−1,6,6]
    (rows residue i, columns i+1), gradient Jᵀr [S,N,6])."""
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
    scale = (weight / sigma_bond)[..., None]
    for k, (pa, qa) in enumerate(_LINK_ATOMS):
        diff = atoms[:, :-1, pa] - atoms[:, 1:, qa]  # [S, N−1, 3]
        dist = torch.linalg.norm(diff, dim=-1)
        u = diff / dist.clamp_min(1e-9)[..., None]
        rho = (dist - target[k]) * scale[..., 0]
        row_i = torch.einsum("sli,slic->slc", u, d_atom[:, :-1, pa]) * scale
        row_j = -torch.einsum("sli,slic->slc", u, d_atom[:, 1:, qa]) * scale
        diag = diag + torch.nn.functional.pad(row_i[..., :, None] * row_i[..., None, :], (0, 0, 0, 0, 0, 1)) \
            + torch.nn.functional.pad(row_j[..., :, None] * row_j[..., None, :], (0, 0, 0, 0, 1, 0))
        off = off + row_i[..., :, None] * row_j[..., None, :]
        grad = grad + torch.nn.functional.pad(row_i * rho[..., None], (0, 0, 0, 1)) \
            + torch.nn.functional.pad(row_j * rho[..., None], (0, 0, 1, 0))
        cost = cost + rho.pow(2).sum(-1)
    return cost, diag, off, grad


def _solve_block_tridiagonal(diag: torch.Tensor, off: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Solve H x = rhs for symmetric positive-definite block-tridiagonal H (blocks 6×6): diag [S,N,6,6],
    off [S,N−1,6,6], rhs [S,N,6] → x [S,N,6]. Uses LAPACK's banded Cholesky (scipy), O(N) per structure."""
    from scipy.linalg import solveh_banded

    s, n = rhs.shape[:2]
    u = 11  # upper bandwidth: a block and its right neighbour
    dn, on, bn = diag.detach().cpu().numpy(), off.detach().cpu().numpy(), rhs.detach().cpu().numpy()
    a_i, b_i = np.triu_indices(6)
    out = np.empty((s, n * 6))
    for k in range(s):
        ab = np.zeros((u + 1, 6 * n))
        cols = (6 * np.arange(n)[:, None] + b_i[None, :])  # [N, 21]
        ab[u + a_i[None, :] - b_i[None, :], cols] = dn[k][:, a_i, b_i]
        if n > 1:
            aa, bb = np.meshgrid(np.arange(6), np.arange(6), indexing="ij")
            cols = 6 * (np.arange(n - 1)[:, None] + 1) + bb.reshape(1, -1)
            ab[u - (6 + bb.reshape(1, -1) - aa.reshape(1, -1)), cols] = on[k].reshape(n - 1, 36)
        out[k] = solveh_banded(ab, bn[k].reshape(-1), lower=False, check_finite=False)
    return torch.as_tensor(out, dtype=rhs.dtype, device=rhs.device).reshape(s, n, 6)


def _update(rots: torch.Tensor, trans: torch.Tensor, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply a per-residue update step [S, N, 6] (ω, δ): R ← R·exp(ω), t ← t + δ."""
    return rots @ roma.rotvec_to_rotmat(step[..., :3]), trans + step[..., 3:]


def _stages(sigma_bond: float, deviation: float) -> list[float]:
    """Bond stiffness stages (Å): from max(0.1, deviation/3), ÷3 per stage down to ``sigma_bond``."""
    out = []
    sigma = max(0.1, deviation / 3.0, sigma_bond)
    while sigma > sigma_bond * 1.0001:
        out.append(sigma)
        sigma /= 3.0
    return out + [sigma_bond]


def refine_peptide_bonds(frames: Rigid, linked: torch.Tensor, sigma_bond: float = 0.01, sigma_move: float = 0.5,
                         max_iter: int = 20, tolerance: float = 0.02) -> Rigid:
    """Move residue frames as little as possible so that every linked peptide bond is ideal.

    frames: Rigid [S, N] (Å); linked: bool [S, N−1] or [N−1] (residues i and i+1 are bonded: same
    chain, consecutive numbering, both present). Returns refined frames of the same shape, dtype and
    device. The least-squares energy of the module docstring is minimised by damped Gauss–Newton
    (Levenberg–Marquardt) in float64, which converges in a few iterations although the bond terms
    are ~10⁴ times stiffer than the restraint; a structure whose links already lie within
    ``tolerance`` Å of ideal is returned unchanged. Equivariant: a global rotation/translation of
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
    todo = deviation > tolerance
    if not bool(todo.any()):
        return frames
    rots0, trans0, weight = start.rots[todo], start.trans[todo], linked[todo].double()
    local = torch.as_tensor(ideal_backbone_local(), dtype=torch.float64)
    target = trans0.new_tensor(IDEAL_LINK)

    atoms0 = torch.einsum("snij,kj->snki", rots0, local) + trans0[:, :, None, :]
    rots, trans = rots0, trans0
    s_, n = trans.shape[:2]
    eye6 = torch.eye(6, dtype=torch.float64)
    # continuation: stiffen the bonds in stages so every Gauss–Newton stage starts near its answer
    stages = _stages(sigma_bond, float(deviation.max()))
    for stage, sigma in enumerate(stages):
        final = stage == len(stages) - 1
        damping = torch.full((s_,), 1e-6, dtype=torch.float64)
        cost, diag, off, grad = _normal_equations(rots, trans, atoms0, weight, local, target, sigma, sigma_move)
        for _ in range(max_iter if final else max_iter // 2):
            scale = torch.diagonal(diag, dim1=-2, dim2=-1).mean((-1, -2))
            step = -_solve_block_tridiagonal(diag + (damping * scale)[:, None, None, None] * eye6, off, grad)
            t_rots, t_trans = _update(rots, trans, step)
            t_eq = _normal_equations(t_rots, t_trans, atoms0, weight, local, target, sigma, sigma_move)
            better = t_eq[0] <= cost
            gain = float(((cost - t_eq[0]) / cost.clamp_min(1e-30)).amax())
            b3, b4 = better[:, None, None], better[:, None, None, None]
            rots, trans = torch.where(b4, t_rots, rots), torch.where(b3, t_trans, trans)
            cost = torch.where(better, t_eq[0], cost)
            diag, off, grad = torch.where(b4, t_eq[1], diag), torch.where(b4, t_eq[2], off), torch.where(b3, t_eq[3], grad)
            damping = torch.where(better, damping * 0.1, damping * 10.0).clamp(1e-12, 1e6)
            if float(step.abs().amax()) < 1e-5:
                break
            if 0 <= gain < 1e-6 and (not final or float(link_deviation(Rigid(rots, trans), weight.bool()).max()) < 0.005):
                break  # the restraint term dominates the cost: judge the final stage by its bonds (Å)
    out_rots, out_trans = frames.rots.detach().clone(), frames.trans.detach().clone()
    todo = todo.to(frames.device)
    out_rots[todo] = rots.to(frames.device, frames.dtype)
    out_trans[todo] = trans.to(frames.device, frames.dtype)
    return Rigid(out_rots, out_trans)


__all__ = ["IDEAL_LINK", "backbone_atoms", "link_distances", "link_deviation", "refine_peptide_bonds"]
