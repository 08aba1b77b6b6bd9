"""User-facing errors. Every problem caused by input (files, data, arguments) raises a ZooError
subclass with one sentence naming the problem; the CLI prints it as one line and exits with 2."""


class ZooError(Exception):
    """Base class of all user-facing zoo errors."""


class DataError(ZooError, ValueError):
    """A dataset, structure or property is missing, corrupt or inconsistent."""


class ModelError(ZooError, ValueError):
    """A model cannot handle its input (unknown element, atoms too close, bad cutoff, ...)."""


class ArtifactError(ZooError, ValueError):
    """An exported artifact is corrupt, tampered with, or from an incompatible format version."""


class DownloadError(ZooError, OSError):
    """A download failed (HTTP error, time-out, checksum mismatch, disk full)."""
