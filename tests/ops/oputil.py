"""Helpers shared by the op tests: error measures, tolerances, memory layouts, backend switches."""

from __future__ import annotations

import contextlib

import pytest
import torch
from recording import RecordOps

from specdiff import extension

# Relative error (||a - b|| / ||b||) allowed against the float64 reference.
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
SIZES = (1, 2, 3, 5, 8, 15, 16, 17, 32, 33, 64, 100)
LAYOUTS = ("contiguous", "channels_last", "permuted", "strided")

needs_cpu_kernels = pytest.mark.skipif(not extension.is_loaded(), reason="specdiff._C is not built")


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().to(torch.complex128 if a.is_complex() else torch.float64), b.detach()
    b = b.to(a.dtype)
    denom = b.norm().item()
    return (a - b).norm().item() / denom if denom > 0 else (a - b).norm().item()


def with_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """The same values as ``x`` in another memory layout."""
    if layout == "contiguous":
        return x.contiguous()
    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    if layout == "permuted":  # H and W swapped in memory, [B, C, H, W] view
        return x.transpose(2, 3).contiguous().transpose(2, 3)
    if layout == "strided":  # every other element of a larger buffer
        big = torch.zeros(*x.shape[:-1], 2 * x.shape[-1], dtype=x.dtype, device=x.device)
        big[..., ::2] = x
        return big[..., ::2]
    raise ValueError(layout)


def cpu_isas() -> list[str]:
    """Every CPU ISA the kernels can run with on this machine."""
    if not extension.is_loaded():
        return []
    order = ["base", "avx2", "avx512"]
    return order[: order.index(torch.ops.specdiff._detected_cpu_isa()) + 1]


@contextlib.contextmanager
def cpu_isa(name: str):
    previous = extension.set_cpu_isa(name)
    try:
        yield
    finally:
        extension.set_cpu_isa(previous)


@contextlib.contextmanager
def streamed(nbytes: int):
    """One thread, so that outputs of ``nbytes`` (more than any x86 core's L2) take the kernels' streaming-store
    path (outputs that do not fit the L2s of the threads in use together with an input of their size)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert extension.stream_output(nbytes), (nbytes, extension.cpu_caches())
        yield
    finally:
        torch.set_num_threads(threads)


backend = extension.use_backend  # the process-wide backend switch, as SPECDIFF_BACKEND at import


def kernel_and_reference(fn, *args, **kwargs):
    """Runs a public op on the kernel path and on the reference path."""
    with backend("kernel"):
        k = fn(*args, **kwargs)
    with backend("reference"):
        r = fn(*args, **kwargs)
    return k, r


def specdiff_ops_called(fn, *args, **kwargs) -> list[str]:
    """Names of the ``specdiff::`` kernel ops (those behind the public ops, not the rule and capability queries)
    that ``fn(*args, **kwargs)`` dispatches to."""
    kernels = {f"specdiff::{k}" for names in extension.OPS.values() for k in names}
    with RecordOps() as rec:
        fn(*args, **kwargs)
    return [n for n in rec.names if n in kernels]


def band_args(batch: int, per_sample: bool, dtype=torch.float64, requires_grad: bool = False):
    """(inner, outer, gain) tensors: 0-d, or [B] with distinct values per sample."""
    spread = torch.linspace(0, 0.1, batch, dtype=dtype) if per_sample else torch.tensor(0.0, dtype=dtype)
    params = [(v + spread).requires_grad_(requires_grad) for v in (0.2, 0.6, 1.3)]
    return tuple(params)


BAND_SIZES = {"5x6": (5, 6), "7x67": (7, 67), "8x10": (8, 10)}  # small; odd, past the lane FFT's radices; even


def real_images(gen, batch, channels, h, w):
    """The first argument of spectral_band_filter2d and spectral_band_mse (no extra arguments)."""
    return torch.randn(batch, channels, h, w, generator=gen, dtype=torch.float64), ()


def band_op_spec(name, fn, reference, bad_inputs, heights, widths, compile_case="bandpass-per-sample-8x10",
                 first=real_images, batch: int = 4):
    """The OpSpec of a band op ``fn(first, *extra, kind=, inner=, outer=, gain=, temperature=)``, whose C++ op and
    reference take ``(first, inner, outer, gain, temperature, *extra, kind)``. Cases: kind (radial, bandpass) x
    band (shared, per-sample [B]) x size (:data:`BAND_SIZES`); a size sweep ``heights`` x ``widths`` of each kind;
    random shapes and temperatures. ``first(gen, B, C, H, W)`` gives the first tensor (float64) and the
    ``extra`` arguments."""
    from hypothesis import strategies as st
    from optester import Call, OpSpec

    def case(kind, per_sample, h, w):
        def build():
            tensor, extra = first(torch.Generator().manual_seed(h * 100 + w), batch, 3, h, w)
            return Call((tensor, *band_args(batch, per_sample)), (6.0, *extra, kind))

        return build

    def sweep(kind, h, w):
        def build():
            tensor, extra = first(torch.Generator().manual_seed(h * 1000 + w), 3, 2, h, w)
            return [Call((tensor, *band_args(3, per_sample=True)), (8.0, *extra, kind))]

        return build

    @st.composite
    def random_calls(draw):
        b, c, h, w = (draw(st.integers(1, n)) for n in (3, 3, 30, 30))
        tensor, extra = first(torch.Generator().manual_seed(h * 100 + w), b, c, h, w)
        band, temperature = band_args(b, draw(st.booleans())), draw(st.floats(0.5, 50.0))
        return Call((tensor, *band), (temperature, *extra, draw(st.sampled_from(("radial", "bandpass")))))

    def public(first, inner, outer, gain, temperature, *rest):
        *extra, kind = rest
        return fn(first, *extra, kind=kind, inner=inner, outer=outer, gain=gain, temperature=temperature)

    return OpSpec(
        name=name,
        public=public,
        reference=reference,
        cases={f"{kind}-{'per-sample' if per_sample else 'shared'}-{size}": case(kind, per_sample, h, w)
               for kind in ("radial", "bandpass") for per_sample in (False, True)
               for size, (h, w) in BAND_SIZES.items()},
        gradcheck_cases=["bandpass-per-sample-5x6"],
        opcheck_cases=["bandpass-shared-5x6", "radial-per-sample-5x6"],
        compile_case=compile_case,
        bad_inputs=bad_inputs,
        random_calls=random_calls(),
        random_tol=(1e-12, 1e-12),
        sizes={f"{kind}-{h}x{w}": sweep(kind, h, w) for kind in ("radial", "bandpass") for h in heights
               for w in widths},
    )


def band_bad(first, error, message, extra=(), **band):
    """A bad input for a band op: ``first`` and its ``extra`` arguments with a default band changed by ``band``;
    (Call, errors, message)."""
    from optester import Call

    band = {"inner": 0.0, "outer": 1.0, "gain": 1.0, "temperature": 10.0, "kind": "bandpass", **band}
    call = Call((first, band["inner"], band["outer"], band["gain"]), (band["temperature"], *extra, band["kind"]))
    return call, (error,), message
