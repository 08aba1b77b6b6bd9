"""Neural-network building blocks and representations."""

from zoo.nn.acsf import ACSF
from zoo.nn.blocks import MLP, CosineCutoff, GaussianRBF, ShiftedSoftplus, scatter_sum
from zoo.nn.schnet import SchNet

__all__ = ["ACSF", "MLP", "CosineCutoff", "GaussianRBF", "SchNet", "ShiftedSoftplus", "scatter_sum"]
