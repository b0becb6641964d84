"""Feature extractors for FID / KID: the standard Inception (only when installed with local weights) or the
offline filter bank that ships with specdiff. Both map ``Tensor[N, C, H, W]`` in [-1, 1] (C = 1 or 3) to
``Tensor[N, num_features]``; their FID/KID values are *not* comparable, so they are reported under different
metric names (``fid_inception`` / ``fid_offline``)."""

from __future__ import annotations

import importlib.util
import math
import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from specdiff.eval.spectral import radial_power_spectrum

INCEPTION_ENV = "SPECDIFF_INCEPTION_WEIGHTS"
"""Environment variable naming the torch-fidelity Inception weights file (``pt_inception-2015-12-05-*.pth``)."""

MIN_SIZE = 8

# Opponent colour transform (luminance, red-green, yellow-blue): decorrelates RGB so the layout features of
# the three channels are not near-copies of each other.
_OPPONENT = ((1 / 3, 1 / 3, 1 / 3), (1 / 2, -1 / 2, 0.0), (1 / 4, 1 / 4, -1 / 2))


def _gabor_bank(size: int = 9, wavelength: float = 4.0, sigma: float = 2.0, orientations: int = 4) -> Tensor:
    """``Tensor[2·orientations, 1, size, size]``: an (even, odd) Gabor pair per orientation, zero-mean and of
    unit L2 norm (float64, analytic: no random numbers)."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    envelope = torch.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    kernels = []
    for i in range(orientations):
        theta = math.pi * i / orientations
        u = xx * math.cos(theta) + yy * math.sin(theta)
        for carrier in (torch.cos, torch.sin):
            k = envelope * carrier(2 * math.pi * u / wavelength)
            k = k - envelope * (k.sum() / envelope.sum())
            kernels.append(k / k.norm())
    return torch.stack(kernels)[:, None]


class FilterBankExtractor(nn.Module):
    """specdiff's offline feature extractor ``specdiff-filterbank`` v2: fixed analytic features, no weights file,
    no random numbers, so it is the same on every run and machine (to float32 round-off; its one discrete
    step, the spectrum's ring membership, is decided exactly).

    Steps: grey images are repeated to RGB; the image is resized to 64×64 (bilinear, antialiased; any size >= 8);
    RGB becomes opponent channels (luminance, red-green, yellow-blue). Features (107):

    - 48 colour layout: each opponent channel averaged over a 4×4 grid of cells;
    - 3 contrast: standard deviation of each opponent channel;
    - 48 texture: luminance at scales 64, 32, 16 (2×2 average pooling), filtered by an (even, odd) Gabor pair
      at 4 orientations (9×9, wavelength 4 px, σ = 2, reflect padding); the local energy
      ``sqrt(even² + odd²)`` averaged over a 2×2 grid of cells;
    - 8 spectrum: ``log10(P(k) + 1e-8)`` of the luminance's radially averaged power spectrum in 8 rings
      (:func:`~specdiff.eval.spectral.radial_power_spectrum`: exact ring membership).

    Versions: v1 put the bins on a ring edge by a floating-point rho, so they moved between rings with the CPU's
    rounding of ``sqrt``; v2 decides them exactly (a bin on an edge belongs to the ring above it).
    """

    name = "specdiff-filterbank"
    version = 2
    input_size = 64
    num_features = 107

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("gabor", _gabor_bank().float(), persistent=False)
        self.register_buffer("opponent", torch.tensor(_OPPONENT, dtype=torch.float32), persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        """``Tensor[N, C, H, W]`` in [-1, 1] -> ``Tensor[N, 107]`` float32."""
        x = _prepare(images)
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size,) * 2, mode="bilinear", align_corners=False, antialias=True)
        opp = torch.einsum("oc,nchw->nohw", self.opponent, x)
        layout = F.adaptive_avg_pool2d(opp, 4).flatten(1)
        contrast = opp.std(dim=(2, 3), unbiased=False)
        level = opp[:, :1]
        texture = []
        pad = self.gabor.shape[-1] // 2
        for _ in range(3):
            response = F.conv2d(F.pad(level, (pad,) * 4, mode="reflect"), self.gabor)
            energy = torch.hypot(response[:, 0::2], response[:, 1::2])
            texture.append(F.adaptive_avg_pool2d(energy, 2).flatten(1))
            level = F.avg_pool2d(level, 2)
        spectrum = torch.log10(radial_power_spectrum(opp[:, :1], num_bins=8)[:, 0] + 1e-8).to(x.dtype)
        return torch.cat([layout, contrast, *texture, spectrum], dim=1)

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "num_features": self.num_features,
                "input_size": self.input_size, "weights": None}


class InceptionExtractor(nn.Module):
    """The standard FID Inception-v3 (torch-fidelity's ``inception-v3-compat``, 2048-d pool features) loaded from
    a local weights file through torchmetrics. Inputs in [-1, 1] are quantized to uint8 as it expects."""

    name = "inception-v3-compat"
    version = 1
    num_features = 2048

    def __init__(self, weights_path: str) -> None:
        super().__init__()
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.weights_path = weights_path
        self.net = NoTrainInceptionV3(
            name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=weights_path
        )

    def forward(self, images: Tensor) -> Tensor:
        x = ((_prepare(images).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return self.net(x)

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "num_features": self.num_features,
                "input_size": 299, "weights": self.weights_path}


def _prepare(images: Tensor) -> Tensor:
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images Tensor[N, C, H, W] with C in (1, 3), got shape {tuple(images.shape)}")
    if min(images.shape[-2:]) < MIN_SIZE:
        raise ValueError(f"feature extraction needs images of at least {MIN_SIZE}x{MIN_SIZE}, "
                         f"got {images.shape[-2]}x{images.shape[-1]}")
    x = images.float()
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def torch_fidelity_available() -> bool:
    return importlib.util.find_spec("torch_fidelity") is not None


def build_feature_extractor(inception_weights: str | None = None) -> tuple[nn.Module, str, list[str]]:
    """Chooses the extractor: ``(module, kind, notes)`` with ``kind`` "inception" or "offline".

    Inception is used when a weights path is configured (``inception_weights``, else ``$SPECDIFF_INCEPTION_WEIGHTS``),
    the file exists and ``torch_fidelity`` imports. Nothing is ever downloaded. An explicit ``inception_weights``
    that cannot be used is an error; an unusable environment variable falls back to the offline extractor
    with a note saying why.
    """
    path = inception_weights or os.environ.get(INCEPTION_ENV) or None
    problem = None
    if path is None:
        problem = f"no Inception weights configured (pass inception_weights= or set {INCEPTION_ENV})"
    elif not os.path.isfile(path):
        problem = f"Inception weights file {path!r} does not exist"
    elif not torch_fidelity_available():
        problem = "the torch-fidelity package (needed for torchmetrics' Inception) is not installed"
    if problem is None:
        return InceptionExtractor(path), "inception", []
    if inception_weights is not None:
        error = FileNotFoundError if "does not exist" in problem else ModuleNotFoundError
        raise error(f"cannot use the Inception feature extractor: {problem}")
    offline = FilterBankExtractor()
    return offline, "offline", [
        f"FID/KID use the offline extractor {offline.name} v{offline.version} because {problem}; "
        "its values are not comparable with Inception FID/KID (hence the _offline metric names)"
    ]
