"""``starmd ablate``: train, roll out and evaluate every spec of a grid on the same data."""

from __future__ import annotations

import click

from starmd_cli.common import handle_errors

EXAMPLES = """
\b
Example grid file (ablation.yaml):
  base:                              # a TrainingSpec shared by every row
    data: {manifest: data/manifest.yaml, window: 8, strides: [1, 2]}
    model: {hidden: 32, heads: 4, blocks: 2, pair_dim: 16}
    steps: 500
  grid:                              # dotted paths of the TrainingSpec (rollout.* for the rollout)
    model.attention: [joint, factorized]
    model.backend.kind: [frame_ipa, e3nn_graph]
    context_noise.enabled: [true, false]
  rollout: {n_frames: 200, steps: 20}      # dt_ns defaults to each protein's frame spacing
  evaluation: {tica_lag_ns: 0.05}
  proteins: null                     # default: the manifest's split: test proteins
  out_dir: runs/ablation

\b
Examples:
  starmd ablate --grid ablation.yaml
  starmd ablate --grid ablation.yaml --set base.steps=2000 --out runs/ablation_long
  starmd ablate --grid ablation.yaml --quiet      # rerun: finished rows are reused

\b
Writes OUT/ablation.md (table), OUT/ablation.json (every number) and OUT/ablation.png, and one
folder per row (training run, rollouts, full evaluation reports, row.json). A protein whose
rollout diverges or whose trajectory is too short for a metric gets null metrics and its reason.
"""


@click.command(epilog=EXAMPLES)
@click.option("--grid", "grid_path", type=click.Path(dir_okay=False), required=True, help="AblationSpec file (YAML or JSON)")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="override a field of the ablation spec, e.g. --set base.steps=100 (repeatable)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="output folder (overrides out_dir)")
@click.option("--quiet", is_flag=True, help="no progress bars")
@handle_errors
def ablate(grid_path, overrides, out_dir, quiet):
    """Compare designs on the same data: one row per grid combination; writes ablation.md/.json/.png."""
    from rich.console import Console
    from rich.table import Table

    from starmd.core.specs import AblationSpec, load_spec
    from starmd.eval.ablation import HEADLINE
    from starmd.eval.ablation import ablate as run_ablation

    # overrides are applied to the file's fields before validation, so unset rollout fields stay unset
    # (dt_ns and context_noise then follow the data and the training spec, see starmd.eval.ablation)
    spec = load_spec(grid_path, AblationSpec, overrides=list(overrides) + ([f"out_dir={out_dir}"] if out_dir else []))
    report = run_ablation(spec, progress=not quiet)
    table = Table(title=f"ablation ({spec.out_dir})")
    table.add_column("row", no_wrap=True)
    table.add_column("loss", justify="right")
    for key in HEADLINE:
        table.add_column(key, justify="right")
    table.add_column("failed", justify="right")

    def fmt(v, key=""):
        return "–" if v is None else (f"{v:.2f}" if key.endswith("valid") else f"{v:.3f}")

    for name, res in report["rows"].items():
        table.add_row(name, fmt(res["train_loss"]), *(fmt(res["metrics"][k], k) for k in HEADLINE), str(len(res["errors"])))
    for name, m in report["reference_rows"].items():
        table.add_row(f"[dim]{name}[/dim]", "–", *(fmt(m[k], k) for k in HEADLINE), "–")
    console = Console()
    if not console.is_terminal:
        console = Console(width=170)
    console.print(table)
    for name, res in report["rows"].items():
        for protein, err in res["errors"].items():
            console.print(f"[yellow]{name} / {protein}: {err}[/yellow]", highlight=False)
    click.echo(f"wrote {spec.out_dir}/ablation.md, ablation.json, ablation.png")
