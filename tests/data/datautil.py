"""Helpers for the data tests: a tiny CIFAR-10 folder in the official python pickle format."""

from __future__ import annotations

import os
import pickle

import numpy as np


def write_cifar10_folder(folder: str | os.PathLike, per_batch: int = 6, test: int = 5, seed: int = 0):
    """Writes ``data_batch_1..5`` (``per_batch`` images each) and ``test_batch`` into ``folder`` as the
    official dicts (b"data" uint8 [N, 3072] = R, G, B planes of 32x32 row-major; b"labels" list of ints).
    Returns {"train": (uint8[N, 3, 32, 32], int64[N]), "test": (...)} of what was written, in order."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    written = {"train": ([], []), "test": ([], [])}
    names = [(f"data_batch_{i}", "train", per_batch) for i in range(1, 6)] + [("test_batch", "test", test)]
    for name, split, count in names:
        images = rng.integers(0, 256, size=(count, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count).tolist()
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": images.reshape(count, 3072),
                 b"filenames": [f"{name}_{i}.png".encode() for i in range(count)]}
        with open(os.path.join(folder, name), "wb") as file:
            pickle.dump(batch, file, protocol=2)
        written[split][0].append(images)
        written[split][1].append(np.asarray(labels, dtype=np.int64))
    with open(os.path.join(folder, "batches.meta"), "wb") as file:
        pickle.dump({b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog",
                                      b"horse", b"ship", b"truck"]}, file, protocol=2)
    return {split: (np.concatenate(imgs), np.concatenate(labels)) for split, (imgs, labels) in written.items()}
