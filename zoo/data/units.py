"""Unit conversion at import time: zoo stores eV and Å (and e·Å for dipoles) inside."""

from __future__ import annotations

import numpy as np
from ase import units as ase_units

from zoo.errors import DataError

KCAL_MOL_TO_EV = 0.0433641043
HARTREE_TO_EV = 27.211386245988
BOHR_TO_ANG = ase_units.Bohr
DEBYE_TO_EANG = ase_units.Debye

# source unit (normalised spelling) -> (factor to multiply with, zoo unit)
_TABLE: dict[str, tuple[float, str]] = {
    "ev": (1.0, "eV"),
    "mev": (1e-3, "eV"),
    "ha": (HARTREE_TO_EV, "eV"),
    "hartree": (HARTREE_TO_EV, "eV"),
    "kcal/mol": (KCAL_MOL_TO_EV, "eV"),
    "kj/mol": (ase_units.kJ / ase_units.mol, "eV"),
    "ev/atom": (1.0, "eV/atom"),
    "ev/ang": (1.0, "eV/Ang"),
    "ev/å": (1.0, "eV/Ang"),
    "ha/bohr": (HARTREE_TO_EV / BOHR_TO_ANG, "eV/Ang"),
    "ha/a0": (HARTREE_TO_EV / BOHR_TO_ANG, "eV/Ang"),
    "kcal/mol/ang": (KCAL_MOL_TO_EV, "eV/Ang"),
    "ev/ang^3": (1.0, "eV/Ang^3"),
    "ev/ang/ang/ang": (1.0, "eV/Ang^3"),
    "d": (DEBYE_TO_EANG, "e*Ang"),
    "debye": (DEBYE_TO_EANG, "e*Ang"),
    "e*ang": (1.0, "e*Ang"),
    "ang": (1.0, "Ang"),
    "bohr": (BOHR_TO_ANG, "Ang"),
    "a0": (BOHR_TO_ANG, "Ang"),
    "ang^2": (1.0, "Ang^2"),
    "bohr^2": (BOHR_TO_ANG**2, "Ang^2"),
    "a0^2": (BOHR_TO_ANG**2, "Ang^2"),
    "ang^3": (1.0, "Ang^3"),
    "bohr^3": (BOHR_TO_ANG**3, "Ang^3"),
    "a0^3": (BOHR_TO_ANG**3, "Ang^3"),
    "ghz": (1.0, "GHz"),
    "cal/mol/k": (1.0, "cal/mol/K"),
    "": (1.0, ""),
}


def conversion(unit: str) -> tuple[float, str]:
    """Return ``(factor, zoo_unit)`` so that ``value_in_unit * factor`` is in ``zoo_unit``."""
    key = unit.strip().lower().replace(" ", "").replace("angstrom", "ang").replace("å", "ang")
    if key not in _TABLE:
        known = ", ".join(sorted(k for k in _TABLE if k))
        raise DataError(f"Unknown unit {unit!r}; known units are: {known}.")
    return _TABLE[key]


def convert(values: np.ndarray, unit: str) -> tuple[np.ndarray, str]:
    """Convert ``values`` given in ``unit`` to zoo units; returns the new array and its unit."""
    factor, target = conversion(unit)
    arr = np.asarray(values)
    if factor == 1.0:
        return arr, target
    return arr.astype(np.float64) * factor, target
