"""CIFAR-10 from a local ``cifar-10-batches-py`` folder (the official "CIFAR-10 python version"). Nothing is
downloaded: a missing folder raises one line saying where to put it and how to get it.

The batches are pickles by format. They are read with a restricted unpickler that builds only what a batch holds
(a dict of bytes keys, lists, ints, bytes and numpy arrays); a file that asks for anything else (an object whose
``__reduce__`` would run a command) is refused with one line before any of it is built."""

from __future__ import annotations

import os
import pickle

import numpy as np
import torch
from torch import Tensor

from specdiff.data.base import FITS, ImageDataset, fit, to_channels
from specdiff.data.options import Option, choice, option
from specdiff.errors import InvalidValue, MissingPath

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


# What a CIFAR-10 batch pickle may ask for: numpy's array and dtype rebuilders (numpy 1.x wrote numpy.core, 2.x
# numpy._core; protocol 5 uses _frombuffer) and _codecs.encode, which protocol 2 pickles of Python 3 use for bytes.
_NUMPY_REBUILDERS = {("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer")}
MAX_BATCH_BYTES = 1 << 28  # an official batch is 31 MB


class _Refused(pickle.UnpicklingError):
    """The batch asked for a global outside the allow-list."""


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) == ("_codecs", "encode"):
            import codecs

            return codecs.encode
        if (module, name) in (("numpy", "ndarray"), ("numpy", "dtype")):
            return getattr(np, name)
        head, _, sub = module.rpartition(".")
        if head in ("numpy.core", "numpy._core") and (sub, name) in _NUMPY_REBUILDERS:
            try:
                from numpy._core import multiarray, numeric
            except ImportError:  # numpy < 2
                from numpy.core import multiarray, numeric
            return getattr({"multiarray": multiarray, "numeric": numeric}[sub], name)
        raise _Refused(f"it asks for {module}.{name}, which a CIFAR-10 batch never holds")


def read_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``uint8[N, 3072]`` data and ``int64[N]`` labels of one CIFAR-10 python batch file, read with a restricted
    unpickler; ValueError naming the file and what a batch holds for anything else."""
    expected = ("a pickled dict with b'data' (uint8 array [N, 3072]) and b'labels' (N ints in 0..9), as in the "
                f"'CIFAR-10 python version' from {CIFAR10_URL}")
    if os.path.getsize(path) > MAX_BATCH_BYTES:
        raise InvalidValue(f"{path}: not a CIFAR-10 batch: larger than {MAX_BATCH_BYTES >> 20} MiB; "
                           f"expected {expected}")
    try:
        with open(path, "rb") as file:
            batch = _BatchUnpickler(file, encoding="bytes").load()
    except _Refused as exc:
        raise InvalidValue(f"{path}: refused: {exc} (a crafted file can run code when unpickled); expected {expected}; "
                         "re-extract cifar-10-python.tar.gz") from None
    except Exception as exc:  # truncated or foreign files raise many types
        raise InvalidValue(f"{path}: not a CIFAR-10 batch ({type(exc).__name__}: {exc}); expected {expected}") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        got = (f"keys {', '.join(sorted(map(repr, batch))[:10]) or 'none'}" if isinstance(batch, dict)
               else f"a {type(batch).__name__}")
        raise InvalidValue(f"{path}: not a CIFAR-10 batch: got {got}; expected {expected}")
    data, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        got = (f"{data.dtype}{list(data.shape)}" if isinstance(data, np.ndarray) else f"a {type(data).__name__}")
        raise InvalidValue(f"{path}: b'data' must be a uint8 array [N, 3072], got {got}; expected {expected}")
    if isinstance(labels, np.ndarray) and labels.dtype.kind in "iu" and labels.ndim == 1:
        labels = labels.tolist()
    bad = [v for v in labels if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < 10)
           ][:1] if isinstance(labels, list) else []
    if not isinstance(labels, list) or len(labels) != len(data) or bad:
        got = (f"a {type(labels).__name__}" if not isinstance(labels, list) else
               f"the item {bad[0]!r}" if bad else f"{len(labels)} items")
        raise InvalidValue(f"{path}: b'labels' must be a list of {len(data)} ints in 0..9, got {got}; "
                         f"expected {expected}")
    return data, np.asarray(labels, dtype=np.int64)


def load_cifar10(folder: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``uint8[N, 3, 32, 32]`` images and ``int64[N]`` labels of ``split`` from a ``cifar-10-batches-py`` folder."""
    images, labels = [], []
    for name in CIFAR10_FILES[split]:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise MissingPath(
                f"CIFAR-10 not found: expected {os.path.abspath(path)} (the folder {os.path.abspath(folder)} with "
                f"data_batch_1..5 and test_batch); get the 'CIFAR-10 python version' (cifar-10-python.tar.gz) from "
                f"{CIFAR10_URL} and extract it there (tar xzf cifar-10-python.tar.gz), or point data.root (root=) at "
                "the folder that holds it"
            )
        data, batch_labels = read_batch(path)
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(batch_labels)
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
                raise InvalidValue(f"length must be a positive integer or None, got {length!r}")
            images, labels = images[:length], labels[:length]
        if self.options["fit"] == "center_crop" and self.image_size > 32:
            raise InvalidValue(
                f"cifar10 fit='center_crop' needs image_size <= 32, got {self.image_size}; use fit='resize'"
            )
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = torch.from_numpy(labels)
        self._length = len(self.images)

    def _make(self, index: Tensor, keys: Tensor) -> Tensor:
        images = self.images[index].to(torch.float32) / 127.5 - 1.0
        return fit(to_channels(images, self.channels), self.image_size, self.options["fit"])
