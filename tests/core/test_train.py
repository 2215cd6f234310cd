"""Training: overfitting, exact resume, DDP equivalence, conditioning reaches the model, clean failures."""

from __future__ import annotations

import os
import socket

import pytest
import torch

from starmd.core.checkpoint import read_checkpoint
from starmd.core.data import WindowDataset, collate_windows
from starmd.core.diffusion import SE3Diffuser
from starmd.core.model import build_model
from starmd.core.objective import DenoiseWrapper, compute_loss
from starmd.core.rigid import Rigid
from starmd.core.specs import ModelSpec, apply_overrides
from starmd.core.train import Trainer, learning_rate, train
from starmd.errors import CheckpointError, TrainingError


def test_learning_rate_schedule(tiny_training_spec):
    spec = apply_overrides(tiny_training_spec, ["steps=100", "warmup_steps=10", "lr=1e-3", "min_lr_ratio=0.1"])
    assert learning_rate(spec, 0) == pytest.approx(1e-4)
    assert learning_rate(spec, 9) == pytest.approx(1e-3)
    assert learning_rate(spec, 10) == pytest.approx(1e-3)
    assert learning_rate(spec, 55) == pytest.approx(1e-4 + 0.5 * 9e-4)  # half-way down the cosine
    assert learning_rate(spec, 100) == pytest.approx(1e-4)


def test_tiny_model_overfits_one_window(tiny_training_spec):
    """Same window and same noise every step: the loss must fall at least 10x."""
    torch.manual_seed(0)
    spec = apply_overrides(tiny_training_spec, ["data.window=2"])
    batch = collate_windows([WindowDataset(spec.data, "train")[0]])
    model = DenoiseWrapper(build_model(spec.model))
    diffuser = SE3Diffuser(spec.diffusion)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    first = None
    for _ in range(200):
        opt.zero_grad()
        loss, _ = compute_loss(model, diffuser, batch, spec, [123])
        first = float(loss.detach()) if first is None else first
        if float(loss.detach()) < first / 10:
            break
        loss.backward()
        opt.step()
    assert float(loss) < first / 10, (first, float(loss))


def _weights(path):
    return read_checkpoint(path).model_state


def test_resume_is_identical_to_uninterrupted(tiny_training_spec, tmp_path):
    straight = train(apply_overrides(tiny_training_spec, [f"out_dir={tmp_path / 'a'}"]), progress=False)
    half = apply_overrides(tiny_training_spec, [f"out_dir={tmp_path / 'b'}", "steps=2"])
    train(half, progress=False)
    resumed = train(apply_overrides(tiny_training_spec, [f"out_dir={tmp_path / 'b'}"]),
                    resume=tmp_path / "b" / "checkpoints" / "last.ckpt", progress=False)
    assert straight.step == resumed.step == 4
    a, b = _weights(straight.last_checkpoint), _weights(resumed.last_checkpoint)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=0)
    # the EMA and the log are continuous too
    assert [r["step"] for r in resumed.history] == [1, 2, 3, 4]
    assert (tmp_path / "b" / "loss_curve.png").exists() and (tmp_path / "b" / "metrics.jsonl").exists()


def test_resume_refuses_other_model_spec(tiny_training_spec, tmp_path):
    train(apply_overrides(tiny_training_spec, ["steps=1"]), progress=False)
    other = apply_overrides(tiny_training_spec, ["model.hidden=64"])
    with pytest.raises(CheckpointError, match="model.hidden: checkpoint 32 vs spec 64"):
        Trainer(other, resume=os.path.join(tiny_training_spec.out_dir, "checkpoints", "last.ckpt"), progress=False)


def test_context_noise_and_dt_reach_the_model():
    torch.manual_seed(0)
    model = build_model(ModelSpec.tiny()).double()
    b, l, n = 1, 3, 5
    rots = Rigid.from_axis_angle(torch.randn(b, l, n, 3, dtype=torch.float64)).rots
    trans = torch.cumsum(torch.full((b, l, n, 3), 2.2, dtype=torch.float64), dim=2)
    clean = Rigid(rots, trans)
    cond = model.condition(torch.arange(n)[None], torch.arange(n)[None], torch.ones(b, n), clean[:, 0])
    t = torch.tensor([0.5], dtype=torch.float64)

    def run(dt, tau):
        return model.denoise(cond, clean, clean, t, torch.tensor([dt], dtype=torch.float64),
                             torch.tensor([tau], dtype=torch.float64)).rigids.trans

    base = run(0.1, 0.0)
    assert not torch.allclose(base, run(1.0, 0.0), atol=1e-9)
    assert not torch.allclose(base, run(0.1, 0.05), atol=1e-9)
    torch.testing.assert_close(base, run(0.1, 0.0))
    # the history's torsions reach the later noisy frames, never the first one (it sees no history)
    tors = torch.nn.functional.normalize(torch.randn(b, l, n, 7, 2, dtype=torch.float64), dim=-1)
    with_tors = model.denoise(cond, clean, clean, t, torch.tensor([0.1], dtype=torch.float64),
                              torch.tensor([0.0], dtype=torch.float64), clean_torsions=tors).rigids.trans
    assert torch.equal(with_tors[:, 0], base[:, 0])
    assert not torch.allclose(with_tors[:, 1:], base[:, 1:], atol=1e-9)


def test_context_noise_switch_changes_the_objective(tiny_training_spec):
    torch.manual_seed(0)
    spec = tiny_training_spec
    batch = collate_windows([WindowDataset(spec.data, "train")[i] for i in range(2)])
    model = DenoiseWrapper(build_model(spec.model))
    diffuser = SE3Diffuser(spec.diffusion)
    with torch.no_grad():
        on, _ = compute_loss(model, diffuser, batch, spec, [1, 2])
        again, _ = compute_loss(model, diffuser, batch, spec, [1, 2])
        off, _ = compute_loss(model, diffuser, batch, apply_overrides(spec, ["context_noise.enabled=false"]), [1, 2])
    assert float(on) == float(again)
    assert float(on) != float(off)


def test_non_finite_steps_stop_training(tiny_training_spec, monkeypatch):
    import starmd.core.objective as objective

    real = objective.compute_loss

    def poisoned(*args, **kwargs):
        loss, terms = real(*args, **kwargs)
        return loss * float("nan"), {**terms, "loss": float("nan")}

    monkeypatch.setattr(objective, "compute_loss", poisoned)
    spec = apply_overrides(tiny_training_spec, ["steps=10", "max_bad_steps=3"])
    with pytest.raises(TrainingError, match="3 non-finite losses/gradients in a row"):
        train(spec, progress=False)
    last = os.path.join(spec.out_dir, "checkpoints", "last.ckpt")
    assert os.path.exists(last)  # skipped steps change nothing, so the last checkpoint holds good weights
    assert all(torch.isfinite(v).all() for v in read_checkpoint(last).model_state.values())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, spec_json, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from starmd.core.specs import TrainingSpec
    from starmd.core.train import Trainer

    trainer = Trainer(TrainingSpec.model_validate_json(spec_json), progress=False)
    trainer.run()
    torch.save({k: v.clone() for k, v in trainer.model.state_dict().items()}, f"{out}.{rank}")
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ddp_two_processes_match_one_process_with_double_batch(tiny_training_spec, tmp_path):
    import torch.multiprocessing as mp

    spec = apply_overrides(tiny_training_spec, ["steps=2", "batch_size=1", f"out_dir={tmp_path / 'ddp'}"])
    out = str(tmp_path / "w")
    mp.spawn(_ddp_worker, args=(2, _free_port(), spec.model_dump_json(), out), nprocs=2, join=True)
    w0, w1 = torch.load(f"{out}.0"), torch.load(f"{out}.1")
    single = Trainer(apply_overrides(spec, ["batch_size=2", f"out_dir={tmp_path / 'single'}"]), progress=False)
    single.run()
    for k, v in single.model.state_dict().items():
        assert torch.equal(w0[k], w1[k]), k  # ranks stay in lock-step
        torch.testing.assert_close(w0[k], v, atol=1e-5, rtol=1e-4)
