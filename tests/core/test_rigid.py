"""Rigid: group laws and converters as hypothesis properties over random rotations and shapes."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from starmd.core.rigid import Rigid, random_rotation

shapes = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)
seeds = st.integers(0, 2**31 - 1)


def _rigid(shape, seed, dtype=torch.float64) -> Rigid:
    g = torch.Generator().manual_seed(seed)
    return Rigid(random_rotation(shape, dtype=dtype, generator=g), 5 * torch.randn(*shape, 3, dtype=dtype, generator=g))


def _close(a: Rigid, b: Rigid, tol=1e-9) -> bool:
    return torch.allclose(a.rots, b.rots, atol=tol) and torch.allclose(a.trans, b.trans, atol=tol)


@settings(max_examples=25, deadline=None)
@given(shapes, seeds)
def test_compose_with_inverse_is_identity(shape, seed):
    r = _rigid(shape, seed)
    ident = Rigid.identity(shape, dtype=torch.float64)
    assert _close(r.compose(r.invert()), ident)
    assert _close(r.invert().compose(r), ident)


@settings(max_examples=25, deadline=None)
@given(shapes, seeds)
def test_compose_is_associative_and_matches_4x4(shape, seed):
    a, b, c = _rigid(shape, seed), _rigid(shape, seed + 1), _rigid(shape, seed + 2)
    assert _close(a.compose(b).compose(c), a.compose(b.compose(c)))
    assert torch.allclose(a.compose(b).to_4x4(), a.to_4x4() @ b.to_4x4(), atol=1e-9)
    assert _close(Rigid.from_4x4(a.to_4x4()), a)


@settings(max_examples=25, deadline=None)
@given(shapes, seeds)
def test_apply_invert_apply_round_trip(shape, seed):
    r = _rigid(shape, seed)
    x = torch.randn(*shape, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    assert torch.allclose(r.invert_apply(r.apply(x)), x, atol=1e-9)
    assert torch.allclose(r.apply(x), (r.rots @ x.unsqueeze(-1)).squeeze(-1) + r.trans, atol=1e-12)
    # distances are preserved
    y = torch.randn(*shape, 3, dtype=torch.float64)
    assert torch.allclose((r.apply(x) - r.apply(y)).norm(dim=-1), (x - y).norm(dim=-1), atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(shapes, seeds)
def test_quaternion_and_axis_angle_round_trips(shape, seed):
    r = _rigid(shape, seed)
    q = r.to_quaternion()
    assert torch.allclose(q.norm(dim=-1), torch.ones(shape, dtype=torch.float64), atol=1e-12)
    assert (q[..., 0] >= 0).all()
    assert torch.allclose(Rigid.from_quaternion(q, r.trans).rots, r.rots, atol=1e-9)
    assert torch.allclose(Rigid.from_axis_angle(r.to_axis_angle(), r.trans).rots, r.rots, atol=1e-8)


@settings(max_examples=25, deadline=None)
@given(shapes, seeds)
def test_from_3_points_is_a_proper_frame(shape, seed):
    g = torch.Generator().manual_seed(seed)
    n, ca, c = (3 * torch.randn(*shape, 3, dtype=torch.float64, generator=g) for _ in range(3))
    r = Rigid.from_3_points(n, ca, c)
    eye = torch.eye(3, dtype=torch.float64).expand(*shape, 3, 3)
    assert torch.allclose(r.rots.transpose(-1, -2) @ r.rots, eye, atol=1e-9)
    assert torch.allclose(torch.linalg.det(r.rots), torch.ones(shape, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(r.trans, ca)
    local_c, local_n = r.invert_apply(c), r.invert_apply(n)
    assert torch.allclose(local_c[..., 1:], torch.zeros_like(local_c[..., 1:]), atol=1e-9) and (local_c[..., 0] > 0).all()
    assert torch.allclose(local_n[..., 2], torch.zeros_like(local_n[..., 2]), atol=1e-9) and (local_n[..., 1] >= 0).all()


def test_float64_stays_float64():
    r = _rigid((4,), 0)
    x = torch.randn(4, 3, dtype=torch.float64)
    for out in (r.compose(r).rots, r.invert().trans, r.apply(x), r.invert_apply(x), r.to_quaternion(), r.to_axis_angle(),
                r.to_4x4(), Rigid.from_quaternion(r.to_quaternion()).rots, Rigid.from_3_points(x, x.flip(0), x + 1).rots):
        assert out.dtype == torch.float64
