"""CIFAR-10 from a tiny folder in the official pickle format: exact pixels and labels, resize rules, errors."""

import os
import pickle
import shlex
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from datautil import write_cifar10_folder
from torch.utils.data import DataLoader

from specdiff.data import build_dataset
from specdiff.data.cifar import read_batch
from specdiff.data.images import save_image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


class RunsCommand:
    """Unpickling this runs ``touch marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


class OpensFile(RunsCommand):
    """Unpickling this creates ``marker``."""

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("payload", [RunsCommand, OpensFile])
@pytest.mark.parametrize("protocol", [2, 5])
def test_a_crafted_batch_is_refused_before_anything_runs(tmp_path, payload, protocol):
    write_cifar10_folder(tmp_path / "cifar-10-batches-py", per_batch=2, test=2)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    data = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, payload(tmp_path / "pwned")]},
                        protocol=protocol)
    pickle.loads(data)  # the control: plain pickle runs it
    assert (tmp_path / "pwned").exists()
    os.remove(tmp_path / "pwned")
    path.write_bytes(data)
    with pytest.raises(ValueError) as info:
        build_dataset("cifar10", root=str(tmp_path))
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: refused: it asks for ")
    assert ("posix.system" if payload is RunsCommand else "io.open") in message
    assert "a CIFAR-10 batch never holds" in message and "b'data' (uint8 array [N, 3072])" in message
    assert not (tmp_path / "pwned").exists()


def _batch(data="zeros", labels=(1, 2)):
    """An official-looking batch dict; None drops that key."""
    data = np.zeros((2, 3072), np.uint8) if isinstance(data, str) else data
    batch = {b"batch_label": b"x", b"labels": list(labels) if isinstance(labels, tuple) else labels, b"data": data,
             b"filenames": []}
    return {k: v for k, v in batch.items() if v is not None}


@pytest.mark.parametrize("content, needle", [
    (pickle.dumps([1, 2, 3], protocol=2), "got a list"),
    (pickle.dumps(_batch(labels=None), protocol=2), "got keys"),
    (pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [1, 2]}), "got keys 'data', 'labels';"),
    (pickle.dumps(_batch(data=np.zeros((2, 3072))), protocol=2), "b'data' must be a uint8 array [N, 3072], "
                                                                           "got float64[2, 3072]"),
    (pickle.dumps(_batch(data=np.zeros((2, 100), np.uint8))), "got uint8[2, 100]"),
    (pickle.dumps(_batch(data=[1, 2])), "got a list"),
    (pickle.dumps(_batch(labels=(1,))), "b'labels' must be a list of 2 ints in 0..9, got 1 items"),
    (pickle.dumps(_batch(labels=(1, 10))), "got the item 10"),
    (pickle.dumps(_batch(labels="ab")), "got a str"),
    (pickle.dumps(_batch(), protocol=2)[:200], "not a CIFAR-10 batch (UnpicklingError"),
    (b"hello, not a pickle", "not a CIFAR-10 batch"),
    (b"", "not a CIFAR-10 batch (EOFError"),
], ids=["list", "no-labels", "str-keys", "float-data", "short-rows", "list-data", "few-labels", "label-10",
        "str-labels", "truncated", "text", "empty"])
def test_a_malformed_batch_is_one_line_naming_the_file(tmp_path, content, needle):
    path = tmp_path / "data_batch_1"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        read_batch(str(path))
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ") and needle in message, message
    assert "expected a pickled dict with b'data' (uint8 array [N, 3072]) and b'labels'" in message


def test_cli_errors_for_crafted_and_malformed_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10_folder(folder, per_batch=2, test=2)
    (folder / "data_batch_3").write_bytes(pickle.dumps([OpensFile(tmp_path / "pwned")], protocol=2))
    (folder / "test_batch").write_bytes(pickle.dumps([1, 2], protocol=2))  # the TypeError of the report
    (tmp_path / "gen").mkdir()
    save_image(torch.zeros(3, 32, 32), tmp_path / "gen" / "a.png")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    train = subprocess.run([sys.executable, "-m", "specdiff", "train", "--config",
                            os.path.join(ROOT, "configs", "smoke", "tiny_unet.yaml"), "--output-dir", str(tmp_path),
                            "--set", "data.name=cifar10", "--set", f"data.root={tmp_path}"],
                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    evaluate = subprocess.run([sys.executable, "-m", "specdiff", "evaluate", "--generated", str(tmp_path / "gen"),
                               "--reference-dataset", "cifar10", "--reference-root", str(tmp_path)],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    for proc, name, needle in ((train, "data_batch_3", "refused: it asks for io.open"),
                               (evaluate, "test_batch", "not a CIFAR-10 batch: got a list")):
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr
        assert f"{folder / name}: {needle}" in proc.stderr
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "runs").exists()
