"""Loads the compiled kernels (``specdiff._C``) once and decides, per op and device, which backend runs.

``SPECDIFF_BACKEND`` (read once, at import):

* ``auto`` (default): the kernel when one is registered for the op and device, else the reference.
* ``reference``: always the pure-PyTorch reference.
* ``kernel``: always the kernel; calling an op with no kernel for the device raises.

When the extension cannot be loaded the package still works on the reference path and warns once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import warnings
from dataclasses import dataclass

import torch

from specdiff.errors import InvalidValue, Unavailable

BACKENDS = ("auto", "reference", "kernel")

# Every public op and the kernels that must exist for it (forward and backward).
OPS: dict[str, tuple[str, ...]] = {}


@dataclass(frozen=True)
class _State:
    loaded: bool
    error: str | None
    backend: str


def _load() -> _State:
    backend = os.environ.get("SPECDIFF_BACKEND", "auto").strip().lower() or "auto"
    if backend not in BACKENDS:
        raise InvalidValue(f"SPECDIFF_BACKEND={backend!r} is not valid; expected one of {', '.join(BACKENDS)}")
    if backend == "reference":
        return _State(False, "SPECDIFF_BACKEND=reference", backend)
    try:
        importlib.import_module("specdiff._C")
    except ImportError as exc:  # no compiler at install time, SPECDIFF_NO_EXT=1, or an ABI mismatch
        message = f"extension failed to load: {exc}"
        if backend == "kernel":
            raise Unavailable(f"specdiff: SPECDIFF_BACKEND=kernel but the {message}") from exc
        warnings.warn(f"specdiff: {message}; using the pure-PyTorch reference ops", RuntimeWarning, stacklevel=3)
        return _State(False, message, backend)
    return _State(True, None, backend)


_STATE = _load()
_KERNEL_CACHE: dict[tuple[str, str], bool] = {}


def register_op(name: str, *kernels: str) -> None:
    """Declares public op ``name`` whose kernel path needs the ``specdiff::`` ops ``kernels``."""
    OPS[name] = kernels or (name,)


def is_loaded() -> bool:
    """True when ``specdiff._C`` is loaded (the kernels may still be missing for a device)."""
    return _STATE.loaded


def load_error() -> str | None:
    """Why the extension is not in use, or None."""
    return _STATE.error


def backend() -> str:
    """The process-wide backend setting: ``auto``, ``reference`` or ``kernel``."""
    return _STATE.backend


def has_kernel(op: str, device: torch.device | str) -> bool:
    """True when every kernel op behind public op ``op`` is registered for ``device``'s type."""
    dev = torch.device(device).type
    key = (op, dev)
    if key not in _KERNEL_CACHE:
        # Meta tensors run the ops' fake impls (registered as their Meta kernels): shapes and dtypes, no data.
        dispatch_key = {"cpu": "CPU", "cuda": "CUDA", "meta": "Meta"}.get(dev)
        found = _STATE.loaded and dispatch_key is not None
        for kernel in OPS.get(op, (op,)) if found else ():
            try:
                registered = torch._C._dispatch_has_kernel_for_dispatch_key(f"specdiff::{kernel}", dispatch_key)
            except RuntimeError:  # no such op in this build
                registered = False
            if not registered:
                found = False
                break
        _KERNEL_CACHE[key] = found
    return _KERNEL_CACHE[key]


def use_kernel(op: str, device: torch.device) -> bool:
    """The routing predicate every public op calls: kernel or reference for this call."""
    if _STATE.backend == "reference":
        return False
    if has_kernel(op, device):
        return True
    if _STATE.backend == "kernel":
        raise Unavailable(
            f"specdiff: SPECDIFF_BACKEND=kernel but op {op!r} has no {torch.device(device).type} kernel"
            + (f" ({_STATE.error})" if _STATE.error else "")
        )
    return False


@contextlib.contextmanager
def use_backend(name: str):
    """Runs the block with the op backend ``name`` (``reference``, ``kernel`` or ``auto``) for the whole process,
    as ``SPECDIFF_BACKEND`` would at import, then restores the previous one."""
    global _STATE
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    saved = _STATE
    _STATE = dataclasses.replace(saved, backend=name)
    try:
        yield
    finally:
        _STATE = saved


def reference_scope(op: str):
    """The profiler scope ``specdiff::<op>[reference]`` around an op's reference path, so profiles (and the
    trainer's spectral-op time) attribute the pure-PyTorch work to the op it implements. Costs a few µs."""
    return torch.profiler.record_function(f"specdiff::{op}[reference]")


def cpu_isa() -> str | None:
    """The instruction set the CPU kernels run with (``avx512``, ``avx2``, ``base``), or None."""
    return torch.ops.specdiff._cpu_isa() if _STATE.loaded else None


def set_cpu_isa(isa: str) -> str:
    """Forces the CPU kernels' instruction set (for tests and benchmarks); returns the previous one."""
    if not _STATE.loaded:
        raise RuntimeError(f"specdiff: no CPU kernels ({_STATE.error})")
    return torch.ops.specdiff._set_cpu_isa(isa)


def info() -> dict:
    """Build and run-time facts: versions, CPU ISA, kernels per op and device, active backend and why."""
    import platform

    import numpy

    import specdiff
    import specdiff.ops  # noqa: F401  (registers every op)

    if _STATE.backend == "reference":
        active, why = "reference", "SPECDIFF_BACKEND=reference"
    elif not _STATE.loaded:
        active, why = "reference", _STATE.error
    else:
        active = "kernel"
        why = f"SPECDIFF_BACKEND={_STATE.backend}: kernels used where registered, reference elsewhere"
    return {
        "specdiff": specdiff.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "extension_loaded": _STATE.loaded,
        "extension_error": _STATE.error,
        "built_with_cuda": bool(_STATE.loaded and torch.ops.specdiff._built_with_cuda()),
        "cpu_isa": cpu_isa(),
        "cpu_isa_detected": torch.ops.specdiff._detected_cpu_isa() if _STATE.loaded else None,
        "backend_setting": _STATE.backend,
        "backend": active,
        "backend_reason": why,
        "ops": {op: {"cpu": has_kernel(op, "cpu"), "cuda": has_kernel(op, "cuda")} for op in sorted(OPS)},
    }
