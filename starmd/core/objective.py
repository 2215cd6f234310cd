"""The training objective for one batch of windows (block-causal, context noise, Δt conditioning).

For a batch of windows of L frames (``starmd.core.data.collate_windows``):

1. every frame is centred on its Cα centroid (the model is translation-equivariant; the rollout
   does the same), frame 0 of the window is the initial structure the model is conditioned on;
2. per sample j: t ~ U[min_t, 1], context noise τ ~ U[0, τ_max] (0 when disabled), the noised copy
   of the window at t and the history perturbed to τ, all drawn from a generator seeded by
   ``sample_ids[j]`` (so DDP ranks and resumed runs draw exactly the same numbers);
3. one block-causal pass over clean history + noisy copy (``StarMD.denoise``);
4. the losses of :mod:`starmd.core.losses` on frames 1 … L−1 (frame 0 has no history; it is the
   conditioning structure itself).
"""

from __future__ import annotations

import torch

from starmd.core.diffusion import ScoreTargets, SE3Diffuser, centre_of_mass, sample_context_noise
from starmd.core.losses import total_loss
from starmd.core.protein import to_atoms
from starmd.core.rigid import Rigid
from starmd.core.specs import TrainingSpec

# χ angles whose side chain is symmetric under a 180° flip (Asp χ2, Glu χ3, Phe χ2, Tyr χ2)
_PI_PERIODIC = {"D": 4, "E": 5, "F": 4, "Y": 4}


def pi_periodic_table() -> torch.Tensor:
    """[21, 7] bool: torsion slots (ω, φ, ψ, χ1–χ4) that are π-periodic for each residue type."""
    from starmd.core.protein import RESTYPES

    table = torch.zeros(21, 7, dtype=torch.bool)
    for aa, slot in _PI_PERIODIC.items():
        table[RESTYPES.index(aa), slot] = True
    return table


def centre_frames(rigids: Rigid, mask: torch.Tensor) -> tuple[Rigid, torch.Tensor]:
    """Remove the Cα centroid of every frame: rigids [B, L, N], mask [B, N] → (centred rigids, centroids [B, L, 3])."""
    centroid = centre_of_mass(rigids.trans, mask[:, None, :].to(rigids.dtype).expand(rigids.shape))
    return rigids.with_translation(rigids.trans - centroid), centroid.squeeze(-2)


class DenoiseWrapper(torch.nn.Module):
    """condition + denoise as one ``forward`` so DistributedDataParallel sees every parameter use."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, aatype, residue_index, mask, chain_index, init_rots, init_trans, noisy_rots, noisy_trans,
                clean_rots, clean_trans, t, dt_ns, tau, clean_torsions=None):
        cond = self.model.condition(aatype, residue_index, mask, Rigid(init_rots, init_trans), chain_index=chain_index)
        out = self.model.denoise(cond, Rigid(noisy_rots, noisy_trans), Rigid(clean_rots, clean_trans), t, dt_ns, tau,
                                 clean_torsions=clean_torsions)
        return out.rigids.rots, out.rigids.trans, out.torsions, out.torsion_logits


def _cat_targets(parts: list[ScoreTargets]) -> ScoreTargets:
    return ScoreTargets(*(torch.cat([getattr(p, f) for p in parts], 0)
                          for f in ("rot_score", "trans_score", "rot_score_scaling", "trans_score_scaling")))


def noise_batch(diffuser: SE3Diffuser, clean: Rigid, mask: torch.Tensor, spec: TrainingSpec, sample_ids: list[int]):
    """Per-sample t [B], τ [B], noised window Rigid [B, L, N], perturbed history, score targets."""
    from starmd.core.train import make_generator

    b, l, n = clean.shape
    ts, taus, noisy, history, targets = [], [], [], [], []
    for j in range(b):
        gen = make_generator(sample_ids[j])
        t = diffuser.sample_t(1, generator=gen, dtype=torch.float64)
        tau = sample_context_noise(1, spec.context_noise, training=True, generator=gen, dtype=torch.float64)
        one = Rigid(clean.rots[j:j + 1].double().cpu(), clean.trans[j:j + 1].double().cpu())
        m = mask[j:j + 1, None, :].expand(1, l, n).double().cpu()
        x_t, tgt = diffuser.forward_marginal(one, t, mask=m, generator=gen)
        ctx = diffuser.perturb_context(one, tau, mask=m, generator=gen) if float(tau) > 0 else one
        ts.append(t)
        taus.append(tau)
        noisy.append(x_t)
        history.append(ctx)
        targets.append(tgt)
    dev, dt = clean.device, clean.dtype
    to = lambda r: Rigid.cat(r, 0).to(device=dev, dtype=dt)  # noqa: E731
    tg = _cat_targets(targets)
    tg = ScoreTargets(*(x.to(device=dev, dtype=dt) for x in (tg.rot_score, tg.trans_score, tg.rot_score_scaling, tg.trans_score_scaling)))
    return torch.cat(ts).to(dev, dt), torch.cat(taus).to(dev, dt), to(noisy), to(history), tg


def compute_loss(model: torch.nn.Module, diffuser: SE3Diffuser, batch: dict, spec: TrainingSpec, sample_ids: list[int],
                 train: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of one batch. ``model``: a :class:`DenoiseWrapper` (possibly inside DDP) or a StarMD.

    ``batch``: output of ``collate_windows`` (rots [B,L,N,3,3], trans [B,L,N,3] Å, torsions
    [B,L,N,7,2], atom14 [B,L,N,14,3] Å, masks, aatype [B,N], dt_ns [B]). Returns (scalar loss,
    {term: float, "loss": total}).
    """
    if not isinstance(model, DenoiseWrapper) and not isinstance(getattr(model, "module", None), DenoiseWrapper):
        model = DenoiseWrapper(model)
    mask = batch["mask"].bool()
    clean, centroids = centre_frames(Rigid(batch["rots"], batch["trans"]), mask)
    b, l, n = clean.shape
    t, tau, noisy, history, targets = noise_batch(diffuser, clean, mask, spec, sample_ids)
    dt_ns = batch["dt_ns"].to(clean.dtype)
    rots, trans, torsions, torsion_logits = model(batch["aatype"], batch["residue_index"], mask, batch.get("chain_index"),
                                  clean.rots[:, 0], clean.trans[:, 0], noisy.rots, noisy.trans,
                                  history.rots, history.trans, t, dt_ns, tau, batch["torsions"])
    pred = Rigid(rots, trans)
    if spec.diffusion.precondition:
        pred = diffuser.precondition(noisy, pred, t)
    # losses on frames 1 … L−1
    sl = slice(1, None)
    pred_s, noisy_s, clean_s = pred[:, sl], noisy[:, sl], clean[:, sl]
    res_mask = mask[:, None, :].expand(b, l - 1, n).to(clean.dtype)
    t_frames = t[:, None].expand(b, l - 1)
    rot_score, trans_score = diffuser.score(noisy_s, pred_s, t_frames, res_mask)
    tg = ScoreTargets(targets.rot_score[:, sl], targets.trans_score[:, sl],
                      _slice_scaling(targets.rot_score_scaling, sl), _slice_scaling(targets.trans_score_scaling, sl))
    aatype = batch["aatype"][:, None, :].expand(b, l - 1, n)
    pred_tors = torsions[:, sl]
    logits = None if torsion_logits is None else torsion_logits[:, sl]
    # a categorical head is trained by its cross-entropy alone; the atom losses then supervise the frames, with
    # side chains built from the true torsions (a circular mean of a two-well distribution is not a structure)
    pred_atoms, _ = to_atoms(pred_s, pred_tors if logits is None else batch["torsions"][:, sl].to(pred_tors.dtype), aatype)
    tmask = (batch["torsion_mask"].bool() & mask[..., None])[:, None].expand(b, l - 1, n, 7)
    amask = (batch["atom14_mask"].bool() & mask[..., None])[:, None].expand(b, l - 1, n, 14)
    periodic = pi_periodic_table().to(aatype.device)[aatype]
    target_atoms = batch["atom14"][:, sl] - centroids[:, sl, None, None]
    bonded = linked_neighbours(mask, batch["residue_index"], batch.get("chain_index"))[:, None].expand(b, l - 1, n - 1)
    loss, logs = total_loss(spec.loss, t_frames, res_mask, rot_score=rot_score, trans_score=trans_score, targets=tg,
                            pred_frames=pred_s, target_frames=clean_s, pred_torsions=pred_tors,
                            target_torsions=batch["torsions"][:, sl], torsion_mask=tmask, pi_periodic=periodic,
                            torsion_logits=logits, bonded=bonded,
                            pred_atoms=pred_atoms, target_atoms=target_atoms, atom_mask=amask,
                            coord_scale=spec.diffusion.coordinate_scale)
    out = {k: float(v) for k, v in logs.items() if k != "total"}
    out["loss"] = float(logs["total"])
    return loss, out


def linked_neighbours(mask: torch.Tensor, residue_index: torch.Tensor, chain_index: torch.Tensor | None) -> torch.Tensor:
    """Bool [B, N−1]: residues i and i+1 are both present, in the same chain and numbered consecutively.

    mask, residue_index, chain_index: [B, N] (chain_index None: one chain)."""
    m = mask.bool()
    link = m[:, 1:] & m[:, :-1] & (residue_index[:, 1:] - residue_index[:, :-1] == 1)
    if chain_index is not None:
        link &= chain_index[:, 1:] == chain_index[:, :-1]
    return link


def _slice_scaling(x: torch.Tensor, sl: slice) -> torch.Tensor:
    return x[:, sl] if x.dim() >= 2 else x


__all__ = ["compute_loss", "DenoiseWrapper", "linked_neighbours", "noise_batch", "centre_frames", "pi_periodic_table"]
