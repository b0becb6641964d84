"""pytest-benchmark suite over specdiff.bench.cases.

With ``--benchmark-disable`` (as ``make test`` runs it) every case runs once on tiny shapes so the suite
cannot rot; otherwise on the standard shapes, float32, with as many threads as cores.
"""

import os

import torch

from specdiff.bench.cases import PASSES, PATHS, STANDARD_SHAPES, TINY_SHAPES

torch.set_num_threads(os.cpu_count() or 1)


def pytest_generate_tests(metafunc):
    if "shape" in metafunc.fixturenames:
        tiny = metafunc.config.getoption("benchmark_disable", False)
        shapes = TINY_SHAPES if tiny else STANDARD_SHAPES
        metafunc.parametrize("shape", shapes, ids=["x".join(map(str, s)) for s in shapes])
    if "path" in metafunc.fixturenames:
        metafunc.parametrize("path", PATHS)
    if "pass_" in metafunc.fixturenames:
        metafunc.parametrize("pass_", PASSES)
