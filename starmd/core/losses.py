"""Training losses: score matching (rotations, translations), torsions, FAPE, coordinates, distances.

Every loss takes tensors with an arbitrary batch shape ``*`` (e.g. [B] or [B, F]) and returns one
value per sample, shape ``[*]``; :func:`total_loss` weights them with a
:class:`~starmd.core.specs.LossSpec` and averages over samples. Masks are 1 for real entries and 0
for padding; a sample whose mask is empty contributes 0 (never NaN). Coordinates are in Å; the
coordinate and distance-map losses rescale them by ``scale`` (default 0.1, i.e. nm, as the
diffuser does), FAPE divides by ``length_scale`` (Å).

Paper weights (LossSpec defaults): rotation score 0.5, translation score 1.0, torsion 0.5, backbone
FAPE 0.5, side-chain FAPE 0.5, backbone coordinates 0.25 and distance map 0.25, the last two only
for samples with t ≤ ``aux_t_max`` (0.25).
"""

from __future__ import annotations

import torch

from starmd.core.diffusion import ScoreTargets
from starmd.core.refine import link_distances
from starmd.core.rigid import Rigid
from starmd.core.specs import LossSpec
from starmd.core.torsion_bins import angle_to_bin

Tensor = torch.Tensor


def _lead(x: Tensor, shape) -> Tensor:
    """Broadcast ``x`` (shape a prefix of ``shape``, or scalar) to ``shape`` by appending dims."""
    x = torch.as_tensor(x)
    while x.dim() < len(shape):
        x = x.unsqueeze(-1)
    return x.expand(*shape)


def _masked_mean(values: Tensor, mask: Tensor | None, n_dims: int) -> Tensor:
    """Mean of ``values`` over its last ``n_dims`` dims where ``mask`` (same shape or None) is set."""
    dims = tuple(range(-n_dims, 0))
    if mask is None:
        return values.mean(dim=dims)
    mask = mask.to(values.dtype).expand_as(values)
    return (values * mask).sum(dim=dims) / mask.sum(dim=dims).clamp_min(1.0)


# ============================================================================ score losses
def rotation_score_loss(pred: Tensor, target: Tensor, scaling: Tensor, mask: Tensor | None = None) -> Tensor:
    """Scaled squared error of body-frame rotation scores.

    pred, target: [*, N, 3] (1/rad); scaling: [*] (``ScoreTargets.rot_score_scaling``, per-dimension
    RMS of the true score); mask: [*, N]. Returns [*]: mean over residues of Σ_xyz ((pred − target)/scaling)².
    """
    err = ((pred - target) / _lead(scaling, pred.shape[:-2])[..., None, None]).pow(2).sum(-1)
    return _masked_mean(err, mask, 1)


def translation_score_loss(pred: Tensor, target: Tensor, scaling: Tensor, mask: Tensor | None = None) -> Tensor:
    """Scaled squared error of translation scores (1/nm); shapes and reduction as :func:`rotation_score_loss`."""
    err = ((pred - target) / _lead(scaling, pred.shape[:-2])[..., None, None]).pow(2).sum(-1)
    return _masked_mean(err, mask, 1)


# ============================================================================ torsions
def torsion_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None, pi_periodic: Tensor | None = None,
                 norm_weight: float = 0.02) -> Tensor:
    """Torsion-angle loss on (sin, cos) pairs.

    pred: [*, N, 7, 2] unnormalised network output; target: [*, N, 7, 2] unit vectors; mask:
    [*, N, 7] (missing χ masked); pi_periodic: optional bool [*, N, 7] marking torsions that are
    π-periodic (χ2 of Asp/Phe/Tyr, χ3 of Glu, …): for those the error is the smaller of the errors
    against the target and against the target rotated by π (−sin, −cos). Returns [*]: mean over
    masked torsions of |pred/|pred| − target|² plus ``norm_weight`` × mean ||pred| − 1|.
    """
    norm = torch.linalg.norm(pred, dim=-1)
    unit = pred / norm.clamp_min(1e-6).unsqueeze(-1)
    err = (unit - target).pow(2).sum(-1)
    if pi_periodic is not None:
        err_alt = (unit + target).pow(2).sum(-1)
        err = torch.where(pi_periodic.bool(), torch.minimum(err, err_alt), err)
    return _masked_mean(err, mask, 2) + norm_weight * _masked_mean((norm - 1).abs(), mask, 2)


def torsion_bin_loss(logits: Tensor, target: Tensor, mask: Tensor | None = None,
                     pi_periodic: Tensor | None = None) -> Tensor:
    """Cross-entropy of categorical torsions (:mod:`starmd.core.torsion_bins`).

    logits: [*, N, 7, bins]; target: [*, N, 7, 2] unit (sin, cos); mask [*, N, 7]; pi_periodic
    optional bool [*, N, 7]: for those torsions θ and θ + π are the same structure, so the loss is
    −log(p(bin θ) + p(bin θ+π)) (needs an even number of bins). Returns [*] (nats, masked mean).
    """
    bins = logits.shape[-1]
    logp = torch.log_softmax(logits, dim=-1)
    k = angle_to_bin(target, bins)
    nll = -logp.gather(-1, k.unsqueeze(-1)).squeeze(-1)
    if pi_periodic is not None:
        if bins % 2:
            raise ValueError(f"π-periodic torsions need an even number of bins, got {bins}")
        k_alt = (k + bins // 2) % bins
        both = torch.logsumexp(torch.stack([-nll, logp.gather(-1, k_alt.unsqueeze(-1)).squeeze(-1)]), dim=0)
        nll = torch.where(pi_periodic.bool(), -both, nll)
    return _masked_mean(nll, mask, 2)


# ============================================================================ FAPE
def fape(pred_frames: Rigid, target_frames: Rigid, pred_pos: Tensor, target_pos: Tensor,
         frame_mask: Tensor | None = None, pos_mask: Tensor | None = None, clamp: float | None = 10.0,
         length_scale: float = 10.0, eps: float = 1e-4) -> Tensor:
    """Frame-aligned point error.

    pred_frames, target_frames: Rigid [*, N] (Å); pred_pos, target_pos: [*, M, 3] (Å); frame_mask:
    [*, N]; pos_mask: [*, M]. Every position is expressed in every frame's local coordinates, and
    the distance d between predicted and target local positions enters as √(d² + eps²) − eps (Å;
    smooth, and 0 exactly when d = 0), clamped at ``clamp`` Å (None: unclamped). Returns [*]:
    the masked mean over (frame, position) pairs divided by ``length_scale``. Invariant to one
    global SE(3) transform of prediction (frames and positions) and, separately, of target; zero
    iff every local position agrees. Backbone FAPE: positions N, Cα, C, O; side-chain FAPE: all
    atom14 positions, with the residue frames.
    """
    local_pred = pred_frames.unsqueeze(-1).invert_apply(pred_pos.unsqueeze(-3))  # [*, N, M, 3]
    local_true = target_frames.unsqueeze(-1).invert_apply(target_pos.unsqueeze(-3))
    d = torch.sqrt((local_pred - local_true).pow(2).sum(-1) + eps * eps) - eps
    if clamp is not None:
        d = d.clamp(max=clamp)
    if frame_mask is None and pos_mask is None:
        return d.mean(dim=(-2, -1)) / length_scale
    fm = torch.ones(d.shape[:-1], dtype=d.dtype, device=d.device) if frame_mask is None else frame_mask.to(d.dtype)
    pm = torch.ones(d.shape[:-2] + d.shape[-1:], dtype=d.dtype, device=d.device) if pos_mask is None else pos_mask.to(d.dtype)
    return _masked_mean(d, fm.unsqueeze(-1) * pm.unsqueeze(-2), 2) / length_scale


# ============================================================================ auxiliary (small t) losses
def backbone_coord_loss(pred_pos: Tensor, target_pos: Tensor, mask: Tensor | None = None, scale: float = 0.1) -> Tensor:
    """Squared error of backbone atom positions in the shared (centred) frame.

    pred_pos, target_pos: [*, M, 3] (Å; M = 4·N for N, Cα, C, O); mask: [*, M]. Returns [*]: masked
    mean over atoms of |scale·(pred − target)|² (nm² with the default scale 0.1).
    """
    return _masked_mean((scale * (pred_pos - target_pos)).pow(2).sum(-1), mask, 1)


def distance_map_loss(pred_pos: Tensor, target_pos: Tensor, mask: Tensor | None = None, cutoff: float = 6.0,
                      scale: float = 0.1) -> Tensor:
    """Squared error of pairwise distances between atoms closer than ``cutoff`` Å in the target.

    pred_pos, target_pos: [*, M, 3] (Å); mask: [*, M]. Pairs i ≠ j with both atoms present and
    target distance < cutoff. Returns [*]: mean over those pairs of (scale·(d̂_ij − d_ij))².
    """
    d_pred = torch.sqrt((pred_pos.unsqueeze(-2) - pred_pos.unsqueeze(-3)).pow(2).sum(-1) + 1e-10)
    d_true = torch.sqrt((target_pos.unsqueeze(-2) - target_pos.unsqueeze(-3)).pow(2).sum(-1) + 1e-10)
    M = pred_pos.shape[-2]
    pair = (d_true < cutoff) & ~torch.eye(M, dtype=torch.bool, device=pred_pos.device)
    pair = pair.to(pred_pos.dtype)
    if mask is not None:
        m = mask.to(pred_pos.dtype)
        pair = pair * m.unsqueeze(-1) * m.unsqueeze(-2)
    return _masked_mean((scale * (d_pred - d_true)).pow(2), pair, 2)


def peptide_bond_loss(pred_atoms: Tensor, target_atoms: Tensor, bonded: Tensor) -> Tensor:
    """Geometry of the peptide bond between residues i and i+1, against the target's.

    pred_atoms, target_atoms: [*, N, 14, 3] atom14 (Å; N, Cα, C first); bonded: [*, N−1] 1 where
    residues i and i+1 are present and covalently linked (same chain, consecutive numbering).
    Compares four distances per link, C–N′ (the bond), Cα–N′ and C–Cα′ (which fix the two bond
    angles) and Cα–Cα′; returns [*]: mean squared difference (Å²) over the linked pairs.
    Frame-based models place each residue independently, so nothing else ties neighbours together
    this directly; chain breaks in rollouts are this geometry drifting.
    """
    def dists(x: Tensor) -> Tensor:  # [*, N−1, 4]
        ca_ca = torch.linalg.norm(x[..., 1:, 1, :] - x[..., :-1, 1, :], dim=-1)
        return torch.cat([link_distances(x[..., :3, :]), ca_ca[..., None]], dim=-1)

    err = (dists(pred_atoms) - dists(target_atoms)).pow(2).mean(-1)
    return _masked_mean(err, bonded, 1)


def aux_weight(t: Tensor, t_max: float = 0.25) -> Tensor:
    """Per-sample weight of the auxiliary losses: 1 where t ≤ t_max, else 0; t [*] → [*]."""
    return (t <= t_max).to(t.dtype if t.is_floating_point() else torch.float32)


# ============================================================================ total
def total_loss(spec: LossSpec, t: Tensor, res_mask: Tensor, *,
               rot_score: Tensor | None = None, trans_score: Tensor | None = None, targets: ScoreTargets | None = None,
               pred_frames: Rigid | None = None, target_frames: Rigid | None = None,
               pred_torsions: Tensor | None = None, target_torsions: Tensor | None = None,
               torsion_mask: Tensor | None = None, pi_periodic: Tensor | None = None,
               torsion_logits: Tensor | None = None, bonded: Tensor | None = None,
               pred_atoms: Tensor | None = None, target_atoms: Tensor | None = None, atom_mask: Tensor | None = None,
               coord_scale: float = 0.1) -> tuple[Tensor, dict[str, Tensor]]:
    """Weighted sum of the losses whose inputs are given (and whose weight in ``spec`` is > 0).

    Shapes (batch ``*``, N residues): t [*'] prefix of ``*`` (diffusion time per sample);
    res_mask [*, N]; rot_score, trans_score [*, N, 3] (from ``SE3Diffuser.score`` on the model's
    prediction) with ``targets`` (:class:`ScoreTargets` from ``forward_marginal``); pred_frames,
    target_frames Rigid [*, N] (Å); pred_torsions [*, N, 7, 2], target_torsions [*, N, 7, 2],
    torsion_mask [*, N, 7], pi_periodic [*, N, 7]; torsion_logits [*, N, 7, bins] (categorical
    head: the torsion term is then the cross-entropy, not the (sin, cos) error); bonded [*, N−1]
    (linked neighbours, for the peptide-bond term); pred_atoms, target_atoms [*, N, 14, 3] (atom14,
    Å, first four N, Cα, C, O), atom_mask [*, N, 14] (default: res_mask on every atom).

    Terms: ``rot``, ``trans`` (score losses), ``torsion``, ``bb_fape`` (frames + backbone atoms),
    ``sc_fape`` (frames + all atom14 atoms), ``bb_coord``, ``dist_map``, ``peptide_bond`` (only samples with
    t ≤ spec.aux_t_max; others weighted 0 but still counted in the mean). Each term is the mean of its
    per-sample values; returns (Σ weight·term as a scalar with gradients, {name: term detached,
    ..., "total": total detached}).
    """
    batch = res_mask.shape[:-1]
    t = _lead(torch.as_tensor(t, device=res_mask.device), batch)
    terms: dict[str, Tensor] = {}
    if targets is not None and rot_score is not None and spec.rot > 0:
        terms["rot"] = rotation_score_loss(rot_score, targets.rot_score, targets.rot_score_scaling, res_mask)
    if targets is not None and trans_score is not None and spec.trans > 0:
        terms["trans"] = translation_score_loss(trans_score, targets.trans_score, targets.trans_score_scaling, res_mask)
    if (pred_torsions is not None or torsion_logits is not None) and target_torsions is not None and spec.torsion > 0:
        tmask = torsion_mask if torsion_mask is not None else res_mask.unsqueeze(-1).expand(*res_mask.shape, 7)
        if torsion_logits is not None:
            terms["torsion"] = torsion_bin_loss(torsion_logits, target_torsions, tmask, pi_periodic)
        else:
            terms["torsion"] = torsion_loss(pred_torsions, target_torsions, tmask, pi_periodic)
    have_atoms = pred_atoms is not None and target_atoms is not None
    if have_atoms:
        amask = atom_mask if atom_mask is not None else res_mask.unsqueeze(-1).expand(*res_mask.shape, pred_atoms.shape[-2])
        bb_pred = pred_atoms[..., :4, :].reshape(*batch, -1, 3)
        bb_true = target_atoms[..., :4, :].reshape(*batch, -1, 3)
        bb_mask = amask[..., :4].reshape(*batch, -1)
    if have_atoms and pred_frames is not None and target_frames is not None:
        if spec.bb_fape > 0:
            terms["bb_fape"] = fape(pred_frames, target_frames, bb_pred, bb_true, res_mask, bb_mask,
                                    spec.fape_clamp, spec.fape_length_scale)
        if spec.sc_fape > 0:
            terms["sc_fape"] = fape(pred_frames, target_frames, pred_atoms.reshape(*batch, -1, 3),
                                    target_atoms.reshape(*batch, -1, 3), res_mask, amask.reshape(*batch, -1),
                                    spec.fape_clamp, spec.fape_length_scale)
    if have_atoms:
        w_aux = aux_weight(t, spec.aux_t_max).to(bb_pred.dtype)
        if spec.bb_coord > 0:
            terms["bb_coord"] = w_aux * backbone_coord_loss(bb_pred, bb_true, bb_mask, coord_scale)
        if spec.dist_map > 0:
            terms["dist_map"] = w_aux * distance_map_loss(bb_pred, bb_true, bb_mask, scale=coord_scale)
        if spec.peptide_bond > 0 and bonded is not None:
            terms["peptide_bond"] = w_aux * peptide_bond_loss(pred_atoms, target_atoms, bonded.to(pred_atoms.dtype))
    weights = {"rot": spec.rot, "trans": spec.trans, "torsion": spec.torsion, "bb_fape": spec.bb_fape,
               "sc_fape": spec.sc_fape, "bb_coord": spec.bb_coord, "dist_map": spec.dist_map,
               "peptide_bond": spec.peptide_bond}
    if not terms:
        raise ValueError("total_loss: no loss term has its inputs (and a positive weight)")
    means = {k: v.mean() for k, v in terms.items()}
    total = sum(weights[k] * v for k, v in means.items())
    logs = {k: v.detach() for k, v in means.items()}
    logs["total"] = total.detach()
    return total, logs


__all__ = ["rotation_score_loss", "translation_score_loss", "torsion_loss", "torsion_bin_loss", "fape",
           "peptide_bond_loss", "backbone_coord_loss",
           "distance_map_loss", "aux_weight", "total_loss"]
