"""Complex layers on the split layout, checked against torch's complex arithmetic."""

import pytest
import torch
import torch.nn.functional as F
from nnutil import RecordOps, needs_kernels, perturb_, use_backend

from specdiff.nn import (
    ComplexBatchNorm2d,
    ComplexConv2d,
    ComplexConvTranspose2d,
    ComplexResBlock,
    ComplexSiLU,
    complex_cat,
    complex_modulus,
    from_split,
    to_split,
)


def crandn(*shape, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=torch.complex128, generator=gen)


def complex_weight(conv):
    return torch.complex(conv.weight_re.double(), conv.weight_im.double())


def complex_bias(conv):
    return torch.complex(conv.bias_re.double(), conv.bias_im.double())


def test_split_layout_round_trip_keeps_real_half_first():
    z = crandn(2, 3, 4, 5)
    x = to_split(z)
    assert x.shape == (2, 6, 4, 5)
    torch.testing.assert_close(x[:, :3], z.real, rtol=0, atol=0)
    torch.testing.assert_close(x[:, 3:], z.imag, rtol=0, atol=0)
    torch.testing.assert_close(from_split(x), z, rtol=0, atol=0)
    torch.testing.assert_close(complex_modulus(x), z.abs())


def test_complex_cat_joins_real_with_real_and_imaginary_with_imaginary():
    a, b = crandn(2, 3, 4, 4, seed=1), crandn(2, 2, 4, 4, seed=2)
    torch.testing.assert_close(from_split(complex_cat(to_split(a), to_split(b))), torch.cat([a, b], dim=1),
                               rtol=0, atol=0)
    # What a plain torch.cat of split tensors would mean: a's imaginary parts read as real parts.
    assert not torch.equal(from_split(torch.cat([to_split(a), to_split(b)], dim=1)), torch.cat([a, b], dim=1))


@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("stride, padding, groups", [(1, 1, 1), (2, 0, 1), (1, 2, 2)])
def test_complex_conv2d_is_the_complex_convolution(backend, stride, padding, groups):
    torch.manual_seed(0)
    conv = ComplexConv2d(4, 6, 3, stride=stride, padding=padding, groups=groups).double()
    z = crandn(2, 4, 9, 7)
    with use_backend(backend):
        out = conv(to_split(z))
    want = F.conv2d(z, complex_weight(conv), complex_bias(conv), stride, padding, 1, groups)
    torch.testing.assert_close(from_split(out), want)


@pytest.mark.parametrize("backend", ["reference", "auto"])
def test_complex_conv_transpose2d_is_the_complex_transposed_convolution(backend):
    torch.manual_seed(0)
    conv = ComplexConvTranspose2d(4, 6, 2, stride=2).double()
    z = crandn(2, 4, 5, 3)
    with use_backend(backend):
        out = conv(to_split(z))
    want = F.conv_transpose2d(z, complex_weight(conv), complex_bias(conv), 2)
    torch.testing.assert_close(from_split(out), want)


def test_complex_cat_then_conv_equals_complex_conv_of_concatenation():
    """The decoder pattern of SpectralUNetDeep: joining skips with complex_cat keeps the complex semantics."""
    torch.manual_seed(0)
    conv = ComplexConv2d(5, 3, 3, padding=1).double()
    a, b = crandn(2, 3, 6, 6, seed=3), crandn(2, 2, 6, 6, seed=4)
    out = conv(complex_cat(to_split(a), to_split(b)))
    want = F.conv2d(torch.cat([a, b], 1), complex_weight(conv), complex_bias(conv), padding=1)
    torch.testing.assert_close(from_split(out), want)


@needs_kernels
def test_one_fused_op_per_complex_convolution():
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    for layer, op in ((ComplexConv2d(4, 4, 3, padding=1), "specdiff::complex_conv2d"),
                      (ComplexConvTranspose2d(4, 4, 2, stride=2), "specdiff::complex_conv_transpose2d")):
        with use_backend("kernel"), RecordOps() as rec:
            layer(x).sum().backward()
        assert rec.count(op) == 1
        assert rec.count("aten::convolution") == 0 and rec.count("aten::convolution_backward") == 0


def test_complex_silu_is_modulus_silu_and_safe_at_zero():
    z = crandn(3, 4, 5, 5)
    z[0, 0, 0, 0] = 0
    x = to_split(z).requires_grad_()
    out = from_split(ComplexSiLU()(x))
    r = z.abs()
    want = torch.where(r > 0, z * F.silu(r) / torch.where(r > 0, r, 1), 0)
    torch.testing.assert_close(out, want)
    out.real.sum().backward()
    assert torch.isfinite(x.grad).all()
    # At z = 0: out = z · σ(|z|) has derivative σ(0) = 1/2 (times the identity).
    assert x.grad[0, 0, 0, 0].item() == pytest.approx(0.5)
    assert x.grad[0, 4, 0, 0].item() == pytest.approx(0.0)
    zero = torch.zeros(1, 2, 1, 1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(ComplexSiLU(), (zero,))
    assert torch.autograd.gradcheck(ComplexSiLU(), (to_split(crandn(1, 2, 3, 3)).requires_grad_(),))


def test_complex_silu_keeps_the_phase():
    z = crandn(2, 3, 4, 4)
    out = from_split(ComplexSiLU()(to_split(z)))
    torch.testing.assert_close(torch.angle(out), torch.angle(z))


def test_complex_batch_norm_uses_per_component_statistics():
    z = torch.complex(3 + 5 * torch.randn(16, 2, 4, 4), -1 + 0.2 * torch.randn(16, 2, 4, 4))
    bn = ComplexBatchNorm2d(2)
    out = bn(to_split(z))
    assert bn.running_mean.shape == (4,) and bn.weight.shape == (4,)
    per_channel = out.transpose(0, 1).reshape(4, -1)
    torch.testing.assert_close(per_channel.mean(1), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(per_channel.var(1, unbiased=False), torch.ones(4), atol=1e-3, rtol=0)


def test_complex_res_block_starts_as_identity_and_reads_the_embedding():
    torch.manual_seed(0)
    block = ComplexResBlock(3, emb_dim=8)
    x, emb = torch.randn(4, 6, 5, 5), torch.randn(4, 8)
    torch.testing.assert_close(block(x, emb), x)
    perturb_(block)
    assert not torch.allclose(block(x, emb), block(x, emb + 1))
    with pytest.raises(ValueError, match="pass emb"):
        block(x)
    wider = ComplexResBlock(3, 5)
    assert wider(x).shape == (4, 10, 5, 5)
