"""The body every bench_<op>.py shares: build a case's inputs, time one (path, pass) thunk."""

import pytest
import torch

from specdiff.bench.cases import CASES, kernel_available


def run_case(benchmark, name: str, shape, path: str, pass_: str, dtype=torch.float32) -> None:
    case = CASES[name]
    device = torch.device("cpu")
    if path == "kernel" and not kernel_available(case, device):
        pytest.skip(f"no CPU kernel for {case.op}")
    thunk = case.build(shape, dtype, device)[(path, pass_)]
    benchmark.group = f"{name}-{pass_}-{'x'.join(map(str, shape))}"
    benchmark.extra_info.update(op=name, path=path, shape=list(shape), dtype=str(dtype).removeprefix("torch."))
    benchmark(thunk)
