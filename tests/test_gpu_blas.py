"""zoo.gpu_blas: small structures on CUDA prefer cuBLASLt for the call, and the setting comes back."""

from __future__ import annotations

import pytest
import torch

from zoo import gpu_blas


class _Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.current = "cublas"
        self.calls: list[str] = []
        self.fail = fail

    def __call__(self, backend: str | None = None) -> str:
        if backend is not None:
            if self.fail:
                raise RuntimeError("Cannot set preferred backend to cuBLASLt")
            self.calls.append(backend)
            self.current = backend
        return self.current


@pytest.mark.parametrize(
    ("device", "rows", "inside", "calls"),
    [
        ("cuda", 9, "cublaslt", ["cublaslt", "cublas"]),
        ("cuda:0", 31, "cublaslt", ["cublaslt", "cublas"]),
        ("cuda", 32, "cublas", []),
        ("cuda", 1536, "cublas", []),
        ("cpu", 9, "cublas", []),
    ],
)
def test_small_structures_on_cuda_prefer_cublaslt(monkeypatch, device, rows, inside, calls) -> None:
    rec = _Recorder()
    monkeypatch.setattr(torch.backends.cuda, "preferred_blas_library", rec)
    with gpu_blas.blas_for_rows(device, rows):
        assert rec.current == inside
    assert rec.calls == calls and rec.current == "cublas"


def test_restored_after_an_error(monkeypatch) -> None:
    rec = _Recorder()
    monkeypatch.setattr(torch.backends.cuda, "preferred_blas_library", rec)
    with pytest.raises(ValueError), gpu_blas.blas_for_rows("cuda", 9):
        raise ValueError("model failed")
    assert rec.current == "cublas"


def test_builds_without_cublaslt_change_nothing(monkeypatch) -> None:
    rec = _Recorder(fail=True)
    monkeypatch.setattr(torch.backends.cuda, "preferred_blas_library", rec)
    with gpu_blas.blas_for_rows("cuda", 9):
        assert rec.current == "cublas"
    assert rec.calls == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_real_setting_on_a_gpu() -> None:
    before = torch.backends.cuda.preferred_blas_library()
    with gpu_blas.blas_for_rows("cuda", 9):
        assert torch.backends.cuda.preferred_blas_library() == torch._C._BlasBackend.Cublaslt
        a = torch.randn(9, 128, device="cuda")
        w = torch.randn(128, 128, device="cuda")
        torch.testing.assert_close(a @ w.t(), (a.double() @ w.double().t()).float(), rtol=1e-5, atol=1e-4)
    assert torch.backends.cuda.preferred_blas_library() == before
