"""``specdiff evaluate``: compare a folder of generated images with a reference folder or dataset.

Metric names (``metrics=``) and the keys they write into ``result["metrics"]``:

==================  =====================================================  =======
name                keys                                                   needs
==================  =====================================================  =======
mse, mae            mse, mae (mean over images)                            pairing
psnr                psnr (dB, data range 2, per image then mean)           pairing
ssim                ssim (Gaussian 11×11, σ=1.5, per image then mean)      pairing
lpips               lpips (null + a note when not runnable offline)        pairing
band_error          band_error_low / _mid / _high (sum to mse)             pairing
fid                 fid_offline or fid_inception                           >= 2 each
kid                 kid_<kind>, kid_<kind>_std                             >= 2 each
spectral_distance   spectral_distance_db                                   —
band_power          band_power_db_low / _mid / _high                       —
==================  =====================================================  =======

Pairing rule: generated and reference images pair up when the two folders hold exactly the same file names
(image ``generated/x.png`` with ``reference/x.png``); a reference dataset never pairs. A metric named explicitly
in ``metrics=`` that cannot be computed is an error; with the default metric list it is reported as ``null``
with a sentence in ``notes`` (LPIPS that cannot run offline is always ``null`` + note).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from specdiff.data.images import list_images, read_image
from specdiff.errors import InvalidValue, MissingPath
from specdiff.eval import paired as P
from specdiff.eval import spectral as S
from specdiff.eval.distribution import KID_SUBSETS, extract_features, frechet_distance, kernel_distance, kid_subset_size
from specdiff.eval.features import MIN_SIZE, build_feature_extractor
from specdiff.eval.perceptual import lpips_distance, lpips_unavailable_reason
from specdiff.fileio import atomic_write_text

METRICS = ("mse", "mae", "psnr", "ssim", "lpips", "band_error", "fid", "kid", "spectral_distance", "band_power")
DEFAULT_METRICS = METRICS
PAIRED_METRICS = ("mse", "mae", "psnr", "ssim", "lpips", "band_error")
DISTRIBUTION_METRICS = ("fid", "kid")


def resolve_metrics(metrics: Sequence[str] | str | None) -> tuple[list[str], bool]:
    """``(names, explicit)``: the metric names to compute (order kept, duplicates dropped; a string may be
    comma-separated) and whether the caller chose them (None -> :data:`DEFAULT_METRICS`, not explicit)."""
    if metrics is None:
        return list(DEFAULT_METRICS), False
    if isinstance(metrics, str):
        metrics = metrics.split(",")
    names = list(dict.fromkeys(m.strip() for m in metrics if m.strip()))
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise InvalidValue(f"unknown metric {unknown[0]!r}; valid metrics: {', '.join(METRICS)}")
    if not names:
        raise InvalidValue(f"no metric given; valid metrics: {', '.join(METRICS)}")
    return names, True


def _size(t: Tensor) -> str:
    return f"{t.shape[-2]}x{t.shape[-1]}"


def _resize(image: Tensor, size: int) -> Tensor:
    if image.shape[-2:] == (size, size):
        return image
    return F.interpolate(image[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]


def load_images(folder: str | os.PathLike, *, channels: int | None = None, image_size: int | None = None,
                role: str = "image") -> tuple[Tensor, list[str]]:
    """All PNG/JPEG files of ``folder`` (sorted by name) as ``Tensor[N, C, H, W]`` in [-1, 1] plus their file names.
    A ``specdiff sample`` folder (its ``metadata.json`` lists ``files``) gives just those samples, not grid.png.

    ``channels`` (1 or 3) converts every file; None keeps each file's own, which must then agree. ``image_size``
    resizes every image to ``image_size×image_size`` (bilinear, antialiased); None requires one size for all.
    Errors name the folder (``role``: "generated"/"reference") and the offending file.
    """
    if image_size is not None and image_size < 1:
        raise InvalidValue(f"image_size must be >= 1, got {image_size}")
    paths = _sample_files(folder) or list_images(folder)
    images: list[Tensor] = []
    for path in paths:
        image = read_image(path, channels)
        if images and image.shape[0] != images[0].shape[0]:
            raise InvalidValue(f"{role} folder {os.fspath(folder)!r} mixes channel counts: {paths[0]!r} has "
                             f"{images[0].shape[0]} channel(s) but {path!r} has {image.shape[0]}; pass channels=1 or 3")
        if image_size is None and images and image.shape != images[0].shape:
            raise InvalidValue(f"{role} folder {os.fspath(folder)!r} mixes image sizes: {paths[0]!r} is "
                             f"{_size(images[0])} but {path!r} is {_size(image)}; pass image_size= to resize")
        images.append(image if image_size is None else _resize(image, image_size))
    return torch.stack(images), [os.path.basename(p) for p in paths]


def _sample_files(folder: str | os.PathLike) -> list[str] | None:
    """The sample files listed in ``folder/metadata.json`` (written by ``specdiff sample``), or None."""
    try:
        with open(os.path.join(folder, "metadata.json")) as f:
            files = json.load(f).get("files")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(files, list) or not files or not all(isinstance(n, str) for n in files):
        return None
    for n in files:  # only files inside the folder: no paths, absolute or relative
        if n in ("", ".", "..") or n != os.path.basename(n) or "\\" in n or os.path.isabs(n):
            raise InvalidValue(f"{os.fspath(folder)!r}: metadata.json lists {n!r}; only plain file names inside the "
                             "folder are accepted")
    paths = [os.path.join(folder, n) for n in sorted(files)]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise MissingPath(f"{os.fspath(folder)!r}: metadata.json lists {missing[0]!r}, which does not exist")
    return paths


def _load_reference_dataset(name: str, count: int, *, image_size: int, channels: int, seed: int,
                            root: str | None, options: Mapping[str, Any] | None = None) -> Tensor:
    try:
        from specdiff.data import build_dataset
    except ImportError as exc:
        raise ImportError(f"reference_dataset={name!r} needs specdiff.data.build_dataset, which cannot be imported: "
                          f"{exc}") from exc
    where = {} if root is None else {"root": root}
    dataset = build_dataset(name, split="test", image_size=image_size, channels=channels, seed=seed, length=count,
                            **where, **dict(options or {}))
    count = min(count, len(dataset))
    if count == 0:
        raise InvalidValue(f"reference dataset {name!r} (split 'test') is empty")
    items = [dataset[i] for i in range(count)]
    return torch.stack([item[0] if isinstance(item, (tuple, list)) else item for item in items]).float()


def _check_compatible(gen: Tensor, ref: Tensor, gen_where: str, ref_where: str) -> None:
    if gen.shape[1] != ref.shape[1]:
        raise InvalidValue(f"channel mismatch: generated images ({gen_where}) have {gen.shape[1]} channel(s) but "
                         f"reference images ({ref_where}) have {ref.shape[1]}; pass channels=1 or 3 to convert both")
    if gen.shape[-2:] != ref.shape[-2:]:
        raise InvalidValue(f"image size mismatch: generated images ({gen_where}) are {_size(gen)} but reference images "
                         f"({ref_where}) are {_size(ref)}; pass image_size= to resize both")


def _mean(values: list[Tensor]) -> float:
    return torch.cat(values).mean().item()


def evaluate(
    generated: str,
    reference: str | None = None,
    reference_dataset: str | None = None,
    metrics: Sequence[str] | None = None,
    *,
    num_reference: int | None = None,
    image_size: int | None = None,
    channels: int | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    inception_weights: str | None = None,
    seed: int = 0,
    reference_root: str | None = None,
    reference_options: Mapping[str, Any] | None = None,
) -> dict:
    """Compares the images in folder ``generated`` with folder ``reference`` or with ``num_reference`` items (default:
    as many as generated) of ``specdiff.data.build_dataset(reference_dataset, split="test")``.

    ``metrics``: names from :data:`METRICS` (default all, see the module doc for keys and pairing); ``image_size``
    resizes everything to a square size; ``channels`` converts to 1 or 3; ``inception_weights`` (or
    ``$SPECDIFF_INCEPTION_WEIGHTS``) enables Inception FID/KID; ``seed`` fixes KID's subsets and the dataset;
    ``reference_root`` is the data folder of a ``cifar10`` or ``folder`` reference dataset and
    ``reference_options`` its family options (e.g. ``{"alpha": 1.5}`` for ``random_field``: the options the model
    was trained with).

    Returns ``{"generated", "reference", "reference_dataset", "num_generated", "num_reference", "image_size",
    "channels", "paired", "metrics": {key: float | None}, "notes": [str], "feature_extractor": dict | None,
    "settings": dict}``.
    """
    names, explicit = resolve_metrics(metrics)
    if (reference is None) == (reference_dataset is None):
        raise InvalidValue("pass exactly one of reference= (a folder) or reference_dataset= (a dataset name)")
    if batch_size < 1:
        raise InvalidValue(f"batch_size must be >= 1, got {batch_size}")
    if num_reference is not None and num_reference < 1:
        raise InvalidValue(f"num_reference must be >= 1, got {num_reference}")

    gen, gen_names = load_images(generated, channels=channels, image_size=image_size, role="generated")
    gen_where = f"{gen_names[0]!r} in {os.fspath(generated)!r}"
    if reference is not None:
        ref, ref_names = load_images(reference, channels=channels, image_size=image_size, role="reference")
        ref_where = f"{ref_names[0]!r} in {os.fspath(reference)!r}"
        if num_reference is not None:
            ref, ref_names = ref[:num_reference], ref_names[:num_reference]
    else:
        if image_size is None and gen.shape[-2] != gen.shape[-1]:
            raise InvalidValue(f"generated images are {_size(gen)} ({gen_where}); a reference dataset makes square "
                             "images, so pass image_size=")
        ref = _load_reference_dataset(reference_dataset, num_reference or len(gen), seed=seed,
                                      image_size=image_size or gen.shape[-1], channels=channels or gen.shape[1],
                                      root=reference_root, options=reference_options)
        ref_names, ref_where = None, f"dataset {reference_dataset!r}"
    _check_compatible(gen, ref, gen_where, ref_where)
    paired = ref_names is not None and ref_names == gen_names

    out: dict[str, float | None] = {}
    notes: list[str] = []

    def skip(skipped: Sequence[str], reason: str) -> None:
        if explicit:
            raise InvalidValue(f"cannot compute {', '.join(skipped)}: {reason}")
        out.update(dict.fromkeys(skipped))
        notes.append(f"{', '.join(skipped)}: not computed because {reason}")

    h, w = gen.shape[-2:]
    wanted_paired = [m for m in names if m in PAIRED_METRICS]
    if wanted_paired and not paired:
        if ref_names is None:
            reason = "paired metrics need a reference folder with the same file names, not a reference dataset"
        else:
            common = len(set(gen_names) & set(ref_names))
            reason = (f"files pair up only when both folders hold the same file names ({len(gen_names)} generated, "
                      f"{len(ref_names)} reference, {common} names in common)")
        skip(wanted_paired, reason)
    elif wanted_paired:
        _paired_metrics(gen, ref, wanted_paired, out, notes, skip, device=device, batch_size=batch_size)

    feature_info = None
    settings: dict = {"psnr_data_range": P.DATA_RANGE, "psnr_max_db": P.psnr_cap(),
                      "ssim": {"window": P.SSIM_WINDOW, "sigma": P.SSIM_SIGMA, "k1": P.SSIM_K1, "k2": P.SSIM_K2},
                      "band_edges_rho": [str(e) for e in S.BAND_EDGES], "spectral_bins": S.default_num_bins(h, w)}
    wanted_dist = [m for m in names if m in DISTRIBUTION_METRICS]
    if wanted_dist and (len(gen) < 2 or len(ref) < 2):
        skip(wanted_dist, f"it needs at least 2 generated and 2 reference images, got {len(gen)} and {len(ref)}")
    elif wanted_dist and min(h, w) < MIN_SIZE:
        skip(wanted_dist, f"feature extraction needs images of at least {MIN_SIZE}x{MIN_SIZE}, got {h}x{w}")
    elif wanted_dist:
        extractor, kind, extractor_notes = build_feature_extractor(inception_weights)
        notes.extend(extractor_notes)
        feature_info = {"kind": kind, **extractor.describe()}
        gen_features = extract_features(gen, extractor, batch_size=batch_size, device=device)
        ref_features = extract_features(ref, extractor, batch_size=batch_size, device=device)
        if "fid" in wanted_dist:
            out[f"fid_{kind}"] = frechet_distance(gen_features, ref_features)
            if min(len(gen), len(ref)) <= extractor.num_features:
                notes.append(f"fid_{kind}: computed from {len(gen)} generated and {len(ref)} reference images, not "
                             f"more than the {extractor.num_features} features, so it is strongly biased upwards; "
                             "compare FID values only at equal sample counts")
        if "kid" in wanted_dist:
            subset = kid_subset_size(len(gen), len(ref))
            out[f"kid_{kind}"], out[f"kid_{kind}_std"] = kernel_distance(
                gen_features, ref_features, subsets=KID_SUBSETS, subset_size=subset, seed=seed)
            settings.update(kid_subsets=KID_SUBSETS, kid_subset_size=subset)

    if "spectral_distance" in names:
        out["spectral_distance_db"] = S.spectral_distance(gen, ref, batch_size=batch_size)
    if "band_power" in names:
        for band, value in S.band_power_db(gen, ref, batch_size=batch_size).items():
            out[f"band_power_db_{band}"] = value

    return {
        "generated": os.fspath(generated),
        "reference": None if reference is None else os.fspath(reference),
        "reference_dataset": reference_dataset,
        "reference_options": dict(reference_options or {}) if reference_dataset is not None else None,
        "num_generated": len(gen),
        "num_reference": len(ref),
        "image_size": [int(h), int(w)],
        "channels": int(gen.shape[1]),
        "paired": paired,
        "metrics": {k: _finite(v) for k, v in out.items()},
        "notes": notes,
        "feature_extractor": feature_info,
        "settings": settings,
    }


def _paired_metrics(gen: Tensor, ref: Tensor, wanted: list[str], out: dict, notes: list[str], skip, *,
                    device: torch.device | str, batch_size: int) -> None:
    h, w = gen.shape[-2:]
    if "ssim" in wanted and min(h, w) < P.SSIM_WINDOW:
        skip(["ssim"], f"SSIM needs images of at least {P.SSIM_WINDOW}x{P.SSIM_WINDOW}, got {h}x{w}")
        wanted = [m for m in wanted if m != "ssim"]
    per_image: dict[str, list[Tensor]] = {}
    functions = {"mse": P.mse, "mae": P.mae, "psnr": P.psnr, "ssim": P.ssim}
    for i in range(0, len(gen), batch_size):
        g, r = gen[i:i + batch_size].to(device), ref[i:i + batch_size].to(device)
        for name in wanted:
            if name in functions:
                per_image.setdefault(name, []).append(functions[name](g, r).cpu())
            elif name == "band_error":
                for band, values in S.band_error(g, r).items():
                    per_image.setdefault(f"band_error_{band}", []).append(values.cpu())
    if "lpips" in wanted:
        reason = lpips_unavailable_reason()
        if reason is None:
            per_image["lpips"] = [lpips_distance(gen, ref, batch_size=batch_size, device=device)]
        else:
            per_image["lpips"] = []
            notes.append(f"lpips: null because {reason}")
    for name in wanted:
        keys = [f"band_error_{b}" for b in S.BANDS] if name == "band_error" else [name]
        for key in keys:
            out[key] = _mean(per_image[key]) if per_image.get(key) else None


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _json_safe(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _atomic_write_json(path: str, data) -> None:
    atomic_write_text(path, json.dumps(_json_safe(data), indent=2, allow_nan=False) + "\n")


def write_metrics(result: dict, path: str | os.PathLike) -> str:
    """Writes ``result`` as JSON to ``path`` (usually ``.../metrics.json``) atomically (temp file + os.replace);
    non-finite numbers become null. Returns the path."""
    path = os.fspath(path)
    _atomic_write_json(path, result)
    return path


def update_metadata(samples_dir: str | os.PathLike, result: dict) -> str:
    """Stores ``result`` under the key ``"evaluation"`` of ``samples_dir/metadata.json`` (written by
    ``specdiff sample``), atomically; other keys are kept. Returns the metadata path."""
    path = os.path.join(os.fspath(samples_dir), "metadata.json")
    if not os.path.isfile(path):
        raise MissingPath(f"cannot update metadata: {path!r} does not exist (is {os.fspath(samples_dir)!r} "
                                "a specdiff samples folder?)")
    try:
        with open(path) as f:
            metadata = json.load(f)
    except json.JSONDecodeError as exc:
        raise InvalidValue(f"cannot update metadata: {path!r} is not valid JSON ({exc})") from None
    if not isinstance(metadata, dict):
        raise InvalidValue(f"cannot update metadata: {path!r} holds a {type(metadata).__name__}, not a JSON object")
    metadata["evaluation"] = result
    _atomic_write_json(path, metadata)
    return path
