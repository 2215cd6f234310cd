"""Typed specs (pydantic v2) for every part of starmd.

One spec drives the Python API, the CLI, the tests and the ablations. Every spec forbids unknown
fields; errors name the field's dotted path. Specs load from and save to YAML or JSON, and accept
``--set a.b=c`` style overrides (the value is parsed as YAML, so ``3``, ``0.1``, ``true``,
``[1,2]`` and ``null`` work).

Units: Å for lengths in files and APIs, ns for physical time, ps only where a field says so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator, model_validator

from starmd.errors import SpecError


class Spec(BaseModel):
    """Base class: unknown fields are rejected, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def save(self, path: str | os.PathLike) -> None:
        """Write as YAML (``.yaml``/``.yml``) or JSON (anything else), atomically."""
        save_spec(self, path)

    def with_overrides(self, overrides: list[str] | tuple[str, ...]):
        """A copy with ``a.b=c`` overrides applied (validated)."""
        return apply_overrides(self, overrides)


# ---------------------------------------------------------------------------- model
class BackendSpec(Spec):
    """Base class of geometry-backend specs: a subclass fixes ``kind`` with a ``Literal`` default.

    ``ModelSpec.backend`` accepts any registered subclass (:func:`register_backend_spec`; the
    backend registry's ``register_backend`` calls it), chosen by ``kind`` in YAML/JSON/``--set``.
    """

    kind: str


_BACKEND_SPECS: dict[str, type[BackendSpec]] = {}


def register_backend_spec(spec_cls: type[BackendSpec]) -> None:
    """Make ``spec_cls`` selectable as ``model.backend`` by its ``kind`` (re-registering replaces)."""
    if not (isinstance(spec_cls, type) and issubclass(spec_cls, BackendSpec)):
        raise TypeError(f"{spec_cls!r} is not a BackendSpec subclass")
    kind = spec_cls.model_fields["kind"].default
    if not isinstance(kind, str):
        raise TypeError(f"{spec_cls.__name__}.kind needs a string default (e.g. kind: Literal['mine'] = 'mine')")
    _BACKEND_SPECS[kind] = spec_cls


def _backend_spec(value: Any) -> Any:
    """``model.backend`` from a spec instance, a kind name or a mapping with ``kind`` (default frame_ipa)."""
    if isinstance(value, BackendSpec):
        if type(value) not in _BACKEND_SPECS.values():
            raise ValueError(f"backend spec {type(value).__name__} is not registered (register_backend)")
        return value
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, dict):
        return value  # let pydantic name the type error
    kind = value.get("kind", "frame_ipa")
    cls = _BACKEND_SPECS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown backend kind {kind!r}; registered: {', '.join(sorted(_BACKEND_SPECS))}")
    return cls.model_validate(value)


class FrameIPASpec(BackendSpec):
    """Invariant point attention on residue frames (the paper's geometry layer)."""

    kind: Literal["frame_ipa"] = "frame_ipa"
    heads: int = Field(8, ge=1)
    head_dim: int = Field(16, ge=1)
    query_points: int = Field(4, ge=1)
    value_points: int = Field(8, ge=1)


class E3nnGraphSpec(BackendSpec):
    """e3nn tensor-product message passing on a k-nearest-neighbour Cα graph."""

    kind: Literal["e3nn_graph"] = "e3nn_graph"
    k: int = Field(16, ge=1, description="neighbours per residue")
    num_basis: int = Field(8, ge=2, description="radial basis functions")
    cutoff: float = Field(20.0, gt=0, description="radial cutoff, Å")
    lmax: int = Field(2, ge=1, le=3, description="spherical-harmonic degree of the edge attributes")
    hidden_irreps: str = "16x0e + 8x1o"
    layers: int = Field(1, ge=1)


register_backend_spec(FrameIPASpec)
register_backend_spec(E3nnGraphSpec)


class ModelSpec(Spec):
    """The STAR-MD network: conditioner, geometry backend, space×time trunk, heads."""

    backend: SerializeAsAny[BackendSpec] = Field(default_factory=FrameIPASpec)
    attention: Literal["joint", "factorized"] = "joint"
    hidden: int = Field(256, ge=8)
    heads: int = Field(8, ge=1)
    blocks: int = Field(4, ge=1)
    st_layers_per_block: int = Field(2, ge=1)
    pair_dim: int = Field(128, ge=4)
    time_embed_dim: int = Field(64, ge=4)
    conditioning: Literal["learned", "precomputed"] = "learned"
    precomputed_single_dim: int | None = None
    precomputed_pair_dim: int | None = None
    max_relpos: int = Field(32, ge=1, description="relative sequence positions are clipped to ±max_relpos")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    history_torsions: bool = Field(True, description="clean (history) tokens see their frame's 7 torsions, so side "
                                   "chains can be carried along time")
    torsion_head: Literal["categorical", "regression"] = Field(
        "categorical", description="categorical: a distribution over torsion_bins bins per torsion, sampled in "
        "rollouts; regression: one (sin, cos) per torsion (the paper; averages between rotamer wells)")
    torsion_bins: int = Field(36, ge=4, description="bins per torsion of the categorical head (even)")
    num_rbf: int = Field(16, ge=2, description="radial basis functions of Cβ distances in the pair features")
    max_distance: float = Field(20.0, gt=0, description="Å; the last radial basis centre of the pair features")
    trans_scale: float = Field(10.0, gt=0, description="Å per unit of a raw translation output (rigid updates)")

    @field_validator("backend", mode="before")
    @classmethod
    def _pick_backend(cls, value: Any) -> Any:
        return _backend_spec(value)

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        if (self.hidden // self.heads) % 4:
            raise ValueError("hidden/heads must be a multiple of 4 (2D rotary embedding)")
        if self.torsion_bins % 2:
            raise ValueError(f"torsion_bins must be even (π-periodic side chains), got {self.torsion_bins}")
        if self.conditioning == "precomputed" and (self.precomputed_single_dim is None or self.precomputed_pair_dim is None):
            raise ValueError("conditioning 'precomputed' needs precomputed_single_dim and precomputed_pair_dim")
        return self

    @classmethod
    def tiny(cls, **kw) -> ModelSpec:
        """A small preset for tests and CPU training."""
        base = dict(hidden=32, heads=4, blocks=2, st_layers_per_block=1, pair_dim=16, time_embed_dim=16,
                    backend=FrameIPASpec(heads=4, head_dim=8, query_points=2, value_points=2))
        base.update(kw)
        return cls(**base)

    @classmethod
    def small(cls, **kw) -> ModelSpec:
        """The preset of the shipped default checkpoint (CPU-trainable)."""
        base = dict(hidden=64, heads=4, blocks=2, st_layers_per_block=2, pair_dim=32, time_embed_dim=32,
                    backend=FrameIPASpec(heads=4, head_dim=16, query_points=4, value_points=4))
        base.update(kw)
        return cls(**base)


# ---------------------------------------------------------------------------- diffusion
class DiffusionSpec(Spec):
    """SE(3) diffusion: VP SDE on translations (nm) and IGSO(3) on rotations."""

    beta_min: float = Field(0.1, gt=0)
    beta_max: float = Field(20.0, gt=0)
    coordinate_scale: float = Field(0.1, gt=0, description="Å → diffusion units (0.1: nm)")
    sigma_min: float = Field(0.1, gt=0, description="IGSO(3) σ at t=0 (log schedule)")
    sigma_max: float = Field(1.5, gt=0, description="IGSO(3) σ at t=1")
    num_sigma: int = Field(500, ge=10, description="σ grid points of the cached IGSO(3) tables")
    num_omega: int = Field(1000, ge=10, description="angle grid points of the cached IGSO(3) tables")
    series_terms: int = Field(1000, ge=10, description="terms of the IGSO(3) series")
    min_t: float = Field(0.01, gt=0, lt=1)
    num_steps: int = Field(200, ge=1)
    noise_scale: float = Field(1.0, ge=0)
    probability_flow: bool = False
    precondition: bool = Field(True, description="scale the network's move from the noisy frame by the noise level "
                               "(SE3Diffuser.precondition); False: use the network's frames as they are (the paper)")
    cache_dir: str | None = Field(None, description="IGSO(3) table cache; default $STARMD_CACHE or ~/.cache/starmd")


class ContextNoiseSpec(Spec):
    """Noise on clean history frames (training: τ ~ U[0, train_max]; inference: fixed)."""

    enabled: bool = True
    train_max: float = Field(0.1, ge=0, le=1)
    inference: float = Field(0.05, ge=0, le=1)


class LossSpec(Spec):
    """Loss weights (PAPER.md) and clamps."""

    rot: float = 0.5
    trans: float = 1.0
    torsion: float = 0.5
    bb_fape: float = 0.5
    sc_fape: float = 0.5
    bb_coord: float = 0.25
    dist_map: float = 0.25
    peptide_bond: float = Field(1.0, ge=0, description="consecutive-residue C–N′, Cα–N′, C–Cα′, Cα–Cα′ distances "
                                "against the target's (Å², t ≤ aux_t_max); not in the paper: 0 turns it off")
    aux_t_max: float = Field(0.25, description="coordinate and distance-map losses apply only for t ≤ this")
    fape_clamp: float = Field(10.0, gt=0, description="Å")
    fape_length_scale: float = Field(10.0, gt=0, description="Å")


# ---------------------------------------------------------------------------- data
class DataSpec(Spec):
    """Where trajectories come from and how windows are cut."""

    manifest: str | None = Field(None, description="YAML/CSV manifest of proteins and replicas")
    atlas_dir: str | None = Field(None, description="folder in ATLAS layout ({name}.pdb, {name}_prod_R*_fit.xtc)")
    window: int = Field(8, ge=2, description="frames per training window (L)")
    strides: list[int] = Field(default_factory=lambda: [1, 2, 4, 8, 16, 32])
    val_fraction: float = Field(0.1, ge=0, lt=1)
    val_proteins: list[str] | None = None
    split_seed: int = 0
    max_residues: int = Field(384, ge=1)
    cache_dir: str | None = Field(None, description="featurization cache; default $STARMD_CACHE or ~/.cache/starmd")

    @model_validator(mode="after")
    def _check(self) -> DataSpec:
        for s in self.strides:
            if s < 1 or (s & (s - 1)):
                raise ValueError(f"strides must be powers of two ≥ 1, got {s}")
        return self


# ---------------------------------------------------------------------------- training
class TrainingSpec(Spec):
    """A training run: model + diffusion + losses + data + optimisation."""

    model: ModelSpec = Field(default_factory=ModelSpec)
    diffusion: DiffusionSpec = Field(default_factory=DiffusionSpec)
    context_noise: ContextNoiseSpec = Field(default_factory=ContextNoiseSpec)
    loss: LossSpec = Field(default_factory=LossSpec)
    data: DataSpec = Field(default_factory=DataSpec)
    out_dir: str = "runs/default"
    steps: int = Field(1000, ge=1)
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    lr: float = Field(1e-4, gt=0)
    warmup_steps: int = Field(100, ge=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    ema_decay: float = Field(0.999, ge=0, lt=1)
    seed: int = 0
    log_every: int = Field(10, ge=1)
    val_every: int = Field(200, ge=1)
    checkpoint_every: int = Field(200, ge=1)
    max_bad_steps: int = Field(20, ge=1, description="consecutive NaN/inf steps before training stops")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_workers: int = Field(0, ge=0)


# ---------------------------------------------------------------------------- rollout
class RolloutSpec(Spec):
    """Autoregressive generation."""

    n_frames: int = Field(100, ge=1)
    dt_ns: float = Field(1.0, gt=0)
    samples: int = Field(1, ge=1)
    steps: int = Field(200, ge=1, description="reverse-SDE steps per frame")
    window: int | None = Field(None, ge=1, description="sliding window of cached frames (None: keep all)")
    sink: int = Field(1, ge=0, description="attention-sink frames kept when a window is used")
    context_noise: float = Field(0.05, ge=0, le=1)
    noise_scale: float = Field(1.0, ge=0)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    max_ca_jump: float = Field(10.0, gt=0, description="Å; a Cα–Cα neighbour distance above this stops the rollout")
    sampler: Literal["sde", "ode", "renoise"] = Field(
        "sde", description="sde: Euler–Maruyama reverse SDE (the paper); ode: probability-flow ODE; renoise: "
        "re-noise each clean prediction to the next t (x_t' ~ p_t'(·|x0 = prediction))")
    refine_backbone: bool = Field(
        True, description="after each frame, move residue frames as little as possible to close every peptide bond "
        "with ideal geometry, hold proline φ in its ring window and close proline rings (starmd.core.refine, "
        "starmd.core.proline; not in the paper); false gives the network's raw frames and torsions")
    refine_dihedrals: bool = Field(
        True, description="with refine_backbone: also pull each residue's φ/ψ towards the torsion head's (sampled) "
        "φ/ψ, so the backbone follows the head's Ramachandran distribution")
    dihedral_sigma: float = Field(
        0.05, gt=0, description="rad; with refine_dihedrals: the restraint width of φ/ψ about the head's sample "
        "(smaller: the backbone follows the torsion head more closely and the frames' own φ/ψ less; 0.05 chosen "
        "on the validation peptides, BENCHMARKS.md)")
    torsions: Literal["sample", "mean"] = Field(
        "sample", description="categorical torsion heads: sample each frame's torsions from the predicted "
        "distribution, or take its circular mean (ignored by regression heads)")
    torsion_temperature: float = Field(
        0.5, gt=0, description="with torsions: sample, draw bins from softmax(logits / T): 1 is the model's own "
        "distribution, < 1 sharpens it towards its likely bins (fewer rotamer/Ramachandran outliers, a little less "
        "spread; 0.5 chosen on the validation peptides for the shipped model, BENCHMARKS.md)")
    start_t: float = Field(1.0, gt=0, le=1, description="1: each frame starts from the prior (the paper); < 1: from the "
                           "previous frame noised to this diffusion time (SDEdit-style warm start)")


# ---------------------------------------------------------------------------- evaluation
class EvaluationSpec(Spec):
    """Metric settings (see DESIGN.md for the definitions)."""

    bins: int = Field(10, ge=2)
    n_pcs_autocorr: int = Field(32, ge=1)
    tica_lag_ns: float | None = Field(None, gt=0, description="default: 10 saved frames")
    msm_clusters: int = Field(20, ge=2)
    msm_lags_ns: list[float] | None = None
    max_rmsd_lag_ns: float | None = None
    clash_distance: float = Field(3.0, gt=0, description="Å, Cα–Cα for |i−j| > 1")
    break_distance: float = Field(4.19, gt=0, description="Å, consecutive Cα")
    rama_outlier_max: float = Field(0.0412, ge=0, le=1)
    rotamer_outlier_max: float = Field(0.0705, ge=0, le=1)
    n_pcs_kinetic: int = Field(10, ge=1, description="reference PCs used as features for tICA, VAMP-2 and the MSM")
    tica_min_pairs: int = Field(30, ge=1, description="valid frame pairs needed at the tICA lag")
    max_pairwise_frames: int = Field(500, ge=2, description="frames (evenly strided) used for pairwise-RMSD distributions")
    seed: int = 0


# ---------------------------------------------------------------------------- simulation
class SimulateSpec(Spec):
    """Reference MD with OpenMM (implicit solvent by default), see ``starmd.core.simulate``.

    Time fields carry their unit in the name (ps, ns, fs). The default integrator is Langevin
    (middle scheme) at 4 fs with hydrogen-mass repartitioning (heavy-atom mass moved onto bonded
    hydrogens until each hydrogen weighs ``hydrogen_mass_amu``) and constrained X–H bonds: the
    equilibrium distribution is unchanged, kinetics are slightly perturbed. Set
    ``step_fs=2, hydrogen_mass_amu=null`` for plain masses.
    """

    forcefield: list[str] = Field(default_factory=lambda: ["amber14-all.xml", "implicit/gbn2.xml"],
                                  description="OpenMM force-field files; implicit solvent or vacuum (no explicit water)")
    temperature_k: float = Field(300.0, gt=0)
    friction_per_ps: float = Field(1.0, gt=0)
    step_fs: float = Field(4.0, gt=0, le=5.0)
    hydrogen_mass_amu: float | None = Field(3.0, gt=1.0, le=5.0, description="HMR target hydrogen mass (null: no repartitioning)")
    constraints: Literal["none", "hbonds", "allbonds", "hangles"] = "hbonds"
    save_ps: float = Field(10.0, gt=0, description="interval between saved frames")
    length_ns: float = Field(1.0, gt=0, description="production length per replica")
    equilibration_ps: float = Field(100.0, ge=0, description="unsaved MD after minimisation, per replica")
    minimize_iterations: int = Field(0, ge=0, description="energy-minimisation iterations (0: until converged)")
    replicas: int = Field(2, ge=1)
    platform: Literal["auto", "CPU", "CUDA", "OpenCL", "Reference"] = "auto"
    cpu_threads: int | None = Field(None, ge=1, description="threads of the CPU platform (null: OpenMM's default, all cores)")
    seed: int = Field(0, ge=0, description="replica r uses seeds derived from (seed, r)")
    chunk_ps: float = Field(1000.0, gt=0, description="resume granularity: state and frames are saved every chunk")
    phi_deg: float | None = Field(None, description="backbone φ for a built peptide (null with psi_deg: fully extended)")
    psi_deg: float | None = Field(None, description="backbone ψ for a built peptide")
    ph: float = Field(7.0, description="protonation pH for added hydrogens (termini are charged)")

    @model_validator(mode="after")
    def _check(self) -> SimulateSpec:
        def multiple(a: float, b: float) -> bool:
            k = a / b
            return abs(k - round(k)) < 1e-6 and round(k) >= 1

        if not multiple(self.save_ps * 1000.0, self.step_fs):
            raise ValueError(f"save_ps ({self.save_ps}) must be a whole number of steps of {self.step_fs} fs")
        if not multiple(self.chunk_ps, self.save_ps):
            raise ValueError(f"chunk_ps ({self.chunk_ps}) must be a whole number of save_ps ({self.save_ps})")
        if not multiple(self.length_ns * 1000.0, self.save_ps):
            raise ValueError(f"length_ns ({self.length_ns}) must be a whole number of save_ps ({self.save_ps} ps)")
        if self.step_fs > 2.5 and (self.hydrogen_mass_amu is None or self.hydrogen_mass_amu < 2.0 or self.constraints == "none"):
            raise ValueError(f"step_fs {self.step_fs} > 2.5 needs hydrogen_mass_amu ≥ 2 and constraints on X–H bonds")
        if (self.phi_deg is None) != (self.psi_deg is None):
            raise ValueError("phi_deg and psi_deg go together (both null: extended)")
        if not self.forcefield:
            raise ValueError("forcefield needs at least one file")
        return self


# ---------------------------------------------------------------------------- ablation
class AblationSpec(Spec):
    """A grid of overrides applied to one base training spec, each trained, rolled out, evaluated."""

    base: TrainingSpec = Field(default_factory=TrainingSpec)
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="dotted override path → values")
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    proteins: list[str] | None = None
    out_dir: str = "runs/ablation"


# ---------------------------------------------------------------------------- I/O
SPEC_TYPES: dict[str, type[Spec]] = {
    "training": TrainingSpec,
    "rollout": RolloutSpec,
    "evaluation": EvaluationSpec,
    "simulate": SimulateSpec,
    "ablation": AblationSpec,
    "model": ModelSpec,
    "diffusion": DiffusionSpec,
    "data": DataSpec,
}

S = TypeVar("S", bound=Spec)


def format_validation_error(err: ValidationError, source: str) -> str:
    """One line: ``source: a.b.c: message`` for the first error (and a count of the rest)."""
    errs = err.errors()
    first = errs[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    extra = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
    return f"{source}: {loc or '<root>'}: {msg}{extra}"


def validate_spec(cls: type[S], data: Any, source: str = "spec") -> S:
    """Validate ``data`` (a dict) as ``cls``; raises SpecError with the field path."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping of fields, got {type(data).__name__}")
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise SpecError(format_validation_error(err, source)) from None


def _read_mapping(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as err:
        raise SpecError(f"{path}: cannot read spec file ({err.strerror})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise SpecError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'} ({str(err).splitlines()[0]})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping of spec fields at the top level")
    return data


def _guess_type(data: dict, path: Path) -> type[Spec]:
    keys = set(data)
    for cls in (TrainingSpec, RolloutSpec, EvaluationSpec, SimulateSpec, AblationSpec, ModelSpec, DiffusionSpec, DataSpec):
        if keys and keys <= set(cls.model_fields):
            return cls
    raise SpecError(f"{path}: cannot tell which spec this is (top-level fields {sorted(keys)}); pass the spec type")


def load_spec(path: str | os.PathLike, cls: type[S] | str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> S:
    """Load a spec from YAML/JSON, optionally apply ``a.b=c`` overrides, validate.

    ``cls`` may be a spec class, a name from ``SPEC_TYPES`` or None (guessed from the top-level keys;
    an empty file needs ``cls``).
    """
    path = Path(path)
    data = _read_mapping(path)
    if isinstance(cls, str):
        if cls not in SPEC_TYPES:
            raise SpecError(f"unknown spec type {cls!r}; expected one of {sorted(SPEC_TYPES)}")
        cls = SPEC_TYPES[cls]
    if cls is None:
        cls = _guess_type(data, path)
    for ov in overrides:
        _set_path(data, ov)
    return validate_spec(cls, data, str(path))


def save_spec(spec: Spec, path: str | os.PathLike) -> None:
    """Write ``spec`` as YAML or JSON (by extension) via a temporary file and rename."""
    path = Path(path)
    data = spec.to_dict()
    text = json.dumps(data, indent=2) if path.suffix.lower() == ".json" else yaml.safe_dump(data, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _set_path(data: dict, override: str) -> None:
    if "=" not in override:
        raise SpecError(f"override {override!r}: expected key.sub=value")
    key, value = override.split("=", 1)
    key = key.strip()
    if not key:
        raise SpecError(f"override {override!r}: empty key")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    node = data
    parts = key.split(".")
    for i, p in enumerate(parts[:-1]):
        nxt = node.get(p)
        if nxt is None:
            nxt = {}
            node[p] = nxt
        if not isinstance(nxt, dict):
            raise SpecError(f"override {override!r}: {'.'.join(parts[: i + 1])} is not a group of fields")
        node = nxt
    last = parts[-1]
    if last == "kind" and node.get("kind") not in (None, parsed):
        node.clear()  # switching a discriminated union (e.g. the backend): drop the old variant's fields
    if last == "backend" and isinstance(parsed, str):
        parsed = {"kind": parsed}
    node[last] = parsed


def apply_overrides(spec: S, overrides: list[str] | tuple[str, ...]) -> S:
    """Return a validated copy of ``spec`` with ``a.b=c`` overrides applied."""
    data = spec.to_dict()
    for ov in overrides:
        _set_path(data, ov)
    return validate_spec(type(spec), data, "--set")


__all__ = [
    "Spec", "FrameIPASpec", "E3nnGraphSpec", "BackendSpec", "register_backend_spec", "ModelSpec", "DiffusionSpec", "ContextNoiseSpec",
    "LossSpec", "DataSpec", "TrainingSpec", "RolloutSpec", "EvaluationSpec", "SimulateSpec", "AblationSpec",
    "SPEC_TYPES", "load_spec", "save_spec", "apply_overrides", "validate_spec", "format_validation_error",
]
