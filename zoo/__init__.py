"""zoo: a model zoo for atomistic neural-network potentials (SchNet, ACSF, wACSF).

One exported artifact runs unchanged in ASE, in the C++ runtime and in LAMMPS.
"""

__version__ = "0.1.0"
