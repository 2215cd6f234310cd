"""Regenerate the small real-MD fixture used by the evaluation tests.

A capped-free hexapeptide (sequence below) is built with PeptideBuilder in an extended
conformation, completed with PDBFixer (terminal OXT, hydrogens), and simulated with OpenMM:
amber14-all + GBn2 implicit solvent, no cutoff, H-bond constraints, LangevinMiddleIntegrator at
300 K, friction 1/ps, 2 fs steps. Two independent replicas (seeds 1 and 2) are written as
heavy-atom XTC files with one frame per ``SAVE_STEPS`` steps (1 ps), plus a heavy-atom PDB topology.

Run from the repository root:  .venv/bin/python tests/eval/data/make_fixture.py
Outputs (tests/eval/data/): peptide.pdb, rep1.xtc, rep2.xtc (together well under 300 KB).
"""

from __future__ import annotations

import io
from pathlib import Path

import mdtraj as md
import numpy as np
import openmm
import openmm.app as app
import openmm.unit as u
import PeptideBuilder
from Bio.PDB import PDBIO
from pdbfixer import PDBFixer
from PeptideBuilder import Geometry

SEQUENCE = "AFGPLK"
N_FRAMES = 200
SAVE_STEPS = 500  # 2 fs * 500 = 1 ps per saved frame
EQUIL_STEPS = 5000
HERE = Path(__file__).resolve().parent


def build_peptide() -> str:
    """PDB text of the extended peptide (heavy atoms, no OXT)."""
    geos = [Geometry.geometry(aa) for aa in SEQUENCE]
    for g in geos:  # a PPII-like start, closer to solution conformations than fully extended
        g.phi, g.psi_im1 = -75.0, 145.0
    structure = PeptideBuilder.initialize_res(geos[0])
    for g in geos[1:]:
        PeptideBuilder.add_residue(structure, g)
    buf = io.StringIO()
    io_ = PDBIO()
    io_.set_structure(structure)
    io_.save(buf)
    return buf.getvalue()


def simulate(fixer: PDBFixer, seed: int) -> np.ndarray:
    """Positions (Å) of N_FRAMES saved frames, all atoms, shape [N_FRAMES, n_atoms, 3]."""
    ff = app.ForceField("amber14-all.xml", "implicit/gbn2.xml")
    system = ff.createSystem(fixer.topology, nonbondedMethod=app.NoCutoff, constraints=app.HBonds)
    integ = openmm.LangevinMiddleIntegrator(300 * u.kelvin, 1 / u.picosecond, 2 * u.femtosecond)
    integ.setRandomNumberSeed(seed)
    sim = app.Simulation(fixer.topology, system, integ, openmm.Platform.getPlatformByName("CPU"),
                         {"Threads": "1"})
    sim.context.setPositions(fixer.positions)
    sim.minimizeEnergy()
    sim.context.setVelocitiesToTemperature(300 * u.kelvin, seed)
    sim.step(EQUIL_STEPS)
    frames = []
    for _ in range(N_FRAMES):
        sim.step(SAVE_STEPS)
        pos = sim.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(u.angstrom)
        frames.append(np.asarray(pos))
    return np.stack(frames)


def main() -> None:
    fixer = PDBFixer(pdbfile=io.StringIO(build_peptide()))
    fixer.findMissingResidues()
    fixer.findMissingAtoms()
    fixer.addMissingAtoms()
    fixer.addMissingHydrogens(7.0)
    top = md.Topology.from_openmm(fixer.topology)
    heavy = [a.index for a in top.atoms if a.element.symbol != "H"]
    for seed in (1, 2):
        xyz = simulate(fixer, seed)
        traj = md.Trajectory(xyz / 10.0, top, time=np.arange(1, N_FRAMES + 1) * SAVE_STEPS * 0.002)
        traj = traj.atom_slice(heavy)
        traj.save_xtc(str(HERE / f"rep{seed}.xtc"))
        if seed == 1:
            traj[0].save_pdb(str(HERE / "peptide.pdb"))
        print(f"rep{seed}: {traj.n_frames} frames, {traj.n_atoms} heavy atoms, dt {traj.timestep} ps")


if __name__ == "__main__":
    main()
