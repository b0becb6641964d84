"""complex_conv2d kernel vs its 4-real-convolution reference: the common op tests (optester) with every forced
algorithm, and the algorithm-specific ones (Gauss's operands, Winograd's form, the automatic choice, GEMMs)."""

import contextlib
import os
import subprocess
import sys

import pytest
import torch
from convutil import (
    BIASES,
    bad_conv,
    check_random_problem,
    conv_inputs,
    conv_op_spec,
    forced_algorithm,
    pair,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from optester import Call, KernelChecksInputs, OpTester
from oputil import cpu_isa, cpu_isas, rel_err, with_layout

from specdiff import extension
from specdiff.ops.complex_conv2d import complex_conv2d, complex_conv2d_reference

needs_kernel = pytest.mark.skipif(not extension.has_kernel("complex_conv2d", "cpu"), reason="no CPU kernel")
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}

# (complex in channels, complex out channels, kernel, stride, padding, dilation, groups, biases)
CONFIGS = {
    "3x3-same": (3, 4, (3, 3), 1, 1, 1, 1, "both"),
    "strided-grouped": (4, 6, (3, 2), 2, 0, 1, 2, "re"),
    "dilated": (2, 3, (3, 3), 1, 2, 2, 1, "none"),
    "mixed-3groups": (3, 6, (2, 3), (2, 1), (1, 0), (1, 2), 3, "im"),
    "depthwise": (4, 4, (3, 3), 1, 1, 1, 4, "both"),
    "pointwise": (3, 5, (1, 1), 1, 0, 2, 1, "re"),
    "pointwise-grouped": (4, 6, (1, 1), 1, 0, 1, 2, "both"),
    "3x3-wide": (16, 32, (3, 3), 1, (2, 0), 1, 1, "both"),  # Winograd's form fits
}
pytestmark = pytest.mark.usefixtures("one_thread")


def make_inputs(config, hw, dtype, batch=2, seed=0):
    cin, cout, kernel, stride, padding, dilation, groups, biases = config
    inputs = conv_inputs(batch, cin, cout, (cout, cin // groups, *kernel), hw, biases, seed)
    return tuple(None if t is None else t.to(dtype) for t in inputs), (stride, padding, dilation, groups)


def kernel_args(call):
    stride, padding, dilation, groups = call.params
    return (*call.tensors, pair(stride), pair(padding), pair(dilation), groups)


def kernel_op(*args):
    return torch.ops.specdiff.complex_conv2d(*kernel_args(Call(args[:5], args[5:])))


def bad(message, **changes):
    defaults = {"stride": 1, "padding": 0, "dilation": 1, "groups": 2}
    return bad_conv(make_inputs, CONFIGS["strided-grouped"], defaults, message, **changes)


class TestComplexConv2d(KernelChecksInputs, OpTester):
    spec = conv_op_spec(
        "complex_conv2d", complex_conv2d, complex_conv2d_reference, CONFIGS, make_inputs, kernel_args,
        permute_weights=lambda w: w.permute(3, 2, 1, 0).contiguous().permute(3, 2, 1, 0),
        compile_case="strided-grouped-even",
        transposed=False,
        small_hw=(4, 5),
        bad_inputs={
            "x-rank": bad("x must be a 4-D tensor", x=torch.randn(8, 7, 5)),
            "x-integer": bad("x must be float32 or float64", x=torch.ones(2, 8, 7, 5, dtype=torch.int64)),
            "x-half": bad("x must be float32 or float64", x=torch.ones(2, 8, 7, 5, dtype=torch.float16)),
            "x-odd-channels": bad("x must have an even channel count", x=torch.randn(2, 7, 7, 5)),
            "x-no-channels": bad("x must not be empty", x=torch.randn(2, 0, 7, 5), weight_re=torch.randn(6, 0, 1, 1),
                                 weight_im=torch.randn(6, 0, 1, 1), groups=1),
            "no-output-channels": bad("weight_re [Cout, Cin/groups, kh, kw] gives no output channels",
                                      weight_re=torch.randn(0, 2, 3, 2), weight_im=torch.randn(0, 2, 3, 2),
                                      bias_re=None),
            "weight-im-shape": bad("weight_im must have weight_re's shape", weight_im=torch.randn(6, 2, 3, 3)),
            "weight-re-rank": bad("weight_re must be a 4-D tensor", weight_re=torch.randn(6, 2, 3)),
            "weight-re-dtype": bad("weight_re must have x's dtype",
                                   weight_re=torch.randn(6, 2, 3, 2, dtype=torch.float64)),
            "channel-mismatch": bad("weight_re must be [Cout, Cin/groups, kh, kw]", x=torch.randn(2, 12, 7, 5)),
            "groups-in": bad("groups=3 must divide the complex input channels", groups=3),
            "groups-out": bad("groups=4 must divide the output channels", x=torch.randn(2, 16, 7, 5), groups=4,
                              weight_re=torch.randn(6, 2, 3, 2), weight_im=torch.randn(6, 2, 3, 2)),
            "bias-shape": bad("bias_re must be a 1-D tensor [Cout] = [6]", bias_re=torch.randn(5)),
            "bias-dtype": bad("bias_im must have x's dtype", bias_im=torch.randn(6, dtype=torch.float64)),
            "stride": bad("stride must be positive", stride=0),
            "empty-output": bad("x of spatial size [7, 5] gives an empty output", dilation=4),
        },
    )


def test_reference_is_the_complex_convolution():
    """The specification itself, checked against complex arithmetic done by hand on one output pixel."""
    (x, wr, wi, br, bi), params = make_inputs(CONFIGS["3x3-same"], (5, 4), torch.float64)
    y = complex_conv2d_reference(x, wr, wi, br, bi, *params)
    xc = torch.complex(x[:, :3], x[:, 3:])
    wc = torch.complex(wr, wi)
    bc = torch.complex(br, bi)
    xpad = torch.nn.functional.pad(xc, (1, 1, 1, 1))
    b, o, i, j = 1, 2, 3, 1
    expected = (wc[o] * xpad[b, :, i : i + 3, j : j + 3]).sum() + bc[o]
    torch.testing.assert_close(torch.complex(y[b, o, i, j], y[b, 4 + o, i, j]), expected)


def problem64(batch, cin, cout, hw, padding, seed, biases=True):
    """A 3x3 convolution problem in float64: the inputs (x, wr, wi, br, bi; biases None without), the reference's
    output, an upstream gradient and the reference's gradients of every input."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 2 * cin, *hw, generator=gen, dtype=torch.float64)
    wr, wi = torch.randn(2, cout, cin, 3, 3, generator=gen, dtype=torch.float64) / (3 * cin**0.5)
    br, bi = torch.randn(2, cout, generator=gen, dtype=torch.float64) if biases else (None, None)
    inputs = (x, wr, wi, br, bi)
    leaves64 = [t.clone().requires_grad_() for t in inputs if t is not None]
    expected = complex_conv2d_reference(*leaves64, *([] if biases else [None, None]), 1, padding, 1, 1)
    upstream = torch.randn(expected.shape, generator=gen, dtype=torch.float64)
    return inputs, expected, upstream, torch.autograd.grad(expected, leaves64, upstream)


def check_kernel(problem, algorithm, dtype, padding, layout="contiguous", isa=None):
    """The kernel under a forced algorithm (and ISA) against the float64 problem: values and every gradient
    within TOL[dtype]. Returns the profiler's events of the forward and backward."""
    inputs, expected, upstream, want = problem
    leaves = [None if t is None else t.to(dtype) for t in inputs]
    leaves[0] = with_layout(leaves[0], layout)
    leaves = [None if t is None else t.requires_grad_() for t in leaves]
    with forced_algorithm(algorithm), cpu_isa(isa) if isa else contextlib.nullcontext(), \
            torch.profiler.profile() as prof:
        y = kernel_op(*leaves, 1, padding, 1, 1)
        got = torch.autograd.grad(y, [t for t in leaves if t is not None], upstream.to(dtype))
    assert y.shape == expected.shape and rel_err(y, expected) < TOL[dtype]
    for g, w in zip(got, want, strict=True):
        assert rel_err(g, w) < TOL[dtype]
    return prof.events()


def ran_a_convolution(events) -> bool:
    return any(e.name in ("aten::convolution", "aten::convolution_backward") for e in events)


@needs_kernel
@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("hw", [(7, 9), (20, 17)], ids=["63px", "340px"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_gauss_operands_every_isa(isa, hw, layout, dtype):
    """Gauss's form moves x, the upstream gradient and the results between the split layout and its
    channels_last operands with register-tile transposes (lane kernels): 20 in and 18 out channels fill whole
    tiles and leave edge channels for every vector width, 63 and 340 pixels leave edge pixels, and 340 pixels
    split into two tasks. Values and all gradients against the float64 reference, for every ISA."""
    check_kernel(problem64(2, 20, 18, hw, 1, seed=3), "gauss", dtype, 1, layout, isa)


@needs_kernel
@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "permuted"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_winograd_every_isa(isa, layout, dtype):
    """Winograd's F(4x4, 3x3): 7 samples of 17x13 pixels with padding (1, 2) give 17x15 outputs, so 20 tiles
    per sample with partial tiles at the bottom and right edges; their 140 tiles fill several blocks of the
    fused transform-GEMM-transform loops and leave a partial last block, at every ISA's micro-kernel height.
    The input's gradient is the same kernel on the upstream gradient (padding (1, 0)); the weights' gradient
    reduces over the same tiles and blocks. Contiguous and channels_last x skip ATen's copies (the permuted one
    takes them). Values and all gradients against the float64 reference; no convolution runs, forward or
    backward."""
    events = check_kernel(problem64(7, 16, 32, (17, 13), (1, 2), seed=5), "winograd", dtype, (1, 2), layout, isa)
    assert not ran_a_convolution(events)


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_winograd_threads(dtype):
    """3 threads: the 140 tiles make 6 forward blocks and 3 weight-gradient blocks, so three parts of the blocks
    keep their own sums, which are added up afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        check_kernel(problem64(7, 16, 32, (17, 13), (1, 2), seed=9), "winograd", dtype, (1, 2))
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def wide_problem():
    """256 -> 128 complex channels, 5 samples of 12x12 (45 tiles), no biases."""
    return problem64(5, 256, 128, (12, 12), 1, seed=8, biases=False)


@needs_kernel
@pytest.mark.parametrize("isa", cpu_isas())
def test_winograd_wide_blocks(isa, wide_problem):
    """Wide convolutions take longer blocks than their L2 fit (winograd_tile_block): 256 x 128 channels give
    blocks of 32 to 36 tiles, so the 45 tiles of the forward, of the input's gradient and of the weights'
    gradient each make a whole block and a partial one, at every ISA's micro-kernel height."""
    check_kernel(wide_problem, "winograd", torch.float32, 1, isa=isa)


@needs_kernel
def test_winograd_float32_over_many_tiles():
    """float32 over 256 tiles (4 samples of 32x32, 32 channels), the weights' gradient summing all of them in
    float32: values and gradients still within 1e-5 of the float64 reference; auto takes Winograd's form."""
    assert torch.ops.specdiff._complex_conv_algorithm("auto") == "auto"
    events = check_kernel(problem64(4, 32, 32, (32, 32), 1, seed=7), "auto", torch.float32, 1)
    assert not ran_a_convolution(events)


@needs_kernel
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("algorithm", ["winograd", "gauss"])
def test_results_outlive_the_reused_intermediates(algorithm, channels_last):
    """Winograd's channels_last copies and output before its relayout, and Gauss's operands, live in buffers each
    call reuses: a result (the output, every gradient) must stay what it was when later calls of other sizes and
    values reuse them."""
    gen = torch.Generator().manual_seed(11)
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def run(batch, hw):
        x = torch.randn(batch, 32, *hw, generator=gen).contiguous(memory_format=fmt).requires_grad_()
        wr, wi = (torch.randn(16, 16, 3, 3, generator=gen).requires_grad_() for _ in range(2))
        y = complex_conv2d(x, wr, wi, None, None, 1, 1, 1, 1)
        y.backward(torch.randn(y.shape, generator=gen).contiguous(memory_format=fmt))
        return [t.detach().clone() for t in (y, x.grad, wr.grad, wi.grad)], [y, x.grad, wr.grad, wi.grad]

    with forced_algorithm(algorithm):
        kept, results = run(2, (12, 9))
        run(3, (16, 20))  # larger: the buffers grow
        run(1, (8, 8))
    for before, after in zip(kept, results, strict=True):
        torch.testing.assert_close(after, before, rtol=0, atol=0)


@needs_kernel
def test_winograd_gradcheck_opcheck_compile():
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(1, 32, 3, 5, generator=gen, dtype=torch.float64)
    wr, wi = torch.randn(2, 16, 16, 3, 3, generator=gen, dtype=torch.float64)
    bi = torch.randn(16, generator=gen, dtype=torch.float64)
    leaves = tuple(t.requires_grad_() for t in (x, wr, wi, bi))
    with forced_algorithm("winograd"):
        assert torch.autograd.gradcheck(lambda *t: complex_conv2d(*t[:3], None, t[3], 1, 2, 1, 1), leaves)
        stride, padding, dilation = [1, 1], [2, 0], [1, 1]
        torch.library.opcheck(
            torch.ops.specdiff.complex_conv2d.default, (*leaves[:3], None, bi, stride, padding, dilation, 1)
        )
        grad = torch.randn(1, 32, 5, 3, generator=gen, dtype=torch.float64)
        bwd_args = (grad, x.detach(), wr.detach(), wi.detach(), stride, padding, dilation, 1, [True, True, True])
        torch.library.opcheck(torch.ops.specdiff._complex_conv2d_backward.default, bwd_args)

        def fn(*t):
            return complex_conv2d(*t[:3], None, t[3], 1, (2, 0), 1, 1).square().sum()

        torch.testing.assert_close(torch.compile(fn, fullgraph=True)(*leaves), fn(*leaves), rtol=1e-12, atol=0)


@needs_kernel
@pytest.mark.parametrize(
    ("cin", "cout", "groups", "k", "batch", "operands"),
    [
        (32, 32, 1, 3, 4, 0),
        (32, 32, 1, 3, 3, 3),
        (32, 48, 1, 3, 4, 0),
        (64, 64, 2, 3, 4, 3),
        (8, 8, 1, 3, 4, 2),
        (40, 40, 1, 3, 4, 2),
        (64, 64, 4, 3, 1, 3),
        (48, 48, 2, 3, 1, 2),
        (16, 64, 1, 3, 4, 0),
        (16, 24, 1, 3, 4, 2),
        (32, 32, 1, 5, 4, 3),
        (256, 128, 1, 3, 4, 0),
        (528, 512, 1, 3, 4, 3),
        (64, 64, 1, 1, 1, 0),
        (16, 8, 2, 1, 1, 0),
    ],
)
def test_auto_algorithm_choice(cin, cout, groups, k, batch, operands):
    """The choice, seen in the real convolutions run: Winograd's form (no convolution) for 3x3 kernels with one
    group and channels in multiples of 16, from 64 output tiles (4 samples of 16x16 pixels; 3 samples are 48
    tiles), up to Cin x Cout = 512 x 512 (528 x 512 is Gauss's); Gauss's three products (3 convolutions on cin
    channels: xr + xi, xi, xr) for the other kernels wider than 1x1 whose channels per group are multiples of
    16; else ONE convolution with the block weight on [xr | xi] (2 * cin channels); a pointwise convolution on
    the contiguous layout runs as GEMMs (no convolution)."""
    assert torch.ops.specdiff._complex_conv_algorithm("auto") == "auto"
    x = torch.randn(batch, 2 * cin, 16, 16)
    w = torch.randn(2, cout, cin // groups, k, k)
    with torch.profiler.profile(record_shapes=True) as prof:
        kernel_op(x, w[0], w[1], None, None, 1, k // 2, 1, groups)
    convolutions = [e for e in prof.events() if e.name == "aten::convolution"]
    expected = {3: [[batch, cin, 16, 16]] * 3, 2: [[batch, 2 * cin, 16, 16]], 0: []}[operands]
    assert [e.input_shapes[0] for e in convolutions] == expected
    # The choice query names the algorithm that just ran (on meta tensors too: it reads only shapes and layout).
    name = {3: "gauss", 2: "block", 0: "gemm" if k == 1 else "winograd"}[operands]
    pad = [k // 2] * 2
    for dev in ("cpu", "meta"):
        args = (x.to(dev), w[0].to(dev), [1, 1], pad, [1, 1], [0, 0], groups, False)
        assert torch.ops.specdiff._complex_conv_choice(*args) == name


@needs_kernel
def test_choice_query_follows_the_forced_algorithm():
    """A forced algorithm is what the query reports, with the fallbacks of choose_algorithm: Gauss's form for a
    forced Winograd that does not fit (5x5), the block form for a forced GEMM that is not pointwise."""
    x, w = torch.randn(4, 64, 16, 16), torch.randn(32, 32, 5, 5)
    previous = torch.ops.specdiff._complex_conv_algorithm("winograd")
    try:
        assert torch.ops.specdiff._complex_conv_choice(x, w, [1, 1], [2, 2], [1, 1], [0, 0], 1, False) == "gauss"
        torch.ops.specdiff._complex_conv_algorithm("gemm")
        assert torch.ops.specdiff._complex_conv_choice(x, w, [1, 1], [2, 2], [1, 1], [0, 0], 1, False) == "block"
    finally:
        torch.ops.specdiff._complex_conv_algorithm(previous)
    with pytest.raises(RuntimeError, match="weight_re must be a 4-D tensor"):
        torch.ops.specdiff._complex_conv_choice(x, w[0], [1, 1], [2, 2], [1, 1], [0, 0], 1, False)


@needs_kernel
def test_pointwise_channels_last_keeps_onednn():
    """A channels_last x is already one GEMM for oneDNN: the pointwise GEMM path (contiguous layout only)
    stays out of it, and both give the reference's result."""
    x = torch.randn(2, 64, 5, 3, dtype=torch.float64)
    w = torch.randn(2, 16, 32, 1, 1, dtype=torch.float64)
    expected = complex_conv2d_reference(x, w[0], w[1], None, None, 1, 0, 1, 1)
    for layout, convolutions in (("contiguous", 0), ("channels_last", 1)):
        with torch.profiler.profile() as prof:
            y = kernel_op(with_layout(x, layout), w[0], w[1], None, None, 1, 0, 1, 1)
        assert sum(e.name == "aten::convolution" for e in prof.events()) == convolutions
        assert rel_err(y, expected) < 1e-12


def test_specdiff_backend_env_selects_the_reference():
    """End to end: SPECDIFF_BACKEND=reference in a fresh process selects the reference (right numbers)."""
    code = (
        "import torch\n"
        "from specdiff import extension\n"
        "from specdiff.ops.complex_conv2d import complex_conv2d\n"
        "from specdiff.ops.complex_conv_transpose2d import complex_conv_transpose2d\n"
        "assert not extension.use_kernel('complex_conv2d', torch.device('cpu'))\n"
        "assert not extension.use_kernel('complex_conv_transpose2d', torch.device('cpu'))\n"
        "x = torch.zeros(1, 2, 3, 3, dtype=torch.float64)\n"
        "x[0, 1, 1, 1] = 1.0  # the imaginary unit at the centre\n"
        "w = torch.ones(1, 1, 1, 1, dtype=torch.float64)\n"
        "y = complex_conv2d(x, 2 * w, 3 * w)  # (2 + 3i) * i = -3 + 2i\n"
        "print(y[0, 0, 1, 1].item(), y[0, 1, 1, 1].item())\n"
    )
    env = {**os.environ, "SPECDIFF_BACKEND": "reference"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["-3.0", "2.0"]


@needs_kernel
def test_pointwise_gradcheck_opcheck_compile():
    """The GEMM path of pointwise convolutions (auto picks it for 1x1, stride 1, unpadded, contiguous x)."""
    (x, wr, wi, br, bi), params = make_inputs(CONFIGS["pointwise-grouped"], (3, 4), torch.float64, batch=3)
    leaves = tuple(t.requires_grad_() for t in (x, wr, wi, br, bi))
    assert torch.autograd.gradcheck(lambda *t: complex_conv2d(*t, *params), leaves)
    stride, padding, dilation, groups = [[1, 1], [0, 0], [1, 1], params[3]]
    torch.library.opcheck(torch.ops.specdiff.complex_conv2d.default, (*leaves, stride, padding, dilation, groups))
    grad = torch.randn(3, 12, 3, 4, dtype=torch.float64)
    for mask in ([True, True, True], [False, True, False], [True, False, True]):
        bwd_args = (grad, x.detach(), wr.detach(), wi.detach(), stride, padding, dilation, groups, mask)
        torch.library.opcheck(torch.ops.specdiff._complex_conv2d_backward.default, bwd_args)

    def fn(*t):
        return complex_conv2d(*t, *params).square().sum()

    torch.testing.assert_close(torch.compile(fn, fullgraph=True)(*leaves), fn(*leaves), rtol=1e-12, atol=0)


@needs_kernel
@pytest.mark.parametrize(
    ("algorithm", "config"),
    [("block", "3x3-same"), ("gauss", "3x3-same"), ("gemm", "3x3-same"), ("winograd", "3x3-wide")],
    indirect=["algorithm"],
)
def test_backward_output_mask_and_needs_input_grad(algorithm, config):
    (x, wr, wi, br, bi), params = make_inputs(CONFIGS[config], (6, 5), torch.float64)
    with torch.profiler.profile() as prof:
        y = kernel_op(x, wr, wi, br, bi, *params)
    assert ran_a_convolution(prof.events()) == (algorithm != "winograd")
    grad = torch.randn_like(y)
    pair = lambda v: [v, v] if isinstance(v, int) else list(v)  # noqa: E731
    stride, padding, dilation, groups = pair(params[0]), pair(params[1]), pair(params[2]), params[3]
    backward = torch.ops.specdiff._complex_conv2d_backward
    full = backward(grad, x, wr, wi, stride, padding, dilation, groups, [True, True, True])
    only_x = backward(grad, x, wr, wi, stride, padding, dilation, groups, [True, False, False])
    torch.testing.assert_close(only_x[0], full[0], rtol=0, atol=0)
    assert all(t.abs().max() == 0 for t in only_x[1:]) and all(t.abs().max() > 0 for t in full[1:])
    cout = wr.size(0)
    torch.testing.assert_close(full[3], grad[:, :cout].sum((0, 2, 3)))
    torch.testing.assert_close(full[4], grad[:, cout:].sum((0, 2, 3)))
    only_w = backward(grad, x, wr, wi, stride, padding, dilation, groups, [False, True, False])
    assert only_w[0].abs().max() == 0
    torch.testing.assert_close(only_w[1:3], full[1:3], rtol=0, atol=0)

    x.requires_grad_()
    kernel_op(x, wr, wi, br, bi, *params).backward(grad)
    assert x.grad is not None and wr.grad is None and br.grad is None


def test_bad_device_message():
    call, _, message = bad("weight_re is on meta but x is on cpu", weight_re=torch.randn(6, 2, 3, 2, device="meta"))
    with pytest.raises(ValueError, match="^" + message):
        complex_conv2d(*call.tensors, *call.params)



@needs_kernel
@settings(max_examples=20, deadline=None)
@given(
    batch=st.integers(1, 3),
    cin=st.sampled_from([16, 32]),
    cout=st.sampled_from([16, 48]),
    hw=st.tuples(st.integers(1, 11), st.integers(1, 11)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    biases=st.sampled_from(BIASES),
    channels_last=st.booleans(),
)
def test_winograd_random_shapes_match_reference(batch, cin, cout, hw, padding, biases, channels_last):
    """Winograd's form on any image it fits: outputs from 1x1 up, tiles cut by both edges."""
    assume(all(s + 2 * p >= 3 for s, p in zip(hw, padding, strict=True)))
    config = (cin, cout, (3, 3), 1, padding, 1, 1, biases)
    inputs, params = make_inputs(config, hw, torch.float64, batch=batch)
    check_random_problem(complex_conv2d_reference, kernel_op, inputs, params, channels_last, "winograd",
                         no_convolution=True)
