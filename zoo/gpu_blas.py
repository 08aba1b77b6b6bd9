"""Small float32 matrix products on NVIDIA GPUs: which BLAS library runs them.

A SchNet call on a small molecule multiplies (atoms x 128) by (128 x 128) matrices some 40 times. For
fewer than about 32 rows, cuBLAS (CUDA 13, torch 2.11, H200; TF32 off) picks a kernel that takes ~50 µs
per product where cuBLASLt takes ~3 µs: 1.8 of the 2.1 ms of GPU time of a 9-atom call
(benchmarks/gpu_mm_probe.py, docs/RESULTS.md "GPU"). From 32 rows on both are alike (10-14 µs at 32-64
rows, 5-6 µs at 128-1,536). So structures of fewer than ``SMALL_ROWS`` atoms are evaluated with
cuBLASLt preferred; the setting is PyTorch's process-wide one, set for the call and restored after it.
The numbers do not change beyond float32 rounding (both run the same FP32 arithmetic, no TF32).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

SMALL_ROWS = 32  # structures with fewer atoms prefer cuBLASLt on CUDA


@contextmanager
def blas_for_rows(device: torch.device | str, rows: int) -> Iterator[None]:
    """Prefer cuBLASLt while evaluating a structure of ``rows`` atoms on a CUDA device, when rows is
    below SMALL_ROWS; elsewhere (CPU, larger structures, builds without cuBLASLt) change nothing."""
    if torch.device(device).type != "cuda" or rows >= SMALL_ROWS:
        yield
        return
    previous = torch.backends.cuda.preferred_blas_library()
    try:
        torch.backends.cuda.preferred_blas_library("cublaslt")
        switched = True
    except RuntimeError:  # a build without cuBLASLt (ROCm's hipBLASLt is asked for by the same name)
        switched = False
    try:
        yield
    finally:
        if switched:
            torch.backends.cuda.preferred_blas_library(previous)
