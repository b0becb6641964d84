"""Image files <-> tensors in [-1, 1]: the one place specdiff reads and writes PNG/JPEG."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from specdiff.errors import InvalidValue, MissingPath

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def list_images(folder: str | os.PathLike) -> list[str]:
    """Sorted paths of the PNG/JPEG files directly inside ``folder``; a clear error when it is missing or empty."""
    if not os.path.isdir(folder):
        raise MissingPath(f"image folder {os.fspath(folder)!r} does not exist")
    paths = sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES))
    if not paths:
        raise InvalidValue(f"image folder {os.fspath(folder)!r} has no {'/'.join(IMAGE_SUFFIXES)} files")
    return paths


# PIL's modes of 16-bit greyscale (a 16-bit PNG opens as I;16; "I" holds the same values in int32).
_GREY16 = ("I;16", "I;16B", "I;16L", "I")


def read_image(path: str | os.PathLike, channels: int | None = None) -> Tensor:
    """``Tensor[C, H, W]`` float32 in [-1, 1] from a PNG/JPEG file: 8-bit values v map to v / 255 * 2 - 1, 16-bit
    greyscale values to v / 65535 * 2 - 1 (PIL reads 16-bit colour PNGs at 8 bits per channel). ``channels`` (1 or
    3) converts (BT.601 luma / grey replicated); None keeps the file's grey or RGB (other modes become RGB). An
    unreadable file, or one of more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (a decompression bomb), raises
    ValueError naming it."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    if channels not in (None, 1, 3):
        raise InvalidValue(f"channels must be 1, 3 or None, got {channels!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                if img.mode in _GREY16:
                    image = _grey16(path, np.asarray(img))
                else:
                    mode = {1: "L", 3: "RGB"}.get(channels) or ("L" if img.mode in ("L", "1") else "RGB")
                    image = torch.from_numpy(np.asarray(img.convert(mode), dtype=np.float32).copy()) / 127.5 - 1.0
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidValue(f"cannot read image {os.fspath(path)!r}: it has more than {Image.MAX_IMAGE_PIXELS} pixels "
                         "(PIL.Image.MAX_IMAGE_PIXELS), the limit against decompression bombs") from None
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise InvalidValue(f"cannot read image {os.fspath(path)!r}: {exc}") from None
    if image.dim() == 2:
        image = image[:, :, None]
    if channels == 3 and image.shape[2] == 1:
        image = image.expand(-1, -1, 3)
    return image.permute(2, 0, 1).contiguous()


def _grey16(path: str | os.PathLike, values: np.ndarray) -> Tensor:
    """16-bit grey values v in [0, 65535] -> float32 v / 65535 * 2 - 1 (rounded once, from float64)."""
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise InvalidValue(f"cannot read image {os.fspath(path)!r}: its integer values span [{values.min()}, "
                         f"{values.max()}], outside the 16-bit range [0, 65535]")
    return torch.from_numpy(values.astype(np.float64) / 32767.5 - 1.0).float()


def to_uint8(image: Tensor) -> np.ndarray:
    """``Tensor[C, H, W]`` in [-1, 1] (clamped) -> ``uint8[H, W, C]`` (C = 1 squeezed to ``[H, W]``)."""
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected an image Tensor[C, H, W] with C in (1, 3), got shape {tuple(image.shape)}")
    array = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    array = array.permute(1, 2, 0).numpy()
    return array[:, :, 0] if array.shape[2] == 1 else array


def save_image(image: Tensor, path: str | os.PathLike) -> None:
    """Writes ``Tensor[C, H, W]`` in [-1, 1] as an 8-bit PNG (lossless, so read_image gives it back to 1/255)."""
    from PIL import Image

    Image.fromarray(to_uint8(image)).save(path, format="PNG")


def make_grid(images: Tensor | Sequence[Tensor], nrow: int | None = None, padding: int = 2) -> Tensor:
    """Tiles ``Tensor[N, C, H, W]`` into one ``Tensor[C, H', W']`` (rows of ``nrow``, default ~sqrt(N)),
    separated by ``padding`` pixels of -1 (black)."""
    images = torch.stack(list(images)) if not isinstance(images, Tensor) else images
    if images.dim() != 4 or images.shape[0] == 0:
        raise ValueError(f"expected a non-empty Tensor[N, C, H, W], got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = images.new_full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), -1.0)
    for i in range(n):
        y, x = padding + (i // nrow) * (h + padding), padding + (i % nrow) * (w + padding)
        grid[:, y:y + h, x:x + w] = images[i]
    return grid
