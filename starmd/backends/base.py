"""The geometry-backend seam: the :class:`GeometryBackend` protocol and the backend registry.

A geometry backend updates the invariant single features and the rigid frames of the residues of
each frame, every frame independently (``F`` frames are a batch dimension for the backend).

Contract (every backend, checked by ``tests/backends`` for everything in the registry):

``forward(s, z, rigids, mask) -> (s_update, rigid_update)``

- ``s``: [B, F, N, C] invariant single features (float);
- ``z``: [B, F, N, N, Cz] invariant pair features of the same frame;
- ``rigids``: :class:`~starmd.core.rigid.Rigid` of shape [B, F, N], translations in Å;
- ``mask``: [B, F, N] (bool or float; 1 = real residue, 0 = padding).

Returns

- ``s_update``: [B, F, N, C], **invariant** under a global rotation/translation of ``rigids``;
  the trunk adds it to ``s``. Padded residues never change real residues' outputs.
- ``rigid_update``: ``None`` (the backend leaves the frame update to the trunk), or a
  :class:`Rigid` [B, F, N] expressed **in each residue's local frame**, to be composed on the
  right: ``new = rigids.compose(rigid_update)`` (translation in Å). Being computed from
  invariant quantities (or rotated into the local frame), it is invariant itself, so the
  composed frames are SE(3)-equivariant: ``(g∘T)∘u = g∘(T∘u)``.

Registry: each backend spec class (a subclass of :class:`starmd.core.specs.BackendSpec` with a
``Literal`` ``kind``) maps to a builder ``builder(spec, dims: BackendDims) -> nn.Module``. The built-in backends live in
:mod:`starmd.backends.frame_ipa` and :mod:`starmd.backends.e3nn_graph`; they register themselves
when imported, and :func:`build_backend` imports them lazily, so ``starmd.core`` only ever imports
this module. A new backend registers ``register_backend(MySpec, build_my_backend)``; it is then
selectable as ``model.backend: {kind: ...}`` in any spec file and covered by the equivariance tests
(they parametrize over :func:`registered_backends`). Nothing else changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from starmd.core.rigid import Rigid
from starmd.core.specs import register_backend_spec
from starmd.errors import SpecError

_BUILTIN_MODULES = ("starmd.backends.frame_ipa", "starmd.backends.e3nn_graph")


@dataclass(frozen=True)
class BackendDims:
    """Sizes a backend is built for.

    ``single``: channels C of ``s``; ``pair``: channels Cz of ``z``; ``trans_scale``: Å per unit of
    a raw translation output (backends that emit translations scale them by this).
    """

    single: int
    pair: int
    trans_scale: float = 10.0


@runtime_checkable
class GeometryBackend(Protocol):
    """One SE(3)-equivariant geometry layer applied to every frame independently (see module doc)."""

    def forward(
        self, s: torch.Tensor, z: torch.Tensor, rigids: Rigid, mask: torch.Tensor
    ) -> tuple[torch.Tensor, Rigid | None]:
        ...


Builder = Callable[[object, BackendDims], nn.Module]
_REGISTRY: dict[type, Builder] = {}


def register_backend(spec_cls: type, builder: Builder) -> None:
    """Map the backend spec class ``spec_cls`` to ``builder(spec, dims) -> nn.Module``.

    ``spec_cls`` subclasses :class:`starmd.core.specs.BackendSpec` with a ``Literal`` ``kind``; once
    registered, ``model.backend: {kind: ...}`` selects it from YAML, JSON and ``--set``. Registering
    the same class again replaces its builder (handy in tests).
    """
    register_backend_spec(spec_cls)
    _REGISTRY[spec_cls] = builder


def _load_builtin() -> None:
    for name in _BUILTIN_MODULES:
        importlib.import_module(name)


def registered_backends() -> dict[type, Builder]:
    """A copy of the registry: backend spec class → builder (built-in backends included)."""
    _load_builtin()
    return dict(_REGISTRY)


def build_backend(spec, dims: BackendDims) -> nn.Module:
    """Build the geometry backend that ``spec`` describes, for the sizes in ``dims``."""
    _load_builtin()
    builder = _REGISTRY.get(type(spec))
    if builder is None:
        known = sorted(c.__name__ for c in _REGISTRY)
        raise SpecError(f"backend: no backend registered for {type(spec).__name__}; registered: {known}")
    return builder(spec, dims)


def apply_backend_output(rigids: Rigid, rigid_update: Rigid | None) -> Rigid:
    """The frames after a backend's update: ``rigids ∘ rigid_update`` (or ``rigids`` for None)."""
    return rigids if rigid_update is None else rigids.compose(rigid_update)


def masked_fill_value(dtype: torch.dtype) -> float:
    """A large negative logit for masked keys that stays finite in ``dtype`` (exp underflows to 0)."""
    return -1e9 if dtype in (torch.float32, torch.float64) else -1e4


__all__ = [
    "BackendDims", "GeometryBackend", "register_backend", "registered_backends", "build_backend",
    "apply_backend_output", "masked_fill_value",
]
