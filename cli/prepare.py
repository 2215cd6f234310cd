"""``starmd prepare``: featurize and cache every protein of a data set ahead of training."""

from __future__ import annotations

import click

from starmd_cli.common import handle_errors, load_or_default, spec_options

EXAMPLES = """
\b
Examples:
  starmd prepare --manifest data/manifest.yaml
  starmd prepare --atlas-dir /data/atlas --cache-dir /scratch/starmd-cache
  starmd prepare --spec train.yaml                  # the data section of a training spec
  starmd prepare --spec train.yaml --set data.window=4 --set data.strides=[1,2]

\b
Reads every replica of every protein (all splits), checks it (missing files, non-standard
residues, missing backbone atoms, NaN coordinates, atom-count mismatches: one-line error, exit 2),
computes frames and torsions once and stores them in the featurization cache, keyed by the
files' contents: `starmd train` with the same data.cache_dir then reads them instead of
featurizing. The cache folder is data.cache_dir, else $STARMD_CACHE, else ~/.cache/starmd
(features/ under it). Rerunning is cheap: cached replicas are only hashed.
"""


def _windows(n_frames: int, window: int, strides: list[int]) -> int:
    return sum(max(0, n_frames - (window - 1) * k) for k in strides)


@click.command(epilog=EXAMPLES)
@click.option("--manifest", type=click.Path(dir_okay=False), default=None, help="manifest (YAML/CSV); sets data.manifest")
@click.option("--atlas-dir", type=click.Path(file_okay=False), default=None, help="ATLAS-layout folder; sets data.atlas_dir")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="cache folder; sets data.cache_dir")
@click.option("--quiet", is_flag=True, help="no progress bar")
@spec_options
@handle_errors
def prepare(manifest, atlas_dir, cache_dir, quiet, spec_path, overrides):
    """Featurize and cache every protein of a manifest or ATLAS folder; print proteins, frames and residues."""
    from rich.console import Console
    from rich.table import Table

    from starmd.core.data import FeatureStore, cache_key, entries_from_spec, split_proteins
    from starmd.core.progress import progress_bar
    from starmd.core.specs import TrainingSpec, apply_overrides

    spec = load_or_default(TrainingSpec, spec_path, overrides)
    extra = [f"data.{k}={v}" for k, v in (("manifest", manifest), ("atlas_dir", atlas_dir), ("cache_dir", cache_dir)) if v]
    data = apply_overrides(spec, extra).data if extra else spec.data
    entries = entries_from_spec(data)
    splits = {e.name: split for split, group in split_proteins(entries, data).items() for e in group}
    store = FeatureStore(data.cache_dir)

    table = Table(title="starmd prepare")
    for name, justify in (("protein", "left"), ("split", "left"), ("replicas", "right"), ("frames", "right"),
                          ("residues", "right"), ("dt (ps)", "right"), ("windows", "right"), ("cache", "left")):
        table.add_column(name, justify=justify, no_wrap=True)
    total_reps = sum(len(e.replicas) for e in entries)
    totals = {"frames": 0, "windows": 0, "new": 0}
    with progress_bar("featurize", total=total_reps, enabled=not quiet, unit="replica") as bar:
        done = 0
        for entry in entries:
            counts, residues, new = [], 0, 0
            for replica in entry.replicas:
                cached = (store.root / cache_key(entry.topology, replica) / "meta.json").exists()
                _, meta = store.get(entry, replica)
                new += not cached
                counts.append(meta["n_frames"])
                residues = meta["n_residues"]
                done += 1
                bar.update(done, protein=entry.name)
            frames = sum(counts)
            too_big = residues > data.max_residues
            windows = 0 if too_big else sum(_windows(n, data.window, data.strides) for n in counts)
            totals["frames"] += frames
            totals["windows"] += windows
            totals["new"] += new
            status = f"{new} new" if new else "cached"
            if too_big:
                status += f" (> max_residues {data.max_residues}: skipped in training)"
            table.add_row(entry.name, splits.get(entry.name, "?"), str(len(entry.replicas)), str(frames), str(residues),
                          f"{entry.dt_ps:g}", str(windows), status)
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)
    console.print(table)
    console.print(f"{len(entries)} proteins, {total_reps} replicas, {totals['frames']} frames, "
                  f"{totals['windows']} windows of {data.window} frames (strides {data.strides}); "
                  f"featurized {totals['new']}, {total_reps - totals['new']} already cached", highlight=False)
    console.print(f"cache: {store.root}", highlight=False, soft_wrap=True)
