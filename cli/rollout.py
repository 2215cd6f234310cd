"""``starmd rollout``: generate a long trajectory from a start structure with a trained model."""

from __future__ import annotations

import click

from starmd_cli.common import handle_errors, load_or_default, spec_options


@click.command(epilog="""Examples:

  starmd rollout checkpoints/default.ckpt start.pdb --frames 1000 --dt-ns 1 --out gen.xtc

  starmd rollout model.ckpt start.pdb --frames 10000 --dt-ns 1 --window 64 --samples 4 --out gen.xtc

  starmd rollout model.ckpt start.pdb --frames 1000 --dt-ns 1 --out gen.xtc --resume   # continue gen.part.xtc
""")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.argument("start", type=click.Path(dir_okay=False))
@click.option("--frames", "n_frames", type=int, default=None, help="frames to generate after the start structure")
@click.option("--dt-ns", type=float, default=None, help="physical time between frames, ns")
@click.option("--samples", type=int, default=None, help="independent trajectories generated in one batch")
@click.option("--window", type=int, default=None, help="sliding window of cached frames (constant memory)")
@click.option("--sink", type=int, default=None, help="attention-sink frames kept with --window")
@click.option("--steps", type=int, default=None, help="reverse-SDE steps per frame (default 200)")
@click.option("--seed", type=int, default=None)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None)
@click.option("--topology", type=click.Path(dir_okay=False), default=None, help="topology when START is a trajectory")
@click.option("--start-frame", type=int, default=0, help="frame of START to start from")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="output trajectory (.xtc, .dcd or .pdb)")
@click.option("--resume", is_flag=True, help="continue an interrupted rollout from its .part file")
@click.option("--quiet", is_flag=True, help="no progress bar")
@spec_options
@handle_errors
def rollout(checkpoint, start, n_frames, dt_ns, samples, window, sink, steps, seed, device, topology, start_frame, out,
            resume, quiet, spec_path, overrides):
    """Generate N frames after START with the model in CHECKPOINT, streaming them to --out."""
    from starmd.core.rollout import rollout as run_rollout
    from starmd.core.specs import RolloutSpec

    spec = load_or_default(RolloutSpec, spec_path, overrides)
    result = run_rollout(checkpoint, start, n_frames=n_frames, dt_ns=dt_ns, out=out, samples=samples, steps=steps,
                         window=window, sink=sink, seed=seed, device=device, resume=resume, progress=not quiet, spec=spec,
                         start_frame=start_frame, topology=topology)
    click.echo(f"{result.summary()}; wrote {', '.join(str(p) for p in result.paths)}")
