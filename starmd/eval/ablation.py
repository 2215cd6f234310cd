"""Ablations: train, roll out and evaluate every spec of a grid on the same data; one table + figure.

The grid maps dotted spec paths (as for ``--set``) to lists of values; every combination is one
row. Paths are fields of the base :class:`~starmd.core.specs.TrainingSpec` (``model.attention``,
``model.backend.kind``, ``context_noise.enabled``, ``steps`` ...), or of the rollout spec when
they start with ``rollout.`` (``rollout.window``, ``rollout.steps`` ...). All rows use the same
data, seeds and rollout/evaluation settings, so differences come from the design choice alone.

Per row, under ``out_dir/<row folder>/``: ``train/`` (the training run), ``<protein>.xtc`` (+ its
topology ``<protein>.pdb``), ``report_<protein>/`` (the full evaluation) and ``row.json`` (the
row's settings and numbers). Rerunning an ablation reuses every row whose ``row.json`` was written
with the same settings, and continues an interrupted training run from its last checkpoint.

Rollout defaults taken from the data and the training spec (unless the ablation's ``rollout``
section sets them): ``dt_ns`` = the protein's saved-frame spacing (so the generated trajectory is
compared with the reference at the same time step) and ``context_noise`` = the row's
``context_noise.inference`` when context noise is enabled in training, 0 when it is disabled.

Which proteins: ``proteins:`` when given (any split; they may be training proteins), else every
protein of the manifest with ``split: test`` (never trained on). Metrics of a row are means over
those proteins.

Failures are results, not crashes: when a rollout stops (e.g. the model of that row explodes) or
the evaluation refuses the data (e.g. too few frame pairs at the tICA lag, see
:func:`starmd.eval.report.evaluate`), that protein's metrics are recorded as ``null`` with the
one-line reason under ``errors``; a row whose proteins all failed shows ``–`` in the table.
Errors in the ablation spec itself (unknown grid path, missing manifest) still raise.

This module drives training and rollout through the public API; model-side modules are imported
inside functions only (eval/ imports no model code at import time). The metrics come from
:mod:`starmd.eval.report`, which knows nothing about models.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from starmd.core.files import publish
from starmd.core.specs import AblationSpec, RolloutSpec, TrainingSpec, apply_overrides
from starmd.errors import SpecError, StarMDError

HEADLINE = ["jsd", "recall", "tica_corr", "rmsd_lag_dev", "autocorr_dev", "vamp2_dev", "ca_valid", "aa_valid", "ca_aa_valid"]
"""The paper's Table 1 columns (keys of :func:`starmd.eval.report.evaluate`'s summary rows)."""

EXTRA = ["rmsf_r", "pairwise_rmsd_w", "msm_dev"]
"""Further metrics kept in ``ablation.json`` (not in the Markdown table)."""

REFERENCE_ROWS = ["oracle", "static", "random_walk"]
"""Rows of every evaluation that do not depend on the model; reported once, beside the grid rows."""


# ---------------------------------------------------------------------------- grid


def grid_rows(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in order: a list of ``{path: value}``."""
    if not grid:
        return [{}]
    keys = list(grid)
    for k in keys:
        if not isinstance(grid[k], list) or not grid[k]:
            raise SpecError(f"ablation grid: {k} must be a non-empty list of values")
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def row_name(row: dict[str, Any]) -> str:
    """A short label of one row, e.g. ``attention=joint,enabled=False``; ``base`` for an empty grid."""
    if not row:
        return "base"
    return ",".join(f"{k.split('.')[-1]}={v}" for k, v in row.items())


def row_folder(row: dict[str, Any], index: int) -> str:
    """A file-system-safe folder name for a row (its index keeps names unique)."""
    label = re.sub(r"[^A-Za-z0-9_.=-]+", "_", row_name(row).replace(",", "_")).replace("=", "-")
    return f"{index:02d}_{label}"[:100]


def _override(key: str, value: Any) -> str:
    return f"{key}={value if isinstance(value, str) else json.dumps(value)}"


def row_specs(spec: AblationSpec, row: dict[str, Any], out_dir: Path) -> tuple[TrainingSpec, RolloutSpec, bool]:
    """The training spec (``out_dir/train``) and rollout spec of one row (validated), and whether the
    rollout's ``dt_ns`` is to be taken from each protein's frame spacing (it was not set explicitly)."""
    train_ov = [_override(k, v) for k, v in row.items() if not k.startswith("rollout.")]
    roll_ov = [_override(k[len("rollout."):], v) for k, v in row.items() if k.startswith("rollout.")]
    try:
        train_spec = apply_overrides(spec.base, train_ov + [f"out_dir={out_dir / 'train'}"])
        roll_spec = apply_overrides(spec.rollout, roll_ov)
    except SpecError as err:
        raise SpecError(f"ablation row {row_name(row)}: {err}") from None
    set_fields = set(spec.rollout.model_fields_set) | {k[len("rollout."):] for k in row if k.startswith("rollout.")}
    if "context_noise" not in set_fields:
        cn = train_spec.context_noise
        roll_spec = roll_spec.model_copy(update={"context_noise": cn.inference if cn.enabled else 0.0})
    return train_spec, roll_spec, "dt_ns" not in set_fields


def _proteins(spec: AblationSpec):
    from starmd.core.data import load_manifest

    if spec.base.data.manifest is None:
        raise SpecError("ablation: base.data.manifest must name the data set")
    entries = load_manifest(spec.base.data.manifest)
    if spec.proteins:
        missing = sorted(set(spec.proteins) - {e.name for e in entries})
        if missing:
            raise SpecError(f"ablation: proteins {missing} are not in {spec.base.data.manifest}")
        return [e for e in entries if e.name in spec.proteins]
    chosen = [e for e in entries if e.split == "test"]
    if not chosen:
        raise SpecError(f"ablation: {spec.base.data.manifest} has no protein with split: test (or set `proteins:`)")
    return chosen


# ---------------------------------------------------------------------------- one row


def _train(train_spec: TrainingSpec, progress: bool) -> float | None:
    """Train (or continue, or reuse) the row's model; returns the last logged training loss."""
    from starmd.core.checkpoint import read_checkpoint
    from starmd.core.train import train

    ckpt = Path(train_spec.out_dir) / "checkpoints" / "last.ckpt"
    resume = None
    if ckpt.exists():
        data = read_checkpoint(ckpt)
        same = isinstance(data.spec, TrainingSpec) and data.spec.model_copy(update={"steps": train_spec.steps}) == train_spec
        if not same:
            raise StarMDError(f"{ckpt}: holds a run of another spec; remove {Path(train_spec.out_dir).parent} "
                              "or choose another ablation out_dir")
        resume = ckpt if data.step < train_spec.steps else None
        if data.step >= train_spec.steps:
            return _last_loss(Path(train_spec.out_dir))
    train(train_spec, resume=resume, progress=progress)
    return _last_loss(Path(train_spec.out_dir))


def _last_loss(run_dir: Path) -> float | None:
    log = run_dir / "metrics.jsonl"
    if not log.exists():
        return None
    losses = [r.get("loss") for r in map(json.loads, log.read_text().splitlines()) if r.get("loss") is not None]
    return _number(losses[-1]) if losses else None


def _number(x) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def _one_protein(entry, ckpt: Path, roll_spec: RolloutSpec, data_dt: bool, spec: AblationSpec, out_dir: Path,
                 progress: bool) -> dict:
    """Roll out and evaluate one protein: {"summary": {row: metrics}, "error": None | str}."""
    from starmd.core.rollout import rollout
    from starmd.eval.report import evaluate

    reference = entry.replicas[0]
    if data_dt:
        roll_spec = roll_spec.model_copy(update={"dt_ns": entry.dt_ps / 1000.0})
    gen = out_dir / f"{entry.name}.xtc"
    try:
        if reference == entry.topology:  # a protein given as one structure file
            rollout(ckpt, entry.topology, out=gen, spec=roll_spec, progress=progress)
        else:
            rollout(ckpt, reference, topology=entry.topology, start_frame=0, out=gen, spec=roll_spec, progress=progress)
        report = evaluate(reference=reference, generated=gen, topology=entry.topology,
                          oracle=entry.replicas[1] if len(entry.replicas) > 1 else None,
                          generated_topology=gen.with_suffix(".pdb"), dt_ns=entry.dt_ps / 1000.0,
                          generated_dt_ns=roll_spec.dt_ns, out=out_dir / f"report_{entry.name}",
                          spec=spec.evaluation, make_figures=False)
    except StarMDError as err:  # a diverged rollout or data too short for a metric: a null result, not a crash
        return {"summary": {}, "error": str(err)}
    return {"summary": report["summary"], "error": None}


def _mean(values: list) -> float | None:
    nums = [v for v in (_number(x) for x in values) if v is not None]
    return sum(nums) / len(nums) if nums else None


def _mean_metrics(summaries: list[dict], row: str) -> dict[str, float | None]:
    return {k: _mean([s[row].get(k) for s in summaries if row in s]) for k in HEADLINE + EXTRA}


def _settings(spec: AblationSpec, train_spec: TrainingSpec, roll_spec: RolloutSpec, data_dt: bool, entries) -> dict:
    """Everything a row's numbers depend on (a finished row is reused only when this is unchanged)."""
    return {"training": train_spec.to_dict(), "rollout": roll_spec.to_dict(), "rollout_dt_from_data": data_dt,
            "evaluation": spec.evaluation.to_dict(),
            "proteins": [{"name": e.name, "topology": str(e.topology), "replicas": [str(r) for r in e.replicas],
                          "dt_ps": e.dt_ps} for e in entries]}


def run_row(spec: AblationSpec, row: dict[str, Any], out_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Train, roll out and evaluate one grid row (reusing a finished ``row.json`` with the same settings).

    Returns ``{"overrides", "folder", "train_loss", "metrics": {metric: mean over proteins or None},
    "reference_rows": {oracle/static/random_walk: metrics}, "per_protein": {name: summary row},
    "errors": {name: message}}``.
    """
    out_dir = Path(out_dir)
    train_spec, roll_spec, data_dt = row_specs(spec, row, out_dir)
    entries = _proteins(spec)
    settings = _settings(spec, train_spec, roll_spec, data_dt, entries)
    done = out_dir / "row.json"
    if done.exists():
        try:
            cached = json.loads(done.read_text())
        except (OSError, json.JSONDecodeError):
            cached = {}
        if cached.get("settings") == settings:
            return cached["result"]
    out_dir.mkdir(parents=True, exist_ok=True)
    loss = _train(train_spec, progress)
    ckpt = Path(train_spec.out_dir) / "checkpoints" / "last.ckpt"
    results = {e.name: _one_protein(e, ckpt, roll_spec, data_dt, spec, out_dir, progress) for e in entries}
    summaries = [r["summary"] for r in results.values() if r["error"] is None]
    result = {
        "overrides": row, "folder": out_dir.name, "train_loss": loss,
        "metrics": _mean_metrics(summaries, "generated"),
        "reference_rows": {n: _mean_metrics(summaries, n) for n in REFERENCE_ROWS if any(n in s for s in summaries)},
        "per_protein": {name: {k: _number(r["summary"]["generated"].get(k)) for k in HEADLINE + EXTRA}
                        for name, r in results.items() if r["error"] is None},
        "errors": {name: r["error"] for name, r in results.items() if r["error"] is not None},
    }
    _atomic_write(done, json.dumps({"settings": settings, "result": result}, indent=1, allow_nan=False))
    return result


# ---------------------------------------------------------------------------- the grid


def ablate(spec: AblationSpec, progress: bool = True) -> dict[str, Any]:
    """Run every row of the grid; write ``ablation.json``, ``ablation.md`` and ``ablation.png`` under ``spec.out_dir``.

    Returns ``{"rows": {row name: run_row result}, "reference_rows": {...}, "out_dir": str}``; the
    reference rows (oracle replica, static and random-walk baselines) come from the first row that
    has them (they do not depend on the model).
    """
    out = Path(spec.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = grid_rows(spec.grid)
    names = [row_name(r) for r in rows]
    if len(set(names)) != len(names):
        names = [f"{i}:{n}" for i, n in enumerate(names)]
    results: dict[str, Any] = {}
    for i, (name, row) in enumerate(zip(names, rows)):
        results[name] = run_row(spec, row, out / row_folder(row, i), progress)
    reference = next((r["reference_rows"] for r in results.values() if r["reference_rows"]), {})
    report = {"rows": results, "reference_rows": reference, "grid": spec.grid, "out_dir": str(out)}
    _write_outputs(report, out)
    return report


def _fmt(v, key: str) -> str:
    if v is None:
        return "–"
    return f"{v:.2f}" if key.endswith("valid") else f"{v:.3f}"


def markdown(report: dict[str, Any]) -> str:
    """The comparison table (grid rows, then the reference rows in italics) as Markdown."""
    lines = ["# starmd ablation", "", "| row | train loss | " + " | ".join(HEADLINE) + " | failed proteins |",
             "|---|---|" + "---|" * len(HEADLINE) + "---|"]
    for name, res in report["rows"].items():
        m = res["metrics"]
        lines.append(f"| {name} | {_fmt(res['train_loss'], '')} | " + " | ".join(_fmt(m[k], k) for k in HEADLINE)
                     + f" | {len(res['errors'])} |")
    for name, m in report["reference_rows"].items():
        lines.append(f"| *{name}* | – | " + " | ".join(_fmt(m[k], k) for k in HEADLINE) + " | – |")
    errors = [(n, p, e) for n, r in report["rows"].items() for p, e in r["errors"].items()]
    lines += ["", "Means over the evaluated proteins; `–`: no protein gave a value (see errors). "
              "Reference rows (italics) do not depend on the model: oracle = second MD replica, "
              "static = start frame repeated, random_walk = Gaussian steps matched to the reference."]
    if errors:
        lines += ["", "## Errors", ""] + [f"- {n} / {p}: {e}" for n, p, e in errors]
    return "\n".join(lines) + "\n"


def _write_outputs(report: dict[str, Any], out: Path) -> None:
    _atomic_write(out / "ablation.md", markdown(report))
    _atomic_write(out / "ablation.json", json.dumps(report, indent=2, allow_nan=False))
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    names = list(report["rows"]) + [f"({n})" for n in report["reference_rows"]]
    metrics = [r["metrics"] for r in report["rows"].values()] + list(report["reference_rows"].values())
    colors = ["C0"] * len(report["rows"]) + ["0.6"] * len(report["reference_rows"])
    keys = ["jsd", "recall", "vamp2_dev", "ca_aa_valid"]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.6))
    for ax, key in zip(axes, keys):
        vals = [m.get(key) for m in metrics]
        ax.bar(range(len(names)), [math.nan if v is None else v for v in vals], color=colors)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=35, ha="right", fontsize=7)
        ax.set_title(key)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".ablation.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=100)
        publish(tmp, out / "ablation.png")
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


__all__ = ["ablate", "grid_rows", "row_name", "row_folder", "row_specs", "run_row", "markdown", "HEADLINE", "EXTRA",
           "REFERENCE_ROWS"]
