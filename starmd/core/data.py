"""Trajectory ingestion, cached featurization and strided training windows.

* :func:`load_trajectory` reads anything mdtraj reads (PDB/mmCIF alone, or a topology plus
  XTC/DCD/TRR/NetCDF/H5 ...) and keeps protein heavy atoms only.
* A data set is a manifest (YAML or CSV, see :func:`load_manifest`) or an ATLAS folder
  (:func:`load_atlas_dir`): proteins, each with one topology and one or more replica files.
* :class:`WindowDataset` cuts windows of L saved frames with stride k (Δt = k·dt_ps/1000 ns)
  from featurized replicas. Featurization runs once per (topology, replica) and is cached on disk
  under a key made of the files' contents and :data:`FEATURIZE_VERSION`.

Every problem with an input file raises :class:`starmd.errors.InputError` with one line naming
the file and the problem.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import random
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from starmd.core.protein import ProteinFeatures, canonical_resname, featurize
from starmd.core.specs import DataSpec
from starmd.errors import InputError

FEATURIZE_VERSION = "1"
"""Bump when featurization changes; old cache entries are then ignored."""

_TIMED_FORMATS = {".xtc", ".trr", ".h5", ".nc", ".netcdf", ".ncdf", ".lh5"}
_IONS = {"NA", "CL", "K", "MG", "CA", "ZN", "SOD", "CLA", "POT", "CAL", "NA+", "CL-", "K+"}


# ----------------------------------------------------------------------------- one trajectory
@dataclass
class ProteinTrajectory:
    """Protein heavy atoms of one trajectory (mdtraj, nm) with its name and frame spacing."""

    traj: object  # mdtraj.Trajectory
    name: str
    dt_ps: float | None = None
    source: str = ""

    @property
    def n_frames(self) -> int:
        return self.traj.n_frames

    @property
    def n_residues(self) -> int:
        return self.traj.n_residues

    @property
    def sequence(self) -> str:
        from starmd.core.protein import RESTYPE_3TO1

        return "".join(RESTYPE_3TO1.get(canonical_resname(r.name) or "", "X") for r in self.traj.topology.residues)


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise InputError(f"{path}: {what} file not found")
    if not path.is_file():
        raise InputError(f"{path}: {what} is not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: {what} file is empty")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _read_mdtraj(topology: Path, trajectory: Path | None):
    import mdtraj as md

    target = trajectory or topology
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if trajectory is None:
                return md.load(str(topology))
            top = md.load_topology(str(topology))
            if top.n_atoms == 0:
                raise InputError(f"{topology}: topology has no atoms")
            return md.load(str(trajectory), top=top)
    except InputError:
        raise
    except ValueError as err:
        msg = _first_line(err)
        if "atoms" in msg and ("topology" in msg or "match" in msg or "xyz" in msg):
            raise InputError(f"{target}: atom count does not match topology {topology.name} ({msg})") from None
        raise InputError(f"{target}: cannot read ({msg})") from None
    except Exception as err:  # mdtraj raises many types for corrupt files
        raise InputError(f"{target}: cannot read, file unreadable or truncated ({type(err).__name__}: {_first_line(err)})") from None


def _protein_atoms(traj, source: Path):
    """Indices of protein heavy atoms (standard residues and safe aliases); refuses unknown polymer residues."""
    keep = []
    for res in traj.topology.residues:
        names = {a.name for a in res.atoms}
        if canonical_resname(res.name) is None:
            if res.is_water or res.name.upper() in _IONS or not ({"N", "CA", "C"} <= names):
                continue  # solvent, ions, ligands
            chain = getattr(res.chain, "chain_id", None) or res.chain.index
            raise InputError(f"{source}: non-standard residue {res.name} {res.resSeq} (chain {chain}) cannot be mapped to a standard amino acid")
        keep += [a.index for a in res.atoms if not (a.element is not None and a.element.symbol == "H")
                 and not (a.element is None and a.name.upper().startswith("H"))]
    if not keep:
        raise InputError(f"{source}: no protein residues found")
    return np.array(keep)


def _frame_dt_ps(traj, path: Path) -> float | None:
    if path.suffix.lower() not in _TIMED_FORMATS or traj.n_frames < 2:
        return None
    dt = float(traj.time[1] - traj.time[0])
    return dt if dt > 0 and math.isfinite(dt) else None


def load_trajectory(topology: str | os.PathLike, trajectory: str | os.PathLike | None = None,
                    name: str | None = None, dt_ps: float | None = None) -> ProteinTrajectory:
    """Read a structure or trajectory; keep protein heavy atoms only.

    topology: PDB/mmCIF/GRO/... (read alone when ``trajectory`` is None); trajectory: any
    mdtraj format. ``dt_ps`` overrides the frame spacing read from the file (XTC/TRR/H5/NetCDF
    carry times; others give None). Raises InputError naming the file for unreadable or truncated
    files, atom-count mismatches, non-standard residues, missing N/CA/C and NaN coordinates.
    """
    from starmd.core.protein import extract_atom14

    top_path = Path(topology)
    traj_path = Path(trajectory) if trajectory is not None else None
    _check_file(top_path, "topology")
    if traj_path is not None:
        _check_file(traj_path, "trajectory")
    source = traj_path or top_path
    traj = _read_mdtraj(top_path, traj_path)
    if traj.n_frames == 0:
        raise InputError(f"{source}: no frames")
    if not np.isfinite(traj.xyz).all():
        frame = int(np.argwhere(~np.isfinite(traj.xyz))[0, 0])
        raise InputError(f"{source}: NaN or infinite coordinates (first in frame {frame})")
    file_dt = _frame_dt_ps(traj, source)
    traj = traj.atom_slice(_protein_atoms(traj, source))
    extract_atom14(traj[:1], str(source))  # validates backbone atoms and residue names early
    return ProteinTrajectory(traj=traj, name=name or top_path.stem, dt_ps=dt_ps if dt_ps is not None else file_dt,
                             source=str(source))


# ----------------------------------------------------------------------------- manifests
@dataclass
class ProteinEntry:
    """One protein of a data set: a topology and its replica trajectories (absolute paths)."""

    name: str
    topology: Path
    replicas: list[Path]
    dt_ps: float
    split: str = "train"  # "train" or "test"


def _entry(raw: dict, base: Path, default_dt: float | None, source: Path, row: int) -> ProteinEntry:
    if not isinstance(raw, dict) or not raw.get("name") or not raw.get("topology"):
        raise InputError(f"{source}: protein entry {row} needs 'name' and 'topology'")
    name = str(raw["name"])
    reps = raw.get("replicas") or []
    if isinstance(reps, str):
        reps = [r for r in reps.split(";") if r.strip()]
    topology = base / str(raw["topology"]).strip()
    replicas = [base / str(r).strip() for r in reps]
    for p, what in [(topology, "topology")] + [(r, "replica") for r in replicas]:
        if not p.is_file():
            raise InputError(f"{source}: protein {name}: {what} file {p} not found")
    dt = raw.get("dt_ps") if raw.get("dt_ps") not in (None, "") else default_dt
    if dt is None:
        raise InputError(f"{source}: protein {name}: no dt_ps (set it per protein or at the top level)")
    split = str(raw.get("split") or "train").strip().lower()
    if split not in ("train", "test"):
        raise InputError(f"{source}: protein {name}: split must be 'train' or 'test', got {split!r}")
    try:
        dt = float(dt)
    except ValueError:
        raise InputError(f"{source}: protein {name}: dt_ps {dt!r} is not a number") from None
    return ProteinEntry(name, topology, replicas or [topology], dt, split)


def load_manifest(path: str | os.PathLike) -> list[ProteinEntry]:
    """Proteins of a YAML or CSV manifest (paths relative to the manifest's folder).

    YAML: ``{dt_ps: 10, proteins: [{name, topology, replicas: [...], dt_ps?, split?}, ...]}``.
    CSV: columns ``name,topology,replicas,dt_ps,split`` with replicas separated by ``;``.
    A protein without replicas uses its topology as its only trajectory.
    """
    path = Path(path)
    _check_file(path, "manifest")
    base = path.parent
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read manifest ({_first_line(err)})") from None
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        default_dt = None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise InputError(f"{path}: not valid YAML ({_first_line(err)})") from None
        if not isinstance(data, dict) or not isinstance(data.get("proteins"), list):
            raise InputError(f"{path}: manifest needs a 'proteins' list")
        rows, default_dt = data["proteins"], data.get("dt_ps")
    entries = [_entry(r, base, default_dt, path, i) for i, r in enumerate(rows)]
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise InputError(f"{path}: protein names must be unique")
    return entries


def load_atlas_dir(path: str | os.PathLike, dt_ps: float = 10.0) -> list[ProteinEntry]:
    """Proteins of an ATLAS-layout folder: ``{name}.pdb`` with ``{name}_prod_R{1,2,3}_fit.xtc``."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: ATLAS folder not found")
    entries = []
    for pdb in sorted(path.glob("*.pdb")):
        reps = sorted(path.glob(f"{pdb.stem}_prod_R*_fit.xtc"))
        if reps:
            entries.append(ProteinEntry(pdb.stem, pdb, reps, dt_ps))
    if not entries:
        raise InputError(f"{path}: no '{{name}}.pdb' with '{{name}}_prod_R*_fit.xtc' found")
    return entries


# ----------------------------------------------------------------------------- cache
def cache_root(spec_dir: str | None = None) -> Path:
    """Featurization cache folder: ``spec_dir``, else $STARMD_CACHE, else ~/.cache/starmd (+ /features)."""
    root = spec_dir or os.environ.get("STARMD_CACHE") or Path.home() / ".cache" / "starmd"
    return Path(root) / "features"


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_key(topology: Path, trajectory: Path) -> str:
    """Hash of both files' contents and the featurization version."""
    h = hashlib.sha256(f"starmd-features-v{FEATURIZE_VERSION}".encode())
    h.update(_file_digest(topology).encode())
    h.update(_file_digest(trajectory).encode())
    return h.hexdigest()[:32]


_FIELDS = ("rots", "trans", "torsions", "atom14", "torsion_mask", "aatype", "residue_index", "chain_index",
           "chain_breaks", "atom14_mask")


def _features_to_arrays(f: ProteinFeatures) -> dict[str, np.ndarray]:
    return {"rots": f.frames.rots.float().numpy(), "trans": f.frames.trans.float().numpy(),
            "torsions": f.torsions.float().numpy(), "atom14": f.atom14.float().numpy(),
            "torsion_mask": f.torsion_mask.numpy(), "aatype": f.aatype.numpy(), "residue_index": f.residue_index.numpy(),
            "chain_index": f.chain_index.numpy(), "chain_breaks": f.chain_breaks.numpy(), "atom14_mask": f.atom14_mask.numpy()}


def _write_cache(target: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write one cache entry (a folder of .npy files + meta.json) under a temporary name, then rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        for k, v in arrays.items():
            np.save(tmp / f"{k}.npy", v)
        (tmp / "meta.json").write_text(json.dumps(meta))
        os.rename(tmp, target)
    except OSError:
        if not (target / "meta.json").exists():
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


class FeatureStore:
    """Featurized replicas on disk: arrays are memory-mapped, so windows read only what they need."""

    def __init__(self, cache_dir: str | None = None) -> None:
        self.root = cache_root(cache_dir)
        self.n_featurized = 0  # how many times featurize ran (cache misses)

    def get(self, entry: ProteinEntry, replica: Path) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays (``_FIELDS``) and meta (name, sequence, n_frames, n_residues, dt_ps) of one replica."""
        target = self.root / cache_key(entry.topology, replica)
        if not (target / "meta.json").exists():
            traj = None if replica == entry.topology else replica
            pt = load_trajectory(entry.topology, traj, name=entry.name, dt_ps=entry.dt_ps)
            feats = featurize(pt)
            self.n_featurized += 1
            meta = {"name": entry.name, "sequence": feats.sequence, "n_frames": feats.n_frames,
                    "n_residues": feats.n_residues, "source": str(replica), "version": FEATURIZE_VERSION}
            _write_cache(target, _features_to_arrays(feats), meta)
        meta = json.loads((target / "meta.json").read_text())
        arrays = {k: np.load(target / f"{k}.npy", mmap_mode="r") for k in _FIELDS}
        return arrays, meta


# ----------------------------------------------------------------------------- windows
def split_proteins(entries: list[ProteinEntry], spec: DataSpec) -> dict[str, list[ProteinEntry]]:
    """Split by protein: manifest ``split: test`` → "test"; the rest into "train"/"val".

    Validation proteins are ``spec.val_proteins`` if given, else a ``spec.val_fraction`` share
    (at least one when the fraction is > 0 and two or more proteins remain) drawn with
    ``spec.split_seed``.
    """
    test = [e for e in entries if e.split == "test"]
    rest = sorted((e for e in entries if e.split != "test"), key=lambda e: e.name)
    if spec.val_proteins is not None:
        val_names = set(spec.val_proteins)
    else:
        n_val = round(spec.val_fraction * len(rest))
        if spec.val_fraction > 0 and n_val == 0 and len(rest) >= 2:
            n_val = 1
        shuffled = [e.name for e in rest]
        random.Random(spec.split_seed).shuffle(shuffled)
        val_names = set(shuffled[:n_val])
    return {"train": [e for e in rest if e.name not in val_names], "val": [e for e in rest if e.name in val_names], "test": test}


def entries_from_spec(spec: DataSpec) -> list[ProteinEntry]:
    """Proteins named by ``spec.manifest`` and/or ``spec.atlas_dir``."""
    entries = []
    if spec.manifest:
        entries += load_manifest(spec.manifest)
    if spec.atlas_dir:
        entries += load_atlas_dir(spec.atlas_dir)
    if not entries:
        raise InputError("data: set data.manifest or data.atlas_dir")
    return entries


@dataclass
class _Block:
    """All windows of one (replica, stride): starts 0 .. count-1."""

    replica: int
    stride: int
    count: int


@dataclass(eq=False)
class _Replica:
    name: str
    arrays: dict
    meta: dict
    dt_ps: float
    blocks: list[_Block] = field(default_factory=list)


class WindowDataset(torch.utils.data.Dataset):
    """Windows of ``spec.window`` saved frames with stride k ∈ ``spec.strides`` from one split.

    Index order: replica, then stride, then start frame (every start). Item (tensors, float32 / long):
    ``aatype [N]``, ``residue_index [N]``, ``chain_index [N]``, ``rots [L,N,3,3]``, ``trans [L,N,3]`` Å,
    ``torsions [L,N,7,2]``, ``torsion_mask [N,7]``, ``atom14 [L,N,14,3]`` Å, ``atom14_mask [N,14]``,
    ``dt_ns`` (scalar, k·dt_ps/1000), ``stride`` (int), ``start`` (int, first saved frame), ``name`` (str).
    Proteins with more than ``spec.max_residues`` residues are skipped with a warning.
    """

    def __init__(self, spec: DataSpec, split: str = "train", entries: list[ProteinEntry] | None = None) -> None:
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {split!r}")
        self.spec, self.split = spec, split
        self.store = FeatureStore(spec.cache_dir)
        chosen = split_proteins(entries if entries is not None else entries_from_spec(spec), spec)[split]
        self.replicas: list[_Replica] = []
        self.blocks: list[_Block] = []
        for entry in chosen:
            self._add_entry(entry)
        self._ends = np.cumsum([b.count for b in self.blocks]) if self.blocks else np.zeros(0, dtype=np.int64)

    def _add_entry(self, entry: ProteinEntry) -> None:
        L = self.spec.window
        for path in entry.replicas:
            arrays, meta = self.store.get(entry, path)
            if meta["n_residues"] > self.spec.max_residues:
                warnings.warn(f"{entry.name}: {meta['n_residues']} residues > data.max_residues={self.spec.max_residues}; skipped",
                              stacklevel=3)
                return
            rep = _Replica(entry.name, arrays, meta, entry.dt_ps)
            r = len(self.replicas)
            for k in sorted(self.spec.strides):
                count = meta["n_frames"] - (L - 1) * k
                if count > 0:
                    block = _Block(r, k, count)
                    rep.blocks.append(block)
                    self.blocks.append(block)
            self.replicas.append(rep)

    @property
    def names(self) -> list[str]:
        """Protein names in this split (in order, without repeats)."""
        return list(dict.fromkeys(r.name for r in self.replicas))

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def locate(self, idx: int) -> tuple[int, int, int]:
        """Flat index → (replica, stride, start frame)."""
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(idx)
        b = int(np.searchsorted(self._ends, idx, side="right"))
        block = self.blocks[b]
        start = idx - (int(self._ends[b - 1]) if b else 0)
        return block.replica, block.stride, start

    def index_of(self, replica: int, stride: int, start: int) -> int:
        """(replica, stride, start) → flat index (inverse of :meth:`locate`)."""
        offset = 0
        for block in self.blocks:
            if block.replica == replica and block.stride == stride:
                if not 0 <= start < block.count:
                    raise IndexError(start)
                return offset + start
            offset += block.count
        raise KeyError((replica, stride))

    def __getitem__(self, idx: int) -> dict:
        r, k, start = self.locate(int(idx))
        rep = self.replicas[r]
        frames = slice(start, start + (self.spec.window - 1) * k + 1, k)
        a = rep.arrays
        item = {key: torch.from_numpy(np.array(a[key][frames])) for key in ("rots", "trans", "torsions", "atom14")}
        for key in ("aatype", "residue_index", "chain_index"):
            item[key] = torch.from_numpy(np.array(a[key])).long()
        for key in ("torsion_mask", "atom14_mask", "chain_breaks"):
            item[key] = torch.from_numpy(np.array(a[key])).bool()
        item["dt_ns"] = torch.tensor(k * rep.dt_ps / 1000.0, dtype=torch.float32)
        item["stride"] = k
        item["start"] = start
        item["name"] = rep.name
        return item

    def sample_index(self, generator: torch.Generator | None = None) -> int:
        """A random flat index: protein uniform, replica uniform, stride uniform over the strides whose
        window fits (so Δt is log-uniform over the available powers of two), then start uniform."""
        if len(self) == 0:
            raise IndexError("empty WindowDataset")

        def pick(options: list):
            return options[int(torch.randint(len(options), (1,), generator=generator))]

        name = pick([n for n in self.names if any(r.blocks for r in self.replicas if r.name == n)])
        rep = pick([r for r in self.replicas if r.name == name and r.blocks])
        block = pick(rep.blocks)
        start = int(torch.randint(block.count, (1,), generator=generator))
        return self.index_of(block.replica, block.stride, start)


class LogUniformWindowSampler(torch.utils.data.Sampler):
    """Yields ``num_samples`` indices of a :class:`WindowDataset` via :meth:`WindowDataset.sample_index`."""

    def __init__(self, dataset: WindowDataset, num_samples: int, seed: int = 0) -> None:
        self.dataset, self.num_samples, self.seed, self.epoch = dataset, num_samples, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed + 1_000_003 * self.epoch)
        for _ in range(self.num_samples):
            yield self.dataset.sample_index(g)


_PER_RESIDUE_DIM = {"aatype": 0, "residue_index": 0, "chain_index": 0, "torsion_mask": 0, "atom14_mask": 0, "chain_breaks": 0,
                    "rots": 1, "trans": 1, "torsions": 1, "atom14": 1}


def collate_windows(items: list[dict]) -> dict:
    """Stack window items into a batch, zero-padding residues to the longest N.

    Adds ``mask [B, N]`` (True for real residues); ``dt_ns [B]`` float, ``stride``/``start`` [B] long,
    ``name`` list of str. Per-residue fields gain a leading B (e.g. ``rots [B, L, N, 3, 3]``).
    Padded frames get identity rotations so downstream Rigid maths stays finite.
    """
    n_max = max(int(it["aatype"].shape[0]) for it in items)
    batch: dict = {}
    for key, dim in _PER_RESIDUE_DIM.items():
        padded = []
        for it in items:
            x = it[key]
            pad = n_max - x.shape[dim]
            if pad:
                shape = list(x.shape)
                shape[dim] = pad
                filler = torch.zeros(shape, dtype=x.dtype)
                if key == "rots":
                    filler[...] = torch.eye(3, dtype=x.dtype)
                x = torch.cat([x, filler], dim=dim)
            padded.append(x)
        batch[key] = torch.stack(padded)
    batch["mask"] = torch.stack([torch.arange(n_max) < it["aatype"].shape[0] for it in items])
    batch["dt_ns"] = torch.stack([torch.as_tensor(it["dt_ns"], dtype=torch.float32) for it in items])
    batch["stride"] = torch.tensor([int(it["stride"]) for it in items], dtype=torch.long)
    batch["start"] = torch.tensor([int(it.get("start", 0)) for it in items], dtype=torch.long)
    batch["name"] = [it["name"] for it in items]
    return batch


__all__ = [
    "FEATURIZE_VERSION", "ProteinTrajectory", "load_trajectory", "ProteinEntry", "load_manifest", "load_atlas_dir",
    "entries_from_spec", "split_proteins", "cache_root", "cache_key", "FeatureStore", "WindowDataset",
    "LogUniformWindowSampler", "collate_windows",
]
