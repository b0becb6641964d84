"""Patches of the scikit-image photos: offline, exact crops, disjoint train/test regions, determinism, errors."""

import socket
import sys

import pytest
import torch

from specdiff.data import DEFAULT_PHOTOS, PHOTOS, build_dataset, load_photo

NAMES = ("brick", "coffee")


def _no_network(*args, **kwargs):
    raise AssertionError("the photos dataset tried to use the network")


def test_every_offered_photo_loads_offline(monkeypatch):
    pytest.importorskip("skimage")
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    load_photo.cache_clear()
    for name in PHOTOS:
        photo = load_photo(name)
        assert photo.dtype == torch.float32 and photo.shape[0] in (1, 3) and min(photo.shape[1:]) >= 300
        assert photo.min() >= -1 and photo.max() <= 1 and photo.std() > 0.05, name
    ds = build_dataset("photos", image_size=64)
    assert ds.options["names"] == DEFAULT_PHOTOS and len(ds.photos) == len(DEFAULT_PHOTOS)


@pytest.mark.parametrize("channels", [1, 3])
def test_patches_are_exact_crops_of_the_held_out_regions(channels):
    pytest.importorskip("skimage")
    size, holdout = 32, 0.25
    for split in ("train", "test"):
        ds = build_dataset("photos", split=split, image_size=size, channels=channels, names=NAMES, holdout=holdout)
        assert len(ds) == (50_000 if split == "train" else 10_000)
        x = ds.generate(range(200))
        where = ds.locate(range(200))
        assert x.shape == (200, channels, size, size) and x.min() >= -1 and x.max() <= 1
        for image, (p, top, left) in zip(x, where.tolist(), strict=True):
            assert torch.equal(image, ds.photos[p][:, top:top + size, left:left + size])
        widths = torch.tensor([ds.photos[p].shape[-1] for p in where[:, 0].tolist()])
        boundary = (widths * (1 - holdout)).round().long()
        if split == "train":
            assert (where[:, 2] + size <= boundary).all()
        else:
            assert (where[:, 2] >= boundary).all() and (where[:, 2] + size <= widths).all()
        # Both photos are used and positions are spread over their regions.
        assert set(where[:, 0].tolist()) == {0, 1} and where[:, 1].float().std() > 20


def test_grey_and_colour_photos_convert():
    pytest.importorskip("skimage")
    colour = build_dataset("photos", names=["coffee"], channels=1, image_size=16).generate(range(4))
    rgb = build_dataset("photos", names=["coffee"], channels=3, image_size=16).generate(range(4))
    luma = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    assert torch.allclose(colour[:, 0], luma, atol=1e-6)
    grey = build_dataset("photos", names=["brick"], channels=3, image_size=16).generate(range(4))
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])


def test_determinism_epochs_scale_and_size_errors():
    pytest.importorskip("skimage")
    ds = build_dataset("photos", names=NAMES, seed=3)
    first = ds.generate(range(32))
    assert torch.equal(first, build_dataset("photos", names=NAMES, seed=3).generate(range(32)))
    assert not torch.equal(first, build_dataset("photos", names=NAMES, seed=4).generate(range(32)))
    assert torch.equal(ds.generate([7, 2])[1], ds[2])
    ds.set_epoch(1)
    assert (ds.locate(range(32)) != build_dataset("photos", names=NAMES, seed=3).locate(range(32))).any(1).all()
    half = build_dataset("photos", names=["brick"], scale=0.5, channels=1)
    assert half.photos[0].shape == (1, 256, 256)
    with pytest.raises(ValueError, match="'coffee'.*test region 400x150 smaller than image_size=160"):
        build_dataset("photos", names=["coffee"], split="test", image_size=160)


def test_missing_scikit_image_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    load_photo.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"pip install -e \.\[photos\]"):
            build_dataset("photos")
    finally:
        load_photo.cache_clear()
