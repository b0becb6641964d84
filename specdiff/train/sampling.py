"""``specdiff sample``: load a run's checkpoint and write PNG samples, a grid and metadata.json."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import time
from typing import Any

import torch
from torch import nn

from specdiff.config import Config, ConfigError, SamplingConfig, sampler_options
from specdiff.diffusion.schedules import make_timesteps
from specdiff.errors import MissingPath
from specdiff.fileio import atomic_write_json, check_plain_name
from specdiff.train.checkpoint import (
    check_weights_fit,
    file_sha256,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
)
from specdiff.train.trainer import build_network, build_noise_op, build_schedule, load_run_config, resolve_device


def check_tag(tag: str, what: str = "tag") -> str:
    """``tag`` when it is a plain folder name (:data:`~specdiff.fileio.PLAIN_NAME_RULE`), so ``samples/<tag>``
    stays inside the run."""
    return check_plain_name(tag, what)


def resolve_checkpoint(run_dir: str, checkpoint: str | None = None) -> str:
    """``checkpoint``: None/"latest" (newest), a step number, or a path (absolute or relative to the run)."""
    folder = os.path.join(run_dir, "checkpoints")
    if checkpoint in (None, "latest"):
        found = latest_checkpoint(folder)
        if found is None:
            raise MissingPath(f"run {run_dir!r} has no checkpoint in {folder!r}")
        return found[1]
    if str(checkpoint).isdigit():
        steps = dict(list_checkpoints(folder))
        if int(checkpoint) not in steps:
            raise MissingPath(f"run {run_dir!r} has no checkpoint for step {checkpoint}; it has steps "
                                    f"{', '.join(map(str, steps)) or 'none'}")
        return steps[int(checkpoint)]
    for path in (checkpoint, os.path.join(run_dir, checkpoint), os.path.join(folder, checkpoint)):
        if os.path.isfile(path):
            return path
    raise MissingPath(f"checkpoint {checkpoint!r} not found (looked as given, in {run_dir!r} and {folder!r})")


def load_model(run_dir: str, checkpoint: str | None = None, *, ema: bool = True,
               device: str | torch.device = "cpu", config: Config | None = None) -> tuple[Config, nn.Module, str, int]:
    """(config, model in eval mode with the EMA or raw weights, checkpoint path, step) of a run (``config``: the
    run's config when the caller has already read it)."""
    config = config or load_run_config(run_dir)
    path = resolve_checkpoint(run_dir, checkpoint)
    state = load_checkpoint(path)
    model = build_network(config)
    weights = state["ema"] if ema else state["model"]
    check_weights_fit(path, weights, model, config.model.name)
    expected = model.state_dict()
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in weights.items()})
    return config, model.to(device).eval(), path, int(state["step"])


def draw(config: Config, cfg: SamplingConfig, model: nn.Module, n: int, generator: torch.Generator, schedule,
         noise_op) -> torch.Tensor:
    """``n`` samples in [-1, 1] from ``model`` with the sampling settings ``cfg`` (the run's ``config`` gives the
    image shape and the prediction type), starting from noise drawn from ``generator`` on its device."""
    from specdiff.diffusion import sample

    shape = (n, config.data.channels, config.data.image_size, config.data.image_size)
    x_T = torch.randn(shape, generator=generator, device=generator.device)
    x0 = sample(cfg.sampler, model, x_T, schedule, cfg.steps, prediction=config.diffusion.prediction,
                spacing=cfg.spacing, noise_op=noise_op, generator=generator, clip_x0=cfg.clip_x0,
                sigma_max=cfg.sigma_max, **sampler_options(cfg))
    return x0.clamp(-1, 1)


def sample_run(
    run_dir: str,
    *,
    checkpoint: str | None = None,
    sampler: str | None = None,
    steps: int | None = None,
    num_samples: int | None = None,
    seed: int | None = None,
    ema: bool | None = None,
    eta: float | None = None,
    order: int | None = None,
    spacing: str | None = None,
    batch_size: int | None = None,
    clip_x0: float | None = None,
    sigma_max: float | None = None,
    alpha: float | tuple[float, ...] | None = None,
    edges: tuple[float, ...] | None = None,
    tag: str | None = None,
    device: str = "auto",
) -> str:
    """Samples from a trained run; arguments left None come from the run's ``sampling`` config section.

    Writes ``<run_dir>/samples/<tag>/sample_###.png``, ``grid.png`` and ``metadata.json``; returns that folder.
    Bad sampler names and options the sampler does not take raise ConfigError, a ``tag`` that is not a plain
    folder name (:data:`~specdiff.fileio.PLAIN_NAME_RULE`) InvalidValue, both before the model is loaded.
    """
    from specdiff.data.images import make_grid, save_image

    if tag is not None:
        check_tag(tag)
    config = load_run_config(run_dir)
    given = {"sampler": sampler, "steps": steps, "num_samples": num_samples, "seed": seed, "use_ema": ema,
             "eta": eta, "order": order, "spacing": spacing, "batch_size": batch_size, "clip_x0": clip_x0,
             "sigma_max": sigma_max, "alpha": alpha, "edges": edges}
    changes = {k: v for k, v in given.items() if v is not None}
    try:
        if "sampler" in changes and changes["sampler"] != config.sampling.sampler:
            # A different sampler does not inherit the run's sampler-specific options (eta, order, alpha, edges).
            kept = ("steps", "num_samples", "use_ema", "seed", "spacing", "batch_size", "clip_x0", "sigma_max")
            base = SamplingConfig(sampler=changes["sampler"], **{k: getattr(config.sampling, k) for k in kept})
        else:
            base = config.sampling
        cfg = dataclasses.replace(base, **changes)
    except ConfigError as exc:
        raise ConfigError(f"sampling.{exc.key}", exc.value, exc.allowed) from None
    options = sampler_options(cfg)
    try:
        top = build_schedule(config).last_timestep(cfg.sigma_max)
    except ValueError as exc:
        raise ConfigError("sampling.sigma_max", cfg.sigma_max, str(exc)) from None
    try:
        make_timesteps(top + 1, cfg.steps, cfg.spacing)
    except ValueError as exc:
        window = "" if cfg.sigma_max is None else f" ({top + 1} of them within sampling.sigma_max = {cfg.sigma_max})"
        raise ConfigError("sampling.steps", cfg.steps, f"{exc}; the run has diffusion.num_timesteps = "
                          f"{config.diffusion.num_timesteps}{window}") from None

    dev = resolve_device(device)
    _, model, ckpt_path, ckpt_step = load_model(run_dir, checkpoint, ema=cfg.use_ema, device=dev, config=config)
    tag = tag or check_tag(f"{cfg.sampler}-{cfg.steps}steps-{'ema' if cfg.use_ema else 'raw'}-seed{cfg.seed}-"
                           f"step{ckpt_step}", "the default tag (from the sampler name)")
    out = os.path.join(run_dir, "samples", tag)
    os.makedirs(out, exist_ok=True)

    schedule = build_schedule(config)
    noise_op = build_noise_op(config)
    generator = torch.Generator(dev).manual_seed(cfg.seed)
    images, files = [], []
    seconds = 0.0  # sampling only, not the PNG writing
    for first in range(0, cfg.num_samples, cfg.batch_size):
        n = min(cfg.batch_size, cfg.num_samples - first)
        start = time.perf_counter()
        x0 = draw(config, cfg, model, n, generator, schedule, noise_op).cpu()
        seconds += time.perf_counter() - start
        for i, img in enumerate(x0):
            name = f"sample_{first + i:03d}.png"
            save_image(img, os.path.join(out, name))
            files.append(name)
        images.append(x0)
    save_image(make_grid(torch.cat(images)), os.path.join(out, "grid.png"))

    metadata: dict[str, Any] = {
        "run_dir": os.path.abspath(run_dir),
        "checkpoint": os.path.abspath(ckpt_path),
        "checkpoint_sha256": file_sha256(ckpt_path),
        "checkpoint_step": ckpt_step,
        "weights": "ema" if cfg.use_ema else "model",
        **{k: v for k, v in dataclasses.asdict(cfg).items() if k != "use_ema"},
        "sampler_options": options,
        "prediction": config.diffusion.prediction,
        "schedule": config.diffusion.schedule,
        "uniform_corruption": config.diffusion.uniform_corruption,
        "model": config.model.name,
        "image_shape": [config.data.channels, config.data.image_size, config.data.image_size],
        "device": str(dev),
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "sampling_seconds": seconds,
        "files": files,
    }
    atomic_write_json(os.path.join(out, "metadata.json"), metadata)
    return out
