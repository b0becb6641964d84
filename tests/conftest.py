"""Fixtures for the whole test tree."""

import pytest
import torch

# Test folders that run many small ops on small tensors: intra-op threads only add OpenMP hand-offs there
# (and stall on a busy 2-core machine). tests/ops chooses per test (its own `one_thread` fixture).
SINGLE_THREADED = ("data", "diffusion", "eval", "nn", "train")


@pytest.fixture(autouse=True)
def _single_thread_for_small_tensors(request):
    if request.path.parent.name not in SINGLE_THREADED:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
