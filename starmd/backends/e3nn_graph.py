"""e3nn tensor-product message passing on a k-nearest-neighbour Cα graph.

Per frame, every residue is a node at its Cα (the rigid's translation, Å). Edges j → i join each
residue i to its ``k`` nearest real residues (``torch.cdist`` + ``topk``; padded residues are never
neighbours). Irreps (e3nn 0.6 uses Cartesian (x, y, z) order for l = 1, so vectors go in as is):

- node input ``"{C}x0e + 2x1o + 1x1e"``: the invariant singles and the frame's axes (x and y
  axes are polar vectors; z = x × y is axial);
- hidden node features ``spec.hidden_irreps`` (default ``"16x0e + 8x1o"``);
- edge attributes: spherical harmonics ``"1x0e + 1x1o + ... "`` up to ``spec.lmax`` of the edge
  direction;
- message ``TP(h_j, Y(r_ij); w(|r_ij|, z_ij))``: a fully connected tensor product whose weights come
  from an MLP (e3nn ``FullyConnectedNet``) of a smooth radial basis of the distance (cut off at
  ``spec.cutoff`` Å) and a projection of the pair features ``z_ij``; a gate nonlinearity; sum
  aggregation with ``torch_geometric.utils.scatter`` (plain torch), divided by sqrt(k);
- node output ``"{C}x0e + 3x1o"``: the singles update and three vectors (t, a, b), rotated
  into the residue's local frame. The rigid update (local frame, composed on the right) has
  translation ``trans_scale/10 · t`` Å and the rotation that Gram–Schmidt makes of
  ``(e_x + a/10, e_y + b/10)`` — the identity when the vectors vanish.

Everything the layer returns is invariant (local-frame update, scalar singles), so the composed
frames are SE(3)-equivariant.
"""

from __future__ import annotations

import math

import torch
from e3nn import nn as enn
from e3nn import o3
from e3nn.math import soft_one_hot_linspace, soft_unit_step
from torch import nn
from torch_geometric.utils import scatter

from starmd.backends.base import BackendDims, register_backend
from starmd.core.rigid import Rigid
from starmd.core.specs import E3nnGraphSpec
from starmd.errors import SpecError


def knn_edges(pos: torch.Tensor, mask: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """k-NN edges of a batch of point clouds.

    ``pos``: [P, N, 3] (Å); ``mask``: [P, N] bool. Returns ``(src, dst)``, each [E] long, indexing
    the flattened nodes ``p * N + i``; edges go from neighbour ``src`` to centre ``dst``; only real
    residues are centres or neighbours, and no self loops.
    """
    p, n, _ = pos.shape
    k = min(k, n - 1)
    if k <= 0:
        empty = torch.zeros(0, dtype=torch.long, device=pos.device)
        return empty, empty
    with torch.no_grad():
        dist = torch.cdist(pos, pos)
        bad = ~(mask[:, None, :] & mask[:, :, None]) | torch.eye(n, dtype=torch.bool, device=pos.device)
        dist = dist.masked_fill(bad, float("inf"))
        vals, idx = dist.topk(k, dim=-1, largest=False)  # [P,N,k]
        valid = torch.isfinite(vals)
        offset = (torch.arange(p, device=pos.device) * n).view(p, 1, 1)
        src = (idx + offset)[valid]
        dst = (torch.arange(n, device=pos.device).view(1, n, 1) + offset).expand(p, n, k)[valid]
    return src, dst


def _gram_schmidt(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [*, 3, 3] whose columns are GS(a, b) and their cross product."""
    e0 = a / torch.linalg.norm(a, dim=-1, keepdim=True).clamp_min(1e-8)
    b = b - (b * e0).sum(-1, keepdim=True) * e0
    e1 = b / torch.linalg.norm(b, dim=-1, keepdim=True).clamp_min(1e-8)
    e2 = torch.linalg.cross(e0, e1, dim=-1)
    return torch.stack([e0, e1, e2], dim=-1)


class _MessageLayer(nn.Module):
    """One gated tensor-product message-passing layer ``hidden_irreps → hidden_irreps``."""

    def __init__(self, irreps_hidden: o3.Irreps, irreps_sh: o3.Irreps, num_basis: int, pair_dim: int, k: int) -> None:
        super().__init__()
        scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_hidden if ir.l == 0])
        gated = o3.Irreps([(mul, ir) for mul, ir in irreps_hidden if ir.l > 0])
        gates = o3.Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps else o3.Irreps("")
        self.gate = enn.Gate(scalars, [torch.nn.functional.silu] * len(scalars), gates,
                             [torch.sigmoid] * len(gates), gated)
        self.tp = o3.FullyConnectedTensorProduct(irreps_hidden, irreps_sh, self.gate.irreps_in,
                                                 shared_weights=False, internal_weights=False)
        self.pair_proj = nn.Linear(pair_dim, num_basis)
        self.radial = enn.FullyConnectedNet([2 * num_basis, 32, self.tp.weight_numel], torch.nn.functional.silu)
        self.self_interaction = o3.Linear(self.gate.irreps_out, irreps_hidden)
        self.k = k

    def forward(self, h, sh, basis, z_edge, envelope, src, dst):
        w = self.radial(torch.cat([basis, self.pair_proj(z_edge)], -1)) * envelope[:, None]
        msg = self.tp(h[src], sh, w)
        agg = scatter(msg, dst, dim=0, dim_size=h.shape[0], reduce="sum") / math.sqrt(self.k)
        return h + self.self_interaction(self.gate(agg))


class E3nnGraph(nn.Module):
    """e3nn k-NN graph backend (see module doc for the irreps).

    ``forward(s [B,F,N,C], z [B,F,N,N,Cz], rigids Rigid [B,F,N] (Å), mask [B,F,N])``
    → ``(s_update [B,F,N,C], rigid_update Rigid [B,F,N] in the local frame)``.
    """

    def __init__(self, spec: E3nnGraphSpec, dims: BackendDims) -> None:
        super().__init__()
        self.spec = spec
        c = dims.single
        try:
            irreps_hidden = o3.Irreps(spec.hidden_irreps).simplify()
        except (ValueError, AssertionError) as err:
            raise SpecError(f"backend.hidden_irreps: not an irreps string ({err})") from None
        if not any(ir.l == 0 for _, ir in irreps_hidden) or not any(ir.l == 1 for _, ir in irreps_hidden):
            raise SpecError(f"backend.hidden_irreps: needs scalars (0e) and vectors (1o), got {spec.hidden_irreps!r}")
        self.irreps_in = o3.Irreps(f"{c}x0e + 2x1o + 1x1e")
        self.irreps_hidden = irreps_hidden
        self.irreps_sh = o3.Irreps.spherical_harmonics(spec.lmax)
        self.irreps_out = o3.Irreps(f"{c}x0e + 3x1o")
        self.norm = nn.LayerNorm(c)
        self.embed = o3.Linear(self.irreps_in, irreps_hidden)
        self.layers = nn.ModuleList(
            _MessageLayer(irreps_hidden, self.irreps_sh, spec.num_basis, dims.pair, spec.k) for _ in range(spec.layers)
        )
        self.readout = o3.Linear(irreps_hidden, self.irreps_out)
        self.c = c
        self.trans_scale = dims.trans_scale

    def forward(self, s: torch.Tensor, z: torch.Tensor, rigids: Rigid, mask: torch.Tensor) -> tuple[torch.Tensor, Rigid]:
        b, f, n, c = s.shape
        p = b * f
        m = mask.reshape(p, n).bool()
        r = rigids.reshape(p, n)
        pos = r.trans
        src, dst = knn_edges(pos, m, self.spec.k)

        axes = r.rots.transpose(-1, -2).reshape(p, n, 9)  # rows of Rᵀ = the frame's x, y, z axes (global)
        x = torch.cat([self.norm(s).reshape(p, n, c), axes], -1).reshape(p * n, -1)
        h = self.embed(x)

        flat_pos = pos.reshape(p * n, 3)
        vec = flat_pos[src] - flat_pos[dst]  # [E,3] centre → neighbour, Å
        dist = torch.linalg.norm(vec, dim=-1)
        sh = o3.spherical_harmonics(self.irreps_sh, vec, normalize=True, normalization="component")
        basis = soft_one_hot_linspace(dist, 0.0, self.spec.cutoff, self.spec.num_basis, basis="smooth_finite",
                                      cutoff=True) * math.sqrt(self.spec.num_basis)
        envelope = soft_unit_step(10.0 * (1.0 - dist / self.spec.cutoff))
        z_edge = z.reshape(p * n * n, -1)[dst * n + src % n]  # z[p, i, j] for the edge j → i
        for layer in self.layers:
            h = layer(h, sh, basis, z_edge, envelope, src, dst)

        out = self.readout(h)
        s_update = out[:, :c].reshape(b, f, n, c)
        vecs = out[:, c:].reshape(p, n, 3, 3)  # (t, a, b), global Cartesian
        local = r.unsqueeze(-1).invert_apply_rotation(vecs)  # [P,N,3,3] in each residue's frame
        eye = torch.eye(3, dtype=s.dtype, device=s.device)
        rot = _gram_schmidt(eye[0] + 0.1 * local[..., 1, :], eye[1] + 0.1 * local[..., 2, :])
        trans = local[..., 0, :] * (self.trans_scale * 0.1)
        return s_update, Rigid(rot.reshape(b, f, n, 3, 3), trans.reshape(b, f, n, 3))


def build_e3nn_graph(spec: E3nnGraphSpec, dims: BackendDims) -> E3nnGraph:
    return E3nnGraph(spec, dims)


register_backend(E3nnGraphSpec, build_e3nn_graph)

__all__ = ["E3nnGraph", "build_e3nn_graph", "knn_edges"]
