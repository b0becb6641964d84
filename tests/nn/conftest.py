import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    """Small models on small inputs: intra-op threads only add overhead (and stall on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
