"""group_norm_silu kernel vs its reference (F.group_norm then F.silu): values, gradients, gradcheck, opcheck,
compile, every CPU ISA, the module, bad input."""

import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume
from hypothesis import strategies as st
from optester import Call, OpSpec, OpTester
from oputil import backend, cpu_isa, cpu_isas, rel_err

from specdiff import extension
from specdiff.nn.layers import GroupNormSiLU, group_norm
from specdiff.ops.group_norm_silu import group_norm_silu, group_norm_silu_reference

needs_kernel = pytest.mark.skipif(not extension.has_kernel("group_norm_silu", "cpu"), reason="no CPU kernel")
pytestmark = pytest.mark.usefixtures("one_thread")


def make_inputs(batch=3, channels=8, hw=(5, 6), offset=3.0, dtype=torch.float64, seed=0):
    """x with per-channel offsets (the group mean matters) and affine parameters around (1, 0)."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    x = randn(batch, channels, *hw) * 2 + randn(1, channels, 1, 1) * offset
    weight, bias = 1 + 0.5 * randn(channels), randn(channels)
    return tuple(t.to(dtype) for t in (x, weight, bias))


def case(groups, batch=3, channels=8, hw=(5, 6), offset=3.0):
    return lambda: Call(make_inputs(batch, channels, hw, offset), (groups,))


@st.composite
def random_calls(draw):
    groups, per_group = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    batch, h, w = (draw(st.integers(1, n)) for n in (3, 9, 9))
    # A group needs 2 values (test_bad_input covers 1); with exactly 2 the normalized pair is ±1 whatever x is, so
    # x's gradient is eps's tiny effect and its relative error says nothing: 3 or more.
    assume(per_group * h * w >= 3)
    return Call(make_inputs(batch, groups * per_group, (h, w), seed=draw(st.integers(0, 99))), (groups,))


def public(x, weight, bias, groups):
    return group_norm_silu(x, groups, weight, bias)


def reference(x, weight, bias, groups):
    return group_norm_silu_reference(x, groups, weight, bias)


def kernel_args(call):
    return (*call.tensors, *call.params, 1e-5)


def backward_args(call):
    x, weight, bias, groups, eps = kernel_args(call)
    y, mean, rstd = torch.ops.specdiff.group_norm_silu(x, weight, bias, groups, eps)
    return [(torch.randn_like(y), x, weight, bias, mean, rstd, groups, mask)
            for mask in ([True, True], [True, False], [False, True])]


def bad(message, groups=4, **changes):
    x, weight, bias = make_inputs(dtype=torch.float32)
    inputs = {"x": x, "weight": weight, "bias": bias, **changes}
    return Call((inputs["x"], inputs["weight"], inputs["bias"]), (groups,)), (ValueError, TypeError), message


class TestGroupNormSiLU(OpTester):
    spec = OpSpec(
        name="group_norm_silu",
        public=public,
        reference=reference,
        cases={
            **{f"groups{g}-5x6": case(g) for g in (1, 2, 4, 8)},
            "one-pixel": case(1, hw=(1, 1)),
            "one-channel-per-group-1x7": case(6, channels=6, hw=(1, 7)),
            "16x9": case(2, batch=2, channels=4, hw=(16, 9)),
            "large-offset": case(2, offset=1e4),
            "small": case(2, batch=2, channels=4, hw=(3, 4)),
            "small-one-group": case(1, batch=2, channels=3, hw=(2, 3)),
        },
        gradcheck_cases=["small", "small-one-group", "one-pixel"],
        opcheck_cases=["small", "small-one-group"],
        compile_case="groups4-5x6",
        kernel_args=kernel_args,
        backward_args=backward_args,
        random_calls=random_calls(),
        sizes={f"{h}x{w}": (lambda h=h, w=w: [case(g, hw=(h, w))() for g in (1, 2)])
               for h in (1, 2, 3, 5, 8, 16, 17) for w in (1, 2, 3, 5, 8, 16, 17)},
        bad_inputs={
            "x-rank": bad("x must be a 4-D tensor", x=torch.randn(3, 8, 5)),
            "x-integer": bad("x must be float32 or float64", x=torch.ones(3, 8, 5, 6, dtype=torch.int64)),
            "groups-not-divisor": bad("num_groups must be a positive divisor of the channel count 8", groups=3),
            "groups-zero": bad("num_groups must be a positive divisor", groups=0),
            "weight-shape": bad("weight must be a 1-D tensor [C] = [8]", weight=torch.ones(4)),
            "bias-dtype": bad("bias must have x's dtype torch.float32", bias=torch.zeros(8, dtype=torch.float64)),
            "no-channels": bad("x must not be empty", x=torch.randn(3, 0, 5, 6), weight=None, bias=None, groups=1),
            "empty-batch": bad("x must not be empty", x=torch.randn(0, 8, 5, 6)),
            "one-value-per-group": bad("a group needs more than 1 value, got 1 (1 channel x 1 x 1)", groups=8,
                                       x=torch.randn(3, 8, 1, 1)),
        },
    )


def run(path, x, weight, bias, groups, upstream):
    leaves = [t.clone().requires_grad_() for t in (x, weight, bias)]
    with backend(path):
        y = group_norm_silu(leaves[0], groups, leaves[1], leaves[2])
    return y, torch.autograd.grad(y, leaves, upstream)


@needs_kernel
@pytest.mark.parametrize("isa", cpu_isas())
def test_every_cpu_isa(isa):
    x, weight, bias = make_inputs(batch=2, channels=6, hw=(7, 19))
    upstream = torch.randn(2, 6, 7, 19, dtype=torch.float64)
    exact = run("reference", x, weight, bias, 3, upstream)
    with cpu_isa(isa):
        got = run("kernel", x, weight, bias, 3, upstream)
    assert rel_err(got[0], exact[0]) < 1e-12
    for g, e in zip(got[1], exact[1], strict=True):
        assert rel_err(g, e) < 1e-11


@needs_kernel
@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("scale", [1.0, 60.0], ids=["unit", "saturating"])
def test_every_cpu_isa_float32(isa, scale):
    """float32 at every ISA against the float64 reference of the same float32 values: the SiLU's reciprocal (an
    estimate refined by one Newton step; the bare 12-bit estimate leaves the output 1e-4 to 2.4e-4 off) and exp keep
    each value within a few float32 ulps, so the whole output within 1e-6 relative; at scale 60, 78% of the z are
    beyond |z| = 17, where float32's sigmoid saturates (y = 0 below, y = z above), and 21% beyond exp's clamp at 87.
    Planes of 7x19 values end in a part vector at every width. The gradients carry float32 statistics scaled by the
    weight: about 1.5e-7 x scale measured, bound 5e-7 x scale."""
    x, weight, bias = make_inputs(batch=2, channels=6, hw=(7, 19), dtype=torch.float32)
    weight = weight * scale
    upstream = torch.randn(2, 6, 7, 19)
    exact = run("reference", x.double(), weight.double(), bias.double(), 3, upstream.double())
    with cpu_isa(isa):
        got = run("kernel", x, weight, bias, 3, upstream)
    assert torch.isfinite(got[0]).all()
    assert rel_err(got[0], exact[0]) < 1e-6
    for g, e in zip(got[1], exact[1], strict=True):
        assert rel_err(g, e) < 5e-7 * scale


@needs_kernel
def test_float32_large_offset():
    """Statistics of float32 data far from zero (mean 1e4, std 2): the centred second pass keeps the variance to
    float32 precision, where one pass of raw sums (E[x^2] - E[x]^2 = 1e8 - 1e8) would lose all of it. The output
    then carries the error of rounding the mean to float32 (half an ulp of 1e4 = 4.9e-4, over the std 2) and of
    the folded affine map a x + k at the same scale: below 1e-3 relative."""
    x, weight, bias = make_inputs(batch=2, channels=4, hw=(16, 16), offset=0.0, dtype=torch.float64)
    x32 = (x + 1e4).float()
    x = x32.double()  # the float32 values, so only the op's own error is measured
    groups = x.reshape(2, 2, -1)
    y, mean, rstd = torch.ops.specdiff.group_norm_silu(x32, weight.float(), bias.float(), 2, 1e-5)
    assert rel_err(mean, groups.mean(-1)) < 1e-7
    assert rel_err(rstd, (groups.var(-1, unbiased=False) + 1e-5).rsqrt()) < 1e-6
    upstream = torch.randn_like(x)
    exact = run("reference", x, weight, bias, 2, upstream)
    got = run("kernel", x32, weight.float(), bias.float(), 2, upstream.float())
    assert rel_err(got[0], exact[0]) < 1e-3
    for g, e in zip(got[1], exact[1], strict=True):
        assert rel_err(g, e) < 1e-3


@needs_kernel
def test_module_equals_group_norm_then_silu():
    """GroupNormSiLU is nn.GroupNorm followed by SiLU: same state_dict keys, output and parameter gradients."""
    torch.manual_seed(0)
    plain = group_norm(12).double()
    with torch.no_grad():
        plain.weight.uniform_(0.5, 1.5)
        plain.bias.uniform_(-0.5, 0.5)
    fused = group_norm(12, silu=True).double()
    assert isinstance(fused, GroupNormSiLU) and fused.num_groups == plain.num_groups == 4
    fused.load_state_dict(plain.state_dict())
    x = torch.randn(3, 12, 4, 4, dtype=torch.float64, requires_grad=True)
    with backend("kernel"):
        y = fused(x)
    expected = F.silu(plain(x))
    assert rel_err(y, expected) < 1e-12
    got = torch.autograd.grad(y.square().sum(), [x, fused.weight, fused.bias])
    exact = torch.autograd.grad(expected.square().sum(), [x, plain.weight, plain.bias])
    for g, e in zip(got, exact, strict=True):
        assert rel_err(g, e) < 1e-11


@needs_kernel
def test_kernel_errors_name_the_argument():
    """The C++ checks, reached by calling the op directly."""
    x, w = torch.randn(2, 4, 3, 3), torch.ones(4)
    op = torch.ops.specdiff.group_norm_silu
    with pytest.raises(ValueError, match="groups must be a positive divisor of the channel count 4, got 3"):
        op(x, w, w, 3, 1e-5)
    with pytest.raises(ValueError, match=re.escape("weight must be a 1-D tensor [C] = [4]")):
        op(x, torch.ones(3), w, 2, 1e-5)
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        op(x, w, w, 2, -1.0)
    y, mean, rstd = op(x, w, w, 2, 1e-5)
    with pytest.raises(ValueError, match=re.escape("mean must be a [B, groups] = [2, 2] tensor")):
        torch.ops.specdiff._group_norm_silu_backward(y, x, w, w, mean[:, :1], rstd, 2, [True, True])


def test_reference_is_the_composition():
    """The specification itself, against the definition computed by hand for one value."""
    x, weight, bias = make_inputs(batch=2, channels=4, hw=(2, 3))
    y = group_norm_silu_reference(x, 2, weight, bias)
    group = x[1, 2:4]  # sample 1, group 1 (channels 2 and 3)
    h = (x[1, 3, 1, 2] - group.mean()) / torch.sqrt(group.var(unbiased=False) + 1e-5) * weight[3] + bias[3]
    assert torch.allclose(y[1, 3, 1, 2], h / (1 + torch.exp(-h)), rtol=1e-14, atol=0)
