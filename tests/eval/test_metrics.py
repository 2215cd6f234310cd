"""Known-answer tests of starmd.eval.metrics on synthetic data and a real MD fixture."""

from __future__ import annotations

import math
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest

from starmd.errors import StarMDError
from starmd.eval import metrics as M

DATA = Path(__file__).parent / "data"


# ---------------------------------------------------------------------------- JSD / recall
def test_jsd_of_itself_is_zero_and_recall_one():
    x = np.random.default_rng(0).normal(size=(500, 3))
    r = M.distribution_metrics(x, x, bins=10)
    assert r["jsd"] == pytest.approx(0.0, abs=1e-12)
    assert r["recall"] == 1.0


def test_jsd_of_disjoint_distributions_is_ln2():
    rng = np.random.default_rng(1)
    ref = np.concatenate([rng.uniform(0, 1, (200, 2)), rng.uniform(9, 10, (200, 2))])
    inside = rng.uniform(4, 6, (300, 2))  # inside the reference's range, in bins it never visits
    assert M.distribution_metrics(ref, inside)["jsd"] == pytest.approx(math.log(2))
    outside = rng.uniform(20, 30, (300, 2))  # beyond the reference's range: the "outside" bin
    r = M.distribution_metrics(ref, outside)
    assert r["jsd"] == pytest.approx(math.log(2)) and r["recall"] == 0.0 and r["outside_fraction"] == 1.0


def test_recall_of_a_subset():
    # a 10x10 grid of points, one per bin centre: 100 occupied bins
    g = (np.arange(10) + 0.5) / 10
    ref = np.array([(a, b) for a in g for b in g] + [(0, 0), (1, 1)])  # corners fix the range to [0, 1]
    sub = np.array([(a, b) for a in g[:3] for b in g])  # 30 of the bins
    r = M.distribution_metrics(ref, sub)
    assert r["recall"] == pytest.approx(30 / 100)


# ---------------------------------------------------------------------------- two-state Markov jump process
P_SWITCH = 0.02  # per step, both directions: λ2 = 1 − 2p, t = −1/ln(λ2) steps
DT = 0.01  # ns per step


@pytest.fixture(scope="module")
def two_state():
    rng = np.random.default_rng(0)
    n = 50_000
    flips = rng.random(n) < P_SWITCH
    s = np.cumsum(flips) % 2  # a flip each step with probability p: symmetric two-state chain
    x = np.stack([s + 0.02 * rng.standard_normal(n), 0.02 * rng.standard_normal(n)], 1)
    return x, -DT / math.log(1 - 2 * P_SWITCH)


def test_tica_recovers_timescale(two_state):
    x, true = two_state
    r = M.tica_correlation(x, x, 0.05, DT, DT)
    assert r["timescales_ns"][0] == pytest.approx(true, rel=0.10)
    assert r["correlation"] == pytest.approx((1 - 2 * P_SWITCH) ** 5, rel=0.05)


def test_vamp2_recovers_timescale(two_state):
    x, true = two_state
    lag = 5
    s = M.vamp2_score(x, lag)
    sigma = math.sqrt(s - 1.0)  # the one slow singular value (the noise dimension adds ~0)
    assert -lag * DT / math.log(sigma) == pytest.approx(true, rel=0.10)
    assert M.vamp2_deviation(x, x, lag * DT, DT, DT)["deviation"] == 0.0


def test_msm_recovers_timescale(two_state):
    x, true = two_state
    r = M.msm_implied_timescales(x, x, 0.05, [0.01, 0.05, 0.1], DT, DT, n_clusters=2)
    for its in r["reference"]:
        assert its[0] == pytest.approx(true, rel=0.10)
    assert r["deviation"] == 0.0


def test_tica_refuses_too_few_pairs():
    x = np.random.default_rng(0).normal(size=(35, 3))
    with pytest.raises(StarMDError, match="valid frame pairs"):
        M.tica_correlation(x, x, 0.01, 0.001, 0.001)  # lag 10 frames: 25 pairs < 30


def test_lag_shorter_than_a_frame_is_refused():
    with pytest.raises(StarMDError, match="shorter than one saved frame"):
        M.lag_to_frames(0.001, 0.01)


def test_autocorrelation_known_answers():
    rng = np.random.default_rng(2)
    n, a = 100_000, 0.9  # AR(1): ACF(k) = a^k
    x = np.zeros(n)
    e = rng.standard_normal(n)
    for t in range(1, n):
        x[t] = a * x[t - 1] + e[t]
    acf = M.autocorrelation(x[:, None], [1, 2, 5])[:, 0]
    np.testing.assert_allclose(acf, [a, a**2, a**5], atol=0.02)
    assert M.autocorrelation(np.ones((10, 1)), [1])[0, 0] == 1.0  # constant: fully correlated by convention


# ---------------------------------------------------------------------------- real MD: agree with plain mdtraj/numpy
@pytest.fixture(scope="module")
def md_traj():
    return md.load(str(DATA / "rep1.xtc"), top=str(DATA / "peptide.pdb"))


def test_ca_pca_and_rmsf_match_plain_computation(md_traj):
    ca = M.ca_coordinates(md_traj, md_traj[0])
    t = md_traj.atom_slice(md_traj.topology.select("name CA"))
    t.superpose(t, 0)
    ref = t.xyz.astype(np.float64) * 10
    np.testing.assert_allclose(ca, ref, atol=1e-3)
    # RMSF: mdtraj's own, around the mean of the (already superposed) coordinates
    np.testing.assert_allclose(M.rmsf(ca), md.rmsf(t, None) * 10, atol=1e-3)
    # PCA: projections' variances are the covariance matrix's eigenvalues
    pca = M.fit_pca(ca)
    ev = np.sort(np.linalg.eigvalsh(np.cov(ref.reshape(len(ref), -1).T)))[::-1]
    np.testing.assert_allclose(pca.transform(ca).var(0, ddof=1)[:5], ev[:5], rtol=1e-4)


def test_rmsd_lag_and_pairwise_match_mdtraj(md_traj):
    t = md_traj.atom_slice(md_traj.topology.select("name CA"))
    ca = t.xyz.astype(np.float64) * 10
    for lag in (1, 50):
        plain = np.mean([md.rmsd(t[i + lag], t, frame=i)[0] * 10 for i in range(t.n_frames - lag)])
        assert M.rmsd_vs_lag(ca, [lag])[0] == pytest.approx(plain, abs=1e-3)
    pw = M.pairwise_rmsd(ca[:40])
    plain = np.concatenate([md.rmsd(t[:40], t[:40], frame=i)[i + 1:] for i in range(39)]) * 10
    np.testing.assert_allclose(pw, plain, atol=1e-3)
    r = M.pairwise_rmsd_comparison(ca, ca)
    assert r["wasserstein"] == pytest.approx(0.0, abs=1e-9)


def test_dt_from_trajectory(md_traj):
    assert M.trajectory_dt_ns(md_traj) == pytest.approx(0.001)
