"""Space×time attention over single tokens: 2D RoPE, AdaLN, block-causal masks, KV cache.

Tokens are the invariant single features of every residue in every frame *copy* in a pass,
``x``: [B, F, N, C]. A frame copy has an absolute frame index and is either clean (a finished
history frame) or noisy (the frame being denoised). Visibility between frame copies
(:func:`frame_visibility`) is block-causal:

- a clean frame f sees clean frames f' ≤ f;
- a noisy frame f sees clean frames f' < f and itself (its own noisy copy) — never another noisy
  copy, never its own clean copy;
- with a sliding ``window`` W (optionally plus ``sink`` S): among earlier clean frames only those with
  f' < S or f' ≥ f − W stay visible (the current frame always is).

Padded residues (mask 0) are never keys of real tokens; every token may always see itself, so no
softmax row is empty. The rules are the same whether the earlier clean frames are in the pass or in
a :class:`KVCache`, which is why cached generation equals a full pass.

Attention variants (``ModelSpec.attention``):

- ``"joint"``: every token attends to all residues of all visible frames (one sublayer);
- ``"factorized"`` (ablation): a spatial sublayer (residues of the same frame copy) followed by a
  temporal sublayer (the same residue in visible frames).

Positions: 2D rotary embedding. In each head, the first half of the channels rotates with the
residue index and the second half with the absolute frame index (so scores depend on residue
offsets and frame offsets only). Keys are cached *after* rotation at their absolute frame index.
With a sliding window the recent frames keep the same offsets as in a full pass; the sink
frames' offsets grow with the rollout length (they are never re-indexed).

Adaptive LayerNorm: every sublayer normalises its input without affine parameters and applies a
per-frame scale/shift and an output gate computed from the conditioning vector (diffusion time t,
log Δt, context noise τ; see :class:`starmd.core.model.StarMD`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------- masks


def frame_visibility(
    q_frame: torch.Tensor,
    q_noisy: torch.Tensor,
    k_frame: torch.Tensor,
    k_noisy: torch.Tensor,
    window: int | None = None,
    sink: int = 0,
) -> torch.Tensor:
    """Which key frame copies each query frame copy sees: bool [Fq, Fk].

    ``q_frame``/``k_frame``: long [Fq]/[Fk] absolute frame indices; ``q_noisy``/``k_noisy``: bool.
    """
    qf, kf = q_frame[:, None], k_frame[None, :]
    qn, kn = q_noisy[:, None], k_noisy[None, :]
    earlier = kf < qf
    if window is not None:
        earlier = earlier & ((kf < sink) | (kf >= qf - window))
    clean_key = ~kn & (earlier | ((kf == qf) & ~qn))
    noisy_key = kn & qn & (kf == qf)
    return clean_key | noisy_key


# ---------------------------------------------------------------------------- rotary


class Rotary2D(nn.Module):
    """2D rotary position embedding for heads of ``head_dim`` channels (a multiple of 4).

    ``forward(x [..., F, N, H, d], residue_index [B, N] or [N], frame_index [F])``: channels
    ``[0, d/2)`` rotate by residue index, ``[d/2, d)`` by frame index (frequencies
    ``base^(-2i/(d/2))``).
    """

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 4:
            raise ValueError(f"head_dim must be a multiple of 4 for 2D RoPE, got {head_dim}")
        quarter = head_dim // 4
        self.register_buffer("inv_freq", base ** (-torch.arange(quarter, dtype=torch.float64) / quarter), persistent=False)
        self.head_dim = head_dim

    def _angles(self, pos: torch.Tensor, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        ang = pos.to(torch.float64)[..., None] * self.inv_freq  # [..., d/4]
        return ang.cos().to(dtype), ang.sin().to(dtype)

    @staticmethod
    def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)

    def forward(self, x: torch.Tensor, residue_index: torch.Tensor, frame_index: torch.Tensor) -> torch.Tensor:
        # x: [B, F, N, H, d]
        half = self.head_dim // 2
        rc, rs = self._angles(residue_index, x.dtype)  # [B,N,d/4] or [N,d/4]
        if rc.dim() == 2:
            rc, rs = rc[None], rs[None]
        rc, rs = rc[:, None, :, None, :], rs[:, None, :, None, :]  # [B,1,N,1,d/4]
        fc, fs = self._angles(frame_index, x.dtype)  # [F,d/4]
        fc, fs = fc[None, :, None, None, :], fs[None, :, None, None, :]  # [1,F,1,1,d/4]
        return torch.cat([self._rotate(x[..., :half], rc, rs), self._rotate(x[..., half:], fc, fs)], dim=-1)


# ---------------------------------------------------------------------------- AdaLN


class AdaLN(nn.Module):
    """LayerNorm without affine parameters, then ``x·(1 + scale(c)) + shift(c)``; also a gate.

    ``forward(x [B,F,N,C], c [B,F,Dc]) -> (normalised x [B,F,N,C], gate [B,F,1,C])``.
    """

    def __init__(self, dim: int, cond_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.to_mod = nn.Linear(cond_dim, 3 * dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale, shift, gate = self.to_mod(c)[:, :, None, :].chunk(3, dim=-1)
        return self.norm(x) * (1.0 + scale) + shift, 1.0 + gate


# ---------------------------------------------------------------------------- token layout


@dataclass
class TokenLayout:
    """Where the tokens of one pass sit in space and time.

    ``frame_index``: long [F] absolute frame index of each frame copy in the pass;
    ``noisy``: bool [F]; ``residue_index``: long [B, N]; ``mask``: bool [B, N];
    ``past_frame_index``: long [Fc] frame indices of cached (clean) frames, or None;
    ``window``/``sink``: the sliding window applied to earlier clean frames (None: all).
    """

    frame_index: torch.Tensor
    noisy: torch.Tensor
    residue_index: torch.Tensor
    mask: torch.Tensor
    past_frame_index: torch.Tensor | None = None
    window: int | None = None
    sink: int = 0

    def visibility(self) -> torch.Tensor:
        """bool [F, Fc + F]: cached frames first, then the frames of the pass."""
        kf, kn = self.frame_index, self.noisy
        if self.past_frame_index is not None and self.past_frame_index.numel():
            kf = torch.cat([self.past_frame_index.to(kf), kf])
            kn = torch.cat([torch.zeros_like(self.past_frame_index, dtype=torch.bool, device=kn.device), kn])
        return frame_visibility(self.frame_index, self.noisy, kf, kn, self.window, self.sink)


# ---------------------------------------------------------------------------- attention sublayer


class STAttention(nn.Module):
    """One attention sublayer over single tokens: ``kind`` is ``joint``, ``spatial`` or ``temporal``.

    ``forward(x [B,F,N,C], c [B,F,Dc], layout, past=None) -> (x' [B,F,N,C], (k, v))`` where
    ``past`` is a :class:`CachedKV` holding the keys/values of earlier clean frames (keys already
    rotated), and the returned ``(k, v)`` [B, H, F, N, d] are this pass's keys/values (what the
    cache stores for a clean frame). ``spatial`` sublayers ignore ``past`` (they never look across
    frames).
    """

    def __init__(self, dim: int, heads: int, cond_dim: int, kind: str, dropout: float = 0.0) -> None:
        super().__init__()
        if kind not in ("joint", "spatial", "temporal"):
            raise ValueError(f"unknown attention kind {kind!r}")
        self.kind, self.heads, self.head_dim = kind, heads, dim // heads
        self.adaln = AdaLN(dim, cond_dim)
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim)
        self.rope = Rotary2D(self.head_dim)
        self.dropout = dropout

    @property
    def uses_cache(self) -> bool:
        return self.kind != "spatial"

    def forward(self, x, c, layout: TokenLayout, past=None):
        b, f, n, _ = x.shape
        h, d = self.heads, self.head_dim
        xn, gate = self.adaln(x, c)
        q, k, v = self.to_qkv(xn).view(b, f, n, 3, h, d).unbind(3)  # [B,F,N,H,d]
        q = self.rope(q, layout.residue_index, layout.frame_index)
        k = self.rope(k, layout.residue_index, layout.frame_index)
        q, k, v = (t.permute(0, 3, 1, 2, 4) for t in (q, k, v))  # [B,H,F,N,d]
        new_kv = (k, v)
        m = layout.mask.bool()  # [B,N]
        drop = self.dropout if self.training else 0.0

        if self.kind == "spatial":
            qs = q.transpose(1, 2).reshape(b * f, h, n, d)
            ks = k.transpose(1, 2).reshape(b * f, h, n, d)
            vs = v.transpose(1, 2).reshape(b * f, h, n, d)
            eye = torch.eye(n, dtype=torch.bool, device=x.device)
            allowed = (m[:, None, None, :] | eye).expand(b, f, n, n).reshape(b * f, 1, n, n)
            o = F.scaled_dot_product_attention(qs, ks, vs, attn_mask=allowed, dropout_p=drop)
            o = o.view(b, f, h, n, d).permute(0, 1, 3, 2, 4)  # [B,F,N,H,d]
        else:
            if past is not None and past.frames:
                k, v = past.followed_by(k, v)
            fk = k.shape[2]
            fc = fk - f
            vis = layout.visibility()  # [F, Fk]
            if self.kind == "joint":
                eye = torch.zeros(f, n, fk, n, dtype=torch.bool, device=x.device)
                eye[torch.arange(f)[:, None], torch.arange(n)[None, :], (torch.arange(f) + fc)[:, None], torch.arange(n)[None, :]] = True
                allowed = vis[None, :, None, :, None] & m[:, None, None, None, :]  # [B,F,1,Fk,N]
                allowed = (allowed | eye[None]).reshape(b, 1, f * n, fk * n)
                o = F.scaled_dot_product_attention(q.reshape(b, h, f * n, d), k.reshape(b, h, fk * n, d),
                                                   v.reshape(b, h, fk * n, d), attn_mask=allowed, dropout_p=drop)
                o = o.view(b, h, f, n, d).permute(0, 2, 3, 1, 4)
            else:  # temporal: the same residue across visible frames
                self_frame = torch.zeros(f, fk, dtype=torch.bool, device=x.device)
                self_frame[torch.arange(f), torch.arange(f) + fc] = True
                allowed = vis[None, None] & m[:, :, None, None]  # [B,N,F,Fk]
                allowed = (allowed | self_frame).reshape(b * n, 1, f, fk)
                qt = q.permute(0, 3, 1, 2, 4).reshape(b * n, h, f, d)
                kt = k.permute(0, 3, 1, 2, 4).reshape(b * n, h, fk, d)
                vt = v.permute(0, 3, 1, 2, 4).reshape(b * n, h, fk, d)
                o = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=allowed, dropout_p=drop)
                o = o.view(b, n, h, f, d).permute(0, 3, 1, 2, 4)
        o = self.out(o.reshape(b, f, n, h * d))
        return x + gate * o, new_kv


class Transition(nn.Module):
    """AdaLN-conditioned MLP on single tokens: ``x + gate·W2 silu(W1 AdaLN(x, c))``."""

    def __init__(self, dim: int, cond_dim: int, expansion: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.adaln = AdaLN(dim, cond_dim)
        self.mlp = nn.Sequential(nn.Linear(dim, expansion * dim), nn.SiLU(), nn.Linear(expansion * dim, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        xn, gate = self.adaln(x, c)
        return x + gate * self.mlp(xn)


class SpaceTimeLayer(nn.Module):
    """One space×time layer: attention sublayer(s) of the chosen variant, then a transition.

    ``variant="joint"``: [joint]; ``variant="factorized"``: [spatial, temporal]. The layer's cached
    sublayers are numbered by the caller (see :meth:`cache_slots`).
    """

    def __init__(self, dim: int, heads: int, cond_dim: int, variant: str, dropout: float = 0.0) -> None:
        super().__init__()
        kinds = ["joint"] if variant == "joint" else ["spatial", "temporal"]
        if variant not in ("joint", "factorized"):
            raise ValueError(f"unknown attention variant {variant!r}")
        self.attn = nn.ModuleList(STAttention(dim, heads, cond_dim, k, dropout) for k in kinds)
        self.transition = Transition(dim, cond_dim, dropout=dropout)

    def cache_slots(self) -> int:
        """How many cached key/value pairs this layer uses."""
        return sum(a.uses_cache for a in self.attn)

    def forward(self, x, c, layout: TokenLayout, past: list | None = None):
        """``past``: list with one ``(k, v)`` (or None) per cached sublayer; returns ``(x', new_kv list)``."""
        new_kv = []
        slot = 0
        for a in self.attn:
            p = None
            if a.uses_cache:
                p = past[slot] if past is not None else None
                slot += 1
            x, kv = a(x, c, layout, p)
            if a.uses_cache:
                new_kv.append(kv)
        return self.transition(x, c), new_kv


# ---------------------------------------------------------------------------- KV cache


_FIRST_CAPACITY = 64  # frames allocated by the first append of a window-less cache


def _grown_capacity(held: int) -> int:
    """Frames a full buffer holding ``held`` frames grows to: room for the new frame, a free slot, and
    max(64, 25 %) more."""
    return held + 2 + max(64, held // 4)


def kv_buffer_frames(n_frames: int) -> tuple[int, int]:
    """``(capacity, peak)`` in frames of a window-less :class:`KVCache` after ``n_frames`` appends:
    the capacity its buffers then have, and the most frames allocated at once (the old and the new
    buffer coexist while it grows). Multiply by the bytes per frame for memory."""
    if n_frames <= 0:
        return 0, 0
    cap = peak = _FIRST_CAPACITY
    held = cap - 1  # the append that finds cap < held + 2
    while held < n_frames:
        new = _grown_capacity(held)
        peak, cap = max(peak, cap + new), new
        held = cap - 1
    return cap, peak


class CachedKV(NamedTuple):
    """One cached sublayer's keys and values as the attention sees them.

    ``keys``/``values``: buffers [B, H, C, N, d] whose first ``frames`` slots (dim 2) hold the cached
    frames in order; slots ``frames … C−1`` are free capacity.
    """

    keys: torch.Tensor
    values: torch.Tensor
    frames: int

    def followed_by(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The cached frames followed by this pass's ``k``/``v`` [B, H, F, N, d]: [B, H, frames + F, N, d].

        When the free capacity fits F frames they are written there and a view of the buffer is
        returned, so a denoising call does not copy the cache (the cached frames are untouched; the
        next call overwrites the free slots). Otherwise the frames are concatenated (a copy).
        """
        n, f = self.frames, k.shape[2]
        if self.keys.shape[2] >= n + f and not (k.requires_grad or v.requires_grad):
            self.keys[:, :, n:n + f] = k
            self.values[:, :, n:n + f] = v
            return self.keys[:, :, :n + f], self.values[:, :, :n + f]
        return torch.cat([self.keys[:, :, :n], k], dim=2), torch.cat([self.values[:, :, :n], v], dim=2)


@dataclass
class KVCache:
    """Keys/values of finished (clean) frames, one pair per cached attention sublayer.

    ``keys[i]``/``values[i]``: buffers [B, H, C, N, d] for slot ``i`` whose first ``num_frames``
    entries along dim 2 are the held frames in order (keys after the rotary embedding at their
    absolute frame index) and the rest free capacity; ``frame_index``: long [num_frames] of the frames
    held; ``next_frame``: the absolute index the next appended (or denoised) frame gets. Memory is
    O(N·Fc·d) per slot.

    The buffers keep at least one free frame so that a denoising call writes the frame being
    denoised next to the cache instead of copying the cache (:meth:`CachedKV.followed_by`). Without a
    window they grow by max(64 frames, 25 %) when full, so appending L frames copies O(L) frames in
    all (a concatenation per append copied O(L²)).

    Without a ``window`` every appended frame is kept. With ``window=W`` the cache keeps the first
    ``sink`` frames ever appended (attention sinks) and the last ``W`` frames, so its size stops
    growing after ``sink + W`` frames; a frame then sees the sink frames, the ``W`` previous frames
    and itself — exactly what a full pass with the same ``window``/``sink`` mask computes.
    """

    batch_size: int
    window: int | None = None
    sink: int = 1
    keys: list[torch.Tensor] = field(default_factory=list)
    values: list[torch.Tensor] = field(default_factory=list)
    frame_index: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    next_frame: int = 0

    def __post_init__(self) -> None:
        if self.window is not None and self.window < 1:
            raise ValueError(f"window must be ≥ 1 or None, got {self.window}")
        if self.sink < 0:
            raise ValueError(f"sink must be ≥ 0, got {self.sink}")

    @property
    def num_frames(self) -> int:
        """Frames currently held."""
        return int(self.frame_index.numel())

    @property
    def capacity(self) -> int:
        """Frames the buffers can hold without growing (0 when empty)."""
        return int(self.keys[0].shape[2]) if self.keys else 0

    @property
    def effective_sink(self) -> int:
        """Sink frames that matter for the mask (0 without a window)."""
        return self.sink if self.window is not None else 0

    def nbytes(self) -> int:
        """Bytes of the keys and values of the frames held (what the cache must store: O(N·Fc·d))."""
        if not self.keys:
            return 0
        return self.allocated_nbytes() * self.num_frames // self.capacity

    def allocated_nbytes(self) -> int:
        """Bytes allocated by the buffers, free capacity included."""
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))

    def past(self) -> list[CachedKV] | None:
        """The cached keys/values per slot, or None when nothing is cached yet."""
        if not self.keys:
            return None
        return [CachedKV(k, v, self.num_frames) for k, v in zip(self.keys, self.values, strict=True)]

    def reserve(self, frames: int) -> None:
        """Make the buffers hold at least ``frames`` frames (copies the held ones once)."""
        if not self.keys or self.capacity >= frames:
            return
        n = self.num_frames

        def grown(t: torch.Tensor) -> torch.Tensor:
            out = t.new_empty(t.shape[:2] + (frames,) + t.shape[3:])
            out[:, :, :n] = t[:, :, :n]
            return out

        self.keys = [grown(k) for k in self.keys]
        self.values = [grown(v) for v in self.values]

    def append(self, new_kv: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Store one finished frame's keys/values (each [B, H, 1, N, d]) and advance the frame index."""
        if self.keys and len(new_kv) != len(self.keys):
            raise ValueError(f"expected {len(self.keys)} key/value slots, got {len(new_kv)}")
        n = self.num_frames
        if not self.keys:
            first = self.sink + self.window + 1 if self.window is not None else _FIRST_CAPACITY
            self.keys = [k.new_empty(k.shape[:2] + (first,) + k.shape[3:]) for k, _ in new_kv]
            self.values = [v.new_empty(v.shape[:2] + (first,) + v.shape[3:]) for _, v in new_kv]
        elif self.window is not None and n == self.sink + self.window:
            # the oldest non-sink frame leaves: shift the window left by one (W frames, once per frame)
            for t in (*self.keys, *self.values):
                t[:, :, self.sink:n - 1] = t[:, :, self.sink + 1:n].clone()
            self.frame_index = torch.cat([self.frame_index[:self.sink], self.frame_index[self.sink + 1:]])
            n -= 1
        if self.capacity < n + 2:  # the new frame + one free slot for the frame denoised next
            self.reserve(_grown_capacity(n))
        for buf, new in zip((*self.keys, *self.values), [k for k, _ in new_kv] + [v for _, v in new_kv], strict=True):
            buf[:, :, n:n + 1] = new.detach()
        self.frame_index = torch.cat([self.frame_index.to(self.keys[0].device),
                                      torch.tensor([self.next_frame], dtype=torch.long, device=self.keys[0].device)])
        self.next_frame += 1

    def state_dict(self) -> dict:
        """Everything needed to resume (tensors + ints), e.g. for ``torch.save``; only the held frames."""
        n = self.num_frames
        return {"batch_size": self.batch_size, "window": self.window, "sink": self.sink,
                "keys": [k[:, :, :n].clone() for k in self.keys], "values": [v[:, :, :n].clone() for v in self.values],
                "frame_index": self.frame_index, "next_frame": self.next_frame}

    @classmethod
    def from_state_dict(cls, state: dict) -> KVCache:
        cache = cls(**state)
        cache.reserve(cache.num_frames + 1)
        return cache


def init_linear_small(layer: nn.Linear, scale: float = 0.1) -> nn.Linear:
    """Shrink a freshly initialised linear layer's weights (outputs that update geometry start small)."""
    with torch.no_grad():
        layer.weight.mul_(scale)
        if layer.bias is not None:
            layer.bias.zero_()
    return layer


__all__ = [
    "frame_visibility", "Rotary2D", "AdaLN", "TokenLayout", "STAttention", "Transition", "SpaceTimeLayer",
    "CachedKV", "KVCache", "kv_buffer_frames", "init_linear_small",
]
