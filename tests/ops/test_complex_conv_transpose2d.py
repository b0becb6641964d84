"""complex_conv_transpose2d kernel vs its 4-real-convolution reference; grads, opcheck, compile, errors."""

import importlib
import re

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from oputil import rel_err, with_layout

from specdiff import extension
from specdiff.ops.complex_conv2d import complex_conv2d_reference
from specdiff.ops.complex_conv_transpose2d import complex_conv_transpose2d, complex_conv_transpose2d_reference

module = importlib.import_module("specdiff.ops.complex_conv_transpose2d")  # the module, not the function

needs_kernel = pytest.mark.skipif(
    not extension.has_kernel("complex_conv_transpose2d", "cpu"), reason="no CPU kernel"
)
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}

# (complex in and out channels, kernel, stride, padding, output_padding, groups, dilation, biases)
CONFIGS = {
    "3x3-same": (3, 4, (3, 3), 1, 1, 0, 1, 1, "both"),
    "upsample-grouped": (4, 6, (3, 2), 2, 1, 1, 2, 1, "re"),
    "dilated": (2, 3, (3, 3), 1, 2, 0, 1, 2, "none"),
    "mixed-3groups": (3, 6, (2, 3), (2, 1), (1, 0), (1, 0), 3, (1, 2), "im"),
    "depthwise-up": (4, 4, (4, 4), 2, 1, 0, 4, 1, "both"),
}
LAYOUTS = ("contiguous", "channels_last", "permuted")
pytestmark = pytest.mark.usefixtures("one_thread")
SIZES = {"odd": (7, 5), "even": (8, 6)}


def make_inputs(config, hw, dtype, batch=2, seed=0):
    cin, cout, kernel, stride, padding, output_padding, groups, dilation, biases = config
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 2 * cin, *hw, generator=gen, dtype=torch.float64)
    wr = torch.randn(cin, cout // groups, *kernel, generator=gen, dtype=torch.float64)
    wi = torch.randn(cin, cout // groups, *kernel, generator=gen, dtype=torch.float64)
    br = torch.randn(cout, generator=gen, dtype=torch.float64) if biases in ("both", "re") else None
    bi = torch.randn(cout, generator=gen, dtype=torch.float64) if biases in ("both", "im") else None
    cast = lambda t: None if t is None else t.to(dtype)  # noqa: E731
    return (cast(x), cast(wr), cast(wi), cast(br), cast(bi)), (
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


def kernel_op(x, wr, wi, br, bi, stride, padding, output_padding, groups, dilation):
    pair = lambda v: [v, v] if isinstance(v, int) else list(v)  # noqa: E731
    return torch.ops.specdiff.complex_conv_transpose2d(
        x, wr, wi, br, bi, pair(stride), pair(padding), pair(output_padding), groups, pair(dilation)
    )


def bilinear(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """sum(u * v) over complex tensors on the split layout (no conjugation), as [real, imag]."""
    c = u.shape[1] // 2
    ur, ui, vr, vi = u[:, :c], u[:, c:], v[:, :c], v[:, c:]
    return torch.stack([(ur * vr - ui * vi).sum(), (ur * vi + ui * vr).sum()])


@pytest.mark.parametrize("groups", [1, 2])
def test_reference_is_the_transpose_of_the_complex_convolution(groups):
    """The specification: <ct(x, W), y> = <x, conv(y, W)> (complex bilinear form, the same weight tensors)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 8, 4, 5, generator=gen, dtype=torch.float64)
    wr, wi = torch.randn(2, 4, 6 // groups, 3, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(2, 12, 8, 10, generator=gen, dtype=torch.float64)
    tx = complex_conv_transpose2d_reference(x, wr, wi, None, None, 2, 1, 1, groups)
    assert tx.shape == y.shape
    cy = complex_conv2d_reference(y, wr, wi, None, None, 2, 1, 1, groups)
    torch.testing.assert_close(bilinear(tx, y), bilinear(x, cy))


@needs_kernel
@pytest.mark.parametrize("config", CONFIGS, ids=list(CONFIGS))
@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_kernel_matches_reference(config, size, layout, dtype, algorithm):
    (x, wr, wi, br, bi), params = make_inputs(CONFIGS[config], SIZES[size], dtype)
    x64, wr64, wi64 = x.double().requires_grad_(), wr.double().requires_grad_(), wi.double().requires_grad_()
    b64 = [None if b is None else b.double().requires_grad_() for b in (br, bi)]
    expected = complex_conv_transpose2d_reference(x64, wr64, wi64, *b64, *params)

    weights = [wr.detach(), wi.detach()]
    if layout == "permuted":  # non-contiguous weights as well
        weights = [w.transpose(2, 3).contiguous().transpose(2, 3) for w in weights]
        assert not weights[0].is_contiguous()
    leaves = [with_layout(x.detach(), layout), *weights]
    leaves += [None if b is None else b.detach() for b in (br, bi)]
    leaves = [None if t is None else t.requires_grad_() for t in leaves]
    y = kernel_op(*leaves, *params)
    assert y.dtype == dtype and y.shape == expected.shape
    assert rel_err(y, expected) < TOL[dtype]
    assert y.is_contiguous(
        memory_format=torch.channels_last if layout == "channels_last" else torch.contiguous_format
    )

    upstream = torch.randn(expected.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    want = torch.autograd.grad(expected, [t for t in (x64, wr64, wi64, *b64) if t is not None], upstream)
    got = torch.autograd.grad(y, [t for t in leaves if t is not None], upstream.to(dtype))
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and rel_err(g, w) < TOL[dtype]


@needs_kernel
@pytest.mark.parametrize(
    ("cin", "cout", "groups", "operands"),
    [
        (32, 32, 1, 3),
        (32, 48, 1, 3),
        (64, 64, 2, 3),
        (8, 8, 1, 2),
        (40, 40, 1, 2),
        (64, 64, 4, 3),
        (48, 48, 2, 2),
        (16, 64, 1, 3),
        (16, 24, 1, 2),
    ],
)
def test_auto_algorithm_choice(cin, cout, groups, operands):
    """The choice, seen in the real convolutions run: Gauss's three products (3 convolutions on cin channels) when
    the channels per group are multiples of 16, else ONE with the block weight on [xr | xi]."""
    assert torch.ops.specdiff._complex_conv_algorithm("auto") == "auto"
    x = torch.randn(1, 2 * cin, 4, 4)
    w = torch.randn(2, cin, cout // groups, 3, 3)
    with torch.profiler.profile(record_shapes=True) as prof:
        kernel_op(x, w[0], w[1], None, None, 1, 1, 0, groups, 1)
    convolutions = [e for e in prof.events() if e.name == "aten::convolution"]
    expected = [[1, cin, 4, 4]] * 3 if operands == 3 else [[1, 2 * cin, 4, 4]]
    assert [e.input_shapes[0] for e in convolutions] == expected


@needs_kernel
def test_public_function_runs_the_kernel(monkeypatch):
    calls = []
    monkeypatch.setattr(module, "complex_conv_transpose2d_reference", lambda *a: calls.append(a))
    (x, wr, wi, br, bi), params = make_inputs(CONFIGS["upsample-grouped"], (7, 5), torch.float64)
    y = complex_conv_transpose2d(x, wr, wi, br, bi, *params)
    assert calls == []
    assert rel_err(y, kernel_op(x, wr, wi, br, bi, *params)) == 0.0


def test_forced_reference_backend_routes_to_the_reference(monkeypatch):
    """With the backend set to reference (what SPECDIFF_BACKEND=reference sets) the public op runs it."""
    real_reference = module.complex_conv_transpose2d_reference
    calls = []

    def spy(*args):
        calls.append(args)
        return real_reference(*args)

    monkeypatch.setattr(extension, "_STATE", extension._State(extension._STATE.loaded, "test", "reference"))
    monkeypatch.setattr(module, "complex_conv_transpose2d_reference", spy)
    (x, wr, wi, br, bi), params = make_inputs(CONFIGS["mixed-3groups"], (7, 5), torch.float64)
    y = complex_conv_transpose2d(x, wr, wi, br, bi, *params)
    assert len(calls) == 1
    assert rel_err(y, real_reference(x, wr, wi, br, bi, *params)) == 0.0


def gradcheck_inputs(layout="contiguous"):
    (x, wr, wi, br, bi), params = make_inputs(CONFIGS["mixed-3groups"], (3, 4), torch.float64, batch=1)
    x = with_layout(x, layout)
    return tuple(t.requires_grad_() for t in (x, wr, wi, br, bi) if t is not None), params


@pytest.mark.parametrize("path", ["block", "gauss", "reference"])
def test_gradcheck(path, request):
    if path != "reference":
        if not extension.has_kernel("complex_conv_transpose2d", "cpu"):
            pytest.skip("no CPU kernel")
        previous = torch.ops.specdiff._complex_conv_algorithm(path)
        request.addfinalizer(lambda: torch.ops.specdiff._complex_conv_algorithm(previous))
    fn = complex_conv_transpose2d if path != "reference" else complex_conv_transpose2d_reference
    (x, wr, wi, bi), (stride, padding, output_padding, groups, dilation) = gradcheck_inputs()
    assert torch.autograd.gradcheck(
        lambda *t: fn(*t[:3], None, t[3], stride, padding, output_padding, groups, dilation), (x, wr, wi, bi)
    )
    (x, wr, wi, bi), _ = gradcheck_inputs("channels_last")
    assert torch.autograd.gradcheck(lambda *t: fn(*t, torch.zeros_like(bi), bi, 2, 1, 1, 3, 1), (x, wr, wi))


@needs_kernel
def test_backward_output_mask_and_needs_input_grad(algorithm):
    (x, wr, wi, br, bi), params = make_inputs(CONFIGS["3x3-same"], (6, 5), torch.float64)
    y = kernel_op(x, wr, wi, br, bi, *params)
    grad = torch.randn_like(y)
    stride, padding, output_padding, groups, dilation = [[1, 1], [1, 1], [0, 0], 1, [1, 1]]
    backward = torch.ops.specdiff._complex_conv_transpose2d_backward
    full = backward(grad, x, wr, wi, stride, padding, output_padding, groups, dilation, [True, True, True])
    no_x = backward(grad, x, wr, wi, stride, padding, output_padding, groups, dilation, [False, True, True])
    assert no_x[0].abs().max() == 0 and full[0].abs().max() > 0
    for a, b in zip(no_x[1:], full[1:], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(full[3], grad[:, :4].sum((0, 2, 3)))
    torch.testing.assert_close(full[4], grad[:, 4:].sum((0, 2, 3)))

    wi.requires_grad_()
    kernel_op(x, wr, wi, br, bi, *params).backward(grad)
    assert wi.grad is not None and x.grad is None and wr.grad is None


@needs_kernel
def test_opcheck(algorithm):
    (x, wr, wi, br, bi), params = make_inputs(CONFIGS["mixed-3groups"], (7, 5), torch.float32)
    stride, padding, output_padding, groups, dilation = [[2, 1], [1, 0], [1, 0], 3, [1, 2]]
    for xs in (x, x.contiguous(memory_format=torch.channels_last)):
        args = tuple(None if t is None else t.detach().requires_grad_() for t in (xs, wr, wi, None, bi))
        params = (stride, padding, output_padding, groups, dilation)
        torch.library.opcheck(torch.ops.specdiff.complex_conv_transpose2d.default, (*args, *params))
        grad = torch.randn_like(kernel_op(*args, *params))
        bwd_args = (grad, xs.detach(), wr.detach(), wi.detach(), *params, [True, True, True])
        torch.library.opcheck(torch.ops.specdiff._complex_conv_transpose2d_backward.default, bwd_args)


@needs_kernel
def test_torch_compile_fullgraph_parity():
    (x, wr, wi, br, bi), params = make_inputs(CONFIGS["upsample-grouped"], (8, 6), torch.float32)

    def fn(x, wr, wi, br):
        return complex_conv_transpose2d(x, wr, wi, br, None, *params)

    compiled = torch.compile(fn, fullgraph=True)
    eager_in = [t.clone().requires_grad_() for t in (x, wr, wi, br)]
    comp_in = [t.clone().requires_grad_() for t in (x, wr, wi, br)]
    eager, comp = fn(*eager_in), compiled(*comp_in)
    assert rel_err(comp, eager) < 1e-6
    upstream = torch.randn_like(eager)
    eager.backward(upstream)
    comp.backward(upstream)
    for a, b in zip(comp_in, eager_in, strict=True):
        assert rel_err(a.grad, b.grad) < 1e-5


def bad(**changes):
    (x, wr, wi, br, bi), _ = make_inputs(CONFIGS["upsample-grouped"], (7, 5), torch.float32)
    args = dict(
        x=x,
        weight_re=wr,
        weight_im=wi,
        bias_re=br,
        bias_im=None,
        stride=1,
        padding=0,
        output_padding=0,
        groups=2,
        dilation=1,
    )
    args.update(changes)
    return args


BAD_INPUTS = {
    "x-rank": (bad(x=torch.randn(8, 7, 5)), "x must be a 4-D tensor"),
    "x-integer": (bad(x=torch.ones(2, 8, 7, 5, dtype=torch.int32)), "x must be float32 or float64"),
    "x-half": (bad(x=torch.ones(2, 8, 7, 5, dtype=torch.bfloat16)), "x must be float32 or float64"),
    "x-odd-channels": (bad(x=torch.randn(2, 9, 7, 5)), "x must have an even channel count"),
    "weight-im-shape": (bad(weight_im=torch.randn(4, 3, 3, 3)), "weight_im must have weight_re's shape"),
    "weight-re-rank": (bad(weight_re=torch.randn(4, 3, 3)), "weight_re must be a 4-D tensor"),
    "weight-im-dtype": (
        bad(weight_im=torch.randn(4, 3, 3, 2, dtype=torch.float64)),
        "weight_im must have x's dtype",
    ),
    "channel-mismatch": (
        bad(x=torch.randn(2, 12, 7, 5)),
        "weight_re must be [Cin, Cout/groups, kh, kw] with Cin=6",
    ),
    "groups-in": (bad(groups=3), "groups=3 must divide the complex input channels"),
    "bias-shape": (bad(bias_re=torch.randn(3)), "bias_re must be a 1-D tensor [Cout] = [6]"),
    "bias-dtype": (bad(bias_im=torch.randn(6, dtype=torch.float64)), "bias_im must have x's dtype"),
    "output-padding": (bad(output_padding=1), "output_padding must be non-negative and smaller than stride"),
    "stride": (bad(stride=(1, 0)), "stride must be positive"),
    "empty-output": (bad(padding=4), "x of spatial size [7, 5] gives an empty output"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_python_message(case):
    args, message = BAD_INPUTS[case]
    with pytest.raises((ValueError, TypeError), match="^" + re.escape(message)) as info:
        complex_conv_transpose2d(**args)
    assert "\n" not in str(info.value)


@needs_kernel
@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_kernel_message(case):
    """The C++ op checks the same things (TORCH_CHECK) for callers that bypass the Python wrapper."""
    args, message = BAD_INPUTS[case]
    # An empty x is a ValueError (TORCH_CHECK_VALUE), as in the wrapper; the other checks raise RuntimeError.
    with pytest.raises((RuntimeError, ValueError), match="^" + re.escape(f"specdiff: {message}")) as info:
        kernel_op(*args.values())
    assert "\n" not in str(info.value).strip()


def test_bad_device_message():
    args = bad(bias_re=torch.randn(6, device="meta"))
    with pytest.raises(ValueError, match="^bias_re is on meta but x is on cpu"):
        complex_conv_transpose2d(**args)


@needs_kernel
@settings(max_examples=20, deadline=None)
@given(
    batch=st.integers(1, 3),
    cin_per_group=st.integers(1, 3),
    cout_per_group=st.integers(1, 3),
    groups=st.integers(1, 3),
    hw=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    output_padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    biases=st.sampled_from(["both", "re", "im", "none"]),
    channels_last=st.booleans(),
    algorithm=st.sampled_from(["block", "gauss"]),
)
def test_random_shapes_match_reference(
    batch,
    cin_per_group,
    cout_per_group,
    groups,
    hw,
    kernel,
    stride,
    padding,
    output_padding,
    dilation,
    biases,
    channels_last,
    algorithm,
):
    assume(all(op < max(s, d) for op, s, d in zip(output_padding, stride, dilation, strict=True)))
    sizes = [
        (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        for n, s, p, d, k, op in zip(hw, stride, padding, dilation, kernel, output_padding, strict=True)
    ]
    assume(min(sizes) >= 1)
    cin, cout = cin_per_group * groups, cout_per_group * groups
    config = (cin, cout, kernel, stride, padding, output_padding, groups, dilation, biases)
    (x, wr, wi, br, bi), params = make_inputs(config, hw, torch.float64, batch=batch)
    x = with_layout(x, "channels_last" if channels_last else "contiguous")
    leaves = [t.requires_grad_() for t in (x, wr, wi, br, bi) if t is not None]
    expected = complex_conv_transpose2d_reference(x, wr, wi, br, bi, *params)
    upstream = torch.randn_like(expected)
    previous = torch.ops.specdiff._complex_conv_algorithm(algorithm)
    try:
        y = kernel_op(x, wr, wi, br, bi, *params)
        got = torch.autograd.grad(y, leaves, upstream)
    finally:
        torch.ops.specdiff._complex_conv_algorithm(previous)
    assert y.shape == expected.shape and rel_err(y, expected) < 1e-10
    for g, w in zip(got, torch.autograd.grad(expected, leaves, upstream), strict=True):
        assert rel_err(g, w) < 1e-10
