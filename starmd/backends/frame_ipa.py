"""Invariant point attention (IPA) on residue frames: the paper's geometry layer.

Each residue emits scalar queries/keys/values and 3D query/key/value *points* in its own local
frame; the points are moved to the global frame with that residue's rigid transform, so attention
logits use only invariant quantities (scalar dot products, a pair bias from ``z``, and squared
distances between global points). Attended value points are moved back into the query residue's
local frame, which makes every output invariant. The layer returns a singles update only; the
frame update is left to the trunk (``rigid_update is None``).

Logits per head h (PAPER.md / AlphaFold2 style, our own implementation):
``w_L * (q_i·k_j / sqrt(d) + b_h(z_ij) - γ_h · w_C/2 · Σ_p |T_i q_ip - T_j k_jp|²)``
with ``w_L = sqrt(1/3)``, ``w_C = sqrt(2 / (9 P_q))`` and a learned ``γ_h = softplus(·) > 0``.
Distances are in Å (translations of the input rigids).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from starmd.backends.base import BackendDims, masked_fill_value, register_backend
from starmd.core.rigid import Rigid
from starmd.core.specs import FrameIPASpec


class FrameIPA(nn.Module):
    """Invariant point attention over the residues of each frame.

    ``forward(s [B,F,N,C], z [B,F,N,N,Cz], rigids Rigid [B,F,N] (Å), mask [B,F,N])``
    → ``(s_update [B,F,N,C], None)``.
    """

    def __init__(self, spec: FrameIPASpec, dims: BackendDims) -> None:
        super().__init__()
        self.spec = spec
        h, d, pq, pv = spec.heads, spec.head_dim, spec.query_points, spec.value_points
        c, cz = dims.single, dims.pair
        self.heads, self.head_dim, self.pq, self.pv = h, d, pq, pv
        self.norm = nn.LayerNorm(c)
        self.to_qkv = nn.Linear(c, 3 * h * d, bias=False)
        self.to_qk_pts = nn.Linear(c, 2 * h * pq * 3)
        self.to_v_pts = nn.Linear(c, h * pv * 3)
        self.to_bias = nn.Linear(cz, h, bias=False)
        self.point_weight = nn.Parameter(torch.full((h,), math.log(math.e - 1.0)))  # softplus → 1
        self.out = nn.Linear(h * (d + cz + pv * 4), c)
        self.w_l = math.sqrt(1.0 / 3.0)
        self.w_c = math.sqrt(2.0 / (9.0 * pq))

    def forward(self, s: torch.Tensor, z: torch.Tensor, rigids: Rigid, mask: torch.Tensor) -> tuple[torch.Tensor, None]:
        b, f, n, _ = s.shape
        h, d, pq, pv = self.heads, self.head_dim, self.pq, self.pv
        p = b * f
        s = self.norm(s).reshape(p, n, -1)
        z = z.reshape(p, n, n, -1)
        r = rigids.reshape(p, n)
        m = mask.reshape(p, n).bool()

        q, k, v = self.to_qkv(s).view(p, n, 3, h, d).unbind(2)  # [P,N,H,d]
        qk_pts = self.to_qk_pts(s).view(p, n, 2, h, pq, 3)
        rr = r.unsqueeze(-1)  # [P,N,1] broadcast over heads
        q_pts = Rigid(rr.rots.unsqueeze(-3), rr.trans.unsqueeze(-2)).apply(qk_pts[:, :, 0])  # [P,N,H,Pq,3] global
        k_pts = Rigid(rr.rots.unsqueeze(-3), rr.trans.unsqueeze(-2)).apply(qk_pts[:, :, 1])
        v_pts = Rigid(rr.rots.unsqueeze(-3), rr.trans.unsqueeze(-2)).apply(self.to_v_pts(s).view(p, n, h, pv, 3))

        # scalar term [P,H,N,N]
        logits = torch.einsum("pihd,pjhd->phij", q, k) / math.sqrt(d)
        logits = logits + self.to_bias(z).permute(0, 3, 1, 2)
        # squared point distances via |q|² + |k|² − 2 q·k (points flattened per head)
        qf = q_pts.reshape(p, n, h, pq * 3).transpose(1, 2)  # [P,H,N,3Pq]
        kf = k_pts.reshape(p, n, h, pq * 3).transpose(1, 2)
        d2 = (qf * qf).sum(-1)[..., :, None] + (kf * kf).sum(-1)[..., None, :] - 2.0 * qf @ kf.transpose(-1, -2)
        gamma = nn.functional.softplus(self.point_weight).view(1, h, 1, 1)
        logits = self.w_l * (logits - gamma * (self.w_c / 2.0) * d2)
        logits = logits.masked_fill(~m[:, None, None, :], masked_fill_value(logits.dtype))
        attn = torch.softmax(logits, dim=-1)  # [P,H,N,N]

        o = torch.einsum("phij,pjhd->pihd", attn, v)  # [P,N,H,d]
        o_pair = torch.einsum("phij,pijc->pihc", attn, z)  # [P,N,H,Cz]
        o_pts = torch.einsum("phij,pjhvx->pihvx", attn, v_pts)  # [P,N,H,Pv,3] global
        o_pts = Rigid(rr.rots.unsqueeze(-3), rr.trans.unsqueeze(-2)).invert_apply(o_pts)  # local frame of i
        o_norm = torch.sqrt((o_pts * o_pts).sum(-1) + 1e-8)
        feats = torch.cat([o.reshape(p, n, -1), o_pair.reshape(p, n, -1), o_pts.reshape(p, n, -1), o_norm.reshape(p, n, -1)], -1)
        return self.out(feats).view(b, f, n, -1), None


def build_frame_ipa(spec: FrameIPASpec, dims: BackendDims) -> FrameIPA:
    return FrameIPA(spec, dims)


register_backend(FrameIPASpec, build_frame_ipa)

__all__ = ["FrameIPA", "build_frame_ipa"]
