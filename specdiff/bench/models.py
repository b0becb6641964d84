"""``specdiff bench models``: training-step throughput of the models under both op backends, in one process.

One timed step is a full training step: ``diffusion_loss`` (forward + ε-MSE), backward and an AdamW step.
Each (model, backend) pair gets its own copy of the model (same initial state_dict) and optimizer; the
pairs take turns step by step, each following each equally often (:func:`specdiff.bench.ops.timed_calls`), so
that a load change on the machine, and what one step leaves to the next, hit every pair alike. The backend is
switched with :func:`use_backend`, which swaps the process backend as ``SPECDIFF_BACKEND`` would at import.
With ``compile=True`` every pair also runs as ``torch.compile(model)`` (the default inductor backend), compiled
during warm-up under its own backend and timed in the same order as the eager copies, with inductor's graph caches
off: they key a graph by the ops it calls, not by the C++ autograd behind a specdiff op, so a graph cached before
the extension was rebuilt would run the backward the op had then (pytorch/pytorch#144344).
"""

from __future__ import annotations

import contextlib
import copy
import statistics
from collections.abc import Callable, Iterable, Iterator, Mapping

import torch

from specdiff import extension
from specdiff.bench.ops import timed_calls, timer
from specdiff.errors import InvalidValue, Unavailable
from specdiff.extension import use_backend

BACKENDS = ("reference", "kernel")
DEFAULT_MODELS = ("tiny_unet", "spectral_unet", "baseline_conv")  # baseline_conv: the throughput floor
# The standard comparison: batch 64 of 3x32x32 images, base width 32 (each model's other defaults).
STANDARD = {"batch": 64, "channels": 3, "size": 32, "base_channels": 32}
TINY = {"batch": 2, "channels": 3, "size": 8, "base_channels": 8}


def kernels_missing(device: torch.device | str = "cpu") -> list[str]:
    """The registered public ops without a kernel on ``device`` (the models use all of them)."""
    import specdiff.nn  # noqa: F401  (imports every op the models use)

    return sorted(op for op in extension.OPS if not extension.has_kernel(op, device))


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def make_step(model: torch.nn.Module, x0: torch.Tensor, seed: int = 0) -> Callable[[], None]:
    """One training step of ``model`` on batch ``x0``: ε-prediction loss, backward, AdamW update."""
    from specdiff.diffusion import diffusion_loss, make_schedule

    schedule = make_schedule("linear", 1000)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    generator = torch.Generator(device=x0.device).manual_seed(seed)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        diffusion_loss(model, x0, schedule, generator=generator).backward()
        optimizer.step()

    return step


def bench_models(
    models: Iterable[str] = DEFAULT_MODELS,
    backends: Iterable[str] = BACKENDS,
    batch: int = STANDARD["batch"],
    channels: int = STANDARD["channels"],
    size: int = STANDARD["size"],
    base_channels: int = STANDARD["base_channels"],
    configs: Mapping[str, Mapping] | None = None,
    steps: int = 10,
    warmup: int = 2,
    device: str | torch.device = "cpu",
    compile: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Times a training step of each model under each backend, interleaved in
    :func:`specdiff.bench.ops.timed_calls` order; medians over at least ``steps`` steps of each (whole cycles of
    the order: ``len(pairs) * ceil(steps / len(pairs))``).

    Args:
        models: registry names (:data:`specdiff.nn.MODELS`).
        backends: op backends to compare (``reference``, ``kernel``; ``auto`` also works).
        batch, channels, size, base_channels: the batch ``[batch, channels, size, size]`` and the models'
            ``in_channels`` / ``base_channels``.
        configs: extra constructor arguments per model name (e.g. ``{"spectral_unet": {"mixer": "spatial"}}``).
        compile: also time each (model, backend) as ``torch.compile(model)``; the first warm-up step compiles.

    Returns records ``{model, backend, compiled, images_per_second, ms_per_step, params, batch, size, channels,
    base_channels, arguments (the model's entry of ``configs``), threads, device}``.
    """
    from specdiff.nn import MODELS, build_model

    device = torch.device(device)
    models, backends = list(models), list(backends)
    for name in models:
        if name not in MODELS:
            raise InvalidValue(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    for b in backends:
        if b not in extension.BACKENDS:
            raise InvalidValue(f"backend must be one of {', '.join(extension.BACKENDS)}, got {b!r}")
    if "kernel" in backends and (missing := kernels_missing(device)):
        raise Unavailable(f"no {device.type} kernel for {', '.join(missing)}; time the reference backend only")
    configs = dict(configs or {})
    for name, arguments in configs.items():
        if name not in models or not isinstance(arguments, Mapping):
            raise InvalidValue(f"constructor arguments must name a benchmarked model ({', '.join(models)}) as "
                               f"MODEL.ARG=VALUE, got {name!r}: {arguments!r}")
    x0 = torch.rand(batch, channels, size, size, generator=torch.Generator().manual_seed(0)).mul(2).sub(1).to(device)
    pairs = []
    for name in models:
        torch.manual_seed(0)
        try:
            model = build_model(name, in_channels=channels, base_channels=base_channels, **configs.get(name, {}))
        except (TypeError, ValueError) as exc:  # the constructor's own checks of these sizes
            raise InvalidValue(f"cannot build {name} for batch {batch}x{channels}x{size}x{size} with base_channels "
                               f"{base_channels}: {exc}") from None
        factor = getattr(model, "factor", 1)  # TinyUNet halves H and W at every level but the last
        if size % factor:
            raise InvalidValue(f"{name} needs a size divisible by {factor}, got {size}")
        model.to(device).train()
        for backend in backends:
            for compiled in (False, True) if compile else (False,):
                replica = copy.deepcopy(model)
                run_model = torch.compile(replica) if compiled else replica
                pairs.append((name, backend, compiled, replica, make_step(run_model, x0)))
    if compile:
        warmup = max(warmup, 2)  # the first call compiles, the second may recompile (dynamic shapes, grads)

    run = timer(device)

    def timed(backend: str, step: Callable[[], None]) -> float:
        with use_backend(backend):
            return run(step) * 1e-3

    times: dict[tuple[str, str, bool], list[float]] = {(n, b, c): [] for n, b, c, _, _ in pairs}
    with uncached_compile() if compile else contextlib.nullcontext():
        for _ in range(warmup):
            for _, backend, _, _, step in pairs:
                timed(backend, step)
        for i in timed_calls(len(pairs), steps):
            name, backend, compiled, _, step = pairs[i]
            times[(name, backend, compiled)].append(timed(backend, step))
    records = []
    for name, backend, compiled, model, _ in pairs:
        seconds = statistics.median(times[(name, backend, compiled)])
        record = {
            "model": name,
            "backend": backend,
            "compiled": compiled,
            "images_per_second": batch / seconds,
            "ms_per_step": seconds * 1e3,
            "params": count_parameters(model),
            "batch": batch,
            "size": size,
            "channels": channels,
            "base_channels": base_channels,
            "arguments": dict(configs.get(name, {})),
            "threads": torch.get_num_threads(),
            "device": device.type,
        }
        records.append(record)
        if log:
            log(format_row(record))
    return records


@contextlib.contextmanager
def uncached_compile() -> Iterator[None]:
    """A context in which torch.compile neither reads nor writes inductor's FX graph cache or AOTAutograd's cache,
    so that every graph it compiles, forward and backward, is traced from the ops as they are now."""
    import torch._functorch.config
    import torch._inductor.config

    with torch._inductor.config.patch(fx_graph_cache=False), torch._functorch.config.patch(enable_autograd_cache=False):
        yield


def format_row(r: dict) -> str:
    mode = "compiled" if r.get("compiled") else "eager"
    return (f"{r['model']:<20} {r['backend']:<10} {mode:<9} {r['params']:>10,} {r['ms_per_step']:>10.1f} "
            f"{r['images_per_second']:>9.1f}")


def format_table(records: list[dict]) -> str:
    """The records as a table, then the ratios the project targets (kernel speedup, cost relative to TinyUNet,
    compiled against eager), all from the eager records except the last."""
    header = f"{'model':<20} {'backend':<10} {'mode':<9} {'params':>10} {'ms/step':>10} {'images/s':>9}"
    lines = [header, "-" * len(header), *map(format_row, records)]
    ips = {(r["model"], r["backend"]): r["images_per_second"] for r in records if not r.get("compiled")}
    compiled = {(r["model"], r["backend"]): r["images_per_second"] for r in records if r.get("compiled")}
    for name in dict.fromkeys(r["model"] for r in records):
        if (name, "kernel") in ips and (name, "reference") in ips:
            speedup = ips[(name, "kernel")] / ips[(name, "reference")]
            lines.append(f"{name}: kernel / reference throughput = {speedup:.2f}x")
    for base, names in (("tiny_unet", ("spectral_unet", "spectral_unet_deep")),
                        ("baseline_conv", ("tiny_unet", "spectral_unet", "spectral_unet_deep"))):
        for name in names:
            for backend in ("kernel", "reference"):
                if (name, backend) in ips and (base, backend) in ips:
                    ratio = ips[(base, backend)] / ips[(name, backend)]
                    lines.append(f"{name} time per image / {base}'s ({backend}) = {ratio:.2f}x")
    for (name, backend), value in compiled.items():
        if (name, backend) in ips:
            lines.append(f"{name} ({backend}): compiled / eager throughput = {value / ips[(name, backend)]:.2f}x")
    return "\n".join(lines)
