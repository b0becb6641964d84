"""scripts/frequency_conv_experiment.py: its layer is the convolution it replaces, its model starts as TinyUNet."""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from frequency_conv_experiment import FrequencyConv, FrequencyConvUNet  # noqa: E402

from specdiff.nn.tiny_unet import TinyUNet  # noqa: E402


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [(8, 8), (6, 10)])
def test_layer_is_the_zero_padded_convolution(stride, size):
    conv = nn.Conv2d(3, 5, 3, stride=stride, padding=1).double()
    layer = FrequencyConv(conv, size)
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    assert torch.allclose(layer(x), conv(x), atol=1e-12)


def test_no_padding_is_the_circular_convolution():
    # Without a margin the layer wraps around the border, unlike the zero-padded convolution: it equals the
    # convolution of the circularly padded input.
    conv = nn.Conv2d(1, 1, 3, padding=1).double()
    x = torch.randn(1, 1, 6, 6, dtype=torch.float64)
    layer = FrequencyConv(conv, (6, 6), padding=0)
    circular = nn.functional.conv2d(nn.functional.pad(x, (1, 1, 1, 1), mode="circular"), conv.weight, conv.bias)
    assert torch.allclose(layer(x), circular, atol=1e-12)
    assert not torch.allclose(layer(x), conv(x), atol=1e-3)


def test_model_starts_as_the_tiny_unet_it_replaces():
    args = dict(in_channels=1, base_channels=8, channel_mults=(1, 2), num_res_blocks=1, time_embed_dim=16)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # both models built in float64, the bases too
    try:
        torch.manual_seed(0)
        tiny = TinyUNet(**args)
        torch.manual_seed(0)
        model = FrequencyConvUNet(image_size=16, **args)
    finally:
        torch.set_default_dtype(previous)
    with torch.no_grad():  # the second convolutions start at zero: give both models the same nonzero taps
        for name, conv in tiny.named_modules():
            if name.endswith("conv2"):
                conv.weight.normal_(0.0, 0.1)
                taps = conv.weight.permute(2, 3, 0, 1).reshape(9, *conv.weight.shape[:2])
                model.net.get_submodule(name).taps.copy_(taps)
    x, t = torch.randn(2, 1, 16, 16, dtype=torch.float64), torch.tensor([3, 700])
    assert torch.allclose(model(x, t), tiny(x, t), atol=1e-10)
    assert not any(isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) for m in model.modules())
