"""The operator of tabulated SchNet filters: ``zoo::cfconv_tab`` (export/SPEC.md "Filter tables").

A continuous-filter convolution whose filters W(r) = filter_net(rbf(r)) * f_cut(r) are read from a table
of cubic Hermite polynomials in r (one row of 4 x F coefficients per interval of ``step`` Å) instead of
being computed by the filter network per pair:

    conv[i] += h[j] * W(r_p)   for every pair p = (i, j), and with ``symmetric`` also conv[j] += h[i] * W(r_p)
                               (pairs then hold one of each mirror pair, export/SPEC.md "Pair order")

This file defines the operator for Python with plain torch operations (any device, autograd, fake tensors
for tracing). zoo/csrc/cfconv_tab.cpp holds fused CPU kernels: one pass over the pairs, no per-pair
tensors. The C++ runtime compiles that file in and registers the same schemas; Python compiles it on
first use (``load_kernels``, called when an artifact that needs the operator is loaded) and its kernels
then replace the reference path on CPU.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import Tensor

OP = "zoo::cfconv_tab"
PROVIDED = (OP,)  # operators an artifact's metadata may list (export/SPEC.md, "operators")
SCHEMA = (
    "cfconv_tab(Tensor h, Tensor r, Tensor idx_i, Tensor idx_j, Tensor table, float step, float cutoff, "
    "bool symmetric) -> Tensor"
)
BACKWARD_SCHEMA = (
    "cfconv_tab_backward(Tensor grad, Tensor h, Tensor r, Tensor idx_i, Tensor idx_j, Tensor table, "
    "float step, float cutoff, bool symmetric) -> (Tensor, Tensor)"
)
SOURCE = Path(__file__).with_name("csrc") / "cfconv_tab.cpp"


def _defined() -> bool:
    try:
        torch.ops.zoo.cfconv_tab  # noqa: B018 (lookup raises when the operator is unknown)
    except (AttributeError, RuntimeError):
        return False
    return True


def _cpu_kernels_registered() -> bool:
    """Whether a build of zoo/csrc/cfconv_tab.cpp is loaded: ours, or the C++ runtime's (e.g. the LAMMPS
    plugin, loaded before or after this module); each registers the CPU kernels only once."""
    return torch._C._dispatch_has_kernel_for_dispatch_key(OP, "CPU")


def load_kernels() -> bool:
    """Compile (once; torch.utils.cpp_extension caches the library by source hash) and load the fused CPU
    kernels of zoo/csrc/cfconv_tab.cpp, unless a build is loaded already. Returns whether they are in use;
    where no C++ compiler is found, warns once and keeps the reference path (same numbers, several times
    slower on large systems). $ZOO_CFCONV_KERNELS=0 keeps the reference path without trying."""
    global _KERNELS
    if _cpu_kernels_registered():
        _KERNELS = True
    if _KERNELS is not None:
        return _KERNELS
    _KERNELS = False
    if os.environ.get("ZOO_CFCONV_KERNELS", "1") != "0":
        from torch.utils.cpp_extension import load

        try:
            load(
                name="zoo_cfconv_tab",
                sources=[str(SOURCE)],
                extra_cflags=["-O3", "-fopenmp-simd"],
                is_python_module=False,
                verbose=False,
            )
            _KERNELS = True
        except Exception as exc:  # noqa: BLE001 - no compiler, no ninja, build error: fall back
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            warnings.warn(
                f"zoo: the fused CPU kernels of {OP} could not be built ({first}); tabulated SchNet filters "
                "run on the reference path (same numbers, slower). Install g++ and ninja to build them.",
                stacklevel=2,
            )
    return _KERNELS


def kernels() -> bool:
    """Whether zoo::cfconv_tab runs fused CPU kernels in this process."""
    return _cpu_kernels_registered()


def locate(r: Tensor, step: float, intervals: int) -> tuple[Tensor, Tensor]:
    """Interval index k (P,) and position t in it (P,) of each distance: the table layout of SPEC
    "Filter tables" (r = cutoff: t = 1 in the last interval)."""
    s = (r * (1.0 / step)).clamp(min=0.0)
    k = s.detach().floor().long().clamp(max=intervals - 1)
    return k, s - k.to(s.dtype)


def cubic(c: Tensor, t: Tensor) -> Tensor:
    """c0 + c1 t + c2 t^2 + c3 t^3 for coefficients c (..., 4, F) and t broadcasting to (..., F)."""
    return ((c[..., 3, :] * t + c[..., 2, :]) * t + c[..., 1, :]) * t + c[..., 0, :]


def cubic_slope(c: Tensor, t: Tensor) -> Tensor:
    """d/dt of ``cubic``: c1 + 2 c2 t + 3 c3 t^2."""
    return (3.0 * c[..., 3, :] * t + 2.0 * c[..., 2, :]) * t + c[..., 1, :]


def _coefficients(r: Tensor, table: Tensor, step: float, cutoff: float) -> tuple[Tensor, Tensor, Tensor]:
    """Per pair: interval coefficients (P, 4, F), position t in the interval (P, 1), in-range mask (P, 1)."""
    k, t = locate(r, step, table.shape[0])
    mask = (r < cutoff).to(r.dtype)[:, None]
    return table.index_select(0, k), t[:, None], mask


def _scatter(values_i: Tensor, values_j: Tensor | None, idx_i: Tensor, idx_j: Tensor, n: int) -> Tensor:
    out = torch.zeros((n, values_i.shape[1]), dtype=values_i.dtype, device=values_i.device)
    out = out.index_add(0, idx_i, values_i)
    return out if values_j is None else out.index_add(0, idx_j, values_j)


def cfconv_tab_reference(
    h: Tensor,
    r: Tensor,
    idx_i: Tensor,
    idx_j: Tensor,
    table: Tensor,
    step: float,
    cutoff: float,
    symmetric: bool,
) -> Tensor:
    """The operator in plain torch operations (differentiable by autograd)."""
    c, t, mask = _coefficients(r, table, step, cutoff)
    w = cubic(c, t) * mask
    return _scatter(h[idx_j] * w, h[idx_i] * w if symmetric else None, idx_i, idx_j, h.shape[0])


def cfconv_tab_backward_reference(
    grad: Tensor,
    h: Tensor,
    r: Tensor,
    idx_i: Tensor,
    idx_j: Tensor,
    table: Tensor,
    step: float,
    cutoff: float,
    symmetric: bool,
) -> tuple[Tensor, Tensor]:
    """zoo::cfconv_tab_backward in plain torch operations: (dL/dh, dL/dr) given dL/dconv."""
    c, t, mask = _coefficients(r, table, step, cutoff)
    w = cubic(c, t) * mask
    dw = cubic_slope(c, t) * (mask / step)
    gi, hj = grad[idx_i], h[idx_j]
    prod = gi * hj
    if symmetric:
        gj, hi = grad[idx_j], h[idx_i]
        prod = prod + gj * hi
        grad_h = _scatter(gi * w, gj * w, idx_j, idx_i, h.shape[0])
    else:
        grad_h = _scatter(gi * w, None, idx_j, idx_i, h.shape[0])
    return grad_h, (prod * dw).sum(1)


def _setup_context(ctx, inputs, output) -> None:  # type: ignore[no-untyped-def]
    h, r, idx_i, idx_j, table, step, cutoff, symmetric = inputs
    ctx.save_for_backward(h, r, idx_i, idx_j, table)
    ctx.args = (step, cutoff, symmetric)


def _backward(ctx, grad):  # type: ignore[no-untyped-def]
    h, r, idx_i, idx_j, table = ctx.saved_tensors
    # first derivatives only (forces): the backward operator is not differentiated again
    grad_h, grad_r = torch.ops.zoo.cfconv_tab_backward(
        grad.detach().contiguous(), h.detach(), r.detach(), idx_i, idx_j, table, *ctx.args
    )
    return grad_h, grad_r, None, None, None, None, None, None


def _define_python() -> None:
    # torch.library.custom_op: schemas from the reference functions' signatures (SCHEMA, BACKWARD_SCHEMA)
    op = torch.library.custom_op(OP, cfconv_tab_reference, mutates_args=())
    op_backward = torch.library.custom_op(OP + "_backward", cfconv_tab_backward_reference, mutates_args=())

    @op.register_fake
    def _(h, r, idx_i, idx_j, table, step, cutoff, symmetric):  # type: ignore[no-untyped-def]
        return h.new_empty(h.shape)

    @op_backward.register_fake
    def _(grad, h, r, idx_i, idx_j, table, step, cutoff, symmetric):  # type: ignore[no-untyped-def]
        return h.new_empty(h.shape), r.new_empty(r.shape)

    op.register_autograd(_backward, setup_context=_setup_context)
    _LIBS.extend([op, op_backward])


class CfconvTab(torch.autograd.Function):
    """zoo::cfconv_tab as an autograd.Function, which torch.func transforms accept (an operator's
    registered autograd does not run under them in torch 2.13). Eager Python and the traced encodings
    (zoo/export/graph.py) use it; the traced graph holds the two operators."""

    @staticmethod
    def forward(*args):  # type: ignore[no-untyped-def, override] (h, r, idx_i, idx_j, table, step, cutoff, symmetric)
        return torch.ops.zoo.cfconv_tab(*args)

    setup_context = staticmethod(_setup_context)
    backward = staticmethod(_backward)


_LIBS: list[object] = []  # the operator objects, kept alive
_KERNELS: bool | None = None
if not _defined():  # else the C++ runtime's library (e.g. the LAMMPS plugin) defined it
    _define_python()

__all__ = [
    "OP",
    "PROVIDED",
    "CfconvTab",
    "cfconv_tab_backward_reference",
    "cfconv_tab_reference",
    "cubic",
    "cubic_slope",
    "kernels",
    "locate",
    "load_kernels",
]
