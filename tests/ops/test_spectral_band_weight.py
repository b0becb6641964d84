"""spectral_band_weight: in-kernel analytic band on a half spectrum, vs the reference."""

import math

import numpy as np
import pytest
import torch
from optester import OpTester
from oputil import (
    SIZES,
    TOL,
    band_args,
    band_bad,
    band_op_spec,
    cpu_isa,
    cpu_isas,
    needs_cpu_kernels,
    rel_err,
    streamed,
)

from specdiff import extension
from specdiff.ops import frequency_radius, spectral_band_weight, spectral_band_weight_reference

pytestmark = needs_cpu_kernels


def spectrum(B, C, H, W, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.fft.rfft2(torch.randn(B, C, H, W, generator=gen, dtype=dtype), norm="ortho")


def bad(error, message, spec=None, width=4, **band):
    spec = torch.ones(2, 1, 4, 3, dtype=torch.complex64) if spec is None else spec
    return band_bad(spec, error, message, extra=(width,), **band)


class TestSpectralBandWeight(OpTester):
    spec = band_op_spec(
        "spectral_band_weight", spectral_band_weight, spectral_band_weight_reference,
        heights=(1, 2, 5, 16, 17, 33), widths=SIZES,
        first=lambda gen, b, c, h, w: (
            torch.fft.rfft2(torch.randn(b, c, h, w, generator=gen, dtype=torch.float64), norm="ortho"), (w,)),
        bad_inputs={
            "spec-real": bad(TypeError, "spec must be a complex64/complex128", spec=torch.ones(1, 1, 4, 3)),
            "spec-rank": bad(TypeError, "spec must be a complex64/complex128",
                             spec=torch.ones(1, 4, 3, dtype=torch.complex64)),
            "width": bad(ValueError, "width=8 does not fit spec with 3 columns", width=8),
            "kind": bad(ValueError, "kind must be one of 'radial', 'bandpass'", kind="gaussian"),
            "temperature": bad(ValueError, "temperature must be a finite number > 0", temperature=0.0),
            "inner-shape": bad(ValueError, "inner must be a number, a 0-d tensor or of shape [B] = [2]",
                               inner=torch.zeros(3)),
            "gain-integer": bad(TypeError, "gain must be a floating-point tensor",
                                gain=torch.ones(2, dtype=torch.int64)),
            "outer-string": bad(TypeError, "outer must be a number or a tensor", outer="wide"),
        },
    )


def test_frequency_radius_uses_the_fft_bins():
    rho = frequency_radius(6, 7, dtype=torch.float64)
    fy, fx = np.fft.fftfreq(6), np.fft.rfftfreq(7)
    expected = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2) / math.sqrt(0.5)
    assert np.allclose(rho.numpy(), expected, atol=1e-15)
    assert rho[0, 0] == 0 and rho.max() <= 1


def test_radial_band_is_rho_times_gain_in_the_kernel():
    spec = torch.ones(1, 1, 6, 4, dtype=torch.complex128)
    out = torch.ops.specdiff.spectral_band_weight(spec, *band_args(1, False), 5.0, 7, "radial")
    assert torch.allclose(out.real[0, 0], 1.3 * frequency_radius(6, 7, dtype=torch.float64), atol=1e-14)



def _grads_vs_reference(spec, params, temperature, width, tol):
    """Kernel gradients (spectrum, inner, outer, gain) at spec's precision against the float64 reference's."""
    real = torch.float32 if spec.dtype == torch.complex64 else torch.float64
    s = spec.detach().requires_grad_(True)
    p = [t.detach().to(real).requires_grad_(True) for t in params]
    s64 = spec.detach().to(torch.complex128).requires_grad_(True)
    p64 = [t.detach().double().requires_grad_(True) for t in params]
    gen = torch.Generator().manual_seed(1)
    g = torch.randn(spec.shape, generator=gen, dtype=torch.complex128)
    out = torch.ops.specdiff.spectral_band_weight(s, *p, temperature, width, "bandpass")
    ref = spectral_band_weight_reference(s64, *p64, temperature, width, "bandpass")
    assert rel_err(out, ref) < tol
    got = torch.autograd.grad(out, (s, *p), g.to(spec.dtype))
    want = torch.autograd.grad(ref, (s64, *p64), g)
    for a, b in zip(got, want, strict=True):
        assert rel_err(a, b) < tol


@pytest.mark.parametrize("per_sample", [False, True])
def test_band_gradients_over_many_planes(per_sample):
    # 3 x 70 planes: the parameters' sums run over the planes of one sample (over all samples when the band is
    # shared), split between threads.
    _grads_vs_reference(spectrum(3, 70, 5, 6), band_args(3, per_sample), 6.0, 6, 1e-12)


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_band_gradients_of_mixed_parameters_at_any_thread_count(threads):
    # inner per sample, outer and gain shared: the band differs between samples, so the sums are kept per (thread,
    # sample) and a shared parameter's gradient adds every sample's; 4 threads split 3 x 70 planes inside samples.
    inner = 0.2 + torch.linspace(0, 0.1, 3, dtype=torch.float64)
    params = (inner, torch.tensor(0.6, dtype=torch.float64), torch.tensor(1.3, dtype=torch.float64))
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        _grads_vs_reference(spectrum(3, 70, 5, 6), params, 6.0, 6, 1e-12)
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_band_gradients_without_the_spectrum_gradient(dtype):
    # Only the band's parameters need gradients: the backward writes no spectrum gradient, it only sums.
    cdtype = torch.complex64 if dtype == torch.float32 else torch.complex128
    spec = spectrum(3, 5, 17, 40)
    params = band_args(3, per_sample=True, requires_grad=True)
    g = torch.randn(spec.shape, generator=torch.Generator().manual_seed(2), dtype=spec.dtype)
    want = torch.autograd.grad(spectral_band_weight_reference(spec, *params, 6.0, 40, "bandpass"), params, g)
    p = [t.detach().to(dtype).requires_grad_(True) for t in params]
    out = torch.ops.specdiff.spectral_band_weight(spec.to(cdtype), *p, 6.0, 40, "bandpass")
    got = torch.autograd.grad(out, p, g.to(cdtype))
    for a, b in zip(got, want, strict=True):
        assert rel_err(a, b) < TOL[dtype]


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("per_sample", [False, True])
def test_band_sums_on_every_isa(per_sample, dtype, isa):
    # The parameters' sums run in registers over blocks of 64 vectors per lane, then into double vectors, reduced
    # across lanes when a run of planes ends: 40 planes of 16 x 14 bins (448 interleaved values: on every ISA a
    # plane's vector count and the 64-vector block divide neither each other) make runs of several blocks that end
    # inside a plane; a shared band makes one run per thread.
    real = torch.float32 if dtype == torch.complex64 else torch.float64
    spec = spectrum(3, 40, 16, 26).to(dtype)
    assert not extension.band_planes_in_pairs(spec[0, 0].nbytes, 3)  # one plane after another
    with cpu_isa(isa):
        _grads_vs_reference(spec, band_args(3, per_sample), 7.0, 26, TOL[real])


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("spectrum_grad", [True, False])
def test_planes_in_pairs_on_every_isa(spectrum_grad, dtype, isa):
    # Where a plane is a whole number of vectors (64 x 64 bins: 8192 values) and its three derivative tables do not fit
    # the L1 (96 KiB of them at float32, more than any x86 core's L1d), the backward reads each vector of the tables
    # once for two planes: a sample's 65 planes are 32 pairs and one plane alone. Streamed (outputs larger than one
    # thread's L2), with the spectrum's gradient and without it (the sums only).
    real = torch.float32 if dtype == torch.complex64 else torch.float64
    spec = spectrum(2, 65, 64, 126).to(dtype)
    assert extension.band_planes_in_pairs(spec[0, 0].nbytes, 3), (spec[0, 0].nbytes, extension.cpu_caches())
    params = band_args(2, per_sample=True)
    if spectrum_grad:
        with cpu_isa(isa), streamed(spec.nbytes):
            _grads_vs_reference(spec, params, 9.0, 126, TOL[real])
        return
    g = torch.randn(spec.shape, generator=torch.Generator().manual_seed(4), dtype=torch.complex128)
    p64 = [t.detach().requires_grad_(True) for t in params]
    want = torch.autograd.grad(spectral_band_weight_reference(spec.to(torch.complex128), *p64, 9.0, 126, "bandpass"),
                               p64, g)
    p = [t.detach().to(real).requires_grad_(True) for t in params]
    with cpu_isa(isa):
        got = torch.autograd.grad(torch.ops.specdiff.spectral_band_weight(spec, *p, 9.0, 126, "bandpass"), p,
                                  g.to(dtype))
    for a, b in zip(got, want, strict=True):
        assert rel_err(a, b) < TOL[real]


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_forward_planes_in_pairs_on_every_isa(dtype, isa):
    # A plane whose table does not fit the L1 (128 x 65 bins: 16640 values, 65 KiB at float32, more than any x86
    # core's L1d) is weighted two planes per loaded vector of the table: 3 planes are a pair and one plane alone.
    spec = spectrum(1, 3, 128, 128).to(dtype)
    assert extension.band_planes_in_pairs(spec[0, 0].nbytes, 1), (spec[0, 0].nbytes, extension.cpu_caches())
    real = torch.float32 if dtype == torch.complex64 else torch.float64
    params = [t.to(real) for t in band_args(1, per_sample=True)]
    with cpu_isa(isa):
        out = torch.ops.specdiff.spectral_band_weight(spec, *params, 9.0, 128, "bandpass")
    ref = spectral_band_weight_reference(spec.to(torch.complex128), *[t.double() for t in params], 9.0, 128,
                                         "bandpass")
    assert rel_err(out, ref) < TOL[real]


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("kind", ["radial", "bandpass"])
@pytest.mark.parametrize("height", [1, 2, 7, 16])
def test_band_tables_on_every_isa(height, kind, isa):
    # Each ISA builds the band's tables from rows 0..H/2 and writes the other rows (H - h) and both values of each
    # bin in one pass: odd and even heights, both kinds, with the derivative tables (the parameters' gradients).
    spec = spectrum(2, 3, height, 9)
    params = band_args(2, per_sample=True)
    s = spec.detach().requires_grad_(True)
    p = [t.detach().requires_grad_(True) for t in params]
    g = torch.randn(spec.shape, generator=torch.Generator().manual_seed(3), dtype=spec.dtype)
    with cpu_isa(isa):
        out = torch.ops.specdiff.spectral_band_weight(s, *p, 8.0, 9, kind)
        got = torch.autograd.grad(out, (s, *p), g)
    ref = spectral_band_weight_reference(s, *p, 8.0, 9, kind)
    # A radial band does not depend on inner and outer: the reference leaves them out of its graph.
    want = torch.autograd.grad(ref, (s, *p), g, allow_unused=True, materialize_grads=True)
    assert rel_err(out, ref) < 1e-13
    for a, b in zip(got, want, strict=True):
        assert rel_err(a, b) < 1e-12


@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_large_outputs_take_the_streaming_path(dtype, isa):
    # Outputs larger than the threads' L2s are written with streaming stores (each ISA has its own); 129 x 67 planes
    # start off the vector alignment, so the scalar ends run too.
    B = 2 if dtype == torch.complex64 else 1
    spec = spectrum(B, 64, 129, 133).to(dtype)
    with cpu_isa(isa), streamed(spec.nbytes):
        _grads_vs_reference(spec, band_args(B, True), 9.0, 133, TOL[torch.float32 if B == 2 else torch.float64])
