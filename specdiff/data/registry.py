"""``build_dataset``: one entry point from a dataset name and options to a torch Dataset."""

from __future__ import annotations

import os
from typing import Any

from torch.utils.data import Dataset

from specdiff.data.base import ImageDataset
from specdiff.data.cifar import Cifar10
from specdiff.data.folder import ImageFolder
from specdiff.data.options import resolve, suggestion
from specdiff.data.photos import Photos
from specdiff.data.synthetic import Noise, Piecewise, RandomField, Texture
from specdiff.errors import InvalidValue

_CLASSES: dict[str, type[ImageDataset]] = {
    cls.name: cls for cls in (Noise, Piecewise, Texture, RandomField, Cifar10, Photos, ImageFolder)
}
DATASETS: tuple[str, ...] = tuple(_CLASSES)
_NEEDS_ROOT = ("cifar10", "folder")


def _dataset_class(name: str) -> type[ImageDataset]:
    if name not in _CLASSES:
        raise InvalidValue(f"unknown dataset {name!r}{suggestion(str(name), DATASETS)} (valid: {', '.join(DATASETS)})")
    return _CLASSES[name]


def dataset_options(name: str) -> dict[str, Any]:
    """The family-specific keyword options of dataset ``name`` and their defaults (unknown name: InvalidValue)."""
    return {key: spec.default for key, spec in _dataset_class(name).OPTIONS.items()}


def check_options(name: str, options: dict[str, Any], root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Validates dataset ``name``'s options (and whether it reads a ``root``) without building it; returns the
    resolved options. Raises InvalidValue naming the key, the value and what is allowed."""
    cls = _dataset_class(name)
    if root is not None and name not in _NEEDS_ROOT:
        raise InvalidValue(f"dataset {name!r} takes no root (only {', '.join(_NEEDS_ROOT)} read from a folder)")
    return resolve(name, cls.OPTIONS, options)


def build_dataset(
    name: str,
    *,
    split: str = "train",
    image_size: int = 32,
    channels: int = 3,
    root: str | os.PathLike | None = None,
    random_flip: bool = False,
    seed: int = 0,
    length: int | None = None,
    **options: Any,
) -> Dataset:
    """Dataset ``name`` (one of DATASETS) whose items are float32 ``Tensor[channels, image_size, image_size]``
    in [-1, 1]; item i is a deterministic function of (seed, split, i) (and of the epoch set by ``set_epoch``
    for flips and photo crops). ``root`` is the data folder of ``cifar10`` and ``folder`` (other datasets
    reject it); ``options`` are the keywords of ``dataset_options(name)``, validated."""
    cls = _dataset_class(name)
    common = dict(split=split, image_size=image_size, channels=channels, seed=seed, random_flip=random_flip,
                  length=length, options=options)
    if name in _NEEDS_ROOT:
        return cls(root=root, **common)
    if root is not None:
        raise InvalidValue(f"dataset {name!r} takes no root (only {', '.join(_NEEDS_ROOT)} read from a folder)")
    return cls(**common)
