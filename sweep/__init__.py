"""Sweeps: many experiment runs from one file, expanded purely and run one by one."""

from sweep.expand import RunSpec, expand
from sweep.spec import SweepSpec, load_sweep

__all__ = ["RunSpec", "SweepSpec", "expand", "load_sweep"]
