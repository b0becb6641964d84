"""Typed run configuration: frozen dataclasses loaded from YAML, every key and value checked before any work.

A config has the sections ``model``, ``data``, ``diffusion``, ``loss``, ``optim``, ``training`` and ``sampling``.
Defaults live only in the dataclass fields below. ``model`` holds ``name`` plus the keyword arguments of that
model's constructor (``specdiff.nn.build_model``), so a spectral option sits where the model reads it and a key
the model does not take is an error, never ignored. ``data.options`` holds the keyword options of the data
family (``specdiff.data.dataset_options``).

Every problem raises :class:`ConfigError` with one line: the dotted key, the value and what is allowed. Files are
read with :func:`specdiff.fileio.read_yaml`: safe tags only, at most 1 MiB, and no YAML aliases (``&a`` / ``*a``),
which a config never needs and which let a few hundred bytes describe gigabytes.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import yaml

from specdiff.errors import UserError
from specdiff.fileio import plain, read_yaml, safe_yaml_load, yaml_problem

T = TypeVar("T")
SECTIONS = ("model", "data", "diffusion", "loss", "optim", "training", "sampling")


_NO_VALUE = object()


class ConfigError(UserError, ValueError):
    """A bad config key or value: ``key = value: what is allowed`` (``key: problem`` from :meth:`about`)."""

    exit_status = 2

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        if not key:
            message = allowed
        elif value is _NO_VALUE:
            message = f"{key}: {allowed}"
        else:
            message = f"{key} = {value!r}: {allowed}"
        super().__init__(message)

    @classmethod
    def about(cls, key: str, problem: str) -> ConfigError:
        """An error about ``key`` as a whole (a name in it, a missing file it names), not about one value."""
        return cls(key, _NO_VALUE, problem)


def require(ok: bool, key: str, value: Any, allowed: str) -> None:
    """ConfigError(key, value, allowed) unless ``ok``: the range checks of every ``__post_init__``."""
    if not ok:
        raise ConfigError(key, value, allowed)


def did_you_mean(what: str, name: str, valid: Sequence[str]) -> str:
    """"unknown key (valid: a, b); did you mean 'a'?" with the nearest valid name when one is close."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{what} (valid: {', '.join(valid)}){hint}"


@dataclass(frozen=True)
class ModelConfig:
    """``name`` picks the model; ``options`` are its constructor arguments except ``in_channels``
    (which comes from ``data.channels``)."""

    name: Literal["tiny_unet", "spectral_unet", "spectral_unet_deep", "baseline_conv", "frequency_native_unet",
                  "frequency_native_unet_deep"] = "tiny_unet"
    options: Mapping[str, Any] = field(default_factory=dict)
    # How the parameters start (specdiff.nn.initialization): strategy default | zeros | cross_domain_flat.
    initialization: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        """Checks ``options`` against the model's constructor (types follow the defaults) and fills in the
        defaults, so the resolved config lists every argument the model gets; likewise ``initialization``."""
        from specdiff.nn.initialization import InitializationError, check_initialization
        from specdiff.nn.registry import MODELS, model_arguments

        if not isinstance(self.initialization, Mapping):
            raise ConfigError("model.initialization", self.initialization, "must be a mapping (strategy, scale, "
                              "recycle, source)")
        try:
            init = check_initialization(self.initialization)
        except InitializationError as exc:
            raise ConfigError(f"model.initialization.{exc.key}", exc.value, exc.allowed) from None
        object.__setattr__(self, "initialization", types.MappingProxyType(init))

        require(self.name in MODELS, "model.name", self.name, f"must be one of {', '.join(MODELS)}")
        defaults = {k: v for k, v in model_arguments(self.name).items() if k != "in_channels"}
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in defaults.items()}
        for key, value in self.options.items():
            if key not in defaults:
                raise ConfigError(f"model.{key}", value, did_you_mean(f"{self.name} has no such argument", key,
                                                                  list(defaults)))
            options[key] = _check_model_value(f"model.{key}", value, defaults[key])
        object.__setattr__(self, "options", types.MappingProxyType(options))


@dataclass(frozen=True)
class DataConfig:
    name: str = "piecewise"
    image_size: int = 32
    channels: int = 3
    root: str | None = None
    random_flip: bool = False
    length: int | None = None
    num_workers: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        require(4 <= self.image_size <= 4096, "image_size", self.image_size, "must be an int in [4, 4096]")
        require(self.channels in (1, 3), "channels", self.channels, "must be 1 or 3")
        require(self.length is None or self.length >= 1, "length", self.length, "must be >= 1 or null")
        require(self.num_workers >= 0, "num_workers", self.num_workers, "must be >= 0")


@dataclass(frozen=True)
class DiffusionConfig:
    schedule: Literal["linear", "cosine"] = "cosine"
    num_timesteps: int = 1000
    zero_terminal_snr: bool = False
    prediction: Literal["eps", "v", "x0"] = "eps"
    # Uniform frequency corruption (specdiff.diffusion.UniformFrequencyNoise): coloured forward noise.
    uniform_corruption: bool = False
    corruption_alpha: float = 2.0

    def __post_init__(self):
        require(2 <= self.num_timesteps <= 100_000, "num_timesteps", self.num_timesteps, "must be in [2, 100000]")
        require(math.isfinite(self.corruption_alpha) and self.corruption_alpha >= 0, "corruption_alpha",
                 self.corruption_alpha, "must be a finite number >= 0")


@dataclass(frozen=True)
class LossConfig:
    weighting: Literal["none", "snr", "sqrt_snr", "min_snr"] = "none"
    gamma: float = 5.0
    # Spectral weighting of the residual: "radial" / "bandpass" through specdiff.ops.spectral_band_mse, "whitened"
    # by the inverse of the uniform-corruption colouring (the MSE of the white ε; needs uniform_corruption).
    # "none": plain MSE.
    spectral: Literal["none", "radial", "bandpass", "whitened"] = "none"
    inner: float = 0.0
    outer: float = 1.0
    gain: float = 1.0
    temperature: float = 10.0
    # "whitened" only: the exponent p of the whitening M⁻ᵖ, in (0, 1]; 1 is the white ε's MSE, smaller values
    # move the per-frequency weights 1 / |M(f)|²ᵖ towards the plain MSE's.
    power: float = 1.0
    # γ of input perturbation (Ning et al. 2023): the model sees x_t = α x0 + σ (n + γ M ξ), the target stays
    # that of n. 0: off.
    input_perturbation: float = 0.0

    def __post_init__(self):
        require(math.isfinite(self.gamma) and self.gamma > 0, "gamma", self.gamma, "must be a finite number > 0")
        require(math.isfinite(self.temperature) and self.temperature > 0, "temperature", self.temperature,
                 "must be a finite number > 0")
        require(math.isfinite(self.gain) and self.gain > 0, "gain", self.gain, "must be a finite number > 0")
        if self.spectral == "bandpass":
            require(0.0 <= self.inner < self.outer, "inner", self.inner,
                     f"must satisfy 0 <= inner < outer (outer = {self.outer})")
        if self.spectral in ("none", "whitened"):
            for key, default in (("inner", 0.0), ("outer", 1.0), ("gain", 1.0), ("temperature", 10.0)):
                require(getattr(self, key) == default, key, getattr(self, key),
                         "is only read when loss.spectral is 'radial' or 'bandpass'")
        require(math.isfinite(self.power) and 0 < self.power <= 1, "power", self.power, "must be a number in (0, 1]")
        if self.spectral != "whitened":
            require(self.power == 1.0, "power", self.power, "is only read when loss.spectral is 'whitened'")
        require(math.isfinite(self.input_perturbation) and 0 <= self.input_perturbation <= 1, "input_perturbation",
                 self.input_perturbation, "must be a number in [0, 1] (0: off)")


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 2e-4
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    warmup_steps: int = 100
    min_lr_ratio: float = 0.0
    grad_clip: float | None = 1.0
    ema_decay: float = 0.999

    def __post_init__(self):
        require(math.isfinite(self.lr) and 0 < self.lr <= 1, "lr", self.lr, "must be in (0, 1]")
        require(math.isfinite(self.weight_decay) and self.weight_decay >= 0, "weight_decay", self.weight_decay,
                 "must be >= 0")
        for key in ("beta1", "beta2"):
            require(0 <= getattr(self, key) < 1, key, getattr(self, key), "must be in [0, 1)")
        require(self.warmup_steps >= 0, "warmup_steps", self.warmup_steps, "must be >= 0")
        require(0 <= self.min_lr_ratio <= 1, "min_lr_ratio", self.min_lr_ratio, "must be in [0, 1]")
        require(self.grad_clip is None or (math.isfinite(self.grad_clip) and self.grad_clip > 0), "grad_clip",
                 self.grad_clip, "must be > 0 or null (no clipping)")
        require(0 <= self.ema_decay < 1, "ema_decay", self.ema_decay, "must be in [0, 1) (0 copies the weights)")


@dataclass(frozen=True)
class TrainingConfig:
    steps: int = 1000
    batch_size: int = 32
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 500
    deterministic: bool = False
    bf16: bool = False
    channels_last: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = 0
    profile_every: int = 50
    # Record the first step and training time at which the smoothed loss falls below this (null: not recorded).
    loss_threshold: float | None = None
    # TensorBoard event files in <run>/tensorboard (needs the tensorboard extra); a sample grid every N steps.
    tensorboard: bool = False
    tensorboard_samples_every: int = 0
    # Training-time budget in seconds of training compute (forward+backward+update, the clock of compute_s and
    # loss_threshold_seconds; data loading, checkpoints and start-up do not count); null: no limit. The run stops
    # after the step that reaches it, checkpoints that step and ends "finished"; steps stays the upper bound.
    max_seconds: float | None = None

    def __post_init__(self):
        require(self.steps >= 1, "steps", self.steps, "must be >= 1")
        require(self.max_seconds is None or (math.isfinite(self.max_seconds) and self.max_seconds > 0),
                 "max_seconds", self.max_seconds, "must be a finite number > 0 or null (no limit)")
        require(self.batch_size >= 1, "batch_size", self.batch_size, "must be >= 1")
        require(0 <= self.seed < 2**63, "seed", self.seed, "must be in [0, 2**63)")
        require(self.log_every >= 1, "log_every", self.log_every, "must be >= 1")
        require(self.checkpoint_every >= 1, "checkpoint_every", self.checkpoint_every, "must be >= 1")
        require(self.threads >= 0, "threads", self.threads, "must be >= 0 (0: torch's default)")
        require(self.profile_every >= 0, "profile_every", self.profile_every,
                 "must be >= 0 (0: do not time the spectral ops)")
        require(self.loss_threshold is None or (math.isfinite(self.loss_threshold) and self.loss_threshold > 0),
                 "loss_threshold", self.loss_threshold, "must be a finite number > 0 or null")
        require(self.tensorboard_samples_every >= 0, "tensorboard_samples_every", self.tensorboard_samples_every,
                 "must be >= 0 (0: no sample grids)")
        require(self.tensorboard or self.tensorboard_samples_every == 0, "tensorboard_samples_every",
                 self.tensorboard_samples_every, "is only read when training.tensorboard is true")


@dataclass(frozen=True)
class SamplingConfig:
    sampler: str = "ddim"
    steps: int = 50
    num_samples: int = 16
    eta: float | None = None
    spacing: Literal["linspace", "leading", "trailing"] = "trailing"
    order: int | None = None
    use_ema: bool = True
    seed: int = 0
    batch_size: int = 64
    # Clamp every x0 prediction to [-clip_x0, clip_x0] while sampling (data are in [-1, 1]); null: no clamp.
    clip_x0: float | None = 1.0
    # Start the timestep grid at the last t with σ_t/α_t <= sigma_max (from σ_t M ε); null: at T - 1.
    sigma_max: float | None = None
    # masf only: the spectral moving-average weight (one number, or one per band) and the band edges in rho.
    alpha: float | tuple[float, ...] | None = None
    edges: tuple[float, ...] | None = None

    def __post_init__(self):
        from specdiff.diffusion import available_samplers

        names = available_samplers()
        require(self.sampler in names, "sampler", self.sampler, f"must be one of {', '.join(names)}")
        require(self.steps >= 1, "steps", self.steps, "must be >= 1")
        require(self.num_samples >= 1, "num_samples", self.num_samples, "must be >= 1")
        require(self.batch_size >= 1, "batch_size", self.batch_size, "must be >= 1")
        require(self.eta is None or 0 <= self.eta <= 1, "eta", self.eta, "must be in [0, 1] or null")
        require(self.seed >= 0, "seed", self.seed, "must be >= 0")
        require(self.clip_x0 is None or (math.isfinite(self.clip_x0) and self.clip_x0 > 0), "clip_x0", self.clip_x0,
                 "must be a number > 0 or null (no clamp)")
        require(self.sigma_max is None or (math.isfinite(self.sigma_max) and self.sigma_max > 0), "sigma_max",
                self.sigma_max, "must be a number > 0 or null (start at T - 1)")
        for key in ("alpha", "edges"):  # lists from YAML become tuples (the config is frozen)
            if isinstance(getattr(self, key), list):
                object.__setattr__(self, key, tuple(getattr(self, key)))
        try:
            sampler_options(self)
        except ValueError as exc:
            set_keys = [k for k in SAMPLER_OPTION_KEYS if getattr(self, k) is not None]
            key = next((k for k in set_keys if k in str(exc)), set_keys[0] if set_keys else "sampler")
            raise ConfigError(key, getattr(self, key), str(exc)) from None


SAMPLER_OPTION_KEYS = ("eta", "order", "alpha", "edges")
"""Sampling keys that only some samplers take; one that is set for a sampler that does not take it is an error."""


def sampler_options(cfg: SamplingConfig) -> dict[str, Any]:
    """The keyword options ``specdiff.diffusion.sample`` gets from a sampling config; raises ValueError
    when the sampler does not take one that is set, or (masf) a value it does not accept."""
    from specdiff.diffusion.samplers import check_masf_options, check_multistep_options, check_options, get_sampler

    options = {k: getattr(cfg, k) for k in SAMPLER_OPTION_KEYS if getattr(cfg, k) is not None}
    check_options(cfg.sampler, get_sampler(cfg.sampler), dict(options))
    if cfg.sampler == "masf":
        check_masf_options(cfg.alpha, cfg.edges)
    if cfg.sampler == "dpm_solver++" and cfg.order is not None:
        check_multistep_options(cfg.order)
    return options


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)

    def __post_init__(self):
        """Rules that span sections."""
        if self.loss.spectral == "whitened":
            require(self.diffusion.uniform_corruption, "loss.spectral", self.loss.spectral,
                     "needs diffusion.uniform_corruption: true (it whitens the coloured noise; with white noise it "
                     "is the plain MSE)")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON-safe) in the file layout: model options flattened next to ``name``."""
        out = {}
        for section in SECTIONS:
            values = {f.name: plain(getattr(getattr(self, section), f.name))
                      for f in dataclasses.fields(getattr(self, section))}
            if section == "model":
                values = {"name": values["name"], **values["options"], "initialization": values["initialization"]}
            out[section] = values
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()



_SECTION_CLASSES = {
    "model": ModelConfig, "data": DataConfig, "diffusion": DiffusionConfig, "loss": LossConfig,
    "optim": OptimConfig, "training": TrainingConfig, "sampling": SamplingConfig,
}
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """``value`` checked against the type hint ``hint``; numbers written like ``1e-4`` (YAML 1.1 reads them as
    strings) become floats, ints become floats where a float is expected; lists become tuples where a tuple is
    expected, and mappings the dataclass a field names (see :func:`build`). Anything else is a ConfigError.
    A union of several types other than None is left to the dataclass's ``__post_init__``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key)
    if origin is tuple:
        require(isinstance(value, (list, tuple)), key, value, "must be a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(f"{key}[{i}]", v, args[0]) for i, v in enumerate(value))
        require(len(value) == len(args), key, value, f"must be a list of {len(args)} values")
        return tuple(_coerce(f"{key}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(key, value, inner[0]) if len(inner) == 1 else value
    if origin is Literal:
        require(value in args, key, value, f"must be one of {', '.join(map(repr, args))}")
        return value
    if hint is bool:
        require(isinstance(value, bool), key, value, "must be true or false")
        return value
    if hint is int:
        require(isinstance(value, int) and not isinstance(value, bool), key, value, "must be an integer")
        return value
    if hint is float:
        if isinstance(value, str) and _NUMBER.match(value.strip()):
            value = float(value)
        require(isinstance(value, (int, float)) and not isinstance(value, bool), key, value, "must be a number")
        return float(value)
    if hint is str:
        require(isinstance(value, str), key, value, "must be a string")
        return value
    if origin in (Mapping, dict) or hint is Mapping:
        require(isinstance(value, Mapping), key, value, "must be a mapping")
        if len(args) == 2 and args[1] is not Any:
            for name in value:
                require(isinstance(name, str), key, value, f"must be a mapping with string keys, not {name!r}")
            return types.MappingProxyType({name: _coerce(f"{key}.{name}", v, args[1]) for name, v in value.items()})
        return types.MappingProxyType(dict(value))
    return value


def build(cls: type[T], raw: Any, key: str = "") -> T:
    """The frozen dataclass ``cls`` from the mapping ``raw`` (the YAML form of a config section or a study file):
    an unknown key is refused with the nearest valid one, every value is checked against its field's type
    (:func:`_coerce`; nested dataclasses, tuples and mappings of them included), missing keys take the field
    defaults, and the ConfigErrors of ``cls.__post_init__`` get ``key`` in front of theirs, so every error names
    the full dotted key."""
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    require(isinstance(raw, Mapping), key, raw, f"must be a mapping (keys: {', '.join(names)})")
    hints = typing.get_type_hints(cls)
    prefix = f"{key}." if key else ""
    values = {}
    for name, value in raw.items():
        if name not in names:
            raise ConfigError(f"{prefix}{name}", value, did_you_mean("unknown key", str(name), names))
        values[name] = _coerce(f"{prefix}{name}", value, hints[name])
    try:
        return cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"{prefix}{exc.key}" if exc.key else key, exc.value, exc.allowed) from None


def _build_model(raw: Mapping[str, Any]) -> ModelConfig:
    if "options" in raw:
        raise ConfigError("model.options", raw["options"], "write the model's arguments directly under model:")
    return ModelConfig(name=raw.get("name", ModelConfig.name), initialization=raw.get("initialization") or {},
                       options={k: v for k, v in raw.items() if k not in ("name", "initialization")})


def _check_model_value(key: str, value: Any, default: Any) -> Any:
    """Model arguments are typed by their defaults: ints stay ints, bools bools, sequences of ints sequences."""
    if isinstance(default, bool):
        return _coerce(key, value, bool)
    if isinstance(default, int):
        return _coerce(key, value, int)
    if isinstance(default, float):
        return _coerce(key, value, float)
    if isinstance(default, (tuple, list)):
        require(isinstance(value, (list, tuple)) and len(value) > 0 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value), key, value,
            "must be a non-empty list of integers")
        return tuple(value)
    if default is None and value is not None:
        require(isinstance(value, Mapping), key, value, "must be a mapping or null")
        return copy.deepcopy(dict(value))
    return value


def from_dict(raw: Mapping[str, Any] | None) -> Config:
    """A validated :class:`Config` from a nested mapping (missing keys take their defaults)."""
    raw = {} if raw is None else raw
    if not isinstance(raw, Mapping):
        raise ConfigError("", raw, f"a config must be a mapping of sections ({', '.join(SECTIONS)})")
    sections = {}
    for section, values in raw.items():
        if section not in SECTIONS:
            raise ConfigError(section, values, did_you_mean("unknown section", section, SECTIONS))
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise ConfigError(section, values, "a section must be a mapping of keys")
        sections[section] = _build_model(values) if section == "model" else build(_SECTION_CLASSES[section],
                                                                                    values, section)
    config = Config(**sections)
    _check_cross(config)
    return config


def _check_cross(config: Config) -> None:
    """Checks that need two sections: the model must be buildable for the data it will see."""
    import torch

    from specdiff.data import check_options, dataset_options
    from specdiff.nn.registry import build_model

    try:
        valid = dataset_options(config.data.name)
    except ValueError as exc:
        raise ConfigError("data.name", config.data.name, str(exc)) from None
    for key, value in config.data.options.items():
        if key not in valid:
            raise ConfigError(f"data.options.{key}", value,
                              did_you_mean(f"{config.data.name} data has no such option", key, list(valid)))
    if config.data.root is not None:
        try:
            check_options(config.data.name, {}, config.data.root)
        except ValueError as exc:
            raise ConfigError("data.root", config.data.root, str(exc)) from None
    for key, value in config.data.options.items():
        try:
            check_options(config.data.name, {key: value})
        except ValueError as exc:
            raise ConfigError(f"data.options.{key}", value, str(exc)) from None
    try:
        with torch.device("meta"):
            model = build_model(config.model.name, in_channels=config.data.channels, **config.model.options)
    except (TypeError, ValueError) as exc:
        raise ConfigError("model", config.model.name, f"cannot build this model: {exc}") from None
    factor = getattr(model, "factor", 1)  # TinyUNet halves H and W at every level but the last
    require(config.data.image_size % factor == 0, "data.image_size", config.data.image_size,
             f"{config.model.name} with these channel_mults needs a multiple of {factor}")


def parse_override(text: str) -> tuple[str, Any]:
    """``a.b=value`` -> ("a.b", parsed value); the value is read as YAML (``true``, ``3``, ``[1, 2]``, ``null``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or "." not in key:
        raise ConfigError("--set", text, "must look like section.key=value, e.g. optim.lr=3e-4")
    try:
        parsed = safe_yaml_load(value) if value.strip() else ""
    except (yaml.YAMLError, ValueError):
        parsed = value
    return key.strip(), parsed


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """``raw[a][b]... = value`` for ``key = "a.b..."``, creating missing sections (read-only mappings on the way
    become dicts); a non-mapping on the way is a ConfigError."""
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict) and isinstance(child, Mapping):
            child = node[part] = dict(child)
        if not isinstance(child, dict):
            raise ConfigError(key, value, f"{part!r} holds {child!r}, not a section")
        node = child
    node[parts[-1]] = value


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A deep copy of ``raw`` with each ``section.key=value`` (nested keys allowed: data.options.alpha=1.5) set."""
    out = copy.deepcopy(dict(raw))
    for text in overrides:
        set_dotted(out, *parse_override(text))
    return out


def load_raw(path: str) -> dict[str, Any]:
    """The mapping in the YAML file ``path`` (empty for an empty file), read with
    :func:`specdiff.fileio.read_yaml` (safe tags, no aliases, at most 1 MiB); ConfigError naming the file for
    anything else."""
    where = f"config file {path!r}"
    try:
        raw = read_yaml(path)
    except FileNotFoundError:
        raise ConfigError("", path, f"{where} does not exist") from None
    except IsADirectoryError:
        raise ConfigError("", path, f"{where} is a directory; give the path of a YAML file") from None
    except OSError as exc:
        raise ConfigError("", path, f"{where} cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ConfigError("", path, f"{where} cannot be used: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError("", path, f"{where} is not valid YAML: {yaml_problem(exc)}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("", path, f"{where} must hold a mapping of sections ({', '.join(SECTIONS)})")
    return raw


def load_config(path: str | None = None, overrides: Sequence[str] = ()) -> Config:
    """The validated config from a YAML file (None: all defaults) with ``--set``-style overrides applied."""
    raw = load_raw(path) if path is not None else {}
    return from_dict(apply_overrides(raw, overrides))
