"""CIFAR-10 from a tiny folder in the official pickle format: exact pixels and labels, resize rules, errors."""

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from datautil import write_cifar10_folder
from torch.utils.data import DataLoader

from specdiff.data import build_dataset


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    written = write_cifar10_folder(root / "cifar-10-batches-py", per_batch=6, test=5)
    return root, written


@pytest.mark.parametrize("split", ["train", "test"])
def test_round_trip_pixels_and_labels(cifar, split):
    root, written = cifar
    images, labels = written[split]
    ds = build_dataset("cifar10", root=str(root), split=split)
    assert len(ds) == len(images) == (30 if split == "train" else 5)
    x = torch.stack([ds[i] for i in range(len(ds))])
    assert x.dtype == torch.float32 and x.shape == (len(images), 3, 32, 32)
    # Exactly u8 / 127.5 - 1: scaling back gives the written bytes.
    assert torch.equal(((x + 1) * 127.5).round().to(torch.uint8), torch.from_numpy(images))
    assert (x - (torch.from_numpy(images).float() / 127.5 - 1)).abs().max() < 1e-6
    assert ds.labels.tolist() == labels.tolist()
    # The R plane comes first in each row of b"data".
    assert float(x[0, 0, 0, 1]) == pytest.approx(images[0, 0, 0, 1] / 127.5 - 1, abs=1e-6)


def test_root_may_be_the_batches_folder_itself_and_dataloader_batches(cifar):
    root, written = cifar
    ds = build_dataset("cifar10", root=str(root / "cifar-10-batches-py"), split="test")
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert torch.equal(batch, torch.stack([ds[i] for i in range(4)]))
    assert torch.equal(((batch + 1) * 127.5).round().to(torch.uint8), torch.from_numpy(written["test"][0][:4]))


def test_grey_resize_center_crop_classes_length(cifar):
    root, written = cifar
    images = torch.from_numpy(written["train"][0]).float() / 127.5 - 1
    grey = build_dataset("cifar10", root=str(root), channels=1)[3]
    luma = 0.299 * images[3, 0] + 0.587 * images[3, 1] + 0.114 * images[3, 2]
    assert grey.shape == (1, 32, 32) and torch.allclose(grey[0], luma, atol=1e-6)
    crop = build_dataset("cifar10", root=str(root), image_size=16, fit="center_crop")[2]
    assert torch.equal(crop, images[2, :, 8:24, 8:24])
    small = build_dataset("cifar10", root=str(root), image_size=16)[2]
    expected = F.interpolate(images[2:3], size=(16, 16), mode="bilinear", antialias=True, align_corners=False)[0]
    assert torch.allclose(small, expected.clamp(-1, 1)) and not torch.allclose(small, crop, atol=0.1)
    big = build_dataset("cifar10", root=str(root), image_size=64)[2]
    expected = F.interpolate(images[2:3], size=(64, 64), mode="bilinear", align_corners=False)[0]
    assert big.shape == (3, 64, 64) and torch.allclose(big, expected)
    labels = written["train"][1]
    cats = build_dataset("cifar10", root=str(root), classes=["cat", 1])
    keep = np.isin(labels, [1, 3])
    assert cats.labels.tolist() == labels[keep].tolist() and len(cats) == int(keep.sum())
    assert torch.equal(cats[0], images[np.flatnonzero(keep)[0]])
    assert len(build_dataset("cifar10", root=str(root), length=7)) == 7
    assert len(build_dataset("cifar10", root=str(root), length=31)) == 30  # at most the images there are
    with pytest.raises(ValueError, match="length must be a positive integer or None, got 0"):
        build_dataset("cifar10", root=str(root), length=0)
    with pytest.raises(ValueError, match="classes='kitten'"):
        build_dataset("cifar10", root=str(root), classes="kitten")


def test_flips_mirror_some_images(cifar):
    root, written = cifar
    plain = build_dataset("cifar10", root=str(root)).generate(range(30))
    flipped = build_dataset("cifar10", root=str(root), random_flip=True, seed=1).generate(range(30))
    mirrored = (flipped == plain.flip(-1)).flatten(1).all(1)
    assert ((flipped == plain).flatten(1).all(1) | mirrored).all()
    assert 5 <= int(mirrored.sum()) <= 25


def test_missing_folder_says_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        build_dataset("cifar10", root=str(tmp_path))
    message = str(info.value)
    assert "\n" not in message
    assert os.path.join(str(tmp_path), "cifar-10-batches-py") in message
    assert "cifar-10-python.tar.gz" in message and "https://www.cs.toronto.edu/~kriz/cifar.html" in message
    # A folder with the train batches but no test batch names the missing file.
    write_cifar10_folder(tmp_path / "cifar-10-batches-py", per_batch=1, test=1)
    os.remove(tmp_path / "cifar-10-batches-py" / "test_batch")
    with pytest.raises(FileNotFoundError, match="test_batch"):
        build_dataset("cifar10", root=str(tmp_path), split="test")
