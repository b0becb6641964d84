"""complex_conv_transpose2d kernel vs its 4-real-convolution reference: the common op tests (optester) with every
forced algorithm, the reference as the transpose of complex_conv2d, the automatic choice, output masks."""

import pytest
import torch
from convutil import bad_conv, conv_inputs, conv_op_spec, pair
from optester import Call, KernelChecksInputs, OpTester

from specdiff import extension
from specdiff.ops.complex_conv2d import complex_conv2d_reference
from specdiff.ops.complex_conv_transpose2d import complex_conv_transpose2d, complex_conv_transpose2d_reference

needs_kernel = pytest.mark.skipif(
    not extension.has_kernel("complex_conv_transpose2d", "cpu"), reason="no CPU kernel"
)

# (complex in and out channels, kernel, stride, padding, output_padding, groups, dilation, biases)
CONFIGS = {
    "3x3-same": (3, 4, (3, 3), 1, 1, 0, 1, 1, "both"),
    "upsample-grouped": (4, 6, (3, 2), 2, 1, 1, 2, 1, "re"),
    "dilated": (2, 3, (3, 3), 1, 2, 0, 1, 2, "none"),
    "mixed-3groups": (3, 6, (2, 3), (2, 1), (1, 0), (1, 0), 3, (1, 2), "im"),
    "depthwise-up": (4, 4, (4, 4), 2, 1, 0, 4, 1, "both"),
}
pytestmark = pytest.mark.usefixtures("one_thread")


def make_inputs(config, hw, dtype, batch=2, seed=0):
    cin, cout, kernel, stride, padding, output_padding, groups, dilation, biases = config
    inputs = conv_inputs(batch, cin, cout, (cin, cout // groups, *kernel), hw, biases, seed)
    return (tuple(None if t is None else t.to(dtype) for t in inputs),
            (stride, padding, output_padding, groups, dilation))


def kernel_args(call):
    stride, padding, output_padding, groups, dilation = call.params
    return (*call.tensors, pair(stride), pair(padding), pair(output_padding), groups, pair(dilation))


def kernel_op(*args):
    return torch.ops.specdiff.complex_conv_transpose2d(*kernel_args(Call(args[:5], args[5:])))


def bad(message, **changes):
    defaults = {"stride": 1, "padding": 0, "output_padding": 0, "groups": 2, "dilation": 1}
    return bad_conv(make_inputs, CONFIGS["upsample-grouped"], defaults, message, **changes)


class TestComplexConvTranspose2d(KernelChecksInputs, OpTester):
    spec = conv_op_spec(
        "complex_conv_transpose2d", complex_conv_transpose2d, complex_conv_transpose2d_reference, CONFIGS,
        make_inputs, kernel_args, permute_weights=lambda w: w.transpose(2, 3).contiguous().transpose(2, 3),
        compile_case="upsample-grouped-even",
        transposed=True,
        small_hw=(3, 4),
        bad_inputs={
            "x-rank": bad("x must be a 4-D tensor", x=torch.randn(8, 7, 5)),
            "x-integer": bad("x must be float32 or float64", x=torch.ones(2, 8, 7, 5, dtype=torch.int32)),
            "x-half": bad("x must be float32 or float64", x=torch.ones(2, 8, 7, 5, dtype=torch.bfloat16)),
            "x-odd-channels": bad("x must have an even channel count", x=torch.randn(2, 9, 7, 5)),
            "weight-im-shape": bad("weight_im must have weight_re's shape", weight_im=torch.randn(4, 3, 3, 3)),
            "weight-re-rank": bad("weight_re must be a 4-D tensor", weight_re=torch.randn(4, 3, 3)),
            "weight-im-dtype": bad("weight_im must have x's dtype",
                                   weight_im=torch.randn(4, 3, 3, 2, dtype=torch.float64)),
            "channel-mismatch": bad("weight_re must be [Cin, Cout/groups, kh, kw] with Cin=6",
                                    x=torch.randn(2, 12, 7, 5)),
            "groups-in": bad("groups=3 must divide the complex input channels", groups=3),
            "bias-shape": bad("bias_re must be a 1-D tensor [Cout] = [6]", bias_re=torch.randn(3)),
            "bias-dtype": bad("bias_im must have x's dtype", bias_im=torch.randn(6, dtype=torch.float64)),
            "output-padding": bad("output_padding must be non-negative and smaller than stride", output_padding=1),
            "stride": bad("stride must be positive", stride=(1, 0)),
            "empty-output": bad("x of spatial size [7, 5] gives an empty output", padding=4),
        },
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


def test_bad_device_message():
    call, _, message = bad("bias_re is on meta but x is on cpu", bias_re=torch.randn(6, device="meta"))
    with pytest.raises(ValueError, match="^" + message):
        complex_conv_transpose2d(*call.tensors, *call.params)
