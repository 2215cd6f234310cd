"""starmd: causal spatio-temporal SE(3) diffusion for long-horizon protein dynamics.

The public API is re-exported here and loaded lazily (``import starmd`` stays fast and does not
import torch until a model-side name is used).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    # errors
    "StarMDError": "starmd.errors", "InputError": "starmd.errors", "SpecError": "starmd.errors",
    "CheckpointError": "starmd.errors", "RolloutError": "starmd.errors", "TrainingError": "starmd.errors",
    # specs
    "ModelSpec": "starmd.core.specs", "FrameIPASpec": "starmd.core.specs", "E3nnGraphSpec": "starmd.core.specs",
    "DiffusionSpec": "starmd.core.specs", "ContextNoiseSpec": "starmd.core.specs", "LossSpec": "starmd.core.specs",
    "DataSpec": "starmd.core.specs", "TrainingSpec": "starmd.core.specs", "RolloutSpec": "starmd.core.specs",
    "EvaluationSpec": "starmd.core.specs", "SimulateSpec": "starmd.core.specs", "AblationSpec": "starmd.core.specs",
    "load_spec": "starmd.core.specs", "save_spec": "starmd.core.specs", "apply_overrides": "starmd.core.specs",
    # geometry and data
    "Rigid": "starmd.core.rigid",
    "featurize": "starmd.core.protein", "to_atoms": "starmd.core.protein",
    "load_trajectory": "starmd.core.data", "ProteinTrajectory": "starmd.core.data",
    # diffusion, model, training, rollout
    "SE3Diffuser": "starmd.core.diffusion",
    "StarMD": "starmd.core.model", "build_model": "starmd.core.model",
    "train": "starmd.core.train",
    "load_checkpoint": "starmd.core.checkpoint", "save_checkpoint": "starmd.core.checkpoint",
    "rollout": "starmd.core.rollout",
    "simulate": "starmd.core.simulate",
    # evaluation
    "evaluate": "starmd.eval.report",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'starmd' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
