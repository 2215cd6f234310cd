"""Atomic publication of files written under a temporary name."""

from __future__ import annotations

import os


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give ``tmp`` the permissions of an ordinary new file (mkstemp and safetensors create files
    owner-only) and rename it to ``path`` in one step."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


__all__ = ["publish"]
