"""Fixtures shared by the evaluation tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Small images: intra-op threads only add overhead on the 2-core CI machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


