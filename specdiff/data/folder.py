"""A folder of PNG/JPEG images, read with :func:`specdiff.data.images.read_image` when an item is asked for."""

from __future__ import annotations

import os

import torch
from torch import Tensor

from specdiff.data.base import FITS, ImageDataset, fit
from specdiff.data.images import list_images, read_image
from specdiff.data.options import choice, option
from specdiff.errors import InvalidValue, MissingPath


def split_folder(root: str | os.PathLike | None, split: str) -> str:
    """The folder holding the images of ``split``: ``root/train`` or ``root/test`` when ``root`` has that
    sub-folder; otherwise ``root`` itself for the train split, and an error for the test split (there is
    no held-out part to take)."""
    if root is None:
        raise InvalidValue("dataset 'folder' needs root=<folder of PNG/JPEG images>")
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise MissingPath(f"image folder {root!r} does not exist")
    if os.path.isdir(os.path.join(root, split)):
        return os.path.join(root, split)
    if split == "test":
        raise InvalidValue(f"image folder {root!r} has no 'test' sub-folder: put the held-out images in "
                         f"{os.path.join(root, 'test')} (and the training images in {os.path.join(root, 'train')})")
    return root


class ImageFolder(ImageDataset):
    """The PNG/JPEG files directly inside a folder (see :func:`split_folder`), in sorted name order, each
    brought to ``channels`` (grey replicated / BT.601 luma) and to ``image_size`` by ``fit``: ``"resize"``
    (short side scaled to image_size, bilinear and antialiased when shrinking, then the centre square) or
    ``"center_crop"`` (the centre image_size square at native resolution; smaller images raise ValueError).
    ``length`` keeps at most the first ``length`` files."""

    name = "folder"
    OPTIONS = {"fit": option("resize", choice(FITS))}

    def __init__(self, *, root: str | os.PathLike | None = None, length: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.root = split_folder(root, self.split)
        self.paths = list_images(self.root)
        if length is not None:
            if not isinstance(length, int) or isinstance(length, bool) or length < 1:
                raise InvalidValue(f"length must be a positive integer or None, got {length!r}")
            self.paths = self.paths[:length]
        self._length = len(self.paths)

    def _make(self, index: Tensor, keys: Tensor) -> Tensor:
        images = []
        for i in index.tolist():
            image = read_image(self.paths[i], self.channels)[None]
            try:
                images.append(fit(image, self.image_size, self.options["fit"])[0])
            except ValueError as exc:
                raise InvalidValue(f"{self.paths[i]}: {exc}") from None
        return torch.stack(images)
