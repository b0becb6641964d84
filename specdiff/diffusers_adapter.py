"""A specdiff model as the ``unet`` of a diffusers pipeline (``DDPMPipeline``, ``DDIMPipeline``); re-exported by
:mod:`specdiff.nn`. It lives outside ``specdiff/nn`` because it reads the timesteps diffusers passes on the host
(checking that they are whole numbers), which the models themselves never do.

diffusers 0.42's unconditional pipelines ask four things of their ``unet``: ``unet(sample, t).sample`` with ``t``
a 0-d timestep tensor, ``unet.config.sample_size`` and ``unet.config.in_channels`` (the noise shape), and
``unet.dtype`` / ``unet.device`` (through the pipeline's ``device``, ``dtype`` and ``to``, which take any
``torch.nn.Module``). ``DiffusionPipeline.register_modules`` records any module by its class and module name, so
a plain ``nn.Module`` serves and this file needs no diffusers import: diffusers is needed only to build the
pipeline. What a plain module cannot do is ride along in ``pipeline.save_pretrained`` (diffusers warns that it
cannot be saved and writes the scheduler only); a specdiff model is saved as a run checkpoint instead.

The scheduler must describe the model's training: :func:`diffusers_scheduler_kwargs` gives diffusers the same ᾱ
table (specdiff's betas) and prediction type. With those, ``DDIMPipeline`` (``use_clipped_model_output=True``)
and ``DDPMPipeline`` draw what specdiff's ``sample("ddim" | "ddpm", ..., spacing="leading")`` draws from the same
generator, to float32 precision (tested): diffusers' default leading spacing with ``steps_offset=0`` visits
:func:`~specdiff.diffusion.make_timesteps`'s ``leading`` timesteps.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

DIFFUSERS_PREDICTION = {"eps": "epsilon", "v": "v_prediction", "x0": "sample"}
"""diffusers' ``prediction_type`` for each specdiff ``prediction``."""


@dataclass
class DiffusersUNetOutput:
    """The model output under the name diffusers reads (``UNet2DOutput.sample``)."""

    sample: Tensor


class DiffusersUNet(nn.Module):
    """Wraps ``model(x [B, C, H, W], t [B] int64)`` as a diffusers ``unet``: ``forward(sample, timestep)``.

    Args:
        model: a ``specdiff.nn`` model (any ``forward(x, t)`` over integer timesteps).
        sample_size: image side (int) or (H, W), the size the pipeline draws its noise at.
        in_channels: image channels; default ``model.in_channels``.

    ``timestep``: a number, a 0-d tensor or one per sample ``[B]``, integer-valued (the discrete timesteps the
    model was trained on); it is broadcast to int64 ``[B]`` on the sample's device. The parameters live in
    ``model``, so ``state_dict`` keys are ``model.<name>``.
    """

    def __init__(self, model: nn.Module, sample_size: int | tuple[int, int], in_channels: int | None = None):
        super().__init__()
        if in_channels is None:
            in_channels = getattr(model, "in_channels", None)
            if in_channels is None:
                raise ValueError(f"{type(model).__name__} has no in_channels attribute; pass in_channels")
        if isinstance(sample_size, (tuple, list)):
            sample_size = tuple(int(s) for s in sample_size)
        self.model = model
        # diffusers reads unet.config.<key>; out_channels as UNet2DModel's config has it.
        self.config = types.SimpleNamespace(sample_size=sample_size, in_channels=int(in_channels),
                                            out_channels=int(in_channels))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def forward(self, sample: Tensor, timestep: Tensor | float | int, return_dict: bool = True,
                **_: Any) -> DiffusersUNetOutput | tuple[Tensor]:
        t = torch.as_tensor(timestep, device=sample.device)
        if t.is_floating_point():
            if not bool((t == t.round()).all()):
                raise ValueError(f"specdiff models take integer timesteps, got {t.tolist()} (a scheduler with "
                                 "fractional timesteps does not fit a discrete-time model)")
        t = t.long()
        if t.dim() == 0:
            t = t.expand(sample.shape[0])
        if t.shape != (sample.shape[0],):
            raise ValueError(f"timestep must be a scalar or one per sample [{sample.shape[0]}], got shape "
                             f"{tuple(t.shape)}")
        out = self.model(sample, t)
        return DiffusersUNetOutput(out) if return_dict else (out,)


def diffusers_scheduler_kwargs(schedule, prediction: str = "eps") -> dict[str, Any]:
    """Keyword arguments for a diffusers scheduler (``DDPMScheduler(**diffusers_scheduler_kwargs(schedule))``) with
    specdiff's noise schedule (``specdiff.diffusion.make_schedule``) and a model trained with ``prediction``.

    The betas are passed as ``trained_betas`` (diffusers keeps them in float32, so ᾱ agrees to float32
    precision). diffusers' named schedules are not always specdiff's: its ``linear`` does not rescale β by 1000/T.
    """
    if prediction not in DIFFUSERS_PREDICTION:
        raise ValueError(f"prediction must be one of {', '.join(DIFFUSERS_PREDICTION)}, got {prediction!r}")
    return {"num_train_timesteps": int(schedule.num_timesteps), "trained_betas": schedule.betas.double().tolist(),
            "prediction_type": DIFFUSERS_PREDICTION[prediction]}
