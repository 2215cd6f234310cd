"""Every registered geometry backend: SE(3) equivariance, padding, shapes, gradients.

The tests parametrize over the registry, so a new backend is covered by registering it.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from starmd.backends.base import BackendDims, apply_backend_output, build_backend, registered_backends
from starmd.core.rigid import Rigid, random_rotation
from starmd.testing import assert_se3_equivariant

DIMS = BackendDims(single=16, pair=8)
SPECS = {cls.__name__: cls for cls in registered_backends()}


def chain_rigids(b: int, f: int, n: int, gen: torch.Generator) -> Rigid:
    """Protein-like frames [B,F,N]: Cα on a random walk with 3.8 Å steps, random orientations."""
    steps = torch.randn(b, f, n, 3, dtype=torch.float64, generator=gen)
    steps = 3.8 * steps / steps.norm(dim=-1, keepdim=True)
    return Rigid(random_rotation((b, f, n), generator=gen), steps.cumsum(-2))


def make_inputs(b, f, n, seed):
    gen = torch.Generator().manual_seed(seed)
    s = torch.randn(b, f, n, DIMS.single, dtype=torch.float64, generator=gen)
    z = torch.randn(b, f, n, n, DIMS.pair, dtype=torch.float64, generator=gen)
    mask = torch.ones(b, f, n, dtype=torch.bool)
    return s, z, chain_rigids(b, f, n, gen), mask, gen


def build(name):
    torch.manual_seed(0)
    return build_backend(SPECS[name](), DIMS).double()


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 12), f=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_backend_is_se3_equivariant(name, n, f, seed):
    backend = build(name)
    s, z, rigids, mask, gen = make_inputs(2, f, n, seed)

    def fn(r):
        s_upd, r_upd = backend(s, z, r, mask)
        local = None if r_upd is None else (r_upd.rots, r_upd.trans)  # local-frame update: invariant
        return s_upd, apply_backend_output(r, r_upd), local

    errs = assert_se3_equivariant(fn, rigids, atol=1e-6, trials=2, generator=gen)
    assert max(errs.values()) < 1e-6


@pytest.mark.parametrize("name", sorted(SPECS))
def test_backend_shapes_and_gradients(name):
    backend = build(name).float()
    s, z, rigids, mask, _ = make_inputs(2, 3, 7, 1)
    s, z, rigids = s.float().requires_grad_(), z.float(), rigids.to(torch.float32)
    s_upd, r_upd = backend(s, z, rigids, mask)
    assert s_upd.shape == s.shape and s_upd.dtype == torch.float32
    assert r_upd is None or r_upd.shape == rigids.shape
    loss = s_upd.square().mean() + (0 if r_upd is None else r_upd.trans.square().mean())
    loss.backward()
    assert torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(SPECS))
def test_backend_padding_changes_nothing_real(name):
    backend = build(name)
    s, z, rigids, mask, gen = make_inputs(1, 2, 9, 3)
    mask[..., 6:] = False
    out1, r1 = backend(s, z, rigids, mask)
    # scramble everything that belongs to padded residues
    s2, z2 = s.clone(), z.clone()
    s2[..., 6:, :] = torch.randn_like(s2[..., 6:, :])
    z2[..., 6:, :, :] = 5.0
    z2[..., :, 6:, :] = -5.0
    trans = rigids.trans.clone()
    trans[..., 6:, :] = trans[..., 6:, :] + 1.0
    out2, r2 = backend(s2, z2, Rigid(rigids.rots, trans), mask)
    torch.testing.assert_close(out1[..., :6, :], out2[..., :6, :], rtol=0, atol=1e-10)
    if r1 is not None:
        torch.testing.assert_close(r1.trans[..., :6, :], r2.trans[..., :6, :], rtol=0, atol=1e-10)


# ---------------------------------------------------------------------------- a backend from outside the package
class _InvariantMLP(torch.nn.Module):
    """A toy backend: an MLP on the singles, no frame update (invariant by construction)."""

    def __init__(self, dims: BackendDims, width: int) -> None:
        super().__init__()
        self.mlp = torch.nn.Sequential(torch.nn.Linear(dims.single, width), torch.nn.SiLU(), torch.nn.Linear(width, dims.single))

    def forward(self, s, z, rigids, mask):
        return self.mlp(s) * mask[..., None].to(s.dtype), None


def test_a_registered_backend_is_selectable_from_a_spec_file_and_nothing_else(tmp_path, monkeypatch):
    from typing import Literal

    from pydantic import Field

    import starmd
    from starmd.backends import base
    from starmd.core import specs
    from starmd.errors import SpecError

    class ToySpec(specs.BackendSpec):
        kind: Literal["toy_mlp"] = "toy_mlp"
        width: int = Field(8, ge=1)

    # registered the way a plug-in would, then undone so other tests see the built-in registry
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    monkeypatch.setattr(specs, "_BACKEND_SPECS", dict(specs._BACKEND_SPECS))
    path = tmp_path / "train.yaml"
    path.write_text("model: {hidden: 32, heads: 4, blocks: 1, pair_dim: 16, time_embed_dim: 16,\n"
                    "        backend: {kind: toy_mlp, width: 12}}\nsteps: 3\n")
    with pytest.raises(SpecError, match=r"model\.backend: unknown backend kind 'toy_mlp'; registered: e3nn_graph, frame_ipa"):
        starmd.load_spec(path, starmd.TrainingSpec)
    base.register_backend(ToySpec, lambda spec, dims: _InvariantMLP(dims, spec.width))

    spec = starmd.load_spec(path, starmd.TrainingSpec)
    assert isinstance(spec.model.backend, ToySpec) and spec.model.backend.width == 12
    assert starmd.load_spec(path, starmd.TrainingSpec).model_dump() == spec.model_dump()
    saved = tmp_path / "saved.yaml"
    spec.save(saved)  # the subclass's own fields are written, not only `kind`
    assert "width: 12" in saved.read_text() and starmd.load_spec(saved, starmd.TrainingSpec) == spec
    switched = spec.with_overrides(["model.backend=frame_ipa"])
    assert isinstance(switched.model.backend, specs.FrameIPASpec)
    with pytest.raises(SpecError, match=r"model\.backend\.width: "):
        spec.with_overrides(["model.backend.width=0"])

    model = starmd.build_model(spec.model)
    assert any(isinstance(m, _InvariantMLP) for m in model.modules())
