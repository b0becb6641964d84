"""Convolutions computed in frequency with learned bases (``mixer="basis"``): the layer starts as ``nn.Conv2d``,
SpectralUNet and SpectralUNetDeep with their initial bases compute TinyUNet exactly, the bases learn, other input
sizes carry the bases through their kernels, the Fourier units (FFC's global branch) match a NumPy transcription and
sit where ``fourier_levels`` says, bad arguments raise clearly."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nnutil import RecordOps, needs_kernels, perturb_

from specdiff.nn import SpectralUNet, SpectralUNetDeep, TinyUNet
from specdiff.nn.spectral_conv import BASES, FourierUnit, SpectralConv, SpectralConvBlock, shift_bases


def as_conv(layer: SpectralConv) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``nn.Conv2d`` weight and bias a SpectralConv with shift bases computes."""
    weight = layer.taps.detach().reshape(3, 3, layer.out_channels, layer.in_channels).permute(2, 3, 0, 1)
    return weight, layer.bias.detach()


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", [1, 4])
def test_starts_as_a_zero_padded_3x3_convolution(stride, padding):
    torch.manual_seed(0)
    layer = perturb_(SpectralConv(5, 7, (12, 10), padding=padding, stride=stride), seed=1)
    with torch.no_grad():  # the perturbation moved the bases too: put them back at the shifts
        layer.basis.copy_(torch.view_as_real(shift_bases(*layer.grid).to(torch.complex64)))
    x = torch.randn(2, 5, 12, 10)
    weight, bias = as_conv(layer)
    torch.testing.assert_close(layer(x), F.conv2d(x, weight, bias, stride=stride, padding=1), rtol=1e-5, atol=1e-5)


def test_initialisation_is_nn_conv2ds():
    """The taps have ``nn.Conv2d``'s default scale (uniform within 1 / sqrt(9 C_in)), the bases are the shifts."""
    torch.manual_seed(0)
    layer = SpectralConv(16, 8, (8, 8), padding=4)
    bound = 1 / (9 * 16) ** 0.5
    assert layer.taps.shape == (BASES, 8, 16) and layer.taps.abs().max() <= bound
    assert layer.taps.std() > 0.5 * bound / 3**0.5  # uniform, not a narrower distribution
    torch.testing.assert_close(torch.view_as_complex(layer.basis.detach()), shift_bases(12, 12).to(torch.complex64))


def test_block_starts_as_its_skip_path():
    block = SpectralConvBlock(4, 6, 8, (8, 8))
    x = torch.randn(2, 4, 8, 8)
    torch.testing.assert_close(block(x, torch.randn(2, 8)), block.skip(x))


def _copy_tiny_unet_into(spectral: torch.nn.Module, tiny: TinyUNet) -> None:
    """Loads TinyUNet's weights into the basis model of the same layout: each 3x3 convolution's weight into its
    SpectralConv's taps, the 1x1 skip convolutions into the Pointwise layers, everything else by name."""
    state = dict(spectral.state_dict())
    for name, tensor in tiny.state_dict().items():
        if name in state and state[name].shape == tensor.shape:
            state[name] = tensor
            continue
        prefix, _, leaf = name.rpartition(".")
        prefix = prefix.replace("upsample.0", "upsample.0.conv").replace("upsample.1", "upsample.1.conv")
        if leaf == "weight" and tensor.dim() == 4 and tensor.shape[-1] == 3:
            state[f"{prefix}.taps"] = tensor.permute(2, 3, 0, 1).reshape(BASES, *tensor.shape[:2])
        elif leaf == "weight" and tensor.dim() == 4:
            state[f"{prefix}.weight"] = tensor[:, :, 0, 0]
        else:
            state[f"{prefix}.{leaf}"] = tensor
    spectral.load_state_dict(state)


@needs_kernels
@pytest.mark.parametrize("cls,mults", [(SpectralUNet, (1, 2)), (SpectralUNetDeep, (1, 2, 2))])
def test_initial_bases_compute_tiny_unet(cls, mults):
    """With the shift bases, the basis model is TinyUNet with its convolutions computed in frequency (zero-padded):
    loaded with a perturbed TinyUNet's weights it gives TinyUNet's output."""
    torch.manual_seed(0)
    tiny = perturb_(TinyUNet(in_channels=2, base_channels=8, channel_mults=mults, num_res_blocks=1,
                             time_embed_dim=16), seed=3)
    spectral = cls(in_channels=2, base_channels=8, channel_mults=mults, num_res_blocks=1, time_embed_dim=16,
                   image_size=16, mixer="basis", filter_padding=4)
    _copy_tiny_unet_into(spectral, tiny)
    x, t = torch.randn(3, 2, 16, 16), torch.tensor([3, 300, 900])
    want = tiny(x, t)
    assert want.abs().max() > 1e-2
    torch.testing.assert_close(spectral(x, t), want, rtol=1e-4, atol=1e-4)


@needs_kernels
def test_every_spectral_layer_runs_as_the_fused_op_and_the_bases_learn():
    torch.manual_seed(0)
    model = perturb_(SpectralUNet(in_channels=1, base_channels=8, channel_mults=(1, 2), time_embed_dim=16,
                                  image_size=16, mixer="basis", filter_padding=4))  # no zero taps: every basis learns
    layers = [m for m in model.modules() if isinstance(m, SpectralConv)]
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([10, 500])
    with RecordOps() as rec:
        loss = model(x, t).square().mean()
    # The bases and taps need their gradient, so each layer runs as the forward that keeps x's spectra.
    assert rec.names.count("specdiff::_spectral_conv2d_saving") == len(layers) > 10
    assert "specdiff::spectral_conv2d" not in rec.names
    assert not any(n == "aten::conv2d" for n in rec.names)
    with RecordOps() as rec:
        loss.backward()
    assert rec.names.count("specdiff::_spectral_conv2d_backward_saved") == len(layers)
    assert all(layer.basis.grad is not None and layer.basis.grad.abs().max() > 0 for layer in layers)


@needs_kernels
def test_other_input_sizes_use_the_bases_carried_through_their_kernels():
    """Bases learned on 16x16 applied to 12x12 inputs: still the same convolution while the kernels are the
    shifts."""
    torch.manual_seed(0)
    layer = SpectralConv(3, 4, (16, 16), padding=4)
    x = torch.randn(2, 3, 12, 12)
    weight, bias = as_conv(layer)
    torch.testing.assert_close(layer(x), F.conv2d(x, weight, bias, padding=1), rtol=1e-5, atol=1e-5)


def _fourier_unit_numpy(unit: FourierUnit, x: np.ndarray) -> np.ndarray:
    """The unit written out in NumPy (float64): the half spectrum's parts stacked, the two 1x1 convolutions as
    matrix products, GroupNorm (biased variance over each group's channels and bins) and ReLU, the inverse."""
    def params(t):
        return t.detach().double().numpy()

    def conv1x1(conv, z):
        return np.einsum("oc,bchw->bohw", params(conv.weight)[:, :, 0, 0], z) + params(conv.bias)[:, None, None]

    b, _, h, w = x.shape
    spec = np.fft.rfft2(x, norm="ortho")
    z = conv1x1(unit.project, np.concatenate([spec.real, spec.imag], axis=1))
    groups = unit.norm.num_groups
    g = z.reshape(b, groups, -1)
    g = (g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + unit.norm.eps)
    z = g.reshape(z.shape) * params(unit.norm.weight)[:, None, None] + params(unit.norm.bias)[:, None, None]
    z = np.maximum(z, 0.0)
    z = conv1x1(unit.mix, z)
    half = z.shape[1] // 2
    return np.fft.irfft2(z[:, :half] + 1j * z[:, half:], s=(h, w), norm="ortho")


@pytest.mark.parametrize("h, w", [(8, 8), (6, 9)])
def test_fourier_unit_matches_its_numpy_transcription(h, w):
    torch.manual_seed(0)
    unit = perturb_(FourierUnit(3, 5), seed=2).double()
    x = torch.randn(2, 3, h, w, dtype=torch.float64)
    y = unit(x)
    assert y.shape == (2, 5, h, w) and y.dtype == torch.float64 and y.abs().max() > 1e-3
    np.testing.assert_allclose(y.detach().numpy(), _fourier_unit_numpy(unit, x.numpy()), rtol=1e-10, atol=1e-12)


def test_fourier_unit_starts_as_nothing_and_is_not_linear():
    torch.manual_seed(0)
    unit = FourierUnit(4, 4)
    x = torch.randn(2, 4, 8, 8)
    assert torch.equal(unit(x), torch.zeros_like(x))
    perturb_(unit, seed=1)
    # Linear in frequency it would be additive over inputs; the ReLU between the two mixings is not.
    a, b = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    assert (unit(a + b) - unit(a) - unit(b)).abs().max() > 1e-2


def test_a_blocks_fourier_unit_is_drawn_after_its_other_layers():
    torch.manual_seed(0)
    plain = SpectralConvBlock(4, 6, 8, (8, 8)).state_dict()
    torch.manual_seed(0)
    with_unit = SpectralConvBlock(4, 6, 8, (8, 8), fourier=True).state_dict()
    assert set(with_unit) - set(plain) == {f"fourier.{k}" for k in FourierUnit(4, 6).state_dict()}
    assert all(torch.equal(plain[k], with_unit[k]) for k in plain)


@pytest.mark.parametrize("cls, mults, fourier_levels, expected", [
    (SpectralUNet, (1, 2), 0, []),
    (SpectralUNet, (1, 2), 1, [8, 8, 8, 8]),  # the coarsest level's blocks, down, middle and up: 8x8 grids
    (SpectralUNet, (1, 2), 2, [16, 8, 8, 8, 8, 16, 16]),
    (SpectralUNetDeep, (1, 2, 2), 1, [4, 4, 4, 4]),
])
def test_fourier_levels_put_units_in_the_coarsest_levels_blocks(cls, mults, fourier_levels, expected):
    model = cls(in_channels=1, base_channels=4, channel_mults=mults, num_res_blocks=1, time_embed_dim=8,
                image_size=16, fourier_levels=fourier_levels)
    blocks = [m for m in model.modules() if isinstance(m, SpectralConvBlock)]
    assert [b.conv1.size[0] for b in blocks if b.fourier is not None] == expected
    assert all((b.fourier is None) == (b.conv1.size[0] not in expected) for b in blocks)


@needs_kernels
def test_fourier_units_start_as_the_model_without_them_and_learn():
    """Zero-initialised, the units add exactly nothing: the model with them, loaded with the other's weights,
    gives its output bit for bit; one backward reaches every unit's last convolution."""
    torch.manual_seed(0)
    plain = perturb_(SpectralUNet(in_channels=1, base_channels=4, time_embed_dim=8, image_size=16), seed=1)
    model = SpectralUNet(in_channels=1, base_channels=4, time_embed_dim=8, image_size=16, fourier_levels=1)
    missing, unexpected = model.load_state_dict(plain.state_dict(), strict=False)
    assert unexpected == [] and missing and all(".fourier." in k for k in missing)
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([5, 700])
    y = model(x, t)
    assert torch.equal(y, plain(x, t))
    y.square().mean().backward()
    units = [m for m in model.modules() if isinstance(m, FourierUnit)]
    assert len(units) == 4 and all(u.mix.weight.grad.abs().max() > 0 for u in units)


def test_bad_arguments_raise_clearly():
    for bad in (-1, 3, 1.0):
        with pytest.raises(ValueError, match=rf"^fourier_levels must be an int in \[0, 2\] .*got {bad!r}$"):
            SpectralUNet(fourier_levels=bad)
    with pytest.raises(ValueError, match="^fourier_levels needs mixer='basis' .*got mixer 'global'$"):
        SpectralUNet(mixer="global", fourier_levels=1)
    with pytest.raises(ValueError, match="^filters_per_channel must be 1 with mixer='basis'"):
        SpectralUNet(mixer="basis", filters_per_channel=3)
    with pytest.raises(ValueError, match="^mixer must be one of 'global', 'spatial', 'identity', 'basis', got 'x'"):
        SpectralUNet(mixer="x")
    with pytest.raises(ValueError, match="^stride must be 1 or 2, got 3"):
        SpectralConv(2, 2, (8, 8), stride=3)
