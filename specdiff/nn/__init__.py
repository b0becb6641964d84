"""Layers and models over the specdiff ops: complex layers on the split layout, convolutions computed in frequency
with learned bases, global filters, spectral adapters, TinyUNet, SpectralUNet, SpectralUNetDeep, BaselineConv, the
frequency-native models (FrequencyNativeUNet, FrequencyNativeUNetDeep), the ``build_model`` registry and
``DiffusersUNet`` (a model as a diffusers pipeline's ``unet``). Every model is ``forward(x, t)`` with
``x [B, C, H, W]`` and integer ``t [B]``, and has the same state_dict and numerics on either op backend."""

from specdiff.diffusers_adapter import DiffusersUNet, diffusers_scheduler_kwargs
from specdiff.nn.baseline import BaselineConv
from specdiff.nn.complex import (
    ComplexBatchNorm2d,
    ComplexConv2d,
    ComplexConvTranspose2d,
    ComplexResBlock,
    ComplexSiLU,
    complex_cat,
    complex_modulus,
    from_split,
    to_split,
)
from specdiff.nn.frequency_native_unet import FrequencyNativeUNet
from specdiff.nn.frequency_native_unet_deep import FrequencyNativeUNetDeep
from specdiff.nn.global_filter import MIXERS, GlobalFilter, GlobalFilterBlock
from specdiff.nn.layers import WEIGHTINGS, SpectralAdapter, TimeEmbedding, timestep_embedding
from specdiff.nn.registry import MODELS, build_model, model_arguments
from specdiff.nn.spectral import AmplitudeResidual, PhaseMixing, from_half_spectrum, to_half_spectrum
from specdiff.nn.spectral_conv import SpectralConv, SpectralConvBlock
from specdiff.nn.spectral_unet import SpectralUNet
from specdiff.nn.spectral_unet_deep import SpectralUNetDeep
from specdiff.nn.tiny_unet import TinyUNet

__all__ = [
    "MIXERS",
    "MODELS",
    "WEIGHTINGS",
    "AmplitudeResidual",
    "BaselineConv",
    "ComplexBatchNorm2d",
    "ComplexConv2d",
    "ComplexConvTranspose2d",
    "ComplexResBlock",
    "ComplexSiLU",
    "DiffusersUNet",
    "FrequencyNativeUNet",
    "FrequencyNativeUNetDeep",
    "GlobalFilter",
    "GlobalFilterBlock",
    "PhaseMixing",
    "SpectralAdapter",
    "SpectralConv",
    "SpectralConvBlock",
    "SpectralUNet",
    "SpectralUNetDeep",
    "TimeEmbedding",
    "TinyUNet",
    "build_model",
    "complex_cat",
    "complex_modulus",
    "diffusers_scheduler_kwargs",
    "from_half_spectrum",
    "from_split",
    "model_arguments",
    "timestep_embedding",
    "to_half_spectrum",
    "to_split",
]
