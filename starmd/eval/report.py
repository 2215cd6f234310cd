"""One evaluation: every metric of a generated trajectory (and of an optional second MD replica,
the "oracle", and two automatic baselines) against a reference trajectory, written as JSON, a
Markdown table and PNG figures.

Baselines (so each table has a floor next to the numbers):

* ``static``: the reference's first frame repeated (no motion at all);
* ``random_walk``: from the reference's first frame, every heavy atom takes independent Gaussian
  steps each frame. The per-axis step σ is matched to the reference's mean per-frame Cα
  displacement ⟨|Δx|⟩ (after superposition on its first frame): σ = ⟨|Δx|⟩ / √(8/π), scaled by
  √(dt_generated / dt_reference) (diffusive scaling) to the generated trajectory's time step.

Both baselines have the generated trajectory's number of frames and time step. The oracle, when
given, is the ceiling. Everything is computed on heavy protein atoms (hydrogens and solvent are
stripped on loading).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import mdtraj as md
import numpy as np

from starmd.core.files import publish
from starmd.core.specs import EvaluationSpec
from starmd.errors import InputError, StarMDError
from starmd.eval import metrics as M
from starmd.eval.validity import RAMA_REGIONS, ramachandran, validity

# ---------------------------------------------------------------------------- loading


def load_protein(source, topology=None, what: str = "trajectory") -> md.Trajectory:
    """Load ``source`` (path or mdtraj.Trajectory) as a heavy-atom, protein-only, single-chain trajectory.

    Raises InputError (one line naming the file) on unreadable files, atom-count mismatch with the
    topology, no protein atoms, several chains, missing backbone atoms or NaN coordinates.
    """
    name = str(source) if not isinstance(source, md.Trajectory) else what
    if isinstance(source, md.Trajectory):
        traj = source
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"{path}: {what} file not found")
        kw = {}
        if path.suffix.lower() not in (".pdb", ".cif", ".h5", ".gro", ".pdb.gz"):
            if topology is None:
                raise InputError(f"{path}: a topology file is needed to read this {what}")
            if isinstance(topology, md.Trajectory):
                kw["top"] = topology.topology
            else:
                if not Path(topology).is_file():
                    raise InputError(f"{topology}: topology file not found")
                kw["top"] = str(topology)
        try:
            traj = md.load(str(path), **kw)
        except Exception as err:  # mdtraj raises many types (IOError, ValueError, RuntimeError, ...)
            msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise InputError(f"{path}: cannot read {what} with topology {topology} ({msg})") from None
    top = traj.topology
    keep = [a.index for a in top.atoms if a.residue.is_protein and (a.element is None or a.element.symbol != "H")]
    if not keep:
        raise InputError(f"{name}: no protein heavy atoms in {what}")
    traj = traj.atom_slice(keep)
    if traj.n_frames == 0:
        raise InputError(f"{name}: {what} has no frames")
    if traj.topology.n_chains != 1:
        raise InputError(f"{name}: {what} has {traj.topology.n_chains} protein chains; expected one")
    for res in traj.topology.residues:
        names = {a.name for a in res.atoms}
        missing = {"N", "CA", "C"} - names
        if missing:
            raise InputError(f"{name}: residue {res} lacks backbone atoms {sorted(missing)}")
    if not np.all(np.isfinite(traj.xyz)):
        raise InputError(f"{name}: {what} has NaN/inf coordinates")
    return traj


def _sequence(traj: md.Trajectory) -> str:
    return "".join(r.code or "X" for r in traj.topology.residues)


def _check_same_protein(ref: md.Trajectory, other: md.Trajectory, ref_name: str, name: str) -> None:
    nr, no = ref.topology.n_residues, other.topology.n_residues
    if nr != no:
        raise StarMDError(f"{name}: {no} residues, but the reference {ref_name} has {nr}")
    sr, so = _sequence(ref), _sequence(other)
    if sr != so:
        k = next(i for i, (a, b) in enumerate(zip(sr, so, strict=False)) if a != b)
        raise StarMDError(f"{name}: sequence differs from the reference {ref_name} at residue {k + 1} ({so[k]} vs {sr[k]})")


# ---------------------------------------------------------------------------- baselines


def static_baseline(start: md.Trajectory, n_frames: int, dt_ns: float) -> md.Trajectory:
    """``start``'s first frame repeated ``n_frames`` times with time step ``dt_ns``."""
    xyz = np.repeat(start.xyz[:1], n_frames, axis=0)
    return md.Trajectory(xyz, start.topology, time=np.arange(n_frames) * dt_ns * 1000.0)


def random_walk_baseline(start: md.Trajectory, n_frames: int, dt_ns: float, step_angstrom: float,
                         seed: int = 0) -> md.Trajectory:
    """Independent Gaussian random walk of every atom from ``start``'s first frame.

    ``step_angstrom``: per-axis standard deviation of one step (Å).
    """
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, step_angstrom / 10.0, size=(n_frames, start.n_atoms, 3))
    steps[0] = 0.0
    xyz = start.xyz[:1].astype(np.float64) + np.cumsum(steps, axis=0)
    return md.Trajectory(xyz.astype(np.float32), start.topology, time=np.arange(n_frames) * dt_ns * 1000.0)


def matched_step(ref_ca: np.ndarray, dt_ref_ns: float, dt_gen_ns: float) -> float:
    """Per-axis Gaussian step (Å) whose mean displacement matches the reference's per-frame Cα displacement."""
    disp = float(np.linalg.norm(np.diff(ref_ca, axis=0), axis=-1).mean()) if len(ref_ca) > 1 else 0.0
    return disp / math.sqrt(8.0 / math.pi) * math.sqrt(dt_gen_ns / dt_ref_ns)


# ---------------------------------------------------------------------------- one comparison


class _Reference:
    """Everything computed once from the reference."""

    def __init__(self, traj: md.Trajectory, dt_ns: float, spec: EvaluationSpec):
        self.traj, self.dt, self.spec = traj, dt_ns, spec
        self.first = traj[0]
        self.ca = M.ca_coordinates(traj, self.first)
        self.pca = M.fit_pca(self.ca)
        self.proj = self.pca.transform(self.ca)
        self.kin = self.proj[:, : spec.n_pcs_kinetic]


def compare(ref: _Reference, traj: md.Trajectory, dt_ns: float, tica_lag_ns: float, lags_ns: list[float],
            msm_lags_ns: list[float]) -> dict:
    """All metrics of ``traj`` against the reference (JSON-serialisable)."""
    spec = ref.spec
    ca = M.ca_coordinates(traj, ref.first)
    proj = ref.pca.transform(ca)
    kin = proj[:, : spec.n_pcs_kinetic]
    out = {
        "n_frames": int(traj.n_frames), "dt_ns": dt_ns,
        "distribution": M.distribution_metrics(ref.proj, proj, spec.bins),
        "tica": M.tica_correlation(ref.kin, kin, tica_lag_ns, ref.dt, dt_ns, spec.tica_min_pairs),
        "rmsd_lag": M.rmsd_lag_deviation(ref.ca, ca, ref.dt, dt_ns, lags_ns),
        "autocorrelation": M.autocorrelation_deviation(ref.proj, proj, ref.dt, dt_ns, spec.n_pcs_autocorr, lags_ns),
        "vamp2": M.vamp2_deviation(ref.kin, kin, tica_lag_ns, ref.dt, dt_ns),
        "rmsf": M.rmsf_correlation(ref.ca, ca),
        "pairwise_rmsd": M.pairwise_rmsd_comparison(ref.ca, ca, spec.max_pairwise_frames),
        "msm": M.msm_implied_timescales(ref.kin, kin, tica_lag_ns, msm_lags_ns, ref.dt, dt_ns,
                                        spec.msm_clusters, seed=spec.seed),
        "validity": validity(traj, spec),
    }
    out["summary"] = {
        "jsd": out["distribution"]["jsd"], "recall": out["distribution"]["recall"],
        "tica_corr": out["tica"]["correlation"], "rmsd_lag_dev": out["rmsd_lag"]["deviation"],
        "autocorr_dev": out["autocorrelation"]["deviation"], "vamp2_dev": out["vamp2"]["deviation"],
        "rmsf_r": out["rmsf"]["pearson"], "pairwise_rmsd_w": out["pairwise_rmsd"]["wasserstein"],
        "msm_dev": out["msm"]["deviation"], "ca_valid": out["validity"]["ca_percent"],
        "aa_valid": out["validity"]["aa_percent"], "ca_aa_valid": out["validity"]["ca_aa_percent"],
    }
    out.update(out["summary"])  # headline numbers also at the row's top level
    out["_proj"], out["_ca"] = proj, ca  # for figures; removed before writing
    return out


# ---------------------------------------------------------------------------- output

COLUMNS = [("jsd", "JSD↓"), ("recall", "Rec↑"), ("tica_corr", "tICA"), ("rmsd_lag_dev", "RMSD-lag dev↓ (Å)"),
           ("autocorr_dev", "AutoCor dev↓"), ("vamp2_dev", "VAMP-2 dev↓"), ("rmsf_r", "RMSF r↑"),
           ("pairwise_rmsd_w", "pair-RMSD W↓ (Å)"), ("msm_dev", "MSM dev↓"), ("ca_valid", "CA%↑"),
           ("aa_valid", "AA%↑"), ("ca_aa_valid", "CA+AA%↑")]


def _fmt(v, key: str = "") -> str:
    if v is None:
        return "–"
    return f"{v:.2f}" if key.endswith("valid") else f"{v:.3f}"


def _atomic_write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _outlier_lines(by_row: dict | None) -> list[str]:
    """Markdown table of the residues that are outliers in some frame of some row (percent of frames)."""
    if not by_row:
        return []
    rows = list(by_row)
    cols = [(kind, row) for kind in ("rama", "rotamer") for row in rows]
    residues: list[str] = []
    for kind, row in cols:
        residues += [r for r, pct in by_row[row][kind].items() if pct > 0 and r not in residues]
    if not residues:
        return []
    def chain_order(label: str) -> int:  # "GLY7" → 7
        digits = label[len(label.rstrip("0123456789")):]
        return int(digits) if digits else 0

    head = " | ".join(f"{'Rama' if kind == 'rama' else 'rotamer'} {row}" for kind, row in cols)
    lines = ["", "## Outliers by residue (% of frames)", "", f"| residue | {head} |", "|---|" + "---|" * len(cols)]
    for r in sorted(residues, key=chain_order):
        cells = [by_row[row][kind].get(r) for kind, row in cols]
        lines.append(f"| {r} | " + " | ".join("–" if c is None else f"{c:.1f}" for c in cells) + " |")
    return lines


def markdown(report: dict) -> str:
    """The Markdown summary of a report dict (table of every row + notes)."""
    lines = ["# starmd evaluation", "",
             f"Reference: `{report['inputs']['reference']['source']}` "
             f"({report['inputs']['reference']['n_frames']} frames, {report['inputs']['reference']['dt_ns']:g} ns/frame, "
             f"{report['inputs']['reference']['n_residues']} residues)", "",
             "| row | " + " | ".join(h for _, h in COLUMNS) + " |",
             "|---|" + "---|" * len(COLUMNS)]
    for name, s in report["summary"].items():
        lines.append(f"| {name} | " + " | ".join(_fmt(s.get(k), k) for k, _ in COLUMNS) + " |")
    lines += _outlier_lines(report.get("outliers_by_residue"))
    lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    if report.get("figures"):
        lines += ["", "## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in report["figures"]]
    return "\n".join(lines) + "\n"


def _figures(out: Path, ref: _Reference, rows: dict, ref_traj: md.Trajectory, tica_lag_frames: int) -> list[str]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig_dir = out / "figures"
    written: list[str] = []

    def save(fig, name):
        path = fig_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=fig_dir, prefix=f".{name}.", suffix=".tmp")
        os.close(fd)
        try:
            fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
            publish(tmp, path)
        finally:
            plt.close(fig)
            if os.path.exists(tmp):
                os.unlink(tmp)
        written.append(f"figures/{name}")

    md_rows = [n for n in ("generated", "oracle") if n in rows]
    # free-energy maps on PC1-PC2
    sets = [("reference", ref.proj)] + [(n, rows[n]["_proj"]) for n in md_rows]
    lo = np.min([p[:, :2].min(0) for _, p in sets], 0)
    hi = np.max([p[:, :2].max(0) for _, p in sets], 0)
    fig, axes = plt.subplots(1, len(sets), figsize=(4 * len(sets), 3.6), squeeze=False, layout="constrained")
    for ax, (name, p) in zip(axes[0], sets, strict=False):
        h, ex, ey = np.histogram2d(p[:, 0], p[:, 1], bins=30, range=[[lo[0], hi[0]], [lo[1], hi[1]]])
        with np.errstate(divide="ignore"):
            f = -np.log(h / h.sum())
        f -= np.nanmin(f[np.isfinite(f)])
        im = ax.imshow(f.T, origin="lower", extent=[ex[0], ex[-1], ey[0], ey[-1]], aspect="auto", cmap="viridis")
        ax.set(title=name, xlabel="PC1 (Å)", ylabel="PC2 (Å)")
        fig.colorbar(im, ax=ax, label="free energy (kT)")
    save(fig, "fes_pc12.png")
    # tICA projections
    projs = M.tica_projections(ref.kin, [rows[n]["_proj"][:, : ref.spec.n_pcs_kinetic] for n in md_rows], tica_lag_frames)
    fig, axes = plt.subplots(1, len(projs), figsize=(4 * len(projs), 3.6), squeeze=False, layout="constrained")
    for ax, name, p in zip(axes[0], ["reference", *md_rows], projs, strict=False):
        if p.shape[1] >= 2:
            ax.scatter(p[:, 0], p[:, 1], s=3, c=np.arange(len(p)), cmap="plasma")
            ax.set(ylabel="tIC2")
        else:
            ax.plot(p[:, 0])
        ax.set(title=name, xlabel="tIC1")
    save(fig, "tica.png")
    # curves
    for key, ylab, name, rk, gk in (("rmsd_lag", "mean Cα RMSD (Å)", "rmsd_lag.png", "reference", "generated"),
                                    ("autocorrelation", "autocorrelation (mean over PCs)", "autocorrelation.png",
                                     "reference_mean", "generated_mean")):
        fig, ax = plt.subplots(figsize=(5, 3.6))
        first = next(iter(rows.values()))[key]
        ax.plot(first["lags_ns"], first[rk], "k-o", ms=3, label="reference")
        for n, r in rows.items():
            ax.plot(r[key]["lags_ns"], r[key][gk], "-o", ms=3, label=n)
        ax.set(xscale="log", xlabel="lag (ns)", ylabel=ylab)
        ax.legend(fontsize=7)
        save(fig, name)
    # RMSF
    fig, ax = plt.subplots(figsize=(5, 3.6))
    first = next(iter(rows.values()))["rmsf"]
    x = np.arange(1, len(first["reference"]) + 1)
    ax.plot(x, first["reference"], "k-o", ms=3, label="reference")
    for n, r in rows.items():
        ax.plot(x, r["rmsf"]["generated"], "-o", ms=3, label=n)
    ax.set(xlabel="residue", ylabel="Cα RMSF (Å)")
    ax.legend(fontsize=7)
    save(fig, "rmsf.png")
    # implied timescales
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for n, style in [("reference", "k"), *[(m, None) for m in md_rows]]:
        src = rows[md_rows[0]]["msm"] if md_rows else next(iter(rows.values()))["msm"]
        its = src["reference"] if n == "reference" else rows[n]["msm"]["generated"]
        lags = src["lags_ns"]
        for k in range(max((len(t) for t in its), default=0)):
            pts = [(lag, t[k]) for lag, t in zip(lags, its, strict=False) if len(t) > k and t[k] is not None]
            if pts:
                ax.plot(*zip(*pts, strict=False), "-o", ms=3, color=style, label=n if k == 0 else None)
    ax.set(xlabel="lag (ns)", ylabel="implied timescale (ns)", yscale="log")
    ax.legend(fontsize=7)
    save(fig, "implied_timescales.png")
    # Ramachandran
    sets = [("reference", ref_traj)] + [(n, rows[n]["_traj"]) for n in md_rows]
    fig, axes = plt.subplots(1, len(sets), figsize=(4 * len(sets), 4), squeeze=False, layout="constrained")
    for ax, (name, t) in zip(axes[0], sets, strict=False):
        r = ramachandran(t)
        ax.scatter(r["phi"].ravel(), r["psi"].ravel(), s=1, alpha=0.4)
        for a, b, c, d in RAMA_REGIONS["general"]:
            ax.add_patch(plt.Rectangle((a, c), b - a, d - c, fill=False, ec="grey", lw=0.8))
        ax.set(xlim=(-180, 180), ylim=(-180, 180), title=name, xlabel="φ (°)", ylabel="ψ (°)")
    save(fig, "ramachandran.png")
    return written


# ---------------------------------------------------------------------------- entry point


def evaluate(reference, generated, topology=None, oracle=None, out=None, spec: EvaluationSpec | None = None,
             generated_topology=None, oracle_topology=None, dt_ns: float | None = None,
             generated_dt_ns: float | None = None, baselines: bool = True, make_figures: bool = True) -> dict:
    """Evaluate ``generated`` against ``reference`` (and ``oracle``, a second reference replica).

    reference, generated, oracle: trajectory paths (read with ``topology``; ``generated_topology`` /
    ``oracle_topology`` when their files were written with another topology) or mdtraj
    trajectories. Heavy protein atoms are used; both must be the same single-chain protein.
    dt_ns / generated_dt_ns: time per saved frame (ns); default: from the files' time stamps (the
    oracle uses the reference's). out: folder for ``report.json``, ``report.md`` and
    ``figures/*.png`` (written atomically); None writes nothing.

    baselines: add the ``static`` and ``random_walk`` rows. make_figures: write PNGs (needs ``out``).

    Returns the report dict (JSON-serialisable): ``inputs``, ``settings``, ``summary`` (one row of
    headline numbers per compared trajectory: jsd, recall, tica_corr, rmsd_lag_dev, autocorr_dev,
    vamp2_dev, rmsf_r, pairwise_rmsd_w, msm_dev, ca_valid, aa_valid, ca_aa_valid — the last three in
    percent of frames), ``rows`` (the same headline keys plus every detailed number), ``reference_validity``,
    ``notes``, ``figures``. Raises StarMDError (one line) on unusable or mismatched input.
    """
    spec = spec or EvaluationSpec()
    src = lambda x, what: str(x) if not isinstance(x, md.Trajectory) else f"<{what} trajectory>"  # noqa: E731
    ref_t = load_protein(reference, topology, "reference")
    gen_t = load_protein(generated, generated_topology or topology, "generated")
    ora_t = load_protein(oracle, oracle_topology or topology, "oracle") if oracle is not None else None
    ref_name, gen_name = src(reference, "reference"), src(generated, "generated")
    _check_same_protein(ref_t, gen_t, ref_name, gen_name)
    if ora_t is not None:
        _check_same_protein(ref_t, ora_t, ref_name, src(oracle, "oracle"))
    dt_ref = dt_ns or M.trajectory_dt_ns(ref_t, ref_name)
    dt_gen = generated_dt_ns or M.trajectory_dt_ns(gen_t, gen_name)
    dt_ora = dt_ref
    if ora_t is not None and dt_ns is None:
        dt_ora = M.trajectory_dt_ns(ora_t, src(oracle, "oracle"))
    base = max(dt_ref, dt_gen)
    tica_lag = spec.tica_lag_ns or 10 * base
    needed = lambda dt: M.lag_to_frames(tica_lag, dt, "tICA lag") + spec.tica_min_pairs  # noqa: E731
    for t, dt, name in ((ref_t, dt_ref, ref_name), (gen_t, dt_gen, gen_name)) + (
            ((ora_t, dt_ora, src(oracle, "oracle")),) if ora_t is not None else ()):
        if t.n_frames < needed(dt):
            raise StarMDError(f"{name}: {t.n_frames} frames is too short; needs at least {needed(dt)} "
                              f"({spec.tica_min_pairs} frame pairs at the tICA lag {tica_lag:g} ns)")
    lags = M.default_lags_ns(dt_ref, dt_gen, ref_t.n_frames, gen_t.n_frames, spec.max_rmsd_lag_ns)
    if spec.msm_lags_ns:
        msm_lags = list(spec.msm_lags_ns)
    else:
        shortest = min(ref_t.n_frames * dt_ref, gen_t.n_frames * dt_gen)
        msm_lags = [k * base for k in (1, 2, 5, 10, 20, 50) if k * base <= shortest / 4] or [base]

    ref = _Reference(ref_t, dt_ref, spec)
    step = matched_step(ref.ca, dt_ref, dt_gen)
    trajs = {"generated": (gen_t, dt_gen)}
    if ora_t is not None:
        trajs["oracle"] = (ora_t, dt_ora)
    if baselines:
        trajs["static"] = (static_baseline(ref_t, gen_t.n_frames, dt_gen), dt_gen)
        trajs["random_walk"] = (random_walk_baseline(ref_t, gen_t.n_frames, dt_gen, step, spec.seed), dt_gen)
    rows = {}
    for name, (t, dt) in trajs.items():
        rows[name] = compare(ref, t, dt, tica_lag, lags, msm_lags)
        rows[name]["_traj"] = t
    ref_validity = validity(ref_t, spec)
    ref_tica = rows["generated"]["tica"]["reference"]

    notes = [
        "Featurisation: Cα coordinates superposed (mdtraj) on the reference's first frame; PCA fitted on the reference.",
        f"JSD/recall: PC1–PC2 histogram, {spec.bins} bins per axis over the reference's range, natural log; "
        "generated frames outside that range go to one extra 'outside' bin (stated deviation: they are not dropped).",
        f"tICA (deeptime, kinetic map) fitted on the reference's first {spec.n_pcs_kinetic} PC projections at lag "
        f"{tica_lag:g} ns; 'tICA' = lag-correlation of tIC1 of the row (reference's own value: {_fmt(ref_tica)}).",
        f"VAMP-2 at lag {tica_lag:g} ns on each trajectory's own PC features; deviation = |row − reference| / reference.",
        f"RMSD-vs-lag and autocorrelation (first {spec.n_pcs_autocorr} PCs) at lags {', '.join(f'{x:g}' for x in lags)} ns; "
        "deviation = mean absolute difference.",
        f"MSM: k-means ({spec.msm_clusters} clusters) on the reference's tICA space, reversible MLE MSM at lags "
        f"{', '.join(f'{x:g}' for x in msm_lags)} ns; deviation = mean |ln(t_row / t_ref)| of the slowest implied timescales.",
        f"Pairwise RMSD: up to {spec.max_pairwise_frames} frames per trajectory; W = 1-Wasserstein distance (Å).",
        f"Validity: Cα clash < {spec.clash_distance:g} Å (|i−j| > 1), chain break > {spec.break_distance:g} Å, "
        f"Ramachandran outliers ≤ {100 * spec.rama_outlier_max:.2f} %, rotamer outliers ≤ {100 * spec.rotamer_outlier_max:.2f} % "
        "(regions in starmd.eval.validity).",
        f"Baselines: static = reference frame 0 repeated; random_walk = independent Gaussian steps of every heavy atom "
        f"with per-axis σ = {step:.3f} Å per frame (matched to the reference's mean per-frame Cα displacement); "
        f"both with {gen_t.n_frames} frames at {dt_gen:g} ns/frame.",
    ]
    summary = {"reference": {"tica_corr": ref_tica, "ca_valid": ref_validity["ca_percent"],
                             "aa_valid": ref_validity["aa_percent"], "ca_aa_valid": ref_validity["ca_aa_percent"]}}
    summary.update({name: r["summary"] for name, r in rows.items()})
    info = lambda t, x, dt, what: {"source": src(x, what), "n_frames": int(t.n_frames), "dt_ns": dt,  # noqa: E731
                                   "n_residues": int(t.topology.n_residues), "n_atoms": int(t.n_atoms)}
    report = {
        "inputs": {"reference": {**info(ref_t, reference, dt_ref, "reference"), "sequence": _sequence(ref_t)},
                   "generated": info(gen_t, generated, dt_gen, "generated"),
                   **({"oracle": info(ora_t, oracle, dt_ora, "oracle")} if ora_t is not None else {}),
                   "topology": str(topology) if topology is not None else None},
        "settings": {"spec": spec.to_dict(), "tica_lag_ns": tica_lag, "lags_ns": lags, "msm_lags_ns": msm_lags,
                     "random_walk_step_angstrom": step},
        "summary": summary,
        "rows": {n: {k: v for k, v in r.items() if not k.startswith("_")} for n, r in rows.items()},
        "reference_validity": ref_validity,
        "outliers_by_residue": {"reference": ref_validity["outliers_by_residue"],
                                **{n: rows[n]["validity"]["outliers_by_residue"] for n in ("generated", "oracle") if n in rows}},
        "notes": notes,
        "figures": [],
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if make_figures:
            report["figures"] = _figures(out, ref, rows, ref_t, M.lag_to_frames(tica_lag, dt_ref))
        _atomic_write(out / "report.json", json.dumps(report, indent=1, allow_nan=False))
        _atomic_write(out / "report.md", markdown(report))
        report["out"] = str(out)
    return report


__all__ = ["evaluate", "load_protein", "compare", "markdown", "static_baseline", "random_walk_baseline", "matched_step",
           "COLUMNS"]
