"""The C++ autograd of the ops whose backward is one op, and of group_norm_silu (csrc/autograd.cpp): the graph
node it makes, the gradient of each input on its own (the output mask it passes to the backward op, before or after
the other arguments), and the profiler's count of its nodes in the spectral-op time."""

import pytest
import torch

from specdiff import extension
from specdiff.ops import (
    spectral_band_filter2d_reference,
    spectral_band_mse_reference,
    spectral_band_weight_reference,
    spectral_conv2d_reference,
    spectral_filter2d_reference,
)
from specdiff.train.trainer import spectral_op_seconds

pytestmark = pytest.mark.skipif(not extension.is_loaded(), reason="needs specdiff._C")


def _inputs(name):
    """(kernel op, reference, tensor arguments, other arguments) of a small float64 call."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 6, 5, generator=gen, dtype=torch.float64)
    band = (torch.tensor([0.1, 0.2], dtype=torch.float64), torch.tensor([0.7, 0.8], dtype=torch.float64),
            torch.tensor([1.0, 1.5], dtype=torch.float64))
    ops = torch.ops.specdiff
    if name == "spectral_filter2d":
        weight = torch.randn(3, 8, 5, generator=gen, dtype=torch.complex128)
        return ops.spectral_filter2d, spectral_filter2d_reference, (x, weight), ([8, 8],)
    if name == "spectral_conv2d":
        basis = torch.randn(2, 8, 5, generator=gen, dtype=torch.complex128)
        taps = torch.randn(2, 4, 3, generator=gen, dtype=torch.float64)
        return ops.spectral_conv2d, spectral_conv2d_reference, (x, basis, taps), ([8, 8],)
    if name == "spectral_band_weight":
        spec = torch.fft.rfft2(x, norm="ortho")
        return ops.spectral_band_weight, spectral_band_weight_reference, (spec, *band), (10.0, 5, "bandpass")
    reference = {"spectral_band_filter2d": spectral_band_filter2d_reference,
                 "spectral_band_mse": spectral_band_mse_reference}[name]
    return getattr(ops, name), reference, (x, *band), (10.0, "bandpass")


OPS = ("spectral_filter2d", "spectral_conv2d", "spectral_band_weight", "spectral_band_filter2d", "spectral_band_mse")


def _loss(out, gen):
    probe = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    return (out * probe.conj()).real.sum() if out.is_complex() else (out * probe).sum()


@pytest.mark.parametrize("name", OPS)
def test_the_graph_node_is_cpp(name):
    op, _, tensors, rest = _inputs(name)
    leaves = [t.clone().requires_grad_() for t in tensors]
    node = op(*leaves, *rest).grad_fn.name()
    assert "CppNode" in node and "specdiff" in node, node


@pytest.mark.parametrize("name", OPS)
def test_each_input_alone_gets_the_reference_gradient(name):
    op, reference, tensors, rest = _inputs(name)
    for i in range(len(tensors)):
        grads = []
        for fn in (op, reference):
            leaves = [t.clone().requires_grad_(j == i) for j, t in enumerate(tensors)]
            _loss(fn(*leaves, *rest), torch.Generator().manual_seed(7)).backward()
            assert all(leaf.grad is None for j, leaf in enumerate(leaves) if j != i)
            grads.append(leaves[i].grad)
        torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-10, msg=f"{name}: input {i}")


def test_no_input_needs_a_gradient_then_no_graph():
    op, _, tensors, rest = _inputs("spectral_band_weight")
    assert op(*tensors, *rest).grad_fn is None


def test_spectral_op_seconds_counts_the_cpp_nodes():
    op, _, tensors, rest = _inputs("spectral_band_filter2d")
    leaves = [t.clone().requires_grad_() for t in tensors]
    with torch.profiler.profile() as prof:
        op(*leaves, *rest).sum().backward()
    keys = [evt.key for evt in prof.key_averages()]
    assert any(k.startswith("torch::autograd::CppNode<specdiff") for k in keys), keys
    node_self = sum(evt.self_cpu_time_total for evt in prof.key_averages() if "CppNode<specdiff" in evt.key)
    ops_self = sum(evt.self_cpu_time_total for evt in prof.key_averages() if evt.key.startswith("specdiff::"))
    spectral, total = spectral_op_seconds(prof)
    assert spectral == pytest.approx((node_self + ops_self) * 1e-6, rel=1e-9) and 0 < spectral <= total


def test_group_norm_silu_node_statistics_and_each_input_alone():
    from specdiff.ops import group_norm_silu_reference

    gen = torch.Generator().manual_seed(5)
    tensors = (torch.randn(2, 6, 5, 4, generator=gen, dtype=torch.float64),
               torch.randn(6, generator=gen, dtype=torch.float64), torch.randn(6, generator=gen, dtype=torch.float64))
    y, mean, rstd = torch.ops.specdiff.group_norm_silu(*(t.clone().requires_grad_() for t in tensors), 3, 1e-5)
    assert "CppNode" in y.grad_fn.name() and not mean.requires_grad and not rstd.requires_grad
    for i in range(3):
        grads = []
        for fn in (lambda x, w, b: torch.ops.specdiff.group_norm_silu(x, w, b, 3, 1e-5)[0],
                   lambda x, w, b: group_norm_silu_reference(x, 3, w, b, 1e-5)):
            leaves = [t.clone().requires_grad_(j == i) for j, t in enumerate(tensors)]
            _loss(fn(*leaves), torch.Generator().manual_seed(7)).backward()
            assert all(leaf.grad is None for j, leaf in enumerate(leaves) if j != i)
            grads.append(leaves[i].grad)
        torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-10, msg=f"group_norm_silu: input {i}")
