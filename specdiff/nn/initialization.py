"""Model initialisation from a foreign flat vector (the ``model.initialization`` config section).

Strategies:

* ``default``: the model's own initialisation (nothing is changed);
* ``zeros``: every parameter is 0;
* ``cross_domain_flat``: the parameters, in the order of ``model.parameters()``, are filled from a flat source
  vector times ``scale``; a source shorter than the model is wrapped around (``recycle: true``) or its end
  zero-filled (``recycle: false``); a longer one is cut.

Sources (``source.type``):

* ``file``: ``path`` to a tensor or a flat dict of tensors (concatenated, flattened, in the file's order),
  read with ``torch.load(weights_only=True)`` (no code runs) or, for ``.safetensors``, with safetensors;
* ``constant``: ``values`` (a list) tiled to ``length``, or one ``value`` (``length`` defaults to the model's
  parameter count);
* ``random_normal``: ``length`` (default: the parameter count), ``mean``, ``std``, ``seed`` (a CPU generator,
  so the vector is the same on every device);
* ``huggingface``: the parameters of a transformers model (``model``: a local folder or a name in the local
  cache), loaded with ``local_files_only=True``: nothing is ever downloaded. Needs the optional ``transformers``
  package.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

STRATEGIES = ("default", "zeros", "cross_domain_flat")
SOURCE_TYPES = ("file", "constant", "random_normal", "huggingface")
_SOURCE_KEYS = {
    "file": {"path": None},
    "constant": {"values": None, "value": None, "length": None},
    "random_normal": {"length": None, "mean": 0.0, "std": 1.0, "seed": 0},
    "huggingface": {"model": None},
}
_TOP_KEYS = ("strategy", "scale", "recycle", "source")


class InitializationError(ValueError):
    """A bad ``model.initialization`` value: ``key`` (dotted, below the section), the value and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"model.initialization.{key} = {value!r}: {allowed}")


def check_initialization(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """The validated section with every default filled in (``{}`` or None: strategy ``default``)."""
    raw = dict(raw or {})
    for key in raw:
        if key not in _TOP_KEYS:
            raise InitializationError(key, raw[key], f"unknown key; valid: {', '.join(_TOP_KEYS)}")
    strategy = raw.get("strategy", "default")
    if strategy not in STRATEGIES:
        raise InitializationError("strategy", strategy, f"must be one of {', '.join(STRATEGIES)}")
    scale, recycle = raw.get("scale", 1.0), raw.get("recycle", True)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise InitializationError("scale", scale, "must be a finite number")
    if not isinstance(recycle, bool):
        raise InitializationError("recycle", recycle, "must be true or false")
    source = raw.get("source")
    if strategy != "cross_domain_flat":
        for key in ("scale", "recycle", "source"):
            if key in raw:
                raise InitializationError(key, raw[key], "is only read with strategy 'cross_domain_flat'")
        return {"strategy": strategy}
    if not isinstance(source, Mapping):
        raise InitializationError("source", source, f"must be a mapping with a type ({', '.join(SOURCE_TYPES)})")
    return {"strategy": strategy, "scale": float(scale), "recycle": recycle, "source": _check_source(source)}


def _check_source(source: Mapping[str, Any]) -> dict[str, Any]:
    kind = source.get("type")
    if kind not in SOURCE_TYPES:
        raise InitializationError("source.type", kind, f"must be one of {', '.join(SOURCE_TYPES)}")
    allowed = _SOURCE_KEYS[kind]
    for key, value in source.items():
        if key != "type" and key not in allowed:
            raise InitializationError(f"source.{key}", value,
                                      f"unknown key for a {kind} source; valid: type, {', '.join(allowed)}")
    out = {"type": kind, **allowed, **{k: v for k, v in source.items() if k != "type"}}
    if kind in ("file", "huggingface"):
        key = "path" if kind == "file" else "model"
        if not isinstance(out[key], str) or not out[key]:
            raise InitializationError(f"source.{key}", out[key], "must be a non-empty string")
    if kind == "constant":
        values, value = out["values"], out["value"]
        if (values is None) == (value is None):
            raise InitializationError("source", dict(source), "a constant source takes either values or value")
        if values is not None and (not isinstance(values, (list, tuple)) or not values
                                   or not all(_is_number(v) for v in values)):
            raise InitializationError("source.values", values, "must be a non-empty list of finite numbers")
        if value is not None and not _is_number(value):
            raise InitializationError("source.value", value, "must be a finite number")
        if values is not None and out["length"] is None:
            raise InitializationError("source.length", None, "is required with values (they are tiled to it)")
    if kind in ("constant", "random_normal") and out["length"] is not None:
        if isinstance(out["length"], bool) or not isinstance(out["length"], int) or out["length"] < 1:
            raise InitializationError("source.length", out["length"], "must be an integer >= 1 or null")
    if kind == "random_normal":
        for key in ("mean", "std"):
            if not _is_number(out[key]):
                raise InitializationError(f"source.{key}", out[key], "must be a finite number")
        if out["std"] < 0:
            raise InitializationError("source.std", out["std"], "must be >= 0")
        if isinstance(out["seed"], bool) or not isinstance(out["seed"], int) or out["seed"] < 0:
            raise InitializationError("source.seed", out["seed"], "must be an integer >= 0")
    return out


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def source_vector(source: Mapping[str, Any], num_parameters: int) -> Tensor:
    """The flat float64 vector of a checked source (``num_parameters``: the default length)."""
    kind = source["type"]
    if kind == "constant":
        if source["value"] is not None:
            return torch.full((source["length"] or num_parameters,), float(source["value"]), dtype=torch.float64)
        values = torch.tensor([float(v) for v in source["values"]], dtype=torch.float64)
        return values.repeat(math.ceil(source["length"] / len(values)))[: source["length"]]
    if kind == "random_normal":
        gen = torch.Generator().manual_seed(source["seed"])
        z = torch.randn(source["length"] or num_parameters, generator=gen, dtype=torch.float64)
        return source["mean"] + source["std"] * z
    if kind == "file":
        return _flatten(_load_file(source["path"]), f"file {source['path']!r}")
    return _flatten(dict(_huggingface_parameters(source["model"])), f"model {source['model']!r}")


def _load_file(path: str) -> Any:
    if not os.path.isfile(path):
        raise InitializationError("source.path", path, "no such file")
    if path.endswith(".safetensors"):
        try:
            from safetensors.torch import load_file
        except ModuleNotFoundError:
            raise InitializationError("source.path", path, "reading .safetensors needs the safetensors package "
                                      "(pip install safetensors)") from None
        try:
            return load_file(path)
        except Exception as exc:  # safetensors raises its own error types for malformed headers
            raise InitializationError("source.path", path, f"not a readable safetensors file ({exc})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses pickled code; torch raises several types for junk
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InitializationError("source.path", path, "not a tensor or dict of tensors that loads with "
                                  f"weights_only=True ({detail[:200]})") from None


def _flatten(obj: Any, what: str) -> Tensor:
    if isinstance(obj, Tensor):
        tensors = [obj]
    elif isinstance(obj, Mapping) and obj and all(isinstance(v, Tensor) for v in obj.values()):
        tensors = list(obj.values())
    else:
        raise InitializationError("source", what, "must hold a tensor or a non-empty flat dict of tensors")
    if any(t.is_complex() or not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)) for t in tensors):
        raise InitializationError("source", what, "tensors must be real floating-point or integer")
    flat = torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors])
    if flat.numel() == 0 or not bool(torch.isfinite(flat).all()):
        raise InitializationError("source", what, "must hold at least one value, all finite")
    return flat


def _huggingface_parameters(name: str):
    try:
        import transformers
    except ModuleNotFoundError:
        raise InitializationError("source.type", "huggingface", "needs the optional transformers package "
                                  "(pip install -e '.[transformers]'); nothing is downloaded") from None
    try:
        model = transformers.AutoModel.from_pretrained(name, local_files_only=True)
    except Exception as exc:  # transformers raises OSError / ValueError for missing or malformed folders
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InitializationError("source.model", name, "is not a local folder or cached model that loads "
                                  f"offline ({detail[:200]})") from None
    return model.named_parameters()


@torch.no_grad()
def initialize(model: nn.Module, spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """Applies a (raw or checked) ``model.initialization`` section to ``model`` in place; returns what was done:
    ``{"strategy", "num_parameters", "source_length", "recycled"}``."""
    spec = check_initialization(spec)
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    report = {"strategy": spec["strategy"], "num_parameters": total, "source_length": None, "recycled": False}
    if spec["strategy"] == "default":
        return report
    if spec["strategy"] == "zeros":
        for p in params:
            p.zero_()
        return report
    vector = source_vector(spec["source"], total)
    report["source_length"] = vector.numel()
    if vector.numel() < total:
        if spec["recycle"]:
            vector = vector.repeat(math.ceil(total / vector.numel()))
            report["recycled"] = True
        else:
            vector = torch.cat([vector, vector.new_zeros(total - vector.numel())])
    vector = spec["scale"] * vector[:total]
    offset = 0
    for p in params:
        p.copy_(vector[offset:offset + p.numel()].view_as(p))
        offset += p.numel()
    return report
