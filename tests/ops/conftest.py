"""Fixtures shared by the op tests."""

import pytest
import torch
from optester import parametrize


def pytest_generate_tests(metafunc):
    parametrize(metafunc)  # the cases of the OpTester classes


@pytest.fixture(scope="module")
def one_thread():
    """Tiny shapes: one thread avoids OpenMP hand-offs that dominate on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(params=["block", "gauss", "gemm"])
def algorithm(request):
    """Forces the complex conv kernel's algorithm for one test: block-weight convolution, Gauss's form, or GEMMs
    (pointwise convolutions on the contiguous layout; the others then take the block form). Winograd's form
    (which fits only 3x3, stride-1, one-group convolutions) has its own tests, or is passed indirectly with a
    config it fits."""
    previous = torch.ops.specdiff._complex_conv_algorithm(request.param)
    yield request.param
    torch.ops.specdiff._complex_conv_algorithm(previous)
