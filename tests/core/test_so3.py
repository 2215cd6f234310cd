"""IGSO(3): normalisation, sampling (KS), score = autograd gradient, small-σ limit, cache."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from starmd.core import so3
from starmd.errors import SpecError

F64 = torch.float64
SCHEDULE = [0.1, 0.17, 0.35, 0.7, 1.1, 1.5]


@pytest.fixture(scope="module")
def igso3(small_diffusion_spec):
    spec = small_diffusion_spec
    return so3.IGSO3.from_spec(spec)


@pytest.mark.parametrize("sigma", SCHEDULE)
def test_density_integrates_to_one_with_haar_factor(sigma):
    w = torch.linspace(0, math.pi, 4001, dtype=F64)
    haar = (1 - torch.cos(w)) / math.pi
    closed = torch.trapezoid(so3.density(w, sigma) * haar, w)
    series = torch.trapezoid(so3.density_series(w, sigma, 400) * haar, w)
    assert abs(float(closed) - 1) < 1e-7
    assert abs(float(series) - 1) < 1e-7
    assert abs(float(so3.angle_cdf_series(torch.tensor([math.pi], dtype=F64), sigma, 400)) - 1) < 1e-12


@pytest.mark.parametrize("sigma", [0.05, *SCHEDULE])
def test_closed_form_equals_series(sigma):
    w = torch.linspace(0, math.pi, 1001, dtype=F64)
    a = so3.density_series(w, sigma, 1000)
    b = so3.density(w, sigma)
    assert float((a - b).abs().max() / b.max()) < 1e-10
    assert so3.series_truncation_bound(sigma, 1000) < 1e-12
    assert so3.wrapped_truncation_bound(sigma) < 1e-70


# σ on the grid ends, between grid points, and below the grid (rejection path)
@pytest.mark.parametrize("sigma", [0.03, 0.1, 0.2345, 0.8, 1.5])
def test_sampled_angles_match_density_ks(igso3, sigma):
    gen = torch.Generator().manual_seed(0)
    omega = igso3.sample_angle(torch.full((10_000,), sigma, dtype=F64), gen).numpy()
    assert omega.min() >= 0 and omega.max() <= math.pi

    def cdf(x):
        return so3.angle_cdf_series(torch.as_tensor(np.asarray(x), dtype=F64), sigma, 500).numpy()

    p = stats.kstest(omega, cdf).pvalue
    print(f"KS sigma={sigma}: p={p:.3f}")
    assert p > 0.01


def test_sample_rotvec_is_isotropic(igso3):
    gen = torch.Generator().manual_seed(0)
    v = igso3.sample_rotvec(torch.full((4000,), 0.5, dtype=F64), gen)
    axis = v / v.norm(dim=-1, keepdim=True)
    assert float(axis.mean(0).abs().max()) < 0.06  # uniform axis: mean 0, std of the mean ≈ 0.009
    R = igso3.sample(torch.full((3,), 0.5, dtype=F64), gen)
    assert torch.allclose(R @ R.transpose(-1, -2), torch.eye(3, dtype=F64).expand(3, 3, 3), atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(sigma=st.floats(0.1, 1.5), seed=st.integers(0, 2**31 - 1))
def test_score_equals_autograd_gradient_of_log_density(sigma, seed):
    gen = torch.Generator().manual_seed(seed)
    r0 = so3.exp_map(torch.randn(8, 3, dtype=F64, generator=gen))
    v = torch.randn(8, 3, dtype=F64, generator=gen)
    v = v / v.norm(dim=-1, keepdim=True) * torch.rand(8, 1, dtype=F64, generator=gen) * 3.1  # angle < π
    rt = r0 @ so3.exp_map(v)
    xi = torch.zeros(8, 3, dtype=F64, requires_grad=True)  # body-frame perturbation R_t·exp(ξ̂)
    omega = so3.log_map(r0.transpose(-1, -2) @ rt @ so3.exp_map(xi)).norm(dim=-1)
    (grad,) = torch.autograd.grad(so3.log_density(omega, sigma).sum(), xi)
    assert torch.allclose(so3.score(v, sigma), grad, atol=1e-4, rtol=1e-4)


def test_score_is_differentiable_everywhere():
    v = torch.tensor([[0.0, 0.0, 0.0], [1e-7, 0, 0], [0.3, -0.2, 0.1], [math.pi - 1e-9, 0, 0]], dtype=F64, requires_grad=True)
    s = so3.score(v, torch.tensor(0.4, dtype=F64, requires_grad=True))
    s.pow(2).sum().backward()
    assert torch.isfinite(v.grad).all()
    # at v = 0 the score vanishes; at ω = π the angle derivative vanishes (f is symmetric about π)
    assert float(s[0].detach().abs().max()) == 0.0
    assert abs(float(so3.dlog_density_over_omega(torch.tensor(math.pi, dtype=F64), 0.9))) < 1e-10


@pytest.mark.parametrize("sigma", [0.01, 0.02, 0.05])
def test_small_sigma_gaussian_limit(sigma):
    # angle density → Maxwell(σ) and score → −v/σ² (rotation vector ~ N(0, σ² I))
    w = torch.linspace(1e-4, 6 * sigma, 500, dtype=F64)
    maxwell = math.sqrt(2 / math.pi) * w**2 / sigma**3 * torch.exp(-(w**2) / (2 * sigma**2))
    rel = (so3.angle_pdf(w, sigma) - maxwell).abs().max() / maxwell.max()
    assert float(rel) < 2 * sigma**2  # the first correction is O(σ²)
    v = torch.tensor([[0.3, -0.5, 1.0]], dtype=F64) * sigma
    assert torch.allclose(so3.score(v, sigma), -v / sigma**2, rtol=sigma**2)


def test_score_scaling_matches_monte_carlo(igso3):
    gen = torch.Generator().manual_seed(3)
    for sigma in (0.1, 0.6, 1.5):
        v = igso3.sample_rotvec(torch.full((20_000,), sigma, dtype=F64), gen)
        mc = so3.score(v, sigma).pow(2).sum(-1).mean().div(3).sqrt()
        assert abs(float(igso3.score_scaling(torch.tensor(sigma, dtype=F64))) / float(mc) - 1) < 0.03
    assert abs(float(igso3.score_scaling(torch.tensor(0.01, dtype=F64))) - 100) < 1e-9


def test_sigma_schedule_endpoints():
    t = torch.tensor([0.0, 0.5, 1.0], dtype=F64)
    s = so3.sigma_schedule(t, 0.1, 1.5)
    assert torch.allclose(s, torch.tensor([0.1, math.sqrt(0.15), 1.5], dtype=F64))
    ds = (so3.sigma_schedule(0.5 + 1e-6) ** 2 - so3.sigma_schedule(0.5 - 1e-6) ** 2) / 2e-6
    assert abs(float(so3.sigma_sq_rate(0.5)) - float(ds)) < 1e-6


def test_tables_cached_on_disk_and_in_memory(tmp_path, monkeypatch):
    args = dict(sigma_lo=0.1, sigma_hi=1.5, num_sigma=20, num_omega=100, series_terms=200)
    t1 = so3.load_tables(**args, cache_dir=tmp_path)
    files = list(tmp_path.glob("igso3-*.pt"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))
    assert so3.load_tables(**args, cache_dir=tmp_path) is t1  # memory hit
    so3._TABLES.clear()
    monkeypatch.setattr(so3, "_build_tables", lambda p: pytest.fail("rebuilt although cached on disk"))
    t2 = so3.load_tables(**args, cache_dir=tmp_path)
    assert torch.equal(t1["cdf"], t2["cdf"])
    monkeypatch.undo()
    so3.load_tables(**{**args, "num_omega": 101}, cache_dir=tmp_path)  # another parameter → another file
    assert len(list(tmp_path.glob("igso3-*.pt"))) == 2
    monkeypatch.setenv("STARMD_CACHE", str(tmp_path / "env"))
    assert so3.default_cache_dir() == tmp_path / "env"


def test_too_few_series_terms_is_refused(tmp_path):
    with pytest.raises(SpecError, match="series_terms"):
        so3.load_tables(0.1, 1.5, 20, 100, 20, cache_dir=tmp_path)


def test_sigma_above_table_is_refused(igso3):
    with pytest.raises(ValueError, match="sigma_max"):
        igso3.sample_angle(torch.tensor([2.0], dtype=F64))
