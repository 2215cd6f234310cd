"""Reference MD with OpenMM: the data generator and the speed baseline of starmd.

``simulate`` takes a one-letter sequence (built with PeptideBuilder, fully extended or with a
given φ/ψ) or a PDB file, completes it with pdbfixer (missing heavy atoms, hydrogens at
``spec.ph``; heterogens and water removed), minimises it once, and runs ``spec.replicas``
independent replicas (own velocities and Langevin noise): ``spec.equilibration_ps`` of unsaved MD,
then ``spec.length_ns`` of production saving a frame every ``spec.save_ps``.

Chemistry choices: peptides are *not* capped — the termini are charged (NH3+ / COO−, with the
terminal OXT atom), so every residue in the files is a standard amino acid. The default force
field is amber14-all with the GBn2 implicit solvent (no cut-off), Langevin middle integrator,
4 fs steps with hydrogen-mass repartitioning (see :class:`~starmd.core.specs.SimulateSpec`).

Output under ``out`` (lengths in the files in Å as usual for PDB; XTC stores nm internally):

``{name}/{name}.pdb``
    topology: the minimised structure's protein heavy atoms (one chain, hydrogens dropped).
``{name}/{name}_R{r}.xtc``
    replica r (1-based): heavy-atom frames every ``save_ps``; frame k is at t = k·save_ps ps
    after equilibration (k = 1 … length_ns·1000/save_ps).
``{name}/{name}.simulate.yaml``
    provenance: spec, input, starmd and OpenMM versions.
``manifest.yaml``
    one entry per name (``name, topology, replicas, dt_ps, split``; paths relative to the
    manifest), merged into an existing manifest atomically; an entry lists finished replicas only.

Resuming: every ``chunk_ps`` each replica's frames (``{name}/.work/R{r}/chunk_*.xtc``) and then its
OpenMM state (``state_*.xml``) are written to temporary names and renamed. Running the same call
again continues every unfinished replica from its last complete chunk and skips finished ones;
final files appear (by rename) only once a replica is complete, and ``.work/R{r}`` is removed then.
The Langevin seed of each chunk is derived from (seed, replica, chunk), so a resumed run is a
valid continuation (not bit-identical to an uninterrupted one).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from starmd.core.specs import SimulateSpec, apply_overrides
from starmd.errors import InputError, SpecError, StarMDError

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
MANIFEST = "manifest.yaml"
# spec fields that may change between an interrupted run and its continuation
_RESUME_FREE = {"replicas", "platform", "cpu_threads", "chunk_ps", "length_ns"}


class SimulationError(StarMDError):
    """The MD became unstable (NaN energies/coordinates) or OpenMM refused the system."""


@dataclass
class SimulationResult:
    """What one :func:`simulate` call produced (paths are absolute)."""

    name: str
    topology: Path
    replicas: list[Path]
    manifest: Path
    n_atoms: int
    n_frames: int
    dt_ps: float
    ns_per_day: float | None = None  # production speed of this call (None: nothing was simulated)
    skipped: list[int] = field(default_factory=list)  # replicas already complete before this call


# ---------------------------------------------------------------------------- small helpers
def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _steps(ps: float, step_fs: float) -> int:
    return int(round(ps * 1000.0 / step_fs))


def _seed(*parts: int) -> int:
    """A positive 31-bit seed from integers (OpenMM treats 0 as 'random')."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0] % (2**31 - 2)) + 1


def check_sequence(sequence: str) -> str:
    """Upper-case, validate a one-letter amino-acid sequence (≥ 2 residues); raises InputError."""
    seq = sequence.strip().upper()
    if len(seq) < 2:
        raise InputError(f"sequence {sequence!r}: need at least 2 residues")
    for i, c in enumerate(seq):
        if c not in AMINO_ACIDS:
            raise InputError(f"sequence {sequence!r}: unknown residue letter {c!r} at position {i + 1}; "
                             f"expected one of {AMINO_ACIDS}")
    return seq


# ---------------------------------------------------------------------------- building
def _fix(fixer, source: str, ph: float):
    """Complete heavy atoms and add hydrogens; ``fixer`` is a PDBFixer."""
    from openmm.app import Modeller

    fixer.removeHeterogens(keepWater=False)
    chains = [c for c in fixer.topology.chains() if any(True for _ in c.residues())]
    if not chains:
        raise InputError(f"{source}: no protein residues found")
    if len(chains) > 1:
        raise InputError(f"{source}: {len(chains)} chains; starmd simulates one chain")
    fixer.findMissingResidues()
    n_res = len(list(chains[0].residues()))
    # build internal gaps, never extend the termini
    fixer.missingResidues = {k: v for k, v in fixer.missingResidues.items() if 0 < k[1] < n_res}
    fixer.findNonstandardResidues()
    fixer.replaceNonstandardResidues()
    # drop any input hydrogens (names vary between programs); pdbfixer adds them back consistently
    mod = Modeller(fixer.topology, fixer.positions)
    mod.delete([a for a in mod.topology.atoms() if a.element is not None and a.element.symbol == "H"])
    fixer.topology, fixer.positions = mod.topology, mod.positions
    fixer.findMissingAtoms()
    fixer.addMissingAtoms()
    fixer.addMissingHydrogens(ph)
    return fixer.topology, fixer.positions


def build_peptide(sequence: str, phi_deg: float | None = None, psi_deg: float | None = None, ph: float = 7.0):
    """(OpenMM Topology, positions) of a linear uncapped peptide with hydrogens.

    PeptideBuilder places the heavy atoms (fully extended, or every residue at ``phi_deg``/``psi_deg``
    in degrees) plus the terminal OXT; pdbfixer adds hydrogens at ``ph`` (charged termini).
    """
    import PeptideBuilder
    from Bio.PDB import PDBIO
    from pdbfixer import PDBFixer

    seq = check_sequence(sequence)
    with warnings.catch_warnings():  # Bio.PDB warns on a 0/0 angle while placing the first residue
        warnings.simplefilter("ignore", RuntimeWarning)
        if phi_deg is None:
            structure = PeptideBuilder.make_extended_structure(seq)
        else:
            n = len(seq) - 1
            structure = PeptideBuilder.make_structure(seq, [float(phi_deg)] * n, [float(psi_deg)] * n)
        PeptideBuilder.add_terminal_OXT(structure)
    if not all(np.isfinite(a.coord).all() for a in structure.get_atoms()):
        raise InputError(f"sequence {seq}: PeptideBuilder produced non-finite coordinates")
    buf = io.StringIO()
    writer = PDBIO()
    writer.set_structure(structure)
    writer.save(buf)
    fixer = PDBFixer(pdbfile=io.StringIO(buf.getvalue()))
    return _fix(fixer, f"sequence {seq}", ph)


def load_structure(pdb: str | os.PathLike, ph: float = 7.0):
    """(OpenMM Topology, positions) of a one-chain protein PDB/PDBx file, completed and protonated."""
    from pdbfixer import PDBFixer

    path = Path(pdb)
    if not path.is_file():
        raise InputError(f"{path}: no such structure file")
    try:
        fixer = PDBFixer(filename=str(path))
    except Exception as err:  # pdbfixer/OpenMM raise a variety of errors on bad files
        raise InputError(f"{path}: cannot read structure ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
    try:
        return _fix(fixer, str(path), ph)
    except StarMDError:
        raise
    except Exception as err:
        raise InputError(f"{path}: cannot complete the structure with pdbfixer ({str(err).splitlines()[0]})") from None


# ---------------------------------------------------------------------------- OpenMM system
def _platform(spec: SimulateSpec):
    import openmm as mm

    names = [mm.Platform.getPlatform(i).getName() for i in range(mm.Platform.getNumPlatforms())]
    name = spec.platform
    if name == "auto":
        name = "CUDA" if "CUDA" in names else "CPU"
    if name not in names:
        raise SpecError(f"platform: {name!r} is not available here; available: {names}")
    props = {}
    if name == "CPU" and spec.cpu_threads:
        props["Threads"] = str(spec.cpu_threads)
    return mm.Platform.getPlatformByName(name), props


def _system(topology, spec: SimulateSpec, source: str):
    import openmm.app as app
    import openmm.unit as u

    try:
        forcefield = app.ForceField(*spec.forcefield)
    except Exception as err:
        raise SpecError(f"forcefield: cannot load {spec.forcefield} ({str(err).splitlines()[0]})") from None
    constraints = {"none": None, "hbonds": app.HBonds, "allbonds": app.AllBonds, "hangles": app.HAngles}[spec.constraints]
    try:
        return forcefield.createSystem(
            topology, nonbondedMethod=app.NoCutoff, constraints=constraints,
            hydrogenMass=spec.hydrogen_mass_amu * u.amu if spec.hydrogen_mass_amu else None,
        )
    except Exception as err:
        raise InputError(f"{source}: the force field cannot parameterise it ({str(err).splitlines()[0]})") from None


def _simulation(topology, system, spec: SimulateSpec, integrator_seed: int):
    import openmm as mm
    import openmm.app as app
    import openmm.unit as u

    integrator = mm.LangevinMiddleIntegrator(spec.temperature_k * u.kelvin, spec.friction_per_ps / u.picosecond,
                                             spec.step_fs * u.femtosecond)
    integrator.setRandomNumberSeed(integrator_seed)
    platform, props = _platform(spec)
    return app.Simulation(topology, system, integrator, platform, props)


def _positions_nm(simulation, heavy: np.ndarray) -> np.ndarray:
    state = simulation.context.getState(getPositions=True)
    xyz = np.asarray(state.getPositions(asNumpy=True)._value, dtype=np.float64)[heavy]
    return xyz.astype(np.float32)


# ---------------------------------------------------------------------------- files
def _heavy_topology(topology):
    import mdtraj as md

    top = md.Topology.from_openmm(topology)
    heavy = np.array([a.index for a in top.atoms if a.element.symbol != "H"], dtype=int)
    return heavy, top.subset(heavy)


def _write_topology_pdb(path: Path, md_top, xyz_nm: np.ndarray) -> None:
    import mdtraj as md

    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.pdb")
    md.Trajectory(xyz_nm[None], md_top).save_pdb(str(tmp))
    os.replace(tmp, path)


def _write_xtc(path: Path, xyz_nm: np.ndarray, time_ps: np.ndarray, step: np.ndarray) -> None:
    from mdtraj.formats import XTCTrajectoryFile

    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.xtc")
    with XTCTrajectoryFile(str(tmp), "w") as f:
        f.write(xyz_nm.astype(np.float32), time=time_ps.astype(np.float32), step=step.astype(np.int32))
    os.replace(tmp, path)


def _read_xtc(path: Path):
    from mdtraj.formats import XTCTrajectoryFile

    with XTCTrajectoryFile(str(path), "r") as f:
        xyz, time_ps, step, _box = f.read()
    return xyz, time_ps, step


@contextlib.contextmanager
def _lock(path: Path):
    """An exclusive, non-blocking lock (one simulate per output name at a time)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise StarMDError(f"{path.parent}: another `starmd simulate` is writing here") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _fmt_num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)


def update_manifest(manifest: str | os.PathLike, entry: dict[str, Any]) -> None:
    """Add or replace (by ``name``) one protein entry of a YAML manifest, atomically and under a lock.

    A new manifest gets a top-level ``dt_ps`` equal to the entry's; entries keep their own ``dt_ps``.
    """
    import fcntl

    manifest = Path(manifest)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with open(manifest.with_name(f".{manifest.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data: dict[str, Any] = {}
        if manifest.exists():
            try:
                data = yaml.safe_load(manifest.read_text()) or {}
            except yaml.YAMLError as err:
                raise InputError(f"{manifest}: not valid YAML ({str(err).splitlines()[0]})") from None
            if not isinstance(data, dict) or not isinstance(data.get("proteins", []), list):
                raise InputError(f"{manifest}: expected a mapping with a 'proteins' list")
        data.setdefault("dt_ps", entry["dt_ps"])
        proteins = [p for p in data.get("proteins", []) or [] if not (isinstance(p, dict) and p.get("name") == entry["name"])]
        proteins.append(entry)
        data["proteins"] = proteins
        ordered = {"dt_ps": data.pop("dt_ps"), **{k: v for k, v in data.items() if k != "proteins"}, "proteins": proteins}
        _atomic_write_text(manifest, yaml.safe_dump(ordered, sort_keys=False))
        fcntl.flock(lock, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------- progress
class _Progress:
    """rich bar (ps done, ns/day, ETA) on a terminal; else one plain line per chunk."""

    def __init__(self, enabled: bool, total_ps: float, label: str):
        self.enabled = enabled
        self.total_ps = total_ps
        self.done_ps = 0.0
        self.sim_ps = 0.0  # simulated in this process (for ns/day)
        self.sim_s = 0.0
        self.label = label
        self._bar = None
        self._task = None
        self._t0 = time.monotonic()
        if enabled and sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} ps"), TextColumn("{task.fields[speed]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), refresh_per_second=2,
            )

    def __enter__(self):
        if self._bar is not None:
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total_ps, speed="")
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)

    @property
    def ns_per_day(self) -> float | None:
        return self.sim_ps * 1e-3 / (self.sim_s / 86400.0) if self.sim_s > 0 else None

    def advance(self, ps: float, seconds: float, simulated: bool, what: str) -> None:
        self.done_ps += ps
        if simulated:
            self.sim_ps += ps
            self.sim_s += seconds
        speed = f"{self.ns_per_day:.0f} ns/day" if self.ns_per_day else ""
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done_ps, speed=speed, description=f"{self.label} {what}")

    def line(self, text: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.console.print(f"[{time.strftime('%H:%M:%S')}] {text}", highlight=False, markup=False)
            return
        eta = ""
        if self.ns_per_day:
            left_s = (self.total_ps - self.done_ps) * 1e-3 / self.ns_per_day * 86400.0
            eta = f", ETA {time.strftime('%H:%M:%S', time.gmtime(max(left_s, 0)))}"
        speed = f", {self.ns_per_day:.0f} ns/day" if self.ns_per_day else ""
        print(f"[{time.strftime('%H:%M:%S')}] {text} ({self.done_ps:.0f}/{self.total_ps:.0f} ps{speed}{eta})",
              file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- the run
def _resolve_spec(spec: SimulateSpec | str | os.PathLike | None, length_ns, replicas, overrides) -> SimulateSpec:
    from starmd.core.specs import load_spec

    if spec is None:
        spec = SimulateSpec()
    elif not isinstance(spec, SimulateSpec):
        spec = load_spec(spec, SimulateSpec)
    if overrides:
        spec = apply_overrides(spec, list(overrides))
    changes = {}
    if length_ns is not None:
        changes["length_ns"] = length_ns
    if replicas is not None:
        changes["replicas"] = replicas
    if changes:
        spec = apply_overrides(spec, [f"{k}={v}" for k, v in changes.items()])
    return spec


def _physics(spec: SimulateSpec) -> dict[str, Any]:
    return {k: v for k, v in spec.to_dict().items() if k not in _RESUME_FREE}


def simulate(
    sequence: str | None = None,
    pdb: str | os.PathLike | None = None,
    out: str | os.PathLike = "data",
    name: str | None = None,
    spec: SimulateSpec | str | os.PathLike | None = None,
    *,
    length_ns: float | None = None,
    replicas: int | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    split: str = "train",
    progress: bool = False,
    on_chunk: Callable[[dict[str, Any]], None] | None = None,
) -> SimulationResult:
    """Run (or resume) reference MD of a peptide ``sequence`` or a ``pdb`` file; see the module doc.

    Args:
        sequence: one-letter amino-acid sequence (≥ 2 residues), built by PeptideBuilder.
        pdb: a one-chain protein structure (PDB or PDBx/mmCIF), coordinates in Å.
        out: output folder holding ``manifest.yaml`` and one sub-folder per ``name``.
        name: entry name (default: the sequence, or the PDB file's stem).
        spec: a :class:`SimulateSpec`, or a YAML/JSON file of one (default: ``SimulateSpec()``).
        length_ns, replicas: shortcuts overriding the spec (production ns per replica; count).
        overrides: ``key=value`` spec overrides (applied before the shortcuts).
        split: the manifest's ``split`` of this entry (``train`` or ``test``).
        progress: show a rich bar (terminal) or one log line per chunk (otherwise) on stderr.
        on_chunk: called after every saved chunk with ``{"replica", "chunk", "frames", "total_frames"}``
            (raising from it stops the run; it resumes from that chunk next time).

    Returns:
        :class:`SimulationResult`. Raises :class:`~starmd.errors.StarMDError` subclasses on bad input.
    """
    if (sequence is None) == (pdb is None):
        raise InputError("give exactly one of a sequence or a pdb file")
    if split not in ("train", "test"):
        raise InputError(f"split {split!r}: expected 'train' or 'test'")
    spec = _resolve_spec(spec, length_ns, replicas, overrides)
    if sequence is not None:
        seq = check_sequence(sequence)
        name = name or seq
        source = f"sequence {seq}"
    else:
        seq = None
        if not Path(pdb).is_file():
            raise InputError(f"{pdb}: no such structure file")
        name = name or Path(pdb).stem
        source = str(pdb)
    if not _NAME_RE.match(name):
        raise InputError(f"name {name!r}: use letters, digits, '_', '-', '.'")

    out = Path(out).resolve()
    folder = out / name
    work = folder / ".work"
    top_path = folder / f"{name}.pdb"
    prov_path = folder / f"{name}.simulate.yaml"
    final = [folder / f"{name}_R{r}.xtc" for r in range(1, spec.replicas + 1)]
    n_frames = int(round(spec.length_ns * 1000.0 / spec.save_ps))
    frames_per_chunk = int(round(spec.chunk_ps / spec.save_ps))
    steps_per_frame = _steps(spec.save_ps, spec.step_fs)
    input_desc = {"sequence": seq} if seq else {"pdb": str(Path(pdb).resolve())}

    fresh = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _simulate_locked(
            seq=seq, pdb=pdb, out=out, name=name, spec=spec, split=split, progress=progress, on_chunk=on_chunk,
            source=source, folder=folder, work=work, top_path=top_path, prov_path=prov_path, final=final,
            n_frames=n_frames, frames_per_chunk=frames_per_chunk, steps_per_frame=steps_per_frame, input_desc=input_desc)
    except BaseException:
        if fresh and {q.name for q in folder.iterdir()} <= {".lock"}:  # failed before writing anything
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _simulate_locked(*, seq, pdb, out, name, spec, split, progress, on_chunk, source, folder, work, top_path, prov_path,
                     final, n_frames, frames_per_chunk, steps_per_frame, input_desc) -> SimulationResult:
    import openmm

    with _lock(folder / ".lock"):
        # the physics of an earlier run here must match (length/replicas/platform may change)
        if prov_path.exists():
            old = yaml.safe_load(prov_path.read_text()) or {}
            old_spec = old.get("spec", {})
            mine = _physics(spec)
            diff = sorted(k for k in mine if old_spec.get(k) != mine[k])
            if diff or old.get("input") != input_desc:
                what = f"spec fields {diff}" if diff else "input"
                raise SpecError(f"{folder}: an earlier run used other {what}; use another --name or --out, or delete {folder}")
        done = [r for r, p in enumerate(final, 1) if p.exists()]
        for r in done:  # a finished replica must have the requested length
            if len(_read_xtc(final[r - 1])[0]) != n_frames:
                raise SpecError(f"{final[r - 1]}: finished with another length than {spec.length_ns} ns; use another --name")
        todo = [r for r in range(1, spec.replicas + 1) if r not in done]

        # build, parameterise, minimise (deterministic: all replicas start from this structure)
        topology, positions = build_peptide(seq, spec.phi_deg, spec.psi_deg, spec.ph) if seq else load_structure(pdb, spec.ph)
        system = _system(topology, spec, source)
        heavy, md_top = _heavy_topology(topology)
        minimized_path = work / "minimized.xml"
        sim = _simulation(topology, system, spec, _seed(spec.seed, 0))
        if minimized_path.exists():
            sim.loadState(str(minimized_path))
        else:
            sim.context.setPositions(positions)
            try:
                sim.minimizeEnergy(maxIterations=spec.minimize_iterations)
            except Exception as err:
                raise SimulationError(f"{source}: energy minimisation failed ({str(err).splitlines()[0]})") from None
            work.mkdir(parents=True, exist_ok=True)
            tmp = minimized_path.with_name(f".minimized.tmp{os.getpid()}.xml")
            sim.saveState(str(tmp))
            os.replace(tmp, minimized_path)
        minimized = sim.context.getState(getPositions=True).getPositions()
        if not top_path.exists():
            _write_topology_pdb(top_path, md_top, _positions_nm(sim, heavy))
        if not prov_path.exists():
            prov = {"name": name, "input": input_desc, "spec": spec.to_dict(),
                    "versions": {"starmd": _starmd_version(), "openmm": openmm.__version__},
                    "heavy_atoms": int(len(heavy)), "residues": md_top.n_residues}
            _atomic_write_text(prov_path, yaml.safe_dump(prov, sort_keys=False))
        del sim

        rel = lambda p: p.relative_to(out).as_posix()  # noqa: E731
        total_ps = len(todo) * (spec.equilibration_ps + n_frames * spec.save_ps)
        with _Progress(progress, total_ps, name) as bar:
            if done:
                bar.line(f"{name}: replicas {done} already complete")
            for r in todo:
                _run_replica(r, spec, topology, system, minimized, heavy, work / f"R{r}", final[r - 1],
                             n_frames, frames_per_chunk, steps_per_frame, bar, on_chunk, name, source)
                finished = [p for p in final if p.exists()]
                update_manifest(out / MANIFEST, {"name": name, "topology": rel(top_path),
                                                 "replicas": [rel(p) for p in finished],
                                                 "dt_ps": _fmt_num(spec.save_ps), "split": split})
            ns_day = bar.ns_per_day
        if not todo:  # nothing ran; still make sure the manifest lists this entry
            update_manifest(out / MANIFEST, {"name": name, "topology": rel(top_path), "replicas": [rel(p) for p in final],
                                             "dt_ps": _fmt_num(spec.save_ps), "split": split})
        complete = all(p.exists() for p in final)
        if complete:
            shutil.rmtree(work, ignore_errors=True)
    if complete:
        (folder / ".lock").unlink(missing_ok=True)
    return SimulationResult(name=name, topology=top_path, replicas=final, manifest=out / MANIFEST,
                            n_atoms=int(len(heavy)), n_frames=n_frames, dt_ps=spec.save_ps,
                            ns_per_day=ns_day, skipped=done)


def _starmd_version() -> str:
    import starmd

    return starmd.__version__


def _run_replica(r, spec, topology, system, minimized, heavy, rdir: Path, final: Path, n_frames, frames_per_chunk,
                 steps_per_frame, bar: _Progress, on_chunk, name, source) -> None:
    """Equilibrate (unless resumed) and produce replica ``r`` chunk by chunk, then write ``final``."""
    import openmm.unit as u

    rdir.mkdir(parents=True, exist_ok=True)
    n_chunks = math.ceil(n_frames / frames_per_chunk)
    # resume point: the last state file; chunk files up to it are complete (written before the state)
    states = sorted(rdir.glob("state_*.xml"))
    chunk0 = int(states[-1].stem.split("_")[1]) if states else -1
    frames_done = 0
    for k in range(1, chunk0 + 1):
        cf = rdir / f"chunk_{k:05d}.xtc"
        if not cf.exists():
            raise InputError(f"{cf}: missing; the resume data of {name} R{r} is damaged — delete {rdir} to restart it")
        frames_done += len(_read_xtc(cf)[0])

    def checked_step(sim, nsteps: int, when: str) -> None:
        try:
            sim.step(nsteps)
        except Exception as err:
            raise SimulationError(f"{name} R{r}: OpenMM failed during {when} ({str(err).splitlines()[0]}); try a smaller step_fs") from None

    if chunk0 < 0:  # fresh: velocities, equilibration, state_00000
        sim = _simulation(topology, system, spec, _seed(spec.seed, r, 0))
        sim.context.setPositions(minimized)
        sim.context.setVelocitiesToTemperature(spec.temperature_k * u.kelvin, _seed(spec.seed, r, 1_000_000))
        t0 = time.monotonic()
        checked_step(sim, _steps(spec.equilibration_ps, spec.step_fs), "equilibration")
        bar.advance(spec.equilibration_ps, time.monotonic() - t0, True, f"R{r} equilibration")
        sim.context.setTime(0.0)
        sim.context.setStepCount(0)
        _save_state(sim, rdir, 0)
        chunk0 = 0
        bar.line(f"{name} R{r}: equilibrated {spec.equilibration_ps:g} ps")
    else:
        bar.advance(spec.equilibration_ps + frames_done * spec.save_ps, 0.0, False, f"R{r} resumed")
        bar.line(f"{name} R{r}: resuming after chunk {chunk0} ({frames_done} frames)")

    k = chunk0
    while frames_done < n_frames:
        k += 1
        # a new context per chunk: its Langevin seed depends on (seed, replica, chunk)
        sim = _simulation(topology, system, spec, _seed(spec.seed, r, k))
        sim.loadState(str(rdir / f"state_{k - 1:05d}.xml"))
        nf = min(frames_per_chunk, n_frames - frames_done)
        xyz = np.empty((nf, len(heavy), 3), dtype=np.float32)
        t0 = time.monotonic()
        for i in range(nf):
            checked_step(sim, steps_per_frame, f"production at {(frames_done + i) * spec.save_ps:g} ps")
            xyz[i] = _positions_nm(sim, heavy)
            if not np.isfinite(xyz[i]).all():
                raise SimulationError(f"{name} R{r}: NaN coordinates at {(frames_done + i + 1) * spec.save_ps:g} ps; try a smaller step_fs")
            bar.advance(spec.save_ps, time.monotonic() - t0, True, f"R{r}")
            t0 = time.monotonic()
        idx = np.arange(frames_done + 1, frames_done + nf + 1)
        _write_xtc(rdir / f"chunk_{k:05d}.xtc", xyz, idx * spec.save_ps, idx * steps_per_frame)
        _save_state(sim, rdir, k)
        frames_done += nf
        bar.line(f"{name} R{r}: chunk {k}/{n_chunks} saved ({frames_done}/{n_frames} frames)")
        if on_chunk is not None:
            on_chunk({"replica": r, "chunk": k, "frames": frames_done, "total_frames": n_frames})

    parts = [_read_xtc(rdir / f"chunk_{i:05d}.xtc") for i in range(1, k + 1)]
    xyz = np.concatenate([p[0] for p in parts])
    if len(xyz) != n_frames:
        raise InputError(f"{rdir}: resume data hold {len(xyz)} frames, expected {n_frames}; delete {rdir} to restart R{r}")
    _write_xtc(final, xyz, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]))
    shutil.rmtree(rdir, ignore_errors=True)


def _save_state(sim, rdir: Path, k: int) -> None:
    tmp = rdir / f".state_{k:05d}.tmp{os.getpid()}.xml"
    sim.saveState(str(tmp))
    os.replace(tmp, rdir / f"state_{k:05d}.xml")
    for old in rdir.glob("state_*.xml"):
        if old.name != f"state_{k:05d}.xml":
            old.unlink(missing_ok=True)


__all__ = ["simulate", "SimulationResult", "SimulationError", "SimulateSpec", "build_peptide", "load_structure",
           "check_sequence", "update_manifest", "AMINO_ACIDS"]
