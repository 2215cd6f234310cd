"""Distribution and dynamics metrics between a reference trajectory and a generated one.

Everything here works on arrays (Cα coordinates in Å, shape ``[T, N, 3]``) or mdtraj trajectories;
no model code is imported. Time is in ns everywhere in the API: lags are given in ns and converted
to saved frames with the time step ``dt_ns`` of each trajectory (rounded to the nearest frame).
Every public function returns plain Python numbers / lists / dicts (JSON-serialisable); a value that
is undefined for the input (e.g. a correlation of a constant signal) is ``None``.

Featurisation (DESIGN.md "Metric definitions"): Cα coordinates after optimal superposition (mdtraj)
on the *reference's first frame*; the PCA is fitted on the reference only and applied to every
trajectory. The kinetic metrics (tICA, VAMP-2, MSM) use the projections on the reference's first
``n_pcs_kinetic`` PCs as features; the tICA is fitted on the reference only.

Definitions used (stated here because the paper gives no formulas):

* JSD: 2D histogram of PC1–PC2, ``bins`` per axis spanning the reference's range; generated frames
  that fall outside that range are counted in one extra "outside" bin (the reference has no mass
  there), so a generator cannot lower its JSD by leaving the reference's range. Natural log, so the
  maximum is ln 2.
* Recall: fraction of the reference-occupied bins that hold at least one generated frame.
* tICA correlation: Pearson correlation of tIC1(t) and tIC1(t + lag) of the *generated* trajectory
  projected with the reference's tICA (the reference's own value is reported as the target).
  Needs ``min_pairs`` (30) valid frame pairs at the lag in both trajectories.
* RMSD-vs-lag: mean Cα RMSD (optimal superposition per pair) between frames ``lag`` apart;
  deviation = mean |generated − reference| over the lags (Å).
* Autocorrelation: normalised autocorrelation of each of the first ``n_pcs`` reference PCs, each
  trajectory around its own mean/variance (a constant component is taken as fully correlated, 1);
  deviation = mean |generated − reference| over lags and PCs.
* VAMP-2: deeptime VAMP-2 score (includes the constant singular function, so ≥ 1) of each
  trajectory's own features at the lag; deviation = |generated − reference| / reference.
* MSM: k-means (deeptime) on the reference's tICA space, generated frames assigned to the same
  centres, reversible maximum-likelihood MSM per lag; deviation = mean |ln(t_gen / t_ref)| over the
  slowest implied timescales both have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mdtraj as md
import numpy as np
from scipy.stats import wasserstein_distance

from starmd.errors import StarMDError

# ---------------------------------------------------------------------------- helpers


def _f(x) -> float | None:
    """A JSON-safe float (None for NaN/inf/None)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _list(a) -> list:
    return [_f(v) for v in np.asarray(a, dtype=float).ravel()]


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or a.std() < 1e-12 or b.std() < 1e-12:
        return None
    return _f(np.corrcoef(a, b)[0, 1])


def lag_to_frames(lag_ns: float, dt_ns: float, what: str = "trajectory") -> int:
    """Lag in ns → whole saved frames (rounded); raises StarMDError if below one frame."""
    if dt_ns is None or not dt_ns > 0:
        raise StarMDError(f"{what}: time step per frame unknown or not positive ({dt_ns}); pass dt_ns")
    n = int(round(lag_ns / dt_ns))
    if n < 1:
        raise StarMDError(f"{what}: lag {lag_ns:g} ns is shorter than one saved frame ({dt_ns:g} ns)")
    return n


def trajectory_dt_ns(traj: md.Trajectory, what: str = "trajectory") -> float:
    """Time between saved frames in ns, from the trajectory's time stamps (ps in mdtraj)."""
    t = np.asarray(traj.time, float)
    if t.size < 2:
        raise StarMDError(f"{what}: needs at least 2 frames to know its time step")
    d = np.diff(t)
    if not np.all(np.isfinite(d)) or d[0] <= 0 or np.ptp(d) > 1e-3 * abs(d[0]) + 1e-6:
        raise StarMDError(f"{what}: frame times are missing or not evenly spaced; pass dt_ns explicitly")
    return float(d[0]) / 1000.0


# ---------------------------------------------------------------------------- featurisation


def ca_coordinates(traj: md.Trajectory, reference_frame: md.Trajectory | None = None) -> np.ndarray:
    """Cα coordinates in Å, ``[T, N, 3]``, after superposition (mdtraj) on ``reference_frame``.

    ``reference_frame`` is a one-frame trajectory with the same number of Cα atoms (by convention
    the reference's first frame); default: ``traj``'s own first frame.
    """
    ca = traj.topology.select("name CA")
    if ca.size == 0:
        raise StarMDError("trajectory has no Cα atoms")
    t = traj.atom_slice(ca)
    if reference_frame is None:
        ref = t[0]
    else:
        rca = reference_frame.topology.select("name CA")
        ref = reference_frame.atom_slice(rca)[0] if rca.size != reference_frame.n_atoms else reference_frame[0]
        if ref.n_atoms != t.n_atoms:
            raise StarMDError(f"Cα count differs: {t.n_atoms} vs reference {ref.n_atoms}")
    t = t.superpose(ref)
    return np.asarray(t.xyz, dtype=np.float64) * 10.0


def superpose_ca(ca: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Superpose every frame of ``ca`` ``[T, N, 3]`` (Å) on ``target`` ``[N, 3]`` with mdtraj."""
    top = _ca_topology(ca.shape[1])
    t = md.Trajectory(np.asarray(ca, np.float32) / 10.0, top)
    r = md.Trajectory(np.asarray(target, np.float32)[None] / 10.0, top)
    return np.asarray(t.superpose(r).xyz, np.float64) * 10.0


def _ca_topology(n: int) -> md.Topology:
    top = md.Topology()
    chain = top.add_chain()
    for i in range(n):
        res = top.add_residue("ALA", chain, resSeq=i + 1)
        top.add_atom("CA", md.element.carbon, res)
    return top


@dataclass
class PCA:
    """Principal components of flattened Cα coordinates (Å).

    mean: ``[3N]``; components: ``[k, 3N]`` (rows orthonormal, by decreasing variance);
    variance: ``[k]`` in Å².
    """

    mean: np.ndarray
    components: np.ndarray
    variance: np.ndarray

    def transform(self, ca: np.ndarray) -> np.ndarray:
        """``[T, N, 3]`` or ``[T, 3N]`` Å → projections ``[T, k]`` (Å)."""
        x = np.asarray(ca, np.float64).reshape(len(ca), -1)
        return (x - self.mean) @ self.components.T


def fit_pca(ca_reference: np.ndarray) -> PCA:
    """PCA fitted on the reference's superposed Cα coordinates ``[T, N, 3]`` (Å)."""
    x = np.asarray(ca_reference, np.float64).reshape(len(ca_reference), -1)
    if len(x) < 3:
        raise StarMDError(f"PCA needs at least 3 reference frames, got {len(x)}")
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    return PCA(mean, vt, s**2 / (len(x) - 1))


# ---------------------------------------------------------------------------- distribution


def histogram_2d(points: np.ndarray, edges_x: np.ndarray, edges_y: np.ndarray) -> tuple[np.ndarray, int]:
    """Counts ``[bx, by]`` of ``points[:, :2]`` in the given bins, and the number outside them."""
    p = np.asarray(points, np.float64)[:, :2]
    h, _, _ = np.histogram2d(p[:, 0], p[:, 1], bins=[edges_x, edges_y])
    return h, int(len(p) - h.sum())


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """JSD (natural log, in [0, ln 2]) of two non-negative count/probability vectors."""
    p = np.asarray(p, np.float64).ravel()
    q = np.asarray(q, np.float64).ravel()
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)
    kl = lambda a: float(np.sum(a[a > 0] * np.log(a[a > 0] / m[a > 0])))  # noqa: E731
    return max(0.0, 0.5 * kl(p) + 0.5 * kl(q))


def distribution_metrics(ref_proj: np.ndarray, gen_proj: np.ndarray, bins: int = 10) -> dict:
    """JSD and recall on PC1–PC2.

    ref_proj, gen_proj: ``[T, ≥2]`` projections (Å) on the reference PCA. Bins: ``bins`` per axis
    spanning the reference's min–max on each axis, plus one "outside" bin for generated frames
    beyond that range. Returns ``{"jsd", "recall", "outside_fraction", "edges_pc1", "edges_pc2"}``.
    """
    r = np.asarray(ref_proj, np.float64)
    g = np.asarray(gen_proj, np.float64)
    if r.ndim != 2 or r.shape[1] < 2 or g.ndim != 2 or g.shape[1] < 2:
        raise StarMDError("JSD needs projections on at least 2 PCs")
    if len(g) == 0:
        raise StarMDError("JSD: generated trajectory has no frames")
    ex = np.linspace(r[:, 0].min(), r[:, 0].max(), bins + 1)
    ey = np.linspace(r[:, 1].min(), r[:, 1].max(), bins + 1)
    hr, _ = histogram_2d(r, ex, ey)
    hg, out = histogram_2d(g, ex, ey)
    jsd = jensen_shannon(np.append(hr.ravel(), 0.0), np.append(hg.ravel(), out))
    occupied = hr > 0
    recall = float((hg[occupied] > 0).sum() / occupied.sum())
    return {"jsd": jsd, "recall": recall, "outside_fraction": out / len(g), "bins": bins,
            "edges_pc1": _list(ex), "edges_pc2": _list(ey)}


# ---------------------------------------------------------------------------- RMSD / RMSF


def paired_rmsd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """RMSD (Å) after optimal superposition of each frame pair ``a[i]``, ``b[i]`` (``[P, N, 3]``).

    Batched Kabsch (SVD of the 3×3 covariance, reflection-corrected); agrees with mdtraj.rmsd.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    h = np.einsum("pni,pnj->pij", a, b)
    s = np.linalg.svd(h, compute_uv=False)
    d = np.sign(np.linalg.det(h))
    s[:, 2] *= np.where(d == 0, 1.0, d)
    n = a.shape[1]
    msd = ((a**2).sum((1, 2)) + (b**2).sum((1, 2)) - 2.0 * s.sum(1)) / n
    return np.sqrt(np.clip(msd, 0.0, None))


def rmsd_vs_lag(ca: np.ndarray, lags_frames) -> np.ndarray:
    """Mean Cα RMSD (Å) between frames ``lag`` apart, for each lag (frames); NaN if lag ≥ T."""
    ca = np.asarray(ca, np.float64)
    out = []
    for lag in lags_frames:
        lag = int(lag)
        out.append(paired_rmsd(ca[:-lag], ca[lag:]).mean() if 0 < lag < len(ca) else np.nan)
    return np.asarray(out)


def default_lags_ns(dt_ref_ns: float, dt_gen_ns: float, n_ref: int, n_gen: int,
                    max_lag_ns: float | None = None, n_lags: int = 16) -> list[float]:
    """Log-spaced lags (ns): multiples of the coarser time step, up to half the shorter trajectory."""
    base = max(dt_ref_ns, dt_gen_ns)
    longest = min(n_ref * dt_ref_ns, n_gen * dt_gen_ns) / 2.0
    if max_lag_ns is not None:
        longest = min(longest, max_lag_ns)
    top = max(1, int(longest / base + 1e-9))
    return [float(k * base) for k in np.unique(np.round(np.geomspace(1, top, n_lags)).astype(int))]


def rmsd_lag_deviation(ref_ca: np.ndarray, gen_ca: np.ndarray, dt_ref_ns: float, dt_gen_ns: float,
                       lags_ns=None, max_lag_ns: float | None = None) -> dict:
    """RMSD-vs-lag curves of both trajectories (Å) and their mean absolute difference (Å)."""
    if lags_ns is None:
        lags_ns = default_lags_ns(dt_ref_ns, dt_gen_ns, len(ref_ca), len(gen_ca), max_lag_ns)
    r = rmsd_vs_lag(ref_ca, [lag_to_frames(lag, dt_ref_ns, "reference") for lag in lags_ns])
    g = rmsd_vs_lag(gen_ca, [lag_to_frames(lag, dt_gen_ns, "generated") for lag in lags_ns])
    ok = np.isfinite(r) & np.isfinite(g)
    return {"lags_ns": _list(lags_ns), "reference": _list(r), "generated": _list(g),
            "deviation": _f(np.abs(r[ok] - g[ok]).mean()) if ok.any() else None}


def rmsf(ca: np.ndarray) -> np.ndarray:
    """Per-residue Cα RMSF (Å) ``[N]`` around the trajectory's mean, coordinates as given (``[T, N, 3]``)."""
    ca = np.asarray(ca, np.float64)
    return np.sqrt(((ca - ca.mean(0)) ** 2).sum(-1).mean(0))


def rmsf_correlation(ref_ca: np.ndarray, gen_ca: np.ndarray) -> dict:
    """RMSF per residue of both (Å, superposed on the reference's first frame) and their Pearson r."""
    r, g = rmsf(ref_ca), rmsf(gen_ca)
    return {"reference": _list(r), "generated": _list(g), "pearson": _pearson(r, g)}


def pairwise_rmsd(ca: np.ndarray, max_frames: int = 500) -> np.ndarray:
    """All pairwise Cα RMSDs (Å, mdtraj, optimal superposition) of up to ``max_frames`` evenly strided frames."""
    ca = np.asarray(ca, np.float64)
    stride = max(1, int(math.ceil(len(ca) / max_frames)))
    ca = ca[::stride]
    t = md.Trajectory(np.asarray(ca, np.float32) / 10.0, _ca_topology(ca.shape[1]))
    t.center_coordinates()
    rows = [md.rmsd(t, t, frame=i, precentered=True)[i + 1:] for i in range(len(ca) - 1)]
    return np.concatenate(rows).astype(np.float64) * 10.0 if rows else np.zeros(0)


def pairwise_rmsd_comparison(ref_ca: np.ndarray, gen_ca: np.ndarray, max_frames: int = 500, bins: int = 30) -> dict:
    """Pairwise-RMSD distributions (Å) of both and their 1-Wasserstein distance (Å)."""
    r, g = pairwise_rmsd(ref_ca, max_frames), pairwise_rmsd(gen_ca, max_frames)
    if r.size == 0 or g.size == 0:
        raise StarMDError("pairwise RMSD needs at least 2 frames in each trajectory")
    edges = np.linspace(0.0, max(r.max(), g.max(), 1e-6), bins + 1)
    summary = lambda x: {"mean": _f(x.mean()), "median": _f(np.median(x)),  # noqa: E731
                         "histogram": [int(c) for c in np.histogram(x, edges)[0]]}
    return {"edges": _list(edges), "reference": summary(r), "generated": summary(g),
            "wasserstein": _f(wasserstein_distance(r, g))}


# ---------------------------------------------------------------------------- autocorrelation


def autocorrelation(x: np.ndarray, lags_frames) -> np.ndarray:
    """Normalised autocorrelation ``[L, k]`` of each column of ``x`` ``[T, k]`` at each lag (frames).

    Around the series' own mean and variance; a constant column gives 1; a lag ≥ T gives NaN.
    """
    x = np.asarray(x, np.float64)
    xc = x - x.mean(0)
    var = (xc**2).mean(0)
    const = var < 1e-12 * max(1.0, float(np.abs(x).max(initial=0.0)) ** 2)
    out = np.full((len(lags_frames), x.shape[1]), np.nan)
    for i, lag in enumerate(lags_frames):
        lag = int(lag)
        if lag >= len(x):
            continue
        c = (xc[: len(x) - lag] * xc[lag:]).mean(0) if lag > 0 else var
        out[i] = np.where(const, 1.0, c / np.where(const, 1.0, var))
    return out


def autocorrelation_deviation(ref_proj: np.ndarray, gen_proj: np.ndarray, dt_ref_ns: float, dt_gen_ns: float,
                              n_pcs: int = 32, lags_ns=None, max_lag_ns: float | None = None) -> dict:
    """Autocorrelation of the first ``n_pcs`` reference PCs (``[T, ≥n_pcs]`` projections) and its deviation.

    Returns lags (ns), curves averaged over PCs, the PC1 curves, the PCs used, and the mean absolute
    difference over lags and PCs.
    """
    k = min(n_pcs, ref_proj.shape[1], gen_proj.shape[1])
    if lags_ns is None:
        lags_ns = default_lags_ns(dt_ref_ns, dt_gen_ns, len(ref_proj), len(gen_proj), max_lag_ns)
    r = autocorrelation(ref_proj[:, :k], [lag_to_frames(x, dt_ref_ns, "reference") for x in lags_ns])
    g = autocorrelation(gen_proj[:, :k], [lag_to_frames(x, dt_gen_ns, "generated") for x in lags_ns])
    ok = np.isfinite(r) & np.isfinite(g)
    return {"lags_ns": _list(lags_ns), "n_pcs": k,
            "reference_mean": _list(np.nanmean(r, 1)), "generated_mean": _list(np.nanmean(g, 1)),
            "reference_pc1": _list(r[:, 0]), "generated_pc1": _list(g[:, 0]),
            "deviation": _f(np.abs(r - g)[ok].mean()) if ok.any() else None}


# ---------------------------------------------------------------------------- tICA / VAMP / MSM


def _valid_pairs(n: int, lag: int, valid: np.ndarray | None) -> np.ndarray:
    if lag >= n:
        return np.zeros(0, dtype=int)
    t = np.arange(n - lag)
    if valid is None:
        return t
    valid = np.asarray(valid, bool)
    return t[valid[t] & valid[t + lag]]


def fit_tica(features: np.ndarray, lag_frames: int, dim: int | None = None):
    """deeptime TICA (kinetic-map scaling) fitted on ``features`` ``[T, d]`` at ``lag_frames``; the model."""
    from deeptime.decomposition import TICA

    return TICA(lagtime=int(lag_frames), dim=dim).fit(np.asarray(features, np.float64)).fetch_model()


def tica_correlation(ref_feat: np.ndarray, gen_feat: np.ndarray, lag_ns: float, dt_ref_ns: float,
                     dt_gen_ns: float, min_pairs: int = 30, ref_valid=None, gen_valid=None) -> dict:
    """tICA fitted on the reference (features ``[T, d]``, lag in ns); lag-correlation of tIC1.

    A frame pair (t, t+lag) is valid when both frames are valid (``*_valid``: ``[T]`` bool, default
    all valid). Raises StarMDError when either trajectory has fewer than ``min_pairs`` valid pairs.
    Returns the generated value (``"correlation"``), the reference value, their absolute difference,
    the reference tICA's leading eigenvalues and implied timescales (ns).
    """
    lr = lag_to_frames(lag_ns, dt_ref_ns, "reference")
    lg = lag_to_frames(lag_ns, dt_gen_ns, "generated")
    pr = _valid_pairs(len(ref_feat), lr, ref_valid)
    pg = _valid_pairs(len(gen_feat), lg, gen_valid)
    for name, p in (("reference", pr), ("generated", pg)):
        if len(p) < min_pairs:
            raise StarMDError(f"tICA: the {name} trajectory has {len(p)} valid frame pairs at lag {lag_ns:g} ns; "
                              f"needs at least {min_pairs} (longer trajectory or shorter lag)")
    model = fit_tica(ref_feat, lr)
    tr = model.transform(np.asarray(ref_feat, np.float64))[:, 0]
    tg = model.transform(np.asarray(gen_feat, np.float64))[:, 0]
    cr = _pearson(tr[pr], tr[pr + lr])
    cg = _pearson(tg[pg], tg[pg + lg])
    n = min(5, len(model.singular_values))
    return {"lag_ns": float(lag_ns), "correlation": cg, "reference": cr,
            "abs_diff": _f(abs(cg - cr)) if cg is not None and cr is not None else None,
            "n_pairs_reference": int(len(pr)), "n_pairs_generated": int(len(pg)),
            "eigenvalues": _list(model.singular_values[:n]),
            "timescales_ns": _list(model.timescales(k=n) * dt_ref_ns)}


def tica_projections(ref_feat: np.ndarray, others: list[np.ndarray], lag_frames: int, dim: int = 2) -> list[np.ndarray]:
    """Reference tICA projections ``[T, dim]`` of the reference and of each array in ``others``."""
    model = fit_tica(ref_feat, lag_frames)
    dim = min(dim, model.singular_values.shape[0])
    return [model.transform(np.asarray(x, np.float64))[:, :dim] for x in [ref_feat, *others]]


def vamp2_score(features: np.ndarray, lag_frames: int) -> float | None:
    """deeptime VAMP-2 score (≥ 1: the constant function included) of ``features`` ``[T, d]`` at a lag."""
    from deeptime.decomposition import VAMP

    x = np.asarray(features, np.float64)
    if len(x) <= lag_frames + 1 or np.all(x.std(0) < 1e-9):
        return None
    try:
        return _f(VAMP(lagtime=int(lag_frames)).fit(x).fetch_model().score(2))
    except (ValueError, np.linalg.LinAlgError):
        return None


def vamp2_deviation(ref_feat: np.ndarray, gen_feat: np.ndarray, lag_ns: float, dt_ref_ns: float, dt_gen_ns: float) -> dict:
    """VAMP-2 scores of both (own features at the lag in ns) and |gen − ref| / ref."""
    sr = vamp2_score(ref_feat, lag_to_frames(lag_ns, dt_ref_ns, "reference"))
    sg = vamp2_score(gen_feat, lag_to_frames(lag_ns, dt_gen_ns, "generated"))
    dev = abs(sg - sr) / sr if sr is not None and sg is not None else None
    return {"lag_ns": float(lag_ns), "reference": sr, "generated": sg, "deviation": _f(dev)}


def _msm_timescales(dtraj: np.ndarray, lag: int, k: int) -> list[float]:
    from deeptime.markov import TransitionCountEstimator
    from deeptime.markov.msm import MaximumLikelihoodMSM

    if len(dtraj) <= lag:
        return []
    counts = TransitionCountEstimator(lagtime=lag, count_mode="sliding").fit(dtraj).fetch_model().submodel_largest()
    if counts.n_states < 2:
        return []
    msm = MaximumLikelihoodMSM(reversible=True).fit(counts).fetch_model()
    return [float(x) for x in msm.timescales(k=min(k, msm.n_states - 1))]


def msm_implied_timescales(ref_feat: np.ndarray, gen_feat: np.ndarray, tica_lag_ns: float, lags_ns,
                           dt_ref_ns: float, dt_gen_ns: float, n_clusters: int = 20, n_timescales: int = 3,
                           tica_dim: int = 4, seed: int = 0) -> dict:
    """MSM implied timescales (ns) of both at each lag (ns): k-means on the reference's tICA space.

    The generated frames are projected with the reference's tICA and assigned to the reference's
    cluster centres. Returns per-lag lists of the ``n_timescales`` slowest timescales of each, and
    the deviation mean |ln(t_gen / t_ref)| over the timescales both define (None if none).
    """
    from deeptime.clustering import KMeans

    pr, pg = tica_projections(ref_feat, [gen_feat], lag_to_frames(tica_lag_ns, dt_ref_ns, "reference"), dim=tica_dim)
    n_clusters = min(n_clusters, len(pr))
    km = KMeans(n_clusters=n_clusters, fixed_seed=int(seed), max_iter=200, n_jobs=1).fit(pr).fetch_model()
    dr, dg = km.transform(pr).astype(np.int32), km.transform(pg).astype(np.int32)
    ref_its, gen_its, logs = [], [], []
    for lag in lags_ns:
        lr, lg = lag_to_frames(lag, dt_ref_ns, "reference"), lag_to_frames(lag, dt_gen_ns, "generated")
        r = [t * dt_ref_ns for t in _msm_timescales(dr, lr, n_timescales)]
        g = [t * dt_gen_ns for t in _msm_timescales(dg, lg, n_timescales)]
        ref_its.append(_list(r))
        gen_its.append(_list(g))
        logs += [abs(math.log(b / a)) for a, b in zip(r, g, strict=False) if a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)]
    return {"lags_ns": _list(lags_ns), "n_clusters": int(n_clusters), "reference": ref_its, "generated": gen_its,
            "deviation": _f(np.mean(logs)) if logs else None}


__all__ = [
    "PCA", "fit_pca", "ca_coordinates", "superpose_ca", "lag_to_frames", "trajectory_dt_ns", "default_lags_ns",
    "histogram_2d", "jensen_shannon", "distribution_metrics", "paired_rmsd", "rmsd_vs_lag", "rmsd_lag_deviation",
    "rmsf", "rmsf_correlation", "pairwise_rmsd", "pairwise_rmsd_comparison", "autocorrelation",
    "autocorrelation_deviation", "fit_tica", "tica_correlation", "tica_projections", "vamp2_score",
    "vamp2_deviation", "msm_implied_timescales",
]
