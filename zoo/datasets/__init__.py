"""Public datasets: download (resumable, verified) -> convert once to zoo HDF5 -> reuse.

``QM9``, ``MD17`` (and rMD17 with ``revised=True``), ``ISO17``, ``ANI1`` (ANI-1 and ANI-1x) and
``MaterialsProject``; each exposes ``.dataset`` (an `AtomsDataset`) and its property-name constants.
"""

from zoo.datasets.ani1 import ANI1
from zoo.datasets.base import PreparedDataset, RemoteFile
from zoo.datasets.download import download, file_hash
from zoo.datasets.iso17 import ISO17
from zoo.datasets.md17 import MD17
from zoo.datasets.mp import MaterialsProject
from zoo.datasets.qm9 import QM9

__all__ = [
    "ANI1",
    "ISO17",
    "MD17",
    "QM9",
    "MaterialsProject",
    "PreparedDataset",
    "RemoteFile",
    "download",
    "file_hash",
]
