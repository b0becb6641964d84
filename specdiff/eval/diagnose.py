"""Where in frequency a denoiser errs, and what a sampler sees: the measurements behind ``specdiff diagnose``.

Three views of a trained model, all in the low / mid / high bands of :mod:`specdiff.eval.spectral` (exact
ring membership, Parseval-consistent):

* :func:`band_denoising_error`: at fixed timesteps t, test images x0 are noised to x_t (the run's own forward
  process, coloured noise included), the model predicts x0̂, and per band the error energy
  ``E‖band(x0̂ - x0)‖²`` (per pixel; the three bands sum to the MSE) and the gain
  ``10·log10(E_band(x0̂) / E_band(x0))`` in dB (0 dB: the prediction carries the data's energy; below 0:
  a shrinking, Wiener-like estimate; above 0: the model adds energy the data does not have).
* :func:`trajectory_bands`: one sampler run, recorded at every visited timestep. Per band: the power of the
  x0 prediction against the data's (dB), and the power of x_t against what the forward process puts there,
  ``ᾱ_t E_band(x0) + (1 - ᾱ_t) E_band(n)`` (dB). A per-frequency gain above 1 that each step compounds shows as
  an excess that grows along the trajectory.
* :func:`filter_locality`: for a model with global filters (SpectralUNet, SpectralUNetDeep), how local the learned
  filters are: the share of each filter's kernel energy within a small neighbourhood of its origin. The filters
  start as 3x3 kernels (share 1) and may grow global.
* Ablations are ordinary runs of the quality benchmark (:mod:`specdiff.bench.quality`) with other configs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from specdiff.diffusion import denoise, q_sample, sample
from specdiff.diffusion.noise import NoiseOp, colour
from specdiff.diffusion.schedules import NoiseSchedule
from specdiff.errors import InvalidValue
from specdiff.eval.spectral import BANDS, LOG_EPS, band_energy

DEFAULT_TIMESTEPS = (10, 50, 100, 200, 300, 500, 700, 900)


def _db(ratio_num: float, ratio_den: float) -> float:
    return 10.0 * math.log10((ratio_num + LOG_EPS) / (ratio_den + LOG_EPS))


def _mean_band_energy(images: Tensor) -> dict[str, float]:
    return {name: float(value.mean()) for name, value in band_energy(images).items()}


@torch.no_grad()
def band_denoising_error(
    model: Callable[[Tensor, Tensor], Tensor],
    schedule: NoiseSchedule,
    images: Tensor,
    timesteps: Sequence[int] = DEFAULT_TIMESTEPS,
    *,
    prediction: str = "eps",
    noise_op: NoiseOp | None = None,
    seed: int = 0,
    batch_size: int = 128,
) -> list[dict[str, Any]]:
    """Per timestep, the x0 prediction's error and gain per band on ``images`` (``Tensor[N, C, H, W]`` in [-1, 1]).

    Every timestep sees the same images and the same noise draw (``seed``), so the rows differ only in t.
    Returns one row per t: ``{"t", "alpha_cumprod", "error_<band>", "error_total", "gain_db_<band>"}`` with the
    errors as energy per pixel (``error_low + error_mid + error_high = error_total`` = the x0 MSE).
    """
    if images.dim() != 4 or len(images) == 0:
        raise InvalidValue(f"images must be a non-empty Tensor[N, C, H, W], got shape {tuple(images.shape)}")
    for t in timesteps:
        if not 0 <= int(t) < schedule.num_timesteps:
            raise InvalidValue(f"timesteps must lie in [0, {schedule.num_timesteps - 1}], got {t}")
    generator = torch.Generator(device=images.device).manual_seed(seed)
    eps = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    data = _mean_band_energy(images)
    rows = []
    for t in timesteps:
        errors = {name: 0.0 for name in BANDS}
        predicted = {name: 0.0 for name in BANDS}
        for first in range(0, len(images), batch_size):
            x0, e = images[first:first + batch_size], eps[first:first + batch_size]
            tt = torch.full((len(x0),), int(t), dtype=torch.long, device=images.device)
            x_t = q_sample(x0, tt, e, schedule, noise_op)
            abar = schedule.alpha_cumprod_at(tt)
            x0_hat, _ = denoise(model(x_t, tt), x_t, abar, prediction)
            for name, value in band_energy(x0_hat - x0).items():
                errors[name] += float(value.sum())
            for name, value in band_energy(x0_hat).items():
                predicted[name] += float(value.sum())
        n = len(images)
        abar = float(schedule.alpha_cumprod_at(torch.tensor([int(t)]))[0])
        row: dict[str, Any] = {"t": int(t), "alpha_cumprod": abar}
        for name in BANDS:
            row[f"error_{name}"] = errors[name] / n
        row["error_total"] = sum(errors.values()) / n
        for name in BANDS:
            row[f"gain_db_{name}"] = _db(predicted[name] / n, data[name])
        rows.append(row)
    return rows


@torch.no_grad()
def trajectory_bands(
    model: Callable[[Tensor, Tensor], Tensor],
    schedule: NoiseSchedule,
    x_T: Tensor,
    reference: Tensor,
    *,
    sampler: str = "dpm_solver++",
    steps: int = 25,
    prediction: str = "eps",
    noise_op: NoiseOp | None = None,
    generator: torch.Generator | None = None,
    spacing: str = "trailing",
    clip_x0: float | None = 1.0,
    sigma_max: float | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Runs ``sampler`` from ``x_T`` and records, at every visited timestep, the band powers of the x0 prediction
    and of x_t against ``reference`` images (the data) in dB.

    Rows: ``{"i", "t", "alpha_cumprod", "x0_db_<band>", "xt_db_<band>"}``. ``x0_db``: the x0 prediction's
    mean band energy over the data's; ``xt_db``: x_t's over ``ᾱ_t E_band(x0) + (1 - ᾱ_t) E_band(n)``, the forward
    process's marginal at t (n = the run's noise, coloured by ``noise_op``). ``spacing``, ``clip_x0`` and
    ``sigma_max`` as in :func:`specdiff.diffusion.sample` (the x0 predictions are recorded after the clamp, as the
    sampler uses them).
    """
    data = _mean_band_energy(reference)
    probe = torch.Generator(device=x_T.device).manual_seed(1)
    noise = _mean_band_energy(colour(torch.randn((256, *x_T.shape[1:]), generator=probe, device=x_T.device),
                                     noise_op))
    rows: list[dict[str, Any]] = []

    def record(state: dict[str, Any]) -> None:
        t = int(state["t"])
        abar = float(schedule.alpha_cumprod_at(torch.tensor([t]))[0])
        x0 = _mean_band_energy(state["x0_pred"])
        xt = _mean_band_energy(state["x"])
        row: dict[str, Any] = {"i": int(state["i"]), "t": t, "alpha_cumprod": abar}
        for name in BANDS:
            row[f"x0_db_{name}"] = _db(x0[name], data[name])
        for name in BANDS:
            row[f"xt_db_{name}"] = _db(xt[name], abar * data[name] + (1 - abar) * noise[name])
        rows.append(row)

    sample(sampler, model, x_T, schedule, steps, prediction=prediction, noise_op=noise_op, generator=generator,
           callback=record, spacing=spacing, clip_x0=clip_x0, sigma_max=sigma_max, **options)
    return rows


def filter_locality(model: torch.nn.Module, radius: int = 1) -> dict[str, Any]:
    """How local the global filters of ``model`` are. For every frequency-domain
    :class:`~specdiff.nn.global_filter.GlobalFilter` and every :class:`~specdiff.nn.spectral_conv.SpectralConv` (on
    its own grid H x W, padding included), its kernels ``irfft2(response, s=(H, W))`` (one per output channel of a
    filter, one per basis of a SpectralConv) and the share of their squared taps within Chebyshev distance
    ``radius`` of the origin, circularly (``radius`` 1: the 3x3 neighbourhood, where a SpectralConv's bases start).
    Returns ``{"radius", "share", "filters": [{"name", "channels", "size", "share"}]}``, ``share`` at the top the
    energy-weighted share over all filters (None when the model has neither)."""
    from specdiff.nn.global_filter import GlobalFilter
    from specdiff.nn.spectral_conv import SpectralConv

    if not isinstance(radius, int) or isinstance(radius, bool) or radius < 0:
        raise InvalidValue(f"radius must be an int >= 0, got {radius!r}")
    filters, inside_total, energy_total = [], 0.0, 0.0
    for name, module in model.named_modules():
        if isinstance(module, SpectralConv):
            response = module.bases(*module.size, torch.float64)
        elif isinstance(module, GlobalFilter) and module.mixer == "global":
            response = module.response(*module.size, torch.float64)
        else:
            continue
        h, w = module.grid
        with torch.no_grad():
            kernel = torch.fft.irfft2(response, s=(h, w))  # [k C, H, W] or [K, H, W]
        dy = torch.arange(h, device=kernel.device)
        dx = torch.arange(w, device=kernel.device)
        dy, dx = torch.minimum(dy, h - dy), torch.minimum(dx, w - dx)
        near = torch.maximum(dy[:, None], dx[None, :]) <= radius
        energy = kernel.square()
        inside, total = energy[:, near].sum().item(), energy.sum().item()
        inside_total, energy_total = inside_total + inside, energy_total + total
        filters.append({"name": name, "channels": kernel.shape[0], "size": [h, w],
                        "share": inside / total if total > 0 else None})
    share = inside_total / energy_total if energy_total > 0 else None
    return {"radius": radius, "share": share, "filters": filters}


def diagnose_run(
    run_dir: str,
    *,
    checkpoint: str | None = None,
    timesteps: Sequence[int] = DEFAULT_TIMESTEPS,
    num_images: int = 256,
    num_samples: int = 64,
    sampler: str = "dpm_solver++",
    steps: int = 25,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Both measurements for a run's checkpoint (EMA weights, as sampling uses): the band error against t on
    ``num_images`` test images (data seed ``seed``), and the trajectory of ``num_samples`` samples drawn with
    ``sampler`` in ``steps`` steps (the run's noise operator, timestep spacing and x0 clamp; dpm_solver++ at
    order 2), and the locality of its global filters (:func:`filter_locality`, 3x3 neighbourhood). Returns
    ``{"run", "model", "dataset", "step", "denoising", "trajectory", "filters"}``."""
    from specdiff.data import build_dataset
    from specdiff.train.sampling import load_model
    from specdiff.train.trainer import build_noise_op, build_schedule

    config, model, _, step = load_model(run_dir, checkpoint, device=device)
    d = config.data
    dataset = build_dataset(d.name, split="test", image_size=d.image_size, channels=d.channels, root=d.root,
                            seed=seed, length=num_images, **dict(d.options))
    items = [dataset[i] for i in range(min(num_images, len(dataset)))]
    images = torch.stack([item[0] if isinstance(item, (tuple, list)) else item for item in items]).to(device)
    schedule, noise_op = build_schedule(config), build_noise_op(config)
    prediction = config.diffusion.prediction
    denoising = band_denoising_error(model, schedule, images, timesteps, prediction=prediction, noise_op=noise_op,
                                     seed=seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    x_T = torch.randn((num_samples, d.channels, d.image_size, d.image_size), generator=generator, device=device)
    options = {"order": 2} if sampler == "dpm_solver++" else {}
    trajectory = trajectory_bands(model, schedule, x_T, images, sampler=sampler, steps=steps, prediction=prediction,
                                  noise_op=noise_op, generator=generator, spacing=config.sampling.spacing,
                                  clip_x0=config.sampling.clip_x0, sigma_max=config.sampling.sigma_max, **options)
    return {"run": run_dir, "model": config.model.name, "dataset": d.name, "step": step, "sampler": sampler,
            "sampler_steps": steps, "num_images": len(images), "num_samples": num_samples,
            "denoising": denoising, "trajectory": trajectory, "filters": filter_locality(model)}


def write_diagnosis(results: Sequence[dict[str, Any]], output_dir: str,
                    names: Sequence[str] | None = None) -> dict[str, str]:
    """Writes ``diagnose.json`` (the results), ``diagnose.md`` (the tables) and the two figures
    (``denoising_error``, ``trajectory``; PNG and PDF) into ``output_dir``; returns their paths. ``names`` label the
    runs (default: their folder names)."""
    import os

    from specdiff.fileio import atomic_write_json, atomic_write_text
    from specdiff.report import figures
    from specdiff.report.tables import markdown_table

    names = list(names or [os.path.basename(os.path.normpath(r["run"])) for r in results])
    if len(names) != len(results):
        raise InvalidValue(f"give one name per run: {len(names)} names for {len(results)} runs")
    if len(set(names)) != len(names):
        raise InvalidValue(f"run names must differ, got {names}")
    runs = dict(zip(names, results, strict=True))
    os.makedirs(output_dir, exist_ok=True)
    paths = {"json": os.path.join(output_dir, "diagnose.json"), "markdown": os.path.join(output_dir, "diagnose.md")}
    atomic_write_json(paths["json"], {"runs": runs})
    lines = ["# Denoising error and sampling trajectory per frequency band", "",
             "Bands: low rho < 1/3, mid 1/3 <= rho < 2/3, high rho >= 2/3 (rho the normalised radius of the true FFT "
             "frequencies). Errors: x0 error energy per pixel (the three bands sum to the x0 MSE). Gain: "
             "10 log10 of the x0 prediction's band energy over the data's.", ""]
    for name, result in runs.items():
        lines += [f"## {name}", "", f"{result['model']} on {result['dataset']}, checkpoint step {result['step']}, "
                  f"{result['num_images']} test images; trajectory: {result['num_samples']} samples, "
                  f"{result['sampler']} with {result['sampler_steps']} steps.", ""]
        header = ["t", *(f"error {b}" for b in BANDS), "error total", *(f"gain {b} (dB)" for b in BANDS)]
        filters = result.get("filters") or {}
        if filters.get("share") is not None:
            least = min((f for f in filters["filters"] if f["share"] is not None), key=lambda f: f["share"])
            lines += [f"Global filters: {100 * filters['share']:.2f}% of their kernels' energy within the "
                      f"{2 * filters['radius'] + 1}x{2 * filters['radius'] + 1} neighbourhood of the origin "
                      f"({len(filters['filters'])} filters, energy-weighted); least local: {least['name']} "
                      f"{100 * least['share']:.2f}%.", ""]
        lines += markdown_table(header, [[r["t"], *(r[f"error_{b}"] for b in BANDS), r["error_total"],
                                          *(r[f"gain_db_{b}"] for b in BANDS)] for r in result["denoising"]])
        lines.append("")
        lines += markdown_table(["step", "t", *(f"x0̂ {b} (dB)" for b in BANDS), *(f"x_t {b} (dB)" for b in BANDS)],
                                [[r["i"], r["t"], *(r[f"x0_db_{b}"] for b in BANDS), *(r[f"xt_db_{b}"] for b in BANDS)]
                                 for r in result["trajectory"]])
        lines.append("")
    atomic_write_text(paths["markdown"], "\n".join(lines))
    paths["denoising_error"] = figures.band_denoising_error({n: r["denoising"] for n, r in runs.items()},
                                                           os.path.join(output_dir, "denoising_error")).png
    paths["trajectory"] = figures.trajectory_bands({n: r["trajectory"] for n, r in runs.items()},
                                                   os.path.join(output_dir, "trajectory")).png
    return paths


__all__ = ["DEFAULT_TIMESTEPS", "band_denoising_error", "diagnose_run", "filter_locality", "trajectory_bands",
           "write_diagnosis"]
