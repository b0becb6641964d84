"""The samplers against diffusers 0.42's schedulers of the same name, step by step.

Both sides get the same x_t and the same model output at every step (the exact Gaussian oracle's, for ε, v and x0
prediction) and are compared on the step's output: multistep DPM-Solver++ along specdiff's trajectory (diffusers
keeps its own history of the outputs it was fed), the stochastic samplers per step on the mean (noise z = 0) and
the std of the injected noise (the step at z = 1 minus the mean). Everything is float64 on specdiff's ᾱ: diffusers
stores ᾱ and σ in float32 and casts the sample to float32 inside the DPM-Solver and Euler-ancestral steps, a
precision choice and not part of the algorithm, so these tests give it float64 tables and let its modules see
float64 where they ask for float32. ``previous_timestep`` / ``step`` must land on the visited timesteps, so the
spacings are those where diffusers and specdiff coincide (see ``make_timesteps``).
"""

import warnings

import pytest
import torch
from gaussian_oracle import GaussianOracle

from specdiff.diffusion import Denoiser, get_sampler, make_schedule, make_timesteps

diffusers = pytest.importorskip("diffusers")
from diffusers.schedulers import (  # noqa: E402
    scheduling_ddpm,
    scheduling_dpmsolver_multistep,
    scheduling_euler_ancestral_discrete,
)

T = 1000
SHAPE = (1, 2, 2)
PREDICTION_TYPE = {"eps": "epsilon", "v": "v_prediction", "x0": "sample"}
# diffusers 0.42 calls np.array on torch tensors, which numpy 2 flags as deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
TOL = 1e-11  # float64 on values of order 1; the largest difference measured is 8e-13


class _Float64Torch:
    """The torch module as a diffusers scheduler module sees it here: float32 is float64."""

    float32 = torch.float64

    def __getattr__(self, name):
        return getattr(torch, name)


@pytest.fixture
def float64_diffusers(monkeypatch):
    for module in (scheduling_dpmsolver_multistep, scheduling_euler_ancestral_discrete):
        monkeypatch.setattr(module, "torch", _Float64Torch())


def _setup(kind: str, prediction: str, seed: int = 0):
    schedule = make_schedule(kind, T)
    oracle = GaussianOracle.random(SHAPE, seed=seed)
    model = oracle.model(schedule, prediction)
    x_T = torch.randn(16, *SHAPE, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    return schedule, model, Denoiser(model, schedule, prediction), x_T


def _scheduler(cls, schedule, prediction: str, **config):
    """A diffusers scheduler on specdiff's betas, with ᾱ replaced by specdiff's float64 ᾱ."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = cls(num_train_timesteps=T, trained_betas=schedule.betas.numpy(),
                    prediction_type=PREDICTION_TYPE[prediction], **config)
    sched.alphas_cumprod = schedule.alphas_cumprod.clone()
    return sched


def _set_timesteps(sched, schedule, num_steps: int | None = None, timesteps: list[int] | None = None) -> None:
    """set_timesteps, then (for the σ-based schedulers) the σ̃ = σ/α table in float64, ending at σ̃ = 0."""
    if timesteps is None:
        sched.set_timesteps(num_steps)
    else:
        sched.set_timesteps(timesteps=timesteps)
    if hasattr(sched, "sigmas"):
        abar = schedule.alphas_cumprod[sched.timesteps.long()]
        sched.sigmas = torch.cat([((1 - abar) / abar).sqrt(), torch.zeros(1, dtype=torch.float64)])


def _model_output(model, x, t):
    return model(x, torch.as_tensor(t).long().expand(x.shape[0]))


def _trajectory(name, denoiser, x_T, timesteps, **options):
    """The states specdiff visits: x at every visited timestep, then the returned x0."""
    seen = []
    out = get_sampler(name)(denoiser, x_T, timesteps, callback=seen.append, **options)
    return [s["x"] for s in seen] + [out]


def _specdiff_step(name, denoiser, x, timesteps, i, z, **options):
    """specdiff's step i from x, timesteps[i] to timesteps[i+1] (or to ᾱ = 1), with injected noise z."""
    seen = []
    # noise_op maps the sampler's fresh draw to the noise it injects: here, to the prescribed z.
    out = get_sampler(name)(denoiser, x, timesteps[i:i + 2], noise_op=lambda _: z, callback=seen.append,
                            **options)
    return seen[1]["x"] if i + 1 < len(timesteps) else out


def _compare_stochastic_steps(name, denoiser, x_T, timesteps, diffusers_step, **options):
    """Max |Δ mean| and max |Δ std| over the steps of specdiff's trajectory, and the stds (specdiff's)."""
    xs = _trajectory(name, denoiser, x_T, timesteps, generator=torch.Generator().manual_seed(3), **options)
    zero, one = torch.zeros_like(x_T), torch.ones_like(x_T)
    d_mean = d_std = 0.0
    stds = []
    for i in range(len(timesteps)):
        mean = _specdiff_step(name, denoiser, xs[i], timesteps, i, zero, **options)
        std = _specdiff_step(name, denoiser, xs[i], timesteps, i, one, **options) - mean
        ref_mean = diffusers_step(i, xs[i], zero)
        ref_std = diffusers_step(i, xs[i], one) - ref_mean
        d_mean = max(d_mean, float((mean - ref_mean).abs().max()))
        d_std = max(d_std, float((std - ref_std).abs().max()))
        stds.append(float(std.mean()))
    return d_mean, d_std, stds


# --- DPM-Solver++ ----------------------------------------------------------------------------------------------


def _dpm_differences(kind, prediction, order, num_steps, lower_order_final, spacing, **options):
    schedule, model, denoiser, x_T = _setup(kind, prediction)
    timesteps = make_timesteps(T, num_steps, spacing)
    sched = _scheduler(diffusers.DPMSolverMultistepScheduler, schedule, prediction, solver_order=order,
                       algorithm_type="dpmsolver++", lower_order_final=lower_order_final, final_sigmas_type="zero",
                       timestep_spacing="trailing")
    if spacing == "trailing":
        _set_timesteps(sched, schedule, num_steps)
    else:
        # diffusers' own linspace and leading differ from specdiff's: give it specdiff's timesteps.
        _set_timesteps(sched, schedule, timesteps=timesteps.tolist())
    assert sched.timesteps.tolist() == timesteps.tolist()
    xs = _trajectory("dpm_solver++", denoiser, x_T, timesteps, order=order, lower_order_final=lower_order_final,
                     **options)
    return [float((sched.step(_model_output(model, xs[i], t), t, xs[i]).prev_sample - xs[i + 1]).abs().max())
            for i, t in enumerate(sched.timesteps)]


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_dpm_solver_pp_equals_diffusers_step_by_step(float64_diffusers, kind, prediction, order):
    diffs = _dpm_differences(kind, prediction, order, 25, True, "trailing")
    assert max(diffs) < TOL, diffs


# Fewer than 15 steps lower the last two steps' orders; 1 and 2 steps never reach order 2 or 3.
@pytest.mark.parametrize("num_steps", [1, 2, 3, 5, 14, 15, 16])
@pytest.mark.parametrize("lower_order_final", [True, False])
def test_dpm_solver_pp_order_schedule_equals_diffusers(float64_diffusers, num_steps, lower_order_final):
    diffs = _dpm_differences("cosine", "eps", 3, num_steps, lower_order_final, "trailing")
    assert max(diffs) < TOL, diffs


@pytest.mark.parametrize("spacing", ["linspace", "leading"])
def test_dpm_solver_pp_on_specdiffs_spacings_via_custom_timesteps(float64_diffusers, spacing):
    diffs = _dpm_differences("linear", "v", 3, 20, True, spacing)
    assert max(diffs) < TOL, diffs


def test_taylor_d2_is_not_the_diffusers_step(float64_diffusers):
    # Control: the alternative 3M coefficient is a different step, and the comparison sees it.
    diffs = _dpm_differences("cosine", "eps", 3, 25, True, "trailing", d2="taylor")
    assert max(diffs[:2]) < TOL and max(diffs[2:-1]) > 1e-6, diffs


# --- DDIM, DDPM, Euler ancestral --------------------------------------------------------------------------------


def _ddim_step(sched, model, timesteps, eta):
    def step(i, x, z):
        t = int(timesteps[i])
        out = _model_output(model, x, t)
        return sched.step(out, t, x, eta=eta, variance_noise=z if eta > 0 else None).prev_sample

    return step


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize(("spacing", "num_steps"), [("leading", 13), ("trailing", 20)])
def test_ddim_equals_diffusers_mean_and_std(kind, prediction, eta, spacing, num_steps):
    # diffusers' DDIM steps to t - T//N: the next visited timestep for leading, and for trailing when N divides T.
    schedule, model, denoiser, x_T = _setup(kind, prediction)
    timesteps = make_timesteps(T, num_steps, spacing)
    sched = _scheduler(diffusers.DDIMScheduler, schedule, prediction, clip_sample=False, set_alpha_to_one=True,
                       timestep_spacing=spacing)
    _set_timesteps(sched, schedule, num_steps)
    assert sched.timesteps.tolist() == timesteps.tolist()
    d_mean, d_std, stds = _compare_stochastic_steps("ddim", denoiser, x_T, timesteps,
                                                    _ddim_step(sched, model, timesteps, eta), eta=eta)
    assert d_mean < TOL and d_std < TOL, (d_mean, d_std)
    assert (max(stds) > 0.05) == (eta > 0) and stds[-1] == 0.0


def _ddpm_step(sched, model, timesteps, monkeypatch):
    def step(i, x, z):
        t = int(timesteps[i])
        monkeypatch.setattr(scheduling_ddpm, "randn_tensor", lambda *args, **kwargs: z)
        return sched.step(_model_output(model, x, t), t, x).prev_sample

    return step


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
@pytest.mark.parametrize(("spacing", "num_steps"), [("linspace", 10), ("leading", 13), ("trailing", 30)])
def test_ddpm_equals_diffusers_mean_and_std(monkeypatch, kind, prediction, spacing, num_steps):
    schedule, model, denoiser, x_T = _setup(kind, prediction)
    timesteps = make_timesteps(T, num_steps, spacing)
    sched = _scheduler(diffusers.DDPMScheduler, schedule, prediction, clip_sample=False,
                       variance_type="fixed_small", timestep_spacing=spacing)
    _set_timesteps(sched, schedule, num_steps)
    assert sched.timesteps.tolist() == timesteps.tolist()
    d_mean, d_std, stds = _compare_stochastic_steps("ddpm", denoiser, x_T, timesteps,
                                                    _ddpm_step(sched, model, timesteps, monkeypatch))
    # diffusers clamps the variance at 1e-20, so its step to ᾱ = 1 from t > 0 adds noise of std 1e-10.
    assert d_mean < TOL and d_std < 1e-10 + TOL, (d_mean, d_std)
    assert min(stds[:-1]) > 1e-3 and stds[-1] == 0.0


def _euler_ancestral_step(sched, schedule, model, num_steps, monkeypatch):
    """diffusers' Euler-ancestral step i in specdiff's variables: it works on x̃ = x/α and returns x̃_s."""

    def step(i, x, z):
        _set_timesteps(sched, schedule, num_steps)
        sched.set_begin_index(i)
        t = sched.timesteps[i]
        sigma_t, sigma_s = sched.sigmas[i], sched.sigmas[i + 1]
        x_ve = x * (sigma_t**2 + 1).sqrt()
        model_input = sched.scale_model_input(x_ve, t)
        monkeypatch.setattr(scheduling_euler_ancestral_discrete, "randn_tensor", lambda *args, **kwargs: z)
        out = sched.step(_model_output(model, model_input, t), t, x_ve).prev_sample
        return out / (sigma_s**2 + 1).sqrt()

    return step


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", ["eps", "v"])  # diffusers' Euler ancestral has no x0 ("sample") prediction
@pytest.mark.parametrize(("spacing", "num_steps"), [("leading", 13), ("trailing", 30)])
def test_ancestral_equals_diffusers_euler_ancestral_mean_and_std(float64_diffusers, monkeypatch, kind, prediction,
                                                                 spacing, num_steps):
    schedule, model, denoiser, x_T = _setup(kind, prediction)
    timesteps = make_timesteps(T, num_steps, spacing)
    sched = _scheduler(diffusers.EulerAncestralDiscreteScheduler, schedule, prediction, timestep_spacing=spacing)
    _set_timesteps(sched, schedule, num_steps)
    assert sched.timesteps.long().tolist() == timesteps.tolist()
    d_mean, d_std, stds = _compare_stochastic_steps(
        "ancestral", denoiser, x_T, timesteps, _euler_ancestral_step(sched, schedule, model, num_steps, monkeypatch))
    assert d_mean < TOL and d_std < TOL, (d_mean, d_std)
    assert min(stds[:-1]) > 1e-3 and stds[-1] == 0.0


# --- clip_x0 is diffusers' clip_sample --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ddim", "ddpm", "dpm_solver++"])
def test_clip_x0_equals_diffusers_clip_sample(float64_diffusers, monkeypatch, name):
    # DDIM: clip_sample with use_clipped_model_output (ε re-derived from the clipped x0, as the Denoiser does).
    # DPM-Solver++ has no plain clip; thresholding with sample_max_value = 1 is one (its scale s is clamped to 1).
    schedule, model, _, x_T = _setup("cosine", "eps", seed=4)
    x_T = 2.0 * x_T
    denoiser = Denoiser(model, schedule, "eps", clip_x0=1.0)
    timesteps = make_timesteps(T, 20, "trailing")
    if name == "dpm_solver++":
        sched = _scheduler(diffusers.DPMSolverMultistepScheduler, schedule, "eps", solver_order=3, thresholding=True,
                           sample_max_value=1.0, timestep_spacing="trailing")
        _set_timesteps(sched, schedule, 20)
        xs = _trajectory(name, denoiser, x_T, timesteps, order=3)
        diffs = [float((sched.step(_model_output(model, xs[i], t), t, xs[i]).prev_sample - xs[i + 1]).abs().max())
                 for i, t in enumerate(sched.timesteps)]
        assert max(diffs) < TOL, diffs
    else:
        cls = diffusers.DDIMScheduler if name == "ddim" else diffusers.DDPMScheduler
        sched = _scheduler(cls, schedule, "eps", clip_sample=True, clip_sample_range=1.0, timestep_spacing="trailing")
        _set_timesteps(sched, schedule, 20)
        if name == "ddim":
            def step(i, x, z):
                t = int(timesteps[i])
                return sched.step(_model_output(model, x, t), t, x, eta=0.5, use_clipped_model_output=True,
                                  variance_noise=z).prev_sample
            options = {"eta": 0.5}
        else:
            step, options = _ddpm_step(sched, model, timesteps, monkeypatch), {}
        d_mean, d_std, _ = _compare_stochastic_steps(name, denoiser, x_T, timesteps, step, **options)
        assert d_mean < TOL and d_std < 1e-10 + TOL, (d_mean, d_std)
    unclipped = get_sampler(name)(Denoiser(model, schedule, "eps"), x_T, timesteps,
                                  generator=torch.Generator().manual_seed(0))
    clipped = get_sampler(name)(denoiser, x_T, timesteps, generator=torch.Generator().manual_seed(0))
    assert (clipped - unclipped).abs().max() > 0.1  # the clip is active


# --- timesteps ----------------------------------------------------------------------------------------------------


def _has_half_integer(numerators, denominator):
    return any(2 * (n % denominator) == denominator for n in numerators)


@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
def test_spacings_equal_diffusers_set_timesteps(spacing):
    # specdiff rounds the exact grid ties-to-even; diffusers rounds numpy floats the same way, so the two agree
    # except where its float lands beside an exact half-integer, or its np.arange returns N + 1 timesteps.
    sched = diffusers.DDPMScheduler(num_train_timesteps=T, timestep_spacing=spacing)
    agree = 0
    for n in range(1, T + 1):
        sched.set_timesteps(n)
        theirs, ours = sched.timesteps.tolist(), make_timesteps(T, n, spacing).tolist()
        if spacing == "linspace":
            exceptional = n == 1 or _has_half_integer([(T - 1) * j for j in range(n)], n - 1)
        elif spacing == "trailing":
            exceptional = _has_half_integer([T * (j + 1) for j in range(n)], n)
        else:
            exceptional = False
        if not (exceptional or len(theirs) != n):
            assert theirs == ours, n
        agree += theirs == ours
        if T % n == 0 and spacing != "linspace":
            assert theirs == ours, n
    assert agree == {"linspace": 907, "leading": 1000, "trailing": 889}[spacing]
    dpm = diffusers.DPMSolverMultistepScheduler(num_train_timesteps=T, timestep_spacing="trailing")
    for n in (10, 25, 50, 100, 250):
        dpm.set_timesteps(n)
        assert dpm.timesteps.tolist() == make_timesteps(T, n, "trailing").tolist()
