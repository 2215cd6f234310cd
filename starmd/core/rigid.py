"""Rigid transforms of residue frames.

A :class:`Rigid` holds rotation matrices ``rots`` of shape ``[*, 3, 3]`` and translations
``trans`` of shape ``[*, 3]`` (any batch shape ``*``). It maps local coordinates to global ones:
``x_global = rots @ x_local + trans``. Units of ``trans`` are whatever the caller uses (Å in files
and the public API, nm inside the diffuser). Quaternions and axis-angle vectors are converters
only; rotation matrices are the stored representation. Every operation keeps the input dtype
(float64 in, float64 out).

Backbone frame convention (``from_3_points(n, ca, c)``): origin at Cα, x axis along Cα→C,
N lies in the xy plane with positive y, z = x × y.
"""

from __future__ import annotations

from collections.abc import Sequence

import roma
import torch

_EPS = 1e-8


def _normalize(v: torch.Tensor) -> torch.Tensor:
    """Unit vectors along the last axis; ``v``: [*, 3]."""
    return v / torch.linalg.norm(v, dim=-1, keepdim=True).clamp_min(_EPS)


class Rigid:
    """A batch of rigid transforms (rotation matrices [*, 3, 3], translations [*, 3])."""

    __slots__ = ("rots", "trans")

    def __init__(self, rots: torch.Tensor, trans: torch.Tensor) -> None:
        if rots.shape[-2:] != (3, 3) or trans.shape[-1] != 3:
            raise ValueError(f"Rigid expects rots [*,3,3] and trans [*,3], got {tuple(rots.shape)} and {tuple(trans.shape)}")
        if rots.shape[:-2] != trans.shape[:-1]:
            shape = torch.broadcast_shapes(rots.shape[:-2], trans.shape[:-1])
            rots = rots.expand(*shape, 3, 3)
            trans = trans.expand(*shape, 3)
        self.rots = rots
        self.trans = trans

    # ------------------------------------------------------------------ construction
    @classmethod
    def identity(cls, shape: Sequence[int], dtype=torch.float32, device=None) -> Rigid:
        """Identity transforms of batch shape ``shape``."""
        rots = torch.eye(3, dtype=dtype, device=device).expand(*shape, 3, 3).clone()
        trans = torch.zeros(*shape, 3, dtype=dtype, device=device)
        return cls(rots, trans)

    @classmethod
    def from_3_points(cls, n: torch.Tensor, ca: torch.Tensor, c: torch.Tensor) -> Rigid:
        """Backbone frames from N, Cα, C coordinates, each [*, 3] (Gram–Schmidt; see module doc)."""
        e0 = _normalize(c - ca)
        v1 = n - ca
        e1 = _normalize(v1 - (v1 * e0).sum(-1, keepdim=True) * e0)
        e2 = torch.linalg.cross(e0, e1, dim=-1)
        rots = torch.stack([e0, e1, e2], dim=-1)
        return cls(rots, ca.clone())

    @classmethod
    def from_4x4(cls, m: torch.Tensor) -> Rigid:
        """From homogeneous matrices [*, 4, 4]."""
        return cls(m[..., :3, :3].clone(), m[..., :3, 3].clone())

    @classmethod
    def from_quaternion(cls, quat: torch.Tensor, trans: torch.Tensor | None = None, normalize: bool = True) -> Rigid:
        """From quaternions [*, 4] in (w, x, y, z) order and optional translations [*, 3]."""
        if normalize:
            quat = _normalize(quat)
        xyzw = torch.cat([quat[..., 1:], quat[..., :1]], dim=-1)
        rots = roma.unitquat_to_rotmat(xyzw)
        if trans is None:
            trans = torch.zeros(*quat.shape[:-1], 3, dtype=quat.dtype, device=quat.device)
        return cls(rots, trans)

    @classmethod
    def from_axis_angle(cls, rotvec: torch.Tensor, trans: torch.Tensor | None = None) -> Rigid:
        """From rotation vectors [*, 3] (axis × angle in radians) and optional translations [*, 3]."""
        rots = roma.rotvec_to_rotmat(rotvec)
        if trans is None:
            trans = torch.zeros_like(rotvec)
        return cls(rots, trans)

    # ------------------------------------------------------------------ conversion
    def to_4x4(self) -> torch.Tensor:
        """Homogeneous matrices [*, 4, 4]."""
        m = torch.zeros(*self.shape, 4, 4, dtype=self.dtype, device=self.device)
        m[..., :3, :3] = self.rots
        m[..., :3, 3] = self.trans
        m[..., 3, 3] = 1.0
        return m

    def to_quaternion(self) -> torch.Tensor:
        """Unit quaternions [*, 4] in (w, x, y, z) order with w ≥ 0."""
        xyzw = roma.rotmat_to_unitquat(self.rots)
        wxyz = torch.cat([xyzw[..., 3:], xyzw[..., :3]], dim=-1)
        return torch.where(wxyz[..., :1] < 0, -wxyz, wxyz)

    def to_axis_angle(self) -> torch.Tensor:
        """Rotation vectors [*, 3] (axis × angle, angle in [0, π])."""
        return roma.rotmat_to_rotvec(self.rots)

    # ------------------------------------------------------------------ group operations
    def compose(self, other: Rigid) -> Rigid:
        """``self ∘ other``: apply ``other`` first, then ``self``."""
        rots = self.rots @ other.rots
        trans = (self.rots @ other.trans.unsqueeze(-1)).squeeze(-1) + self.trans
        return Rigid(rots, trans)

    def invert(self) -> Rigid:
        """The inverse transform."""
        rt = self.rots.transpose(-1, -2)
        return Rigid(rt, -(rt @ self.trans.unsqueeze(-1)).squeeze(-1))

    def apply(self, points: torch.Tensor) -> torch.Tensor:
        """Local → global: ``points`` [*, 3] broadcast against the batch shape → [*, 3]."""
        return torch.einsum("...ij,...j->...i", self.rots, points) + self.trans

    def invert_apply(self, points: torch.Tensor) -> torch.Tensor:
        """Global → local: ``points`` [*, 3] broadcast against the batch shape → [*, 3]."""
        return torch.einsum("...ji,...j->...i", self.rots, points - self.trans)

    def apply_rotation(self, vectors: torch.Tensor) -> torch.Tensor:
        """Rotate vectors [*, 3] (no translation)."""
        return torch.einsum("...ij,...j->...i", self.rots, vectors)

    def invert_apply_rotation(self, vectors: torch.Tensor) -> torch.Tensor:
        """Rotate vectors [*, 3] by the inverse rotation."""
        return torch.einsum("...ji,...j->...i", self.rots, vectors)

    # ------------------------------------------------------------------ tensor-like helpers
    @property
    def shape(self) -> torch.Size:
        return self.trans.shape[:-1]

    @property
    def dtype(self) -> torch.dtype:
        return self.trans.dtype

    @property
    def device(self) -> torch.device:
        return self.trans.device

    def __getitem__(self, idx) -> Rigid:
        if not isinstance(idx, tuple):
            idx = (idx,)
        return Rigid(self.rots[idx + (slice(None), slice(None))], self.trans[idx + (slice(None),)])

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"Rigid(shape={tuple(self.shape)}, dtype={self.dtype})"

    def to(self, *args, **kwargs) -> Rigid:
        return Rigid(self.rots.to(*args, **kwargs), self.trans.to(*args, **kwargs))

    def detach(self) -> Rigid:
        return Rigid(self.rots.detach(), self.trans.detach())

    def clone(self) -> Rigid:
        return Rigid(self.rots.clone(), self.trans.clone())

    def unsqueeze(self, dim: int) -> Rigid:
        d = dim if dim >= 0 else dim - 1
        return Rigid(self.rots.unsqueeze(d - 1 if dim < 0 else d), self.trans.unsqueeze(d))

    def expand(self, *shape: int) -> Rigid:
        return Rigid(self.rots.expand(*shape, 3, 3), self.trans.expand(*shape, 3))

    def reshape(self, *shape: int) -> Rigid:
        return Rigid(self.rots.reshape(*shape, 3, 3), self.trans.reshape(*shape, 3))

    def scale_translation(self, factor: float) -> Rigid:
        """Same rotations, translations multiplied by ``factor`` (e.g. 0.1 for Å → nm)."""
        return Rigid(self.rots, self.trans * factor)

    def with_translation(self, trans: torch.Tensor) -> Rigid:
        return Rigid(self.rots, trans)

    def with_rotation(self, rots: torch.Tensor) -> Rigid:
        return Rigid(rots, self.trans)

    @staticmethod
    def cat(rigids: Sequence[Rigid], dim: int = 0) -> Rigid:
        d = dim if dim >= 0 else dim - 1
        return Rigid(torch.cat([r.rots for r in rigids], d - 1 if dim < 0 else d), torch.cat([r.trans for r in rigids], d))

    @staticmethod
    def stack(rigids: Sequence[Rigid], dim: int = 0) -> Rigid:
        d = dim if dim >= 0 else dim - 1
        return Rigid(torch.stack([r.rots for r in rigids], d - 1 if dim < 0 else d), torch.stack([r.trans for r in rigids], d))


def random_rotation(shape: Sequence[int] = (), dtype=torch.float64, generator: torch.Generator | None = None) -> torch.Tensor:
    """Haar-uniform random rotation matrices [*shape, 3, 3] (via normalised Gaussian quaternions)."""
    q = torch.randn(*shape, 4, dtype=dtype, generator=generator)
    return Rigid.from_quaternion(q).rots


__all__ = ["Rigid", "random_rotation"]
