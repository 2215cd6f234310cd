"""Regenerate the small MD fixture used by the tests (run once; the outputs are committed).

    .venv/bin/python tests/data/make_fixtures.py

Builds a 20-residue peptide holding every standard amino acid once (PeptideBuilder, extended),
completes it with pdbfixer (C-terminal OXT), protonates it with OpenMM's Modeller, minimises it and
runs short implicit-solvent (amber14 + GBn2) Langevin MD at 300 K. Writes heavy atoms only:

    peptide.pdb   first saved frame (topology)
    peptide.xtc   16 frames, 1 ps apart
"""

from __future__ import annotations

import io
from pathlib import Path

import mdtraj as md
import numpy as np
import openmm
import openmm.app as app
import openmm.unit as unit
import PeptideBuilder
from pdbfixer import PDBFixer
from PeptideBuilder import Geometry

SEQUENCE = "MKWTDYEGAHRSNVQPLIFC"
HERE = Path(__file__).parent
N_FRAMES = 16
STEPS_PER_FRAME = 500  # 2 fs × 500 = 1 ps
EQUILIBRATION_STEPS = 5000


def build_peptide_pdb() -> str:
    """PDB text of the extended peptide (heavy atoms, PeptideBuilder geometry)."""
    from Bio.PDB import PDBIO

    structure = PeptideBuilder.initialize_res(Geometry.geometry(SEQUENCE[0]))
    for aa in SEQUENCE[1:]:
        PeptideBuilder.add_residue(structure, Geometry.geometry(aa))
    PeptideBuilder.add_terminal_OXT(structure)
    out = io.StringIO()
    pdbio = PDBIO()
    pdbio.set_structure(structure)
    pdbio.save(out)
    return out.getvalue()


def main() -> None:
    fixer = PDBFixer(pdbfile=io.StringIO(build_peptide_pdb()))
    fixer.findMissingResidues()
    fixer.findMissingAtoms()
    fixer.addMissingAtoms()
    modeller = app.Modeller(fixer.topology, fixer.positions)
    forcefield = app.ForceField("amber14-all.xml", "implicit/gbn2.xml")
    modeller.addHydrogens(forcefield, pH=7.0)
    system = forcefield.createSystem(modeller.topology, nonbondedMethod=app.NoCutoff, constraints=app.HBonds)
    integrator = openmm.LangevinMiddleIntegrator(300 * unit.kelvin, 1.0 / unit.picosecond, 2.0 * unit.femtoseconds)
    integrator.setRandomNumberSeed(7)
    platform = openmm.Platform.getPlatformByName("CPU")
    sim = app.Simulation(modeller.topology, system, integrator, platform, {"Threads": "1"})
    sim.context.setPositions(modeller.positions)
    sim.minimizeEnergy()
    sim.context.setVelocitiesToTemperature(300 * unit.kelvin, 7)
    sim.step(EQUILIBRATION_STEPS)
    frames = []
    for _ in range(N_FRAMES):
        sim.step(STEPS_PER_FRAME)
        pos = sim.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        frames.append(np.asarray(pos, dtype=np.float32))
    top = md.Topology.from_openmm(modeller.topology)
    traj = md.Trajectory(np.stack(frames), top, time=np.arange(N_FRAMES, dtype=np.float32))
    heavy = traj.topology.select("not element H")
    traj = traj.atom_slice(heavy)
    traj[0].save_pdb(str(HERE / "peptide.pdb"))
    traj.save_xtc(str(HERE / "peptide.xtc"))
    print(f"wrote {traj.n_frames} frames, {traj.n_atoms} heavy atoms, {traj.n_residues} residues")


if __name__ == "__main__":
    main()
