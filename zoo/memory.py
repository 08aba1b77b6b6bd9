"""Keep the memory a process frees for its next allocations (glibc), instead of returning it to the kernel.

glibc gives every block above its mmap threshold (at most 32 MiB) a mapping of its own and unmaps it
when the block is freed. A model's large per-pair tensors (123 MB each for the default SchNet on 1,536
water atoms) are then page-faulted in afresh on every call, which costs a quarter of a CPU call's time.
``reuse_freed_memory()`` switches that off for the whole process (``mallopt(M_MMAP_MAX, 0)`` and
``mallopt(M_TRIM_THRESHOLD, INT_MAX)``), as the C++ runtime's ``zoo::reuse_freed_memory`` does; the
price is that the process's resident memory stays at its peak, which an MD run reaches every step
anyway. The ASE calculator and the trainer call it for CPU models unless told not to
(``ZooCalculator(..., reuse_memory=False)``, ``zoo train --release-memory``).
"""

from __future__ import annotations

import ctypes
import platform

_M_TRIM_THRESHOLD = -1  # <malloc.h>
_M_MMAP_MAX = -4
_INT_MAX = 2**31 - 1
_state: bool | None = None


def reuse_freed_memory() -> bool:
    """Switch this process to keeping freed memory (idempotent, irreversible); False where the C library
    is not glibc and nothing was changed."""
    global _state
    if _state is None:
        _state = False
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            libc = ctypes.CDLL(None)
            _state = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, _INT_MAX) == 1
    return _state
