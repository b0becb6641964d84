"""spectral_conv2d: kernel vs float64 reference, gradients, opcheck, compile, layouts, errors, fallback; the shift
bases make it a 3x3 convolution."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from optester import Call, OpSpec, OpTester
from oputil import SIZES, TOL, cpu_isa, cpu_isas, needs_cpu_kernels, rel_err

from specdiff.nn.spectral_conv import shift_bases
from specdiff.ops import spectral_conv2d, spectral_conv2d_reference

pytestmark = needs_cpu_kernels
kernel = torch.ops.specdiff.spectral_conv2d if hasattr(torch.ops, "specdiff") else None


def make(b, c_in, c_out, k, h, w, grid=None, seed=0):
    gh, gw = grid or (h, w)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c_in, h, w, generator=gen, dtype=torch.float64)
    basis = torch.complex(*(torch.randn(k, gh, gw // 2 + 1, generator=gen, dtype=torch.float64) for _ in range(2)))
    taps = torch.randn(k, c_out, c_in, generator=gen, dtype=torch.float64)
    return x, basis, taps


def case(b, c_in, c_out, k, h, w, s=None):
    return lambda: Call(make(b, c_in, c_out, k, h, w, s, seed=b + c_in + c_out + k + h + w), () if s is None else (s,))


def bad(tensors, error, message, params=()):
    return Call(tensors, params), (error,), message


def size(h, w):
    return lambda: [Call(make(2, 3, 2, 2, h, w, seed=h * 1000 + w)), Call(make(2, 3, 2, 2, h, w, (h + 2, w + 3)),
                                                                          ((h + 2, w + 3),))]


@st.composite
def random_calls(draw):
    b, c_in, c_out, k, h, w = (draw(st.integers(1, n)) for n in (3, 20, 20, 9, 30, 30))
    grid = (h + draw(st.integers(0, 6)), w + draw(st.integers(0, 6))) if draw(st.booleans()) else None
    return Call(make(b, c_in, c_out, k, h, w, grid, seed=b + c_in + h), () if grid is None else (grid,))


X = torch.randn(2, 3, 8, 8)
BASIS = torch.ones(2, 8, 5, dtype=torch.complex64)
TAPS = torch.ones(2, 4, 3)


class TestSpectralConv2d(OpTester):
    spec = OpSpec(
        name="spectral_conv2d",
        public=spectral_conv2d,
        reference=spectral_conv2d_reference,
        cases={
            "odd": case(2, 3, 5, 4, 11, 9),
            "even": case(3, 2, 4, 9, 8, 10),
            "padded-odd": case(2, 3, 5, 3, 7, 13, s=(11, 16)),
            # 16 and 32 channels: whole blocks of planes in one sample for every vector width (vector moves);
            # 17: blocks that straddle samples and a partial last block.
            "padded-wide": case(3, 16, 32, 9, 12, 12, s=(16, 16)),
            "straddling": case(3, 17, 5, 2, 6, 7, s=(8, 9)),
            "small": case(2, 2, 3, 2, 5, 6),
            "padded-small": case(2, 2, 3, 2, 5, 6, s=(8, 9)),
        },
        gradcheck_cases=["small", "padded-small"],
        opcheck_cases=["small", "padded-small"],
        compile_case="padded-odd",
        bad_inputs={
            "x-rank": bad((torch.randn(3, 8, 8), BASIS, TAPS), ValueError, "x must be a 4-D tensor [B, C, H, W]"),
            "x-integer": bad((torch.ones(2, 3, 8, 8, dtype=torch.int64), BASIS, TAPS), TypeError,
                             "x must be float32 or float64"),
            "basis-dtype": bad((X, BASIS.to(torch.complex128), TAPS), TypeError,
                               "basis must be torch.complex64 to match x, got torch.complex128"),
            "basis-real": bad((X, torch.ones(2, 8, 5), TAPS), TypeError, "basis must be torch.complex64"),
            "basis-shape": bad((X, torch.ones(2, 8, 4, dtype=torch.complex64), TAPS), ValueError,
                               "basis must be [K, H, W//2+1] = [K, 8, 5] (K >= 1, the half spectrum of the transform "
                               "grid), got shape (2, 8, 4)"),
            "basis-grid": bad((X, BASIS, TAPS), ValueError, "basis must be [K, H, W//2+1] = [K, 10, 7]",
                              params=((10, 12),)),
            "taps-dtype": bad((X, BASIS, TAPS.double()), TypeError, "taps must be torch.float32 to match x"),
            "taps-bases": bad((X, BASIS, torch.ones(3, 4, 3)), ValueError,
                              "taps must be [K, C_out, C_in] = [2, C_out, 3] (K of basis, C_in of x, C_out >= 1), "
                              "got shape (3, 4, 3)"),
            "taps-channels": bad((X, BASIS, torch.ones(2, 4, 2)), ValueError, "taps must be [K, C_out, C_in]"),
            "basis-device": bad((X, BASIS.to("meta"), TAPS), ValueError, "basis is on meta but x is on cpu"),
            "s-smaller": bad((X, BASIS, TAPS), ValueError,
                             "s must be two ints at least x's height and width (8, 8), got (7, 8)", params=((7, 8),)),
        },
        random_calls=random_calls(),
        sizes={f"{h}x{w}": size(h, w) for h in SIZES for w in SIZES},
        backward_args=lambda call: [
            (torch.randn(call.tensors[0].shape[0], call.tensors[2].shape[1], *call.tensors[0].shape[2:],
                         dtype=torch.float64), *call.tensors, mask, *call.params)
            for mask in ([True, True, True], [True, False, False], [False, True, True], [False, False, True])],
    )


@pytest.mark.parametrize("H,W", [(7, 67), (67, 12)])
def test_sizes_beyond_the_lane_fft_take_the_aten_path(H, W):
    # 67 is a prime above the lane FFT's largest radix: forward and backward go through ATen's FFT.
    assert torch.ops.specdiff._max_fft_radix() < 67
    x, basis, taps = make(2, 3, 2, 3, H, W)
    assert rel_err(kernel(x, basis, taps), spectral_conv2d_reference(x, basis, taps)) < TOL[torch.float64]
    up = torch.randn(2, 2, H, W, dtype=torch.float64)
    leaves = [t.clone().requires_grad_() for t in (x, basis, taps)]
    want = torch.autograd.grad(spectral_conv2d_reference(*leaves), leaves, up)
    got = torch.ops.specdiff._spectral_conv2d_backward(up, x, basis, taps, [True, True, True])
    for a, b in zip(got, want, strict=True):
        assert rel_err(a, b) < TOL[torch.float64]


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_cpu_isa(isa, dtype):
    # 37 samples of 3 channels: blocks straddling samples and a partial last block for every vector width.
    x, basis, taps = make(37, 3, 4, 5, 12, 10, (14, 12))
    up = torch.randn(37, 4, 12, 10, dtype=torch.float64)
    leaves = [t.clone().requires_grad_() for t in (x, basis, taps)]
    ref = spectral_conv2d_reference(*leaves, (14, 12))
    want = torch.autograd.grad(ref, leaves, up)
    complex_ = torch.complex64 if dtype == torch.float32 else torch.complex128
    args = (x.to(dtype), basis.to(complex_), taps.to(dtype))
    with cpu_isa(isa):
        y = kernel(*args, (14, 12))
        got = torch.ops.specdiff._spectral_conv2d_backward(up.to(dtype), *args, [True, True, True], (14, 12))
    assert rel_err(y, ref) < TOL[dtype]
    for a, b in zip(got, want, strict=True):
        assert rel_err(a, b) < TOL[dtype]


@pytest.mark.parametrize("stride", [1, 2])
def test_shift_bases_make_a_zero_padded_3x3_convolution(stride):
    """With the nine shift bases on a grid at least one pixel larger than the image, the op is ``F.conv2d`` with
    padding 1, the taps its weight."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 9, 11, generator=gen, dtype=torch.float64)
    weight = torch.randn(5, 4, 3, 3, generator=gen, dtype=torch.float64)
    taps = weight.permute(2, 3, 0, 1).reshape(9, 5, 4)
    y = spectral_conv2d(x, shift_bases(10, 12), taps, (10, 12))[..., ::stride, ::stride]
    assert rel_err(y, F.conv2d(x, weight, padding=1, stride=stride)) < TOL[torch.float64]


def test_kernel_checks_inputs_itself():
    """The C++ op repeats the wrapper's checks for callers that bypass it: one-line errors naming the argument."""
    cases = [
        ((torch.randn(2, 3, 8, 8), torch.ones(2, 8, 4, dtype=torch.complex64), TAPS, None),
         "specdiff: basis must be [K, H, W//2+1] = [K, 8, 5] (K >= 1, the half spectrum of the transform grid), got "
         "shape [2, 8, 4]"),
        ((X, BASIS, torch.ones(3, 4, 3), None),
         "specdiff: taps must be [K, C_out, C_in] = [2, C_out, 3] (K of basis, C_in of x, C_out >= 1), got shape "
         "[3, 4, 3]"),
        ((X, BASIS.to(torch.complex128), TAPS, None), "specdiff: basis must be ComplexFloat to match x"),
        ((X, BASIS, TAPS.double(), None), "specdiff: taps must be Float to match x"),
        ((X, BASIS, TAPS, [8, 7]), "specdiff: s must be two ints at least x's height and width (8, 8)"),
    ]
    for args, message in cases:
        with pytest.raises((RuntimeError, ValueError)) as info:
            kernel(*args)
        assert str(info.value).startswith(message) and "\n" not in str(info.value).strip(), str(info.value)
    with pytest.raises(RuntimeError, match=r"^specdiff: grad must be Float \[B, C_out, H, W\] = \[2, 4, 8, 8\]"):
        torch.ops.specdiff._spectral_conv2d_backward(torch.randn(2, 3, 8, 8), X, BASIS, TAPS, [True, True, True])


def test_needs_only_the_requested_gradients():
    """Autograd asks the backward op for the inputs that require gradients only; each alone matches the reference."""
    x, basis, taps = make(2, 3, 4, 2, 6, 6, (8, 8))
    for i in range(3):
        leaves = [t.clone().requires_grad_(j == i) for j, t in enumerate((x, basis, taps))]
        (got,) = torch.autograd.grad(kernel(*leaves, (8, 8)).square().sum(), (leaves[i],))
        (want,) = torch.autograd.grad(spectral_conv2d_reference(*leaves, (8, 8)).square().sum(), (leaves[i],))
        assert rel_err(got, want) < TOL[torch.float64]


def test_lazy_conjugate_and_strided_operands():
    """A basis that is a lazy conjugate view (``basis.conj()``), transposed taps and a channels_last gradient give
    the reference's values and gradients."""
    x, basis, taps = make(2, 3, 4, 3, 6, 7, (9, 9))
    basis_c = basis.conj()
    taps_t = taps.transpose(1, 2).contiguous().transpose(1, 2)
    assert basis_c.is_conj() and not taps_t.is_contiguous()
    want = spectral_conv2d_reference(x, basis_c.resolve_conj(), taps, (9, 9))
    assert rel_err(kernel(x, basis_c, taps_t, (9, 9)), want) < TOL[torch.float64]
    up = torch.randn(2, 4, 6, 7, dtype=torch.float64).to(memory_format=torch.channels_last)
    leaves = [t.clone().requires_grad_() for t in (x, basis_c.resolve_conj(), taps)]
    expected = torch.autograd.grad(spectral_conv2d_reference(*leaves, (9, 9)), leaves, up)
    got = torch.ops.specdiff._spectral_conv2d_backward(up, x, basis_c, taps_t, [True, True, True], (9, 9))
    for a, b in zip(got, expected, strict=True):
        assert rel_err(a, b) < TOL[torch.float64]
