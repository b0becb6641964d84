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


def _kept_spectra(x, grid):
    """_spectral_conv2d_saving's second output as its layout says: rfft2(x, grid) unnormalized, [H, W//2+1, B, 2, C]."""
    spectrum = torch.fft.rfft2(x, s=grid)
    return torch.stack((spectrum.real, spectrum.imag), dim=2).permute(3, 4, 0, 2, 1)


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_saving_forward_and_saved_backward_match_the_reference(isa, dtype):
    """_spectral_conv2d_saving returns the output and x's spectra; _spectral_conv2d_backward_saved, given them in
    place of x, returns the reference's gradients for every output mask (37 samples of 3 channels: blocks straddling
    samples and a partial last block for every vector width)."""
    grid = (14, 12)
    x, basis, taps = make(37, 3, 4, 5, 12, 10, grid)
    up = torch.randn(37, 4, 12, 10, dtype=torch.float64)
    leaves = [t.clone().requires_grad_() for t in (x, basis, taps)]
    ref = spectral_conv2d_reference(*leaves, grid)
    want = torch.autograd.grad(ref, leaves, up)
    complex_ = torch.complex64 if dtype == torch.float32 else torch.complex128
    args = (x.to(dtype), basis.to(complex_), taps.to(dtype))
    masks = ([True, True, True], [False, True, False], [False, False, True], [True, False, False])
    with cpu_isa(isa):
        y, spectra = torch.ops.specdiff._spectral_conv2d_saving(*args, grid)
        got = [torch.ops.specdiff._spectral_conv2d_backward_saved(up.to(dtype), spectra, *args[1:], mask, grid)
               for mask in masks]
    assert rel_err(y, ref) < TOL[dtype]
    assert spectra.dtype == dtype and rel_err(spectra, _kept_spectra(x, grid)) < TOL[dtype]
    for mask, grads in zip(masks, got, strict=True):
        for need, a, b in zip(mask, grads, want, strict=True):
            assert rel_err(a, b) < TOL[dtype] if need else not a.any()


def _saving_calls(leaves, grid):
    """How often a forward (and, with a graph, a backward) called the saving pair."""
    with torch.profiler.profile() as prof:
        y = kernel(*leaves, grid)
        if y.requires_grad:
            y.sum().backward()
    names = [e.name for e in prof.events()]
    return tuple(names.count(f"specdiff::_spectral_conv2d_{op}") for op in ("saving", "backward_saved"))


@pytest.mark.parametrize("need,grad_mode,side,saves", [
    ((True, True, True), True, 12, True),
    ((False, True, False), True, 12, True),
    ((False, False, True), True, 12, True),
    ((True, False, False), True, 12, False),  # x's gradient needs no spectrum of x
    ((True, True, True), False, 12, False),   # no graph
    ((True, True, True), True, 67, False),    # a grid beyond the lane FFT (ATen's FFT)
])
def test_autograd_keeps_the_spectra_only_for_the_bases_or_the_taps(need, grad_mode, side, saves):
    """The rule of csrc/autograd.cpp: the pair runs when the bases or the taps need their gradient on a grid the lane
    FFT computes (the grid, not the image: 8 x 8 images on a 12 x 12 or 67 x 67 grid)."""
    assert torch.ops.specdiff._roundtrip_fused("cpu", side, side) == (side == 12)
    leaves = [t.float() if not t.is_complex() else t.to(torch.complex64) for t in make(2, 3, 4, 2, 8, 8, (side, side))]
    leaves = [t.requires_grad_(n) for t, n in zip(leaves, need, strict=True)]
    with torch.set_grad_enabled(grad_mode):
        assert _saving_calls(leaves, (side, side)) == ((1, 1) if saves else (0, 0))


def test_saving_pair_opcheck():
    x, basis, taps = make(2, 3, 4, 2, 6, 5, (9, 8))
    spectra = torch.ops.specdiff._spectral_conv2d_saving(x, basis, taps, (9, 8))[1]
    torch.library.opcheck(torch.ops.specdiff._spectral_conv2d_saving.default, (x, basis, taps, (9, 8)))
    torch.library.opcheck(torch.ops.specdiff._spectral_conv2d_backward_saved.default,
                          (torch.randn(2, 4, 6, 5, dtype=torch.float64), spectra, basis, taps, [True, True, True],
                           (9, 8)))


def test_saving_pair_checks_its_arguments():
    x, basis, taps = make(2, 3, 4, 2, 8, 8)
    spectra = torch.ops.specdiff._spectral_conv2d_saving(x, basis, taps)[1]
    grad = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    saved = torch.ops.specdiff._spectral_conv2d_backward_saved
    with pytest.raises(RuntimeError, match=r"^specdiff: spectra must be _spectral_conv2d_saving's \[8, 5, 2, 2, 3\] "
                                           r"Double on cpu, got \[8, 5, 2, 3, 2\] Double on cpu$"):
        saved(grad, spectra.transpose(3, 4), basis, taps, [True, True, True])
    with pytest.raises(RuntimeError, match=r"^specdiff: spectra must be .* got \[8, 5, 2, 2, 3\] Float on cpu$"):
        saved(grad, spectra.float(), basis, taps, [True, True, True])
    with pytest.raises(RuntimeError, match=r"^specdiff: grad must have taps' C_out = 4 channels, got 3$"):
        saved(grad[:, :3], spectra, basis, taps, [True, True, True])
    big = make(1, 1, 1, 1, 8, 8, (67, 67))
    with pytest.raises(ValueError, match=r"^specdiff: _spectral_conv2d_saving needs a transform grid the lane FFT "
                                         r"computes \(cpu::roundtrip_fused\), got 67x67$"):
        torch.ops.specdiff._spectral_conv2d_saving(*big, (67, 67))


def test_kept_spectra_compile_fullgraph():
    """Under torch.compile the joint graph holds the saving pair (its fakes) and gives eager's gradients."""
    leaves = [t.requires_grad_() for t in make(2, 3, 4, 2, 8, 8, (12, 12))]
    fn = lambda x, basis, taps: spectral_conv2d(x, basis, taps, (12, 12)).square().sum()  # noqa: E731
    torch._dynamo.reset()
    eager = torch.autograd.grad(fn(*leaves), leaves)
    compiled_fn = torch.compile(fn, fullgraph=True)
    torch.autograd.grad(compiled_fn(*leaves), leaves)  # compiled here (the backward lazily), with fake tensors
    with torch.profiler.profile() as prof:
        compiled = torch.autograd.grad(compiled_fn(*leaves), leaves)
    # At least once: a recompile inside the profiled call would add its fake-tensor calls of the same ops.
    names = [e.name for e in prof.events()]
    assert names.count("specdiff::_spectral_conv2d_saving") >= 1
    assert names.count("specdiff::_spectral_conv2d_backward_saved") >= 1
    for a, b in zip(compiled, eager, strict=True):
        assert rel_err(a, b) < 1e-12


def test_kept_spectra_reuse_their_blocks():
    """The saved spectra come from blocks that earlier ones gave back (no fresh pages per step): a dead tensor's block
    is idle, the next one of its size takes it, and the idle blocks never exceed the most held at once."""
    x, basis, taps = make(3, 5, 2, 2, 16, 16, (20, 20))
    bytes_ = 20 * 11 * 3 * 2 * 5 * 8  # [20, 11, 3, 2, 5] float64, a multiple of 64
    kept = torch.ops.specdiff._kept_bytes
    before = kept()
    spectra = torch.ops.specdiff._spectral_conv2d_saving(x, basis, taps, (20, 20))[1]
    address, alive = spectra.data_ptr(), kept()
    assert alive[0] == before[0] + bytes_
    del spectra
    dead = kept()
    assert dead[0] == before[0] and dead[1] >= bytes_ and dead[1] <= dead[2]
    again = torch.ops.specdiff._spectral_conv2d_saving(x, basis, taps, (20, 20))[1]
    assert again.data_ptr() == address and kept()[0] == alive[0] and kept()[1] == dead[1] - bytes_
