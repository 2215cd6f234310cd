"""Errors raised by starmd.

Every error a user can cause is a :class:`StarMDError`. Its message is one line that names the
file or spec field at fault and what was expected; the CLI prints that line and exits with
status 2 (no traceback).
"""

from __future__ import annotations


class StarMDError(Exception):
    """Base class of every error starmd raises on purpose."""


class InputError(StarMDError):
    """A structure, trajectory, manifest or other input file is unusable."""


class SpecError(StarMDError):
    """A spec (YAML/JSON or ``--set`` override) is invalid."""


class CheckpointError(StarMDError):
    """A checkpoint is unreadable, or was written for another spec or starmd version."""


class RolloutError(StarMDError):
    """A rollout cannot start or had to stop (diverged frame, cache too large, ...)."""


__all__ = ["StarMDError", "InputError", "SpecError", "CheckpointError", "RolloutError"]


class TrainingError(StarMDError):
    """Training had to stop (e.g. too many non-finite steps in a row)."""


__all__ += ["TrainingError"]
