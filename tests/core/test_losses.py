"""Losses: FAPE invariance and zero-iff-equal, torsion alternatives, score losses, aux gating, total."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from starmd.core.diffusion import ScoreTargets
from starmd.core.losses import (
    aux_weight,
    backbone_coord_loss,
    distance_map_loss,
    fape,
    rotation_score_loss,
    torsion_loss,
    total_loss,
    translation_score_loss,
)
from starmd.core.rigid import Rigid, random_rotation
from starmd.core.specs import LossSpec

F64 = torch.float64


def _frames(shape, gen) -> Rigid:
    return Rigid(random_rotation(shape, generator=gen), 5 * torch.randn(*shape, 3, dtype=F64, generator=gen))


def _transform(g, shift, x: Rigid) -> Rigid:
    return Rigid(g @ x.rots, x.trans @ g.T + shift)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 8), m=st.integers(1, 12), clamp=st.sampled_from([None, 10.0]))
def test_fape_invariant_to_global_se3_of_prediction_and_target(seed, n, m, clamp):
    gen = torch.Generator().manual_seed(seed)
    pf, tf = _frames((2, n), gen), _frames((2, n), gen)
    pp = 5 * torch.randn(2, m, 3, dtype=F64, generator=gen)
    tp = 5 * torch.randn(2, m, 3, dtype=F64, generator=gen)
    fmask = (torch.rand(2, n, generator=gen) > 0.2).double()
    pmask = (torch.rand(2, m, generator=gen) > 0.2).double()
    ref = fape(pf, tf, pp, tp, fmask, pmask, clamp=clamp)
    g1, g2 = random_rotation((), generator=gen), random_rotation((), generator=gen)
    s1, s2 = 10 * torch.randn(3, dtype=F64, generator=gen), 10 * torch.randn(3, dtype=F64, generator=gen)
    both = fape(_transform(g1, s1, pf), _transform(g1, s1, tf), pp @ g1.T + s1, tp @ g1.T + s1, fmask, pmask, clamp=clamp)
    apart = fape(_transform(g1, s1, pf), _transform(g2, s2, tf), pp @ g1.T + s1, tp @ g2.T + s2, fmask, pmask, clamp=clamp)
    assert torch.allclose(both, ref, atol=1e-10) and torch.allclose(apart, ref, atol=1e-10)
    assert ref.shape == (2,) and bool((ref >= 0).all())


def test_fape_zero_iff_equal():
    gen = torch.Generator().manual_seed(0)
    f = _frames((3, 6), gen)
    pos = 5 * torch.randn(3, 24, 3, dtype=F64, generator=gen)
    assert float(fape(f, f, pos, pos).abs().max()) == 0.0
    moved = pos.clone()
    moved[1, 7, 0] += 1e-3  # a single atom of sample 1 moved by 0.001 Å
    out = fape(f, f, moved, pos)
    assert out[0] == 0 and out[2] == 0 and out[1] > 0
    rot = Rigid(f.rots.clone(), f.trans)
    rot.rots[2, 0] = rot.rots[2, 0] @ random_rotation((), generator=gen)  # one frame of sample 2 rotated
    assert fape(rot, f, pos, pos)[2] > 0
    # clamp: a huge error counts at most `clamp` Å, divided by length_scale
    far = pos + 1000.0
    assert torch.allclose(fape(f, f, far, pos, clamp=10.0, length_scale=10.0), torch.ones(3, dtype=F64))
    # masked-out atoms do not count; an empty mask gives 0, not NaN
    pmask = torch.ones(3, 24, dtype=F64)
    pmask[1, 7] = 0
    assert float(fape(f, f, moved, pos, pos_mask=pmask)[1]) == 0.0
    assert float(fape(f, f, far, pos, pos_mask=torch.zeros(3, 24, dtype=F64)).abs().max()) == 0.0


def test_fape_gradient_finite_at_zero_error():
    gen = torch.Generator().manual_seed(1)
    f = _frames((4,), gen)
    pos = torch.randn(8, 3, dtype=F64, generator=gen).requires_grad_(True)
    fape(f, f, pos, pos.detach()).backward()
    assert torch.isfinite(pos.grad).all()


def test_score_losses_scaling_and_mask():
    pred = torch.zeros(2, 3, 3)
    target = torch.ones(2, 3, 3)
    scaling = torch.tensor([1.0, 2.0])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    for fn in (rotation_score_loss, translation_score_loss):
        out = fn(pred, target, scaling, mask)
        assert torch.allclose(out, torch.tensor([3.0, 0.75]))
        assert torch.allclose(fn(pred, target, scaling, torch.zeros(2, 3)), torch.zeros(2))


def test_torsion_loss_pi_periodic_alternative():
    ang = torch.tensor([0.3, 1.2, -2.0])
    target = torch.stack([torch.sin(ang), torch.cos(ang)], -1).reshape(1, 1, 3, 2)
    flipped = -target  # χ + π
    mask = torch.ones(1, 1, 3)
    assert float(torsion_loss(target, target, mask)) < 1e-6
    assert abs(float(torsion_loss(flipped, target, mask)) - 4.0) < 1e-6  # |(−u) − u|² = 4
    periodic = torch.tensor([[[False, True, True]]])
    assert abs(float(torsion_loss(flipped, target, mask, periodic)) - 4.0 / 3) < 1e-6
    # the norm term penalises unnormalised predictions, the angle term does not see the scale
    assert abs(float(torsion_loss(3 * target, target, mask, norm_weight=0.02)) - 0.04) < 1e-6
    assert float(torsion_loss(flipped, target, torch.zeros(1, 1, 3))) == 0.0


def test_coordinate_and_distance_losses():
    gen = torch.Generator().manual_seed(2)
    pos = 3 * torch.randn(2, 12, 3, dtype=F64, generator=gen)
    assert float(backbone_coord_loss(pos, pos).abs().max()) == 0
    shifted = pos + torch.tensor([10.0, 0, 0], dtype=F64)  # 10 Å = 1 nm → 1 nm²
    assert torch.allclose(backbone_coord_loss(shifted, pos), torch.ones(2, dtype=F64))
    assert float(distance_map_loss(shifted, pos).abs().max()) < 1e-10  # distances are translation invariant
    g = random_rotation((), generator=gen)
    assert float(distance_map_loss(pos @ g.T, pos).abs().max()) < 1e-10
    assert float(distance_map_loss(1.2 * pos, pos).min()) > 0


def test_aux_weight():
    t = torch.tensor([0.01, 0.25, 0.2500001, 0.9])
    assert torch.equal(aux_weight(t, 0.25), torch.tensor([1.0, 1.0, 0.0, 0.0]))


def _example(b=3, n=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    frames = _frames((b, n), gen)
    atoms = frames.unsqueeze(-1).apply(torch.randn(b, n, 14, 3, dtype=F64, generator=gen))
    tors = torch.nn.functional.normalize(torch.randn(b, n, 7, 2, dtype=F64, generator=gen), dim=-1)
    targets = ScoreTargets(torch.randn(b, n, 3, dtype=F64, generator=gen), torch.randn(b, n, 3, dtype=F64, generator=gen),
                           torch.full((b,), 2.0, dtype=F64), torch.full((b,), 3.0, dtype=F64))
    return gen, frames, atoms, tors, targets


def test_total_loss_weights_and_aux_gating():
    gen, frames, atoms, tors, targets = _example()
    res_mask = torch.ones(3, 5, dtype=F64)
    spec = LossSpec()
    pred_frames = Rigid(frames.rots, frames.trans + 0.5 * torch.randn(3, 5, 3, dtype=F64, generator=gen))
    pred_atoms = atoms + 0.3 * torch.randn_like(atoms)
    t = torch.tensor([0.1, 0.5, 0.2], dtype=F64)
    rot = targets.rot_score + 0.1
    trans = targets.trans_score - 0.2
    total, terms = total_loss(spec, t, res_mask, rot_score=rot, trans_score=trans, targets=targets,
                              pred_frames=pred_frames, target_frames=frames, pred_torsions=tors * 2, target_torsions=tors,
                              pred_atoms=pred_atoms, target_atoms=atoms)
    assert set(terms) == {"rot", "trans", "torsion", "bb_fape", "sc_fape", "bb_coord", "dist_map", "total"}
    expect = sum(getattr(spec, k) * v for k, v in terms.items() if k != "total")
    assert torch.allclose(total, expect)
    assert torch.allclose(terms["rot"], torch.tensor(3 * 0.01 / 4, dtype=F64))
    assert torch.allclose(terms["trans"], torch.tensor(3 * 0.04 / 9, dtype=F64))
    # aux terms count only the samples with t ≤ 0.25 (0 and 2), averaged over all 3
    bb = atoms[..., :4, :].reshape(3, -1, 3)
    per_sample = backbone_coord_loss(pred_atoms[..., :4, :].reshape(3, -1, 3), bb)
    assert torch.allclose(terms["bb_coord"], (per_sample[0] + per_sample[2]) / 3)
    total_late, terms_late = total_loss(spec, torch.full((3,), 0.9, dtype=F64), res_mask, pred_atoms=pred_atoms,
                                        target_atoms=atoms, pred_frames=pred_frames, target_frames=frames)
    assert float(terms_late["bb_coord"]) == 0 and float(terms_late["dist_map"]) == 0
    assert torch.isfinite(total_late)


def test_total_loss_backpropagates_without_nan():
    _, frames, atoms, tors, targets = _example(seed=4)
    res_mask = torch.ones(3, 5, dtype=F64)
    res_mask[2] = 0  # an all-padding sample must not produce NaN
    pred_atoms = atoms.clone().requires_grad_(True)
    pred_tors = (2 * tors).requires_grad_(True)
    rot = targets.rot_score.clone().requires_grad_(True)
    total, _ = total_loss(LossSpec(), torch.tensor([0.05, 0.3, 0.1], dtype=F64), res_mask, rot_score=rot,
                          trans_score=targets.trans_score, targets=targets, pred_frames=frames, target_frames=frames,
                          pred_torsions=pred_tors, target_torsions=tors, pred_atoms=pred_atoms, target_atoms=atoms)
    total.backward()
    for g in (pred_atoms.grad, pred_tors.grad, rot.grad):
        assert torch.isfinite(g).all()
    assert math.isfinite(float(total.detach()))


def test_total_loss_needs_some_input():
    with pytest.raises(ValueError, match="no loss term"):
        total_loss(LossSpec(), torch.zeros(2), torch.ones(2, 3))


def test_peptide_bond_loss_sees_only_linked_neighbours_and_ignores_global_motion():
    from starmd.core.losses import peptide_bond_loss

    torch.manual_seed(0)
    atoms = torch.randn(2, 5, 14, 3, dtype=torch.float64) * 3
    linked = torch.ones(2, 4, dtype=torch.float64)
    assert torch.equal(peptide_bond_loss(atoms, atoms, linked), torch.zeros(2, dtype=torch.float64))
    rot = random_rotation(generator=torch.Generator().manual_seed(1))
    moved = atoms @ rot.T + torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    assert torch.allclose(peptide_bond_loss(moved, atoms, linked), torch.zeros(2, dtype=torch.float64), atol=1e-20)
    # moving residue 2's backbone by 0.5 Å along x changes its two links; unlinking them hides it
    pred = atoms.clone()
    pred[:, 2, :3] += torch.tensor([0.5, 0.0, 0.0], dtype=torch.float64)
    assert (peptide_bond_loss(pred, atoms, linked) > 0).all()
    unlinked = linked.clone()
    unlinked[:, 1:3] = 0
    assert torch.equal(peptide_bond_loss(pred, atoms, unlinked), torch.zeros(2, dtype=torch.float64))
    # the value is the mean squared difference of the four distances over linked pairs
    d = lambda x, a, b, i: torch.linalg.norm(x[:, i, a] - x[:, i + 1, b], dim=-1)  # noqa: E731
    pairs = [(2, 0), (1, 0), (2, 1), (1, 1)]
    per_link = [torch.stack([(d(pred, a, b, i) - d(atoms, a, b, i)) ** 2 for a, b in pairs]).mean(0) for i in range(4)]
    assert torch.allclose(peptide_bond_loss(pred, atoms, linked), torch.stack(per_link).mean(0))
