"""complex_norm_act kernel vs its reference (F.batch_norm, complex_film, modulus SiLU): values, running
statistics, gradients, gradcheck, opcheck, compile, every CPU ISA, the module method, bad input."""

import re

import pytest
import torch
from hypothesis import assume
from hypothesis import strategies as st
from optester import Call, OpSpec, OpTester
from oputil import backend, cpu_isa, cpu_isas, rel_err

from specdiff import extension
from specdiff.nn.complex import ComplexBatchNorm2d, ComplexSiLU, complex_film
from specdiff.ops.complex_norm_act import complex_norm_act, complex_norm_act_reference

needs_kernel = pytest.mark.skipif(not extension.has_kernel("complex_norm_act", "cpu"), reason="no CPU kernel")
pytestmark = pytest.mark.usefixtures("one_thread")


def make_inputs(batch=3, channels=4, hw=(5, 6), film=True, dtype=torch.float64, seed=0):
    """x with per-channel offsets (the mean matters), affine parameters, FiLM and running statistics."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    x = randn(batch, 2 * channels, *hw) * 2 + randn(1, 2 * channels, 1, 1) * 3
    tensors = {
        "x": x,
        "weight": randn(2 * channels),
        "bias": randn(2 * channels),
        "film": randn(batch, 3 * channels) if film else None,
        "running_mean": randn(2 * channels),
        "running_var": torch.rand(2 * channels, generator=gen, dtype=torch.float64) + 0.5,
    }
    return {k: None if v is None else v.to(dtype) for k, v in tensors.items()}


ORDER = ("x", "weight", "bias", "film", "running_mean", "running_var")


def case(training, film, hw, batch=3, channels=4):
    def build():
        inputs = make_inputs(batch=batch, channels=channels, hw=hw, film=film)
        return Call(tuple(inputs[k] for k in ORDER), (training, 0.3))

    return build


@st.composite
def random_calls(draw):
    batch, channels, h, w = (draw(st.integers(1, n)) for n in (3, 4, 9, 9))
    training = draw(st.booleans())
    assume(not (training and batch * h * w == 1))  # batch statistics need 2 values (test_bad_input covers 1)
    inputs = make_inputs(batch=batch, channels=channels, hw=(h, w), film=draw(st.booleans()))
    return Call(tuple(inputs[k] for k in ORDER), (training, 0.3))


def public(x, weight, bias, film, running_mean, running_var, training, momentum):
    """The output and the running statistics after the call (updated in training)."""
    y = complex_norm_act(x, weight, bias, film=film, running_mean=running_mean, running_var=running_var,
                         training=training, momentum=momentum)
    return y, running_mean, running_var


def reference(x, weight, bias, film, running_mean, running_var, training, momentum):
    y = complex_norm_act_reference(x, weight, bias, film, running_mean, running_var, training, momentum, 1e-5)
    return y, running_mean, running_var


def kernel_args(call):
    x, weight, bias, film, running_mean, running_var = call.tensors
    stats = (None, None) if call.params[0] else (running_mean, running_var)
    return x, weight, bias, *stats, film, 1e-5


def backward_args(call):
    x, weight, bias, *stats, film, eps = kernel_args(call)
    y, mean, var = torch.ops.specdiff.complex_norm_act(x, weight, bias, *stats, film, eps)
    mask = [True, True, film is not None]
    return [(torch.randn_like(y), x, weight, bias, mean, var, film, eps, call.params[0], mask)]


def bad(message, **changes):
    inputs = {**make_inputs(dtype=torch.float32), "running_mean": None, "running_var": None, **changes}
    training = inputs.pop("training", True)
    return Call(tuple(inputs[k] for k in ORDER), (training, 0.1)), (ValueError, TypeError), message


class TestComplexNormAct(OpTester):
    spec = OpSpec(
        name="complex_norm_act",
        public=public,
        reference=reference,
        cases={
            **{f"{mode}-{'film' if film else 'nofilm'}-{h}x{w}": case(mode == "train", film, (h, w))
               for mode in ("train", "eval") for film in (True, False) for h, w in ((5, 6), (1, 7), (16, 9))},
            **{f"small-{mode}-{'film' if film else 'nofilm'}": case(mode == "train", film, (3, 4), batch=2, channels=2)
               for mode in ("train", "eval") for film in (True, False)},
        },
        grads=(0, 1, 2, 3),
        gradcheck_cases=["small-train-film", "small-train-nofilm", "small-eval-film", "small-eval-nofilm"],
        opcheck_cases=["small-train-film", "small-train-nofilm", "small-eval-film", "small-eval-nofilm"],
        compile_case="train-film-5x6",
        layouts=("contiguous", "channels_last", "permuted"),
        kernel_args=kernel_args,
        backward_args=backward_args,
        random_calls=random_calls(),
        random_tol=(1e-10, 1e-9),
        sizes={f"{h}x{w}": (lambda h=h, w=w: [case(training, True, (h, w))() for training in (True, False)])
               for h in (1, 2, 3, 5, 8, 16, 17) for w in (1, 2, 3, 5, 8, 16, 17)},
        bad_inputs={
            "x-rank": bad("x must be a 4-D tensor", x=torch.randn(8, 5, 6)),
            "x-integer": bad("x must be float32 or float64", x=torch.ones(3, 8, 5, 6, dtype=torch.int64)),
            "x-odd-channels": bad("x must have an even channel count", x=torch.randn(3, 7, 5, 6)),
            "weight-shape": bad("weight must be a 1-D tensor [2C] = [8]", weight=torch.ones(4)),
            "film-shape": bad("film must be a tensor [B, 3C] = [3, 12]", film=torch.ones(3, 8)),
            "running-mean-alone": bad("running_mean and running_var must be", running_mean=torch.zeros(8),
                                      training=False),
            "no-channels": bad("x must not be empty", x=torch.randn(3, 0, 5, 6), weight=None, bias=None, film=None),
            "one-value": bad("batch statistics need more than 1 value", x=torch.randn(1, 8, 1, 1),
                             film=torch.ones(1, 12)),
            "empty-batch": bad("x must not be empty", x=torch.randn(0, 8, 5, 6), film=None),
        },
    )


def run(path, inputs, training, grad_out=None, momentum=0.3):
    """(y, running_mean, running_var, grads of x, weight, bias, film) on one path; inputs are not modified."""
    leaves = {k: inputs[k].clone().requires_grad_() for k in ("x", "weight", "bias", "film") if inputs[k] is not None}
    stats = {k: inputs[k].clone() for k in ("running_mean", "running_var")}
    with backend(path):
        y = complex_norm_act(leaves["x"], leaves["weight"], leaves["bias"], film=leaves.get("film"),
                             training=training, momentum=momentum, **stats)
    grad_out = torch.randn_like(y) if grad_out is None else grad_out.to(y.dtype)
    grads = torch.autograd.grad(y, list(leaves.values()), grad_out)
    return y, stats["running_mean"], stats["running_var"], grads


@needs_kernel
@pytest.mark.parametrize("isa", cpu_isas())
def test_every_cpu_isa(isa):
    inputs = make_inputs(batch=2, channels=3, hw=(7, 19))
    upstream = torch.randn(2, 6, 7, 19, dtype=torch.float64)
    exact = run("reference", inputs, True, upstream)
    with cpu_isa(isa):
        got = run("kernel", inputs, True, upstream)
    assert rel_err(got[0], exact[0]) < 1e-12
    for g, e in zip(got[3], exact[3], strict=True):
        assert rel_err(g, e) < 1e-11


@needs_kernel
def test_gradient_at_zero_is_finite():
    """z = 0 after norm and FiLM (bias 0, constant input): modulus SiLU's gradient there is σ(0) = 1/2."""
    x = torch.zeros(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    weight, bias = torch.ones(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    y = complex_norm_act(x, weight, bias, running_mean=torch.zeros(2, dtype=torch.float64),
                         running_var=torch.ones(2, dtype=torch.float64) - 1e-5, training=False)
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(g).all() and torch.allclose(g, torch.full_like(g, 0.5))


@needs_kernel
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("track_running_stats", [True, False])
def test_module_norm_act_equals_norm_film_silu(momentum, track_running_stats):
    """ComplexBatchNorm2d.norm_act (one fused op) == ComplexSiLU(complex_film(bn(x))): outputs, gradients, running
    statistics and num_batches_tracked, over two training steps and one evaluation."""
    torch.manual_seed(0)
    fused = ComplexBatchNorm2d(3, momentum=momentum, track_running_stats=track_running_stats).double()
    with torch.no_grad():
        fused.weight.uniform_(0.5, 1.5)
        fused.bias.uniform_(-0.5, 0.5)
    plain = ComplexBatchNorm2d(3, momentum=momentum, track_running_stats=track_running_stats).double()
    plain.load_state_dict(fused.state_dict())
    for train in (True, True, False):
        fused.train(train)
        plain.train(train)
        x = (torch.randn(4, 6, 5, 5, dtype=torch.float64) + 1).requires_grad_()
        film = torch.randn(4, 9, dtype=torch.float64)
        with backend("kernel"):
            y = fused.norm_act(x, film)
        expected = ComplexSiLU()(complex_film(plain(x), film))
        assert rel_err(y, expected) < 1e-12
        g, e = (torch.autograd.grad(t, x, torch.ones_like(t))[0] for t in (y, expected))
        assert rel_err(g, e) < 1e-11
        for (name, a), b in zip(fused.state_dict().items(), plain.state_dict().values(), strict=True):
            assert torch.allclose(a.double(), b.double(), rtol=1e-12, atol=1e-14), name



@needs_kernel
def test_kernel_errors_name_the_argument():
    """The C++ checks, reached by calling the op directly."""
    x, w = torch.randn(2, 4, 3, 3), torch.ones(4)
    op = torch.ops.specdiff.complex_norm_act
    with pytest.raises(RuntimeError, match=re.escape("film must be [B, 3C] = [2, 6]")):
        op(x, w, w, None, None, torch.ones(2, 4), 1e-5)
    with pytest.raises(RuntimeError, match="mean and var must be given together"):
        op(x, w, w, w, None, None, 1e-5)
    with pytest.raises(RuntimeError, match="batch statistics need more than 1 value per channel"):
        op(torch.randn(1, 4, 1, 1), w, w, None, None, None, 1e-5)
    with pytest.raises(RuntimeError, match="eps must be a finite number >= 0"):
        op(x, w, w, None, None, None, -1.0)


def test_reference_is_the_composition():
    """The specification itself, against complex arithmetic done by hand on one value."""
    inputs = make_inputs(batch=2, channels=1, hw=(2, 2))
    x, weight, bias, film = (inputs[k] for k in ("x", "weight", "bias", "film"))
    y = complex_norm_act_reference(x, weight, bias, film, None, None, True, 0.1, 1e-5)
    mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
    h = (x[1, :, 0, 1] - mean) / torch.sqrt(var + 1e-5) * weight + bias
    z = complex(h[0], h[1]) * (1 + film[1, 0].item()) + complex(film[1, 1], film[1, 2])
    expected = z / (1 + torch.exp(-torch.tensor(abs(z))).item())
    assert torch.allclose(y[1, :, 0, 1], torch.tensor([expected.real, expected.imag], dtype=torch.float64))
