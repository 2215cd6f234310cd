"""``starmd simulate``: reference MD with OpenMM (thin wrapper over :func:`starmd.core.simulate.simulate`)."""

from __future__ import annotations

import click

from starmd_cli.common import handle_errors, load_or_default, spec_options

EXAMPLES = """
\b
Examples:
  starmd simulate --sequence GAVL --out data/ --name GAVL --length-ns 2 --replicas 2
  starmd simulate --pdb protein.pdb --out runs/md --name prot --set platform=CUDA
  starmd simulate --sequence AAAA --out /tmp/md --set save_ps=1 --set length_ns=0.01 --set cpu_threads=1
  starmd simulate --sequence GYDPETGTWG --spec simulate.yaml --split test

\b
Writes OUT/NAME/NAME.pdb (heavy-atom topology, Å), OUT/NAME/NAME_R<r>.xtc (one per replica,
a frame every save_ps) and an entry of OUT/manifest.yaml. Rerun the same command to resume an
interrupted run from its last chunk (spec field chunk_ps). Spec fields: temperature_k,
friction_per_ps, step_fs, hydrogen_mass_amu, save_ps, length_ns, equilibration_ps, replicas,
platform, cpu_threads, seed, chunk_ps, phi_deg, psi_deg, forcefield, ...
"""


@click.command("simulate", epilog=EXAMPLES)
@click.option("--sequence", default=None, help="one-letter amino-acid sequence (built uncapped, charged termini)")
@click.option("--pdb", "pdb", type=click.Path(dir_okay=False), default=None, help="one-chain protein structure (PDB/PDBx)")
@click.option("--out", default="data", show_default=True, type=click.Path(file_okay=False), help="output folder (holds manifest.yaml)")
@click.option("--name", default=None, help="entry name (default: the sequence or the PDB file's stem)")
@click.option("--length-ns", type=float, default=None, help="production length per replica, ns (overrides the spec)")
@click.option("--replicas", type=int, default=None, help="number of independent replicas (overrides the spec)")
@click.option("--split", type=click.Choice(["train", "test"]), default="train", show_default=True, help="manifest split of this entry")
@click.option("--quiet", is_flag=True, help="no progress output")
@spec_options
@handle_errors
def simulate(sequence, pdb, out, name, length_ns, replicas, split, quiet, spec_path, overrides):
    """Run (or resume) implicit-solvent reference MD of a peptide sequence or a PDB with OpenMM."""
    from starmd.core.simulate import simulate as run
    from starmd.core.specs import SimulateSpec
    from starmd.errors import InputError

    if (sequence is None) == (pdb is None):
        raise InputError("give exactly one of --sequence or --pdb")
    spec = load_or_default(SimulateSpec, spec_path, overrides)
    result = run(sequence=sequence, pdb=pdb, out=out, name=name, spec=spec, length_ns=length_ns, replicas=replicas,
                 split=split, progress=not quiet)
    speed = f", {result.ns_per_day:.1f} ns/day" if result.ns_per_day else ""
    click.echo(f"{result.name}: {len(result.replicas)} replicas × {result.n_frames} frames × {result.n_atoms} heavy atoms "
               f"(dt {result.dt_ps:g} ps){speed}; manifest {result.manifest}")
