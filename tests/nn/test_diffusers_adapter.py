"""DiffusersUNet: a specdiff model inside diffusers 0.42's DDPMPipeline and DDIMPipeline, step for step specdiff's
own ddpm / ddim samplers where the timesteps coincide (leading spacing, steps_offset = 0)."""

import warnings

import pytest
import torch
from nnutil import perturb_

from specdiff.diffusion import make_schedule, make_timesteps, sample
from specdiff.nn import DiffusersUNet, TinyUNet, diffusers_scheduler_kwargs

diffusers = pytest.importorskip("diffusers")

# diffusers 0.42 calls np.array on torch tensors, which numpy 2 flags as deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
T = 100
SIZE = 8


def tiny(channels: int = 1) -> TinyUNet:
    torch.manual_seed(0)
    model = TinyUNet(in_channels=channels, base_channels=8, channel_mults=(1, 2), time_embed_dim=16)
    return perturb_(model).eval()  # zero-initialised blocks would make the output independent of t


def scheduler(cls, schedule, prediction="eps", **config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # trained_betas as a list is fine; diffusers warns about other things
        return cls(**diffusers_scheduler_kwargs(schedule, prediction), **config)


@pytest.mark.parametrize("pipeline, scheduler_cls", [("DDPMPipeline", "DDPMScheduler"),
                                                     ("DDIMPipeline", "DDIMScheduler")])
@pytest.mark.parametrize("channels", [1, 3])
def test_pipelines_make_images_with_a_specdiff_model(pipeline, scheduler_cls, channels):
    pipe = getattr(diffusers, pipeline)(unet=DiffusersUNet(tiny(channels), SIZE),
                                        scheduler=getattr(diffusers, scheduler_cls)(num_train_timesteps=T))
    pipe.set_progress_bar_config(disable=True)
    assert pipe.device == torch.device("cpu") and pipe.dtype == torch.float32
    images = pipe(batch_size=2, num_inference_steps=3, generator=torch.Generator().manual_seed(0),
                  output_type="np").images
    assert images.shape == (2, SIZE, SIZE, channels)
    assert images.min() >= 0 and images.max() <= 1 and images.std() > 0.01
    again = pipe(batch_size=2, num_inference_steps=3, generator=torch.Generator().manual_seed(0),
                 output_type="np").images
    assert (images == again).all()


def test_the_adapter_is_the_model_with_broadcast_integer_timesteps():
    model = tiny(3)
    unet = DiffusersUNet(model, (SIZE, 2 * SIZE))
    assert (unet.config.sample_size, unet.config.in_channels) == ((SIZE, 2 * SIZE), 3)
    x = torch.randn(3, 3, SIZE, 2 * SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for t in (37, torch.tensor(37), torch.tensor(37.0), torch.tensor([37, 37, 37])):
            expected = model(x, torch.full((3,), 37, dtype=torch.int64))
            torch.testing.assert_close(unet(x, t).sample, expected, rtol=0, atol=0)
        per_sample = torch.tensor([5, 50, 95])
        torch.testing.assert_close(unet(x, per_sample, return_dict=False)[0], model(x, per_sample), rtol=0, atol=0)
        assert not torch.allclose(unet(x, 5).sample, unet(x, 95).sample, atol=1e-3)  # t reaches the model
        with pytest.raises(ValueError, match="integer timesteps"):
            unet(x, torch.tensor(37.5))
        with pytest.raises(ValueError, match="one per sample"):
            unet(x, torch.tensor([1, 2]))
    assert unet.state_dict().keys() == {f"model.{k}" for k in model.state_dict()}


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
@pytest.mark.parametrize("clip", [True, False])
@pytest.mark.parametrize("name, num_steps, eta", [("ddim", 3, 0.0), ("ddim", 7, 0.0), ("ddim", 4, 0.5),
                                                   ("ddpm", 3, None), ("ddpm", 7, None)])
def test_the_pipelines_equal_specdiffs_samplers(name, num_steps, eta, prediction, clip):
    """Same initial noise and, for stochastic steps, the same generator drawing the same noise in the same order.
    diffusers computes ᾱ in float32 from float32 betas and steps in float32, specdiff in float64 coefficients on a
    float32 state: equal to float32 precision. Leading spacing: diffusers' timesteps and steps (t to t - T//N) are
    specdiff's for every N (see make_timesteps)."""
    schedule = make_schedule("cosine", T)
    model = tiny(1)
    if name == "ddim":
        pipe = diffusers.DDIMPipeline(unet=DiffusersUNet(model, SIZE),
                                      scheduler=scheduler(diffusers.DDIMScheduler, schedule, prediction,
                                                          clip_sample=clip))
        options = {"eta": eta, "use_clipped_model_output": True}
    else:
        pipe = diffusers.DDPMPipeline(unet=DiffusersUNet(model, SIZE),
                                      scheduler=scheduler(diffusers.DDPMScheduler, schedule, prediction,
                                                          clip_sample=clip))
        options = {}
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe(batch_size=2, num_inference_steps=num_steps, generator=torch.Generator().manual_seed(0),
                  output_type="pt", **options).images
    assert pipe.scheduler.timesteps.tolist() == make_timesteps(T, num_steps, "leading").tolist()

    generator = torch.Generator().manual_seed(0)
    x_T = torch.randn(2, 1, SIZE, SIZE, generator=generator)
    ours = sample(name, model, x_T, schedule, num_steps, prediction=prediction, spacing="leading",
                  generator=generator, clip_x0=1.0 if clip else None, **({"eta": eta} if eta is not None else {}))
    ours = (ours / 2 + 0.5).clamp(0, 1)
    assert theirs.shape == ours.shape and theirs.std() > 0.01
    torch.testing.assert_close(theirs, ours, rtol=0, atol=2e-5)


def test_scheduler_kwargs_give_diffusers_specdiffs_schedule():
    for kind in ("linear", "cosine"):
        schedule = make_schedule(kind, T)
        sched = scheduler(diffusers.DDPMScheduler, schedule, "v")
        assert sched.config.prediction_type == "v_prediction" and sched.config.num_train_timesteps == T
        torch.testing.assert_close(sched.alphas_cumprod.double(), schedule.alphas_cumprod, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="prediction must be one of"):
        diffusers_scheduler_kwargs(schedule, "epsilon")
