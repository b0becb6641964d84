"""Fixtures of the Taguchi tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Runs and their spawned workers on one thread each (the 2-core machine runs two at once)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
