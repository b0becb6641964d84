"""The ``specdiff`` command. Each subcommand parses its arguments and calls a library function."""

from __future__ import annotations

import argparse
import json
import math
import sys

from specdiff.errors import InvalidValue


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


def _at_least(minimum: int):
    """argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _positive(what: str = "a number"):
    """argparse type: a finite number > 0 (``what`` names it in the error)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"expected {what} > 0, got {text!r}")
        return value

    return parse


_seconds = _positive("a number of seconds")


def _sigma_max(text: str) -> float | None:
    """argparse type: a finite number > 0, or "none"."""
    return None if text.strip().lower() == "none" else _positive()(text)


def _numbers(text: str) -> float | tuple[float, ...]:
    """``0.5`` -> 0.5, ``0.2,0.5`` -> (0.2, 0.5) (argparse type)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or comma-separated numbers, got {text!r}") from None
    return values[0] if len(values) == 1 and "," not in text else values


def _device(name: str) -> str:
    """``name`` resolved (auto, cpu, cuda or cuda:<index>); ConfigError (one line, exit 2) for anything else."""
    from specdiff.train.trainer import resolve_device

    return str(resolve_device(name))


def _bench_ops(args: argparse.Namespace) -> int:
    import os

    import torch

    from specdiff.bench.cases import STANDARD_SHAPES
    from specdiff.bench.ops import bench_ops, format_markdown, format_table, plot_speedups

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]
    records = bench_ops(args.op, args.shape or STANDARD_SHAPES, dtype, _device(args.device), args.repeats, args.warmup,
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
    from specdiff.config import apply_overrides

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    records = bench_models(args.model or DEFAULT_MODELS, args.backend or BACKENDS, batch=args.batch,
                           channels=args.channels, size=args.size, base_channels=args.base_channels,
                           configs=apply_overrides({}, args.set or ()), steps=args.steps, warmup=args.warmup,
                           device=_device(args.device), compile=args.compile,
                           log=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_table(records))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"threads": torch.get_num_threads(), "records": records}, f, indent=2)
        print(f"wrote {args.json}")
    return 0


def _fractions(text: str) -> tuple[float, ...]:
    """``0.25,0.5,1`` -> (0.25, 0.5, 1.0), each in (0, 1] (argparse type)."""
    values = _numbers(text)
    values = values if isinstance(values, tuple) else (values,)
    if not all(0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"fractions must lie in (0, 1], got {text!r}")
    return values


def _bench_quality(args: argparse.Namespace) -> int:
    from specdiff.bench.quality import DATASETS, MODELS, run_quality

    order = args.order if args.order is not None else (2 if args.sampler == "dpm_solver++" else None)
    result = run_quality(args.model or MODELS, args.dataset or DATASETS, seconds=args.seconds, seeds=args.seeds,
                         fractions=args.fractions, sampler=args.sampler, order=order,
                         sampler_steps=args.sampler_steps, sigma_max=args.sigma_max, num_samples=args.num_samples,
                         num_reference=args.num_reference, sample_draws=args.sample_draws,
                         output_dir=args.output_dir, config_dir=args.config_dir,
                         device=_device(args.device), log=lambda line: print(line, file=sys.stderr, flush=True))
    with open(result["table"]) as f:
        print(f.read(), end="")
    print(f"wrote {result['table']} and {', '.join(result['figures'])}")
    return 0


def _timesteps(text: str) -> tuple[int, ...]:
    """``10,100,500`` -> (10, 100, 500), each a non-negative integer (argparse type)."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"timesteps must be integers >= 0, got {text!r}")
    return values


def _diagnose(args: argparse.Namespace) -> int:
    from specdiff.eval.diagnose import diagnose_run, write_diagnosis

    device = _device(args.device)
    if args.name and len(args.name) != len(args.run_dir):
        raise InvalidValue(f"give one --name per --run-dir: {len(args.name)} names for {len(args.run_dir)} runs")
    results = [diagnose_run(run, checkpoint=args.checkpoint, timesteps=args.timesteps, num_images=args.num_images,
                            num_samples=args.num_samples, sampler=args.sampler, steps=args.steps, seed=args.seed,
                            device=device) for run in args.run_dir]
    paths = write_diagnosis(results, args.output_dir, args.name)
    with open(paths["markdown"]) as f:
        print(f.read(), end="")
    print(f"wrote {', '.join(paths.values())}")
    return 0


def _load_config(args: argparse.Namespace):
    from specdiff.config import load_config

    return load_config(args.config, args.set or [])


def _config_show(args: argparse.Namespace) -> int:
    config = _load_config(args)
    print(json.dumps(config.to_dict(), indent=2) if args.json else config.to_yaml(), end="" if not args.json else "\n")
    return 0


def _train(args: argparse.Namespace) -> int:
    from specdiff.train import train

    config = _load_config(args)
    result = train(config, output_dir=args.output_dir, run_id=args.run_id, resume=args.resume,
                   progress=False if args.quiet else None)
    m = result.metrics
    print(f"run {result.run_id}: {m['steps']} steps, final loss {m['final_loss']:.5f}, "
          f"{m['images_per_second']:.1f} images/s -> {result.run_dir}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from specdiff.train import sample_run

    out = sample_run(args.run_dir, checkpoint=args.checkpoint, sampler=args.sampler, steps=args.steps,
                     num_samples=args.num_samples, seed=args.seed, ema=args.ema, eta=args.eta, order=args.order,
                     spacing=args.spacing, batch_size=args.batch_size, tag=args.tag, device=_device(args.device),
                     clip_x0=args.clip_x0, sigma_max=args.sigma_max, alpha=args.alpha, edges=args.edges)
    print(f"wrote {out}")
    return 0


def _checkpoint_convert(args: argparse.Namespace) -> int:
    from specdiff.train.checkpoint import FORMAT_VERSION, convert_checkpoint

    for path in args.path:
        kept = convert_checkpoint(path)
        print(f"{path}: already format {FORMAT_VERSION}" if kept == path else
              f"{path}: converted to format {FORMAT_VERSION}; the original is kept as {kept}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import os

    from specdiff.eval import evaluate, update_metadata, write_metrics

    if (args.reference is None) == (args.reference_dataset is None):
        raise InvalidValue("give exactly one of --reference DIR and --reference-dataset NAME")
    metrics = None
    if args.metrics:
        metrics = [m.strip() for text in args.metrics for m in text.split(",") if m.strip()]
    result = evaluate(args.generated, reference=args.reference, reference_dataset=args.reference_dataset,
                      metrics=metrics, num_reference=args.num_reference, device=_device(args.device),
                      inception_weights=args.inception_weights, seed=args.seed, reference_root=args.reference_root,
                      image_size=args.image_size, channels=args.channels,
                      reference_options=_key_values(args.reference_option or [], "--reference-option"))
    out = args.output or os.path.join(args.generated, "metrics.json")
    write_metrics(result, out)
    if args.update_metadata:
        update_metadata(args.generated, result)
    for name, value in result["metrics"].items():
        print(f"{name:<24} {value if value is None or isinstance(value, str) else f'{value:.6g}'}")
    for note in result.get("notes", []):
        print(f"note: {note}")
    print(f"wrote {out}")
    return 0


def _key_values(items: list[str], flag: str) -> dict:
    """``["a=1", "b=[1, 2]"]`` -> ``{"a": 1, "b": [1, 2]}`` (values read as YAML)."""
    import yaml

    from specdiff.fileio import safe_yaml_load, yaml_problem

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidValue(f"{flag} must look like KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = safe_yaml_load(value) if value.strip() else ""
        except yaml.YAMLError as exc:
            raise InvalidValue(f"{flag} {item!r}: the value is not valid YAML ({yaml_problem(exc)})") from None
        except ValueError as exc:  # nested too deeply
            raise InvalidValue(f"{flag} {item!r}: the value cannot be read ({exc})") from None
    return out


def _demo(args: argparse.Namespace) -> int:
    from specdiff.demo import run_demo

    summary = run_demo(args.output_dir, steps=args.steps, quick=args.quick)
    print(f"wrote {summary}")
    return 0


def _taguchi(args: argparse.Namespace) -> int:
    from specdiff.experiments.runner import StudyIncomplete, run_study

    try:
        report = run_study(args.study, output_dir=args.output_dir, workers=args.workers, resume=args.resume,
                           confirm=args.confirm, max_retries=args.max_retries, strict=True)
    except StudyIncomplete as exc:  # the report covers the finished runs; the exit status says some failed
        print(f"wrote {exc.summary}")
        raise
    print(f"wrote {report}")
    return 0


def _taguchi_analyze(args: argparse.Namespace) -> int:
    from specdiff.experiments.runner import analyze_study

    print(f"wrote {analyze_study(args.dir)}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from specdiff.report import build_report

    print(f"wrote {build_report(args.results_dir, args.output)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from specdiff.bench.quality import SIGMA_MAX
    from specdiff.diffusion import available_samplers  # the help texts list what the registries hold
    from specdiff.eval.diagnose import DEFAULT_TIMESTEPS
    from specdiff.nn import MODELS

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
    p.add_argument("--device", default="cpu", help="auto | cpu | cuda | cuda:<index>")
    p.add_argument("--threads", type=_at_least(0), default=0, help="torch threads (default: all cores)")
    p.add_argument("--repeats", type=_at_least(1), default=15,
                   help="timed calls of each path, at least (whole cycles of the call order)")
    p.add_argument("--warmup", type=_at_least(0), default=3)
    p.add_argument("--json", help="write the records here (and a plot next to it)")
    p.add_argument("--plot", help="plot path (default: the JSON path with .png)")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.set_defaults(func=_bench_ops)

    p = bench.add_parser("models", help="training-step throughput of the models on both op backends (interleaved)")
    p.add_argument("--model", action="append", help=f"{' | '.join(MODELS)} (repeatable)")
    p.add_argument("--backend", action="append", choices=["reference", "kernel"])
    p.add_argument("--batch", type=_at_least(1), default=64)
    p.add_argument("--channels", type=_at_least(1), default=3, help="image channels (the models' in_channels)")
    p.add_argument("--size", type=_at_least(2), default=32)
    p.add_argument("--base-channels", type=_at_least(1), default=32)
    p.add_argument("--set", action="append", metavar="MODEL.ARG=VALUE",
                   help="a constructor argument of one model, read as YAML, e.g. spectral_unet.filters_per_channel=3 "
                   "or spectral_unet.channel_mults=[1,2] (repeatable)")
    p.add_argument("--steps", type=_at_least(1), default=10,
                   help="timed steps of each model and backend, at least (whole cycles of the call order)")
    p.add_argument("--warmup", type=_at_least(0), default=2)
    p.add_argument("--threads", type=_at_least(0), default=0, help="torch threads (default: all cores)")
    p.add_argument("--device", default="cpu", help="auto | cpu | cuda | cuda:<index>")
    p.add_argument("--compile", action="store_true",
                   help="also time torch.compile(model) for each model and backend (compiled during warm-up)")
    p.add_argument("--json", help="write {threads, records: [{model, backend, compiled, images_per_second, ...}]} "
                   "here")
    p.set_defaults(func=_bench_models)

    p = bench.add_parser("quality", help="sample quality (FID/KID, spectral metrics) against training seconds",
                         description="Trains configs/quality/<model>_<dataset>.yaml for --seconds of training "
                                     "compute per run, in stages at --fractions of it, and evaluates samples of "
                                     "each stage against the test split. Rerunning skips recorded stages.")
    p.add_argument("--model", action="append", help="label of <config-dir>/<label>_<dataset>.yaml, e.g. "
                   f"{' | '.join(MODELS)} or an ablation (repeatable; default: tiny_unet, spectral_unet, "
                   "spectral_unet_deep)")
    p.add_argument("--dataset", action="append", help="piecewise | photos (repeatable; default: both)")
    p.add_argument("--seconds", type=_seconds, default=300.0, help="training-compute budget per run (default 300)")
    p.add_argument("--seeds", type=_at_least(1), default=2, help="training seeds 0..N-1, figures are means (default 2)")
    p.add_argument("--fractions", type=_fractions, default=(0.25, 0.5, 0.75, 1.0),
                   help="stages as fractions of --seconds (default 0.25,0.5,0.75,1)")
    p.add_argument("--sampler", default="dpm_solver++", help=f"{' | '.join(available_samplers())}")
    p.add_argument("--order", type=int, help="sampler order (default: 2 for dpm_solver++)")
    p.add_argument("--sampler-steps", type=_at_least(1), default=25)
    p.add_argument("--sigma-max", type=_sigma_max, default=SIGMA_MAX, help="start sampling at the last timestep "
                   f"with σ/α <= this (default {SIGMA_MAX:g}; none: at T - 1)")
    p.add_argument("--num-samples", type=_at_least(1), default=256)
    p.add_argument("--num-reference", type=_at_least(1), default=512, help="test-split images to compare with")
    p.add_argument("--sample-draws", type=_at_least(1), default=1, help="draws of --num-samples per stage (sampling "
                   "seeds 0..N-1); its metrics are their mean (default 1)")
    p.add_argument("--output-dir", default="results/quality")
    p.add_argument("--config-dir", default="configs/quality", help="folder of <model>_<dataset>.yaml")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:<index>")
    p.set_defaults(func=_bench_quality)

    p = sub.add_parser("diagnose", help="denoising error per frequency band against t, and what a sampler sees",
                       description="For each run (EMA weights): the x0 error and gain per frequency band at fixed "
                                   "timesteps on test images, and the band power of x0 predictions and x_t along a "
                                   "sampler run, and the share of the global filters' kernel energy within 3x3. Writes "
                                   "diagnose.json, diagnose.md and two figures.")
    p.add_argument("--run-dir", action="append", required=True, help="results/runs/<run_id> (repeatable)")
    p.add_argument("--name", action="append", help="label per --run-dir, in order (default: the folder names)")
    p.add_argument("--checkpoint", help="latest (default), a step number, or a path")
    p.add_argument("--timesteps", type=_timesteps, default=DEFAULT_TIMESTEPS,
                   help=f"comma-separated (default {','.join(map(str, DEFAULT_TIMESTEPS))})")
    p.add_argument("--num-images", type=_at_least(1), default=256, help="test images for the denoising error")
    p.add_argument("--num-samples", type=_at_least(1), default=64, help="samples on the recorded trajectory")
    p.add_argument("--sampler", default="dpm_solver++", help=f"{' | '.join(available_samplers())}")
    p.add_argument("--steps", type=_at_least(1), default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output-dir", default="results/diagnose")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:<index>")
    p.set_defaults(func=_diagnose)

    p = sub.add_parser("config", help="configs").add_subparsers(dest="action", required=True).add_parser(
        "show", help="print the resolved config (defaults, file, --set overrides)")
    p.add_argument("config", nargs="?", help="YAML config (default: all defaults)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. optim.lr=3e-4 (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    p.set_defaults(func=_config_show)

    p = sub.add_parser("train", help="train a model from a config; writes results/runs/<run_id>/")
    p.add_argument("--config", required=True, help="YAML config, e.g. configs/tiny_unet_synthetic.yaml")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. training.steps=200")
    p.add_argument("--run-id", help="run folder name (default: <model>-<config hash>-<time>)")
    p.add_argument("--output-dir", default="results", help="results folder (default: results)")
    p.add_argument("--resume", action="store_true", help="continue the newest checkpoint of --run-id (or of the "
                   "newest run with this config)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    p = sub.add_parser("sample", help="sample from a trained run: PNGs, grid.png, metadata.json")
    p.add_argument("--run-dir", required=True, help="results/runs/<run_id>")
    p.add_argument("--checkpoint", help="latest (default), a step number, or a path")
    p.add_argument("--sampler", help=f"{' | '.join(available_samplers())} (default: the config's)")
    p.add_argument("--steps", type=int, help="number of model evaluations' steps (default: the config's)")
    p.add_argument("--num-samples", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--ema", action=argparse.BooleanOptionalAction, default=None, help="EMA weights (default: the "
                   "config's sampling.use_ema)")
    p.add_argument("--eta", type=float, help="DDIM stochasticity in [0, 1] (ddim only)")
    p.add_argument("--order", type=int, help="dpm_solver++ order 1-3")
    p.add_argument("--spacing", choices=["linspace", "leading", "trailing"])
    p.add_argument("--clip-x0", type=float, help="clamp x0 predictions to [-c, c] (default: the config's, 1.0)")
    p.add_argument("--sigma-max", type=_positive(), help="start at the last timestep with σ/α <= this "
                   "(default: the config's sampling.sigma_max, whose null starts at T - 1)")
    p.add_argument("--alpha", type=_numbers, help="masf: moving-average weight in [0, 1), one or one per band "
                   "(e.g. 0.5 or 0.2,0.5,0.9)")
    p.add_argument("--edges", type=_numbers, help="masf: band edges in rho, increasing in (0, 1) (default 1/3,2/3)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--tag", help="output folder name under <run>/samples/ (a plain name: letters, digits, . _ + -)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:<index>")
    p.set_defaults(func=_sample)

    p = sub.add_parser("checkpoint", help="checkpoints").add_subparsers(dest="action", required=True).add_parser(
        "convert", help="rewrite format-1 checkpoints (numpy RNG state) as format 2 (tensors and plain data only)",
        description="Rewrites each format-1 checkpoint as format 2 and keeps the original as PATH.format1. The file "
                    "is read with torch.load(weights_only=True) plus numpy's array rebuilders, never with full "
                    "pickle, so a file holding anything else is refused.")
    p.add_argument("path", nargs="+", help="checkpoints/step_<N>.pt")
    p.set_defaults(func=_checkpoint_convert)

    p = sub.add_parser("evaluate", help="metrics of generated images against a folder or a dataset")
    p.add_argument("--generated", required=True, help="folder of generated PNG/JPEG images")
    p.add_argument("--reference", help="folder of reference images")
    p.add_argument("--reference-dataset", help="dataset name (its test split), e.g. piecewise or cifar10")
    p.add_argument("--reference-root", help="data folder of --reference-dataset cifar10 / folder (default: ./data)")
    p.add_argument("--reference-option", action="append", metavar="KEY=VALUE",
                   help="an option of --reference-dataset, e.g. alpha=1.5 for random_field (repeatable)")
    p.add_argument("--num-reference", type=int, help="reference images to draw from --reference-dataset")
    p.add_argument("--image-size", type=int, help="resize every image to this size first")
    p.add_argument("--channels", type=int, choices=[1, 3], help="convert every image to 1 or 3 channels")
    p.add_argument("--metrics", action="append", help="comma-separated metric names (default: all that apply)")
    p.add_argument("--inception-weights", help="path of local Inception weights for fid_inception/kid_inception")
    p.add_argument("--output", help="metrics.json path (default: GENERATED/metrics.json)")
    p.add_argument("--update-metadata", action="store_true", help="add the metrics to GENERATED/metadata.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="auto | cpu | cuda | cuda:<index>")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("demo", help="train TinyUNet and SpectralUNet briefly, sample, evaluate, write summary.md")
    p.add_argument("--output-dir", default="results/demo")
    p.add_argument("--steps", type=int, help="training steps per model (default: the demo's budget)")
    p.add_argument("--quick", action="store_true", help="a seconds-long smoke version (used by the tests)")
    p.set_defaults(func=_demo)

    tag = sub.add_parser("taguchi", help="Taguchi robust-design study: run a sweep, or analyze one").add_subparsers(
        dest="action", required=True)
    p = tag.add_parser("run", help="run the missing runs of a study, then analyze it")
    p.add_argument("study", help="study YAML (e.g. configs/taguchi/spectral_l8.yaml)")
    p.add_argument("--workers", type=_at_least(1), default=1)
    p.add_argument("--resume", action="store_true", help="run only the runs missing from the study ledger")
    p.add_argument("--output-dir", help="study folder (default: results/taguchi/<study name>)")
    p.add_argument("--confirm", action="store_true", help="then run the predicted-best configuration")
    p.add_argument("--max-retries", type=_at_least(0), default=1,
                   help="re-runs of a failed run before it is reported")
    p.set_defaults(func=_taguchi)
    p = tag.add_parser("analyze", help="re-run the analysis of a (partial) sweep")
    p.add_argument("dir", help="the study's output folder")
    p.set_defaults(func=_taguchi_analyze)

    p = sub.add_parser("report", help="figures and summary.md from a results folder")
    p.add_argument("results_dir")
    p.add_argument("--output", help="report folder (default: RESULTS_DIR/report)")
    p.set_defaults(func=_report)
    return parser


def _with_taguchi_run(argv: list[str]) -> list[str]:
    """The older form ``specdiff taguchi STUDY.yaml ...`` as ``specdiff taguchi run STUDY.yaml ...``, with a note."""
    if len(argv) >= 2 and argv[0] == "taguchi" and argv[1] not in ("run", "analyze", "-h", "--help"):
        print("specdiff taguchi: note: `specdiff taguchi STUDY.yaml` is deprecated and will be removed in the next "
              "release; use `specdiff taguchi run STUDY.yaml`", file=sys.stderr)
        return ["taguchi", "run", *argv[1:]]
    return argv


def main(argv: list[str] | None = None) -> int:
    """Runs one subcommand. A user error (:class:`specdiff.errors.UserError`: a bad config, file, flag or name, a
    diverged run, a run in use, a study with failed runs) is one line on stderr and exits with its status: 2 for
    config errors, 1 for the others. Any other exception is a bug and keeps its traceback."""
    from specdiff.config import ConfigError
    from specdiff.errors import UserError

    args = build_parser().parse_args(_with_taguchi_run(sys.argv[1:] if argv is None else list(argv)))
    try:
        return args.func(args)
    except UserError as exc:
        where = "specdiff: config error" if isinstance(exc, ConfigError) else f"specdiff {args.command}: error"
        print(f"{where}: {exc}", file=sys.stderr)
        return exc.exit_status


if __name__ == "__main__":
    sys.exit(main())
