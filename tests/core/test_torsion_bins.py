"""Categorical torsions: binning, circular mean, sampling and the cross-entropy loss."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from starmd.core.losses import torsion_bin_loss
from starmd.core.torsion_bins import angle_to_bin, bin_centres, bin_width, expected_torsions, sample_torsions


def _sincos(angle: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.sin(angle), torch.cos(angle)], -1)


def _circ(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.remainder(a - b + math.pi, 2 * math.pi) - math.pi


@settings(max_examples=200, deadline=None)
@given(st.floats(-math.pi, math.pi, allow_nan=False), st.sampled_from([4, 12, 36, 72]))
def test_an_angle_lies_in_its_bin(angle, bins):
    k = angle_to_bin(_sincos(torch.tensor(angle, dtype=torch.float64)), bins)
    centre = bin_centres(bins, torch.float64)[k]
    assert abs(float(_circ(torch.tensor(angle, dtype=torch.float64), centre))) <= bin_width(bins) / 2 + 1e-9


def test_bin_centres_map_to_themselves():
    c = bin_centres(36, torch.float64)
    assert torch.equal(angle_to_bin(_sincos(c), 36), torch.arange(36))


def test_circular_mean_of_peaked_and_symmetric_distributions():
    bins = 36
    c = bin_centres(bins, torch.float64)
    peaked = torch.full((bins,), -50.0, dtype=torch.float64)
    peaked[7] = 50.0
    assert torch.allclose(expected_torsions(peaked), _sincos(c[7]), atol=1e-12)
    # two equal wells at ±100°: the circular mean points at 180° (between them, the regression answer)
    two = torch.full((bins,), -50.0, dtype=torch.float64)
    k1 = int(angle_to_bin(_sincos(torch.tensor(math.radians(95.0), dtype=torch.float64)), bins))
    k2 = int(angle_to_bin(_sincos(torch.tensor(math.radians(-95.0), dtype=torch.float64)), bins))
    two[k1] = two[k2] = 50.0
    mean = expected_torsions(two)
    assert float(torch.atan2(mean[0], mean[1]).abs()) == pytest.approx(math.pi, abs=1e-9)


def test_sampling_follows_the_distribution_and_stays_in_the_bins():
    bins = 36
    logits = torch.full((4000, bins), -1e4, dtype=torch.float64)
    logits[:, 3] = 0.0
    logits[:, 20] = math.log(3.0)  # p = 1/4 and 3/4
    gen = torch.Generator().manual_seed(0)
    s = sample_torsions(logits, generator=gen)
    k = angle_to_bin(s, bins)
    assert set(k.tolist()) <= {3, 20}
    frac = float((k == 20).double().mean())
    assert abs(frac - 0.75) < 4 * math.sqrt(0.75 * 0.25 / 4000)  # binomial, 4σ
    assert torch.allclose(s.norm(dim=-1), torch.ones(4000, dtype=torch.float64))
    again = sample_torsions(logits, generator=torch.Generator().manual_seed(0))
    assert torch.equal(s, again)


def test_temperature_sharpens_the_distribution():
    # p ∝ p_model^(1/T): (1/4, 3/4) at T = 1/2 becomes (1/10, 9/10); T → 0 gives the most likely bin
    logits = torch.full((4000, 36), -1e4, dtype=torch.float64)
    logits[:, 3], logits[:, 20] = 0.0, math.log(3.0)
    k = angle_to_bin(sample_torsions(logits, generator=torch.Generator().manual_seed(1), temperature=0.5), 36)
    assert abs(float((k == 20).double().mean()) - 0.9) < 4 * math.sqrt(0.9 * 0.1 / 4000)
    cold = angle_to_bin(sample_torsions(logits, generator=torch.Generator().manual_seed(1), temperature=0.01), 36)
    assert bool((cold == 20).all())
    with pytest.raises(ValueError, match="temperature"):
        sample_torsions(logits, temperature=0.0)


def test_cross_entropy_matches_torch_and_handles_pi_periodic_and_masks():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 7, 36, dtype=torch.float64)
    angle = (torch.rand(2, 3, 7, dtype=torch.float64) * 2 - 1) * math.pi
    target = _sincos(angle)
    k = angle_to_bin(target, 36)
    ref = torch.nn.functional.cross_entropy(logits.reshape(-1, 36), k.reshape(-1), reduction="none").reshape(2, 3, 7)
    assert torch.allclose(torsion_bin_loss(logits, target), ref.mean((-1, -2)), atol=1e-12)
    periodic = torch.zeros(2, 3, 7, dtype=torch.bool)
    periodic[..., 4] = True
    logp = torch.log_softmax(logits, -1)
    both = -torch.log(logp.gather(-1, k[..., None]).exp() + logp.gather(-1, ((k + 18) % 36)[..., None]).exp()).squeeze(-1)
    expect = torch.where(periodic, both, ref)
    assert torch.allclose(torsion_bin_loss(logits, target, pi_periodic=periodic), expect.mean((-1, -2)), atol=1e-12)
    # a π-periodic torsion gives the same loss for θ and θ + π
    flipped = _sincos(angle + math.pi)
    assert torch.allclose(torsion_bin_loss(logits[..., 4:5, :], flipped[..., 4:5, :], pi_periodic=periodic[..., 4:5]),
                          torsion_bin_loss(logits[..., 4:5, :], target[..., 4:5, :], pi_periodic=periodic[..., 4:5]), atol=1e-12)
    mask = torch.zeros(2, 3, 7, dtype=torch.bool)
    mask[..., 0] = True
    assert torch.allclose(torsion_bin_loss(logits, target, mask), ref[..., 0].mean(-1), atol=1e-12)
