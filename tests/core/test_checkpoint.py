"""Checkpoint files: round trip of weights/EMA/optimizer/spec, atomic writes, clear refusals."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from starmd.core.checkpoint import check_same_model, read_checkpoint, save_checkpoint
from starmd.core.specs import ModelSpec, TrainingSpec
from starmd.errors import CheckpointError


def _trained_pair():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(5, 4)).pow(2).sum().backward()
        opt.step()
    return net, opt


def test_round_trip(tmp_path):
    net, opt = _trained_pair()
    spec = TrainingSpec(model=ModelSpec.tiny(), steps=3)
    ema = {k: v * 0.5 for k, v in net.state_dict().items()}
    path = save_checkpoint(tmp_path / "a.ckpt", net, spec, step=3, ema_state=ema, optimizer=opt,
                           extra_tensors={"rng": torch.get_rng_state()}, info={"note": "x"})
    data = read_checkpoint(path)
    assert data.step == 3 and data.spec == spec and data.model_spec == spec.model and data.info == {"note": "x"}
    for k, v in net.state_dict().items():
        assert torch.equal(data.model_state[k], v) and torch.equal(data.ema_state[k], ema[k])
    assert torch.equal(data.extra_tensors["rng"], torch.get_rng_state())
    # optimizer state restores into a fresh optimizer and continues identically
    net2 = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    net2.load_state_dict(data.model_state)
    opt2 = torch.optim.AdamW(net2.parameters(), lr=1e-3)
    opt2.load_state_dict(data.optimizer_state)
    x = torch.randn(5, 4)
    for n, o in ((net, opt), (net2, opt2)):
        o.zero_grad()
        n(x).pow(2).sum().backward()
        o.step()
    for a, b in zip(net.parameters(), net2.parameters()):
        assert torch.equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["a.ckpt"]


def test_refuses_other_version_and_foreign_files(tmp_path):
    net, _ = _trained_pair()
    path = save_checkpoint(tmp_path / "a.ckpt", net, ModelSpec.tiny())
    tensors = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as h:
        meta = dict(h.metadata())
    meta["starmd_version"] = "9.9.0"
    save_file(tensors, str(tmp_path / "old.ckpt"), metadata=meta)
    with pytest.raises(CheckpointError, match=r"old.ckpt: written by starmd 9.9.0, this is starmd"):
        read_checkpoint(tmp_path / "old.ckpt")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="not a starmd checkpoint"):
        read_checkpoint(tmp_path / "plain.safetensors")
    (tmp_path / "junk.ckpt").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="junk.ckpt: not a readable"):
        read_checkpoint(tmp_path / "junk.ckpt")
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "nope.ckpt")


def test_other_spec_names_both(tmp_path):
    net, _ = _trained_pair()
    path = save_checkpoint(tmp_path / "a.ckpt", net, ModelSpec.tiny())
    data = read_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"model.hidden: checkpoint 32 vs spec 64"):
        check_same_model(data, ModelSpec.tiny(hidden=64), path)
    meta_spec = json.loads(json.dumps(data.spec.to_dict()))
    assert meta_spec["hidden"] == 32


def test_checkpoints_from_before_the_categorical_head_load_as_regression(tmp_path):
    from safetensors import safe_open

    from starmd.core.checkpoint import load_checkpoint
    from starmd.core.model import build_model

    spec = TrainingSpec(model=ModelSpec.tiny(torsion_head="regression"), steps=1)
    torch.manual_seed(0)
    model = build_model(spec.model)
    path = save_checkpoint(tmp_path / "new.ckpt", model, spec)
    with safe_open(str(path), framework="pt") as h:
        meta = dict(h.metadata())
    legacy = json.loads(meta["spec"])
    del legacy["model"]["torsion_head"], legacy["model"]["torsion_bins"], legacy["loss"]["peptide_bond"]
    meta["spec"] = json.dumps(legacy)
    save_file(load_file(str(path)), str(tmp_path / "legacy.ckpt"), metadata=meta)
    data = read_checkpoint(tmp_path / "legacy.ckpt")
    assert data.spec.model.torsion_head == "regression" and data.spec.loss.peptide_bond == 0.0
    loaded = load_checkpoint(tmp_path / "legacy.ckpt")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


def test_weights_of_another_shape_give_one_line(tmp_path):
    from safetensors import safe_open

    from starmd.core.checkpoint import load_checkpoint
    from starmd.core.model import build_model

    spec = TrainingSpec(model=ModelSpec.tiny(), steps=1)
    path = save_checkpoint(tmp_path / "a.ckpt", build_model(spec.model), spec)
    with safe_open(str(path), framework="pt") as h:
        meta = dict(h.metadata())
    tensors = load_file(str(path))
    name = next(k for k in tensors if k.startswith("model.torsion_head") and tensors[k].dim() == 2)
    tensors[name] = torch.zeros(3, tensors[name].shape[1])
    tensors["ema." + name[len("model."):]] = tensors[name].clone()
    save_file(tensors, str(tmp_path / "bad.ckpt"), metadata=meta)
    with pytest.raises(CheckpointError, match=r"^.*bad.ckpt: weights do not match .*size mismatch") as err:
        load_checkpoint(tmp_path / "bad.ckpt")
    assert "\n" not in str(err.value)
