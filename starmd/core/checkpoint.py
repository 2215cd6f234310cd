"""Checkpoints: one safetensors file holding weights, EMA weights, optimizer state, the full spec,
the starmd version and the training step.

Layout of the file (all tensors, flat names):
  ``model.<param>``      live weights
  ``ema.<param>``        exponential moving average of the weights (used for rollout by default)
  ``optim.<i>.<key>``    per-parameter optimizer state tensors
  ``extra.<name>``       other tensors a caller wants back (e.g. RNG states)
metadata (strings): ``format``, ``starmd_version``, ``step``, ``spec`` (JSON), ``spec_type``,
``optim_meta`` (JSON: param groups and non-tensor state), ``info`` (JSON).

Files are written to a temporary name and renamed, so a crash never leaves a half-written
checkpoint under the final name.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

import starmd
from starmd.core.files import publish
from starmd.core.specs import SPEC_TYPES, ModelSpec, Spec, TrainingSpec, validate_spec
from starmd.errors import CheckpointError

FORMAT = "starmd-checkpoint-1"


@dataclass
class CheckpointData:
    """Everything read back from a checkpoint file."""

    spec: Spec
    version: str
    step: int
    model_state: dict[str, torch.Tensor]
    ema_state: dict[str, torch.Tensor] | None = None
    optimizer_state: dict[str, Any] | None = None
    extra_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def model_spec(self) -> ModelSpec:
        return self.spec.model if isinstance(self.spec, TrainingSpec) else self.spec


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors: dict[str, torch.Tensor] = {}
    meta_state: dict[str, dict] = {}
    for idx, entry in state["state"].items():
        meta_state[str(idx)] = {}
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                meta_state[str(idx)][key] = value
    return tensors, {"param_groups": state["param_groups"], "state": meta_state}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {int(i): dict(v) for i, v in meta["state"].items()}
    for name, value in tensors.items():
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().cpu().contiguous().clone() for k, v in state.items()}


def save_checkpoint(
    path: str | os.PathLike,
    model: torch.nn.Module,
    spec: Spec,
    step: int = 0,
    ema_state: dict[str, torch.Tensor] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temporary name, then rename). ``spec``: TrainingSpec or ModelSpec."""
    path = Path(path)
    module = model.module if hasattr(model, "module") else model
    tensors = _prefixed(module.state_dict(), "model")
    if ema_state is not None:
        tensors.update(_prefixed(ema_state, "ema"))
    optim_meta = None
    if optimizer is not None:
        opt_tensors, optim_meta = _flatten_optimizer(optimizer.state_dict())
        tensors.update(opt_tensors)
    for name, value in (extra_tensors or {}).items():
        tensors[f"extra.{name}"] = value.detach().cpu().contiguous().clone()
    spec_type = next((k for k, v in SPEC_TYPES.items() if type(spec) is v), None)
    if spec_type not in ("training", "model"):
        raise CheckpointError(f"{path}: a checkpoint needs a TrainingSpec or ModelSpec, got {type(spec).__name__}")
    metadata = {
        "format": FORMAT,
        "starmd_version": starmd.__version__,
        "step": str(int(step)),
        "spec": json.dumps(spec.to_dict()),
        "spec_type": spec_type,
        "optim_meta": json.dumps(optim_meta),
        "info": json.dumps(info or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        publish(tmp, path)  # safetensors creates the file owner-only
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _version_compatible(a: str, b: str) -> bool:
    return a.split(".")[:2] == b.split(".")[:2]


# Fields added after the first release whose default changed the model or the loss: a checkpoint whose
# spec lacks them was made with the value given here, not with today's default.
_LEGACY_MODEL_FIELDS = {"torsion_head": "regression"}
_LEGACY_LOSS_FIELDS = {"peptide_bond": 0.0}


def _upgrade_legacy_spec(spec: dict) -> dict:
    """Fill fields that older checkpoints' specs lack with the values those checkpoints were made with."""
    model = spec if "backend" in spec else spec.get("model")
    if isinstance(model, dict):
        for key, value in _LEGACY_MODEL_FIELDS.items():
            model.setdefault(key, value)
    loss = spec.get("loss")
    if isinstance(loss, dict):
        for key, value in _LEGACY_LOSS_FIELDS.items():
            loss.setdefault(key, value)
    return spec


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> CheckpointData:
    """Read every part of a checkpoint; raises CheckpointError on unreadable or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
        tensors = load_file(str(path), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable starmd checkpoint ({str(err).splitlines()[0]})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a starmd checkpoint (format {meta.get('format')!r}, expected {FORMAT!r})")
    version = meta["starmd_version"]
    if not _version_compatible(version, starmd.__version__):
        raise CheckpointError(f"{path}: written by starmd {version}, this is starmd {starmd.__version__} (major.minor must match)")
    spec = validate_spec(SPEC_TYPES[meta["spec_type"]], _upgrade_legacy_spec(json.loads(meta["spec"])), f"{path} (spec)")
    groups: dict[str, dict[str, torch.Tensor]] = {"model": {}, "ema": {}, "optim": {}, "extra": {}}
    for name, value in tensors.items():
        prefix, rest = name.split(".", 1)
        if prefix == "optim":
            groups["optim"][name] = value
        else:
            groups[prefix][rest] = value
    optim_meta = json.loads(meta.get("optim_meta", "null"))
    return CheckpointData(
        spec=spec,
        version=version,
        step=int(meta["step"]),
        model_state=groups["model"],
        ema_state=groups["ema"] or None,
        optimizer_state=_unflatten_optimizer(groups["optim"], optim_meta) if optim_meta is not None else None,
        extra_tensors=groups["extra"],
        info=json.loads(meta.get("info", "{}")),
    )


def check_same_model(data: CheckpointData, expected: ModelSpec, path: str | os.PathLike) -> None:
    """Raise CheckpointError naming both specs when the checkpoint's model spec differs from ``expected``."""
    if data.model_spec != expected:
        have, want = data.model_spec.to_dict(), expected.to_dict()
        diff = [k for k in sorted(set(have) | set(want)) if have.get(k) != want.get(k)]
        detail = ", ".join(f"model.{k}: checkpoint {have.get(k)!r} vs spec {want.get(k)!r}" for k in diff[:3])
        raise CheckpointError(f"{path}: checkpoint was trained with another model spec ({detail})")


def load_checkpoint(path: str | os.PathLike, use_ema: bool = True, map_location: str | torch.device = "cpu",
                    expected_spec: ModelSpec | None = None):
    """Build the model a checkpoint describes and load its (EMA by default) weights; returns ``StarMD`` in eval mode."""
    from starmd.core.model import build_model  # the model module is only needed when a model is built

    data = read_checkpoint(path, map_location=map_location)
    if expected_spec is not None:
        check_same_model(data, expected_spec, path)
    model = build_model(data.model_spec)
    state = data.ema_state if (use_ema and data.ema_state) else data.model_state
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches: name the first tensor, not torch's whole report
        first = next((ln.strip() for ln in str(err).splitlines() if "size mismatch" in ln), str(err).splitlines()[0])
        raise CheckpointError(f"{path}: weights do not match the model its spec builds ({first})") from None
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not match the model its spec builds "
                              f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})")
    model.to(map_location)
    model.eval()
    model.checkpoint_info = {"path": str(path), "step": data.step, "version": data.version, "spec": data.spec}
    return model


__all__ = ["CheckpointData", "save_checkpoint", "read_checkpoint", "load_checkpoint", "check_same_model"]
