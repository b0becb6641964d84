"""One harness for the checks every op must pass (torchvision's ``RoIOpTester`` in test/test_ops.py).

A test class per op derives from :class:`OpTester` and sets ``spec`` to an :class:`OpSpec`: the op's name, its
public function and reference, cases (float64 inputs of odd and even sizes), which inputs get gradients, and
the arguments of its ``torch.ops.specdiff`` entry points. The spec drives the common tests:

- ``test_kernel_matches_reference``: every case × dtype × memory layout (× variant, e.g. a forced algorithm),
  output and every gradient of the kernel path against the reference in float64, within ``TOL[dtype]``;
- ``test_sizes``: a sweep of image sizes (odd, even, prime, 1), the kernel path's output in each dtype against the
  float64 reference;
- ``test_gradcheck``: ``torch.autograd.gradcheck`` in float64 on the kernel path (each variant) and on the
  reference;
- ``test_opcheck``: ``torch.library.opcheck`` of the forward op (without and with gradients) and of its backward
  op;
- ``test_compile_fullgraph_parity``: ``torch.compile(fullgraph=True)`` against eager, values and gradients;
- ``test_fallback``: the reference backend runs no specdiff op and gives the reference's result exactly; the
  kernel backend dispatches to ``specdiff::<op>``;
- ``test_random_shapes``: random problems (hypothesis, the spec's strategy and a random variant), output and
  gradients of the kernel path against the reference in float64;
- ``test_bad_input`` (both paths) and, for ops whose C++ entry point checks its inputs itself,
  ``test_bad_input_kernel_message``: one-line errors that start with the expected message.

The cases are parametrized by ``pytest_generate_tests`` in conftest.py. Op-specific tests sit beside the class
in the op's test file.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oputil import LAYOUTS, TOL, backend, rel_err, specdiff_ops_called, with_layout

from specdiff import extension

DTYPES = (torch.float32, torch.float64)


def _complex_of(dtype: torch.dtype) -> torch.dtype:
    return torch.complex64 if dtype == torch.float32 else torch.complex128


@dataclass(frozen=True)
class Call:
    """The arguments of one call: tensors (None for an absent optional one; numbers are allowed where an op takes
    a number or a tensor) and the other arguments, in the order the spec's functions take them."""

    tensors: tuple[Any, ...]
    params: tuple[Any, ...] = ()

    def cast(self, dtype: torch.dtype) -> Call:
        """Floating tensors in ``dtype``, complex ones in its complex counterpart."""

        def cast(t):
            if not isinstance(t, torch.Tensor):
                return t
            return t.to(_complex_of(dtype) if t.is_complex() else dtype)

        return replace(self, tensors=tuple(cast(t) for t in self.tensors))

    def fresh(self, grads: Sequence[int]) -> Call:
        """Detached copies of the tensors, the ``grads`` ones requiring gradients."""
        tensors = []
        for i, t in enumerate(self.tensors):
            if isinstance(t, torch.Tensor):
                t = t.detach().clone()
                if i in grads:
                    t.requires_grad_(True)
            tensors.append(t)
        return replace(self, tensors=tuple(tensors))

    def leaves(self, grads: Sequence[int]) -> list[torch.Tensor]:
        return [self.tensors[i] for i in grads]


def _first_in_layout(call: Call, layout: str) -> Call:
    return replace(call, tensors=(with_layout(call.tensors[0], layout), *call.tensors[1:]))


@dataclass(frozen=True)
class OpSpec:
    """What the harness needs to know about one op.

    ``public(*tensors, *params)`` and ``reference(*tensors, *params)`` return the output (or a tuple whose first
    element is the differentiable output and whose others are compared too, e.g. updated running statistics).
    ``kernel_args(call)`` gives the positional arguments of ``torch.ops.specdiff.<name>``; ``backward_args(call)``
    those of ``torch.ops.specdiff._<name>_backward``, one tuple per output mask to check (empty: no backward op
    check). ``grads`` are the indices of the tensors that get gradients (default: every one; None entries of a
    call are skipped).
    ``variants`` are context managers the kernel path runs under (e.g. a forced algorithm), ``layout`` puts a
    call's tensors into a memory layout (default: the first tensor)."""

    name: str
    public: Callable[..., Any]
    reference: Callable[..., Any]
    cases: Mapping[str, Callable[[], Call]]
    gradcheck_cases: Sequence[str]
    opcheck_cases: Sequence[str]
    compile_case: str
    bad_inputs: Mapping[str, tuple[Call, tuple[type[Exception], ...], str]] = field(default_factory=dict)
    grads: Sequence[int] | None = None
    layouts: Sequence[str] = LAYOUTS
    layout: Callable[[Call, str], Call] = _first_in_layout
    variants: Mapping[str, Callable[[], contextlib.AbstractContextManager]] = field(
        default_factory=lambda: {"kernel": contextlib.nullcontext})
    kernel_args: Callable[[Call], tuple] = lambda call: (*call.tensors, *call.params)
    backward_args: Callable[[Call], Sequence[tuple]] = lambda call: ()
    random_calls: Any = None  # a hypothesis strategy of float64 Calls
    sizes: Mapping[str, Callable[[], Sequence[Call]]] = field(default_factory=dict)  # the size sweep
    random_tol: tuple[float, float] = (1e-10, 1e-10)  # relative error of the output, of the gradients

    @property
    def op(self):
        return getattr(torch.ops.specdiff, self.name)

    def grad_indices(self, call: Call) -> list[int]:
        indices = range(len(call.tensors)) if self.grads is None else self.grads
        return [i for i in indices if isinstance(call.tensors[i], torch.Tensor)]


def _outputs(value: Any) -> tuple[torch.Tensor, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _upstream(out: torch.Tensor, like: torch.Tensor | None, layout: str) -> torch.Tensor:
    """A fixed random upstream gradient of ``out``'s shape (in ``layout`` when it has the input's shape)."""
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    if out.is_complex():
        g = torch.complex(g, torch.randn(out.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    if like is not None and out.shape == like.shape and out.dim() == 4:
        g = with_layout(g, layout)
    return g


def _grad(out: torch.Tensor, leaves: list[torch.Tensor], upstream: torch.Tensor) -> list[torch.Tensor]:
    """Gradients of ``out`` (zeros for an input it does not use, e.g. a radial band's inner and outer)."""
    got = torch.autograd.grad(out, leaves, upstream, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(got, leaves, strict=True)]


def _scalar(out: torch.Tensor) -> torch.Tensor:
    return (out.abs() if out.is_complex() else out).square().sum()


class OpTester:
    """The common op tests; a subclass sets ``spec``."""

    spec: OpSpec

    def need_kernel(self) -> None:
        if not extension.has_kernel(self.spec.name, "cpu"):
            pytest.skip(f"no CPU kernel for {self.spec.name}")

    def on_path(self, path: str):
        """The backend (and variant) context of ``path``: "reference", "kernel" or a variant of the kernel path."""
        if path == "reference":
            return backend("reference")
        self.need_kernel()
        stack = contextlib.ExitStack()
        stack.enter_context(backend("kernel"))
        stack.enter_context(self.spec.variants.get(path, contextlib.nullcontext)())
        return stack

    def test_kernel_matches_reference(self, case, dtype, layout, variant):
        spec = self.spec
        self.need_kernel()
        call64 = spec.cases[case]()
        grads = spec.grad_indices(call64)
        exact_call = call64.fresh(grads)
        exact = _outputs(spec.reference(*exact_call.tensors, *exact_call.params))
        upstream = _upstream(exact[0], call64.tensors[0], layout)
        want = _grad(exact[0], exact_call.leaves(grads), upstream)

        call = spec.layout(call64.cast(dtype), layout).fresh(grads)
        with self.on_path(variant):
            got = _outputs(spec.public(*call.tensors, *call.params))
            got_grads = _grad(got[0], call.leaves(grads), upstream.to(got[0].dtype))
        real = got[0].real if got[0].is_complex() else got[0]
        assert real.dtype == dtype and got[0].shape == exact[0].shape
        for a, b in zip(got, exact, strict=True):
            assert rel_err(a, b) < TOL[dtype]
        for a, b, t in zip(got_grads, want, call.leaves(grads), strict=True):
            assert a.shape == t.shape and a.dtype == t.dtype and rel_err(a, b) < TOL[dtype]

    def test_sizes(self, size):
        spec = self.spec
        self.need_kernel()
        for call in spec.sizes[size]():
            exact = _outputs(spec.reference(*call.tensors, *call.params))[0]
            for dtype in DTYPES:
                cast = call.cast(dtype)
                with backend("kernel"):
                    got = _outputs(spec.public(*cast.tensors, *cast.params))[0]
                real = got.real if got.is_complex() else got
                assert real.dtype == dtype and got.shape == exact.shape
                assert rel_err(got, exact) < TOL[dtype], (size, dtype)

    def test_gradcheck(self, gradcheck_case, path):
        spec = self.spec
        call = spec.cases[gradcheck_case]()
        grads = spec.grad_indices(call)
        call = call.fresh(grads)

        def fn(*leaves):
            tensors = list(call.tensors)
            for i, leaf in zip(grads, leaves, strict=True):
                tensors[i] = leaf
            return _outputs(spec.public(*tensors, *call.params))[0]

        with self.on_path(path):
            assert torch.autograd.gradcheck(fn, tuple(call.leaves(grads)))

    def test_opcheck(self, opcheck_case, variant):
        spec = self.spec
        self.need_kernel()
        call = spec.cases[opcheck_case]()
        grads = spec.grad_indices(call)
        with spec.variants[variant]():
            torch.library.opcheck(spec.op.default, spec.kernel_args(call.fresh(())))
            torch.library.opcheck(spec.op.default, spec.kernel_args(call.fresh(grads)))
            for args in spec.backward_args(call):
                torch.library.opcheck(getattr(torch.ops.specdiff, f"_{spec.name}_backward").default, args)

    def test_compile_fullgraph_parity(self):
        spec = self.spec
        self.need_kernel()
        call = spec.cases[spec.compile_case]()
        grads = spec.grad_indices(call)

        def fn(*leaves):
            tensors = list(call.tensors)
            for i, leaf in zip(grads, leaves, strict=True):
                tensors[i] = leaf
            return _scalar(_outputs(spec.public(*tensors, *call.params))[0])

        eager_in, compiled_in = call.fresh(grads).leaves(grads), call.fresh(grads).leaves(grads)
        # fn's code is every op's: forget the graphs of other ops, whose recompilations would make Dynamo treat
        # this op's float arguments as dynamic.
        torch._dynamo.reset()
        with backend("kernel"):
            eager = fn(*eager_in)
            compiled = torch.compile(fn, fullgraph=True)(*compiled_in)
            for a, b in zip(torch.autograd.grad(compiled, compiled_in), torch.autograd.grad(eager, eager_in),
                            strict=True):
                assert rel_err(a, b) < 1e-12
        assert rel_err(compiled, eager) < 1e-12

    def test_fallback(self):
        """The reference backend (SPECDIFF_BACKEND=reference) runs no specdiff op and gives the reference's result
        exactly; the kernel backend dispatches to the op."""
        spec = self.spec
        call = spec.cases[spec.compile_case]()
        with backend("reference"):
            assert specdiff_ops_called(spec.public, *call.fresh(()).tensors, *call.params) == []
            got = _outputs(spec.public(*call.fresh(()).tensors, *call.params))
        expected = _outputs(spec.reference(*call.fresh(()).tensors, *call.params))
        assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))
        self.need_kernel()
        with backend("kernel"):
            called = specdiff_ops_called(spec.public, *call.fresh(()).tensors, *call.params)
        assert called == [f"specdiff::{spec.name}"]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)

        def test_random_shapes(self, data):
            self.check_random_shapes(data)

        # Hypothesis runs a test function for one class only (its differing_executors health check): each op's
        # class gets a function of its own.
        cls.test_random_shapes = settings(max_examples=20, deadline=None)(given(data=st.data())(test_random_shapes))

    def check_random_shapes(self, data):
        """Random problems from the spec's strategy, on a random variant of the kernel path: output and gradients
        against the reference in float64."""
        spec = self.spec
        self.need_kernel()
        call = data.draw(spec.random_calls, label="call")
        variant = data.draw(st.sampled_from(list(spec.variants)), label="variant")
        grads = spec.grad_indices(call)
        exact_call, got_call = call.fresh(grads), call.fresh(grads)
        exact = _outputs(spec.reference(*exact_call.tensors, *exact_call.params))
        upstream = _upstream(exact[0], None, "contiguous")
        want = _grad(exact[0], exact_call.leaves(grads), upstream)
        with self.on_path(variant):
            got = _outputs(spec.public(*got_call.tensors, *got_call.params))
            got_grads = _grad(got[0], got_call.leaves(grads), upstream)
        assert got[0].shape == exact[0].shape
        for a, b in zip(got, exact, strict=True):
            assert rel_err(a, b) < spec.random_tol[0]
        for a, b in _normwise_parameter_grads(got_grads, want):
            assert rel_err(a, b) < spec.random_tol[1]

    def test_bad_input(self, bad_input, path):
        call, errors, message = self.spec.bad_inputs[bad_input]
        with self.on_path(path), pytest.raises(errors, match="^" + re.escape(message)) as info:
            self.spec.public(*call.tensors, *call.params)
        assert "\n" not in str(info.value)


def _normwise_parameter_grads(got: list[torch.Tensor], want: list[torch.Tensor]):
    """Pairs of gradients to compare: each image-shaped one (2+ dims) on its own, the scalar and per-sample ones
    (band parameters, biases) as one vector. A parameter's gradient sums terms of either sign over every bin and
    can cancel far below its siblings (a sharp band's outer edge: -0.019 beside the inner edge's 110 in one drawn
    case, kernel and reference 4e-12 apart relative to it, identically before and after a kernel change); the
    normwise error of the parameter gradient vector is the measure that stays at rounding level."""
    pairs = [(a, b) for a, b in zip(got, want, strict=True) if b.dim() >= 2]
    small = [(a, b) for a, b in zip(got, want, strict=True) if b.dim() < 2]
    if small:
        dtype = torch.complex128 if any(b.is_complex() for _, b in small) else torch.float64
        got_small, want_small = ([t.detach().reshape(-1).to(dtype) for t in side] for side in zip(*small, strict=True))
        pairs.append((torch.cat(got_small), torch.cat(want_small)))
    return pairs


class KernelChecksInputs:
    """For ops whose C++ entry point repeats the wrapper's checks: the same bad inputs, called directly."""

    spec: OpSpec

    def test_bad_input_kernel_message(self, bad_input):
        """The C++ op checks the same things (TORCH_CHECK) for callers that bypass the Python wrapper."""
        if not extension.has_kernel(self.spec.name, "cpu"):
            pytest.skip(f"no CPU kernel for {self.spec.name}")
        call, _, message = self.spec.bad_inputs[bad_input]
        # An empty x is a ValueError (TORCH_CHECK_VALUE), as in the wrapper; the other checks raise RuntimeError.
        with pytest.raises((RuntimeError, ValueError), match="^" + re.escape(f"specdiff: {message}")) as info:
            self.spec.op(*self.spec.kernel_args(call))
        assert "\n" not in str(info.value).strip()


def parametrize(metafunc) -> None:
    """``pytest_generate_tests`` for OpTester subclasses: the spec's cases, dtypes, layouts, variants, paths."""
    spec = getattr(metafunc.cls, "spec", None)
    if not isinstance(spec, OpSpec):
        return
    names = metafunc.fixturenames
    if "case" in names:
        metafunc.parametrize("case", list(spec.cases))
    if "dtype" in names:
        metafunc.parametrize("dtype", DTYPES, ids=["f32", "f64"])
    if "layout" in names:
        metafunc.parametrize("layout", list(spec.layouts))
    if "variant" in names:
        metafunc.parametrize("variant", list(spec.variants))
    if "path" in names:
        metafunc.parametrize("path", [*spec.variants, "reference"] if "gradcheck_case" in names
                             else ["kernel", "reference"])
    if "gradcheck_case" in names:
        metafunc.parametrize("gradcheck_case", list(spec.gradcheck_cases))
    if "opcheck_case" in names:
        metafunc.parametrize("opcheck_case", list(spec.opcheck_cases))
    if "bad_input" in names:
        metafunc.parametrize("bad_input", list(spec.bad_inputs))
    if "size" in names:
        metafunc.parametrize("size", list(spec.sizes))
