"""StarMD: equivariance, causality, KV cache = full pass, windows, padding, every spec combination."""

from __future__ import annotations

import contextlib
import functools
import itertools
import time

import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from starmd.core.model import build_model
from starmd.core.rigid import Rigid, random_rotation
from starmd.core.specs import E3nnGraphSpec, FrameIPASpec, ModelSpec
from starmd.errors import InputError
from starmd.testing import assert_se3_equivariant

BACKENDS = {
    "frame_ipa": FrameIPASpec(heads=2, head_dim=8, query_points=2, value_points=2),
    "e3nn_graph": E3nnGraphSpec(k=4, num_basis=4, hidden_irreps="8x0e + 4x1o", lmax=1),
}
VARIANTS = ["joint", "factorized"]


@contextlib.contextmanager
def float64_default():
    """Build in float64 so e3nn's Clebsch–Gordan buffers are exact to float64 precision."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


@functools.cache
def _cached_model(backend, attention):
    return make_model(backend, attention, cache=False)


def make_model(backend="frame_ipa", attention="joint", dtype=torch.float64, cache=True, **kw):
    """A tiny model (seeded weights); float64 eval models are shared between tests (e3nn builds are slow)."""
    if cache and dtype == torch.float64 and not kw:
        return _cached_model(backend, attention)
    torch.manual_seed(0)
    spec = ModelSpec.tiny(backend=BACKENDS[backend], attention=attention, **kw)
    with float64_default():
        model = build_model(spec)
    return model.to(dtype).eval()


def chain(shape, gen, dtype=torch.float64) -> Rigid:
    """Protein-like frames: Cα random walk (steps 3.0–4.5 Å, so k-NN sets have no exact ties)."""
    steps = torch.randn(*shape, 3, dtype=dtype, generator=gen)
    length = 3.0 + 1.5 * torch.rand(*shape, 1, dtype=dtype, generator=gen)
    return Rigid(random_rotation(shape, dtype=dtype, generator=gen), (length * steps / steps.norm(dim=-1, keepdim=True)).cumsum(-2))


def inputs(b, l, n, seed, dtype=torch.float64, pad=0):
    gen = torch.Generator().manual_seed(seed)
    aatype = torch.randint(0, 21, (b, n), generator=gen)
    residue_index = torch.arange(n).expand(b, n)
    mask = torch.ones(b, n)
    if pad:
        mask[-1, n - pad:] = 0
    return dict(
        aatype=aatype, residue_index=residue_index, mask=mask, init=chain((b, n), gen, dtype),
        noisy=chain((b, l, n), gen, dtype), clean=chain((b, l, n), gen, dtype),
        t=torch.rand(b, l, dtype=dtype, generator=gen), dt=10 ** (torch.rand(b, l, dtype=dtype, generator=gen) * 3 - 2),
        tau=0.1 * torch.rand(b, dtype=dtype, generator=gen), gen=gen,
    )


def full_pass(model, x, **kw):
    cond = model.condition(x["aatype"], x["residue_index"], x["mask"], x["init"])
    return cond, model.denoise(cond, x["noisy"], x["clean"], x["t"], x["dt"], x["tau"], **kw)


# ---------------------------------------------------------------------------- equivariance
@pytest.mark.parametrize("backend,attention", list(itertools.product(BACKENDS, VARIANTS)))
@settings(max_examples=2, deadline=None, phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 8), l=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_model_is_se3_equivariant(backend, attention, n, l, seed):
    model = make_model(backend, attention)
    x = inputs(2, l, n, seed, pad=1 if n > 3 else 0)

    def fn(noisy, clean, init):
        cond = model.condition(x["aatype"], x["residue_index"], x["mask"], init)
        return model.denoise(cond, noisy, clean, x["t"], x["dt"], x["tau"])

    errs = assert_se3_equivariant(fn, [x["noisy"], x["clean"], x["init"]], atol=1e-6, trials=1, generator=x["gen"])
    assert max(errs.values()) < 1e-6


# ---------------------------------------------------------------------------- causality
@pytest.mark.parametrize("attention", VARIANTS)
def test_future_frames_leave_past_outputs_bit_identical(attention):
    model = make_model("frame_ipa", attention)
    b, l, n, cut = 2, 4, 6, 1
    x = inputs(b, l, n, 7, pad=2)
    _, ref = full_pass(model, x)
    y = dict(x)
    gen = torch.Generator().manual_seed(99)
    y["noisy"] = Rigid.cat([x["noisy"][:, : cut + 1], chain((b, l - cut - 1, n), gen)], dim=1)
    y["clean"] = Rigid.cat([x["clean"][:, : cut + 1], chain((b, l - cut - 1, n), gen)], dim=1)
    y["t"] = torch.cat([x["t"][:, : cut + 1], torch.rand(b, l - cut - 1, dtype=torch.float64)], 1)
    y["dt"] = torch.cat([x["dt"][:, : cut + 1], torch.rand(b, l - cut - 1, dtype=torch.float64)], 1)
    _, out = full_pass(model, y)
    for a, c in [(ref.rigids.rots, out.rigids.rots), (ref.rigids.trans, out.rigids.trans), (ref.torsions, out.torsions),
                 (ref.singles, out.singles)]:
        assert torch.equal(a[:, : cut + 1], c[:, : cut + 1])
        assert not torch.equal(a[:, cut + 1:], c[:, cut + 1:])  # the perturbation did reach later frames


# ---------------------------------------------------------------------------- KV cache
def cached_generation(model, cond, x, window=None, sink=1):
    b, l, _ = x["noisy"].shape
    cache = model.new_cache(b, window=window, sink=sink)
    outs, sizes = [], []
    with torch.no_grad():
        for f in range(l):
            before = cache.nbytes()
            outs.append(model.denoise_next(cond, x["noisy"][:, f], x["t"][:, f], x["dt"][:, f], x["tau"], cache))
            assert cache.nbytes() == before  # denoise_next never modifies the cache
            model.append_to_cache(cond, x["clean"][:, f], x["dt"][:, f], x["tau"], cache)
            sizes.append(cache.nbytes())
    return outs, sizes, cache


def max_error(outs, full):
    err = 0.0
    for f, o in enumerate(outs):
        for a, c in [(o.rigids.rots, full.rigids.rots[:, f]), (o.rigids.trans, full.rigids.trans[:, f]),
                     (o.torsions, full.torsions[:, f]), (o.singles, full.singles[:, f])]:
            err = max(err, (a - c).abs().max().item())
    return err


@pytest.mark.parametrize("backend,attention", [("frame_ipa", "joint"), ("frame_ipa", "factorized"), ("e3nn_graph", "joint")])
def test_cached_generation_equals_full_pass(backend, attention):
    model = make_model(backend, attention)
    x = inputs(2, 5, 6, 3, pad=1)
    cond, full = full_pass(model, x)
    outs, sizes, cache = cached_generation(model, cond, x)
    assert outs[0].rigids.shape == (2, 6) and outs[0].torsions.shape == (2, 6, 7, 2)
    assert max_error(outs, full) < 1e-5
    assert cache.num_frames == 5 and cache.next_frame == 5
    assert sizes == [sizes[0] * (i + 1) for i in range(5)]  # O(N·L·d): linear in frames


@pytest.mark.parametrize("attention", VARIANTS)
def test_windowed_cache_equals_windowed_full_pass_and_stays_constant(attention):
    model = make_model("frame_ipa", attention)
    window, sink, l = 2, 1, 6
    x = inputs(2, l, 5, 4)
    cond, full_w = full_pass(model, x, window=window, sink=sink)
    _, full = full_pass(model, x)
    outs, sizes, cache = cached_generation(model, cond, x, window=window, sink=sink)
    assert max_error(outs, full_w) < 1e-5
    assert (full_w.singles[:, -1] - full.singles[:, -1]).abs().max() > 1e-6  # the window did drop frames
    assert len(set(sizes[window + sink - 1:])) == 1 and sizes[-1] == (window + sink) * sizes[0]
    assert cache.frame_index.tolist() == [0, l - 2, l - 1]


def test_cache_state_roundtrip():
    model = make_model()
    x = inputs(1, 2, 4, 5)
    cond, _ = full_pass(model, x)
    _, _, cache = cached_generation(model, cond, x, window=1, sink=1)
    clone = type(cache).from_state_dict(cache.state_dict())
    a = model.denoise_next(cond, x["noisy"][:, 0], x["t"][:, 0], x["dt"][:, 0], x["tau"], cache)
    c = model.denoise_next(cond, x["noisy"][:, 0], x["t"][:, 0], x["dt"][:, 0], x["tau"], clone)
    assert torch.equal(a.singles, c.singles)


# ---------------------------------------------------------------------------- padding / batching
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_padding_and_batching_do_not_change_real_residues(backend):
    model = make_model(backend)
    l, n_small, n_big = 3, 5, 7
    x = inputs(2, l, n_big, 11, pad=n_big - n_small)
    _, both = full_pass(model, x)
    alone = {k: (v[1:, ..., :n_small] if k in ("aatype", "residue_index", "mask") else v) for k, v in x.items()}
    alone["init"] = x["init"][1:, :n_small]
    alone["noisy"], alone["clean"] = x["noisy"][1:, :, :n_small], x["clean"][1:, :, :n_small]
    alone["t"], alone["dt"], alone["tau"] = x["t"][1:], x["dt"][1:], x["tau"][1:]
    _, single = full_pass(model, alone)
    torch.testing.assert_close(both.rigids.trans[1:, :, :n_small], single.rigids.trans, rtol=0, atol=1e-9)
    torch.testing.assert_close(both.singles[1:, :, :n_small], single.singles, rtol=0, atol=1e-9)
    torch.testing.assert_close(both.torsions[1:, :, :n_small], single.torsions, rtol=0, atol=1e-9)


# ---------------------------------------------------------------------------- every combination builds and runs
@pytest.mark.parametrize("backend,attention,conditioning", list(itertools.product(BACKENDS, VARIANTS, ["learned", "precomputed"])))
def test_every_spec_combination_runs_forward_and_backward(backend, attention, conditioning):
    kw = dict(conditioning=conditioning)
    if conditioning == "precomputed":
        kw.update(precomputed_single_dim=6, precomputed_pair_dim=3)
    model = make_model(backend, attention, dtype=torch.float32, **kw).train()
    b, l, n = 2, 3, 5
    x = inputs(b, l, n, 1, dtype=torch.float32)
    extra = {}
    if conditioning == "precomputed":
        extra = dict(precomputed_single=torch.randn(b, n, 6), precomputed_pair=torch.randn(b, n, n, 3))
    cond = model.condition(x["aatype"], x["residue_index"], x["mask"], x["init"], **extra)
    out = model.denoise(cond, x["noisy"], x["clean"], x["t"][:, 0], x["dt"][:, 0], x["tau"])
    assert out.rigids.shape == (b, l, n) and out.torsions.shape == (b, l, n, 7, 2) and out.singles.shape == (b, l, n, 32)
    assert torch.allclose(out.torsions.norm(dim=-1), torch.ones(()))
    (out.rigids.trans.square().mean() + out.torsions.sum() + out.singles.mean()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_conditioning_errors_name_the_input():
    model = make_model(dtype=torch.float32)
    x = inputs(1, 1, 4, 0, dtype=torch.float32)
    with pytest.raises(InputError, match="aatype"):
        model.condition(x["aatype"] + 30, x["residue_index"], x["mask"], x["init"])
    with pytest.raises(InputError, match="precomputed"):
        model.condition(x["aatype"], x["residue_index"], x["mask"], x["init"], precomputed_single=torch.zeros(1, 4, 2))


def test_presets_parameter_counts_and_tiny_speed():
    default = build_model(ModelSpec())
    n_default = sum(p.numel() for p in default.parameters())
    assert 5e6 < n_default < 2e7, n_default  # hidden 256, 8 heads, 4 blocks, pair 128
    assert len(default.blocks) == 4 and default.spec.hidden == 256 and default.spec.heads == 8
    torch.manual_seed(0)
    tiny = build_model(ModelSpec.tiny())
    assert sum(p.numel() for p in tiny.parameters()) < 1e5
    b, l, n = 2, 8, 10
    x = inputs(b, l, n, 0, dtype=torch.float32)
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        cond = tiny.condition(x["aatype"], x["residue_index"], x["mask"], x["init"])
        out = tiny.denoise(cond, x["noisy"], x["clean"], x["t"], x["dt"], x["tau"])
        (out.rigids.trans.square().mean() + out.torsions.sum()).backward()
        best = min(best, time.perf_counter() - start)
    assert best < 2.0, best  # ~0.2 s on an idle core; loose bound for a shared CI machine


@pytest.mark.parametrize("head", ["categorical", "regression"])
def test_torsion_heads(head):
    from starmd.core.torsion_bins import expected_torsions

    model = make_model("frame_ipa", "joint", dtype=torch.float32, torsion_head=head, torsion_bins=12)
    b, l, n = 1, 2, 4
    x = inputs(b, l, n, 1, dtype=torch.float32)
    cond = model.condition(x["aatype"], x["residue_index"], x["mask"], x["init"])
    out = model.denoise(cond, x["noisy"], x["clean"], x["t"][:, 0], x["dt"][:, 0], x["tau"])
    assert out.torsions.shape == (b, l, n, 7, 2)
    assert torch.allclose(out.torsions.norm(dim=-1), torch.ones(()), atol=1e-5)
    if head == "categorical":
        assert out.torsion_logits.shape == (b, l, n, 7, 12) and out.torsions_unnormalized is None
        assert torch.allclose(out.torsions, expected_torsions(out.torsion_logits))
    else:
        assert out.torsion_logits is None and out.torsions_unnormalized.shape == (b, l, n, 7, 2)
