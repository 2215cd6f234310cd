"""How well starmd's Ramachandran regions match the Top500 contours (Lovell et al. 2003).

Prints, per residue class, the share of the Top500 density that falls outside our allowed regions
(what a high-resolution structure would have flagged as outliers by our boxes; MolProbity's own
"allowed" contours leave out 0.05 % (general) and 0.2 % (Gly, Pro, pre-Pro) by construction) and
the share of our regions' area that lies outside Top500's allowed contour (how much more lenient
our boxes are). The tables are read from the ``pyrama`` package (``pip install pyrama``; not a
starmd dependency, nothing is shipped): 2° bins, thresholds 0.0005 (general) and 0.002 (others).

    .venv/bin/pip install pyrama && .venv/bin/python benchmarks/rama_regions.py
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

from starmd.eval.validity import RAMA_REGIONS, in_regions

TABLES = {  # Top500 table, our class, allowed threshold
    "general": ("pref_general.data", "general", 0.0005),
    "glycine": ("pref_glycine.data", "glycine", 0.002),
    "proline": ("pref_proline.data", "proline", 0.002),
    "pre-proline": ("pref_preproline.data", "general", 0.002),  # we score pre-Pro with the general map
}


def load_table(path: Path) -> np.ndarray:
    """Top500 density on a 180 × 180 grid of 2° bins, index [φ bin, ψ bin] (φ, ψ from −180°)."""
    rows = np.loadtxt(path, comments="#")
    grid = np.zeros((180, 180))
    grid[((rows[:, 0] + 180) // 2).astype(int), ((rows[:, 1] + 180) // 2).astype(int)] = rows[:, 2]
    return grid


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    spec = importlib.util.find_spec("pyrama")
    if spec is None or spec.origin is None:
        print("benchmarks/rama_regions.py: needs the pyrama package for the Top500 tables (pip install pyrama)")
        return 2
    data = Path(spec.origin).parent / "data"
    centres = np.arange(-179.0, 180.0, 2.0)
    phi, psi = np.meshgrid(centres, centres, indexing="ij")
    print(f"{'class':12s} {'Top500 density outside our regions':>36s} {'our area outside Top500 allowed':>33s}")
    for name, (fname, ours, threshold) in TABLES.items():
        density = load_table(data / fname)
        inside = in_regions(phi, psi, RAMA_REGIONS[ours])
        allowed = density >= threshold
        mass_out = density[~inside].sum() / density.sum()
        lenient = (inside & ~allowed).sum() / inside.sum()
        print(f"{name:12s} {100 * mass_out:35.2f}% {100 * lenient:32.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
