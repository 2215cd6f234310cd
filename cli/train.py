"""``starmd train``: train a model from a spec (single process, or under torchrun for DDP)."""

from __future__ import annotations

import click

from starmd_cli.common import handle_errors, load_or_default, spec_options


@click.command(epilog="""Examples:

  starmd train --spec train.yaml

  starmd train --spec train.yaml --set model.backend.kind=e3nn_graph --set steps=2000

  starmd train --spec train.yaml --resume runs/default/checkpoints/last.ckpt

  torchrun --nproc_per_node 4 -m starmd_cli.main train --spec train.yaml   # DDP on one node
""")
@spec_options
@click.option("--resume", type=click.Path(dir_okay=False), default=None, help="checkpoint to continue from")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="output folder (overrides out_dir)")
@click.option("--quiet", is_flag=True, help="no progress bar")
@handle_errors
def train(spec_path, overrides, resume, out_dir, quiet):
    """Train STAR-MD on the windows of a data manifest; writes checkpoints, metrics.jsonl and loss_curve.png."""
    from starmd.core.specs import TrainingSpec
    from starmd.core.train import train as run_training

    spec = load_or_default(TrainingSpec, spec_path, overrides)
    if out_dir:
        spec = spec.model_copy(update={"out_dir": out_dir})
    result = run_training(spec, resume=resume, progress=not quiet)
    last = result.history[-1] if result.history else {}
    click.echo(f"trained to step {result.step} (loss {last.get('loss', float('nan')):.4g}, "
               f"skipped {result.skipped_steps}); checkpoint: {result.last_checkpoint}")
