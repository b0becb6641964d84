"""Convolutions computed in frequency with learned bases (``mixer="basis"``): the layer starts as ``nn.Conv2d``,
SpectralUNet and SpectralUNetDeep with their initial bases compute TinyUNet exactly, the bases learn, other input
sizes carry the bases through their kernels, bad arguments raise clearly."""

import pytest
import torch
import torch.nn.functional as F
from nnutil import RecordOps, needs_kernels, perturb_

from specdiff.nn import SpectralUNet, SpectralUNetDeep, TinyUNet
from specdiff.nn.spectral_conv import BASES, SpectralConv, SpectralConvBlock, shift_bases


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


def test_bad_arguments_raise_clearly():
    with pytest.raises(ValueError, match="^filters_per_channel must be 1 with mixer='basis'"):
        SpectralUNet(mixer="basis", filters_per_channel=3)
    with pytest.raises(ValueError, match="^mixer must be one of 'global', 'spatial', 'identity', 'basis', got 'x'"):
        SpectralUNet(mixer="x")
    with pytest.raises(ValueError, match="^stride must be 1 or 2, got 3"):
        SpectralConv(2, 2, (8, 8), stride=3)
