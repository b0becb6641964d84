"""pytest-benchmark: one full training step (forward, ε-loss, backward, AdamW) of every model on each op backend.

Standard configuration (``specdiff.bench.models.STANDARD``): batch 64 of 3x32x32 images, base width 32. With
``--benchmark-disable`` the tiny configuration runs once, so the suite cannot rot.
"""

import pytest
import torch

from specdiff.bench.models import BACKENDS, STANDARD, TINY, count_parameters, kernels_missing, make_step, use_backend
from specdiff.nn import MODELS, build_model


@pytest.fixture
def config(request):
    return TINY if request.config.getoption("benchmark_disable", False) else STANDARD


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model", list(MODELS))
def test_training_step(benchmark, config, model, backend):
    if backend == "kernel" and (missing := kernels_missing()):
        pytest.skip(f"no CPU kernel for {', '.join(missing)}")
    torch.manual_seed(0)
    net = build_model(model, in_channels=config["channels"], base_channels=config["base_channels"])
    gen = torch.Generator().manual_seed(0)
    size = (config["batch"], config["channels"], config["size"], config["size"])
    step = make_step(net, torch.rand(size, generator=gen) * 2 - 1)
    benchmark.group = f"train-step-{model}"
    benchmark.extra_info.update(model=model, backend=backend, params=count_parameters(net), **config)

    def run():
        with use_backend(backend):
            step()

    benchmark(run)
