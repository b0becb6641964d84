"""The training loop behind ``specdiff train``: one run folder per run, atomic checkpoints, exact resume.

Run folder ``<output_dir>/runs/<run_id>/``::

    config.yaml            the resolved config          system.json     versions, devices, op backend
    logs/train.log         human-readable log           logs/train.jsonl  one record per logged step
    metrics/<run_id>.json  final metrics                checkpoints/step_<N>.pt
    tensorboard/           TensorBoard events (``training.tensorboard``)
    run.lock               the claim: an exclusive ``flock`` held by the process training the run (rank 0)

Exclusive: a second process on the same run (``train`` or ``--resume``) stops with a one-line "in use" error; the
kernel drops the claim when its holder dies, so kill -9 then ``--resume`` works at once. The ledger gets one row
per finished training of a run (a ``--resume`` with nothing left to train adds none; ``started`` is the time the
run was created, kept in system.json across resumes).

Time budget: with ``training.max_seconds`` the run stops after the first step at which its training compute
time (``compute_s``: forward+backward+update, summed over every process lifetime of the run) reaches the budget,
checkpoints that step and ends like a run that reached ``training.steps``: status ``finished`` (so the ledger, the
report and the Taguchi runner treat it as any finished run), with ``stop_reason`` ``max_seconds`` in its metrics.
``--resume`` with a larger ``max_seconds`` (or ``steps``) continues it exactly; the two keys may differ on resume.

Determinism: the data order is a pure function of (seed, step) (``DistributedSampler`` permutations per epoch,
sliced at the step's offset), every data item a function of (seed, index), and the noise generator state is
checkpointed, so ``--resume`` continues the exact loss curve of an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import json
import logging
import math
import os
import platform
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from specdiff.config import Config, ConfigError, from_dict
from specdiff.errors import MissingPath, PathExists, Unavailable, UserError
from specdiff.fileio import atomic_write_json, atomic_write_text, check_plain_name, remove_stale_temps
from specdiff.train.checkpoint import (
    check_weights_fit,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from specdiff.train.convergence import exponential_fit, threshold_crossing
from specdiff.train.ledger import append_row, claim, read_rows
from specdiff.train.state import LOSS_SMOOTHING, Clock, TrainState

TENSORBOARD_SAMPLES = 8
"""At most this many images in a TensorBoard sample grid (fewer when ``sampling.num_samples`` is smaller)."""


class TrainingDiverged(UserError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    run_id: str
    run_dir: str
    metrics: dict[str, Any]
    status: str = "finished"
    checkpoints: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------------
# Building blocks


DEVICES = "auto, cpu, cuda, cuda:<index>"


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:<index>``; ConfigError otherwise."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda") or (device.type == "cpu" and device.index):
        raise ConfigError("device", name, f"must be one of {DEVICES}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device", name, "CUDA is not available on this machine; use auto or cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError("device", name, f"this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def build_train_dataset(config: Config, split: str = "train") -> Dataset:
    from specdiff.data import build_dataset

    d = config.data
    return build_dataset(d.name, split=split, image_size=d.image_size, channels=d.channels, root=d.root,
                         random_flip=d.random_flip and split == "train", seed=config.training.seed, length=d.length,
                         **dict(d.options))


def build_network(config: Config) -> nn.Module:
    from specdiff.nn import build_model

    return build_model(config.model.name, in_channels=config.data.channels, **dict(config.model.options))


def build_noise_op(config: Config):
    from specdiff.diffusion import UniformFrequencyNoise

    if not config.diffusion.uniform_corruption:
        return None
    return UniformFrequencyNoise(alpha=config.diffusion.corruption_alpha)


def build_schedule(config: Config):
    from specdiff.diffusion import make_schedule

    d = config.diffusion
    return make_schedule(d.schedule, num_timesteps=d.num_timesteps, zero_terminal_snr=d.zero_terminal_snr)


def build_residual_loss(config: Config) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Per-sample residual loss: None (plain MSE), the band-weighted spectral MSE of the loss section, or the MSE
    whitened by the inverse noise colouring."""
    loss = config.loss
    if loss.spectral == "none":
        return None
    if loss.spectral == "whitened":
        from specdiff.diffusion.losses import whitened_mean_square

        return whitened_mean_square(build_noise_op(config), loss.power)
    from specdiff.ops import spectral_band_mse

    band = {"inner": loss.inner, "outer": loss.outer, "gain": loss.gain, "temperature": loss.temperature}
    if loss.spectral == "radial":
        band = {"gain": loss.gain, "temperature": loss.temperature}

    def residual_loss(residual: torch.Tensor) -> torch.Tensor:
        return spectral_band_mse(residual, kind=loss.spectral, **band)

    return residual_loss


def lr_lambda(config: Config) -> Callable[[int], float]:
    """Linear warm-up to the base LR, then cosine decay to ``min_lr_ratio`` of it at the last step."""
    warmup, total, floor = config.optim.warmup_steps, config.training.steps, config.optim.min_lr_ratio

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


class EMA:
    """Exponential moving average of a model's parameters and buffers (Polyak averaging; shadow in float32)."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].lerp_(v.float(), 1.0 - self.decay)
            else:
                self.shadow[k].copy_(v)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for k, v in state.items():
            self.shadow[k].copy_(v)


class StepBatches(Sampler[list[int]]):
    """Index batches for steps ``start .. steps-1``: each epoch is a ``DistributedSampler`` permutation (seeded by
    (seed, epoch), this rank's share) cut into ``batch_size`` chunks, so step s always gets the same indices."""

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, start: int, steps: int,
                 rank: int = 0, world: int = 1, on_epoch: Callable[[int], None] | None = None):
        self.on_epoch = on_epoch
        self.sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed,
                                          drop_last=True)
        self.batch_size, self.start, self.steps = batch_size, start, steps
        self.per_epoch = len(self.sampler) // batch_size
        if self.per_epoch < 1:
            raise ConfigError("data.length", len(dataset),  # type: ignore[arg-type]
                              f"the dataset must hold at least batch_size x processes = {batch_size * world} images")

    def __len__(self) -> int:
        return self.steps - self.start

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start
        epoch, offset = divmod(step, self.per_epoch)
        while step < self.steps:
            self.sampler.set_epoch(epoch)
            if self.on_epoch is not None:
                self.on_epoch(epoch)
            order = list(self.sampler)
            for b in range(offset, self.per_epoch):
                yield order[b * self.batch_size:(b + 1) * self.batch_size]
                step += 1
                if step >= self.steps:
                    return
            epoch, offset = epoch + 1, 0


def loss_drop_per_second(losses: list[float], times: list[float]) -> float | None:
    """Robust training speed: (median loss of the first 10% of steps − median of the last 10%) divided by the
    training compute seconds between the two windows' midpoints. None with fewer than 4 steps."""
    n = len(losses)
    if n < 4:
        return None
    k = max(1, n // 10)
    first, last = float(np.median(losses[:k])), float(np.median(losses[-k:]))
    elapsed = float(np.median(times[-k:]) - np.median(times[:k]))
    return (first - last) / elapsed if elapsed > 0 else None


def summary_writer_class() -> type:
    """``torch.utils.tensorboard.SummaryWriter``; ConfigError when the tensorboard package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError("training.tensorboard", True, "needs the tensorboard package: "
                          "pip install -e '.[tensorboard]'") from None
    return SummaryWriter


class TensorBoardLog:
    """Rank 0's TensorBoard events in ``<run>/tensorboard``: the train.jsonl scalars of every logged step under
    ``train/<name>`` and, every ``training.tensorboard_samples_every`` steps, ``samples``: a grid drawn with the
    run's sampling section (its weights, EMA by default, and the same seeded noise each time) on a copy of the
    model, so training's weights, modes and random streams are untouched.

    ``first_step``: the first step this process trains. A resume retrains the steps after its checkpoint, which
    a run killed later had logged already; ``purge_step`` makes TensorBoard drop those earlier copies."""

    SCALARS = ("loss", "loss_smooth", "lr", "grad_norm", "images_per_second")

    def __init__(self, config: Config, run_dir: str, first_step: int, model: nn.Module, ema: EMA, schedule,
                 noise_op, device: torch.device):
        self.config, self.model, self.ema, self.schedule, self.noise_op = config, model, ema, schedule, noise_op
        self.device = device
        self.writer = summary_writer_class()(os.path.join(run_dir, "tensorboard"), purge_step=first_step)
        # Copied before the first step, so no gradients come along.
        self.sampler_net = (copy.deepcopy(model).requires_grad_(False).eval()
                            if config.training.tensorboard_samples_every else None)

    def scalars(self, record: dict[str, Any]) -> None:
        for name in self.SCALARS:
            self.writer.add_scalar(f"train/{name}", record[name], record["step"])

    def samples(self, step: int) -> None:
        from specdiff.data.images import make_grid
        from specdiff.train.sampling import draw

        cfg = self.config.sampling
        assert self.sampler_net is not None, "samples() needs training.tensorboard_samples_every > 0"
        weights = self.ema.state_dict() if cfg.use_ema else self.model.state_dict()
        expected = self.sampler_net.state_dict()
        self.sampler_net.load_state_dict({k: v.to(expected[k].dtype) for k, v in weights.items()})
        generator = torch.Generator(self.device).manual_seed(cfg.seed)
        x0 = draw(self.config, cfg, self.sampler_net, min(TENSORBOARD_SAMPLES, cfg.num_samples), generator,
                  self.schedule, self.noise_op)
        grid = make_grid(x0.float().cpu())
        self.writer.add_image("samples", (grid + 1) / 2, step, dataformats="CHW")

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def system_info(device: torch.device) -> dict[str, Any]:
    from specdiff.extension import info

    facts = info()
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        **{k: facts[k] for k in ("specdiff", "torch", "python", "numpy", "threads", "cuda_available",
                                 "extension_loaded", "cpu_isa", "backend", "backend_reason")},
        "ops": facts["ops"],
    }


def spectral_op_seconds(prof) -> tuple[float, float]:
    """(time in specdiff ops, total) from a finished profiler, both as sums of self times (so nested events
    count once). Kernel path: the ``specdiff::<op>`` events and the ops' autograd nodes (``CppNode<specdiff::…>``
    from ``csrc/autograd.cpp``, ``GeneratedBackwardFor_specdiff_…`` from torch.library), forward and backward.
    Reference path: the inclusive time of the ``specdiff::<op>[reference]`` scopes, i.e. the forward only (its
    backward is plain autograd of aten ops)."""
    spectral = total = 0.0
    for evt in prof.key_averages():
        t = evt.self_cpu_time_total + getattr(evt, "self_device_time_total", 0.0)
        total += t
        if evt.key.endswith("[reference]"):
            spectral += evt.cpu_time_total
        elif "specdiff" in evt.key:
            spectral += t
    return spectral * 1e-6, total * 1e-6


# ---------------------------------------------------------------------------------------------------------------
# Distributed set-up


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_kind: str) -> DistInfo:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK: start a process group (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_kind == "cuda" else "gloo")
    info = DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    if device_kind == "cuda":
        torch.cuda.set_device(info.local_rank)
    return info


def _broadcast(obj: Any, dist_info: DistInfo) -> Any:
    if dist_info.world == 1:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# ---------------------------------------------------------------------------------------------------------------
# Run folders


def check_run_id(run_id: str) -> str:
    """``run_id`` when it names one folder inside ``<output_dir>/runs`` (a plain name,
    :data:`~specdiff.fileio.PLAIN_NAME_RULE`); InvalidValue otherwise."""
    return check_plain_name(run_id, "run id")


def new_run_id(config: Config) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{config.model.name}-{config.sha256()[:8]}-{stamp}-{os.getpid() % 10000:04d}"


def find_resumable(output_dir: str, config: Config) -> str | None:
    """The most recently modified run in ``output_dir/runs`` whose saved config matches ``config`` (``training.
    steps`` and ``training.max_seconds`` may differ, to extend a run)."""
    runs = os.path.join(output_dir, "runs")
    if not os.path.isdir(runs):
        return None
    want = _comparable(config.to_dict())
    candidates = []
    for name in os.listdir(runs):
        path = os.path.join(runs, name, "config.yaml")
        if os.path.isfile(path):
            try:
                saved = _comparable(load_run_config(os.path.join(runs, name)).to_dict())
            except (ConfigError, OSError):
                continue
            if saved == want:
                candidates.append((os.path.getmtime(path), name))
    return max(candidates)[1] if candidates else None


EXTENDABLE = ("steps", "max_seconds")
"""Training keys a ``--resume`` may change: they only say how far the run goes."""


def _comparable(d: dict[str, Any]) -> dict[str, Any]:
    d = json.loads(json.dumps(d))
    for key in EXTENDABLE:
        d["training"].pop(key, None)
    return d


def load_run_config(run_dir: str) -> Config:
    """The run's saved ``config.yaml``, validated; ConfigError naming that file when it is broken."""
    from specdiff.config import load_raw

    path = os.path.join(run_dir, "config.yaml")
    if not os.path.isfile(path):
        raise MissingPath(f"{run_dir!r} is not a run folder (no config.yaml)")
    try:
        return from_dict(load_raw(path))
    except ConfigError as exc:
        if not exc.key:  # load_raw's errors name the file already
            raise
        raise ConfigError(exc.key, exc.value, f"{exc.allowed} (in the run's {path})") from None


def _config_differences(a: Config, b: Config) -> list[str]:
    da, db = _comparable(a.to_dict()), _comparable(b.to_dict())
    return [f"{s}.{k}: {da[s].get(k)!r} -> {db[s].get(k)!r}" for s in da for k in set(da[s]) | set(db[s])
            if da[s].get(k) != db[s].get(k)]


def _setup_logger(path: str | None, run_id: str) -> logging.Logger:
    logger = logging.getLogger(f"specdiff.train.{run_id}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    if path is not None:
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
    return logger


def _truncate_jsonl(path: str, last_step: int) -> None:
    """Drops records after ``last_step`` (and a torn last line), so a resumed run's log has each step once."""
    if not os.path.exists(path):
        return
    keep = []
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break
            if record.get("step", 0) > last_step:
                break
            keep.append(line if line.endswith("\n") else line + "\n")
    atomic_write_text(path, "".join(keep))


# ---------------------------------------------------------------------------------------------------------------
# The loop


def train(
    config: Config,
    *,
    output_dir: str = "results",
    run_id: str | None = None,
    resume: bool = False,
    progress: bool | None = None,
) -> TrainResult:
    """Trains ``config`` into ``output_dir/runs/<run_id>``; returns the run's metrics.

    ``resume``: continue the newest checkpoint of ``run_id`` (or, without one, of the newest run with the same
    config). Training runs ``training.steps`` steps, or fewer when ``training.max_seconds`` of training compute
    (the ``compute_s`` clock) run out first (``metrics["stop_reason"]`` says which). Raises TrainingDiverged on a
    NaN/inf loss (the last good checkpoint stays), ConfigError for settings this machine cannot run, FolderInUse
    (a FileExistsError) when another process holds the run.
    Under torchrun every rank calls this; rank 0 claims the run folder and writes all artefacts.
    """
    with contextlib.ExitStack() as claims:
        return _train(config, output_dir, run_id, resume, progress, claims)


def _claim_run_folder(run_dir: str, run_id: str, resume: bool, claims: contextlib.ExitStack) -> None:
    """Takes ``run_dir/run.lock`` for the rest of the run (held by ``claims``), then checks the folder's state under
    the claim, so two processes never both pass the checks."""
    if resume and not os.path.isdir(run_dir):
        raise MissingPath(f"--resume: run folder {run_dir!r} does not exist")
    os.makedirs(run_dir, exist_ok=True)
    claims.enter_context(claim(os.path.join(run_dir, "run.lock"), f"run {run_id!r} ({run_dir})"))
    if not resume and os.path.exists(os.path.join(run_dir, "config.yaml")):
        raise PathExists(f"run folder {run_dir!r} already exists; pass --resume to continue it, or another "
                              "--run-id")


def _run_started(run_dir: str, resume: bool) -> str:
    """When the run was created: kept in system.json across resumes (older folders: config.yaml's ctime)."""
    if resume:
        try:
            with open(os.path.join(run_dir, "system.json")) as f:
                started = json.load(f).get("started")
            if isinstance(started, str):
                return started
        except (OSError, ValueError, AttributeError):
            pass
        with contextlib.suppress(OSError):
            return _dt.datetime.fromtimestamp(os.path.getctime(os.path.join(run_dir, "config.yaml"))).isoformat(
                timespec="seconds")
    return _dt.datetime.now().isoformat(timespec="seconds")


def _train(config: Config, output_dir: str, run_id: str | None, resume: bool, progress: bool | None,
           claims: contextlib.ExitStack) -> TrainResult:
    tc = config.training
    device = resolve_device(tc.device)
    dist_info = init_distributed(device.type)
    if device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    if tc.threads:
        torch.set_num_threads(tc.threads)
    if tc.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    if tc.tensorboard:
        summary_writer_class()  # a missing package fails before any work

    # The data first: a missing data folder fails before a run folder exists.
    dataset = build_train_dataset(config)

    # Run folder (rank 0 decides, everyone agrees).
    if dist_info.main:
        if resume and run_id is None:
            run_id = find_resumable(output_dir, config)
            if run_id is None:
                raise MissingPath(f"--resume: no run in {os.path.join(output_dir, 'runs')!r} has this config; "
                                        "pass --run-id")
        run_id = run_id or new_run_id(config)
    run_id = check_run_id(_broadcast(run_id, dist_info))
    run_dir = os.path.join(output_dir, "runs", run_id)
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    log_dir = os.path.join(run_dir, "logs")
    jsonl_path = os.path.join(log_dir, "train.jsonl")

    # Rank 0 claims the folder; the other ranks learn whether it could (and stop with it if not).
    if dist_info.main:
        try:
            _claim_run_folder(run_dir, run_id, resume, claims)
        except BaseException:
            _broadcast(False, dist_info)
            raise
    if not _broadcast(True, dist_info):
        raise Unavailable(f"rank 0 could not claim run {run_id!r}; see its error")

    start_state = None
    state = TrainState()
    started = _run_started(run_dir, resume) if dist_info.main else None
    if resume:
        saved = load_run_config(run_dir)
        diffs = _config_differences(saved, config)
        if diffs:
            raise ConfigError("--resume", run_id, "the config differs from the run's config.yaml: " + "; ".join(diffs))
        if dist_info.main:
            remove_stale_temps(ckpt_dir)  # under the run's claim: no live writer can own them
        latest = latest_checkpoint(ckpt_dir) if dist_info.main else None
        latest = _broadcast(latest, dist_info)
        if latest is not None:
            start_state = load_checkpoint(latest[1])
            state = TrainState.from_checkpoint(start_state, latest[1])

    logger = _setup_logger(None, run_id)
    if dist_info.main:
        for d in (ckpt_dir, log_dir, os.path.join(run_dir, "metrics")):
            os.makedirs(d, exist_ok=True)
        atomic_write_text(os.path.join(run_dir, "config.yaml"), config.to_yaml())
        atomic_write_json(os.path.join(run_dir, "system.json"), {"started": started, **system_info(device)})
        logger = _setup_logger(os.path.join(log_dir, "train.log"), run_id)
        if start_state is None:
            atomic_write_text(jsonl_path, "")
        else:
            _truncate_jsonl(jsonl_path, state.step)

    # Model, optimiser, data.
    torch.manual_seed(tc.seed)
    np.random.seed(tc.seed % 2**32)
    model = build_network(config).to(device)
    if start_state is None and config.model.initialization["strategy"] != "default":
        from specdiff.nn.initialization import InitializationError, initialize

        try:
            done = initialize(model, config.model.initialization)  # a resume takes the weights from the checkpoint
        except InitializationError as exc:  # the source the config names cannot be read
            raise ConfigError(f"model.initialization.{exc.key}", exc.value, exc.allowed) from None
        logger.info("initialization %s: %d parameters from a source of %s values%s", done["strategy"],
                    done["num_parameters"], done["source_length"], " (recycled)" if done["recycled"] else "")
    if tc.channels_last:
        model = model.to(memory_format=torch.channels_last)
    ema = EMA(model, config.optim.ema_decay)
    optim = config.optim
    optimizer = torch.optim.AdamW(model.parameters(), lr=optim.lr, betas=(optim.beta1, optim.beta2),
                                  weight_decay=optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config))
    schedule = build_schedule(config)
    noise_op = build_noise_op(config)
    residual_loss = build_residual_loss(config)
    noise_gen = torch.Generator(device).manual_seed((tc.seed * 1_000_003 + dist_info.rank) % 2**63)

    if start_state is not None:
        for part in ("model", "ema"):
            check_weights_fit(latest[1], start_state[part], model, config.model.name)
        model.load_state_dict(start_state["model"])
        ema.load_state_dict(start_state["ema"])
        optimizer.load_state_dict(start_state["optimizer"])
        scheduler.load_state_dict(start_state["scheduler"])
        noise_gen.set_state(start_state["rng"]["noise"][dist_info.rank])
        torch.set_rng_state(start_state["rng"]["torch"])
        np.random.set_state(start_state["rng"]["numpy"])
        logger.info("resumed from step %d (%s)", state.step, latest[1])

    net: nn.Module = model
    if dist_info.world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    # Epoch-dependent augmentation (flips, photo crops) follows the epoch when the main process loads the data;
    # worker processes hold copies of the dataset, so with workers every epoch looks like epoch 0 (still a pure
    # function of the step, so resume stays exact).
    on_epoch = getattr(dataset, "set_epoch", None) if config.data.num_workers == 0 else None
    batches = StepBatches(dataset, tc.batch_size, tc.seed, state.step, tc.steps, dist_info.rank, dist_info.world,
                          on_epoch)
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=config.data.num_workers,
                        pin_memory=device.type == "cuda")

    from tqdm.auto import tqdm

    from specdiff.diffusion import diffusion_loss

    # progress None: a bar on a terminal only (tqdm's disable=None), so logs of batch jobs stay quiet.
    quiet = True if (not dist_info.main or progress is False) else (False if progress else None)
    bar = tqdm(total=tc.steps, initial=state.step, desc=run_id, unit="step", dynamic_ncols=True, disable=quiet)
    board = (TensorBoardLog(config, run_dir, state.step + 1, model, ema, schedule, noise_op, device)
             if tc.tensorboard and dist_info.main else None)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=tc.bf16)
    checkpoints: list[str] = []
    status = "finished"
    if dist_info.main:
        logger.info("training %s on %s for %d steps%s (batch %d x %d processes)", config.model.name, device,
                    tc.steps, "" if tc.max_seconds is None else f" or {tc.max_seconds:g} s of training compute",
                    tc.batch_size, dist_info.world)

    def save(at_step: int) -> None:
        noise_states = _gather_noise_states(noise_gen, dist_info)  # collective: every rank takes part
        if not dist_info.main:
            return
        saved = {"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(),
                 "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "noise": noise_states},
                 **state.to_checkpoint(), "config": config.to_dict()}
        if board is not None:
            board.flush()  # events up to the checkpoint are on disk before it exists (resume purges later ones)
        checkpoints.append(save_checkpoint(ckpt_dir, at_step, saved))
        logger.info("checkpoint %s", checkpoints[-1])

    wall_start = time.perf_counter()
    data_iter = iter(loader)
    out_of_time = _out_of_time(state.clock, tc, dist_info)
    try:
        while state.step < tc.steps and not out_of_time:
            x0 = next(data_iter).to(device, non_blocking=True)
            if tc.channels_last:
                x0 = x0.contiguous(memory_format=torch.channels_last)
            profile = tc.profile_every > 0 and dist_info.main and state.step % tc.profile_every == 0
            t0 = time.perf_counter()
            with _maybe_profile(profile, device) as prof:
                with autocast:
                    loss = diffusion_loss(net, x0, schedule, prediction=config.diffusion.prediction,
                                          weighting=config.loss.weighting, gamma=config.loss.gamma,
                                          noise_op=noise_op, generator=noise_gen,
                                          input_perturbation=config.loss.input_perturbation,
                                          **({"residual_loss": residual_loss} if residual_loss else {}))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = (nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
                             if config.optim.grad_clip else _grad_norm(model))
                optimizer.step()
                scheduler.step()
                ema.update(model)
                value = _mean_over_ranks(loss.detach(), dist_info)
            elapsed = time.perf_counter() - t0
            if not math.isfinite(value):
                raise TrainingDiverged(f"loss is {value} at step {state.step + 1}; stopped (the last good checkpoint "
                                       f"is kept: {checkpoints[-1] if checkpoints else 'none written yet'})")
            fraction = None
            if profile:
                spectral, total = spectral_op_seconds(prof)
                fraction = spectral / total if total > 0 else None
            state.record(value, elapsed, x0.shape[0] * dist_info.world, fraction, profiled=profile)
            step, loss_smooth = state.step, state.loss_smooth  # as logged
            bar.update(1)
            out_of_time = _out_of_time(state.clock, tc, dist_info)
            last = step == tc.steps or out_of_time
            if dist_info.main and (step % tc.log_every == 0 or last):
                record = {"step": step, "loss": value, "loss_smooth": loss_smooth, "lr": scheduler.get_last_lr()[0],
                          "grad_norm": float(grad_norm), "images_per_second": x0.shape[0] * dist_info.world / elapsed,
                          "elapsed_s": state.clock.compute_s}
                with open(jsonl_path, "a") as f:
                    f.write(json.dumps(record) + "\n")
                logger.info("step %d loss %.5f smooth %.5f lr %.3g grad %.3g %.1f img/s", step, value, loss_smooth,
                            record["lr"], record["grad_norm"], record["images_per_second"])
                bar.set_postfix(loss=f"{loss_smooth:.4f}", img_s=f"{record['images_per_second']:.0f}")
                if board is not None:
                    board.scalars(record)
            if board is not None and tc.tensorboard_samples_every and step % tc.tensorboard_samples_every == 0:
                board.samples(step)
            if step % tc.checkpoint_every == 0 or last:
                state.clock.wall_s += time.perf_counter() - wall_start
                wall_start = time.perf_counter()
                save(step)
                _barrier(dist_info)
    except TrainingDiverged as exc:
        status = "diverged"
        logger.error("%s", exc)
        state.clock.wall_s += time.perf_counter() - wall_start
        metrics = _metrics(config, run_id, state, model, status, device)
        if dist_info.main:
            _finish(output_dir, run_dir, run_id, config, metrics, started)
        raise
    finally:
        bar.close()
        if board is not None:
            board.close()

    metrics = _metrics(config, run_id, state, model, status, device)
    if dist_info.main:
        _finish(output_dir, run_dir, run_id, config, metrics, started)
        if metrics["stop_reason"] == "max_seconds":
            logger.info("stopped at step %d of %d: %.1f s of training compute reached max_seconds = %g", state.step,
                        tc.steps, state.clock.compute_s, tc.max_seconds)
        logger.info("finished: final loss %.5f, %.1f img/s, loss drop/s %s", metrics["final_loss"],
                    metrics["images_per_second"], metrics["loss_drop_per_second"])
    return TrainResult(run_id, run_dir, metrics, status, checkpoints)


class _maybe_profile:
    """torch.profiler around one step when ``enabled``. Kineto prints a line to stderr at every start and stop;
    it is silenced so logs stay readable."""

    def __init__(self, enabled: bool, device: torch.device):
        self.enabled, self.device, self.prof = enabled, device, None

    def __enter__(self):
        if not self.enabled:
            return None
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.device.type == "cuda" else [])
        self.prof = profile(activities=activities)
        with _quiet_stderr():
            return self.prof.__enter__()

    def __exit__(self, *exc):
        if self.prof is not None:
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            with _quiet_stderr():
                self.prof.__exit__(*exc)
        return False


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _out_of_time(clock: Clock, tc, dist_info: DistInfo) -> bool:
    """Whether the run has spent ``training.max_seconds`` of training compute. Rank 0 decides for everyone (the
    ranks' clocks differ slightly, and a rank that stopped alone would leave the others in a collective)."""
    if tc.max_seconds is None:
        return False
    return bool(_broadcast(clock.compute_s >= tc.max_seconds, dist_info))


def _grad_norm(model: nn.Module) -> float:
    norms = [p.grad.detach().norm() for p in model.parameters() if p.grad is not None]
    return float(torch.stack(norms).norm()) if norms else 0.0


def _mean_over_ranks(loss: torch.Tensor, dist_info: DistInfo) -> float:
    if dist_info.world > 1:
        import torch.distributed as dist

        loss = loss.clone()
        dist.all_reduce(loss)
        loss /= dist_info.world
    return float(loss)


def _gather_noise_states(gen: torch.Generator, dist_info: DistInfo) -> list[torch.Tensor]:
    state = gen.get_state()
    if dist_info.world == 1:
        return [state]
    import torch.distributed as dist

    states: list[Any] = [None] * dist_info.world
    dist.all_gather_object(states, state)
    return states


def _barrier(dist_info: DistInfo) -> None:
    if dist_info.world > 1:
        import torch.distributed as dist

        dist.barrier()


def _metrics(config: Config, run_id: str, state: TrainState, model: nn.Module, status: str,
             device: torch.device) -> dict[str, Any]:
    from specdiff import extension

    history, clock = state.history, state.clock
    losses = history.loss
    spectral = clock.spectral_s / clock.profiled_s * clock.compute_s if clock.profiled_s else None
    threshold_steps = threshold_seconds = None
    if config.training.loss_threshold is not None:
        threshold_steps, threshold_seconds = threshold_crossing(history.step, losses, history.compute_s,
                                                                config.training.loss_threshold, LOSS_SMOOTHING)
    fit = exponential_fit(history.step, losses) or {}
    tc = config.training
    budget_hit = tc.max_seconds is not None and clock.compute_s >= tc.max_seconds and len(losses) < tc.steps
    return {
        "run_id": run_id,
        "status": status,
        "model": config.model.name,
        "dataset": config.data.name,
        "steps": len(losses),
        "stop_reason": "max_seconds" if budget_hit else "steps",
        "max_seconds": tc.max_seconds,
        "images_seen": clock.images,
        "batch_size": config.training.batch_size,
        "seed": config.training.seed,
        "final_loss": float(np.median(losses[-max(1, len(losses) // 10):])) if losses else None,
        "loss_drop_per_second": loss_drop_per_second(losses, history.compute_s),
        "loss_threshold": config.training.loss_threshold,
        "loss_threshold_steps": threshold_steps,
        "loss_threshold_seconds": threshold_seconds,
        "fit_k": fit.get("k"),
        "fit_r2": fit.get("r2"),
        "images_per_second": (clock.timed_images / clock.timed_s if clock.timed_s
                              else clock.images / clock.compute_s if clock.compute_s else None),
        "images_per_second_wall": clock.images / clock.wall_s if clock.wall_s else None,
        "spectral_op_time_s": spectral,
        "spectral_op_fraction": spectral / clock.compute_s if spectral is not None and clock.compute_s else None,
        "compute_s": clock.compute_s,
        "runtime_s": clock.wall_s,
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "backend": extension.info()["backend"],
        "device": str(device),
        "loss_history": [[int(s), float(v)] for s, v in zip(history.step, losses, strict=True)],
    }


def _finish(output_dir: str, run_dir: str, run_id: str, config: Config, metrics: dict[str, Any],
            started: str) -> None:
    """Writes the metrics and appends the ledger row, unless the ledger already has this run's row for this end
    state (a resume with nothing left to train). The run's claim makes the check and the append race-free."""
    atomic_write_json(os.path.join(run_dir, "metrics", f"{run_id}.json"), metrics)
    row = {k: metrics.get(k) for k in ("run_id", "status", "model", "dataset", "steps", "batch_size", "seed",
                                       "final_loss", "loss_drop_per_second", "images_per_second",
                                       "images_per_second_wall", "spectral_op_time_s", "runtime_s", "backend",
                                       "device", "loss_threshold_steps", "loss_threshold_seconds", "fit_k",
                                       "fit_r2")}
    row["started"] = started
    row["run_dir"] = os.path.relpath(run_dir, output_dir)
    row["config_sha256"] = config.sha256()
    same = ("run_id", "status", "steps", "run_dir", "config_sha256")
    if any(all(r.get(k) == str(row[k]) for k in same) for r in read_rows(output_dir)):
        return
    append_row(output_dir, row)
