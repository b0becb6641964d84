"""spectral_filter2d: kernel vs float64 reference, gradients, opcheck, compile, layouts, errors, fallback."""

import pytest
import torch
from hypothesis import strategies as st
from optester import Call, OpSpec, OpTester
from oputil import SIZES, TOL, cpu_isa, cpu_isas, needs_cpu_kernels, rel_err, streamed

from specdiff.ops import spectral_filter2d, spectral_filter2d_reference
from specdiff.ops.spectral_filter2d import filter_responses

pytestmark = needs_cpu_kernels
kernel = torch.ops.specdiff.spectral_filter2d if hasattr(torch.ops, "specdiff") else None


def make(shape, weight_shape, complex_weight, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    w = torch.randn(weight_shape, generator=gen, dtype=torch.float64)
    if complex_weight:
        w = torch.complex(w, torch.randn(weight_shape, generator=gen, dtype=torch.float64))
    return x, w


def as_dtype(t, dtype):
    if t.is_complex():
        return t.to(torch.complex64 if dtype == torch.float32 else torch.complex128)
    return t.to(dtype)


WEIGHT_SHAPES = {
    "W": lambda B, C, H, Wf: (Wf,),
    "HW": lambda B, C, H, Wf: (H, Wf),
    "CHW": lambda B, C, H, Wf: (C, H, Wf),
    "B1HW": lambda B, C, H, Wf: (B, 1, H, Wf),
    "BCHW": lambda B, C, H, Wf: (B, C, H, Wf),
    "1C1W": lambda B, C, H, Wf: (1, C, 1, Wf),
    "scalar": lambda B, C, H, Wf: (1,),
}


def case(shape, weight_shape, complex_weight, s=None):
    """One call; ``s`` a transform grid larger than the planes (weights on its half spectrum)."""
    params = () if s is None else (s,)
    return lambda: Call(make(shape, weight_shape, complex_weight, seed=sum(shape)), params)


def bad(x, w, error, message):
    return Call((x, w)), (error,), message


def size(h, w):
    """Both weights (real, complex) at one size."""
    return lambda: [Call(make((2, 3, h, w), (3, h, w // 2 + 1), complex_weight, seed=h * 1000 + w))
                    for complex_weight in (False, True)]


# Weights with a channel dim, which may carry k responses per channel.
CHANNEL_WEIGHTS = ("CHW", "BCHW", "1C1W")


@st.composite
def random_calls(draw):
    b, c, h, w = (draw(st.integers(1, n)) for n in (3, 4, 40, 40))
    grid = (h + draw(st.integers(0, 9)), w + draw(st.integers(0, 9))) if draw(st.booleans()) else None
    gh, gw = grid or (h, w)
    kind = draw(st.sampled_from(sorted(WEIGHT_SHAPES)))
    k = draw(st.integers(1, 3)) if kind in CHANNEL_WEIGHTS else 1
    weight_shape = WEIGHT_SHAPES[kind](b, k * c, gh, gw // 2 + 1)
    return Call(make((b, c, h, w), weight_shape, draw(st.booleans()), seed=b + c + h + w),
                () if grid is None else (grid,))


def _output_shape(x, weight):
    b, c, h, w = x.shape
    return b, c * filter_responses(x, weight), h, w


class TestSpectralFilter2d(OpTester):
    spec = OpSpec(
        name="spectral_filter2d",
        public=spectral_filter2d,
        reference=spectral_filter2d_reference,
        cases={
            "odd-real-CHW": case((2, 3, 11, 9), (3, 11, 5), False),
            "odd-complex-B1HW": case((2, 3, 7, 13), (2, 1, 7, 7), True),
            "even-real-HW": case((2, 6, 12, 16), (12, 9), False),
            "even-complex-CHW": case((3, 2, 8, 10), (2, 8, 6), True),
            "small-real": case((2, 2, 5, 6), (2, 5, 4), False),
            "small-complex": case((2, 2, 5, 6), (2, 5, 4), True),
            "padded-odd-real-CHW": case((2, 3, 11, 9), (3, 15, 7), False, s=(15, 13)),
            "padded-complex-B1HW": case((2, 3, 7, 13), (2, 1, 9, 7), True, s=(9, 13)),
            "padded-small-complex": case((2, 2, 5, 6), (2, 8, 5), True, s=(8, 9)),
            "responses-odd-real-CHW": case((2, 3, 11, 9), (6, 11, 5), False),
            "responses-complex-BCHW": case((2, 3, 7, 13), (2, 9, 7, 7), True),
            "responses-small-real": case((2, 2, 5, 6), (6, 5, 4), False),
            "responses-padded-small-complex": case((2, 2, 5, 6), (1, 4, 8, 5), True, s=(8, 9)),
        },
        gradcheck_cases=["small-real", "small-complex", "padded-small-complex", "responses-small-real",
                         "responses-padded-small-complex"],
        opcheck_cases=["small-real", "small-complex", "padded-small-complex", "responses-small-real",
                       "responses-padded-small-complex"],
        compile_case="even-complex-CHW",
        bad_inputs={
            "x-rank": bad(torch.randn(3, 8, 8), torch.ones(8, 5), ValueError, "x must be a 4-D tensor [B, C, H, W]"),
            "x-integer": bad(torch.ones(1, 1, 8, 8, dtype=torch.int64), torch.ones(8, 5), TypeError,
                             "x must be float32 or float64"),
            "x-half": bad(torch.ones(1, 1, 8, 8, dtype=torch.float16), torch.ones(8, 5), TypeError,
                          "x must be float32 or float64"),
            "weight-columns": bad(torch.randn(2, 3, 8, 8), torch.ones(8, 4), ValueError,
                                  "weight of shape (8, 4) is not broadcastable"),
            "weight-channels": bad(torch.randn(2, 3, 8, 8), torch.ones(4, 3, 8, 5), ValueError, "weight of shape"),
            "weight-channels-not-a-multiple": bad(
                torch.randn(2, 3, 8, 8), torch.ones(5, 8, 5), ValueError,
                "weight of shape (5, 8, 5) is not broadcastable to [B, C, H, W//2+1] = [2, 3, 8, 5], nor has it k C "
                "channels (k filters for each of x's 3 channels)"),
            "weight-rank": bad(torch.randn(2, 3, 8, 8), torch.ones(1, 2, 3, 8, 5), ValueError,
                               "weight must have 1 to 4 dims"),
            "weight-dtype": bad(torch.randn(2, 3, 8, 8), torch.ones(8, 5, dtype=torch.float64), TypeError,
                                "weight must be torch.float32"),
            "weight-device": bad(torch.randn(2, 3, 8, 8), torch.ones(8, 5, device="meta"), ValueError,
                                 "weight is on meta but x is on cpu"),
            "s-smaller": (Call((torch.randn(2, 3, 8, 8), torch.ones(7, 5)), ((7, 8),)), (ValueError,),
                          "s must be two ints at least x's height and width (8, 8), got (7, 8)"),
            "s-length": (Call((torch.randn(2, 3, 8, 8), torch.ones(8, 5)), ((8,),)), (ValueError,),
                         "s must be two ints at least x's height and width (8, 8), got (8,)"),
            "s-weight": (Call((torch.randn(2, 3, 8, 8), torch.ones(8, 5)), ((12, 8),)), (ValueError,),
                         "weight of shape (8, 5) is not broadcastable to [B, C, s[0], s[1]//2+1]"),
        },
        random_calls=random_calls(),
        sizes={f"{h}x{w}": size(h, w) for h in SIZES for w in SIZES},
        backward_args=lambda call: [(torch.randn(_output_shape(*call.tensors), dtype=torch.float64), *call.tensors,
                                     [True, False], *call.params)],
    )



@pytest.mark.parametrize("H,W", [(7, 67), (67, 12)])
def test_sizes_beyond_the_lane_fft_take_the_aten_path(H, W):
    # 67 is a prime above the lane FFT's largest radix.
    assert torch.ops.specdiff._max_fft_radix() < 67
    x, w = make((2, 2, H, W), (H, W // 2 + 1), True)
    assert rel_err(kernel(x, w), spectral_filter2d_reference(x, w)) < TOL[torch.float64]


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_cpu_isa(isa, dtype):
    # 37 planes: two full blocks for every vector width plus a partial one.
    x, w = make((37, 1, 12, 10), (1, 12, 6), True)
    ref = spectral_filter2d_reference(x, w)
    with cpu_isa(isa):
        y = kernel(x.to(dtype), as_dtype(w, dtype))
    assert rel_err(y, ref) < TOL[dtype]


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("complex_weight", [False, True])
@pytest.mark.parametrize("weight_kind", ["CHW", "BCHW", "1C1W"])
def test_per_channel_weights_in_lane_layout(isa, complex_weight, weight_kind):
    """Per-lane weights in lane layout: kept across consecutive blocks with the same weight slices, rebuilt when
    they change (32 channels: whole lane groups for every vector width, per-channel or per-sample weights);
    values and both gradients against the reference, for every ISA."""
    _check_per_channel_weights(isa, torch.float64, complex_weight, weight_kind, 3, 32, 6, 40)


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("complex_weight", [False, True])
@pytest.mark.parametrize("weight_kind", ["CHW", "1C1W"])
def test_per_channel_weight_patterns_cached_per_thread(isa, dtype, complex_weight, weight_kind):
    """Per-channel weights: every block whose first channel is the same reuses that pattern's lane layout, built
    once per thread (6 channels: the blocks' first channels cycle through several patterns for every vector
    width); 11 samples leave a partial last block, which rebuilds its pattern."""
    _check_per_channel_weights(isa, dtype, complex_weight, weight_kind, 11, 6, 5, 36)


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("complex_weight", [False, True])
def test_padded_spectrum_columns(isa, dtype, complex_weight):
    """128 rows span a multiple of 2 KiB of lane vectors for every ISA and dtype, so the spectra's columns sit one
    vector further apart in the scratch than the weight's and its gradient's lane buffers (per-channel weights
    shared over the batch use both)."""
    _check_per_channel_weights(isa, dtype, complex_weight, "CHW", 3, 16, 128, 10)


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_large_outputs_take_the_streaming_path(isa, dtype):
    """Outputs (y and grad_x) larger than the threads' L2s are written with streaming stores where a row tile is
    vector-aligned: rows of 120 values are, every other row or every row, depending on the vector width."""
    B = 3 if dtype == torch.float32 else 2
    with streamed(B * 64 * 128 * 120 * dtype.itemsize):
        _check_per_channel_weights(isa, dtype, False, "HW", B, 64, 128, 120)


def _check_per_channel_weights(isa, dtype, complex_weight, weight_kind, B, C, H, W):
    """Kernel values and both gradients at `dtype` against the float64 reference."""
    x, w = make((B, C, H, W), WEIGHT_SHAPES[weight_kind](B, C, H, W // 2 + 1), complex_weight)
    x.requires_grad_(True)
    w.requires_grad_(True)
    g = torch.randn(B, C, H, W, dtype=torch.float64)
    expected = spectral_filter2d_reference(x, w)
    xd, wd = (as_dtype(t.detach(), dtype).requires_grad_(True) for t in (x, w))
    with cpu_isa(isa):
        y = kernel(xd, wd)
        got = torch.autograd.grad(y, (xd, wd), g.to(dtype))
    tol = TOL[dtype] if dtype == torch.float32 else 1e-12
    assert rel_err(y, expected) < tol
    for a, b in zip(got, torch.autograd.grad(expected, (x, w), g), strict=True):
        assert rel_err(a, b) < tol


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("complex_weight", [False, True])
@pytest.mark.parametrize("weight_kind", ["HW", "CHW", "1C1W", "B1HW"])
def test_weight_gradient_summed_over_runs_of_blocks(isa, dtype, complex_weight, weight_kind):
    """Consecutive blocks adding into the same weight slices (2 channels: every block of every vector width
    holds the same channel pattern) sum their terms in lane layout before the float64 accumulators, in runs split
    between threads; 35 samples leave a partial last block, which adds on its own. Per-sample weights never
    form runs."""
    B, C, H, W = 35, 2, 6, 10
    x, w = make((B, C, H, W), WEIGHT_SHAPES[weight_kind](B, C, H, W // 2 + 1), complex_weight)
    g = torch.randn(B, C, H, W, dtype=torch.float64)
    x.requires_grad_(True)
    w.requires_grad_(True)
    expected = torch.autograd.grad(spectral_filter2d_reference(x, w), (x, w), g)
    xd, wd = (as_dtype(t.detach(), dtype).requires_grad_(True) for t in (x, w))
    with cpu_isa(isa):
        got = torch.autograd.grad(kernel(xd, wd), (xd, wd), g.to(dtype))
    for a, b in zip(got, expected, strict=True):
        assert rel_err(a, b) < (TOL[dtype] if dtype == torch.float32 else 1e-12)




@pytest.mark.parametrize("complex_weight", [False, True])
@pytest.mark.parametrize("kind", list(WEIGHT_SHAPES))
def test_broadcast_shapes_values_and_gradients(kind, complex_weight):
    B, C, H, W = 3, 5, 9, 14
    x, w = make((B, C, H, W), WEIGHT_SHAPES[kind](B, C, H, W // 2 + 1), complex_weight)
    x.requires_grad_(True)
    w.requires_grad_(True)
    g = torch.randn(B, C, H, W, dtype=torch.float64)
    y_ref = spectral_filter2d_reference(x, w)
    gx_ref, gw_ref = torch.autograd.grad(y_ref, (x, w), g)
    y = kernel(x, w)
    gx, gw = torch.autograd.grad(y, (x, w), g)
    assert gw.shape == w.shape and gw.dtype == w.dtype
    assert rel_err(y, y_ref) < 1e-12
    assert rel_err(gx, gx_ref) < 1e-12
    assert rel_err(gw, gw_ref) < 1e-12


def test_layout_of_weight_does_not_matter():
    x, w = make((2, 3, 8, 8), (3, 8, 5), True)
    assert torch.allclose(kernel(x, w), kernel(x, w.conj().resolve_conj().conj()), atol=1e-14)
    wt = torch.randn(3, 5, 8, dtype=torch.float64).transpose(1, 2)  # non-contiguous [3, 8, 5]
    assert torch.allclose(kernel(x, wt), kernel(x, wt.contiguous()), atol=1e-14)


def test_batch_one_and_single_pixel():
    x, w = make((1, 1, 1, 1), (1, 1), False)
    assert torch.allclose(kernel(x, w), x * w)
    x, w = make((1, 4, 5, 7), (5, 4), True)
    assert rel_err(kernel(x, w), spectral_filter2d_reference(x, w)) < 1e-12


def test_empty_batch_is_a_value_error():
    """An empty x has no plane to filter (and the reference's FFT rejects it): both entry points say so."""
    x = torch.zeros(0, 3, 4, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"x must not be empty: \[B, C, H, W\] = \[0, 3, 4, 4\]"):
        kernel(x, torch.ones(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^x must not be empty: \[B, C, H, W\] = \[0, 3, 4, 4\]"):
        spectral_filter2d(x, torch.ones(4, 3, dtype=torch.float64))


def test_identity_weight_round_trips_exactly():
    x = torch.randn(4, 3, 17, 33, dtype=torch.float64)
    assert torch.allclose(kernel(x, torch.ones(17, 17, dtype=torch.float64)), x, atol=1e-13)


def test_needs_only_the_requested_gradient():
    x, w = make((2, 2, 6, 6), (6, 4), False)
    w.requires_grad_(True)
    (gw,) = torch.autograd.grad(kernel(x, w).sum(), (w,))
    (gw_ref,) = torch.autograd.grad(spectral_filter2d_reference(x, w).sum(), (w,))
    assert rel_err(gw, gw_ref) < 1e-12


def test_kernel_checks_inputs_itself():
    with pytest.raises(RuntimeError, match="weight of shape"):
        kernel(torch.randn(2, 3, 8, 8), torch.ones(7, 5))
    with pytest.raises(RuntimeError, match=r"weight of shape \[5, 8, 5\] is not broadcastable.*k responses"):
        kernel(torch.randn(2, 3, 8, 8), torch.ones(5, 8, 5))
    with pytest.raises(RuntimeError, match=r"^specdiff: grad must have the output's shape \[2, 6, 8, 8\]"):
        torch.ops.specdiff._spectral_filter2d_backward(torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8),
                                                       torch.ones(6, 8, 5), [True, True])
    with pytest.raises(RuntimeError, match=r"^specdiff: s must be two ints at least x's height and width \(8, 8\)"):
        kernel(torch.randn(2, 3, 8, 8), torch.ones(8, 5), [8, 7])


def _linear_response(kernel_taps, grid):
    """The half-spectrum response on ``grid`` of centred kernels ``[C, k, k]``: tap (i, j) at offset (i - k//2,
    j - k//2) of y[n] = sum_m k[m] x[n - m]."""
    c, k, _ = kernel_taps.shape
    full = kernel_taps.new_zeros(c, *grid)
    for i in range(k):
        for j in range(k):
            full[:, (i - k // 2) % grid[0], (j - k // 2) % grid[1]] = kernel_taps[:, i, j]
    return torch.fft.rfft2(full)


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("H,W,k,q", [(12, 10, 5, 4), (4, 4, 3, 2), (32, 32, 9, 8), (5, 3, 3, 3)])
def test_padded_grid_is_a_linear_convolution(isa, dtype, H, W, k, q):
    """A grid q larger than the planes makes the filter the zero-padded (linear) convolution by every kernel whose
    taps lie within q of the origin: F.conv2d with zero padding, on every ISA (4x4 and 5x3 planes on grids of
    fewer columns than a vector take the whole-plane staging path)."""
    gen = torch.Generator().manual_seed(H * 100 + W)
    x = torch.randn(3, 4, H, W, generator=gen, dtype=torch.float64)
    taps = torch.randn(4, k, k, generator=gen, dtype=torch.float64)
    expected = torch.nn.functional.conv2d(x, taps.flip(-2, -1).unsqueeze(1), padding=k // 2, groups=4)
    response = _linear_response(taps, (H + q, W + q))
    with cpu_isa(isa):
        got = kernel(x.to(dtype), as_dtype(response, dtype), [H + q, W + q])
    assert rel_err(got, expected) < (TOL[dtype] if dtype == torch.float32 else 1e-12)
    # The circular transform wraps the kernel around instead.
    circular = spectral_filter2d_reference(x, _linear_response(taps, (H, W)))
    assert rel_err(circular, expected) > 1e-3


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("complex_weight", [False, True])
def test_padded_grid_gradients_on_every_isa(isa, dtype, complex_weight):
    """Both gradients of a padded round trip (per-channel weights shared over 37 samples: full blocks, runs of
    blocks and a partial block) against the float64 reference."""
    B, C, H, W, grid = 37, 2, 10, 12, (14, 17)
    x, w = make((B, C, H, W), (C, grid[0], grid[1] // 2 + 1), complex_weight)
    g = torch.randn(B, C, H, W, dtype=torch.float64)
    x.requires_grad_(True)
    w.requires_grad_(True)
    expected = torch.autograd.grad(spectral_filter2d_reference(x, w, grid), (x, w), g)
    xd, wd = (as_dtype(t.detach(), dtype).requires_grad_(True) for t in (x, w))
    with cpu_isa(isa):
        got = torch.autograd.grad(kernel(xd, wd, list(grid)), (xd, wd), g.to(dtype))
    for a, b in zip(got, expected, strict=True):
        assert rel_err(a, b) < (TOL[dtype] if dtype == torch.float32 else 1e-12)


def test_padded_grid_beyond_the_lane_fft_takes_the_aten_path():
    """A grid with a prime factor above the lane FFT's radices (67) pads and crops through ATen's FFT."""
    x, w = make((2, 2, 7, 60), (2, 7, 34), True)
    x.requires_grad_(True)
    w.requires_grad_(True)
    g = torch.randn(2, 2, 7, 60, dtype=torch.float64)
    got = kernel(x, w, [7, 67])
    expected = spectral_filter2d_reference(x, w, (7, 67))
    assert rel_err(got, expected) < 1e-12
    for a, b in zip(torch.autograd.grad(got, (x, w), g), torch.autograd.grad(expected, (x, w), g), strict=True):
        assert rel_err(a, b) < 1e-12


def test_grid_of_the_planes_size_is_the_circular_filter():
    x, w = make((2, 3, 8, 6), (3, 8, 4), True)
    assert torch.equal(kernel(x, w, [8, 6]), kernel(x, w))
    assert torch.equal(spectral_filter2d(x, w, (8, 6)), spectral_filter2d(x, w))


@pytest.mark.parametrize("k", [1, 2])
def test_padded_grid_compiles_fullgraph(k):
    """One graph under torch.compile, with one and with k responses per channel (the fake's k C output channels)."""
    x, w = make((2, 3, 8, 6), (3 * k, 12, 6), True)
    x.requires_grad_(True)
    fn = lambda x: spectral_filter2d(x, w, (12, 10)).square().sum()  # noqa: E731
    torch._dynamo.reset()
    eager = fn(x)
    compiled = torch.compile(fn, fullgraph=True)(x)
    assert rel_err(compiled, eager) < 1e-12
    assert rel_err(torch.autograd.grad(compiled, x)[0], torch.autograd.grad(eager, x)[0]) < 1e-12


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("complex_weight", [False, True])
@pytest.mark.parametrize("weight_kind", CHANNEL_WEIGHTS)
@pytest.mark.parametrize("B,C,H,W,k,grid", [
    (37, 1, 12, 10, 3, None),     # one channel: every block's lanes share each response's slice; partial block
    (5, 6, 9, 14, 2, None),       # per-lane weights cached per channel pattern; runs of blocks share sums
    (3, 17, 8, 8, 3, (11, 13)),   # a partial last block of a channel pattern, on a padded grid
    (2, 3, 4, 4, 2, (6, 5)),      # rows shorter than a vector: whole-plane staging
])
def test_responses_per_channel_on_every_isa(isa, dtype, complex_weight, weight_kind, B, C, H, W, k, grid):
    """k responses per channel (a weight of k C channels): the output, both gradients and each alone (three
    entry points of the round trip) against the float64 reference of x with its channels repeated k times."""
    gh, gw = grid or (H, W)
    x, w = make((B, C, H, W), WEIGHT_SHAPES[weight_kind](B, k * C, gh, gw // 2 + 1), complex_weight)
    g = torch.randn(B, k * C, H, W, dtype=torch.float64)
    x.requires_grad_(True)
    w.requires_grad_(True)
    expected = spectral_filter2d_reference(x.repeat_interleave(k, 1), w, grid)
    assert torch.equal(spectral_filter2d_reference(x, w, grid), expected)
    expected_grads = torch.autograd.grad(expected, (x, w), g)
    xd, wd = (as_dtype(t.detach(), dtype) for t in (x, w))
    params = () if grid is None else (list(grid),)
    tol = TOL[dtype] if dtype == torch.float32 else 1e-12
    with cpu_isa(isa):
        y = kernel(xd.requires_grad_(True), wd.requires_grad_(True), *params)
        both = torch.autograd.grad(y, (xd, wd), g.to(dtype))
        (x_only,) = torch.autograd.grad(kernel(xd, wd.detach(), *params), (xd,), g.to(dtype))
        (w_only,) = torch.autograd.grad(kernel(xd.detach(), wd, *params), (wd,), g.to(dtype))
    assert y.shape == (B, k * C, H, W)
    assert rel_err(y, expected) < tol
    for a, b in zip((*both, x_only, w_only), (*expected_grads, *expected_grads), strict=True):
        assert rel_err(a, b) < tol


def test_responses_beyond_the_lane_fft_take_the_aten_path():
    """k responses on a grid with a prime factor above the lane FFT's radices (67), plain and padded."""
    for grid in (None, (9, 67)):
        x, w = make((2, 2, 7, 67 if grid is None else 60), (6, 7 if grid is None else 9, 34), True)
        x.requires_grad_(True)
        w.requires_grad_(True)
        g = torch.randn(2, 6, *x.shape[-2:], dtype=torch.float64)
        params = () if grid is None else (list(grid),)
        got = kernel(x, w, *params)
        expected = spectral_filter2d_reference(x, w, grid)
        assert rel_err(got, expected) < 1e-12
        for a, b in zip(torch.autograd.grad(got, (x, w), g), torch.autograd.grad(expected, (x, w), g), strict=True):
            assert rel_err(a, b) < 1e-12


def test_responses_stream_large_outputs():
    """An output larger than the caches takes the streaming stores on each response's planes."""
    x, w = make((4, 8, 128, 128), (24, 128, 65), True)
    with streamed(4 * 24 * 128 * 128 * 8):
        got = kernel(x, w)
    assert rel_err(got, spectral_filter2d_reference(x, w)) < 1e-12


# The saved-spectrum pair: on the CPU the autograd keeps rfft2(x) when the weight needs its gradient and the grid is
# large (_roundtrip_keeps_spectra).
SAVING_GRIDS = {
    "fused": ((3, 5, 12, 10), None),
    "padded": ((3, 5, 9, 7), (12, 10)),
    "aten": ((2, 3, 7, 67), None),  # 67: a prime above the lane FFT's largest radix
    "aten-padded": ((2, 3, 8, 8), (13, 17)),
}


def spectra_reference(x, s=None):
    """_spectral_filter2d_saving's second output: rfft2(x, s) unnormalized, as real [B, C, 2, Wf, H]."""
    return torch.view_as_real(torch.fft.rfft2(x, s=s)).permute(0, 1, 4, 3, 2)


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("complex_weight", [False, True])
@pytest.mark.parametrize("grid", list(SAVING_GRIDS))
def test_saving_forward_and_saved_backward_match_the_reference(isa, dtype, complex_weight, grid):
    """_spectral_filter2d_saving returns the output and x's spectrum; _spectral_filter2d_backward_saved, given that
    spectrum, returns the gradients that _spectral_filter2d_backward computes from x, and the reference's, for every
    output mask (a masked-out gradient is zeros)."""
    shape, s = SAVING_GRIDS[grid]
    gh, gw = s or shape[-2:]
    x, w = make(shape, (shape[1], gh, gw // 2 + 1), complex_weight)
    g = torch.randn(shape, dtype=torch.float64)
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
    expected = torch.autograd.grad(spectral_filter2d_reference(xr, wr, s), (xr, wr), g)
    xd, wd, gd = x.to(dtype), as_dtype(w, dtype), g.to(dtype)
    tol = TOL[dtype] if dtype == torch.float32 else 1e-12
    with cpu_isa(isa):
        y, spectra = torch.ops.specdiff._spectral_filter2d_saving(xd, wd, s)
        assert spectra.shape == (shape[0], shape[1], 2, gw // 2 + 1, gh) and spectra.is_contiguous()
        assert rel_err(y, spectral_filter2d_reference(x, w, s)) < tol
        assert rel_err(spectra, spectra_reference(x, s)) < tol
        for mask in ([True, True], [True, False], [False, True]):
            saved = torch.ops.specdiff._spectral_filter2d_backward_saved(gd, spectra, wd, mask, s)
            plain = torch.ops.specdiff._spectral_filter2d_backward(gd, xd, wd, mask, s)
            for got, other, want, needed in zip(saved, plain, expected, mask, strict=True):
                assert got.shape == want.shape
                if needed:
                    assert rel_err(got, want) < tol and rel_err(other, want) < tol
                else:
                    assert not got.any()


def test_saved_spectra_stream_when_large():
    """Spectra larger than the thread's L2 are written with streaming stores (128 rows: every column of every
    plane starts vector-aligned)."""
    B, C, H, W = 3, 64, 128, 120
    with streamed(B * C * 2 * (W // 2 + 1) * H * 4):
        x, w = make((B, C, H, W), (C, H, W // 2 + 1), True)
        y, spectra = torch.ops.specdiff._spectral_filter2d_saving(x.float(), w.to(torch.complex64))
    assert rel_err(spectra, spectra_reference(x)) < TOL[torch.float32]
    assert rel_err(y, spectral_filter2d_reference(x, w)) < TOL[torch.float32]


def _saving_calls(x, w):
    """How often a forward (and, with a graph, a backward) called the saving pair."""
    with torch.profiler.profile() as prof:
        y = kernel(x, w)
        if y.requires_grad:
            y.sum().backward()
    names = [e.name for e in prof.events()]
    return tuple(names.count(f"specdiff::_spectral_filter2d_{op}") for op in ("saving", "backward_saved"))


@pytest.mark.parametrize("need_x,need_w,grad_mode,responses,size,saves", [
    (True, True, True, 1, 256, True),
    (False, True, True, 1, 256, True),
    (True, False, True, 1, 256, False),  # grad_x needs no spectrum of x
    (True, True, False, 1, 256, False),  # no graph
    (True, True, True, 3, 256, False),   # k responses per channel: the plain backward transforms x once for all k
    (True, True, True, 1, 8, False),     # small planes: transforming x again is cheaper than keeping its spectrum
    (True, True, True, 1, 67, False),    # a grid beyond the lane FFT (ATen's FFT)
])
def test_autograd_keeps_the_spectrum_only_for_the_weight_gradient(need_x, need_w, grad_mode, responses, size, saves):
    """The rule is the C++'s (_roundtrip_keeps_spectra: the plain backward's two half spectra per block of planes
    beyond the L2); 256 x 256 planes exceed any x86 core's L2 and 8 x 8 fit every one."""
    assert torch.ops.specdiff._roundtrip_keeps_spectra(size, size) == (size == 256)
    x, w = make((1, 2, size, size), (2 * responses, size, size // 2 + 1), True)
    x.requires_grad_(need_x)
    w.requires_grad_(need_w)
    with torch.set_grad_enabled(grad_mode):
        assert _saving_calls(x, w) == ((1, 1) if saves else (0, 0))


@pytest.mark.parametrize("shape", [(1, 0, 256, 256), (0, 2, 256, 256), (1, 2, 0, 256)])
def test_autograd_leaves_empty_x_to_the_op_check(shape):
    """The autograd's choice of pair never divides by x's channels: empty x gets the op's own error."""
    w = torch.rand(256, 129, requires_grad=True)
    with pytest.raises(ValueError, match="x must not be empty"):
        kernel(torch.randn(shape), w)


def test_autograd_asks_about_the_transform_grid():
    """With `s` the rule is asked about the grid, not the planes."""
    x, w = make((1, 2, 8, 8), (2, 256, 129), False)
    w.requires_grad_(True)
    with torch.profiler.profile() as prof:
        kernel(x, w, (256, 256)).sum().backward()
    assert [e.name for e in prof.events()].count("specdiff::_spectral_filter2d_saving") == 1


def test_saving_pair_opcheck():
    x, w = make((2, 3, 6, 5), (3, 9, 5), True)
    spectra = torch.ops.specdiff._spectral_filter2d_saving(x, w, (9, 8))[1]
    torch.library.opcheck(torch.ops.specdiff._spectral_filter2d_saving.default, (x, w, (9, 8)))
    torch.library.opcheck(torch.ops.specdiff._spectral_filter2d_backward_saved.default,
                          (torch.randn(2, 3, 6, 5, dtype=torch.float64), spectra, w, [True, True], (9, 8)))


def test_saved_backward_checks_the_spectra():
    x, w = make((2, 3, 8, 8), (3, 8, 5), False)
    spectra = torch.ops.specdiff._spectral_filter2d_saving(x, w)[1]
    with pytest.raises(RuntimeError, match=r"spectra must be _spectral_filter2d_saving's \[2, 3, 2, 5, 8\] Double, "
                                           r"got \[2, 3, 2, 8, 5\]"):
        torch.ops.specdiff._spectral_filter2d_backward_saved(x, spectra.transpose(3, 4), w, [True, True])
    with pytest.raises(RuntimeError, match="one filter per channel"):
        torch.ops.specdiff._spectral_filter2d_saving(x, torch.cat([w, w]))


def test_kept_spectrum_compiles_fullgraph():
    """Under torch.compile the joint graph holds the saving pair (its fakes) and gives eager's gradients."""
    x, w = make((1, 2, 8, 8), (2, 256, 129), True)
    x.requires_grad_(True)
    w.requires_grad_(True)
    fn = lambda x, w: spectral_filter2d(x, w, (256, 256)).square().sum()  # noqa: E731
    torch._dynamo.reset()
    eager = torch.autograd.grad(fn(x, w), (x, w))
    compiled_fn = torch.compile(fn, fullgraph=True)
    torch.autograd.grad(compiled_fn(x, w), (x, w))  # compiled here (the backward lazily), with fake tensors
    with torch.profiler.profile() as prof:
        compiled = torch.autograd.grad(compiled_fn(x, w), (x, w))
    # At least once: a recompile inside the profiled call would add its fake-tensor calls of the same ops.
    names = [e.name for e in prof.events()]
    assert names.count("specdiff::_spectral_filter2d_saving") >= 1
    assert names.count("specdiff::_spectral_filter2d_backward_saved") >= 1
    for a, b in zip(compiled, eager, strict=True):
        assert rel_err(a, b) < 1e-12
