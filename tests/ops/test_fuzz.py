"""Fuzzing every public op (``specdiff.ops.*``) and every ``torch.ops.specdiff`` entry point with bad and edge input.

The contract: a call either matches the float64 reference (values; gradients where differentiable) or
raises ValueError / TypeError / RuntimeError with a one-line message, the same on the kernel and the reference
path. No call may crash the process or return a result for invalid input. Drawn here: NaN and inf, zero-size
dimensions, 1x1 images, permuted, step-sliced and expanded (stride-0) views, every dtype, meta tensors, mismatched
dtypes, shapes and devices, on every CPU ISA. The entry points are fuzzed in a child process (a crash there is an
exit by signal, not a dead pytest), as are the calls that used to crash.

Non-finite values: the complex convolutions put inf and NaN exactly where the reference does, and so does
``complex_norm_act`` for non-finite x (for a non-finite weight, bias or film the reference's own pattern depends
on x's layout: NORM_NONFINITE_PARAMETERS). The FFT ops put them at the same positions, but whether such an output
is inf or NaN follows the FFT's arithmetic (inf - inf in a butterfly is NaN), which differs between FFT
implementations; a NaN input gives the reference's NaN pattern exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oputil import TOL, backend, cpu_isa, cpu_isas, needs_cpu_kernels, rel_err

from specdiff.ops import (
    complex_conv2d,
    complex_conv_transpose2d,
    complex_norm_act,
    spectral_band_filter2d,
    spectral_band_mse,
    spectral_band_weight,
    spectral_filter2d,
)

pytestmark = [needs_cpu_kernels, pytest.mark.usefixtures("one_thread")]

ERRORS = (ValueError, TypeError, RuntimeError)
FUZZ = dict(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
NONFINITE = (float("nan"), float("inf"), float("-inf"))
LAYOUTS = ("contiguous", "channels_last", "permuted", "step_w", "step_b", "expanded")
BAD_DTYPES = (torch.int32, torch.int64, torch.uint8, torch.bool, torch.float16, torch.bfloat16, torch.complex64)


# ---------------------------------------------------------------------------------------------------------------
# One spec per op: valid leaves for drawn sizes, and the public call on (x, **others).


@dataclass(frozen=True)
class Case:
    op: str
    batch: int
    channels: int
    height: int
    width: int
    dtype: torch.dtype
    layout: str
    variant: int  # an op-specific choice (kind, weight shape, kernel size, training, algorithm)
    seed: int


def _randn(gen, *shape, dtype=torch.float64):
    return torch.randn(*shape, generator=gen, dtype=dtype)


def _band(gen, case: Case) -> dict:
    per_sample = case.variant % 2 == 1
    shape = (case.batch,) if per_sample else ()
    return {
        "inner": 0.2 + 0.1 * torch.rand(shape, generator=gen, dtype=torch.float64),
        "outer": 0.6 + 0.1 * torch.rand(shape, generator=gen, dtype=torch.float64),
        "gain": 1.0 + torch.rand(shape, generator=gen, dtype=torch.float64),
    }


def _kind(case: Case) -> str:
    return "radial" if case.variant // 2 % 2 else "bandpass"


def make_leaves(case: Case) -> dict[str, torch.Tensor | None]:
    """float64 (complex128 for a spectrum) inputs of a valid call; ``x`` first."""
    gen = torch.Generator().manual_seed(case.seed)
    b, c, h, w = case.batch, case.channels, case.height, case.width
    if case.op == "spectral_filter2d":
        shape = [(h, w // 2 + 1), (c, h, w // 2 + 1), (b, 1, h, w // 2 + 1)][case.variant % 3]
        weight = _randn(gen, *shape, dtype=torch.complex128 if case.variant % 2 else torch.float64)
        return {"x": _randn(gen, b, c, h, w), "weight": weight}
    if case.op in ("spectral_band_filter2d", "spectral_band_mse"):
        return {"x": _randn(gen, b, c, h, w), **_band(gen, case)}
    if case.op == "spectral_band_weight":
        return {"x": _randn(gen, b, c, h, w // 2 + 1, dtype=torch.complex128), **_band(gen, case)}
    if case.op in ("complex_conv2d", "complex_conv_transpose2d"):
        cout, k = [3, 16][case.variant % 2 if c == 16 else 0], [1, 3][case.variant // 2 % 2]
        shape = (cout, c, k, k) if case.op == "complex_conv2d" else (c, cout, k, k)
        return {
            "x": _randn(gen, b, 2 * c, h, w),
            "weight_re": _randn(gen, *shape) / k,
            "weight_im": _randn(gen, *shape) / k,
            "bias_re": _randn(gen, cout) if case.variant % 3 else None,
            "bias_im": _randn(gen, cout) if case.variant % 3 == 1 else None,
        }
    if case.op == "complex_norm_act":
        return {
            "x": _randn(gen, b, 2 * c, h, w) + 1,
            "weight": _randn(gen, 2 * c),
            "bias": _randn(gen, 2 * c),
            "film": _randn(gen, b, 3 * c) if case.variant % 2 else None,
            "running_mean": _randn(gen, 2 * c),
            "running_var": torch.rand(2 * c, generator=gen, dtype=torch.float64) + 0.5,
        }
    raise ValueError(case.op)


CONV_ALGORITHMS = ("auto", "block", "gauss", "gemm", "winograd")


def call(case: Case, x: torch.Tensor, others: dict) -> torch.Tensor:
    """The public op of ``case`` on ``x`` and the other inputs (running statistics are copied, not updated)."""
    o = others
    if case.op == "spectral_filter2d":
        return spectral_filter2d(x, o["weight"])
    band = dict(kind=_kind(case), inner=o.get("inner"), outer=o.get("outer"), gain=o.get("gain"), temperature=5.0)
    if case.op == "spectral_band_filter2d":
        return spectral_band_filter2d(x, **band)
    if case.op == "spectral_band_mse":
        return spectral_band_mse(x, **band)
    if case.op == "spectral_band_weight":
        return spectral_band_weight(x, case.width, **band)
    if case.op in ("complex_conv2d", "complex_conv_transpose2d"):
        k = o["weight_re"].shape[-1] if isinstance(o["weight_re"], torch.Tensor) else 1
        args = (x, o["weight_re"], o["weight_im"], o["bias_re"], o["bias_im"])
        previous = torch.ops.specdiff._complex_conv_algorithm(CONV_ALGORITHMS[case.variant % len(CONV_ALGORITHMS)])
        try:
            if case.op == "complex_conv2d":
                return complex_conv2d(*args, padding=k // 2)
            return complex_conv_transpose2d(*args, stride=1 + case.variant // 4 % 2)
        finally:
            torch.ops.specdiff._complex_conv_algorithm(previous)
    if case.op == "complex_norm_act":
        training = case.variant // 2 % 2 == 0
        stats = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in o.items() if k.startswith("running")}
        stats = stats if case.variant % 4 != 0 else {}  # batch statistics without running statistics too
        return complex_norm_act(x, o["weight"], o["bias"], film=o["film"], training=training, **stats)
    raise ValueError(case.op)


OPS = (
    "spectral_filter2d",
    "spectral_band_filter2d",
    "spectral_band_mse",
    "spectral_band_weight",
    "complex_conv2d",
    "complex_conv_transpose2d",
    "complex_norm_act",
)
FFT_OPS = OPS[:4]


def with_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """A differentiable view of ``x``'s values in another memory layout (expanded: see :func:`leaf_for_layout`)."""
    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    if layout == "permuted":
        return x.transpose(2, 3).contiguous().transpose(2, 3)
    if layout == "step_w":
        return torch.repeat_interleave(x, 2, dim=3)[..., ::2]
    if layout == "step_b":
        return torch.repeat_interleave(x, 2, dim=0)[::2]
    return x


def leaf_for_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """The leaf behind x: for ``expanded`` one channel, which the call expands (stride 0) to all of them."""
    return x[:, :1].clone() if layout == "expanded" else x


def view_of(leaf: torch.Tensor, case: Case) -> torch.Tensor:
    if case.layout == "expanded":
        c = case.channels if case.op in FFT_OPS else 2 * case.channels
        return leaf.expand(leaf.shape[0], c, *leaf.shape[2:])
    return with_layout(leaf, case.layout)


@st.composite
def cases(draw, ops=OPS, dtypes=(torch.float32, torch.float64)) -> Case:
    op = draw(st.sampled_from(ops))
    conv_or_norm = op not in FFT_OPS
    channels = draw(st.sampled_from((1, 2, 16) if op.startswith("complex_conv") else (1, 2, 3)))
    side = st.sampled_from((1, 2, 3, 5, 8, 9))
    height, width = draw(side), draw(side)
    if op == "complex_conv_transpose2d" and channels == 16:
        height, width = min(height, 5), min(width, 5)
    return Case(
        op=op,
        batch=draw(st.integers(1, 3)),
        channels=channels,
        height=height,
        width=width,
        dtype=draw(st.sampled_from(dtypes)),
        layout=draw(st.sampled_from(LAYOUTS[:-1] if conv_or_norm and channels == 16 else LAYOUTS)),
        variant=draw(st.integers(0, 19)),
        seed=draw(st.integers(0, 2**16)),
    )


def to_dtype(t, dtype):
    if not isinstance(t, torch.Tensor):
        return t
    return t.to(c10_complex(dtype) if t.is_complex() else dtype)


def c10_complex(dtype):
    return {torch.float32: torch.complex64, torch.float64: torch.complex128}.get(dtype, dtype)


def run(case: Case, leaves: dict, path: str, grad_seed: int | None):
    """(output, grads of the leaves or None) on one path; raises what the op raises."""
    leaves = {
        k: (
            v.detach().requires_grad_(grad_seed is not None and not k.startswith("running"))
            if isinstance(v, torch.Tensor)
            else v
        )
        for k, v in leaves.items()
    }
    with backend(path):
        x = view_of(leaves["x"], case)
        out = call(case, x, {k: v for k, v in leaves.items() if k != "x"})
    if grad_seed is None:
        return out, None
    inputs = [v for k, v in leaves.items() if isinstance(v, torch.Tensor) and not k.startswith("running")]
    gen = torch.Generator().manual_seed(grad_seed)
    cot = torch.randn(out.shape, generator=gen, dtype=torch.float64).to(out.dtype)
    if out.is_complex():
        cot = cot + 1j * torch.randn(out.shape, generator=gen, dtype=torch.float64).to(out.dtype)
    with backend(path):
        grads = torch.autograd.grad(out, inputs, cot, allow_unused=True)
    # An input the result does not depend on (inner and outer of a radial band) has a zero gradient.
    return out, [torch.zeros_like(t) if g is None else g for g, t in zip(grads, inputs, strict=True)]


def assert_matches(got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype, exact_nonfinite: bool, what: str):
    """got (dtype) against the float64 reference: shape, the non-finite pattern, then the finite values."""
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)} != reference {tuple(want.shape)}"
    got = got.detach().to(want.dtype)
    assert torch.equal(got.isfinite(), want.isfinite()), f"{what}: non-finite values at other positions"
    if exact_nonfinite:
        assert torch.equal(got.isnan(), want.isnan()), f"{what}: NaN at other positions than the reference"
        if not got.is_complex():
            assert torch.equal(got.isposinf(), want.isposinf()), f"{what}: inf at other positions"
    finite = want.isfinite()
    if finite.any():
        err = rel_err(got[finite], want[finite])
        assert err < 20 * TOL[dtype], f"{what}: relative error {err:.3g} against the float64 reference"


def check_case(case: Case, nonfinite: tuple[str, int, float] | None, grads: bool):
    """The kernel path (case.dtype) against the reference path in float64, or the same error on both."""
    leaves = make_leaves(case)
    leaves["x"] = leaf_for_layout(leaves["x"], case.layout)
    if nonfinite is not None:
        where, index, value = nonfinite
        names = [k for k, v in leaves.items() if isinstance(v, torch.Tensor) and not k.startswith("running")]
        if case.op == "complex_norm_act":  # non-finite parameters: see NORM_NONFINITE_PARAMETERS
            where = "x"
        t = leaves["x" if where == "x" else names[1 + index % (len(names) - 1)]]
        t.view(-1)[index % t.numel()] = value
    low = {k: to_dtype(v, case.dtype) for k, v in leaves.items()}
    grad_seed = case.seed if grads and nonfinite is None else None
    try:
        want, want_grads = run(case, leaves, "reference", grad_seed)
    except ERRORS as ref_error:
        with pytest.raises(type(ref_error)) as kernel_error:
            run(case, low, "kernel", grad_seed)
        assert str(kernel_error.value) == str(ref_error), "kernel and reference reject the input differently"
        assert "\n" not in str(ref_error), f"a multi-line message: {ref_error}"
        return
    got, got_grads = run(case, low, "kernel", grad_seed)
    out_dtype = c10_complex(case.dtype) if want.is_complex() else case.dtype
    assert got.dtype == out_dtype, f"output dtype {got.dtype}, expected {out_dtype}"
    exact = case.op not in FFT_OPS
    assert_matches(got, want, case.dtype, exact, "output")
    for i, (g, r) in enumerate(zip(got_grads or (), want_grads or (), strict=True)):
        assert_matches(g, r, case.dtype, exact, f"gradient {i}")


# ---------------------------------------------------------------------------------------------------------------
# Valid input, finite and not: values and gradients against the float64 reference, on every ISA.


@pytest.mark.parametrize("isa", cpu_isas())
@settings(max_examples=25, **FUZZ)
@given(case=cases(), grads=st.booleans())
def test_finite_input_matches_the_float64_reference(isa, case, grads):
    with cpu_isa(isa):
        check_case(case, None, grads)


@pytest.mark.parametrize("isa", cpu_isas())
@settings(max_examples=25, **FUZZ)
@given(
    case=cases(), where=st.sampled_from(("x", "other")), index=st.integers(0, 10**6), value=st.sampled_from(NONFINITE)
)
def test_nan_and_inf_propagate_as_in_the_reference(isa, case, where, index, value):
    with cpu_isa(isa):
        check_case(case, (where, index, value), grads=False)


# ---------------------------------------------------------------------------------------------------------------
# Invalid input: the same one-line error on both paths, never a result.


def mutate(case: Case, leaves: dict, mutation: str, pick: int):
    """Makes one argument invalid; returns (x, others)."""
    x, others = leaves["x"], {k: v for k, v in leaves.items() if k != "x"}
    tensors = [k for k, v in others.items() if isinstance(v, torch.Tensor) and not k.startswith("running")]
    if mutation == "x_dtype":
        bad = [d for d in BAD_DTYPES + (torch.float32, torch.float64, torch.complex128) if d != x.dtype]
        if case.op == "spectral_band_weight":
            bad = [d for d in bad if not d.is_complex]
        else:
            bad = [d for d in bad if d not in (torch.float32, torch.float64)]
        dtype = bad[pick % len(bad)]
        x = x.to(dtype) if dtype != torch.bool else (x.real if x.is_complex() else x) > 0
    elif mutation == "x_empty":
        dims = [1, 2, 3] if case.op.startswith("complex_conv") else [0, 1, 2, 3]
        x = x.narrow(dims[pick % len(dims)], 0, 0)
    elif mutation == "x_rank":
        x = x[0] if pick % 2 else x.unsqueeze(0)
    elif mutation == "x_meta":
        x = torch.empty_like(x, device="meta")
    elif mutation == "other_dtype":
        name = tensors[pick % len(tensors)]
        others[name] = others[name].to(torch.int64) if pick % 3 else others[name] > 0
    elif mutation == "other_shape":
        name = tensors[pick % len(tensors)]
        t = others[name]
        others[name] = t.unsqueeze(0).expand(3, *t.shape) if t.dim() == 0 or pick % 2 else t.narrow(0, 0, 0)
        if case.op == "spectral_filter2d" and others[name].dim() > 4:
            others[name] = others[name][0].narrow(-1, 0, 1).expand(*t.shape[:-1], 2 * t.shape[-1])
    elif mutation == "other_device":
        name = tensors[pick % len(tensors)]
        others[name] = torch.empty_like(others[name], device="meta")
    return x, others


MUTATIONS = ("x_dtype", "x_empty", "x_rank", "other_dtype", "other_shape", "other_device")


@settings(max_examples=60, **FUZZ)
@given(case=cases(), mutation=st.sampled_from(MUTATIONS), pick=st.integers(0, 100))
def test_invalid_input_raises_the_same_one_line_error_on_both_paths(case, mutation, pick):
    leaves = make_leaves(case)
    leaves = {k: to_dtype(v, case.dtype) for k, v in leaves.items()}
    x, others = mutate(case, leaves, mutation, pick)
    errors = []
    for path in ("kernel", "reference"):
        with backend(path):
            with pytest.raises(ERRORS) as info:
                call(case, x, others)
        errors.append(info.value)
    assert type(errors[0]) is type(errors[1]) and str(errors[0]) == str(errors[1]), errors
    message = str(errors[0])
    assert "\n" not in message and message, f"not a one-line message: {message!r}"


def test_non_tensor_arguments_are_type_errors():
    x = torch.randn(1, 2, 4, 4)
    with pytest.raises(TypeError, match="^weight must be a torch.Tensor"):
        spectral_filter2d(x, [[1.0]])
    with pytest.raises(TypeError, match="^residual must be a torch.Tensor"):
        spectral_band_mse([1.0])
    with pytest.raises(ValueError, match="^temperature must be"):
        spectral_band_filter2d(x, temperature=True)
    with pytest.raises(ValueError, match="^width=True"):
        spectral_band_weight(torch.zeros(1, 1, 4, 1, dtype=torch.complex64), True)


# ---------------------------------------------------------------------------------------------------------------
# Meta tensors: the shapes and dtypes of a real call, forward and backward, on every backend.


@pytest.mark.parametrize("path", ["auto", "kernel", "reference"])
@settings(max_examples=20, **FUZZ)
@given(case=cases())
def test_meta_tensors_give_the_shapes_and_dtypes_of_a_real_call(path, case):
    leaves = {k: to_dtype(v, case.dtype) for k, v in make_leaves(case).items()}
    leaves["x"] = leaf_for_layout(leaves["x"], case.layout)
    try:
        real, _ = run(case, leaves, "kernel", None)
    except ERRORS:
        return  # invalid for this case (e.g. one value per channel): covered by the invalid-input fuzz
    meta = {k: (torch.empty_like(v, device="meta") if isinstance(v, torch.Tensor) else v) for k, v in leaves.items()}
    out, grads = run(case, meta, path, grad_seed=None)
    assert out.device.type == "meta" and out.shape == real.shape and out.dtype == real.dtype
    inputs = [v for k, v in meta.items() if isinstance(v, torch.Tensor) and not k.startswith("running")]
    inputs = [t.requires_grad_() for t in inputs]
    with backend(path):
        y = call(case, view_of(meta["x"], case), {k: v for k, v in meta.items() if k != "x"})
        grads = torch.autograd.grad(y, inputs, torch.empty_like(y), allow_unused=True)
    for g, t in zip(grads, inputs, strict=True):
        assert g is None or (g.device.type == "meta" and g.shape == t.shape and g.dtype == t.dtype)


# ---------------------------------------------------------------------------------------------------------------
# The reported faults, one regression test each.


def run_child(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs ``code`` in a fresh interpreter; a crash there is an exit by signal, reported by the caller."""
    here = Path(__file__).resolve().parent
    path = os.pathsep.join([str(here), str(here.parent), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "PYTHONPATH": path, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_clean_exit(proc: subprocess.CompletedProcess):
    assert proc.returncode >= 0, f"the child died by signal {-proc.returncode}:\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, proc.stderr[-3000:]


REPORTED_CRASHES = """
import torch
from specdiff import extension
from specdiff.ops import spectral_band_filter2d, spectral_band_mse, spectral_band_weight, spectral_filter2d
calls = [
    lambda: spectral_band_mse(torch.randn(2, 3, 0, 10)),
    lambda: spectral_band_filter2d(torch.randn(2, 3, 0, 10)),
    lambda: spectral_band_filter2d(torch.randn(2, 3, 0, 0)),
    lambda: spectral_band_weight(torch.zeros(2, 3, 0, 6, dtype=torch.complex64), 10),
    lambda: spectral_filter2d(torch.randn(2, 3, 0, 10), torch.ones(1, 6)),
]
ops = torch.ops.specdiff
t = torch.tensor(0.5)
raw = [
    lambda: ops.spectral_band_mse(torch.randn(2, 3, 0, 10), t, t, t, 5.0, "bandpass"),
    lambda: ops._spectral_band_mse_backward(torch.ones(2), torch.randn(2, 3, 0, 10), t, t, t, 5.0, "radial",
                                            [True] * 4),
    lambda: ops.spectral_band_filter2d(torch.randn(2, 3, 0, 10), t, t, t, 5.0, "bandpass"),
    lambda: ops._spectral_band_filter2d_backward(torch.randn(2, 3, 10, 0), torch.randn(2, 3, 10, 0), t, t, t, 5.0,
                                                 "bandpass", [True] * 4),
    lambda: ops.spectral_band_weight(torch.zeros(2, 3, 0, 6, dtype=torch.complex64), t, t, t, 5.0, 10, "radial"),
    lambda: ops._spectral_band_weight_backward(torch.zeros(2, 3, 0, 6, dtype=torch.complex64),
                                               torch.zeros(2, 3, 0, 6, dtype=torch.complex64), t, t, t, 5.0, 10,
                                               "radial", [True] * 4),
    lambda: ops._spectral_band_weight_backward(torch.zeros(1, 1, 2, 6, dtype=torch.complex64),
                                               torch.zeros(4, 3, 8, 6, dtype=torch.complex64), t, t, t, 5.0, 10,
                                               "radial", [True] * 4),
    lambda: ops.spectral_filter2d(torch.randn(2, 3, 0, 10), torch.ones(1, 6)),
    lambda: ops.complex_norm_act(torch.randn(0, 4, 3, 3), torch.ones(4), torch.zeros(4), torch.zeros(4),
                                 torch.ones(4), None, 1e-5),
    lambda: ops.complex_conv2d(torch.randn(1, 4, 0, 5), torch.randn(2, 2, 1, 1), torch.randn(2, 2, 1, 1), None,
                               None, [1, 1], [1, 1], [1, 1], 1),
]
for isa in ["base", "avx2", "avx512"][: ["base", "avx2", "avx512"].index(ops._detected_cpu_isa()) + 1]:
    extension.set_cpu_isa(isa)
    for path in ("auto", "reference", "kernel"):
        with extension.use_backend(path):
            for i, f in enumerate(calls):
                try:
                    f()
                except ValueError as e:
                    assert "must not be empty" in str(e), (path, i, e)
                else:
                    raise AssertionError(f"call {i} on {path} returned a result for an empty input")
    for i, f in enumerate(raw):
        try:
            f()
        except (ValueError, RuntimeError):
            pass
        else:
            raise AssertionError(f"raw call {i} returned a result for invalid input")
print("ok")
"""


def test_reported_zero_height_crashes_are_value_errors_in_a_child_process():
    proc = run_child(REPORTED_CRASHES)
    assert_clean_exit(proc)
    assert proc.stdout.strip() == "ok"


@pytest.mark.parametrize("env_backend", ["auto", "kernel"])
def test_reported_crashes_under_specdiff_backend(env_backend):
    proc = run_child(
        """
        import torch
        from specdiff.ops import spectral_band_mse
        try:
            spectral_band_mse(torch.randn(2, 3, 0, 10))
        except ValueError as e:
            print(e)
        """,
        {"SPECDIFF_BACKEND": env_backend},
    )
    assert_clean_exit(proc)
    assert proc.stdout.startswith("residual must not be empty: [B, C, H, W] = [2, 3, 0, 10]")


@pytest.mark.parametrize("algorithm", CONV_ALGORITHMS)
def test_winograd_config_keeps_the_reference_nonfinite_pattern(algorithm):
    """The reported case: 1x32x32x32, 16 -> 16 complex channels, 3x3, padding 1 (Winograd's form under auto)."""
    gen = torch.Generator().manual_seed(0)
    x, wr, wi = _randn(gen, 1, 32, 32, 32), _randn(gen, 16, 16, 3, 3), _randn(gen, 16, 16, 3, 3)
    grad = _randn(gen, 1, 32, 32, 32)
    previous = torch.ops.specdiff._complex_conv_algorithm(algorithm)
    try:
        for where, value in (("x", float("nan")), ("weight", float("inf")), ("grad", float("nan"))):
            xs, ws, gs = x.clone(), wr.clone(), grad.clone()
            {"x": xs[0, 3, 10, 10:11], "weight": ws[2, 3, 1, 1:2], "grad": gs[0, 5, 7, 7:8]}[where].fill_(value)
            leaves = [t.float().requires_grad_() for t in (xs, ws, wi)]
            ref = [t.clone().requires_grad_() for t in (xs, ws, wi)]
            with backend("kernel"):
                y = complex_conv2d(*leaves, padding=1)
                got = torch.autograd.grad(y, leaves, gs.float()) if where == "grad" else ()
            with backend("reference"):
                r = complex_conv2d(*ref, padding=1)
                want = torch.autograd.grad(r, ref, gs) if where == "grad" else ()
            assert_matches(y, r, torch.float32, True, f"{where} {value}")
            if where == "x":
                assert int(y.isnan().sum()) == 288  # 3x3 neighbours x 16 channels x (re, im), not whole tiles
            if where == "weight":
                assert int(y.isinf().sum()) == 2048 and not y.isnan().any()
            for g, w in zip(got, want, strict=True):
                assert_matches(g, w, torch.float32, True, f"gradient with a {value} in grad")
    finally:
        torch.ops.specdiff._complex_conv_algorithm(previous)


# Non-finite weight, bias or film of the norm: the kernel folds norm and FiLM into z = a x + k, so an inf weight gives
# inf - inf = NaN. F.batch_norm (the reference) does the same on contiguous x but not on strided x, where it gives inf:
# the reference's own pattern depends on the layout, so the fuzz puts non-finite values of the norm in x only.
NORM_NONFINITE_PARAMETERS = "F.batch_norm's inf/NaN pattern for an inf weight depends on x's memory layout"


@pytest.mark.parametrize("path", ["kernel", "reference"])
@pytest.mark.parametrize("op", OPS)
def test_meta_tensors_do_not_hit_autocast(op, path):
    case = Case(op, 2, 2, 5, 6, torch.float32, "contiguous", 1, 0)
    leaves = {
        k: (torch.empty_like(v, device="meta") if isinstance(v, torch.Tensor) else v)
        for k, v in make_leaves(case).items()
    }
    leaves = {k: to_dtype(v, torch.float32) for k, v in leaves.items()}
    out, _ = run(case, leaves, path, None)
    expected = {"spectral_band_mse": (2,), "complex_conv2d": (2, 6, 5, 6), "complex_conv_transpose2d": (2, 6, 5, 6)}
    expected = expected.get(op, leaves["x"].shape)
    assert out.device.type == "meta" and tuple(out.shape) == tuple(expected)


EMPTY_FFT_INPUTS = [(0, 3, 4, 10), (2, 0, 4, 10), (2, 3, 0, 10), (2, 3, 4, 0)]


@pytest.mark.parametrize("path", ["kernel", "reference"])
@pytest.mark.parametrize("shape", EMPTY_FFT_INPUTS)
def test_empty_inputs_of_the_fft_ops_and_the_norm_are_value_errors(shape, path):
    x = torch.randn(shape)
    spec = torch.zeros(*shape[:3], 6, dtype=torch.complex64)
    with backend(path):
        for f in (
            lambda: spectral_filter2d(x, torch.ones(1)),
            lambda: spectral_band_filter2d(x),
            lambda: spectral_band_mse(x),  # C = 0 used to give NaN on the kernel path
            lambda: complex_norm_act(
                torch.randn(shape[0], 2 * shape[1], *shape[2:]),
                training=False,
                running_mean=torch.zeros(2 * shape[1]),
                running_var=torch.ones(2 * shape[1]),
            ),
        ):
            with pytest.raises(ValueError, match="must not be empty"):
                f()
        if shape[3]:
            with pytest.raises(ValueError, match="^spec must not be empty"):
                spectral_band_weight(spec.narrow(3, 0, 6), 10)


@pytest.mark.parametrize("algorithm", CONV_ALGORITHMS)
@pytest.mark.parametrize("op", ["complex_conv2d", "complex_conv_transpose2d"])
def test_an_empty_batch_gives_an_empty_result_on_both_paths(op, algorithm):
    x = torch.randn(0, 32, 6, 6, requires_grad=True)
    w = [torch.randn(16, 16, 3, 3, requires_grad=True) for _ in range(2)]
    b = [torch.randn(16, requires_grad=True) for _ in range(2)]
    fn = complex_conv2d if op == "complex_conv2d" else complex_conv_transpose2d
    results = []
    previous = torch.ops.specdiff._complex_conv_algorithm(algorithm)
    try:
        for path in ("kernel", "reference"):
            with backend(path):
                y = fn(x, *w, *b, padding=1)
                results.append((y, torch.autograd.grad(y, [x, *w, *b], torch.ones_like(y))))
    finally:
        torch.ops.specdiff._complex_conv_algorithm(previous)
    (yk, gk), (yr, gr) = results
    assert yk.shape == yr.shape == (0, 32, 6, 6)
    for g, r in zip(gk, gr, strict=True):
        assert g.shape == r.shape and torch.equal(g, torch.zeros_like(g)) and torch.equal(r, torch.zeros_like(r))
    with pytest.raises(ValueError, match=r"^x must not be empty: \[B, C, H, W\] = \[1, 32, 0, 6\]"):
        fn(torch.randn(1, 32, 0, 6), *w)


@pytest.mark.parametrize("path", ["kernel", "reference"])
def test_expanded_running_statistics_are_a_clear_error_in_training(path):
    x = torch.randn(3, 4, 5, 5)
    mean, var = torch.zeros(1).expand(4), torch.ones(1).expand(4)
    with backend(path):
        with pytest.raises(ValueError, match="^running_mean is updated in place in training, so it must not be"):
            complex_norm_act(x, running_mean=mean, running_var=var, training=True)
        with pytest.raises(ValueError, match="^running_var is updated in place"):
            complex_norm_act(x, running_mean=mean.clone(), running_var=var, training=True)
        # read only: fine in eval
        y = complex_norm_act(x, running_mean=mean, running_var=var, training=False)
    want = complex_norm_act(x, running_mean=mean.clone(), running_var=var.clone(), training=False)
    torch.testing.assert_close(y, want)


# ---------------------------------------------------------------------------------------------------------------
# The torch.ops.specdiff entry points, forward and backward, called directly: in a child process.


def raw_calls(case: Case, leaves: dict) -> list[tuple[str, list]]:
    """(entry point, arguments) of the forward and backward ops behind ``case``'s public op, valid as built."""
    o = leaves
    x = o["x"]
    if case.op == "spectral_filter2d":
        return [
            ("spectral_filter2d", [x, o["weight"]]),
            ("_spectral_filter2d_backward", [torch.ones_like(x), x, o["weight"], [True, True]]),
        ]
    band = [o.get("inner"), o.get("outer"), o.get("gain"), 5.0]
    if case.op in ("spectral_band_filter2d", "spectral_band_mse"):
        grad = torch.ones_like(x) if case.op == "spectral_band_filter2d" else torch.ones(x.shape[0], dtype=x.dtype)
        return [(case.op, [x, *band, _kind(case)]), (f"_{case.op}_backward", [grad, x, *band, _kind(case), [True] * 4])]
    if case.op == "spectral_band_weight":
        return [
            (case.op, [x, *band, case.width, _kind(case)]),
            ("_spectral_band_weight_backward", [torch.ones_like(x), x, *band, case.width, _kind(case), [True] * 4]),
        ]
    if case.op in ("complex_conv2d", "complex_conv_transpose2d"):
        k = o["weight_re"].shape[-1]
        w = [o["weight_re"], o["weight_im"]]
        if case.op == "complex_conv2d":
            params = [[1, 1], [k // 2] * 2, [1, 1], 1]
            out = torch.ones(x.shape[0], 2 * w[0].shape[0], *x.shape[2:], dtype=x.dtype)
        else:
            params = [[1, 1], [0, 0], [0, 0], 1, [1, 1]]
            out = torch.ones(x.shape[0], 2 * w[0].shape[1], x.shape[2] + k - 1, x.shape[3] + k - 1, dtype=x.dtype)
        return [
            (case.op, [x, *w, o["bias_re"], o["bias_im"], *params]),
            (f"_{case.op}_backward", [out, x, *w, *params, [True] * 3]),
        ]
    if case.op == "complex_norm_act":
        stats = [o["running_mean"], o["running_var"]]
        return [
            ("complex_norm_act", [x, o["weight"], o["bias"], *stats, o["film"], 1e-5]),
            (
                "_complex_norm_act_backward",
                [torch.ones_like(x), x, o["weight"], o["bias"], *stats, o["film"], 1e-5, False, [True] * 3],
            ),
        ]
    raise ValueError(case.op)


RAW_MUTATIONS = ("none", "nan", "zero_dim", "dtype", "one_by_one", "stride0", "transposed", "narrow", "meta")


def raw_mutate(args: list, mutation: str, pick: int) -> tuple[list, bool]:
    """One tensor argument changed; returns (args, must_raise)."""
    args = list(args)
    slots = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.dim() > 0]
    i = slots[pick % len(slots)]
    t = args[i]
    must_raise = False
    if mutation == "nan":
        t = t.clone()
        t.view(-1)[pick % t.numel()] = float("nan")
    elif mutation == "zero_dim":
        t = t.narrow(pick % t.dim(), 0, 0)
        must_raise = t.dim() == 4 and (pick % t.dim() != 0 or "conv" not in RAW_OP_NAME[0])
    elif mutation == "dtype":
        t = t.to([torch.int64, torch.float16, torch.complex64, torch.bool, torch.float64, torch.float32][pick % 6])
        must_raise = not (t.is_floating_point() or t.is_complex()) and i < 2
    elif mutation == "one_by_one" and t.dim() == 4:
        t = t[..., :1, :1]
    elif mutation == "stride0":
        strides = list(t.stride())
        strides[pick % t.dim()] = 0
        t = t.as_strided(t.shape, strides)
    elif mutation == "transposed" and t.dim() >= 2:
        t = t.transpose(-1, -2).contiguous().transpose(-1, -2)
    elif mutation == "narrow" and t.shape[0] > 1:
        t = t.narrow(0, 0, t.shape[0] - 1)
    elif mutation == "meta":
        t = torch.empty_like(t, device="meta")
    args[i] = t
    return args, must_raise


RAW_OP_NAME = [""]


def fuzz_raw_entry_points(max_examples: int = 150):
    """Every entry point with one argument made odd: it computes or raises, and never crashes (child process)."""

    @settings(max_examples=max_examples, **FUZZ)
    @given(
        case=cases(),
        which=st.integers(0, 1),
        mutation=st.sampled_from(RAW_MUTATIONS),
        pick=st.integers(0, 99),
        isa=st.sampled_from(cpu_isas()),
    )
    def fuzz(case, which, mutation, pick, isa):
        leaves = {k: to_dtype(v, case.dtype) for k, v in make_leaves(case).items()}
        name, args = raw_calls(case, leaves)[which]
        RAW_OP_NAME[0] = name
        args, must_raise = raw_mutate(args, mutation, pick)
        with cpu_isa(isa):
            try:
                getattr(torch.ops.specdiff, name)(*args)
            except ERRORS as e:
                assert str(e), f"{name}: an empty message"
                return
        assert not must_raise, f"{name} returned a result for invalid input ({mutation})"

    fuzz()


def test_raw_entry_points_fuzz_in_a_child_process():
    proc = run_child("import test_fuzz; test_fuzz.fuzz_raw_entry_points(); print('ok')")
    assert_clean_exit(proc)
    assert proc.stdout.strip().endswith("ok")
