"""Real-valued layers shared by the models: time embedding, the spectral adapter, argument checks."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Literal

import torch
from torch import Tensor, nn

from specdiff.ops.group_norm_silu import group_norm_silu
from specdiff.ops.spectral_band_filter2d import spectral_band_filter2d

Weighting = Literal["none", "radial", "bandpass", "learnable"]
WEIGHTINGS: tuple[str, ...] = ("none", "radial", "bandpass", "learnable")

# Band arguments each weighting reads; passing any other one is an error, so no argument is silently inert.
_ADAPTER_ARGS: dict[str, tuple[str, ...]] = {
    "none": (),
    "radial": ("gain",),
    "bandpass": ("inner", "outer", "temperature", "gain"),
    "learnable": ("inner", "outer", "temperature", "gain", "cond_dim"),
}
_BAND_DEFAULTS = {"inner": 0.0, "outer": 1.0, "temperature": 10.0, "gain": 1.0}


def check_kwargs(where: str, given: Iterable[str], valid: Iterable[str]) -> None:
    """Raises TypeError naming the valid keyword arguments when ``given`` has one outside ``valid``."""
    valid = tuple(valid)
    unknown = sorted(set(given) - set(valid))
    if unknown:
        hints = [f"{u!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(u, valid, 1)) else repr(u)
                 for u in unknown]
        raise TypeError(f"{where}: unknown argument(s) {', '.join(hints)}; valid: {', '.join(valid)}")


def check_positive_int(name: str, value: object) -> None:
    """A constructor's size argument: an int >= 1 (bool is not one); ValueError naming it otherwise."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_input(x: Tensor, t: Tensor, in_channels: int, model: str) -> None:
    """``x`` must be ``[B, in_channels, H, W]`` floating point and ``t`` integer ``[B]``."""
    if not isinstance(x, Tensor) or x.dim() != 4 or not x.is_floating_point():
        got = f"{x.dtype} of shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{model}: x must be a floating-point tensor [B, {in_channels}, H, W], got {got}")
    if x.shape[1] != in_channels:
        raise ValueError(f"{model}: x has {x.shape[1]} channels but the model was built with in_channels={in_channels}")
    if (not isinstance(t, Tensor) or t.shape != (x.shape[0],) or t.is_floating_point() or t.is_complex()
            or t.dtype == torch.bool):
        got = f"{t.dtype} of shape {tuple(t.shape)}" if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"{model}: t must be an integer tensor of shape [B] = [{x.shape[0]}], got {got}")


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of timesteps (Vaswani et al. 2017, §3.5; Ho et al. 2020): ``[B] -> [B, dim]``."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=t.device) * (-math.log(max_period) / half))
    args = t.to(torch.float32)[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return nn.functional.pad(emb, (0, dim % 2))


class TimeEmbedding(nn.Module):
    """Sinusoidal embedding followed by a two-layer SiLU MLP: integer ``t [B]`` -> ``Tensor[B, dim]``."""

    def __init__(self, dim: int):
        super().__init__()
        if dim < 2:
            raise ValueError(f"time_embed_dim must be >= 2, got {dim}")
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        emb = timestep_embedding(t, self.dim).to(self.mlp[0].weight.dtype)
        return self.mlp(emb)


class GroupNormSiLU(nn.GroupNorm):
    """``silu(group_norm(x))`` as one fused :func:`~specdiff.ops.group_norm_silu` call. The parameters and
    state_dict keys are ``nn.GroupNorm``'s, so a GroupNorm followed by SiLU can become one without changing
    checkpoints."""

    def forward(self, x: Tensor) -> Tensor:
        return group_norm_silu(x, self.num_groups, self.weight, self.bias, self.eps)


def group_norm(channels: int, silu: bool = False) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups (the largest divisor of ``channels`` that is <= 8); with ``silu`` followed
    by SiLU in the same fused op (:class:`GroupNormSiLU`)."""
    return (GroupNormSiLU if silu else nn.GroupNorm)(math.gcd(channels, 8), channels)


class SpectralAdapter(nn.Module):
    """Real-space round trip ``irfft2(W(rho) · rfft2(x, norm="ortho"))`` through the fused band ops.

    ``rho`` is the normalized radius of the true FFT bin frequencies (:func:`specdiff.ops.frequency_radius`);
    the band is computed inside :func:`specdiff.ops.spectral_band_filter2d`, never on a ``linspace`` grid.

    * ``none``: the identity (no transform at all).
    * ``radial``: ``W = gain · rho``.
    * ``bandpass``: ``W = gain · σ(T(rho − inner)) · (1 − σ(T(rho − outer)))``, fixed numbers.
    * ``learnable``: the band-pass with trainable ``inner``, ``outer``, ``gain`` (initialised to the given
      values; ``temperature`` stays fixed). With ``cond_dim`` a small MLP maps a conditioning vector (the
      time embedding) to per-sample offsets of the three, so each sample gets its own band; its last layer
      starts at zero, so the conditioned adapter starts as the unconditioned one.

    Only the arguments the weighting reads may be given (others raise), so none is silently ignored.
    Defaults: inner 0, outer 1, temperature 10, gain 1. The forward pass never reads tensor values on the
    host (no ``item()``, no data-dependent branch), so it does not synchronise a device.
    """

    def __init__(
        self,
        weighting: Weighting = "none",
        inner: float | None = None,
        outer: float | None = None,
        temperature: float | None = None,
        gain: float | None = None,
        cond_dim: int | None = None,
    ):
        super().__init__()
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {', '.join(map(repr, WEIGHTINGS))}, got {weighting!r}")
        given = {"inner": inner, "outer": outer, "temperature": temperature, "gain": gain, "cond_dim": cond_dim}
        allowed = _ADAPTER_ARGS[weighting]
        inert = [name for name, value in given.items() if value is not None and name not in allowed]
        if inert:
            raise ValueError(
                f"SpectralAdapter(weighting={weighting!r}) does not use {', '.join(inert)}; "
                f"it reads {', '.join(allowed) if allowed else 'no band argument'}"
            )
        band = {k: float(v if v is not None else _BAND_DEFAULTS[k]) for k, v in given.items() if k != "cond_dim"}
        if not math.isfinite(band["temperature"]) or band["temperature"] <= 0:
            raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
        self.weighting = weighting
        self.kind = "radial" if weighting == "radial" else "bandpass"
        self.temperature = band["temperature"]
        self.cond_dim = cond_dim
        self.cond: nn.Module | None = None
        if weighting == "learnable":
            for name in ("inner", "outer", "gain"):
                self.register_parameter(name, nn.Parameter(torch.tensor(band[name])))
            if cond_dim is not None:
                check_positive_int("cond_dim", cond_dim)
                hidden = max(16, min(cond_dim, 64))
                self.cond = nn.Sequential(nn.Linear(cond_dim, hidden), nn.SiLU(), nn.Linear(hidden, 3))
                nn.init.zeros_(self.cond[-1].weight)
                nn.init.zeros_(self.cond[-1].bias)
        else:
            self.band = {k: band[k] for k in ("inner", "outer", "gain")}

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        """``x``: ``Tensor[B, C, H, W]``; ``emb``: ``Tensor[B, cond_dim]``, required when ``cond_dim`` is set
        (ignored by unconditioned adapters, so a model can pass its time embedding to every adapter)."""
        if self.weighting == "none":
            return x
        if self.weighting != "learnable":
            return spectral_band_filter2d(x, kind=self.kind, temperature=self.temperature, **self.band)
        inner, outer, gain = self.inner, self.outer, self.gain
        if self.cond is not None:
            if emb is None:
                raise ValueError("this SpectralAdapter is conditioned (cond_dim is set): pass emb [B, cond_dim]")
            offsets = self.cond(emb).to(x.dtype)
            inner, outer, gain = inner + offsets[:, 0], outer + offsets[:, 1], gain + offsets[:, 2]
        return spectral_band_filter2d(x, kind="bandpass", inner=inner, outer=outer, gain=gain,
                                      temperature=self.temperature)

    def extra_repr(self) -> str:
        if self.weighting == "learnable":
            return f"weighting='learnable', temperature={self.temperature}, cond_dim={self.cond_dim}"
        if self.weighting == "none":
            return "weighting='none'"
        return f"weighting={self.weighting!r}, temperature={self.temperature}, {self.band}"


def build_adapter(config: Mapping | None, cond_dim: int, where: str) -> SpectralAdapter | None:
    """A :class:`SpectralAdapter` from a model's adapter config (its keyword arguments, with
    ``time_conditioned: true`` standing for ``cond_dim`` = the model's time embedding width)."""
    if config is None:
        return None
    if not isinstance(config, Mapping):
        raise TypeError(f"{where} must be a mapping of SpectralAdapter arguments, got {type(config).__name__}")
    valid = ("weighting", "inner", "outer", "temperature", "gain", "time_conditioned")
    check_kwargs(where, config, valid)
    kwargs = dict(config)
    if kwargs.pop("time_conditioned", False):
        kwargs["cond_dim"] = cond_dim
    return SpectralAdapter(**kwargs)
