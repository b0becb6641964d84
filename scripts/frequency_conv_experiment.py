"""The experiment behind docs/spectral_models.md's "Convolutions computed in frequency, with learned global bases".

Run as a script, it registers ``frequency_conv_unet``: TinyUNet with every 3x3 convolution replaced by
:class:`FrequencyConv`, the per-bin channel mixing ``Y(f) = M(f) X(f)`` with ``M(f) = sum_j G_j(f) A_j`` on a grid
``padding`` pixels larger than the input (a zero-padded convolution). The nine bases ``G_j`` start as the responses
of a 3x3 kernel's unit shifts and ``A_j`` as the replaced convolution's taps, so the model starts as exactly the
TinyUNet it was built from; with ``learn_basis`` the bases are learned global filters shared by every channel pair
of the layer. The layer is a composite of ATen ops (``rfft2``, two ``einsum``, ``irfft2``), about 4x TinyUNet's step
time: compare models at a fixed number of steps, not seconds. Then runs the ``specdiff`` command line with the model
registered:

    python scripts/frequency_conv_experiment.py bench quality --config-dir DIR --model tiny_unet_uc \\
        --model frequency_conv_unet --dataset piecewise --seconds 100000 --seeds 2 --fractions 1

with DIR holding ``configs/quality/ablation/tiny_unet_uc_<dataset>.yaml`` as ``tiny_unet_uc_<dataset>.yaml`` and a
copy naming ``model.name: frequency_conv_unet`` (plus ``image_size: 32``) as ``frequency_conv_unet_<dataset>.yaml``,
both with ``training.steps`` set (1100 on piecewise, 1300 on photos in the docs).
"""

from __future__ import annotations

import sys

import torch
from torch import Tensor, nn

from specdiff.nn import registry
from specdiff.nn.global_filter import _kernel_to_response
from specdiff.nn.tiny_unet import TinyUNet


class FrequencyConv(nn.Module):
    """A 3x3 convolution (stride 1 or 2, padding 1) computed in frequency, its shift responses learnable."""

    def __init__(self, conv: nn.Conv2d, size: tuple[int, int], padding: int = 4, learn_basis: bool = True):
        super().__init__()
        c_out, c_in, kh, kw = conv.weight.shape
        if (kh, kw) != (3, 3) or conv.groups != 1 or conv.padding != (1, 1):
            raise ValueError(f"FrequencyConv replaces 3x3 convolutions with padding 1, got {conv}")
        self.stride = conv.stride[0]
        self.grid = (size[0] + padding, size[1] + padding)
        # Basis j = 3 i + j' is tap (i, j')'s shift. F.conv2d correlates, so the convolution kernel of a tap is the
        # flipped one-hot (as GlobalFilter's spatial mixer flips its taps).
        one_hot = torch.eye(9, dtype=conv.weight.dtype).view(9, 3, 3).flip(-2, -1)
        self.basis = nn.Parameter(torch.view_as_real(_kernel_to_response(one_hot, *self.grid)).contiguous(),
                                  requires_grad=learn_basis)
        self.taps = nn.Parameter(conv.weight.detach().permute(2, 3, 0, 1).reshape(9, c_out, c_in).clone())
        self.bias = nn.Parameter(conv.bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        basis = torch.view_as_complex(self.basis)
        mixing = torch.einsum("jhw,joc->hwoc", basis, self.taps.to(basis.dtype))
        spectrum = torch.einsum("bchw,hwoc->bohw", torch.fft.rfft2(x, s=self.grid), mixing)
        y = torch.fft.irfft2(spectrum, s=self.grid)[..., :height, :width]
        if self.stride == 2:
            y = y[..., ::2, ::2]
        return y + self.bias[:, None, None]


class FrequencyConvUNet(nn.Module):
    """TinyUNet (same arguments) with every 3x3 convolution a :class:`FrequencyConv` on its input's grid."""

    def __init__(self, in_channels: int = 3, base_channels: int = 32, channel_mults=(1, 2), num_res_blocks: int = 1,
                 time_embed_dim: int = 128, image_size: int = 32, filter_padding: int = 4, learn_basis: bool = True):
        super().__init__()
        self.net = TinyUNet(in_channels, base_channels, channel_mults, num_res_blocks, time_embed_dim)
        self.in_channels = in_channels
        sizes: dict[str, tuple[int, int]] = {}
        convs = {name: m for name, m in self.net.named_modules()
                 if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)}

        def record(name: str):
            def hook(_module, args) -> None:  # a pre-hook that returns nothing keeps the arguments
                sizes[name] = tuple(args[0].shape[-2:])
            return hook

        hooks = [m.register_forward_pre_hook(record(name)) for name, m in convs.items()]
        with torch.no_grad():
            self.net(torch.zeros(1, in_channels, image_size, image_size), torch.zeros(1, dtype=torch.long))
        for hook in hooks:
            hook.remove()
        for name, conv in convs.items():
            parent_name, _, leaf = name.rpartition(".")
            parent = self.net.get_submodule(parent_name) if parent_name else self.net
            layer = FrequencyConv(conv, sizes[name], filter_padding, learn_basis)
            if leaf.isdigit():
                parent[int(leaf)] = layer
            else:
                setattr(parent, leaf, layer)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.net(x, t)


def register() -> None:
    """Makes ``frequency_conv_unet`` a model name of this process (configs, ``build_model``, the command line)."""
    registry.MODELS["frequency_conv_unet"] = FrequencyConvUNet


if __name__ == "__main__":
    from specdiff.cli import main

    register()
    sys.exit(main(sys.argv[1:]))
