"""Names of the entries of a batch (`dict[str, Tensor]`) and of the standard properties.

Shapes in a batch of B structures with N atoms in all (see docs/ARCHITECTURE.md):
``Z`` (N,) int64, ``R`` (N,3), ``cell`` (B,3,3), ``pbc`` (B,3) bool, ``idx_m`` (N,) structure index of
each atom, ``n_atoms`` (B,) int64; per-structure properties (B, ...), per-atom properties (N, ...).
"""

from __future__ import annotations

Z = "Z"
R = "R"
cell = "cell"
pbc = "pbc"
idx_m = "idx_m"
n_atoms = "n_atoms"

energy = "energy"
forces = "forces"
stress = "stress"
dipole = "dipole"

#: keys describing the structure itself (not a learnable property)
STRUCTURE_KEYS: tuple[str, ...] = (Z, R, cell, pbc, idx_m, n_atoms)
#: properties that have one row per atom unless an importer is told otherwise
PER_ATOM_DEFAULT: frozenset[str] = frozenset({forces})
