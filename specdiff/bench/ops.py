"""``specdiff bench ops``: reference vs kernel for every op, interleaved in one process, medians."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable

import torch

from specdiff.bench.cases import BOUND, CASES, PASSES, STANDARD_SHAPES, kernel_available
from specdiff.errors import InvalidValue


def timer(device: torch.device) -> Callable[[Callable[[], object]], float]:
    """``run(thunk)``: the milliseconds ``thunk()`` takes, the device synchronised before and after.

    On CUDA the thunk is timed with events over ``CUDA_INNER`` back-to-back calls (the mean is returned), so
    the figure is device time when the thunk is a replayed CUDA graph (see ``cuda_graphed``).
    """
    if device.type == "cuda":
        def run_cuda(thunk):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(device)
            start.record()
            for _ in range(CUDA_INNER):
                thunk()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / CUDA_INNER

        return run_cuda

    def run(thunk):
        start = time.perf_counter()
        thunk()
        return (time.perf_counter() - start) * 1e3

    return run


CUDA_INNER = 10


def minor_faults() -> Callable[[], int] | None:
    """A reader of this process's minor page faults so far (all its threads), or None where the platform has no
    ``getrusage``. A fault is the kernel mapping a page on its first touch: what a fresh output costs when the
    allocator has given its pages back to the system (glibc trims the heap and unmaps large blocks when they are
    freed), and what a kernel cannot avoid by being faster."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    return lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def cuda_graphed(thunk: Callable[[], object], warmup: int = 3) -> Callable[[], object] | None:
    """``thunk`` captured in a CUDA graph (returns its replay), or None when it cannot be captured.

    Replaying a graph removes the Python and launch overhead, which at these sizes is larger than the GPU
    work of either path; what remains is the time the kernels themselves take.
    """
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            thunk()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            thunk()
    except RuntimeError:
        torch.cuda.synchronize()
        return None
    return graph.replay


def call_order(n: int) -> list[int]:
    """One cycle of the timed calls of ``n`` paths (indices), in which every path runs right after every path, itself
    included, exactly once (counting the last call before the cycle's first): n calls of each, n² in all.

    A call inherits what the call before it left behind: the caches its temporaries filled, the memory its
    frees returned to the system. Which path ran just before a call therefore changes its time; each path's calls
    must follow each path equally often, or the order favours some paths. (A left rotation each round puts every
    path in every position equally often but keeps the cyclic order: of three paths, the second ran after the
    first in two thirds of its calls.) The cycle is a de Bruijn sequence of order 2, the Lyndon words of length 1
    and 2 in lexicographic order: 0, 0 1, 0 2, ..., 0 n-1, 1, 1 2, ..., n-1. For two paths it is 0 0 1 1.
    """
    if n < 1:
        raise ValueError(f"call_order needs at least one path, got {n}")
    order: list[int] = []
    for i in range(n):
        order.append(i)
        for j in range(i + 1, n):
            order += [i, j]
    return order


def timed_calls(n: int, repeats: int) -> list[int]:
    """The timed calls of ``n`` paths, at least ``repeats`` of each: whole cycles of :func:`call_order`
    (n·⌈repeats / n⌉ calls of each)."""
    return call_order(n) * -(-repeats // n)


def interleaved_medians(thunks: list[Callable[[], object]], repeats: int, warmup: int = 5) -> list[float]:
    """Median milliseconds of each CPU thunk over at least ``repeats`` calls, after ``warmup`` calls of each, in
    :func:`timed_calls` order, for in-process A/B comparisons."""
    run = timer(torch.device("cpu"))
    for _ in range(warmup):
        for thunk in thunks:
            thunk()
    times: list[list[float]] = [[] for _ in thunks]
    for i in timed_calls(len(thunks), repeats):
        times[i].append(run(thunks[i]))
    return [statistics.median(t) for t in times]


def bench_ops(
    ops: Iterable[str] | None = None,
    shapes: Iterable[tuple[int, int, int, int]] = STANDARD_SHAPES,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    repeats: int = 15,
    warmup: int = 3,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Times each (op, shape, pass) on both paths; they alternate call by call in :func:`timed_calls` order (at
    least ``repeats`` calls of each, every path following every path equally often), so that drift and what one
    call leaves to the next hit both alike.

    Returns records ``{op, shape, dtype, device, pass, reference_ms, kernel_ms, speedup, timing}`` (medians);
    ``timing`` is ``wall`` on the CPU, ``cuda_graph`` (device time of replayed graphs) or ``eager`` on CUDA. A case
    with a memory bound (a ``bound`` thunk, CPU) times it interleaved too and adds ``bound_ms`` and
    ``kernel_over_bound``. CPU records add ``faults_per_call``: each path's mean minor page faults per timed call
    (``minor_faults``), where the platform counts them.
    """
    device = torch.device(device)
    names = list(ops) if ops is not None else list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise InvalidValue(f"unknown op(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    timed = timer(device)
    faults = minor_faults() if device.type == "cpu" else None
    count = faults or (lambda: 0)
    records = []
    for name in names:
        case = CASES[name]
        if not kernel_available(case, device):
            if log:
                log(f"skipping {name}: no {device.type} kernel")
            continue
        for shape in shapes:
            thunks = case.build(tuple(shape), dtype, device)
            for pass_ in PASSES:
                paths = {"reference": thunks[("reference", pass_)], "kernel": thunks[("kernel", pass_)]}
                if (BOUND, pass_) in thunks and device.type == "cpu":
                    paths[BOUND] = thunks[(BOUND, pass_)]
                timing = "wall"
                if device.type == "cuda":
                    graphed = {k: cuda_graphed(t) for k, t in paths.items()}
                    timing = "eager" if None in graphed.values() else "cuda_graph"
                    if timing == "cuda_graph":
                        paths = graphed
                for _ in range(warmup):
                    for thunk in paths.values():
                        thunk()
                names = list(paths)
                times = {k: [] for k in paths}
                faulted = dict.fromkeys(paths, 0)
                for i in timed_calls(len(names), repeats):
                    k = names[i]
                    before = count()
                    times[k].append(timed(paths[k]))
                    faulted[k] += count() - before
                ref_ms, ker_ms = statistics.median(times["reference"]), statistics.median(times["kernel"])
                record = {
                    "op": name,
                    "shape": list(shape),
                    "dtype": str(dtype).removeprefix("torch."),
                    "device": device.type,
                    "pass": pass_,
                    "reference_ms": ref_ms,
                    "kernel_ms": ker_ms,
                    "speedup": ref_ms / ker_ms,
                    "timing": timing,
                }
                if BOUND in times:
                    record["bound_ms"] = statistics.median(times[BOUND])
                    record["kernel_over_bound"] = ker_ms / record["bound_ms"]
                if faults:
                    record["faults_per_call"] = {k: n / len(times[k]) for k, n in faulted.items()}
                records.append(record)
                if log:
                    log(format_row(record))
    return records


def format_row(r: dict) -> str:
    shape = "x".join(map(str, r["shape"]))
    bound = ""
    if "bound_ms" in r:
        bound = f"   (bound {r['bound_ms']:.3f} ms, kernel {r['kernel_over_bound']:.2f}x it{_faults(r)})"
    return (f"{r['op']:<24} {shape:<16} {r['pass']:<7} {r['reference_ms']:>10.3f} {r['kernel_ms']:>10.3f} "
            f"{r['speedup']:>7.2f}x{bound}")


def format_table(records: list[dict]) -> str:
    header = f"{'op':<24} {'shape (BxCxHxW)':<16} {'pass':<7} {'ref ms':>10} {'kernel ms':>10} {'speedup':>8}"
    return "\n".join([header, "-" * len(header), *map(format_row, records)])


def format_markdown(records: list[dict]) -> str:
    """One row per (op, shape): fwd and fwd+bwd times and speedups, as a Markdown table."""
    rows = {}
    for r in records:
        rows.setdefault((r["op"], "x".join(map(str, r["shape"]))), {})[r["pass"]] = r
    lines = [
        "| op | B×C×H×W | fwd ref ms | fwd kernel ms | fwd speedup "
        "| fwd+bwd ref ms | fwd+bwd kernel ms | fwd+bwd speedup |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (op, shape), passes in rows.items():
        cells = []
        for p in ("fwd", "fwdbwd"):
            r = passes.get(p)
            if r is None:
                cells += ["", "", ""]
                continue
            cells += [_ms(r["reference_ms"]), _ms(r["kernel_ms"]), f"**{r['speedup']:.2f}x**"]
        lines.append(f"| {op} | {shape} | " + " | ".join(cells) + " |")
    bounded = [r for r in records if "bound_ms" in r]
    if bounded:
        lines += ["", "| op | B×C×H×W | pass | memory bound ms | kernel ms | kernel / bound "
                      "| page faults per call, bound / kernel |",
                  "|---|---|---|---:|---:|---:|---:|"]
        for r in bounded:
            f = r.get("faults_per_call")
            faults = f"{f[BOUND]:.0f} / {f['kernel']:.0f}" if f else ""
            lines.append(f"| {r['op']} | {'x'.join(map(str, r['shape']))} | {r['pass']} | {_ms(r['bound_ms'])} "
                         f"| {_ms(r['kernel_ms'])} | **{r['kernel_over_bound']:.2f}x** | {faults} |")
    return "\n".join(lines)


def _faults(r: dict) -> str:
    """The bound's and the kernel's page faults per call, when counted (for a console row)."""
    f = r.get("faults_per_call")
    return f"; page faults per call: bound {f[BOUND]:.0f}, kernel {f['kernel']:.0f}" if f else ""


def _ms(ms: float) -> str:
    """Milliseconds with two decimals, or four below 1 ms (GPU timings)."""
    return f"{ms:.2f}" if ms >= 1 else f"{ms:.4f}"


def plot_speedups(records: list[dict], path: str) -> None:
    """The kernels' speedups as the report draws them (:func:`specdiff.report.figures.kernel_speedups`: fwd and
    fwd+bwd bars per op and shape, parity marked), written as ``path`` (.png) and beside it as .pdf."""
    from specdiff.report.figures import kernel_speedups

    kernel_speedups(records, path)
