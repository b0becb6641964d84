"""Diffusion core: schedules, the ε/v/x0 denoiser wrapper, (coloured) forward noising, losses, samplers."""

from .denoiser import PREDICTIONS, Denoiser, Prediction, denoise, prediction_target
from .losses import WEIGHTINGS, Weighting, diffusion_loss, mean_square, snr_weight
from .noise import NoiseOp, UniformFrequencyNoise, q_sample
from .samplers import (
    MULTISTEP_D2,
    SamplerFn,
    ancestral,
    available_samplers,
    ddim,
    ddpm,
    dpm_solver2,
    dpm_solver_pp,
    get_sampler,
    masf,
    register_sampler,
    sample,
)
from .schedules import SCHEDULE_KINDS, SPACINGS, NoiseSchedule, Schedule, make_schedule, make_timesteps

__all__ = [
    "MULTISTEP_D2",
    "PREDICTIONS",
    "SCHEDULE_KINDS",
    "SPACINGS",
    "WEIGHTINGS",
    "Denoiser",
    "NoiseOp",
    "NoiseSchedule",
    "Prediction",
    "SamplerFn",
    "Schedule",
    "UniformFrequencyNoise",
    "Weighting",
    "ancestral",
    "available_samplers",
    "ddim",
    "ddpm",
    "denoise",
    "diffusion_loss",
    "dpm_solver2",
    "dpm_solver_pp",
    "get_sampler",
    "make_schedule",
    "make_timesteps",
    "masf",
    "mean_square",
    "prediction_target",
    "q_sample",
    "register_sampler",
    "sample",
    "snr_weight",
]
