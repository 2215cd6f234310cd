"""StarMD: conditioner → per-frame singles/pairs → blocks [geometry backend, space×time attention,
edge transition, backbone update] → heads (clean frames, 7 torsions).

Units: translations of every :class:`Rigid` in and out are Å; ``dt_ns`` is ns; ``t`` and ``tau``
are dimensionless diffusion times / noise levels in [0, 1].

Residue vocabulary: ``aatype`` long, 0..19 = ``'ARNDCQEGHILKMFPSTWYV'``, 20 = unknown.

Entry points (shapes; B batch, L frames, N residues, C = ``spec.hidden``):

- ``condition(aatype [B,N], residue_index [B,N], mask [B,N], init_rigids Rigid [B,N], chain_index=None,
  precomputed_single=None [B,N,Cs], precomputed_pair=None [B,N,N,Cp]) -> Conditioning``
- ``denoise(cond, noisy Rigid [B,L,N], clean Rigid [B,L,N], t [B]|[B,L], dt_ns [B]|[B,L], tau [B])
  -> ModelOutput`` with ``rigids`` [B,L,N], ``torsions`` [B,L,N,7,2], ``singles`` [B,L,N,C] for the
  noisy copies. One pass over 2L frame copies (clean 0..L−1, then noisy 0..L−1), block causal
  (see :mod:`starmd.core.attention`).
- ``new_cache(batch_size, window=None, sink=1) -> KVCache``;
  ``append_to_cache(cond, clean Rigid [B,N], dt_ns [B], tau [B], cache) -> None`` (one finished
  frame through the trunk; its keys/values are stored; the frame index advances by one);
  ``denoise_next(cond, noisy Rigid [B,N], t [B], dt_ns [B], tau [B], cache) -> ModelOutput`` with
  ``rigids`` [B,N], ``torsions`` [B,N,7,2], ``singles`` [B,N,C] (the frame dimension is dropped)
  for frame ``cache.next_frame``; reads the cache, never modifies it.

Conditioning of tokens (AdaLN, per frame copy): a vector made from sinusoidal embeddings of the
token's diffusion time (``t`` for noisy copies, 0 for clean copies), ``log Δt`` (``dt_ns`` clamped to
≥ 1e-3 ns; ``dt_ns[l]`` is the time between frames l−1 and l, the same for both copies of frame l),
the context-noise level ``τ`` (every token of the sample) and a clean/noisy flag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from starmd.backends.base import BackendDims, apply_backend_output, build_backend
from starmd.core.attention import KVCache, SpaceTimeLayer, TokenLayout, init_linear_small
from starmd.core.rigid import Rigid
from starmd.core.specs import ModelSpec
from starmd.core.torsion_bins import expected_torsions
from starmd.errors import InputError

NUM_AATYPE = 21  # 20 standard + unknown
GLY = 7  # index of 'G' in 'ARNDCQEGHILKMFPSTWYV'
# ideal Cβ position in the backbone frame (x along Cα→C, N in the xy plane), Å
CB_LOCAL = (-0.529, -0.774, -1.205)


@dataclass
class Conditioning:
    """Per-protein conditioning, computed once by :meth:`StarMD.condition`.

    ``single`` [B,N,C], ``pair`` [B,N,N,Cz] (features of the sequence and the initial structure),
    ``mask`` [B,N] float (1 real, 0 padding), ``residue_index`` [B,N] long, ``aatype`` [B,N] long,
    ``chain_index`` [B,N] long or None.
    """

    single: torch.Tensor
    pair: torch.Tensor
    mask: torch.Tensor
    residue_index: torch.Tensor
    aatype: torch.Tensor
    chain_index: torch.Tensor | None = None


@dataclass
class ModelOutput:
    """Predictions for denoised frames.

    ``rigids``: predicted clean frames (Å), ``torsions``: unit (sin, cos) of ω, φ, ψ, χ1–χ4
    [..., 7, 2] (with the categorical head: the circular mean of the distribution), ``singles``:
    final single features [..., C], ``torsions_unnormalized``: the raw regression head output
    [..., 7, 2] (for an angle-norm loss), ``torsion_logits``: the categorical head's logits
    [..., 7, bins] (:mod:`starmd.core.torsion_bins`). Leading shape [B, L, N] from
    ``denoise``, [B, N] from ``denoise_next``.
    """

    rigids: Rigid
    torsions: torch.Tensor
    singles: torch.Tensor
    torsions_unnormalized: torch.Tensor | None = None
    torsion_logits: torch.Tensor | None = None


# ---------------------------------------------------------------------------- geometry features


def pseudo_cb(rigids: Rigid, aatype: torch.Tensor) -> torch.Tensor:
    """Ideal Cβ positions [*, N, 3] (Å) from backbone frames [*, N]; Cα for glycine (``aatype`` [B,N])."""
    cb = rigids.apply(torch.tensor(CB_LOCAL, dtype=rigids.dtype, device=rigids.device))
    gly = (aatype == GLY)
    while gly.dim() < cb.dim() - 1:
        gly = gly.unsqueeze(1)
    return torch.where(gly[..., None], rigids.trans, cb)


def pair_distances(x: torch.Tensor) -> torch.Tensor:
    """Pairwise distances [*, N, N] of points [*, N, 3] (smooth at 0 for gradients)."""
    diff = x[..., :, None, :] - x[..., None, :, :]
    return torch.sqrt((diff * diff).sum(-1) + 1e-8)


def rbf(d: torch.Tensor, num: int, max_distance: float) -> torch.Tensor:
    """Gaussian radial basis [*, num] of distances ``d`` (Å), centres 0..max_distance."""
    centres = torch.linspace(0.0, max_distance, num, dtype=d.dtype, device=d.device)
    width = max_distance / (num - 1)
    return torch.exp(-(((d[..., None] - centres) / width) ** 2))


def neighbour_features(rigids: Rigid, mask: torch.Tensor) -> torch.Tensor:
    """Invariant local geometry [*, N, 8]: Cα of residues i−1 and i+1 in frame i (nm) and their masks."""
    ca = rigids.trans
    prev = torch.cat([ca[..., :1, :], ca[..., :-1, :]], dim=-2)
    nxt = torch.cat([ca[..., 1:, :], ca[..., -1:, :]], dim=-2)
    m = mask.to(ca.dtype)
    while m.dim() < ca.dim() - 1:
        m = m.unsqueeze(1)
    m = m.expand(ca.shape[:-1])
    m_prev = torch.cat([torch.zeros_like(m[..., :1]), m[..., :-1]], dim=-1) * m
    m_next = torch.cat([m[..., 1:], torch.zeros_like(m[..., :1])], dim=-1) * m
    lp = rigids.invert_apply(prev) * 0.1 * m_prev[..., None]
    ln = rigids.invert_apply(nxt) * 0.1 * m_next[..., None]
    return torch.cat([lp, ln, m_prev[..., None], m_next[..., None]], dim=-1)


def sinusoidal(x: torch.Tensor, dim: int, max_freq: float) -> torch.Tensor:
    """Sinusoidal embedding [*, dim] of scalars ``x`` [*] with frequencies 1 … ``max_freq``."""
    half = dim // 2
    freqs = torch.exp(torch.linspace(0.0, math.log(max_freq), half, dtype=x.dtype, device=x.device))
    ang = x[..., None] * freqs
    return torch.cat([ang.sin(), ang.cos()], dim=-1)


# ---------------------------------------------------------------------------- trunk pieces


class TimeConditioner(nn.Module):
    """Per frame copy: (t, log Δt, τ, noisy flag) → conditioning vector [B, F, Dc]."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(3 * dim + 1, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor, dt_ns: torch.Tensor, tau: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
        log_dt = torch.log(dt_ns.clamp_min(1e-3))
        feats = [sinusoidal(t, self.dim, 1000.0), sinusoidal(log_dt, self.dim, 10.0), sinusoidal(tau, self.dim, 100.0),
                 noisy.to(t.dtype)[None, :, None].expand(t.shape[0], -1, 1)]
        return self.mlp(torch.cat(feats, dim=-1))


class EdgeTransition(nn.Module):
    """Per-frame update of z [B,F,N,N,Cz] from z, the singles and the frame's current Cβ distances."""

    def __init__(self, c: int, cz: int, num_rbf: int, max_distance: float) -> None:
        super().__init__()
        self.norm_s = nn.LayerNorm(c)
        self.left = nn.Linear(c, cz)
        self.right = nn.Linear(c, cz)
        self.dist = nn.Linear(num_rbf, cz)
        self.norm_z = nn.LayerNorm(cz)
        self.mlp = nn.Sequential(nn.Linear(cz, 2 * cz), nn.SiLU(), nn.Linear(2 * cz, cz))
        self.num_rbf, self.max_distance = num_rbf, max_distance

    def forward(self, z, s, rigids: Rigid, aatype) -> torch.Tensor:
        sn = self.norm_s(s)
        d = pair_distances(pseudo_cb(rigids, aatype))
        h = self.norm_z(z) + self.left(sn)[..., :, None, :] + self.right(sn)[..., None, :, :]
        h = h + self.dist(rbf(d, self.num_rbf, self.max_distance))
        return z + self.mlp(h)


class BackboneUpdate(nn.Module):
    """Invariant singles → local-frame rigid update (quaternion (1, b, c, d) + translation · trans_scale Å)."""

    def __init__(self, c: int, trans_scale: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(c)
        self.linear = init_linear_small(nn.Linear(c, 6))
        self.trans_scale = trans_scale

    def forward(self, s: torch.Tensor) -> Rigid:
        u = self.linear(self.norm(s))
        quat = torch.cat([torch.ones_like(u[..., :1]), u[..., :3]], dim=-1)
        return Rigid.from_quaternion(quat, u[..., 3:] * self.trans_scale)


class Block(nn.Module):
    """[backend layer per frame, S×T layers, edge transition of z (not in the last block), backbone update]."""

    def __init__(self, spec: ModelSpec, last: bool = False) -> None:
        super().__init__()
        c, cz = spec.hidden, spec.pair_dim
        self.backend = build_backend(spec.backend, BackendDims(c, cz, spec.trans_scale))
        self.layers = nn.ModuleList(SpaceTimeLayer(c, spec.heads, spec.time_embed_dim, spec.attention, spec.dropout)
                                    for _ in range(spec.st_layers_per_block))
        # z is not read after the last block: no edge transition there (no unused parameters, e.g. for DDP)
        self.edge = None if last else EdgeTransition(c, cz, spec.num_rbf, spec.max_distance)
        self.bb_update = BackboneUpdate(c, spec.trans_scale)


# ---------------------------------------------------------------------------- the model


class StarMD(nn.Module):
    """The STAR-MD network for one :class:`ModelSpec` (see the module docstring for the entry points)."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        c, cz, r = spec.hidden, spec.pair_dim, spec.max_relpos
        self.aatype_embed = nn.Embedding(NUM_AATYPE, c)
        self.relpos_embed = nn.Embedding(2 * r + 2, cz)  # offsets −r..r, plus "other chain"
        self.init_dist = nn.Linear(spec.num_rbf, cz)
        if spec.conditioning == "precomputed":
            self.single_proj = nn.Linear(spec.precomputed_single_dim, c)
            self.pair_proj = nn.Linear(spec.precomputed_pair_dim, cz)
        self.cond_norm = nn.LayerNorm(c)
        self.frame_single = nn.Linear(8, c)
        # torsions of a finished (clean) frame: 7 × (sin, cos) + 7 existence flags; zeros for noisy frames
        self.torsion_in = nn.Linear(21, c) if spec.history_torsions else None
        self.frame_pair = nn.Linear(spec.num_rbf, cz)
        self.time = TimeConditioner(spec.time_embed_dim)
        self.blocks = nn.ModuleList(Block(spec, last=i == spec.blocks - 1) for i in range(spec.blocks))
        self.torsion_head = nn.Sequential(nn.LayerNorm(c), nn.Linear(c, c), nn.SiLU(),
                                         nn.Linear(c, 7 * self._torsion_outputs(spec)))

    # ------------------------------------------------------------------ conditioning
    def condition(
        self,
        aatype: torch.Tensor,
        residue_index: torch.Tensor,
        mask: torch.Tensor,
        init_rigids: Rigid,
        chain_index: torch.Tensor | None = None,
        precomputed_single: torch.Tensor | None = None,
        precomputed_pair: torch.Tensor | None = None,
    ) -> Conditioning:
        """Conditioning from the sequence and the initial structure (``init_rigids`` [B,N], Å).

        Learned: ``aatype`` embedding; pairs = relative position (clipped to ±max_relpos, a separate
        bin across chains) + RBF of initial Cβ (Cα for Gly) distances. Precomputed (spec): also a
        linear projection of the user's ``precomputed_single`` [B,N,Cs] and ``precomputed_pair``
        [B,N,N,Cp]. Invariant under any rigid motion of ``init_rigids``.
        """
        spec = self.spec
        if aatype.dim() != 2:
            raise InputError(f"aatype: expected shape [B, N], got {tuple(aatype.shape)}")
        b, n = aatype.shape
        if tuple(init_rigids.shape) != (b, n):
            raise InputError(f"init_rigids: expected shape {(b, n)}, got {tuple(init_rigids.shape)}")
        if tuple(residue_index.shape) != (b, n) or tuple(mask.shape) != (b, n):
            raise InputError(f"residue_index/mask: expected shape {(b, n)}, got {tuple(residue_index.shape)}/{tuple(mask.shape)}")
        if aatype.numel() and (int(aatype.min()) < 0 or int(aatype.max()) >= NUM_AATYPE):
            raise InputError(f"aatype: values must be in 0..{NUM_AATYPE - 1} (20 = unknown)")
        dtype = init_rigids.dtype
        s = self.aatype_embed(aatype.long()).to(dtype)
        offset = residue_index.long()[:, None, :] - residue_index.long()[:, :, None]
        rel = offset.clamp(-spec.max_relpos, spec.max_relpos) + spec.max_relpos
        if chain_index is not None:
            rel = torch.where(chain_index[:, None, :] != chain_index[:, :, None], 2 * spec.max_relpos + 1, rel)
        z = self.relpos_embed(rel).to(dtype)
        z = z + self.init_dist(rbf(pair_distances(pseudo_cb(init_rigids, aatype)), spec.num_rbf, spec.max_distance))
        if spec.conditioning == "precomputed":
            if precomputed_single is None or precomputed_pair is None:
                raise InputError("conditioning 'precomputed' needs precomputed_single [B,N,Cs] and precomputed_pair [B,N,N,Cp]")
            if tuple(precomputed_single.shape) != (b, n, spec.precomputed_single_dim):
                raise InputError(f"precomputed_single: expected shape {(b, n, spec.precomputed_single_dim)}, got {tuple(precomputed_single.shape)}")
            if tuple(precomputed_pair.shape) != (b, n, n, spec.precomputed_pair_dim):
                raise InputError(f"precomputed_pair: expected shape {(b, n, n, spec.precomputed_pair_dim)}, got {tuple(precomputed_pair.shape)}")
            s = s + self.single_proj(precomputed_single.to(dtype))
            z = z + self.pair_proj(precomputed_pair.to(dtype))
        elif precomputed_single is not None or precomputed_pair is not None:
            raise InputError("precomputed_single/precomputed_pair given, but spec.conditioning is 'learned'")
        return Conditioning(self.cond_norm(s), z, mask.to(dtype), residue_index.long(), aatype.long(), chain_index)

    # ------------------------------------------------------------------ trunk
    def _torsion_features(self, cond: Conditioning, torsions: torch.Tensor | None, b: int, f: int, n: int,
                          dtype, device) -> torch.Tensor:
        """[B,F,N,21] input features: masked (sin, cos) of the 7 torsions + masks; zeros where ``torsions`` is None."""
        from starmd.core.protein import TORSION_MASK

        if torsions is None:
            return torch.zeros(b, f, n, 21, dtype=dtype, device=device)
        tmask = torch.as_tensor(TORSION_MASK, device=device)[cond.aatype.clamp(max=20)].to(dtype)  # [B,N,7]
        tmask = tmask[:, None].expand(b, f, n, 7)
        tors = torsions.to(dtype) * tmask[..., None]
        return torch.cat([tors.flatten(-2), tmask], dim=-1)

    def _trunk(self, cond: Conditioning, rigids: Rigid, t: torch.Tensor, dt_ns: torch.Tensor, tau: torch.Tensor,
               layout: TokenLayout, past: list | None, torsions: torch.Tensor | None = None):
        """Frame copies ``rigids`` [B,F,N] with per-copy t, dt_ns, tau [B,F] and torsion features ``torsions``
        [B,F,N,21] (:meth:`_torsion_features`; zeros for noisy copies) → (rigids [B,F,N], s [B,F,N,C], new k/v)."""
        b, f, n = rigids.shape
        spec = self.spec
        mask_f = cond.mask[:, None, :].expand(b, f, n)
        s = cond.single[:, None] + self.frame_single(neighbour_features(rigids, cond.mask))
        if self.torsion_in is not None:
            feats = torch.zeros(b, f, n, 21, dtype=s.dtype, device=s.device) if torsions is None else torsions.to(s.dtype)
            s = s + self.torsion_in(feats)
        d = pair_distances(pseudo_cb(rigids, cond.aatype))
        z = cond.pair[:, None] + self.frame_pair(rbf(d, spec.num_rbf, spec.max_distance))
        c = self.time(t, dt_ns, tau, layout.noisy)
        new_kv: list = []
        slot = 0
        for block in self.blocks:
            s_upd, r_upd = block.backend(s, z, rigids, mask_f)
            s = s + s_upd
            rigids = apply_backend_output(rigids, r_upd)
            for layer in block.layers:
                k = layer.cache_slots()
                p = past[slot: slot + k] if past is not None else None
                s, kv = layer(s, c, layout, p)
                new_kv.extend(kv)
                slot += k
            if block.edge is not None:
                z = block.edge(z, s, rigids, cond.aatype)
            rigids = rigids.compose(block.bb_update(s))
        return rigids, s, new_kv

    @staticmethod
    def _torsion_outputs(spec: ModelSpec) -> int:
        return spec.torsion_bins if spec.torsion_head == "categorical" else 2

    def _heads(self, rigids: Rigid, s: torch.Tensor) -> ModelOutput:
        raw = self.torsion_head(s).unflatten(-1, (7, self._torsion_outputs(self.spec)))
        if self.spec.torsion_head == "categorical":
            return ModelOutput(rigids=rigids, torsions=expected_torsions(raw), singles=s, torsion_logits=raw)
        tors = raw / torch.linalg.norm(raw, dim=-1, keepdim=True).clamp_min(1e-6)
        return ModelOutput(rigids=rigids, torsions=tors, singles=s, torsions_unnormalized=raw)

    @staticmethod
    def _per_frame(x: torch.Tensor, b: int, l: int, name: str) -> torch.Tensor:
        x = torch.as_tensor(x)
        if x.dim() == 0:
            x = x.expand(b)
        if x.dim() == 1:
            x = x[:, None].expand(b, l)
        if tuple(x.shape) != (b, l):
            raise InputError(f"{name}: expected shape [B] or [B, L] = {(b, l)}, got {tuple(x.shape)}")
        return x

    # ------------------------------------------------------------------ training entry
    def denoise(
        self,
        cond: Conditioning,
        noisy: Rigid,
        clean: Rigid,
        t: torch.Tensor,
        dt_ns: torch.Tensor,
        tau: torch.Tensor,
        *,
        frame_index: torch.Tensor | None = None,
        window: int | None = None,
        sink: int = 0,
        clean_torsions: torch.Tensor | None = None,
    ) -> ModelOutput:
        """Block-causal denoising of a window: predictions [B,L,N] for the ``noisy`` copies.

        ``noisy``/``clean``: Rigid [B,L,N] (Å); ``t``: [B] or [B,L]; ``dt_ns``: [B] or [B,L] (ns
        between frame l−1 and l); ``tau``: [B]. Optional: ``frame_index`` long [L] absolute frame
        indices (default 0..L−1; rotary positions), ``window``/``sink`` the sliding-window mask
        that a windowed :class:`KVCache` applies in generation (default: see everything earlier),
        ``clean_torsions`` [B,L,N,7,2] the (sin, cos) torsions of the clean frames (the model sees the
        history's side chains; noisy copies get none).
        """
        if tuple(noisy.shape) != tuple(clean.shape) or noisy.trans.dim() != 4:
            raise InputError(f"noisy/clean: expected two Rigid [B, L, N] of the same shape, got {tuple(noisy.shape)} and {tuple(clean.shape)}")
        b, l, n = noisy.shape
        dtype, device = noisy.dtype, noisy.device
        t = self._per_frame(t, b, l, "t").to(dtype)
        dt_ns = self._per_frame(dt_ns, b, l, "dt_ns").to(dtype)
        tau = self._per_frame(tau, b, 2 * l, "tau").to(dtype)
        fi = torch.arange(l, device=device) if frame_index is None else frame_index.to(device).long()
        layout = TokenLayout(
            frame_index=torch.cat([fi, fi]),
            noisy=torch.cat([torch.zeros(l, dtype=torch.bool, device=device), torch.ones(l, dtype=torch.bool, device=device)]),
            residue_index=cond.residue_index, mask=cond.mask.bool(), window=window, sink=sink if window is not None else 0,
        )
        rigids = Rigid.cat([clean, noisy], dim=1)
        t_tok = torch.cat([torch.zeros_like(t), t], dim=1)
        tors = None
        if clean_torsions is not None:
            feats = self._torsion_features(cond, clean_torsions, b, l, n, dtype, device)
            tors = torch.cat([feats, torch.zeros_like(feats)], dim=1)
        out_r, s, _ = self._trunk(cond, rigids, t_tok, torch.cat([dt_ns, dt_ns], dim=1), tau, layout, None, tors)
        return self._heads(out_r[:, l:], s[:, l:])

    # ------------------------------------------------------------------ generation entries
    def new_cache(self, batch_size: int, window: int | None = None, sink: int = 1) -> KVCache:
        """An empty :class:`KVCache` (``window`` frames + ``sink`` frames; None keeps every frame)."""
        return KVCache(batch_size=batch_size, window=window, sink=sink)

    def _single_frame(self, cond, rigid: Rigid, t, dt_ns, tau, cache: KVCache, noisy: bool, torsions=None):
        if rigid.trans.dim() != 3:
            raise InputError(f"expected a Rigid [B, N] for one frame, got {tuple(rigid.shape)}")
        b, n = rigid.shape
        if b != cache.batch_size:
            raise InputError(f"cache was made for batch size {cache.batch_size}, got {b}")
        dtype, device = rigid.dtype, rigid.device
        layout = TokenLayout(
            frame_index=torch.tensor([cache.next_frame], device=device),
            noisy=torch.tensor([noisy], device=device),
            residue_index=cond.residue_index, mask=cond.mask.bool(),
            past_frame_index=cache.frame_index.to(device), window=cache.window, sink=cache.effective_sink,
        )
        t = self._per_frame(t, b, 1, "t").to(dtype)
        dt_ns = self._per_frame(dt_ns, b, 1, "dt_ns").to(dtype)
        tau = self._per_frame(tau, b, 1, "tau").to(dtype)
        tors = None if torsions is None else self._torsion_features(cond, torsions.unsqueeze(1), b, 1, n, dtype, device)
        return self._trunk(cond, rigid.unsqueeze(1), t, dt_ns, tau, layout, cache.past(), tors)

    def append_to_cache(self, cond: Conditioning, clean: Rigid, dt_ns: torch.Tensor, tau: torch.Tensor, cache: KVCache,
                        torsions: torch.Tensor | None = None) -> None:
        """Run one finished frame ``clean`` [B,N] (Å) at index ``cache.next_frame`` as a clean token
        (t = 0, context noise ``tau`` [B], ``dt_ns`` [B] since the previous frame, its ``torsions``
        [B,N,7,2] (sin, cos)) and store its keys/values."""
        b = clean.shape[0]
        _, _, new_kv = self._single_frame(cond, clean, torch.zeros(b, dtype=clean.dtype, device=clean.device),
                                          dt_ns, tau, cache, noisy=False, torsions=torsions)
        cache.append(new_kv)

    def denoise_next(self, cond: Conditioning, noisy: Rigid, t: torch.Tensor, dt_ns: torch.Tensor, tau: torch.Tensor,
                     cache: KVCache) -> ModelOutput:
        """Denoise frame ``cache.next_frame`` (``noisy`` [B,N], Å, at diffusion time ``t`` [B]); attends
        to the cached frames and itself; the cache is not modified. Returns [B,N]-shaped outputs."""
        out_r, s, _ = self._single_frame(cond, noisy, t, dt_ns, tau, cache, noisy=True)
        return self._heads(out_r[:, 0], s[:, 0])


def build_model(spec: ModelSpec) -> StarMD:
    """The :class:`StarMD` network that ``spec`` describes (any backend × attention × conditioning)."""
    return StarMD(spec)


__all__ = ["StarMD", "build_model", "Conditioning", "ModelOutput", "KVCache", "pseudo_cb", "rbf", "NUM_AATYPE"]
