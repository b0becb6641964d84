"""What the complex convolution tests share: inputs on the split layout, forced kernel algorithms, memory layouts
of x and the weights, and the check of one random problem against the reference."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import torch
from hypothesis import assume
from hypothesis import strategies as st
from optester import Call
from oputil import rel_err, with_layout

LAYOUTS = ("contiguous", "channels_last", "permuted")
SIZES = {"odd": (7, 5), "even": (8, 6)}
SWEEP = (1, 2, 3, 5, 8, 16, 17)  # image sides of the size sweep (a 3x3 convolution, padding 1)
BIASES = ("both", "re", "im", "none")


def pair(v) -> list[int]:
    return [v, v] if isinstance(v, int) else list(v)


def conv_inputs(batch: int, cin: int, cout: int, weight_shape: tuple[int, ...], hw, biases: str, seed: int = 0
                ) -> tuple[torch.Tensor, ...]:
    """float64 (x [B, 2cin, H, W], weight_re, weight_im of ``weight_shape``, bias_re, bias_im [cout] or None as
    ``biases`` says: both, re, im or none)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 2 * cin, *hw, generator=gen, dtype=torch.float64)
    wr = torch.randn(*weight_shape, generator=gen, dtype=torch.float64)
    wi = torch.randn(*weight_shape, generator=gen, dtype=torch.float64)
    br = torch.randn(cout, generator=gen, dtype=torch.float64) if biases in ("both", "re") else None
    bi = torch.randn(cout, generator=gen, dtype=torch.float64) if biases in ("both", "im") else None
    return x, wr, wi, br, bi


@contextlib.contextmanager
def forced_algorithm(name: str):
    """The complex conv kernels' algorithm forced to ``name`` (block, gauss, gemm, winograd) for the block."""
    previous = torch.ops.specdiff._complex_conv_algorithm(name)
    try:
        yield
    finally:
        torch.ops.specdiff._complex_conv_algorithm(previous)


# The kernel path's variants in the common tests: block-weight convolution, Gauss's form, or GEMMs (pointwise
# convolutions on the contiguous layout; the others then take the block form). Winograd's form fits only 3x3,
# stride-1, one-group convolutions and has its own tests.
ALGORITHMS = {name: (lambda name=name: forced_algorithm(name)) for name in ("block", "gauss", "gemm")}


def in_layout(permute_weights):
    """The spec's ``layout``: x in the layout; with "permuted" the weights non-contiguous too
    (``permute_weights(w)``)."""

    def layout(call: Call, name: str) -> Call:
        x, wr, wi, *rest = call.tensors
        if name == "permuted":
            wr, wi = (permute_weights(w) for w in (wr, wi))
            assert not wr.is_contiguous()
        return replace(call, tensors=(with_layout(x, name), wr, wi, *rest))

    return layout


def check_random_problem(reference, kernel_op, inputs, params, channels_last: bool, algorithm: str,
                         no_convolution: bool = False) -> None:
    """Values and every gradient of the kernel under ``algorithm`` against the float64 reference (1e-10), on one
    problem; with ``no_convolution`` also that no ATen convolution ran."""
    x, *rest = inputs
    x = with_layout(x, "channels_last" if channels_last else "contiguous")
    leaves = [t.requires_grad_() for t in (x, *rest) if t is not None]
    expected = reference(x, *rest, *params)
    upstream = torch.randn_like(expected)
    profile = torch.profiler.profile() if no_convolution else contextlib.nullcontext()
    with forced_algorithm(algorithm), profile as prof:
        y = kernel_op(x, *rest, *params)
        got = torch.autograd.grad(y, leaves, upstream)
    if no_convolution:
        assert not any(e.name == "aten::convolution" for e in prof.events())
    assert y.shape == expected.shape and rel_err(y, expected) < 1e-10
    for g, w in zip(got, torch.autograd.grad(expected, leaves, upstream), strict=True):
        assert rel_err(g, w) < 1e-10


@st.composite
def random_conv_calls(draw, make_inputs, transposed: bool):
    """Random valid convolutions: groups, channels per group, image, kernel, stride, padding, (output padding,)
    dilation and biases, x contiguous or channels_last."""
    groups = draw(st.integers(1, 3))
    cin, cout = (draw(st.integers(1, 3)) * groups for _ in range(2))
    pairs = {name: tuple(draw(st.integers(lo, hi)) for _ in range(2)) for name, lo, hi in (
        ("hw", 1, 7 if transposed else 9), ("kernel", 1, 4), ("stride", 1, 3), ("padding", 0, 2),
        ("output_padding", 0, 2), ("dilation", 1, 2))}
    hw, kernel, stride, padding, output_padding, dilation = pairs.values()
    biases = draw(st.sampled_from(BIASES))
    if transposed:
        assume(all(op < max(s, d) for op, s, d in zip(output_padding, stride, dilation, strict=True)))
        assume(all((n - 1) * s - 2 * p + d * (k - 1) + op + 1 >= 1 for n, s, p, d, k, op in zip(
            hw, stride, padding, dilation, kernel, output_padding, strict=True)))
        config = (cin, cout, kernel, stride, padding, output_padding, groups, dilation, biases)
    else:
        assume(all(n + 2 * p >= d * (k - 1) + 1 for n, p, d, k in zip(hw, padding, dilation, kernel, strict=True)))
        config = (cin, cout, kernel, stride, padding, dilation, groups, biases)
    (x, *rest), params = make_inputs(config, hw, torch.float64, batch=draw(st.integers(1, 3)))
    return Call((with_layout(x, draw(st.sampled_from(("contiguous", "channels_last")))), *rest), params)


def conv_op_spec(name, public, reference, configs, make_inputs, kernel_args, permute_weights, compile_case,
                 bad_inputs, small_hw, transposed: bool):
    """The OpSpec of a complex convolution: every config at odd and even sizes (and mixed-3groups at
    ``small_hw`` with batch 1 for gradcheck, with channels_last x too), layouts of x and the weights, every forced
    algorithm, the backward op with the full output mask, the 3x3 config at every size of :data:`SWEEP`.
    ``make_inputs(config, hw, dtype, batch)`` -> (tensors, params)."""
    from optester import OpSpec

    def case(config, hw, batch=2, layout="contiguous"):
        def build():
            (x, *weights), params = make_inputs(configs[config], hw, torch.float64, batch=batch)
            return Call((with_layout(x, layout), *weights), params)

        return build

    def backward_args(call):
        grad = torch.randn(reference(*call.tensors, *call.params).shape, dtype=torch.float64)
        return [(grad, *call.tensors[:3], *kernel_args(call)[5:], [True, True, True])]

    return OpSpec(
        name=name,
        public=public,
        reference=reference,
        cases={
            **{f"{config}-{size}": case(config, hw) for config in configs for size, hw in SIZES.items()},
            "mixed-3groups-batch1": case("mixed-3groups", small_hw, batch=1),
            "mixed-3groups-batch1-channels_last": case("mixed-3groups", small_hw, batch=1, layout="channels_last"),
            "mixed-3groups-channels_last": case("mixed-3groups", (7, 5), layout="channels_last"),
        },
        gradcheck_cases=["mixed-3groups-batch1", "mixed-3groups-batch1-channels_last"],
        opcheck_cases=["mixed-3groups-odd", "mixed-3groups-channels_last"],
        compile_case=compile_case,
        layouts=LAYOUTS,
        layout=in_layout(permute_weights),
        variants=ALGORITHMS,
        kernel_args=kernel_args,
        backward_args=backward_args,
        bad_inputs=bad_inputs,
        random_calls=random_conv_calls(make_inputs, transposed),
        sizes={f"{h}x{w}": (lambda h=h, w=w: [case("3x3-same", (h, w))()]) for h in SWEEP for w in SWEEP},
    )


def bad_conv(make_inputs, config, defaults: dict, message: str, **changes):
    """A bad input for the public convolution: the float32 inputs of ``config`` at 7x5, ``defaults`` for the other
    arguments (keyword order = the op's), with ``changes`` applied; (Call, errors, message)."""
    (x, wr, wi, br, _), _ = make_inputs(config, (7, 5), torch.float32)
    args = {"x": x, "weight_re": wr, "weight_im": wi, "bias_re": br, "bias_im": None, **defaults, **changes}
    values = list(args.values())
    return Call(tuple(values[:5]), tuple(values[5:])), (ValueError, TypeError), message
