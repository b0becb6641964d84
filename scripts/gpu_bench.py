"""Times every op on the GPU (``specdiff.bench.ops`` with CUDA-graph replay) and relates spectral_filter2d to
the device's measured copy bandwidth. ``python scripts/gpu_bench.py OUT_DIR``; run by scripts/gpu_check.sh."""

import json
import sys
from pathlib import Path

import torch

from specdiff.bench.cases import STANDARD_SHAPES
from specdiff.bench.ops import bench_ops, format_markdown, timer


def copy_bandwidth(nbytes: int = 1 << 30) -> float:
    """Bytes per second read plus written by a device-to-device copy of ``nbytes``."""
    src = torch.empty(nbytes // 4, device="cuda")
    dst = torch.empty_like(src)
    run = timer(torch.device("cuda"))
    for _ in range(3):
        dst.copy_(src)
    ms = sorted(run(lambda: dst.copy_(src)) for _ in range(10))[5]
    return 2 * nbytes / (ms * 1e-3)


def filter_bytes(shape, pass_: str, itemsize: int = 4) -> int:
    """Bytes spectral_filter2d must move at least: x, weight [C, H, W//2+1] and y; backward adds the upstream
    gradient, grad x and grad weight (x is read again for the weight gradient only if not kept in cache)."""
    b, c, h, w = shape
    image, weight = b * c * h * w, c * h * (w // 2 + 1)
    fwd = 2 * image + weight
    return itemsize * (fwd if pass_ == "fwd" else fwd + 2 * image + 2 * weight)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    bandwidth = copy_bandwidth()
    print(f"device copy bandwidth (read + write): {bandwidth / 1e9:.0f} GB/s", flush=True)
    records = bench_ops(shapes=STANDARD_SHAPES, device="cuda", repeats=21, warmup=5,
                        log=lambda line: print(line, flush=True))
    lines = [format_markdown(records), "",
             f"Device: {torch.cuda.get_device_name()}; copy bandwidth {bandwidth / 1e9:.0f} GB/s (read + write).",
             "", "| spectral_filter2d | pass | kernel ms | bytes moved once at copy bandwidth, ms | ratio |",
             "|---|---|---:|---:|---:|"]
    for r in records:
        if r["op"] == "spectral_filter2d":
            floor_ms = filter_bytes(r["shape"], r["pass"]) / bandwidth * 1e3
            r["bandwidth_floor_ms"] = floor_ms
            lines.append(f"| {'x'.join(map(str, r['shape']))} | {r['pass']} | {r['kernel_ms']:.4f} | "
                         f"{floor_ms:.4f} | {r['kernel_ms'] / floor_ms:.2f}x |")
    (out / "gpu_bench.json").write_text(json.dumps(
        {"device": torch.cuda.get_device_name(), "copy_bandwidth_bytes_per_s": bandwidth, "records": records},
        indent=2))
    (out / "gpu_bench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "results"))
