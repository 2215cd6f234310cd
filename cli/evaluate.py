"""``starmd evaluate``: compare a generated trajectory with reference MD (and an oracle replica)."""

from __future__ import annotations

import click

from starmd_cli.common import handle_errors, load_or_default, spec_options

_SHORT = {"jsd": "JSD↓", "recall": "Rec↑", "tica_corr": "tICA", "rmsd_lag_dev": "RMSD↓", "autocorr_dev": "AutoCor↓",
          "vamp2_dev": "VAMP2↓", "rmsf_r": "RMSF r↑", "pairwise_rmsd_w": "pRMSD W↓", "msm_dev": "MSM↓",
          "ca_valid": "CA%", "aa_valid": "AA%", "ca_aa_valid": "CA+AA%"}


@click.command(epilog="""Examples:

\b
  starmd evaluate --reference ref.xtc --generated gen.xtc --topology top.pdb --out report/
  starmd evaluate --reference rep1.xtc --oracle rep2.xtc --generated gen.xtc \\
      --topology top.pdb --out report/ --set tica_lag_ns=1.0 --set msm_clusters=50
  starmd evaluate --reference ref.xtc --generated gen.xtc --topology top.pdb \\
      --generated-topology gen_heavy.pdb --out report/ --no-figures

Writes report/report.json (every number), report/report.md (summary table) and report/figures/*.png.
""")
@click.option("--reference", required=True, type=click.Path(dir_okay=False), help="reference MD trajectory")
@click.option("--generated", required=True, type=click.Path(dir_okay=False), help="trajectory to evaluate")
@click.option("--topology", required=True, type=click.Path(dir_okay=False), help="topology (PDB) of the reference")
@click.option("--oracle", type=click.Path(dir_okay=False), default=None, help="second MD replica (the ceiling row)")
@click.option("--generated-topology", type=click.Path(dir_okay=False), default=None,
              help="topology of --generated when it differs (default: --topology)")
@click.option("--out", type=click.Path(file_okay=False), default="report", show_default=True, help="output folder")
@click.option("--dt-ns", type=float, default=None, help="ns per reference frame (default: from the file)")
@click.option("--generated-dt-ns", type=float, default=None, help="ns per generated frame (default: from the file)")
@click.option("--no-figures", is_flag=True, help="skip the PNG figures")
@spec_options
@handle_errors
def evaluate(reference, generated, topology, oracle, generated_topology, out, dt_ns, generated_dt_ns, no_figures,
             spec_path, overrides):
    """Evaluate a generated trajectory against reference MD: distribution, dynamics and validity metrics,
    with an oracle row (if given) and static / random-walk baseline rows."""
    from starmd.core.specs import EvaluationSpec
    from starmd.eval.report import evaluate as run_evaluate

    spec = load_or_default(EvaluationSpec, spec_path, overrides)
    report = run_evaluate(reference=reference, generated=generated, topology=topology, oracle=oracle, out=out,
                          spec=spec, generated_topology=generated_topology, dt_ns=dt_ns,
                          generated_dt_ns=generated_dt_ns, make_figures=not no_figures)
    console = print_report_table(report, "starmd evaluate")
    console.print(f"report: {out}/report.json, {out}/report.md" + ("" if no_figures else f", {out}/figures/"))


def print_report_table(report: dict, title: str):
    """Print the report's summary rows as a rich table; returns the console used."""
    from rich.console import Console
    from rich.table import Table

    from starmd.eval.report import COLUMNS, _fmt

    table = Table(title=title)
    table.add_column("row", no_wrap=True)
    for key, _ in COLUMNS:
        table.add_column(_SHORT.get(key, key), justify="right", no_wrap=True)
    for name, row in report["summary"].items():
        table.add_row(name, *(_fmt(row.get(k), k) for k, _ in COLUMNS))
    console = Console()
    if not console.is_terminal:
        console = Console(width=170)
    console.print(table)
    return console
