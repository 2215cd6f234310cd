"""SE(3) diffusion of residue frames: a VP SDE on translations and IGSO(3) on rotations.

Units and shapes
----------------
Public inputs and outputs are :class:`~starmd.core.rigid.Rigid` frames of batch shape ``[*, N]``
(``*`` = any batch dims, N = residues) with translations in Å. Inside, translations are multiplied
by ``spec.coordinate_scale`` (0.1: Å → nm) before diffusion; translation scores are therefore in
1/nm. Diffusion time ``t`` is dimensionless in [0, 1]. Per-sample times: ``t`` has a shape that is
a *prefix* of the frames' batch shape ``[*]`` (e.g. ``[B]`` or ``[B, F]`` for frames
``[B, F, N]``; a scalar also works) and is broadcast over the remaining dims.

Translations (VP SDE, FrameDiff-style)
--------------------------------------
β(t) = β_min + t(β_max − β_min), B(t) = ∫₀ᵗ β = β_min t + ½(β_max − β_min)t²,
x_t = α(t)·x_0 + √(1 − α(t)²)·z with α(t) = e^{−B(t)/2}; conditional score −(x_t − α x_0)/(1 − α²).

**Centring.** The centre of mass c (mean Cα over the residues in ``mask``) is not diffused: the
process acts on centred coordinates x − c, the Gaussian noise is projected to zero mean over the
masked residues, and every output keeps the centre of its input (``forward_marginal`` and
``perturb_context``: the clean frames' centre; ``reverse_step``: the noisy frames' centre;
``score`` centres the noisy and the predicted frames each on their own centre). Centring commutes
with rotations and removes translations, so the process is SE(3)-equivariant. Noise is drawn in
each residue's local frame and rotated into the global frame (the same law, since the Gaussian is
isotropic), so with a fixed generator the forward process and the reverse step are *exactly*
equivariant to a global rotation of their inputs, not only in distribution.

Rotations (IGSO(3), see :mod:`starmd.core.so3`)
------------------------------------------------
σ(t) = exp((1−t)·log σ_min + t·log σ_max) (σ_min = 0.1 at t = 0, σ_max = 1.5 at t = 1). The forward
marginal at t is R_t = R_0·exp(ξ̂), ξ ~ IGSO(3)(σ(t)) (the FrameDiff convention: t = 0 already
carries σ_min). The rotation SDE has no drift and g(t)² = dσ²/dt. Rotation scores are tangent
vectors in the *body frame* of R_t (R_t·exp(ε ŝ)), hence invariant under a global rotation, and
translation scores rotate with it.

Score scalings (for the losses): ``rot_score_scaling`` = √(E|s_rot|²/3) under IGSO(3)(σ(t)) and
``trans_score_scaling`` = 1/√(1 − α²), both the per-dimension RMS of the true conditional score,
so (pred − target)/scaling is O(1) at every t.

Context noise
-------------
:meth:`SE3Diffuser.perturb_context` applies the forward SDE's *transition from time 0 to τ*:
translations exactly the VP marginal at τ, rotations IGSO(3) with σ = √(σ(τ)² − σ(0)²). So τ = 0
leaves frames unchanged and τ is in units of diffusion time t (training τ ~ U[0, 0.1]).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from starmd.core import so3
from starmd.core.rigid import Rigid
from starmd.core.specs import ContextNoiseSpec, DiffusionSpec

Tensor = torch.Tensor


@dataclass
class ScoreTargets:
    """Targets of the score losses for frames of batch shape ``[*, N]``.

    rot_score: [*, N, 3] body-frame rotation score (1/rad); trans_score: [*, N, 3] translation score
    (1/nm, centred coordinates); rot_score_scaling, trans_score_scaling: [*] per-dimension RMS of
    the true scores at each sample's t. Residues outside the mask have zero scores.
    """

    rot_score: Tensor
    trans_score: Tensor
    rot_score_scaling: Tensor
    trans_score_scaling: Tensor


# ============================================================================ helpers
def _lead(x: Tensor, shape: Sequence[int]) -> Tensor:
    """Broadcast ``x`` (shape a prefix of ``shape``, or scalar) to ``shape`` by appending dims."""
    while x.dim() < len(shape):
        x = x.unsqueeze(-1)
    return x.expand(*shape)


def _mask_of(mask: Tensor | None, shape: Sequence[int], like: Tensor) -> Tensor:
    """Float mask [*, N] (1 = diffused residue)."""
    if mask is None:
        return torch.ones(shape, dtype=like.dtype, device=like.device)
    return mask.to(dtype=like.dtype, device=like.device).expand(*shape)


def centre_of_mass(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` [*, N, 3] over residues with ``mask`` [*, N] → [*, 1, 3]."""
    m = mask.unsqueeze(-1)
    return (x * m).sum(-2, keepdim=True) / m.sum(-2, keepdim=True).clamp_min(1.0)


def _project(z: Tensor, mask: Tensor) -> Tensor:
    """Zero-mean (over masked residues) noise, zero outside the mask; z [*, N, 3]."""
    m = mask.unsqueeze(-1)
    return (z - centre_of_mass(z, mask)) * m


def _randn(shape: Sequence[int], like: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(*shape, dtype=like.dtype, device=like.device, generator=generator)


# ============================================================================ the diffuser
class SE3Diffuser:
    """Forward noising, scores, reverse steps and sampling of residue frames (see module doc)."""

    def __init__(self, spec: DiffusionSpec | None = None) -> None:
        self.spec = spec or DiffusionSpec()
        self._igso3: so3.IGSO3 | None = None

    @property
    def igso3(self) -> so3.IGSO3:
        """The cached IGSO(3) tables (built or loaded on first use)."""
        if self._igso3 is None:
            self._igso3 = so3.IGSO3.from_spec(self.spec)
        return self._igso3

    # ------------------------------------------------------------------ schedules (t [*] → [*])
    def sigma(self, t: Tensor) -> Tensor:
        """IGSO(3) σ(t) (log schedule)."""
        return so3.sigma_schedule(t, self.spec.sigma_min, self.spec.sigma_max)

    def rot_g2(self, t: Tensor) -> Tensor:
        """Squared rotation diffusion coefficient g(t)² = dσ²/dt."""
        return so3.sigma_sq_rate(t, self.spec.sigma_min, self.spec.sigma_max)

    def beta(self, t: Tensor) -> Tensor:
        """VP β(t) = β_min + t(β_max − β_min)."""
        return self.spec.beta_min + t * (self.spec.beta_max - self.spec.beta_min)

    def integrated_beta(self, t: Tensor) -> Tensor:
        """B(t) = ∫₀ᵗ β(s) ds."""
        return self.spec.beta_min * t + 0.5 * (self.spec.beta_max - self.spec.beta_min) * t * t

    def alpha(self, t: Tensor) -> Tensor:
        """Signal scale α(t) = exp(−B(t)/2) of the VP marginal."""
        return torch.exp(-0.5 * self.integrated_beta(t))

    def trans_std(self, t: Tensor) -> Tensor:
        """Noise std √(1 − α(t)²) of the VP marginal (nm)."""
        return torch.sqrt(-torch.expm1(-self.integrated_beta(t)))

    # ------------------------------------------------------------------ sampling t and the prior
    def sample_t(self, batch_shape: Sequence[int] | int, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float32, device=None) -> Tensor:
        """Per-sample diffusion times t ~ U[min_t, 1] of shape ``batch_shape``."""
        shape = (batch_shape,) if isinstance(batch_shape, int) else tuple(batch_shape)
        u = torch.rand(shape, dtype=dtype, device=device, generator=generator)
        return self.spec.min_t + (1.0 - self.spec.min_t) * u

    def sample_prior(self, shape: Sequence[int], mask: Tensor | None = None, generator: torch.Generator | None = None,
                     dtype: torch.dtype = torch.float32, device=None) -> Rigid:
        """Frames [*shape] (last dim N) from the prior: Haar-uniform rotations, translations N(0, I) nm
        projected to zero mean over masked residues, returned in Å (centre at the origin). Residues
        outside ``mask`` [*shape] get identity frames."""
        shape = tuple(shape)
        ref = torch.empty(0, dtype=dtype, device=device)
        q = _randn((*shape, 4), ref, generator)
        q = q / torch.linalg.norm(q, dim=-1, keepdim=True).clamp_min(1e-12)
        rots = Rigid.from_quaternion(q, normalize=False).rots
        m = _mask_of(mask, shape, ref)
        trans = _project(_randn((*shape, 3), ref, generator), m) / self.spec.coordinate_scale
        eye = torch.eye(3, dtype=dtype, device=device)
        rots = torch.where(m[..., None, None] > 0, rots, eye)
        return Rigid(rots, trans)

    # ------------------------------------------------------------------ forward process
    def _noise(self, rigids: Rigid, alpha: Tensor, std: Tensor, sigma_rot: Tensor, m: Tensor, generator):
        """Shared forward noising of frames [*, N] (Å) with VP scale α and std [*] and IGSO(3) σ [*, N].

        Returns the noised frames (Å), the rotation noise ξ [*, N, 3] (body frame, rad) and the
        translation noise z [*, N, 3] (global frame, zero mean over the mask, unit variance).
        """
        shape = rigids.shape
        x0 = rigids.trans * self.spec.coordinate_scale
        c = centre_of_mass(x0, m)
        alpha = alpha[..., None, None]
        std = std[..., None, None]
        z_local = _randn((*shape, 3), x0, generator)
        z = _project(rigids.apply_rotation(z_local), m)
        xt = alpha * (x0 - c) + std * z + c
        xi = self.igso3.sample_rotvec(sigma_rot, generator, dtype=x0.dtype).to(x0.device) * m.unsqueeze(-1)
        rots = rigids.rots @ so3.exp_map(xi)
        keep = m.unsqueeze(-1) > 0
        trans = torch.where(keep, xt / self.spec.coordinate_scale, rigids.trans)
        rots = torch.where(keep.unsqueeze(-1), rots, rigids.rots)
        return Rigid(rots, trans), xi, z

    def forward_marginal(self, rigids: Rigid, t: Tensor, mask: Tensor | None = None,
                         generator: torch.Generator | None = None) -> tuple[Rigid, ScoreTargets]:
        """Noise clean frames to time t: x_t ~ p_t(· | x_0).

        rigids: clean frames [*, N] (Å); t: [*'] prefix of ``*`` (or scalar); mask: [*, N] (1 =
        diffused; others returned unchanged with zero scores). Returns the noised frames [*, N] (Å,
        centre of mass of the clean frames kept) and :class:`ScoreTargets`.
        """
        shape = rigids.shape
        t = _lead(torch.as_tensor(t, dtype=rigids.dtype, device=rigids.device), shape[:-1])
        m = _mask_of(mask, shape, rigids.trans)
        alpha, std = self.alpha(t), self.trans_std(t)
        sigma = self.sigma(t)
        noisy, xi, z = self._noise(rigids, alpha, std, sigma.unsqueeze(-1).expand(shape), m, generator)
        rot_score = so3.score(xi, sigma[..., None]) * m.unsqueeze(-1)
        trans_score = -z / std[..., None, None]
        targets = ScoreTargets(rot_score=rot_score, trans_score=trans_score,
                               rot_score_scaling=self.igso3.score_scaling(sigma).to(rigids.trans),
                               trans_score_scaling=1.0 / std)
        return noisy, targets

    def perturb_context(self, rigids: Rigid, tau: Tensor, mask: Tensor | None = None,
                        generator: torch.Generator | None = None) -> Rigid:
        """Perturb clean history frames [*, N] (Å) to context-noise level τ ([*'] prefix of ``*``).

        Applies the forward SDE's transition from 0 to τ (module doc): τ = 0 returns the frames
        unchanged, larger τ noises translations like ``forward_marginal`` at t = τ and rotations with
        IGSO(3) σ = √(σ(τ)² − σ(0)²). Centre of mass is kept. Returns frames [*, N] (Å).
        """
        shape = rigids.shape
        tau = _lead(torch.as_tensor(tau, dtype=rigids.dtype, device=rigids.device), shape[:-1])
        m = _mask_of(mask, shape, rigids.trans)
        sig_rot = torch.sqrt((self.sigma(tau) ** 2 - self.spec.sigma_min**2).clamp_min(0.0))
        noisy, _, _ = self._noise(rigids, self.alpha(tau), self.trans_std(tau), sig_rot.unsqueeze(-1).expand(shape), m, generator)
        return noisy

    # ------------------------------------------------------------------ scores
    def score(self, noisy: Rigid, predicted_clean: Rigid, t: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Scores of p_t(x_t | x_0 = predicted_clean) at x_t = noisy (the model predicts x_0).

        noisy, predicted_clean: frames [*, N] (Å); t: [*'] prefix of ``*``; mask: [*, N].
        Returns (rot_score [*, N, 3] body frame of the noisy rotation, 1/rad; trans_score [*, N, 3]
        in 1/nm). Differentiable with respect to ``predicted_clean`` (analytic IGSO(3) score).
        """
        shape = noisy.shape
        t = _lead(torch.as_tensor(t, dtype=noisy.dtype, device=noisy.device), shape[:-1])
        m = _mask_of(mask, shape, noisy.trans)
        s = self.spec.coordinate_scale
        xt = noisy.trans * s
        x0 = predicted_clean.trans * s
        xt_c = xt - centre_of_mass(xt, m)
        x0_c = x0 - centre_of_mass(x0, m)
        alpha = self.alpha(t)[..., None, None]
        var = -torch.expm1(-self.integrated_beta(t))[..., None, None]
        trans_score = -(xt_c - alpha * x0_c) / var * m.unsqueeze(-1)
        v = so3.log_map(predicted_clean.rots.transpose(-1, -2) @ noisy.rots)
        rot_score = so3.score(v, self.sigma(t)[..., None]) * m.unsqueeze(-1)
        return rot_score, trans_score

    # ------------------------------------------------------------------ reverse process
    def reverse_step(self, noisy: Rigid, predicted_clean: Rigid, t: Tensor, dt: Tensor | float,
                     noise_scale: float = 1.0, probability_flow: bool = False, mask: Tensor | None = None,
                     generator: torch.Generator | None = None) -> Rigid:
        """One Euler–Maruyama step of the reverse SDE from t to t − dt (dt > 0, scalar or [*']).

        noisy, predicted_clean: frames [*, N] (Å); t: [*'] prefix of ``*``. ``noise_scale`` scales the
        injected noise (1: the exact reverse SDE); ``probability_flow`` takes a step of the
        deterministic probability-flow ODE instead (half the score drift, no noise). Residues
        outside ``mask`` are returned unchanged. The centre of mass of ``noisy`` is kept. Returns
        frames [*, N] (Å).
        """
        shape = noisy.shape
        t = _lead(torch.as_tensor(t, dtype=noisy.dtype, device=noisy.device), shape[:-1])
        dt = _lead(torch.as_tensor(dt, dtype=noisy.dtype, device=noisy.device), shape[:-1])
        m = _mask_of(mask, shape, noisy.trans)
        rot_score, trans_score = self.score(noisy, predicted_clean, t, m)
        drift_w = 0.5 if probability_flow else 1.0
        noise_w = 0.0 if probability_flow else float(noise_scale)
        dt3 = dt[..., None, None]
        # rotations: R ← R·exp(g² s dt + g √dt z), in the body frame
        g2 = self.rot_g2(t)[..., None, None]
        xi = drift_w * g2 * rot_score * dt3
        # translations (centred, nm): x ← x + (½β x + β s) dt + √(β dt) z
        s = self.spec.coordinate_scale
        xt = noisy.trans * s
        c = centre_of_mass(xt, m)
        xt_c = xt - c
        beta = self.beta(t)[..., None, None]
        x_new = xt_c + (0.5 * beta * xt_c + drift_w * beta * trans_score) * dt3
        if noise_w > 0:
            xi = xi + noise_w * torch.sqrt(g2 * dt3) * _randn((*shape, 3), xt, generator)
            z = _project(noisy.apply_rotation(_randn((*shape, 3), xt, generator)), m)
            x_new = x_new + noise_w * torch.sqrt(beta * dt3) * z
        keep = m.unsqueeze(-1) > 0
        rots = torch.where(keep.unsqueeze(-1), noisy.rots @ so3.exp_map(xi * m.unsqueeze(-1)), noisy.rots)
        trans = torch.where(keep, (x_new + c) / s, noisy.trans)
        return Rigid(rots, trans)

    # ------------------------------------------------------------------ denoiser preconditioning
    def precondition(self, noisy: Rigid, raw: Rigid, t: Tensor) -> Rigid:
        """Scale a network's proposed move from ``noisy`` to ``raw`` by the noise level at t (EDM-style).

        The relative transform Δ = noisy⁻¹ ∘ raw (local frame) keeps its axis, its rotation angle is
        scaled by c_rot(t) = σ(t)/σ(1) (through the quaternion's vector part) and its translation by
        c_tr(t) = std(t)/std(1); the prediction is noisy ∘ Δ'. At t → 0 the network can move a frame
        only by about the noise there is, so a barely noisy input is barely changed, which keeps the
        low-t predictions sane on sequences the network has not seen. Frames [*, N] (Å); t [*'].
        Equivariant (Δ is invariant under a global motion). Returns frames [*, N] (Å).
        """
        import roma

        shape = noisy.shape
        t = _lead(torch.as_tensor(t, dtype=noisy.dtype, device=noisy.device), shape[:-1])
        one = torch.ones((), dtype=noisy.dtype, device=noisy.device)
        c_rot = (self.sigma(t) / self.sigma(one))[..., None, None]
        c_tr = (self.trans_std(t) / self.trans_std(one))[..., None, None]
        rel = noisy.invert().compose(raw)
        q = roma.rotmat_to_unitquat(rel.rots)  # (x, y, z, w)
        q = torch.where(q[..., 3:] < 0, -q, q)
        q = torch.cat([q[..., :3] * c_rot, q[..., 3:]], dim=-1)
        q = q / torch.linalg.norm(q, dim=-1, keepdim=True).clamp_min(1e-12)
        scaled = Rigid(roma.unitquat_to_rotmat(q), rel.trans * c_tr)
        return noisy.compose(scaled)

    def sample(self, denoiser: Callable[[Rigid, Tensor], Rigid], shape: Sequence[int] | None = None,
               init: Rigid | None = None, n_steps: int | None = None, mask: Tensor | None = None,
               generator: torch.Generator | None = None, noise_scale: float | None = None,
               probability_flow: bool | None = None, return_denoised: bool = True,
               dtype: torch.dtype = torch.float32, device=None) -> Rigid:
        """Run ``denoiser(noisy: Rigid [*, N], t: Tensor [*]) -> predicted clean Rigid [*, N]`` from t = 1 to min_t.

        Starts from ``init`` (frames [*, N], Å, taken as a sample at t = 1) or from the prior of
        ``shape`` ([*, N]); takes ``n_steps`` (default ``spec.num_steps`` = 200) reverse steps on the
        uniform grid t_k = 1 − k(1 − min_t)/n_steps, k = 0 … n_steps, calling the denoiser at each
        t_k, k < n_steps. With ``return_denoised`` (default) the denoiser is called once more at
        min_t and its prediction is returned; otherwise the noisy frames at min_t are returned.
        ``noise_scale``/``probability_flow`` default to the spec. Runs under ``torch.no_grad()``.
        """
        n_steps = self.spec.num_steps if n_steps is None else int(n_steps)
        noise_scale = self.spec.noise_scale if noise_scale is None else noise_scale
        probability_flow = self.spec.probability_flow if probability_flow is None else probability_flow
        with torch.no_grad():
            if init is None:
                if shape is None:
                    raise ValueError("sample: give shape or init")
                x = self.sample_prior(shape, mask=mask, generator=generator, dtype=dtype, device=device)
            else:
                x = init
            batch = x.shape[:-1]
            ts = torch.linspace(1.0, self.spec.min_t, n_steps + 1, dtype=torch.float64)
            for k in range(n_steps):
                t = torch.full(batch, float(ts[k]), dtype=x.dtype, device=x.device)
                pred = denoiser(x, t)
                x = self.reverse_step(x, pred, t, float(ts[k] - ts[k + 1]), noise_scale=noise_scale,
                                      probability_flow=probability_flow, mask=mask, generator=generator)
            if return_denoised:
                return denoiser(x, torch.full(batch, self.spec.min_t, dtype=x.dtype, device=x.device))
            return x


# ============================================================================ context noise
def sample_context_noise(batch_shape: Sequence[int] | int, spec: ContextNoiseSpec | None = None, training: bool = True,
                         generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """Context-noise levels τ of shape ``batch_shape`` (units of diffusion time).

    Training: τ ~ U[0, spec.train_max]; inference: τ = spec.inference; disabled spec: τ = 0.
    """
    spec = spec or ContextNoiseSpec()
    shape = (batch_shape,) if isinstance(batch_shape, int) else tuple(batch_shape)
    if not spec.enabled:
        return torch.zeros(shape, dtype=dtype, device=device)
    if training:
        return spec.train_max * torch.rand(shape, dtype=dtype, device=device, generator=generator)
    return torch.full(shape, spec.inference, dtype=dtype, device=device)


_DEFAULT: SE3Diffuser | None = None


def perturb_context(rigids: Rigid, tau: Tensor, generator: torch.Generator | None = None, mask: Tensor | None = None,
                    spec: DiffusionSpec | None = None) -> Rigid:
    """Module-level :meth:`SE3Diffuser.perturb_context` (default :class:`DiffusionSpec` unless ``spec``)."""
    global _DEFAULT
    if spec is not None:
        return SE3Diffuser(spec).perturb_context(rigids, tau, mask=mask, generator=generator)
    if _DEFAULT is None:
        _DEFAULT = SE3Diffuser()
    return _DEFAULT.perturb_context(rigids, tau, mask=mask, generator=generator)


__all__ = ["SE3Diffuser", "ScoreTargets", "sample_context_noise", "perturb_context", "centre_of_mass"]
