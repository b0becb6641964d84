"""The ``specdiff`` command. Each subcommand parses its arguments and calls a library function."""

from __future__ import annotations

import argparse
import json
import sys


def _info(args: argparse.Namespace) -> int:
    from specdiff.extension import info

    facts = info()
    if args.json:
        print(json.dumps(facts, indent=2))
        return 0
    for key in ("specdiff", "torch", "python", "numpy", "platform", "threads", "cuda_available",
                "extension_loaded", "built_with_cuda", "cpu_isa", "cpu_isa_detected"):
        print(f"{key:<18} {facts[key]}")
    print(f"{'backend':<18} {facts['backend']} ({facts['backend_reason']})")
    print(f"\n{'op':<26} {'cpu kernel':<11} cuda kernel")
    for op, where in facts["ops"].items():
        print(f"{op:<26} {'yes' if where['cpu'] else 'no':<11} {'yes' if where['cuda'] else 'no'}")
    return 0


def _parse_shape(text: str) -> tuple[int, int, int, int]:
    try:
        shape = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 4 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"shape must look like BxCxHxW with positive sizes, got {text!r}")
    return shape


def _bench_ops(args: argparse.Namespace) -> int:
    import os

    import torch

    from specdiff.bench.cases import STANDARD_SHAPES
    from specdiff.bench.ops import bench_ops, format_markdown, format_table, plot_speedups

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]
    records = bench_ops(args.op, args.shape or STANDARD_SHAPES, dtype, args.device, args.repeats, args.warmup,
                        log=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_markdown(records) if args.markdown else format_table(records))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"threads": torch.get_num_threads(), "records": records}, f, indent=2)
        plot = args.plot or os.path.splitext(args.json)[0] + ".png"
        if records:
            plot_speedups(records, plot)
        print(f"wrote {args.json} and {plot}")
    return 0


def _bench_models(args: argparse.Namespace) -> int:
    import os

    import torch

    from specdiff.bench.models import BACKENDS, DEFAULT_MODELS, bench_models, format_table

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    records = bench_models(args.model or DEFAULT_MODELS, args.backend or BACKENDS, batch=args.batch, size=args.size,
                           base_channels=args.base_channels, steps=args.steps, warmup=args.warmup, device=args.device,
                           log=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_table(records))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"threads": torch.get_num_threads(), "records": records}, f, indent=2)
        print(f"wrote {args.json}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="specdiff", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="versions, CPU ISA, kernels per op, active backend")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_info)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="target", required=True)
    p = bench.add_parser("ops", help="reference vs kernel for every op (interleaved, medians)")
    p.add_argument("--op", action="append", help="op to time (repeatable; default: all)")
    p.add_argument("--shape", action="append", type=_parse_shape, help="BxCxHxW (repeatable; default: standard)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--json", help="write the records here (and a plot next to it)")
    p.add_argument("--plot", help="plot path (default: the JSON path with .png)")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.set_defaults(func=_bench_ops)

    p = bench.add_parser("models", help="training-step throughput of the models on both op backends (interleaved)")
    p.add_argument("--model", action="append", help="tiny_unet | spectral_unet | spectral_unet_deep (repeatable)")
    p.add_argument("--backend", action="append", choices=["reference", "kernel"])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--base-channels", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", help="write {threads, records: [{model, backend, images_per_second, ...}]} here")
    p.set_defaults(func=_bench_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
