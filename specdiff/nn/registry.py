"""``build_model(name, **cfg)``: the models by name, with every keyword argument checked."""

from __future__ import annotations

import inspect

from torch import nn

from specdiff.nn.baseline import BaselineConv
from specdiff.nn.frequency_native_unet import FrequencyNativeUNet
from specdiff.nn.frequency_native_unet_deep import FrequencyNativeUNetDeep
from specdiff.nn.layers import check_kwargs
from specdiff.nn.spectral_unet import SpectralUNet
from specdiff.nn.spectral_unet_deep import SpectralUNetDeep
from specdiff.nn.tiny_unet import TinyUNet

MODELS: dict[str, type[nn.Module]] = {
    "tiny_unet": TinyUNet,
    "spectral_unet": SpectralUNet,
    "spectral_unet_deep": SpectralUNetDeep,
    "baseline_conv": BaselineConv,
    "frequency_native_unet": FrequencyNativeUNet,
    "frequency_native_unet_deep": FrequencyNativeUNetDeep,
}


def model_arguments(name: str) -> dict[str, object]:
    """The constructor arguments of model ``name`` and their defaults."""
    return {k: p.default for k, p in inspect.signature(_model_class(name)).parameters.items()}


def _model_class(name: str) -> type[nn.Module]:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    return MODELS[name]


def build_model(name: str, **cfg) -> nn.Module:
    """Builds model ``name`` (one of :data:`MODELS`) from its constructor arguments. An unknown name raises
    ValueError and an unknown argument TypeError, each naming the valid ones."""
    cls = _model_class(name)
    check_kwargs(f"build_model({name!r})", cfg, model_arguments(name))
    return cls(**cfg)
