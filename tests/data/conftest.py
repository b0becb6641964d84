import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    """Small tensors: intra-op threads only add overhead on the 2-core CI machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
