"""CIFAR-10 from a local ``cifar-10-batches-py`` folder (the official "CIFAR-10 python version"). Nothing is
downloaded: a missing folder raises one line saying where to put it and how to get it."""

from __future__ import annotations

import os
import pickle

import numpy as np
import torch
from torch import Tensor

from specdiff.data.base import FITS, ImageDataset, fit, to_channels
from specdiff.data.options import Option, choice, option

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR10_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
DEFAULT_ROOT = "data"


def _classes_check(value: object) -> tuple[int, ...]:
    items = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    labels = []
    for item in items:
        if isinstance(item, str) and item in CIFAR10_CLASSES:
            labels.append(CIFAR10_CLASSES.index(item))
        elif isinstance(item, int) and not isinstance(item, bool) and 0 <= item < 10:
            labels.append(item)
        else:
            raise ValueError(value)
    if not labels or len(set(labels)) != len(labels):
        raise ValueError(value)
    return tuple(sorted(labels))


def cifar10_folder(root: str | os.PathLike | None) -> str:
    """The ``cifar-10-batches-py`` folder for ``root``: root itself when it holds the batches, otherwise
    ``root/cifar-10-batches-py`` (``root`` None means ``./data``)."""
    root = os.fspath(DEFAULT_ROOT if root is None else root)
    if os.path.isfile(os.path.join(root, "batches.meta")) or os.path.isfile(os.path.join(root, "test_batch")):
        return root
    return os.path.join(root, CIFAR10_FOLDER)


def load_cifar10(folder: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``uint8[N, 3, 32, 32]`` images and ``int64[N]`` labels of ``split`` from a ``cifar-10-batches-py`` folder."""
    images, labels = [], []
    for name in CIFAR10_FILES[split]:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"CIFAR-10 not found: expected {os.path.abspath(path)} (the folder {os.path.abspath(folder)} with "
                f"data_batch_1..5 and test_batch); get the 'CIFAR-10 python version' (cifar-10-python.tar.gz) from "
                f"{CIFAR10_URL} and extract it there (tar xzf cifar-10-python.tar.gz), or point data.root (root=) at "
                "the folder that holds it"
            )
        with open(path, "rb") as file:
            batch = pickle.load(file, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{path}: b'data' must be uint8[N, 3072], got shape {data.shape}")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


class Cifar10(ImageDataset):
    """CIFAR-10: train = data_batch_1..5 (50 000 images), test = test_batch (10 000). Native size 32; another
    ``image_size`` goes through ``fit``: ``"resize"`` (bilinear, antialiased when shrinking) or ``"center_crop"``
    (only smaller sizes). ``channels=1`` is BT.601 luma. ``classes`` keeps only those classes (names or 0..9);
    ``length`` keeps at most the first ``length`` images. ``labels`` holds the labels of the items in order."""

    name = "cifar10"
    OPTIONS: dict[str, Option] = {
        "fit": option("resize", choice(FITS)),
        "classes": Option(
            None, f"a non-empty list of distinct class names or numbers 0..9 ({', '.join(CIFAR10_CLASSES)})",
            _classes_check,
        ),
    }

    def __init__(self, *, root: str | os.PathLike | None = None, length: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.root = cifar10_folder(root)
        images, labels = load_cifar10(self.root, self.split)
        if self.options["classes"] is not None:
            keep = np.isin(labels, self.options["classes"])
            images, labels = images[keep], labels[keep]
        if length is not None:
            if not isinstance(length, int) or isinstance(length, bool) or length < 1:
                raise ValueError(f"length must be a positive integer or None, got {length!r}")
            images, labels = images[:length], labels[:length]
        if self.options["fit"] == "center_crop" and self.image_size > 32:
            raise ValueError(
                f"cifar10 fit='center_crop' needs image_size <= 32, got {self.image_size}; use fit='resize'"
            )
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = torch.from_numpy(labels)
        self._length = len(self.images)

    def _make(self, index: Tensor, keys: Tensor) -> Tensor:
        images = self.images[index].to(torch.float32) / 127.5 - 1.0
        return fit(to_channels(images, self.channels), self.image_size, self.options["fit"])
