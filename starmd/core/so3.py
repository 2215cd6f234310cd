"""The isotropic Gaussian on SO(3) (IGSO(3)): density, exact sampling, score; exp/log maps.

Conventions (every function in this module follows them)
--------------------------------------------------------
* IGSO(3) with parameter σ is the law of Brownian motion on SO(3) (generator ½Δ, metric in which
  a rotation by ω radians has length ω) run for time σ². For small σ its rotation vector is close
  to N(0, σ² I₃). Its density with respect to the *normalised Haar measure* depends only on the
  rotation angle ω ∈ [0, π]:

      f(ω; σ) = Σ_{l≥0} (2l+1) exp(−l(l+1)σ²/2) sin((l+½)ω) / sin(ω/2)          (character series)

  and the angle itself has density ``p(ω) = f(ω; σ) (1 − cos ω) / π`` on [0, π] (the Haar factor).
* The same function in closed form (Poisson summation of the series, exact):

      f(ω; σ) = √(2π) e^{σ²/8} σ⁻³ · ω/sin(ω/2) · e^{−ω²/(2σ²)} · (1 + R(ω; σ)),

  where R collects the images ω + 2πk, k ≠ 0. R is summed for |k| ≤ 4; the first neglected
  images are smaller than 22·e^{−40π²/σ²} relative to the leading one (< 1e−74 for σ ≤ 1.5, see
  :func:`wrapped_truncation_bound`). This form is used for the log density and the score
  (differentiable, cheap, no cancellation); the character series builds the sampling tables
  and cross-checks it in the tests.
* Character series truncation: the terms l ≥ L are bounded in absolute value (for f, p and the
  CDF alike) by ``Σ_{l≥L} (2l+1)² exp(−l(l+1)σ²/2)`` (:func:`series_truncation_bound`). The
  tables refuse to build when this bound exceeds 1e−10 at their smallest σ.
* Score: the Riemannian gradient of log f at R_t for the distribution centred at R_0, written in
  the *body frame* of R_t, i.e. as the vector ξ with R_t ← R_t·exp(ε ξ̂) increasing log f at rate
  ⟨score, ξ⟩. With v = log(R_0ᵀ R_t) (ω = |v|) it is ``(d log f/dω)(ω) · v/ω``. It is analytic and
  differentiable in v (no table lookup, no stopped gradients).
* σ schedule (logarithmic): σ(t) = exp((1−t)·log σ_min + t·log σ_max), σ_min = 0.1 at t = 0,
  σ_max = 1.5 at t = 1 by default (:func:`sigma_schedule`).

Sampling is exact up to the stated truncation and interpolation: for σ on the cached grid the
angle is drawn by inverting the tabulated CDF (evaluated from the series at the grid points, so
no quadrature error; linear within a grid cell); for σ between grid points the two neighbouring
quantiles are interpolated linearly in log σ; for σ below the grid (context noise) the leading
image is sampled exactly by rejection from the Maxwell law (neglected images < e^{−π²/(2σ²)}).

The tables (CDF and score norms on a σ × ω grid) are computed once per parameter set, in float64,
kept in memory and cached on disk under ``cache_dir`` (argument) or ``$STARMD_CACHE`` or
``~/.cache/starmd``, in a file named by a hash of every parameter, written atomically.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import roma
import torch

from starmd.core.files import publish
from starmd.errors import SpecError

TABLE_VERSION = 1
WRAP_IMAGES = 4  # images k = ±1 … ±WRAP_IMAGES in the closed form
SERIES_TOL = 1e-10  # largest accepted series truncation bound when building tables
SMALL_SIGMA = 0.1  # the table grid starts at min(sigma_min, SMALL_SIGMA); below it: rejection sampling

_TABLES: dict[str, dict[str, torch.Tensor]] = {}  # in-memory cache: key -> tables (CPU, float64)


# ============================================================================ exp / log maps
def exp_map(rotvec: torch.Tensor) -> torch.Tensor:
    """Rotation vectors [*, 3] (axis × angle, rad) → rotation matrices [*, 3, 3] (roma)."""
    return roma.rotvec_to_rotmat(rotvec)


def log_map(rots: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [*, 3, 3] → rotation vectors [*, 3] with angle in [0, π] (roma)."""
    return roma.rotmat_to_rotvec(rots)


# ============================================================================ σ schedule
def sigma_schedule(t: torch.Tensor | float, sigma_min: float = 0.1, sigma_max: float = 1.5) -> torch.Tensor:
    """σ(t) = exp((1−t)·log σ_min + t·log σ_max); t dimensionless, any shape → same shape."""
    t = t if isinstance(t, torch.Tensor) else torch.tensor(t, dtype=torch.float64)
    return torch.exp((1.0 - t) * math.log(sigma_min) + t * math.log(sigma_max))


def sigma_sq_rate(t: torch.Tensor | float, sigma_min: float = 0.1, sigma_max: float = 1.5) -> torch.Tensor:
    """d σ(t)²/dt = 2 σ(t)² log(σ_max/σ_min): the squared diffusion coefficient g(t)² of the rotation SDE."""
    return 2.0 * sigma_schedule(t, sigma_min, sigma_max) ** 2 * math.log(sigma_max / sigma_min)


# ============================================================================ character series
def series_truncation_bound(sigma: float, terms: int) -> float:
    """Upper bound on |Σ_{l≥terms} (2l+1) e^{−l(l+1)σ²/2} χ_l(ω)| for all ω (also bounds p and the CDF)."""
    l = np.arange(terms, terms + 200_000, dtype=np.float64)
    return float(np.sum((2 * l + 1) ** 2 * np.exp(-l * (l + 1) * sigma**2 / 2)))


def _series_coeffs(sigma: torch.Tensor, terms: int) -> torch.Tensor:
    """(2l+1) e^{−l(l+1)σ²/2} for l < terms: σ [S] → [terms, S] (float64)."""
    l = torch.arange(terms, dtype=torch.float64).unsqueeze(-1)
    return (2 * l + 1) * torch.exp(-l * (l + 1) * sigma.to(torch.float64) ** 2 / 2)


def density_series(omega: torch.Tensor, sigma: float, terms: int = 1000) -> torch.Tensor:
    """f(ω; σ) by the character series (density w.r.t. normalised Haar measure); ω [*] → [*], float64."""
    omega = omega.to(torch.float64)
    l = torch.arange(terms, dtype=torch.float64)
    c = _series_coeffs(torch.tensor([float(sigma)], dtype=torch.float64), terms)[:, 0]
    half = torch.sin(omega / 2).unsqueeze(-1)
    small = half.abs() < 1e-12
    chi = torch.where(small, 2 * l + 1, torch.sin((l + 0.5) * omega.unsqueeze(-1)) / torch.where(small, 1.0, half))
    return (chi * c).sum(-1)


def _pdf_basis(omega: torch.Tensor, terms: int) -> torch.Tensor:
    """χ_l(ω)(1−cos ω) = cos(lω) − cos((l+1)ω): ω [K] → [K, terms]."""
    l = torch.arange(terms, dtype=torch.float64)
    w = omega.to(torch.float64).unsqueeze(-1)
    return torch.cos(l * w) - torch.cos((l + 1) * w)


def _cdf_basis(omega: torch.Tensor, terms: int) -> torch.Tensor:
    """∫₀^ω χ_l(u)(1−cos u) du: ω [K] → [K, terms] (l = 0 gives ω − sin ω)."""
    l = torch.arange(1, terms, dtype=torch.float64)
    w = omega.to(torch.float64).unsqueeze(-1)
    rest = torch.sin(l * w) / l - torch.sin((l + 1) * w) / (l + 1)
    return torch.cat([w - torch.sin(w), rest], dim=-1)


def angle_pdf_series(omega: torch.Tensor, sigma: float, terms: int = 1000) -> torch.Tensor:
    """Density of the rotation angle, p(ω) = f(ω)(1−cos ω)/π, by the series; ω [*] in [0, π] → [*]."""
    c = _series_coeffs(torch.tensor([float(sigma)], dtype=torch.float64), terms)[:, 0]
    return (_pdf_basis(omega.reshape(-1), terms) @ c).reshape(omega.shape) / math.pi


def angle_cdf_series(omega: torch.Tensor, sigma: float, terms: int = 1000) -> torch.Tensor:
    """P(angle ≤ ω) by term-wise integration of the series (exact up to truncation); ω [*] → [*]."""
    c = _series_coeffs(torch.tensor([float(sigma)], dtype=torch.float64), terms)[:, 0]
    return (_cdf_basis(omega.reshape(-1), terms) @ c).reshape(omega.shape) / math.pi


# ============================================================================ closed form (log density, score)
def wrapped_truncation_bound(sigma: float, images: int = WRAP_IMAGES) -> float:
    """Bound on the neglected images |k| > ``images`` relative to the leading (k = 0) term, for all ω ∈ (0, π].

    The image k is (ω+2πk)e^{−(ω+2πk)²/(2σ²)}; relative to ω e^{−ω²/(2σ²)} it is largest at ω = π,
    where the pair ±k contributes at most 2(2k+1) e^{−((2k−1)²−1)π²/(2σ²)}.
    """
    ks = range(images + 1, images + 50)
    return float(sum(2 * (2 * k + 1) * math.exp(-((2 * k - 1) ** 2 - 1) * math.pi**2 / (2 * sigma**2)) for k in ks))


def _images(omega: torch.Tensor, sigma: torch.Tensor):
    """R(ω) and R'(ω)/ω of the closed form (the images k ≠ 0), computed without overflow."""
    s2 = sigma * sigma
    R = torch.zeros_like(omega)
    Rp_w = torch.zeros_like(omega)
    for k in range(1, WRAP_IMAGES + 1):
        c = 2 * math.pi * k / s2  # x = c ω
        a = math.pi * k * c  # 2π²k²/σ² ≥ x (ω ≤ π), so e^{x−a} ≤ 1
        x = c * omega
        ep = torch.exp(x - a)
        em = torch.exp(-x - a)
        ea = torch.exp(-a)
        small = x < 1e-2
        xs = torch.where(small, torch.ones_like(x), x)
        x2 = x * x
        # S = e^{−a} sinh(x)/x,  T = e^{−a} (x cosh x − sinh x)/x³
        S = torch.where(small, ea * (1 + x2 / 6 + x2 * x2 / 120), (ep - em) / (2 * xs))
        T = torch.where(small, ea * (1.0 / 3 + x2 / 30 + x2 * x2 / 840), ((ep + em) * xs - (ep - em)) / (2 * xs**3))
        sign = -1.0 if k % 2 else 1.0
        R = R + sign * (ep + em - 4 * math.pi * k * c * S)
        Rp_w = Rp_w + sign * (2 * c * c * S - 4 * math.pi * k * c**3 * T)
    return R, Rp_w


def log_density(omega: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """log f(ω; σ), density w.r.t. normalised Haar measure; ω [*] in [0, π], σ broadcastable → [*].

    Closed form (see module doc), differentiable in ω and σ.
    """
    sigma = torch.as_tensor(sigma, dtype=omega.dtype, device=omega.device)
    omega = omega.clamp(0.0, math.pi)
    R, _ = _images(omega, sigma)
    small = omega < 1e-3
    ws = torch.where(small, torch.ones_like(omega), omega)
    w2 = omega * omega
    log_w_over_sin = torch.where(small, math.log(2.0) + w2 / 24 + w2 * w2 / 2880, torch.log(ws / torch.sin(ws / 2)))
    return (0.5 * math.log(2 * math.pi) + sigma**2 / 8 - 3 * torch.log(sigma)
            + log_w_over_sin - w2 / (2 * sigma**2) + torch.log1p(R))


def density(omega: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """f(ω; σ) (closed form); shapes as :func:`log_density`."""
    return torch.exp(log_density(omega, sigma))


def angle_pdf(omega: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """Density of the rotation angle on [0, π]: f(ω; σ)(1 − cos ω)/π (closed form)."""
    return density(omega, sigma) * (1 - torch.cos(omega)) / math.pi


def dlog_density_over_omega(omega: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """(d log f/dω)/ω, finite at ω = 0 (where it is 1/12 − 1/σ² + …); ω [*], σ broadcastable → [*]."""
    sigma = torch.as_tensor(sigma, dtype=omega.dtype, device=omega.device)
    omega = omega.clamp(0.0, math.pi)
    R, Rp_w = _images(omega, sigma)
    small = omega < 1e-2
    ws = torch.where(small, torch.ones_like(omega), omega)
    w2 = omega * omega
    # h = (1/ω − ½ cot(ω/2))/ω = d/dω log(ω / sin(ω/2)) / ω
    h = torch.where(small, 1.0 / 12 + w2 / 720 + w2 * w2 / 30240, (1 / ws - 0.5 * torch.cos(ws / 2) / torch.sin(ws / 2)) / ws)
    return h - 1 / sigma**2 + Rp_w / (1 + R)


def score(rotvec: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """Score of IGSO(3)(centre R_0, σ) at R_t = R_0·exp(v̂), in the body frame of R_t.

    rotvec: v = log(R_0ᵀ R_t) [*, 3] (rad, |v| ≤ π as :func:`log_map` returns); sigma: broadcastable
    to [*] (not to [*, 3]). Returns [*, 3] (1/rad):
    ``(d log f/dω) · v/ω``. Analytic and differentiable in ``rotvec`` (gradients flow).
    """
    sigma = torch.as_tensor(sigma, dtype=rotvec.dtype, device=rotvec.device)
    # gradient-safe norm (finite derivative at v = 0, where d score/dv = (1/12 − 1/σ²) I)
    omega = torch.sqrt((rotvec * rotvec).sum(-1) + 1e-30)
    if torch.broadcast_shapes(omega.shape, sigma.shape) != omega.shape:
        raise ValueError(f"so3.score: sigma {tuple(sigma.shape)} must broadcast to rotvec's batch shape {tuple(omega.shape)}")
    return dlog_density_over_omega(omega, sigma).unsqueeze(-1) * rotvec


# ============================================================================ cached tables
def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` if given, else ``$STARMD_CACHE``, else ``~/.cache/starmd``."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get("STARMD_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "starmd"


def _build_tables(params: dict) -> dict[str, torch.Tensor]:
    s_lo, s_hi = params["sigma_lo"], params["sigma_hi"]
    S, K, L = params["num_sigma"], params["num_omega"], params["series_terms"]
    bound = series_truncation_bound(s_lo, L)
    if bound > SERIES_TOL:
        raise SpecError(f"diffusion.series_terms: {L} terms leave a truncation error bound {bound:.1e} at σ={s_lo:g} "
                        f"(> {SERIES_TOL:g}); use more terms")
    sigma = torch.exp(torch.linspace(math.log(s_lo), math.log(s_hi), S, dtype=torch.float64))
    omega = torch.linspace(0.0, math.pi, K, dtype=torch.float64)
    coeff = _series_coeffs(sigma, L) / math.pi  # [L, S]
    cdf = (_cdf_basis(omega, L) @ coeff).T.contiguous()  # [S, K]
    pdf = (_pdf_basis(omega, L) @ coeff).T.clamp_min(0.0)  # [S, K]
    end = cdf[:, -1]
    if not torch.allclose(end, torch.ones_like(end), atol=1e-6):
        raise SpecError(f"IGSO(3) tables: CDF at π is {end.min():.6f}…{end.max():.6f}, not 1; check diffusion.sigma_*")
    cdf = torch.cummax((cdf / end.unsqueeze(-1)).clamp(0.0, 1.0), dim=-1).values
    cdf[:, 0] = 0.0
    # per-dimension RMS score norm sqrt(E|s|²/3), E|s|² = ∫ (d log f/dω)² p(ω) dω (trapezoid on the ω grid)
    g = dlog_density_over_omega(omega.unsqueeze(0), sigma.unsqueeze(-1)) * omega  # [S, K]
    second_moment = torch.trapezoid(g * g * pdf, omega, dim=-1) / torch.trapezoid(pdf, omega, dim=-1)
    return {"sigma": sigma, "omega": omega, "cdf": cdf, "score_norm": torch.sqrt(second_moment / 3)}


def load_tables(sigma_lo: float, sigma_hi: float, num_sigma: int, num_omega: int, series_terms: int,
                cache_dir: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """IGSO(3) tables for σ ∈ [sigma_lo, sigma_hi] (log grid) × ω ∈ [0, π] (uniform grid).

    Returns CPU float64 tensors: ``sigma`` [S], ``omega`` [K], ``cdf`` [S, K] (angle CDF, rows
    monotone from 0 to 1), ``score_norm`` [S] (per-dimension RMS of the score, √(E|s|²/3)).
    Looked up in memory, then on disk, else computed and written atomically.
    """
    params = {"version": TABLE_VERSION, "sigma_lo": float(sigma_lo), "sigma_hi": float(sigma_hi),
              "num_sigma": int(num_sigma), "num_omega": int(num_omega), "series_terms": int(series_terms)}
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:20]
    if key in _TABLES:
        return _TABLES[key]
    folder = default_cache_dir(cache_dir)
    path = folder / f"igso3-{key}.pt"
    tables = None
    if path.is_file():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if blob.get("params") == json.dumps(params, sort_keys=True):
                tables = {k: blob[k] for k in ("sigma", "omega", "cdf", "score_norm")}
        except Exception:  # a corrupt or foreign file: rebuild and overwrite it
            tables = None
    if tables is None:
        tables = _build_tables(params)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=folder)
            os.close(fd)
            try:
                torch.save({"params": json.dumps(params, sort_keys=True), **tables}, tmp)
                publish(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as err:
            warnings.warn(f"IGSO(3) table cache {folder} is not writable ({err}); tables kept in memory only", stacklevel=2)
    _TABLES[key] = tables
    return tables


class IGSO3:
    """IGSO(3) sampler and score over a σ range, backed by cached tables (see module doc).

    Parameters: ``sigma_min``/``sigma_max`` of the schedule (σ(0), σ(1)); the table grid covers
    [min(sigma_min, 0.1), sigma_max] with ``num_sigma`` log-spaced σ and ``num_omega`` angles;
    ``series_terms`` terms of the character series; ``cache_dir`` as :func:`default_cache_dir`.
    """

    def __init__(self, sigma_min: float = 0.1, sigma_max: float = 1.5, num_sigma: int = 500, num_omega: int = 1000,
                 series_terms: int = 1000, cache_dir: str | os.PathLike | None = None) -> None:
        if not 0 < sigma_min < sigma_max:
            raise SpecError(f"diffusion: need 0 < sigma_min < sigma_max, got {sigma_min} and {sigma_max}")
        self.sigma_min = float(sigma_min)
        self.sigma_max = float(sigma_max)
        self.sigma_lo = min(self.sigma_min, SMALL_SIGMA)
        t = load_tables(self.sigma_lo, self.sigma_max, num_sigma, num_omega, series_terms, cache_dir)
        self.sigma_grid, self.omega_grid, self.cdf, self.score_norm_grid = t["sigma"], t["omega"], t["cdf"], t["score_norm"]
        S, K = self.cdf.shape
        self._flat = (self.cdf + torch.arange(S, dtype=torch.float64).unsqueeze(-1)).reshape(-1).contiguous()
        self._log_lo = math.log(self.sigma_lo)
        self._dlog = (math.log(self.sigma_max) - self._log_lo) / (S - 1)
        self._dev: dict[torch.device, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    @classmethod
    def from_spec(cls, spec) -> IGSO3:
        """From a :class:`~starmd.core.specs.DiffusionSpec`."""
        return cls(spec.sigma_min, spec.sigma_max, spec.num_sigma, spec.num_omega, spec.series_terms, spec.cache_dir)

    def _tables_on(self, device: torch.device):
        if device not in self._dev:
            self._dev[device] = (self._flat.to(device), self.cdf.reshape(-1).to(device), self.score_norm_grid.to(device))
        return self._dev[device]

    def _grid_pos(self, sigma: torch.Tensor):
        pos = ((torch.log(sigma) - self._log_lo) / self._dlog).clamp(0.0, self.cdf.shape[0] - 1)
        i = pos.floor().clamp(max=self.cdf.shape[0] - 2).long()
        return i, pos - i

    def _invert_row(self, row: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        flat, cdf_flat, _ = self._tables_on(u.device)
        K = self.cdf.shape[1]
        idx = torch.searchsorted(flat, u + row.to(u.dtype))
        idx = torch.minimum(torch.maximum(idx, row * K + 1), row * K + K - 1)
        c_lo, c_hi = cdf_flat[idx - 1], cdf_flat[idx]
        width = c_hi - c_lo
        frac = torch.where(width > 0, (u - c_lo) / torch.where(width > 0, width, torch.ones_like(width)), 0.5).clamp(0, 1)
        h = math.pi / (K - 1)
        return ((idx - 1 - row * K).to(u.dtype) + frac) * h

    def sample_angle(self, sigma: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Rotation angles ω ~ p(ω; σ) for σ [*] (any σ ≥ 0 up to sigma_max) → [*], float64, σ's device."""
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        if sigma.numel() and float(sigma.max()) > self.sigma_max * (1 + 1e-4):
            raise ValueError(f"IGSO(3): σ = {float(sigma.max()):g} exceeds the table's sigma_max {self.sigma_max:g}")
        sigma = sigma.clamp(max=self.sigma_max)  # float32 rounding of σ(1)
        device = sigma.device
        flat_sigma = sigma.reshape(-1)
        u = torch.rand(flat_sigma.shape, dtype=torch.float64, device=device, generator=generator).clamp(1e-12, 1 - 1e-12)
        on_grid = flat_sigma >= self.sigma_lo * (1 - 1e-12)
        omega = torch.zeros_like(flat_sigma)
        if bool(on_grid.any()):
            s, uu = flat_sigma[on_grid], u[on_grid]
            i, w = self._grid_pos(s)
            omega[on_grid] = (1 - w) * self._invert_row(i, uu) + w * self._invert_row(i + 1, uu)
        low = ~on_grid & (flat_sigma > 0)
        if bool(low.any()):
            omega[low] = self._sample_small(flat_sigma[low], generator)
        return omega.reshape(sigma.shape)

    @staticmethod
    def _sample_small(sigma: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Exact rejection sampler of p ∝ ω sin(ω/2) e^{−ω²/2σ²} on [0, π] (the leading image) from Maxwell(σ)."""
        out = torch.empty_like(sigma)
        todo = torch.ones_like(sigma, dtype=torch.bool)
        for _ in range(200):
            n = int(todo.sum())
            if n == 0:
                return out
            s = sigma[todo]
            w = torch.linalg.norm(torch.randn(n, 3, dtype=sigma.dtype, device=sigma.device, generator=generator), dim=-1) * s
            accept_p = torch.where(w <= math.pi, 2 * torch.sin(w / 2) / w.clamp_min(1e-300), torch.zeros_like(w))
            ok = torch.rand(n, dtype=sigma.dtype, device=sigma.device, generator=generator) < accept_p
            idx = todo.nonzero().squeeze(-1)
            out[idx[ok]] = w[ok]
            todo[idx[ok]] = False
        raise RuntimeError("IGSO(3) rejection sampler did not converge")  # pragma: no cover (acceptance ≥ 0.99)

    def sample_rotvec(self, sigma: torch.Tensor, generator: torch.Generator | None = None,
                      dtype: torch.dtype | None = None) -> torch.Tensor:
        """Rotation vectors [*, 3] of IGSO(3)(identity, σ): uniform axis × sampled angle; σ [*]."""
        sigma = torch.as_tensor(sigma)
        omega = self.sample_angle(sigma, generator)
        axis = torch.randn(*omega.shape, 3, dtype=torch.float64, device=omega.device, generator=generator)
        axis = axis / torch.linalg.norm(axis, dim=-1, keepdim=True).clamp_min(1e-12)
        return (axis * omega.unsqueeze(-1)).to(dtype or (sigma.dtype if sigma.is_floating_point() else torch.float64))

    def sample(self, sigma: torch.Tensor, generator: torch.Generator | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Rotation matrices [*, 3, 3] of IGSO(3)(identity, σ); σ [*]."""
        return exp_map(self.sample_rotvec(sigma, generator, dtype))

    def score_scaling(self, sigma: torch.Tensor) -> torch.Tensor:
        """√(E|score|²/3) at σ [*] → [*] (interpolated in log σ; 1/σ, the Gaussian limit, below the grid)."""
        sigma = torch.as_tensor(sigma)
        dtype = sigma.dtype if sigma.is_floating_point() else torch.float64
        s = sigma.to(torch.float64)
        _, _, norm = self._tables_on(s.device)
        i, w = self._grid_pos(s.clamp_min(self.sigma_lo))
        val = torch.exp((1 - w) * torch.log(norm[i]) + w * torch.log(norm[i + 1]))
        return torch.where(s < self.sigma_lo, 1 / s.clamp_min(1e-12), val).to(dtype)

    @staticmethod
    def score(rotvec: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        """Body-frame score at R_0·exp(v̂), see :func:`score`."""
        return score(rotvec, sigma)


__all__ = [
    "IGSO3", "exp_map", "log_map", "sigma_schedule", "sigma_sq_rate", "density", "log_density", "angle_pdf",
    "dlog_density_over_omega", "score", "density_series", "angle_pdf_series", "angle_cdf_series",
    "series_truncation_bound", "wrapped_truncation_bound", "load_tables", "default_cache_dir",
]
