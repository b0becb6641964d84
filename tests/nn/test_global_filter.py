"""Global filters and their blocks: the filter is the circular convolution with its kernel, its spatial
counterpart the zero-padded one with the same taps, resampling keeps local kernels exactly, the resampling
layers start as average pooling and nearest-neighbour upsampling, blocks start as their skip path."""

import pytest
import torch
import torch.nn.functional as F

from specdiff.nn.global_filter import (
    MIXERS,
    Downsample,
    GlobalFilter,
    GlobalFilterBlock,
    Upsample,
    initial_kernel,
    resample_response,
)


def circular_conv(x, kernel):
    """``y[n] = Σ_m k[m] x[n - m]`` on the torus with tap (i, j) at offset (i - kh//2, j - kw//2), by rolls."""
    kh, kw = kernel.shape[-2:]
    y = torch.zeros_like(x)
    for i in range(kh):
        for j in range(kw):
            y += kernel[:, i, j, None, None] * torch.roll(x, (i - kh // 2, j - kw // 2), dims=(-2, -1))
    return y


def set_kernel(layer, kernel):
    """Makes ``layer`` (global or spatial) the filter of ``kernel`` [C k, 3, 3] on its grid."""
    with torch.no_grad():
        if layer.mixer == "global":
            from specdiff.nn.global_filter import _kernel_to_response

            layer.weight.copy_(torch.view_as_real(_kernel_to_response(kernel.double(), *layer.grid)))
        else:
            layer.weight.copy_(kernel.flip(-2, -1).unsqueeze(1))
    return layer


@pytest.mark.parametrize("h, w", [(8, 8), (7, 10), (9, 5)])
def test_global_filter_is_the_circular_convolution_with_its_kernel(h, w):
    gen = torch.Generator().manual_seed(0)
    kernel = initial_kernel(3, "local", gen).double()
    layer = set_kernel(GlobalFilter(3, (h, w)).double(), kernel)
    x = torch.randn(2, 3, h, w, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(layer(x), circular_conv(x, kernel), rtol=1e-12, atol=1e-12)


def test_spatial_counterpart_has_the_same_taps_with_zero_padding():
    gen = torch.Generator().manual_seed(1)
    kernel = initial_kernel(4, "local", gen).double()
    spatial = set_kernel(GlobalFilter(4, (9, 9), mixer="spatial").double(), kernel)
    glob = set_kernel(GlobalFilter(4, (9, 9)).double(), kernel)
    x = torch.randn(2, 4, 9, 9, generator=gen, dtype=torch.float64)
    padded = F.pad(x, (1, 1, 1, 1))
    expected = circular_conv(padded, kernel)[..., 1:-1, 1:-1]  # zero padding, then the same convolution
    torch.testing.assert_close(spatial(x), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(spatial(x)[..., 1:-1, 1:-1], glob(x)[..., 1:-1, 1:-1], rtol=1e-12, atol=1e-12)
    assert (spatial(x) - glob(x)).abs().max() > 1e-3  # the borders differ: circular vs zero padding


@pytest.mark.parametrize("padding", [2, 4])
@pytest.mark.parametrize("size, size_in", [((9, 9), (9, 9)), ((8, 6), (8, 6)), ((8, 8), (12, 10))])
def test_padded_global_filter_is_the_zero_padded_convolution(padding, size, size_in):
    """With padding q >= 1 (the kernel's reach) the global filter is its spatial counterpart exactly, borders
    included, also on inputs of another size (the response carried to their padded grid)."""
    gen = torch.Generator().manual_seed(2)
    kernel = initial_kernel(4, "local", gen).double()
    glob = set_kernel(GlobalFilter(4, size, padding=padding).double(), kernel)
    spatial = set_kernel(GlobalFilter(4, size, mixer="spatial").double(), kernel)
    assert glob.grid == (size[0] + padding, size[1] + padding)
    assert glob.weight.shape == (4, size[0] + padding, (size[1] + padding) // 2 + 1, 2)
    x = torch.randn(2, 4, *size_in, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(glob(x), spatial(x), rtol=1e-12, atol=1e-12)


def test_padded_filter_keeps_taps_up_to_its_padding():
    """A 5x5 kernel (reach 2) with padding 4 is the zero-padded convolution; with padding 1 the taps at distance 2
    wrap around inside the padded grid and it is not."""
    gen = torch.Generator().manual_seed(3)
    kernel = torch.randn(2, 5, 5, generator=gen, dtype=torch.float64)
    x = torch.randn(1, 2, 8, 8, generator=gen, dtype=torch.float64)
    expected = F.conv2d(x, kernel.flip(-2, -1).unsqueeze(1), padding=2, groups=2)
    from specdiff.nn.global_filter import _kernel_to_response

    for padding, exact in ((4, True), (1, False)):
        layer = GlobalFilter(2, (8, 8), padding=padding).double()
        with torch.no_grad():
            layer.weight.copy_(torch.view_as_real(_kernel_to_response(kernel, *layer.grid)))
        assert torch.allclose(layer(x), expected, rtol=0, atol=1e-12) == exact


@pytest.mark.parametrize("mixer", ["global", "spatial"])
def test_a_multiplier_gives_every_channel_its_own_filters(mixer):
    """Output channel c k + j is channel c through filter j of c: the same filter as a layer of k C channels
    applied to each channel repeated k times."""
    gen = torch.Generator().manual_seed(5)
    kernel = initial_kernel(6, "local", gen).double()
    layer = set_kernel(GlobalFilter(2, (8, 7), mixer=mixer, multiplier=3).double(), kernel)
    wide = set_kernel(GlobalFilter(6, (8, 7), mixer=mixer).double(), kernel)
    x = torch.randn(2, 2, 8, 7, generator=gen, dtype=torch.float64)
    assert layer.out_channels == 6 and layer.weight.shape[0] == 6
    torch.testing.assert_close(layer(x), wide(x.repeat_interleave(3, dim=1)), rtol=1e-12, atol=1e-12)
    if mixer == "global":
        torch.testing.assert_close(layer(x)[:, 4], circular_conv(x[:, 1:2], kernel[4:5])[:, 0], rtol=1e-12,
                                   atol=1e-12)


def test_identity_mixer_has_no_parameters_and_returns_its_input():
    layer = GlobalFilter(5, (8, 8), mixer="identity")
    x = torch.randn(1, 5, 8, 8)
    assert list(layer.parameters()) == [] and layer(x) is x
    copies = GlobalFilter(5, (8, 8), mixer="identity", multiplier=2)
    torch.testing.assert_close(copies(x), x.repeat_interleave(2, dim=1), rtol=0, atol=0)


@pytest.mark.parametrize("new", [(8, 8), (12, 10), (5, 7), (3, 3), (16, 9)])
def test_resampling_keeps_a_local_kernel_exactly(new):
    """A 3x3 kernel fits every grid from 3x3 up, so its response on the new grid is exactly the new grid's
    response of the same taps, whether the grid grows or shrinks, at odd and even sizes."""
    from specdiff.nn.global_filter import _kernel_to_response

    kernel = initial_kernel(2, "local", torch.Generator().manual_seed(2)).double()
    response = _kernel_to_response(kernel, 8, 8)
    torch.testing.assert_close(resample_response(response, (8, 8), new), _kernel_to_response(kernel, *new),
                               rtol=1e-12, atol=1e-12)


def test_resampling_at_the_same_size_is_the_identity_and_a_smaller_grid_crops_the_kernel():
    gen = torch.Generator().manual_seed(3)
    response = torch.randn(2, 8, 5, dtype=torch.complex128, generator=gen)
    assert resample_response(response, (8, 8), (8, 8)) is response
    kernel = torch.fft.irfft2(response, s=(8, 8))
    small = torch.fft.irfft2(resample_response(response, (8, 8), (4, 4)), s=(4, 4))
    rows, cols = torch.tensor([0, 1, -2, -1]), torch.tensor([0, 1, -2, -1])  # offsets -2..1 about the origin
    torch.testing.assert_close(small[:, rows[:, None] % 4, cols % 4], kernel[:, rows[:, None] % 8, cols % 8],
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mixer, padding", [("global", 0), ("global", 4), ("spatial", 0)])
def test_resampling_layers_start_as_average_pooling_and_nearest_upsampling(mixer, padding):
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 8, 6, generator=gen, dtype=torch.float64)
    down = Downsample(3, (8, 6), mixer, padding).double()
    up = Upsample(3, (16, 12), mixer, padding).double()
    # The parameters are float32 (a global response is rounded there), hence the float32-level tolerance.
    torch.testing.assert_close(down(x), F.avg_pool2d(x, 2), rtol=0, atol=1e-6)
    torch.testing.assert_close(up(x), F.interpolate(x, scale_factor=2.0, mode="nearest"), rtol=0, atol=1e-6)


def test_identity_resampling_is_decimation_and_zero_insertion():
    x = torch.randn(1, 2, 4, 4)
    torch.testing.assert_close(Downsample(2, (4, 4), "identity")(x), x[..., ::2, ::2], rtol=0, atol=0)
    up = Upsample(2, (8, 8), "identity")(x)
    assert up[..., 1::2, :].abs().max() == 0 and up[..., ::2, 1::2].abs().max() == 0
    torch.testing.assert_close(up[..., ::2, ::2], x, rtol=0, atol=0)


@pytest.mark.parametrize("mixer", MIXERS)
@pytest.mark.parametrize("k, padding", [(1, 0), (2, 0), (2, 4)])
def test_block_starts_as_its_skip_path_and_then_depends_on_every_part(mixer, k, padding):
    torch.manual_seed(0)
    block = GlobalFilterBlock(4, 6, 8, (8, 8), mixer, filters_per_channel=k, filter_padding=padding)
    assert (block.proj1.in_channels, block.proj2.in_channels) == (4 * k, 6 * k)
    x, emb = torch.randn(2, 4, 8, 8), torch.randn(2, 8)
    torch.testing.assert_close(block(x, emb), block.skip(x), rtol=0, atol=0)
    with torch.no_grad():
        block.proj2.weight.normal_()
    out = block(x, emb)
    assert not torch.allclose(out, block.skip(x))
    assert not torch.allclose(out, block(x, torch.randn(2, 8)))  # the time embedding enters


def test_complex_parameters_are_stored_as_real_tensors():
    layer = GlobalFilter(3, (6, 8))
    assert layer.weight.dtype == torch.float32 and layer.weight.shape == (3, 6, 5, 2)
    assert layer.response(6, 8).dtype == torch.complex64
    assert layer.response(6, 8, torch.float64).dtype == torch.complex128


def test_bad_arguments_raise_clearly():
    with pytest.raises(ValueError, match="mixer must be one of 'global', 'spatial', 'identity', got 'fourier'"):
        GlobalFilter(2, (4, 4), mixer="fourier")
    with pytest.raises(ValueError, match="init must be 'local', 'down' or 'up', got 'box'"):
        GlobalFilter(2, (4, 4), init="box")
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match=f"multiplier must be a positive int, got {bad!r}"):
            GlobalFilter(2, (4, 4), multiplier=bad)
    for bad in (-1, 2.0, True):
        with pytest.raises(ValueError, match=rf"^filter padding must be an int >= 0 \(0: circular filters\), "
                                             rf"got {bad!r}$"):
            GlobalFilter(2, (4, 4), padding=bad)


def test_padding_shows_in_the_repr():
    assert "padding=4" in repr(GlobalFilter(2, (4, 4), padding=4))
    assert "padding" not in repr(GlobalFilter(2, (4, 4)))
