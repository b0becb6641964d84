"""build_dataset / dataset_options: the names, the declared options and every validation error."""

import pytest
import torch

from specdiff.data import DATASETS, build_dataset, dataset_options


def test_names_and_declared_options():
    assert DATASETS == ("noise", "piecewise", "texture", "random_field", "cifar10", "photos", "folder")
    assert dataset_options("random_field") == {"alpha": 2.0}
    assert dataset_options("piecewise") == {"kinds": ("checkerboard", "stripes", "circles", "mondrian"),
                                            "max_shapes": 6}
    assert set(dataset_options("texture")) == {"min_frequency", "max_frequency", "components", "sigma"}
    assert set(dataset_options("cifar10")) == {"fit", "classes"} and set(dataset_options("folder")) == {"fit"}
    assert set(dataset_options("photos")) == {"names", "holdout", "scale"}
    # The declared defaults are what a dataset built without options resolves to, and pass validation.
    for name in ("noise", "piecewise", "texture", "random_field"):
        defaults = dataset_options(name)
        assert build_dataset(name).options == defaults
        assert torch.equal(build_dataset(name, **defaults)[0], build_dataset(name)[0])


def test_yaml_lists_become_tuples():
    ds = build_dataset("piecewise", kinds=["stripes"])
    assert ds.options["kinds"] == ("stripes",)


def test_unknown_dataset_suggests_the_nearest():
    with pytest.raises(ValueError, match=r"unknown dataset 'nosie'; did you mean 'noise'\? \(valid: noise, piecewise"):
        build_dataset("nosie")
    with pytest.raises(ValueError, match="did you mean 'cifar10'"):
        dataset_options("cifar")
    with pytest.raises(ValueError, match=r"valid: noise, .*folder\)"):
        build_dataset("imagenet")


def test_unknown_option_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown option 'alfa' for dataset 'random_field'; did you mean 'alpha'\? "
                                         r"\(valid options: alpha\)"):
        build_dataset("random_field", alfa=1.0)
    with pytest.raises(ValueError, match=r"valid options: kinds, max_shapes"):
        build_dataset("piecewise", shapes=3)


@pytest.mark.parametrize(("name", "options", "message"), [
    ("random_field", {"alpha": 7.0}, r"option alpha=7\.0 is invalid; expected a number in \[0\.0, 6\.0\]"),
    ("random_field", {"alpha": "2"}, r"alpha='2' is invalid; expected a number"),
    ("noise", {"std": 0}, r"std=0 is invalid; expected a number in \(0\.0, 1\.0\]"),
    ("noise", {"distribution": "poisson"}, r"distribution='poisson' is invalid; expected one of gaussian, uniform"),
    ("piecewise", {"kinds": ["stripes", "hexagons"]}, r"kinds=\['stripes', 'hexagons'\] is invalid; expected a "
                                                       r"non-empty list of distinct kinds from checkerboard"),
    ("piecewise", {"kinds": []}, r"kinds=\[\] is invalid"),
    ("piecewise", {"max_shapes": 2.5}, r"max_shapes=2\.5 is invalid; expected an integer in \[1, 32\]"),
    ("texture", {"components": 0}, r"components=0 is invalid; expected an integer in \[1, 8\]"),
    ("texture", {"max_frequency": 0.6}, r"max_frequency=0\.6 is invalid; expected a number in \(0\.0, 0\.5\]"),
    ("texture", {"min_frequency": 0.3, "max_frequency": 0.2}, r"min_frequency=0\.3 must not exceed max_frequency"),
    ("photos", {"names": ["eagle"]}, r"names=\['eagle'\] is invalid; expected a non-empty list of distinct photo"),
    ("photos", {"holdout": 0.9}, r"holdout=0\.9 is invalid; expected a number in \[0\.05, 0\.5\]"),
    ("folder", {"fit": "stretch"}, r"fit='stretch' is invalid; expected one of resize, center_crop"),
])
def test_bad_option_values_name_key_value_and_range(name, options, message, tmp_path):
    root = {"root": str(tmp_path)} if name == "folder" else {}
    with pytest.raises(ValueError, match=message):
        build_dataset(name, **root, **options)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"split": "val"}, "split must be 'train' or 'test', got 'val'"),
    ({"channels": 2}, "channels must be 1 or 3, got 2"),
    ({"image_size": 1}, "image_size must be an integer >= 2, got 1"),
    ({"image_size": 32.0}, "image_size must be an integer >= 2, got 32.0"),
    ({"length": 0}, "length must be a positive integer or None, got 0"),
    ({"seed": "1"}, "seed must be an integer, got '1'"),
    ({"root": "/data"}, "dataset 'noise' takes no root"),
])
def test_bad_common_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        build_dataset("noise", **arguments)


def test_index_out_of_range():
    ds = build_dataset("texture", length=10)
    assert torch.equal(ds[-10], ds[0])
    with pytest.raises(IndexError, match="index 10 is out of range for a dataset of length 10"):
        ds.generate([3, 10])
