"""Datasets for specdiff: synthetic families made on the fly (``noise``, ``piecewise``, ``texture``,
``random_field``), CIFAR-10 from a local folder, patches of the photographs shipped with scikit-image, and
image folders. Every item is a float32 ``Tensor[C, H, W]`` in [-1, 1] and a deterministic function of
(seed, split, index); see ``build_dataset``."""

from specdiff.data.base import ImageDataset, fit, to_channels
from specdiff.data.cifar import CIFAR10_CLASSES, Cifar10, load_cifar10
from specdiff.data.folder import ImageFolder
from specdiff.data.photos import DEFAULT_PHOTOS, PHOTOS, Photos, load_photo
from specdiff.data.registry import DATASETS, build_dataset, check_options, dataset_options
from specdiff.data.synthetic import PIECEWISE_KINDS, Noise, Piecewise, RandomField, Texture

__all__ = [
    "CIFAR10_CLASSES",
    "DATASETS",
    "DEFAULT_PHOTOS",
    "PHOTOS",
    "PIECEWISE_KINDS",
    "Cifar10",
    "ImageDataset",
    "ImageFolder",
    "Noise",
    "Photos",
    "Piecewise",
    "RandomField",
    "Texture",
    "build_dataset",
    "check_options",
    "dataset_options",
    "fit",
    "load_cifar10",
    "load_photo",
    "to_channels",
]
