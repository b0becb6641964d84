"""Image folders: PNGs written by save_image come back exactly; fit rules; train/test sub-folders."""

import pytest
import torch

from specdiff.data import build_dataset
from specdiff.data.images import save_image


def _quantized(image: torch.Tensor) -> torch.Tensor:
    """What an 8-bit PNG keeps of an image in [-1, 1]."""
    return ((image + 1) * 127.5).round() / 127.5 - 1


def _write(folder, images):
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        save_image(image, folder / f"img_{i:02d}.png")


def test_pngs_round_trip_in_name_order(tmp_path):
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    _write(tmp_path, images)
    (tmp_path / "notes.txt").write_text("not an image")
    ds = build_dataset("folder", root=str(tmp_path), image_size=16)
    assert len(ds) == 4
    got = torch.stack([ds[i] for i in range(4)])
    assert got.dtype == torch.float32 and (got - _quantized(images)).abs().max() < 1e-6
    assert torch.equal(ds.generate([3, 1]), got[[3, 1]])
    assert len(build_dataset("folder", root=str(tmp_path), length=2)) == 2
    assert len(build_dataset("folder", root=str(tmp_path), length=9)) == 4


def test_channels_and_fit_rules(tmp_path):
    # A 24 x 40 grey image: value 0.5 in the centre 24 x 24 square, -0.5 in the 8-pixel side bands.
    image = torch.full((1, 24, 40), -0.5)
    image[:, :, 8:32] = 0.5
    _write(tmp_path, [image])
    rgb = build_dataset("folder", root=str(tmp_path), image_size=24, channels=3)[0]
    assert rgb.shape == (3, 24, 24) and torch.equal(rgb[0], rgb[1]) and torch.equal(rgb[1], rgb[2])
    # center_crop: exactly the centre square at native resolution.
    crop = build_dataset("folder", root=str(tmp_path), image_size=16, channels=1, fit="center_crop")[0]
    assert torch.equal(crop, _quantized(image)[:, 4:20, 12:28])
    # resize: short side 24 -> 16 (width 40 -> 27), then the centre 16 of the 27 columns (from column 5, i.e.
    # input x = 7.75): the bright square, whose left edge the antialiasing filter blends into column 0 only.
    small = build_dataset("folder", root=str(tmp_path), image_size=16, channels=1)[0]
    bright = _quantized(image)[0, 0, 20]
    assert small.shape == (1, 16, 16) and (small[..., 1:] - bright).abs().max() < 1e-6
    assert (-0.5 < small[..., 0]).all() and (small[..., 0] < bright - 0.1).all()
    with pytest.raises(ValueError, match="img_00.png.*center_crop to 32x32"):
        build_dataset("folder", root=str(tmp_path), image_size=32, fit="center_crop")[0]


def test_train_and_test_subfolders(tmp_path):
    train = torch.full((3, 3, 8, 8), 0.2)
    test = torch.full((2, 3, 8, 8), -0.6)
    _write(tmp_path / "train", train)
    _write(tmp_path / "test", test)
    a = build_dataset("folder", root=str(tmp_path), image_size=8)
    b = build_dataset("folder", root=str(tmp_path), image_size=8, split="test")
    assert len(a) == 3 and len(b) == 2
    assert (a[0] - _quantized(train[0])).abs().max() < 1e-6 and (b[1] - _quantized(test[1])).abs().max() < 1e-6


def test_test_split_without_subfolder_and_missing_root(tmp_path):
    _write(tmp_path, torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="no 'test' sub-folder"):
        build_dataset("folder", root=str(tmp_path), split="test")
    with pytest.raises(ValueError, match="needs root"):
        build_dataset("folder")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_dataset("folder", root=str(tmp_path / "nowhere"))
