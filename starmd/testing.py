"""Public test helpers: the one SE(3)-equivariance checker every backend and model test uses.

``assert_se3_equivariant(fn, rigids)`` draws random global transforms g (Haar rotation +
Gaussian translation), calls ``fn`` on the original and on the transformed rigids, and checks that

- every :class:`~starmd.core.rigid.Rigid` in the output transforms as ``g ∘ out``
  (rotations to ``atol``; translations, in the caller's units, to ``atol``);
- every tensor in the output is invariant (to ``atol``).

Outputs may be a Rigid, a tensor, None, or any nesting of tuples, lists, dicts and dataclasses of
those (e.g. ``ModelOutput``). Work in float64 so 1e-6 is meaningful; client code (a new backend)
can call this directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch

from starmd.core.rigid import Rigid, random_rotation


def random_se3(dtype: torch.dtype = torch.float64, generator: torch.Generator | None = None,
               translation_scale: float = 10.0, device=None) -> Rigid:
    """One random rigid transform (shape ``[]``): Haar rotation, translation ~ N(0, scale²) per axis."""
    rot = random_rotation((), dtype=dtype, generator=generator)
    trans = torch.randn(3, dtype=dtype, generator=generator) * translation_scale
    return Rigid(rot.to(device), trans.to(device))


def _transform(g: Rigid, r: Rigid) -> Rigid:
    """``g ∘ r`` with a single transform ``g`` broadcast over ``r``'s batch shape."""
    rots = g.rots.to(r.dtype) @ r.rots
    trans = torch.einsum("ij,...j->...i", g.rots.to(r.dtype), r.trans) + g.trans.to(r.dtype)
    return Rigid(rots, trans)


def _leaves(obj: Any, path: str = "out"):
    if obj is None:
        return
    if isinstance(obj, (Rigid, torch.Tensor)):
        yield path, obj
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _leaves(getattr(obj, f.name), f"{path}.{f.name}")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, f"{path}[{k!r}]")
    elif isinstance(obj, (tuple, list)):
        for i, v in enumerate(obj):
            yield from _leaves(v, f"{path}[{i}]")


def assert_se3_equivariant(
    fn: Callable[..., Any],
    rigids: Rigid | Sequence[Rigid],
    *,
    atol: float = 1e-6,
    trials: int = 1,
    generator: torch.Generator | None = None,
    translation_scale: float = 10.0,
) -> dict[str, float]:
    """Check that ``fn`` is SE(3)-equivariant in its Rigid arguments; return the largest errors.

    ``rigids``: one Rigid (``fn(rigids)``) or a sequence of them (``fn(*rigids)``); all are moved
    by the same global transform g. Returns ``{"rotation": ..., "translation": ..., "invariant":
    ...}`` (max absolute errors over ``trials`` transforms); raises AssertionError naming the
    output leaf and the error when any exceeds ``atol``. Tensors that are neither Rigid outputs
    nor floating point (e.g. integer indices) must match exactly.
    """
    single = isinstance(rigids, Rigid)
    args = [rigids] if single else list(rigids)
    if not args:
        raise ValueError("assert_se3_equivariant needs at least one Rigid argument")
    ref = fn(*args)
    ref_leaves = list(_leaves(ref))
    if not ref_leaves:
        raise ValueError("fn returned no Rigid or tensor outputs")
    errors = {"rotation": 0.0, "translation": 0.0, "invariant": 0.0}
    dtype, device = args[0].dtype, args[0].device
    for _ in range(trials):
        g = random_se3(dtype=dtype, generator=generator, translation_scale=translation_scale, device=device)
        out = fn(*[_transform(g, r) for r in args])
        out_leaves = list(_leaves(out))
        if [p for p, _ in out_leaves] != [p for p, _ in ref_leaves]:
            raise AssertionError("fn returned differently structured outputs for transformed inputs")
        for (path, a), (_, b) in zip(ref_leaves, out_leaves, strict=True):
            if isinstance(a, Rigid):
                expect = _transform(g, a)
                er = (b.rots - expect.rots).abs().max().item() if a.rots.numel() else 0.0
                et = (b.trans - expect.trans).abs().max().item() if a.trans.numel() else 0.0
                errors["rotation"] = max(errors["rotation"], er)
                errors["translation"] = max(errors["translation"], et)
                if not (er <= atol and et <= atol):
                    raise AssertionError(f"{path}: not equivariant (rotation error {er:.3g}, translation error {et:.3g}, atol {atol:g})")
            else:
                if a.shape != b.shape:
                    raise AssertionError(f"{path}: shape changed under the transform ({tuple(a.shape)} vs {tuple(b.shape)})")
                if not a.is_floating_point():
                    if not torch.equal(a, b):
                        raise AssertionError(f"{path}: integer output changed under the transform")
                    continue
                e = (a - b).abs().max().item() if a.numel() else 0.0
                errors["invariant"] = max(errors["invariant"], e)
                if not e <= atol:
                    raise AssertionError(f"{path}: not invariant (max error {e:.3g}, atol {atol:g})")
    return errors


__all__ = ["assert_se3_equivariant", "random_se3"]
