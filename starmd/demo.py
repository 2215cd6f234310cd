"""The demo: roll out the shipped default model on a held-out peptide and score it against its MD.

``run_demo()`` is what ``starmd demo`` / ``make demo`` call: it starts from the first frame of the
held-out peptide's first MD replica, generates ``n_frames`` frames at the data's saving interval,
evaluates them against that replica (with the second replica as the oracle and the static and
random-walk baselines) and returns the report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from starmd.errors import InputError

DEFAULT_CHECKPOINT = Path("checkpoints/default.ckpt")
DEFAULT_MANIFEST = Path("data/manifest.yaml")


@dataclass
class DemoResult:
    protein: str
    generated: Path
    report_dir: Path
    report: dict
    rollout_summary: str
    stopped_early: str | None
    wall_s: float


def _pick_protein(manifest: Path, name: str | None):
    from starmd.core.data import load_manifest

    entries = load_manifest(manifest)
    tests = [e for e in entries if e.split == "test"]
    if name is not None:
        chosen = [e for e in entries if e.name == name]
        if not chosen:
            raise InputError(f"{manifest}: no protein named {name!r} (have {', '.join(e.name for e in entries)})")
        return chosen[0]
    if not tests:
        raise InputError(f"{manifest}: no protein with split: test to run the demo on")
    return tests[0]


def run_demo(checkpoint: str | Path = DEFAULT_CHECKPOINT, manifest: str | Path = DEFAULT_MANIFEST, protein: str | None = None,
             n_frames: int = 1000, steps: int = 20, window: int | None = 32, seed: int = 0, out: str | Path = "demo_out",
             progress: bool = True, make_figures: bool = True, max_ca_jump: float = 10.0, start_t: float = 1.0,
             noise_scale: float = 1.0, sampler: str = "renoise", refine_backbone: bool = True,
             torsion_temperature: float | None = None, dihedral_sigma: float | None = None) -> DemoResult:
    """Roll out ``checkpoint`` from a held-out protein of ``manifest`` and evaluate it (see module doc).
    ``torsion_temperature`` and ``dihedral_sigma`` (rad): None keeps the :class:`RolloutSpec` default."""
    import os

    import torch

    from starmd.core.rollout import rollout
    from starmd.core.specs import RolloutSpec, validate_spec
    from starmd.eval.report import evaluate

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)  # peptide-sized tensors: extra intra-op threads only add synchronisation
    checkpoint, manifest, out = Path(checkpoint), Path(manifest), Path(out)
    for path, what in ((checkpoint, "default checkpoint"), (manifest, "data manifest")):
        if not path.exists():
            raise InputError(f"{path}: {what} not found (run the demo from the repository root, or pass its path)")
    entry = _pick_protein(manifest, protein)
    if len(entry.replicas) < 1:
        raise InputError(f"{manifest}: {entry.name} has no MD replica to compare with")
    dt_ns = entry.dt_ps / 1000.0
    out.mkdir(parents=True, exist_ok=True)
    gen = out / f"{entry.name}_generated.xtc"
    t0 = time.perf_counter()
    spec = validate_spec(RolloutSpec, dict(
        n_frames=n_frames, dt_ns=dt_ns, steps=steps, window=window, seed=seed, max_ca_jump=max_ca_jump, start_t=start_t,
        noise_scale=noise_scale, sampler=sampler, refine_backbone=refine_backbone,
        **{k: v for k, v in (("torsion_temperature", torsion_temperature), ("dihedral_sigma", dihedral_sigma)) if v is not None}),
        source="demo options")
    res = rollout(checkpoint, entry.replicas[0], topology=entry.topology, start_frame=0, out=gen, spec=spec, progress=progress,
                  raise_on_stop=False)
    if res.n_frames < 2:
        from starmd.errors import RolloutError

        raise RolloutError(f"{checkpoint}: the rollout stopped at once ({res.stopped_early}); nothing to evaluate")
    report = evaluate(reference=entry.replicas[0], generated=gen, topology=entry.topology,
                      oracle=entry.replicas[1] if len(entry.replicas) > 1 else None,
                      generated_topology=gen.with_suffix(".pdb"), out=out / "report", make_figures=make_figures)
    return DemoResult(protein=entry.name, generated=gen, report_dir=out / "report", report=report,
                      rollout_summary=res.summary(), stopped_early=res.stopped_early, wall_s=time.perf_counter() - t0)


__all__ = ["run_demo", "DemoResult", "DEFAULT_CHECKPOINT", "DEFAULT_MANIFEST"]
