"""Fixtures shared by the op tests."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Tiny shapes: one thread avoids OpenMP hand-offs that dominate on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(params=["block", "gauss", "gemm", "winograd"])
def algorithm(request):
    """Forces the complex conv kernel's algorithm for one test: block-weight convolution, Gauss's form, GEMMs
    (pointwise convolutions on the contiguous layout; the others then take the block form) or Winograd's
    (3x3 convolutions of stride 1, one group, padding <= 2, channels in multiples of 16; the others then take
    Gauss's form)."""
    previous = torch.ops.specdiff._complex_conv_algorithm(request.param)
    yield request.param
    torch.ops.specdiff._complex_conv_algorithm(previous)
