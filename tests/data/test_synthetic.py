"""Synthetic families: determinism, batch independence, DataLoader parity, range, options, and per-family numbers."""

import math

import pytest
import torch
from torch.utils.data import DataLoader

from specdiff.data import build_dataset, dataset_options

FAMILIES = ("noise", "piecewise", "texture", "random_field")
# A non-default value for every option: each must change the images.
CHANGED = {
    "noise": {"distribution": "uniform", "std": 0.5},
    "piecewise": {"kinds": ["stripes", "circles"], "max_shapes": 2},
    "texture": {"min_frequency": 0.3, "max_frequency": 0.45, "components": 3, "sigma": 0.0},
    "random_field": {"alpha": 1.0},
}


@pytest.mark.parametrize("name", FAMILIES)
def test_same_seed_same_items_other_seed_other_items(name):
    a = build_dataset(name, seed=4).generate(range(16))
    assert torch.equal(a, build_dataset(name, seed=4).generate(range(16)))
    b = build_dataset(name, seed=5).generate(range(16))
    assert all(not torch.equal(a[i], b[i]) for i in range(16))
    # Within one dataset the items differ from each other too.
    assert all(not torch.equal(a[i], a[i + 1]) for i in range(15))


@pytest.mark.parametrize("name", FAMILIES)
def test_item_is_independent_of_batch_composition(name):
    ds = build_dataset(name, seed=1)
    batch = ds.generate([40, 3, 17, 3, 49_999])
    assert torch.equal(batch[0], ds[40]) and torch.equal(batch[2], ds[17])
    assert torch.equal(batch[1], batch[3])
    assert torch.equal(batch[4], ds[-1])
    assert torch.equal(ds.generate([17, 40]), batch[[2, 0]])


@pytest.mark.parametrize("name", FAMILIES)
def test_item_is_independent_of_the_thread_count(name):
    ds = build_dataset(name, image_size=24)
    torch.set_num_threads(2)  # the autouse fixture restores the count
    batch = ds.generate(range(100, 200))
    torch.set_num_threads(1)
    alone = torch.stack([ds[i] for i in range(100, 200)])
    if name == "random_field":  # see RandomField._make: MKL's FFT may move a rare value by 1 ulp
        assert (batch != alone).sum() <= 2 and torch.allclose(batch, alone, rtol=0, atol=1e-6)
    else:
        assert torch.equal(batch, alone)
    assert ds.generate([]).shape == (0, 3, 24, 24)


@pytest.mark.parametrize("name", FAMILIES)
def test_default_dataloader_gives_the_stacked_items(name):
    ds = build_dataset(name, length=100, seed=2)
    batches = list(DataLoader(ds, batch_size=64))
    assert [len(b) for b in batches] == [64, 36]
    assert torch.equal(batches[1], torch.stack([ds[i] for i in range(64, 100)]))


def test_shuffled_multiworker_dataloader_gives_the_sampled_items():
    ds = build_dataset("piecewise", length=48, image_size=8)
    order = torch.randperm(48, generator=torch.Generator().manual_seed(0)).tolist()
    loader = DataLoader(ds, batch_size=16, sampler=order, num_workers=2)
    got = torch.cat(list(loader))
    assert torch.equal(got, torch.stack([ds[i] for i in order]))


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize(("channels", "size"), [(1, 16), (3, 33)])
def test_range_dtype_channels_and_size(name, channels, size):
    x = build_dataset(name, channels=channels, image_size=size).generate(range(32))
    assert x.dtype == torch.float32 and x.shape == (32, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert x.std() > 0.1  # not a constant image
    if channels == 3 and name != "random_field":
        # Colour families really use three channels.
        assert (x[:, 0] - x[:, 1]).abs().max() > 0.1


@pytest.mark.parametrize("name", FAMILIES)
def test_train_and_test_streams_are_disjoint(name):
    train = build_dataset(name, split="train").generate(range(64)).flatten(1)
    test = build_dataset(name, split="test").generate(range(64)).flatten(1)
    assert torch.cdist(train, test).min() > 0.5
    assert len(build_dataset(name)) == 50_000 and len(build_dataset(name, split="test")) == 10_000
    with pytest.raises(IndexError, match="10000"):
        build_dataset(name, split="test")[10_000]


@pytest.mark.parametrize("name", FAMILIES)
def test_every_option_changes_the_images(name):
    assert set(CHANGED[name]) == set(dataset_options(name))
    base = build_dataset(name, seed=3).generate(range(8))
    for key, value in CHANGED[name].items():
        other = build_dataset(name, seed=3, **{key: value}).generate(range(8))
        assert not torch.equal(base, other), key


@pytest.mark.parametrize("name", FAMILIES)
def test_flips_are_deterministic_per_epoch(name):
    plain = build_dataset(name, length=200, image_size=8).generate(range(200))
    ds = build_dataset(name, length=200, image_size=8, random_flip=True)
    flipped = ds.generate(range(200))
    is_flipped = (flipped == plain.flip(-1)).flatten(1).all(1)
    assert ((flipped == plain).flatten(1).all(1) | is_flipped).all()
    assert 70 < int(is_flipped.sum()) < 130
    assert torch.equal(ds.generate(range(200)), flipped)
    ds.set_epoch(1)
    again = (ds.generate(range(200)) == plain.flip(-1)).flatten(1).all(1)
    assert (again != is_flipped).sum() > 50
    ds.set_epoch(0)
    assert torch.equal(ds.generate(range(200)), flipped)


@pytest.mark.parametrize(("distribution", "std"), [("gaussian", 0.2), ("uniform", 0.4)])
def test_noise_statistics(distribution, std):
    x = build_dataset("noise", distribution=distribution, std=std).generate(range(64)).double()
    assert abs(x.mean()) < 0.003
    assert abs(x.std() / std - 1) < 0.01
    inside = (x.abs() < std).double().mean()
    expected = math.erf(1 / math.sqrt(2)) if distribution == "gaussian" else 1 / math.sqrt(3)
    assert abs(inside - expected) < 0.005
    pixels = x.flatten(2)
    assert abs(torch.corrcoef(torch.stack([pixels[..., :-1].flatten(), pixels[..., 1:].flatten()]))[0, 1]) < 0.01
    # Channels are independent.
    assert abs(torch.corrcoef(torch.stack([x[:, 0].flatten(), x[:, 1].flatten()]))[0, 1]) < 0.01


def test_checkerboard_has_two_values_on_a_square_lattice():
    x = build_dataset("piecewise", kinds=["checkerboard"], channels=1, image_size=32).generate(range(32))[:, 0]
    cells = set()
    for image in x:
        assert torch.unique(image).numel() == 2
        # Colour changes along a row and down a column happen every `cell` pixels, the same in both directions.
        row_changes = torch.nonzero(image[0, 1:] != image[0, :-1]).flatten()
        col_changes = torch.nonzero(image[1:, 0] != image[:-1, 0]).flatten()
        gaps = torch.cat([row_changes.diff(), col_changes.diff()])
        assert gaps.numel() > 0 and (gaps == gaps[0]).all()
        cells.add(int(gaps[0]))
        # A checkerboard: moving one cell right or down swaps the two colours.
        cell = int(gaps[0])
        assert torch.equal(image[:, cell:] != image[:, :-cell], torch.ones_like(image[:, cell:], dtype=torch.bool))
        assert torch.equal(image[cell:] != image[:-cell], torch.ones_like(image[cell:], dtype=torch.bool))
    assert min(cells) >= 2 and max(cells) <= 16 and len(cells) > 4


def test_stripes_two_values_constant_along_the_stripe():
    x = build_dataset("piecewise", kinds="stripes", channels=1, image_size=32).generate(range(16))[:, 0]
    for image in x:
        assert torch.unique(image).numel() == 2
        # Two-colour stripes with a 50 % duty cycle: each colour covers about half the image.
        assert 0.3 < (image == image.max()).double().mean() < 0.7


def test_circles_and_mondrian_structure():
    shapes = 3
    circles = build_dataset("piecewise", kinds=["circles"], max_shapes=shapes, channels=1).generate(range(32))[:, 0]
    assert all(2 <= torch.unique(c).numel() <= shapes + 1 for c in circles)
    mondrian = build_dataset("piecewise", kinds=["mondrian"], max_shapes=shapes, channels=1).generate(range(32))[:, 0]
    for image in mondrian:
        # A grid of cells: at most shapes + 1 distinct rows and columns, and more than one cell.
        rows, cols = torch.unique(image, dim=0).shape[0], torch.unique(image, dim=1).shape[1]
        assert rows <= shapes + 1 and cols <= shapes + 1 and rows * cols > 1


def test_piecewise_draws_every_kind():
    x = build_dataset("piecewise", channels=1, max_shapes=6).generate(range(200))[:, 0]
    distinct = torch.tensor([torch.unique(image).numel() for image in x])
    two = (distinct == 2).double().mean()  # checkerboard and stripes (+ the rare single-disc circles)
    assert 0.4 < two < 0.65 and (distinct > 2).any()


def _peak_frequency(images: torch.Tensor) -> torch.Tensor:
    """Radius (cycles/pixel) of the strongest non-DC bin of each image's half spectrum."""
    size = images.shape[-1]
    power = torch.fft.rfft2(images - images.mean(dim=(-2, -1), keepdim=True)).abs() ** 2
    radius = torch.sqrt(torch.fft.fftfreq(size)[:, None] ** 2 + torch.fft.rfftfreq(size)[None, :] ** 2)
    return radius.flatten()[power.flatten(1).argmax(1)]


@pytest.mark.parametrize("frequency", [0.125, 0.3])
def test_grating_spectrum_peaks_at_its_frequency(frequency):
    size = 64
    for sigma in (0.0, 0.35):
        x = build_dataset("texture", channels=1, image_size=size, components=1, sigma=sigma,
                          min_frequency=frequency, max_frequency=frequency).generate(range(16))[:, 0]
        peak = _peak_frequency(x)
        assert (peak - frequency).abs().max() <= 1 / size, (sigma, peak)


def test_grating_frequencies_stay_in_range():
    x = build_dataset("texture", channels=1, image_size=64, components=1, sigma=0.0,
                      min_frequency=0.1, max_frequency=0.2).generate(range(64))[:, 0]
    peak = _peak_frequency(x)
    assert peak.min() >= 0.1 - 1 / 64 and peak.max() <= 0.2 + 1 / 64
    assert peak.max() - peak.min() > 0.05  # spread over the range


def _spectral_slope(images: torch.Tensor) -> float:
    """Least-squares slope of log(radially averaged power) against log(frequency), bins 2..S/2-1."""
    size = images.shape[-1]
    power = (torch.fft.rfft2(images.double()).abs() ** 2).mean(dim=(0, 1))
    radius = torch.sqrt(torch.fft.fftfreq(size)[:, None] ** 2 + torch.fft.rfftfreq(size)[None, :] ** 2) * size
    bins = radius.round().long()
    r = torch.arange(2, size // 2)
    mean_power = torch.stack([power[bins == k].mean() for k in r])
    logf, logp = torch.log(r.double()), torch.log(mean_power)
    logf = logf - logf.mean()
    return float((logf * (logp - logp.mean())).sum() / (logf**2).sum())


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.5])
def test_random_field_power_law_slope(alpha):
    x = build_dataset("random_field", alpha=alpha, channels=1, image_size=64).generate(range(64))
    assert x.amin(dim=(1, 2, 3)).eq(-1).all() and x.amax(dim=(1, 2, 3)).eq(1).all()
    assert abs(_spectral_slope(x) + alpha) < 0.1
