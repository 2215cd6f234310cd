"""``starmd demo``: roll out the shipped default model on a held-out peptide and evaluate it against MD."""

from __future__ import annotations

import click

from starmd_cli.common import handle_errors


@click.command(epilog="""Examples:

\b
  starmd demo                                  # from the repository root (what `make demo` runs)
  starmd demo --protein HSTV --frames 2000 --out demo_hstv
  starmd demo --checkpoint runs/mine/checkpoints/last.ckpt --manifest data/manifest.yaml
""")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default="checkpoints/default.ckpt", show_default=True)
@click.option("--manifest", type=click.Path(dir_okay=False), default="data/manifest.yaml", show_default=True)
@click.option("--protein", default=None, help="protein of the manifest (default: the first with split: test)")
@click.option("--frames", "n_frames", type=int, default=1000, show_default=True, help="frames to generate")
@click.option("--steps", type=int, default=20, show_default=True, help="reverse-SDE steps per frame")
@click.option("--window", type=int, default=32, show_default=True, help="sliding window of cached frames")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default="demo_out", show_default=True)
@click.option("--max-ca-jump", type=float, default=10.0, show_default=True, help="Å; a larger Cα–Cα neighbour gap stops the rollout")
@click.option("--start-t", type=float, default=1.0, show_default=True,
              help="1: every frame from the prior (the paper); <1: warm start from the previous frame noised to this t")
@click.option("--sampler", type=click.Choice(["sde", "ode", "renoise"]), default="renoise", show_default=True,
              help="reverse process: sde (the paper), ode (probability flow), renoise (re-noise each prediction; "
                   "the best of the three for the small CPU-trained default model, see BENCHMARKS.md)")
@click.option("--noise-scale", type=float, default=1.0, show_default=True, help="scale of the reverse-SDE noise")
@click.option("--torsion-temperature", type=float, default=None,
              help="temperature of the torsion-head sampling (default: the rollout spec's; 1 = the model's distribution)")
@click.option("--dihedral-sigma", type=float, default=None,
              help="rad; width of the pull of each φ/ψ towards the torsion head's sample (default: the rollout spec's)")
@click.option("--no-refine", is_flag=True, help="write the network's raw frames and torsions (no peptide-bond refinement, "
              "no proline fixes)")
@click.option("--no-figures", is_flag=True)
@click.option("--quiet", is_flag=True, help="no progress bar")
@handle_errors
def demo(checkpoint, manifest, protein, n_frames, steps, window, seed, out, max_ca_jump, start_t, sampler, noise_scale, torsion_temperature,
         dihedral_sigma, no_refine, no_figures, quiet):
    """Generate a long trajectory for a held-out peptide and print how it compares with its MD
    (oracle = second MD replica; floors = static and random-walk baselines)."""
    from starmd.demo import run_demo
    from starmd_cli.evaluate import print_report_table

    res = run_demo(checkpoint=checkpoint, manifest=manifest, protein=protein, n_frames=n_frames, steps=steps,
                   window=window, seed=seed, out=out, progress=not quiet, make_figures=not no_figures,
                   max_ca_jump=max_ca_jump, start_t=start_t, noise_scale=noise_scale, sampler=sampler,
                   refine_backbone=not no_refine, torsion_temperature=torsion_temperature,
                   dihedral_sigma=dihedral_sigma)
    console = print_report_table(res.report, f"starmd demo: {res.protein}, {n_frames} frames vs reference MD")
    console.print(f"rollout: {res.rollout_summary}")
    if res.stopped_early:
        console.print(f"[yellow]warning: the rollout stopped early ({res.stopped_early}); the table scores the frames made[/yellow]")
    console.print(f"generated trajectory: {res.generated} (topology {res.generated.with_suffix('.pdb')})")
    console.print(f"report: {res.report_dir}/report.md, report.json" + ("" if no_figures else f", figures in {res.report_dir}/figures/"))
