"""Streaming trajectory writer: frames go to disk as they are made (XTC, DCD or PDB by extension).

While a run is going the frames live in ``{stem}.part{suffix}`` beside the final path; ``finish()``
renames it to the final name, so a final name always holds a complete run. An interrupted run
leaves the ``.part`` file with every finished frame, which ``read_partial`` loads for resuming.
The topology (heavy atoms, PDB) is written next to the trajectory as ``{stem}.pdb``.
"""

from __future__ import annotations

import os
from pathlib import Path

import mdtraj as md
import numpy as np

from starmd.errors import InputError

FORMATS = {".xtc": md.formats.XTCTrajectoryFile, ".dcd": md.formats.DCDTrajectoryFile, ".pdb": md.formats.PDBTrajectoryFile}


def part_path(path: str | os.PathLike) -> Path:
    """The in-progress name of ``path``: ``gen.xtc`` → ``gen.part.xtc``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.part{path.suffix}")


def topology_path(path: str | os.PathLike) -> Path:
    """Where the topology PDB of ``path`` is written (``gen.xtc`` → ``gen.pdb``; a PDB output is its own)."""
    path = Path(path)
    return path if path.suffix.lower() == ".pdb" else path.with_suffix(".pdb")


def check_output_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise InputError(f"{path}: unsupported output format {path.suffix!r}; expected one of {sorted(FORMATS)}")
    return path


class StreamingTrajectoryWriter:
    """Append frames (Å) one at a time; ``finish()`` moves the file to its final name."""

    def __init__(self, path: str | os.PathLike, topology: md.Topology, previous: md.Trajectory | None = None) -> None:
        self.path = check_output_path(path)
        self.topology = topology
        self.part = part_path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.suffix = self.path.suffix.lower()
        self.n_written = 0
        if self.suffix != ".pdb":
            top = topology_path(self.path)
            tmp = top.with_name(f".{top.name}.tmp")
            md.Trajectory(np.zeros((1, topology.n_atoms, 3), np.float32), topology).save_pdb(str(tmp))
            os.replace(tmp, top)
        self._handle = FORMATS[self.suffix](str(self.part), mode="w", force_overwrite=True)
        if previous is not None:
            for i in range(previous.n_frames):
                self.write(previous.xyz[i] * 10.0, float(previous.time[i]))

    def write(self, xyz_angstrom: np.ndarray, time_ps: float) -> None:
        """Write one frame: ``xyz_angstrom`` [n_atoms, 3] in Å at ``time_ps`` (ps)."""
        xyz = np.asarray(xyz_angstrom, dtype=np.float32)
        if xyz.shape != (self.topology.n_atoms, 3):
            raise ValueError(f"frame has shape {xyz.shape}, topology has {self.topology.n_atoms} atoms")
        if self.suffix == ".xtc":
            self._handle.write(xyz[None] / 10.0, time=np.array([time_ps], np.float32), step=np.array([self.n_written], np.int32))
        elif self.suffix == ".dcd":
            self._handle.write(xyz[None])  # DCD stores Å
        else:
            self._handle.write(xyz, self.topology, modelIndex=self.n_written + 1)
        self.n_written += 1
        flush = getattr(self._handle, "flush", None)
        if flush is not None:
            flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def finish(self) -> Path:
        """Close and rename the in-progress file to the final name."""
        self.close()
        os.replace(self.part, self.path)
        return self.path


def read_partial(path: str | os.PathLike) -> md.Trajectory | None:
    """Frames of an interrupted run (from ``{stem}.part{suffix}``), or None when there is none."""
    path = Path(path)
    part = part_path(path)
    if not part.exists():
        return None
    top = topology_path(path) if path.suffix.lower() != ".pdb" else None
    try:
        traj = md.load(str(part), top=str(top)) if top is not None else md.load(str(part))
    except Exception as err:  # mdtraj raises many types for a truncated file
        raise InputError(f"{part}: cannot read the interrupted rollout ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
    return traj  # times are rebuilt from the rollout's Δt schedule (DCD/PDB carry none)


__all__ = ["StreamingTrajectoryWriter", "read_partial", "part_path", "topology_path", "check_output_path"]
