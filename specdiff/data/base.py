"""The base of every specdiff dataset: item i is a pure function of (seed, split, i) (and of the epoch for
augmentations), batches are made vectorized by ``generate``, and the shared channel / size / flip rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from specdiff.data import rng
from specdiff.data.options import Option, resolve
from specdiff.errors import InvalidValue

# ITU-R BT.601 luma weights, the ones PIL's RGB -> "L" conversion (and so read_image) uses.
LUMA = (0.299, 0.587, 0.114)
FITS = ("resize", "center_crop")
_FLIP_STREAM = 0xF11B


def to_channels(images: Tensor, channels: int) -> Tensor:
    """``Tensor[B, C, H, W]`` with C in (1, 3) -> ``channels`` channels: grey is replicated, RGB becomes luma."""
    if images.shape[1] == channels:
        return images
    if channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    weights = images.new_tensor(LUMA).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def fit(images: Tensor, size: int, mode: str) -> Tensor:
    """``Tensor[B, C, h, w]`` -> ``Tensor[B, C, size, size]``. ``resize``: scale (bilinear, antialiased when
    shrinking) so the short side is ``size``, then crop the centre square. ``center_crop``: cut the centre
    ``size`` x ``size`` window at native resolution (the image must be at least that large)."""
    h, w = images.shape[-2:]
    if (h, w) == (size, size):
        return images
    if mode == "resize":
        scale = size / min(h, w)
        new = (max(size, round(h * scale)), max(size, round(w * scale)))
        images = F.interpolate(images, size=new, mode="bilinear", align_corners=False, antialias=scale < 1)
        images = images.clamp(-1.0, 1.0)
        h, w = new
    elif min(h, w) < size:
        raise InvalidValue(f"center_crop to {size}x{size} needs an image at least that large, got {h}x{w}")
    top, left = (h - size) // 2, (w - size) // 2
    return images[..., top:top + size, left:left + size]


class ImageDataset(Dataset):
    """Base class: ``len(ds)`` items, each a float32 ``Tensor[channels, image_size, image_size]`` in [-1, 1].

    ``ds[i]`` and ``ds.generate(indices)`` (a ``Tensor[B, C, H, W]``) give the same values for an item
    whatever batch it is in. ``__getitems__`` (used by torch's DataLoader for a whole batch) returns the
    list of per-item tensors, so the default ``collate_fn`` stacks them: ``DataLoader(ds, batch_size=64)``
    yields exactly ``torch.stack([ds[i] for i in batch_indices])``. ``set_epoch(e)`` re-draws augmentations
    (flips, photo crops) for epoch e; call it before creating the epoch's iterator (persistent workers keep
    the epoch they started with)."""

    name: ClassVar[str]
    OPTIONS: ClassVar[dict[str, Option]] = {}

    def __init__(
        self,
        *,
        split: str = "train",
        image_size: int = 32,
        channels: int = 3,
        seed: int = 0,
        random_flip: bool = False,
        length: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if split not in rng.SPLITS:
            raise InvalidValue(f"split must be 'train' or 'test', got {split!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 2:
            raise InvalidValue(f"image_size must be an integer >= 2, got {image_size!r}")
        if channels not in (1, 3) or isinstance(channels, bool):
            raise InvalidValue(f"channels must be 1 or 3, got {channels!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InvalidValue(f"seed must be an integer, got {seed!r}")
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 1):
            raise InvalidValue(f"length must be a positive integer or None, got {length!r}")
        self.split, self.image_size, self.channels = split, image_size, channels
        self.seed, self.random_flip, self.epoch = seed, bool(random_flip), 0
        self.options = resolve(self.name, self.OPTIONS, options or {})
        self._base = rng.base_key(seed, split)
        self._length = length

    def __len__(self) -> int:
        return self._length

    def set_epoch(self, epoch: int) -> None:
        """Selects the augmentation stream (flips; crops for photos) of ``epoch``; item contents are otherwise fixed."""
        self.epoch = int(epoch)

    def generate(self, indices: Sequence[int] | Tensor) -> Tensor:
        """``Tensor[B, C, H, W]`` float32 in [-1, 1]: the items ``indices``, made in one vectorized pass."""
        index = rng.as_index_tensor(indices, len(self))
        if not len(index):
            return torch.empty(0, self.channels, self.image_size, self.image_size)
        keys = rng.item_keys(self._base, index)
        images = self._make(index, keys)
        if self.random_flip:
            flip = rng.uniform(rng.derive(keys, _FLIP_STREAM), self.epoch, 1)[:, 0] < 0.5
            images = torch.where(flip[:, None, None, None], images.flip(-1), images)
        return images

    def __getitem__(self, index: int) -> Tensor:
        return self.generate([index])[0]

    def __getitems__(self, indices: list[int]) -> list[Tensor]:
        return list(self.generate(indices).unbind(0))

    def _make(self, index: Tensor, keys: Tensor) -> Tensor:
        """The un-flipped images of items ``index`` (``int64[B]``) with per-item keys ``keys`` (``int64[B]``)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(split={self.split!r}, length={len(self)}, image_size={self.image_size}, "
            f"channels={self.channels}, seed={self.seed}, random_flip={self.random_flip}, options={self.options})"
        )
