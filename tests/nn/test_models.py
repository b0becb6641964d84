"""Every registered model (TinyUNet, SpectralUNet, SpectralUNetDeep, BaselineConv and the frequency-native models):
backends agree, training lowers the loss, every argument matters, global filters and complex convolutions run as
fused ops, complex skips stay complex, no host synchronisation, size constraints, registry."""

import copy
import inspect
import re
from pathlib import Path

import pytest
import torch
from nnutil import RecordOps, needs_kernels, perturb_, use_backend

import specdiff.nn
from specdiff.diffusion import diffusion_loss, make_schedule
from specdiff.nn import (
    MODELS,
    BaselineConv,
    ComplexConv2d,
    ComplexConvTranspose2d,
    FrequencyNativeUNet,
    FrequencyNativeUNetDeep,
    GlobalFilter,
    SpectralUNet,
    SpectralUNetDeep,
    TinyUNet,
    build_model,
    complex_cat,
    model_arguments,
)

# Small configurations: every code path (adapters, ARE, PCM, patches, several levels) at test cost.
SMALL = {
    "tiny_unet": {"base_channels": 8, "channel_mults": (1, 2), "time_embed_dim": 16,
                  "adapters": {"input": {"weighting": "bandpass", "inner": 0.1},
                               "per_block": {"weighting": "learnable", "time_conditioned": True},
                               "output": {"weighting": "radial", "gain": 1.0}}},
    "spectral_unet": {"base_channels": 4, "time_embed_dim": 16, "image_size": 16},
    # SpectralUNet with its default layers (convolutions with learned bases), SpectralUNetDeep with global filters.
    "spectral_unet_deep": {"base_channels": 8, "num_res_blocks": 1, "time_embed_dim": 16, "image_size": 16,
                           "mixer": "global", "filters_per_channel": 2},
    "baseline_conv": {"base_channels": 8, "time_embed_dim": 16},
    "frequency_native_unet": {"base_channels": 4, "num_res_blocks": 2, "time_embed_dim": 16, "phase_mixing": True},
    "frequency_native_unet_deep": {"base_channels": 4, "channel_mults": (1, 2), "time_embed_dim": 16,
                                   "phase_mixing": True},
}
# A value other than the default for every constructor argument (the coverage test keeps this complete).
ALTERNATIVES = {
    "tiny_unet": {"in_channels": 2, "base_channels": 6, "channel_mults": (1, 1), "num_res_blocks": 2,
                  "time_embed_dim": 12, "adapters": {"input": {"weighting": "bandpass", "outer": 0.4}}},
    "spectral_unet": {"in_channels": 2, "base_channels": 6, "channel_mults": (1,), "num_res_blocks": 2,
                      "time_embed_dim": 12, "image_size": 8, "mixer": "spatial", "filters_per_channel": 3,
                      "filter_padding": 2, "fourier_levels": 1},
    "spectral_unet_deep": {"in_channels": 2, "base_channels": 6, "channel_mults": (1, 2), "num_res_blocks": 2,
                           "time_embed_dim": 12, "image_size": 8, "mixer": "identity", "filters_per_channel": 3,
                           "filter_padding": 2, "fourier_levels": 2},
    "baseline_conv": {"in_channels": 2, "base_channels": 6, "time_embed_dim": 12},
    "frequency_native_unet": {"in_channels": 2, "base_channels": 6, "channel_mult": 1, "num_res_blocks": 1,
                              "time_embed_dim": 12, "patch_size": 1, "amplitude_residual": False,
                              "phase_mixing": False},
    "frequency_native_unet_deep": {"in_channels": 2, "base_channels": 6, "channel_mults": (1,), "num_res_blocks": 2,
                                   "time_embed_dim": 12, "patch_size": 2, "amplitude_residual": False,
                                   "phase_mixing": False},
}


# Arguments that act only beside others: set on both sides of the comparison.
COMPANIONS = {("spectral_unet", "filters_per_channel"): {"mixer": "global"},
              ("spectral_unet_deep", "fourier_levels"): {"mixer": "basis", "filters_per_channel": 1}}


def small(name, **overrides):
    torch.manual_seed(0)
    return build_model(name, **{**SMALL[name], **overrides})


def inputs(batch=3, channels=3, h=16, w=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, channels, h, w, generator=gen) * 2 - 1, torch.randint(0, 1000, (batch,), generator=gen)


def structure(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@needs_kernels
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("train", [True, False])
def test_same_state_dict_same_output_on_kernel_and_reference_backends(name, train):
    source = perturb_(small(name), seed=1)
    model = small(name)
    model.load_state_dict(source.state_dict())
    model.train(train)
    x, t = inputs(h=16, w=12)
    with use_backend("kernel"):
        k = model(x, t)
    with use_backend("reference"):
        r = model(x, t)
    assert k.abs().max() > 1e-3  # not a vacuous comparison of zero outputs
    torch.testing.assert_close(k, r, rtol=1e-4, atol=1e-4)


@needs_kernels
@pytest.mark.parametrize("name", list(MODELS))
def test_kernel_and_reference_gradients_agree(name):
    """float32 gradients of both backends against the float64 reference: the kernel path may be at most twice
    as far from exact as the float32 reference path (whose own error reaches 1e-3 on the FiLM / time-embedding
    weights, long sums of cancelling terms), or within 1e-3 of the exact gradient."""
    model = perturb_(small(name), seed=2)
    x, t = inputs(h=16, w=12)

    def gradients(backend, dtype):
        replica = copy.deepcopy(model).to(dtype)
        with use_backend(backend):
            replica(x.to(dtype), t).square().mean().backward()
        return {k: p.grad.double() for k, p in replica.named_parameters()}

    exact = gradients("reference", torch.float64)
    kernel, reference = gradients("kernel", torch.float32), gradients("reference", torch.float32)
    # Per tensor, relative to its own size, with a floor at the whole gradient's scale: biases in front of a
    # batch/group norm have a true gradient of 0, which float32 reproduces only up to rounding.
    scale = torch.cat([g.flatten() for g in exact.values()]).norm()
    for k, g in exact.items():
        err, ref_err = (kernel[k] - g).norm(), (reference[k] - g).norm()
        assert err <= max(2 * ref_err, 1e-3 * g.norm()) + 1e-5 * scale, (k, err.item(), ref_err.item())


@pytest.mark.parametrize("name", list(MODELS))
def test_short_training_run_lowers_the_loss(name):
    """A few dozen AdamW steps on a tiny synthetic set (smooth random fields) lower the ε-MSE at fixed (t, ε)."""
    gen = torch.Generator().manual_seed(0)
    coarse = torch.rand(16, 3, 4, 4, generator=gen) * 2 - 1
    data = torch.nn.functional.interpolate(coarse, size=(16, 16), mode="bilinear", align_corners=False)
    schedule = make_schedule("cosine", 100)
    model = small(name)
    t_eval = torch.arange(16) * 6
    eps_eval = torch.randn(data.shape, generator=gen)

    def eval_loss():
        with torch.no_grad():
            model.eval()
            loss = diffusion_loss(model, data, schedule, t=t_eval, eps=eps_eval).item()
            model.train()
            return loss

    before = eval_loss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(60):
        optimizer.zero_grad()
        diffusion_loss(model, data, schedule, generator=gen).backward()
        optimizer.step()
    after = eval_loss()
    assert after < 0.7 * before, (before, after)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_constructor_argument_has_an_effect(name):
    assert set(ALTERNATIVES[name]) == set(model_arguments(name)), "ALTERNATIVES must cover every argument"
    base_cfg = {k: v for k, v in SMALL[name].items() if k != "adapters"}
    for arg, value in ALTERNATIVES[name].items():
        companions = COMPANIONS.get((name, arg), {})
        cfg = {**base_cfg, **companions, arg: value}
        torch.manual_seed(0)
        default = perturb_(build_model(name, **{**base_cfg, **companions}))
        torch.manual_seed(0)
        changed = perturb_(build_model(name, **cfg))
        if structure(default) != structure(changed):
            continue
        x, t = inputs(channels=cfg.get("in_channels", 3))
        assert not torch.allclose(default(x, t), changed(x, t)), f"{name}: {arg}={value!r} changed nothing"


@pytest.mark.parametrize("name", list(MODELS))
def test_outputs_depend_on_the_timestep(name):
    model = perturb_(small(name))
    x, _ = inputs()
    assert not torch.allclose(model(x, torch.full((3,), 5)), model(x, torch.full((3,), 500)))


def test_skip_connections_concatenate_real_with_real_and_imaginary_with_imaginary():
    """Records what each decoder level's first block receives and what the encoder produced at that level; the
    input must be complex_cat(upsampled, skip) = [up_re, skip_re, up_im, skip_im] - torch.cat would give
    [up_re, up_im, skip_re, skip_im] and fail."""
    model = perturb_(small("frequency_native_unet_deep", channel_mults=(1, 2, 2))).eval()
    seen = {}

    def keep(key, output=True):
        def hook(module, args, out):
            seen[key] = (out if output else args[0]).detach().clone()

        return hook

    levels = len(model.down_blocks)
    for level in range(levels):
        model.down_blocks[level][-1].register_forward_hook(keep(("skip", level)))
        model.up_blocks[levels - 1 - level][0].register_forward_hook(keep(("in", level), output=False))
    model.mid.register_forward_hook(keep(("up", levels - 1)))
    if model.phase_mixing is not None:
        model.phase_mixing.register_forward_hook(keep(("up", levels - 1)))
    for i, up in enumerate(model.upsample):
        up.register_forward_hook(keep(("up", levels - 2 - i)))
    model(*inputs())
    for level in range(levels):
        up, skip, joined = seen[("up", level)], seen[("skip", level)], seen[("in", level)]
        torch.testing.assert_close(joined, complex_cat(up, skip), rtol=0, atol=0)
        cu, cs = up.shape[1] // 2, skip.shape[1] // 2
        torch.testing.assert_close(joined[:, :cu], up[:, :cu], rtol=0, atol=0)
        torch.testing.assert_close(joined[:, cu:cu + cs], skip[:, :cs], rtol=0, atol=0)
        torch.testing.assert_close(joined[:, cu + cs:2 * cu + cs], up[:, cu:], rtol=0, atol=0)


@needs_kernels
@pytest.mark.parametrize("name", ["spectral_unet", "spectral_unet_deep"])
@pytest.mark.parametrize("h, w", [(16, 16), (8, 12)])
@pytest.mark.parametrize("padding", [0, 4])
@pytest.mark.parametrize("k", [1, 3])
def test_global_filters_run_as_fused_ops(name, h, w, padding, k):
    """One specdiff::spectral_filter2d call per global filter (at the trained size and at another one) and no
    other FFT: the spatial mixing is the fused op, the channel mixing the 1x1 convolutions. Zero-padded filters
    pad and crop inside the op: no pad op beyond the circular model's. Several filters per channel are the op's
    k responses: no copies of the input."""
    model = small(name, mixer="global", filter_padding=padding, filters_per_channel=k)
    n_filters = sum(isinstance(m, GlobalFilter) for m in model.modules())
    n_real = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    with use_backend("kernel"), RecordOps() as rec:
        model(*inputs(h=h, w=w))
    with use_backend("kernel"), RecordOps() as plain:  # circular, one filter per channel
        small(name, mixer="global", filter_padding=0, filters_per_channel=1)(*inputs(h=h, w=w))
    assert n_filters >= 7 and rec.count("specdiff::spectral_filter2d") == n_filters
    assert rec.count("aten::convolution") == n_real
    assert rec.count("aten::clone") == plain.count("aten::clone")  # repeat_interleave is expand + clone
    if (h, w) == (16, 16):
        assert rec.count("aten::fft_rfft2") == rec.count("aten::fft_irfft2") == 0
    assert rec.count("aten::constant_pad_nd") == plain.count("aten::constant_pad_nd")


@needs_kernels
def test_zero_padded_filters_trace_into_one_graph():
    """SpectralUNet with zero-padded filters under torch.compile(fullgraph=True) (AOTAutograd, the part that sees
    the fused op's schema, fake and autograd): one graph, the eager outputs and gradients."""
    model = small("spectral_unet", mixer="global", filter_padding=4, filters_per_channel=2)
    x, t = inputs(batch=2)
    torch._dynamo.reset()
    with use_backend("kernel"):
        eager = model(x, t)
        eager_grads = torch.autograd.grad(eager.square().mean(), list(model.parameters()))
        compiled = torch.compile(model, fullgraph=True, backend="aot_eager")(x, t)
        grads = torch.autograd.grad(compiled.square().mean(), list(model.parameters()))
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-6)
    for a, b in zip(grads, eager_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@needs_kernels
@pytest.mark.parametrize("name", ["frequency_native_unet", "frequency_native_unet_deep"])
def test_complex_convolutions_run_as_fused_ops(name):
    model = small(name)
    n_conv = sum(isinstance(m, ComplexConv2d) for m in model.modules())
    n_convt = sum(isinstance(m, ComplexConvTranspose2d) for m in model.modules())
    n_real = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    with use_backend("kernel"), RecordOps() as rec:
        model(*inputs())
    assert rec.count("specdiff::complex_conv2d") == n_conv
    assert rec.count("specdiff::complex_conv_transpose2d") == n_convt
    assert rec.count("aten::convolution") == n_real  # the amplitude branch's real convolutions only


@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("name", list(MODELS))
def test_training_step_never_synchronises_with_the_host(name, backend):
    model = perturb_(small(name))
    with use_backend(backend), RecordOps() as rec:
        model(*inputs()).square().mean().backward()
    assert rec.host_syncs() == []


def test_model_sources_do_not_read_tensors_on_the_host():
    root = Path(specdiff.nn.__file__).parent
    pattern = re.compile(r"\.(item|tolist|cpu|numpy)\(")
    offenders = [f"{p.name}:{i}" for p in sorted(root.glob("*.py"))
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []


@pytest.mark.parametrize("name, h, w", [("frequency_native_unet", 15, 9), ("frequency_native_unet_deep", 13, 7),
                                        ("frequency_native_unet", 2, 2), ("tiny_unet", 12, 20), ("baseline_conv", 1, 5),
                                        ("spectral_unet", 6, 10), ("spectral_unet_deep", 24, 4)])
def test_supported_odd_and_small_sizes(name, h, w):
    model = small(name)
    x, t = inputs(h=h, w=w)
    assert model(x, t).shape == x.shape


def test_unsupported_sizes_raise_clearly():
    t = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="needs H and W divisible by 4, got 18x16"):
        small("tiny_unet", channel_mults=(1, 2, 2))(torch.randn(2, 3, 18, 16), t)
    with pytest.raises(ValueError, match="FrequencyNativeUNet needs H, W >= 2, got 1x8"):
        small("frequency_native_unet")(torch.randn(2, 3, 1, 8), t)
    with pytest.raises(ValueError, match="FrequencyNativeUNetDeep needs H, W >= 2, got 8x1"):
        small("frequency_native_unet_deep")(torch.randn(2, 3, 8, 1), t)
    with pytest.raises(ValueError, match="SpectralUNet with 2 levels needs H and W divisible by 2, got 9x8"):
        small("spectral_unet")(torch.randn(2, 3, 9, 8), t)
    with pytest.raises(ValueError, match="SpectralUNetDeep with 3 levels needs H and W divisible by 4, got 8x6"):
        small("spectral_unet_deep")(torch.randn(2, 3, 8, 6), t)


@pytest.mark.parametrize("name", list(MODELS))
def test_bad_inputs_raise_clearly(name):
    model = small(name)
    x, t = inputs()
    with pytest.raises(ValueError, match="in_channels=3"):
        model(x[:, :2], t)
    with pytest.raises(ValueError, match="integer tensor of shape"):
        model(x, t.float())
    with pytest.raises(ValueError, match="integer tensor of shape"):
        model(x, t[:2])


def test_registry_builds_every_model_and_names_valid_choices():
    assert isinstance(build_model("tiny_unet"), TinyUNet)
    assert isinstance(build_model("spectral_unet"), SpectralUNet)
    assert isinstance(build_model("spectral_unet_deep"), SpectralUNetDeep)
    assert isinstance(build_model("baseline_conv"), BaselineConv)
    assert isinstance(build_model("frequency_native_unet"), FrequencyNativeUNet)
    assert isinstance(build_model("frequency_native_unet_deep"), FrequencyNativeUNetDeep)
    with pytest.raises(ValueError, match="unknown model 'unet'; valid: tiny_unet, spectral_unet, spectral_unet_deep, "
                                         "baseline_conv, frequency_native_unet, frequency_native_unet_deep"):
        build_model("unet")
    with pytest.raises(TypeError, match="'base_chanels' \\(did you mean 'base_channels'\\?\\); valid: in_channels"):
        build_model("spectral_unet", base_chanels=8)
    with pytest.raises(ValueError, match="filters_per_channel must be a positive int, got 0"):
        build_model("spectral_unet_deep", filters_per_channel=0)
    with pytest.raises(TypeError, match="unknown argument"):
        build_model("tiny_unet", adapters={"inptu": {"weighting": "radial"}})
    with pytest.raises(TypeError, match="valid: weighting, inner, outer"):
        build_model("tiny_unet", adapters={"input": {"weighting": "radial", "cutoff": 0.3}})
    for name, cls in MODELS.items():
        assert model_arguments(name) == {k: p.default for k, p in inspect.signature(cls).parameters.items()}


def test_state_dict_round_trip_between_instances():
    source = perturb_(small("spectral_unet"), seed=3).eval()
    target = copy.deepcopy(small("spectral_unet")).eval()
    target.load_state_dict(source.state_dict())
    x, t = inputs()
    torch.testing.assert_close(target(x, t), source(x, t), rtol=0, atol=0)
