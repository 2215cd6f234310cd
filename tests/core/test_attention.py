"""Space×time attention pieces: block-causal visibility, 2D RoPE, KV cache bookkeeping, masks."""

from __future__ import annotations

import pytest
import torch

from starmd.core.attention import CachedKV, KVCache, Rotary2D, SpaceTimeLayer, TokenLayout, frame_visibility, kv_buffer_frames


def test_block_causal_visibility_of_clean_plus_noisy_copies():
    l = 3
    f = torch.arange(l)
    frames = torch.cat([f, f])
    noisy = torch.tensor([False] * l + [True] * l)
    vis = frame_visibility(frames, noisy, frames, noisy).int()
    expected = torch.tensor([
        # clean 0 1 2 | noisy 0 1 2
        [1, 0, 0, 0, 0, 0],  # clean 0
        [1, 1, 0, 0, 0, 0],  # clean 1
        [1, 1, 1, 0, 0, 0],  # clean 2
        [0, 0, 0, 1, 0, 0],  # noisy 0: only itself
        [1, 0, 0, 0, 1, 0],  # noisy 1: clean 0 + itself
        [1, 1, 0, 0, 0, 1],  # noisy 2: clean 0, 1 + itself
    ])
    assert torch.equal(vis, expected)


def test_window_and_sink_visibility():
    frames = torch.arange(6)
    clean = torch.zeros(6, dtype=torch.bool)
    vis = frame_visibility(frames, clean, frames, clean, window=2, sink=1)
    assert vis[5].nonzero().squeeze(-1).tolist() == [0, 3, 4, 5]
    assert vis[2].nonzero().squeeze(-1).tolist() == [0, 1, 2]


def test_rotary_scores_depend_on_offsets_only_and_keep_norms():
    torch.manual_seed(0)
    rope = Rotary2D(16).double()
    q = torch.randn(1, 3, 4, 2, 16, dtype=torch.float64)  # [B,F,N,H,d]
    k = torch.randn(1, 3, 4, 2, 16, dtype=torch.float64)
    res, fr = torch.tensor([[0, 1, 2, 5]]), torch.tensor([0, 1, 2])
    qa, ka = rope(q, res, fr), rope(k, res, fr)
    qb, kb = rope(q, res + 17, fr + 40), rope(k, res + 17, fr + 40)
    sa = torch.einsum("bfnhd,bgmhd->bhfngm", qa, ka)
    sb = torch.einsum("bfnhd,bgmhd->bhfngm", qb, kb)
    torch.testing.assert_close(sa, sb, rtol=0, atol=1e-10)
    torch.testing.assert_close(qa.norm(dim=-1), q.norm(dim=-1))
    with pytest.raises(ValueError):
        Rotary2D(6)


def test_cached_kv_puts_the_new_frame_in_free_capacity_without_copying_the_cache():
    held = torch.randn(1, 2, 5, 3, 4)
    k_new, v_new = torch.randn(1, 2, 1, 3, 4), torch.randn(1, 2, 1, 3, 4)
    buf_k, buf_v = held.clone(), held.clone() + 1
    k, v = CachedKV(buf_k, buf_v, 3).followed_by(k_new, v_new)
    torch.testing.assert_close(k, torch.cat([held[:, :, :3], k_new], 2), rtol=0, atol=0)
    torch.testing.assert_close(v, torch.cat([held[:, :, :3] + 1, v_new], 2), rtol=0, atol=0)
    assert k.data_ptr() == buf_k.data_ptr() and v.data_ptr() == buf_v.data_ptr()  # views, not copies
    torch.testing.assert_close(buf_k[:, :, :3], held[:, :, :3], rtol=0, atol=0)  # held frames untouched
    # no free slot left: the same values by concatenation
    full_k, full_v = held[:, :, :3].clone(), held[:, :, :3].clone()
    k2, _ = CachedKV(full_k, full_v, 3).followed_by(k_new, v_new)
    torch.testing.assert_close(k2, torch.cat([held[:, :, :3], k_new], 2), rtol=0, atol=0)
    assert k2.data_ptr() != full_k.data_ptr()


def test_unbounded_cache_holds_every_frame_and_grows_its_buffer_geometrically():
    cache = KVCache(batch_size=1)
    frames = [torch.randn(1, 2, 1, 3, 4) for _ in range(300)]
    moves, where = 0, None
    for f in frames:
        cache.append([(f, -f)])
        moves += where is not None and cache.keys[0].data_ptr() != where  # the buffer was reallocated (copied)
        where = cache.keys[0].data_ptr()
        assert cache.capacity >= cache.num_frames + 1  # a free slot for the frame denoised next
    held = cache.past()[0]
    torch.testing.assert_close(held.keys[:, :, :300], torch.cat(frames, 2), rtol=0, atol=0)
    torch.testing.assert_close(held.values[:, :, :300], -torch.cat(frames, 2), rtol=0, atol=0)
    assert held.frames == 300 and cache.frame_index.tolist() == list(range(300))
    assert moves <= 5  # 64 → 129 → 194 → 259 → 324 frames: copied 4 times, not once per append
    per_frame = 2 * 2 * 3 * 4 * 4  # keys + values, float32
    assert cache.nbytes() == 300 * per_frame
    assert cache.allocated_nbytes() <= 1.25 * cache.nbytes() + 66 * per_frame
    restored = KVCache.from_state_dict(cache.state_dict())
    torch.testing.assert_close(restored.past()[0].keys[:, :, :300], torch.cat(frames, 2), rtol=0, atol=0)
    assert restored.capacity > restored.num_frames == 300


@pytest.mark.parametrize("n_frames", [1, 63, 64, 65, 300, 1000])
def test_kv_buffer_frames_predicts_the_capacity_a_cache_reaches(n_frames):
    cache, peak = KVCache(batch_size=1), 0
    kv = [(torch.zeros(1, 1, 1, 1, 1), torch.zeros(1, 1, 1, 1, 1))]
    for _ in range(n_frames):
        before = cache.capacity
        cache.append(kv)
        peak = max(peak, cache.capacity + (before if cache.capacity != before else 0))
    assert kv_buffer_frames(n_frames) == (cache.capacity, peak)
    assert n_frames < cache.capacity <= 1.25 * n_frames + 66


def test_kv_cache_keeps_sink_and_last_window_frames():
    cache = KVCache(batch_size=1, window=3, sink=2)
    kv = [(torch.zeros(1, 2, 1, 4, 8), torch.zeros(1, 2, 1, 4, 8))]
    sizes = []
    for _ in range(10):
        cache.append(kv)
        sizes.append(cache.nbytes())
    assert cache.frame_index.tolist() == [0, 1, 7, 8, 9]
    assert cache.next_frame == 10 and cache.num_frames == 5
    assert sizes[4:] == [5 * 2 * 2 * 4 * 8 * 4] * 6
    unbounded = KVCache(batch_size=1)
    for _ in range(4):
        unbounded.append(kv)
    assert unbounded.frame_index.tolist() == [0, 1, 2, 3] and unbounded.effective_sink == 0
    with pytest.raises(ValueError):
        KVCache(batch_size=1, window=0)


@pytest.mark.parametrize("variant", ["joint", "factorized"])
def test_padded_tokens_do_not_reach_real_tokens(variant):
    torch.manual_seed(0)
    layer = SpaceTimeLayer(16, 2, 8, variant).double()
    b, f, n = 1, 4, 5
    x = torch.randn(b, f, n, 16, dtype=torch.float64)
    c = torch.randn(b, f, 8, dtype=torch.float64)
    mask = torch.tensor([[True, True, True, False, False]])
    layout = TokenLayout(frame_index=torch.tensor([0, 1, 0, 1]), noisy=torch.tensor([False, False, True, True]),
                         residue_index=torch.arange(n)[None], mask=mask)
    y, kv = layer(x, c, layout)
    x2 = x.clone()
    x2[:, :, 3:] = torch.randn_like(x2[:, :, 3:]) * 100
    y2, _ = layer(x2, c, layout)
    assert torch.equal(y[:, :, :3], y2[:, :, :3])
    assert torch.isfinite(y2).all()
    assert len(kv) == 1 and kv[0][0].shape == (b, 2, f, n, 8)
