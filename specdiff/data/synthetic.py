"""Synthetic image families made on the fly, one vectorized pass per batch: ``noise``, ``piecewise``,
``texture`` and ``random_field``. Nothing is held in memory: item i is computed from its counter-based key
(see :mod:`specdiff.data.rng`), so any item of any split can be made in any order."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from specdiff.data import rng
from specdiff.data.base import ImageDataset
from specdiff.data.options import choice, number, option, subset
from specdiff.errors import InvalidValue

SYNTHETIC_LENGTH = {"train": 50_000, "test": 10_000}
# Stream tags: each kind of random quantity has its own stream, so adding one never shifts another.
_NOISE, _KIND, _GEOMETRY, _COLOUR = 1, 2, 3, 4


class SyntheticDataset(ImageDataset):
    """Default length 50 000 items for the train split and 10 000 for the test split (a disjoint stream)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if self._length is None:
            self._length = SYNTHETIC_LENGTH[self.split]

    def _grid(self, device: torch.device) -> tuple[Tensor, Tensor]:
        """Pixel-centre coordinates ``y [1, S, 1]`` and ``x [1, 1, S]`` in pixels."""
        centres = torch.arange(self.image_size, dtype=torch.float32, device=device) + 0.5
        return centres.view(1, -1, 1), centres.view(1, 1, -1)

    def _colours(self, keys: Tensor, count: int) -> Tensor:
        """``Tensor[B, count, C]`` colours uniform in [-1, 1]^C."""
        return (rng.uniform(keys, _COLOUR, count * self.channels) * 2 - 1).view(len(keys), count, self.channels)


class Noise(SyntheticDataset):
    """White noise: every pixel and channel independent, ``std * z`` clamped to [-1, 1], with z standard normal
    (``distribution="gaussian"``) or uniform with unit variance on [-sqrt(3), sqrt(3)] (``"uniform"``)."""

    name = "noise"
    OPTIONS = {
        "distribution": option("gaussian", choice(("gaussian", "uniform"))),
        "std": option(0.3, number(0.0, 1.0, open_lo=True)),
    }

    def _make(self, index: Tensor, keys: Tensor) -> Tensor:
        n = self.channels * self.image_size**2
        if self.options["distribution"] == "gaussian":
            z = rng.normal(keys, _NOISE, n)
        else:
            z = (rng.uniform(keys, _NOISE, n) * 2 - 1) * math.sqrt(3.0)
        z = (z * self.options["std"]).clamp_(-1.0, 1.0)
        return z.view(len(keys), self.channels, self.image_size, self.image_size)


PIECEWISE_KINDS = ("checkerboard", "stripes", "circles", "mondrian")


class Piecewise(SyntheticDataset):
    """Piecewise-constant images; each item is one of ``kinds`` (uniformly), with random colours in [-1, 1]:

    - checkerboard: two colours, square cells of an integer size in [2, S/2] pixels, random offset;
    - stripes: two colours, straight stripes of random orientation, period in [max(3, S/16), S/2], phase;
    - circles: 1..max_shapes discs (centres anywhere, radius in [S/16, S/3]) painted over a background;
    - mondrian: a grid cut by 1..max_shapes random horizontal and 1..max_shapes vertical lines, one colour per cell.
    """

    name = "piecewise"
    OPTIONS = {
        "kinds": option(PIECEWISE_KINDS, subset(PIECEWISE_KINDS, what="kinds")),
        "max_shapes": option(6, number(1, 32, integer=True)),
    }

    def _make(self, index: Tensor, keys: Tensor) -> Tensor:
        kinds = self.options["kinds"]
        which = (rng.uniform(keys, _KIND, 1)[:, 0] * len(kinds)).long().clamp_(max=len(kinds) - 1)
        out = keys.new_empty((len(keys), self.channels, self.image_size, self.image_size), dtype=torch.float32)
        for k, kind in enumerate(kinds):
            selected = (which == k).nonzero().squeeze(1)
            if selected.numel():
                out[selected] = getattr(self, f"_{kind}")(keys[selected])
        return out

    @staticmethod
    def _paint(mask: Tensor, colours: Tensor) -> Tensor:
        """Two-colour image from a boolean ``mask [B, S, S]`` and ``colours [B, 2, C]``."""
        return torch.where(mask[:, None], colours[:, 1, :, None, None], colours[:, 0, :, None, None])

    def _checkerboard(self, keys: Tensor) -> Tensor:
        size = self.image_size
        u = rng.uniform(keys, _GEOMETRY, 3)
        largest = max(2, size // 2)
        cell = (2 + (u[:, 0] * (largest - 1)).long()).clamp_(max=largest).view(-1, 1, 1)
        offset_y, offset_x = (u[:, 1:] * cell.view(-1, 1)).long().unbind(1)
        pixels = torch.arange(size, device=keys.device)
        rows = (pixels.view(1, -1, 1) + offset_y.view(-1, 1, 1)) // cell
        cols = (pixels.view(1, 1, -1) + offset_x.view(-1, 1, 1)) // cell
        return self._paint((rows + cols) % 2 == 1, self._colours(keys, 2))

    def _stripes(self, keys: Tensor) -> Tensor:
        size = self.image_size
        # The stripe phase in float64: floor(2t) is a hard edge, and cos / sin may differ by an ulp between CPUs
        # (vector widths); in float64 a pixel centre that close to an edge is a 1e-16 event, not a 1e-7 one.
        u = rng.uniform(keys, _GEOMETRY, 3).view(-1, 3, 1, 1).double()
        shortest = max(3.0, size / 16)
        theta = math.pi * u[:, 0]
        period = shortest + (max(shortest, size / 2) - shortest) * u[:, 1]
        y, x = (c.double() for c in self._grid(keys.device))
        t = (x * torch.cos(theta) + y * torch.sin(theta)) / period + u[:, 2]
        return self._paint(torch.floor(2 * t).long() % 2 == 1, self._colours(keys, 2))

    def _circles(self, keys: Tensor) -> Tensor:
        size, most = self.image_size, self.options["max_shapes"]
        u = rng.uniform(keys, _GEOMETRY, 1 + 3 * most)
        count = 1 + (u[:, 0] * most).long()
        centre_y, centre_x, radius = (u[:, 1:].view(-1, 3, most) * size).unbind(1)
        radius = radius * (1 / 3 - 1 / 16) + size / 16
        colours = self._colours(keys, most + 1)
        y, x = self._grid(keys.device)
        image = colours[:, 0, :, None, None].expand(-1, -1, size, size)
        for k in range(most):
            dy, dx = y - centre_y[:, k, None, None], x - centre_x[:, k, None, None]
            inside = (dy**2 + dx**2 < radius[:, k, None, None] ** 2) & (k < count).view(-1, 1, 1)
            image = torch.where(inside[:, None], colours[:, k + 1, :, None, None], image)
        return image

    def _mondrian(self, keys: Tensor) -> Tensor:
        size, most = self.image_size, self.options["max_shapes"]
        u = rng.uniform(keys, _GEOMETRY, 2 + 2 * most)
        counts = 1 + (u[:, :2] * most).long()
        cuts = u[:, 2:].view(-1, 2, most) * size
        active = torch.arange(most, device=keys.device).view(1, 1, -1) < counts[:, :, None]
        cuts = torch.where(active, cuts, torch.full_like(cuts, math.inf))
        y, _ = self._grid(keys.device)
        # Row (column) of a pixel = number of horizontal (vertical) cuts above (left of) its centre.
        band = (y.view(1, 1, -1, 1) >= cuts[:, :, None, :]).sum(-1)  # [B, 2, S]
        cell = band[:, 0, :, None] * (most + 1) + band[:, 1, None, :]  # [B, S, S]
        colours = self._colours(keys, (most + 1) ** 2).transpose(1, 2)  # [B, C, cells]
        flat = cell.view(len(keys), 1, -1).expand(-1, self.channels, -1)
        return torch.gather(colours, 2, flat).view(len(keys), self.channels, size, size)


class Texture(SyntheticDataset):
    """Gabor gratings: a sum of ``components`` oriented cosine gratings ``cos(2 pi f (x cos t + y sin t) + p)``,
    f uniform in [min_frequency, max_frequency] cycles/pixel, orientation t in [0, pi), phase p in [0, 2 pi),
    each under a Gaussian envelope of standard deviation ``sigma * image_size`` centred in the middle half of
    the image (``sigma = 0``: no envelope, plain gratings). Per channel: a mean in [-0.3, 0.3] plus the gratings
    with amplitudes in [0.5, 1] / components, scaled to stay inside [-1, 1]."""

    name = "texture"
    OPTIONS = {
        "min_frequency": option(0.05, number(0.0, 0.5, open_lo=True)),
        "max_frequency": option(0.35, number(0.0, 0.5, open_lo=True)),
        "components": option(2, number(1, 8, integer=True)),
        "sigma": option(0.35, number(0.0, 10.0)),
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        lo, hi = self.options["min_frequency"], self.options["max_frequency"]
        if lo > hi:
            raise InvalidValue(f"dataset 'texture': min_frequency={lo} must not exceed max_frequency={hi}")

    def _make(self, index: Tensor, keys: Tensor) -> Tensor:
        size, parts, channels = self.image_size, self.options["components"], self.channels
        lo, hi, sigma = self.options["min_frequency"], self.options["max_frequency"], self.options["sigma"]
        u = rng.uniform(keys, _GEOMETRY, 5 * parts).view(-1, 5, parts, 1, 1)
        frequency = lo + (hi - lo) * u[:, 0]
        theta, phase = math.pi * u[:, 1], 2 * math.pi * u[:, 2]
        y, x = self._grid(keys.device)
        waves = torch.cos(2 * math.pi * frequency * (x * torch.cos(theta) + y * torch.sin(theta)) + phase)
        if sigma > 0:
            centre_y, centre_x = size * (0.25 + 0.5 * u[:, 3]), size * (0.25 + 0.5 * u[:, 4])
            waves = waves * torch.exp(((y - centre_y) ** 2 + (x - centre_x) ** 2) / (-2 * (sigma * size) ** 2))
        colour = rng.uniform(keys, _COLOUR, channels * (1 + parts))
        mean = 0.6 * colour[:, :channels] - 0.3
        amplitude = (0.5 + 0.5 * colour[:, channels:].view(-1, parts, channels)) / parts
        grating = torch.einsum("bkc,bkhw->bchw", amplitude, waves)
        return mean[:, :, None, None] + (1 - mean.abs())[:, :, None, None] * grating


class RandomField(SyntheticDataset):
    """Gaussian random fields with power spectrum ``1 / |f|^alpha``: white noise filtered in the Fourier domain
    by ``|f|^(-alpha/2)`` on the true FFT frequencies (fftfreq / rfftfreq, cycles/pixel; the DC term set to 0),
    independent per channel, then mapped affinely (per image, all channels together) onto [-1, 1] by its
    min and max, which leaves the spectral slope unchanged. alpha = 0 is white noise, 2 is natural-image-like."""

    name = "random_field"
    OPTIONS = {"alpha": option(2.0, number(0.0, 6.0))}

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        size = self.image_size
        fy, fx = torch.fft.fftfreq(size), torch.fft.rfftfreq(size)
        radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
        radius[0, 0] = 1.0
        self._filter = radius.double().pow(-self.options["alpha"] / 2)
        self._filter[0, 0] = 0.0

    def _make(self, index: Tensor, keys: Tensor) -> Tensor:
        size = self.image_size
        noise = rng.normal(keys, _NOISE, self.channels * size * size).view(-1, self.channels, size, size)
        # float64: MKL's FFT rounds differently with another intra-op thread count (e.g. main process vs
        # single-threaded DataLoader workers); rounding a float64 result to float32 hides that for all but
        # about one value in a million (then 1 ulp). With equal thread counts items are bit-identical.
        spectrum = torch.fft.rfft2(noise.double()) * self._filter.to(noise.device)
        field = torch.fft.irfft2(spectrum, s=(size, size))
        lo = field.amin(dim=(1, 2, 3), keepdim=True)
        hi = field.amax(dim=(1, 2, 3), keepdim=True)
        return (2 * (field - lo) / (hi - lo).clamp_min(1e-300) - 1).clamp_(-1.0, 1.0).to(torch.float32)
