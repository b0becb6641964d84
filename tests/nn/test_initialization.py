"""model.initialization: fill order, recycle and zero fill, scale, every source, bad input, no code from files."""

import os
import pickle
import sys
import types

import pytest
import torch
from torch import nn

from specdiff.nn.initialization import InitializationError, check_initialization, initialize


def tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))  # 6 + 3 + 3 + 1 = 13 parameters, in that order


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).tolist()


def cross(source, **kw):
    return {"strategy": "cross_domain_flat", "source": source, **kw}


def test_fill_follows_parameter_order_and_recycles():
    model = tiny()
    report = initialize(model, cross({"type": "constant", "values": [1, 2, 3, 4, 5], "length": 5}))
    assert flat(model) == [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3]
    assert model[0].weight.tolist() == [[1, 2], [3, 4], [5, 1]] and model[0].bias.tolist() == [2, 3, 4]
    assert model[1].weight.tolist() == [[5, 1, 2]] and model[1].bias.tolist() == [3]
    assert report == {"strategy": "cross_domain_flat", "num_parameters": 13, "source_length": 5, "recycled": True}


def test_zero_fill_scale_and_cut():
    model = tiny()
    initialize(model, cross({"type": "constant", "values": [1, -2], "length": 4}, recycle=False, scale=0.5))
    assert flat(model) == [0.5, -1, 0.5, -1] + [0] * 9
    initialize(model, cross({"type": "constant", "value": 3.0, "length": 40}, scale=-2))
    assert flat(model) == [-6.0] * 13


def test_constant_value_defaults_to_the_parameter_count_and_random_normal_is_seeded():
    model = tiny()
    report = initialize(model, cross({"type": "constant", "value": 0.25}))
    assert flat(model) == [0.25] * 13 and report["source_length"] == 13 and not report["recycled"]
    initialize(model, cross({"type": "random_normal", "mean": 1.0, "std": 0.5, "seed": 7}))
    z = torch.randn(13, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    torch.testing.assert_close(torch.tensor(flat(model)), (1.0 + 0.5 * z).float(), rtol=0, atol=0)
    initialize(model, cross({"type": "random_normal", "length": 4, "seed": 1}, recycle=True))
    values = flat(model)
    assert values[:4] == values[4:8] == values[8:12] and values[12] == values[0]


def test_file_sources(tmp_path):
    model = tiny()
    torch.save(torch.arange(20, dtype=torch.float32), tmp_path / "vector.pt")
    initialize(model, cross({"type": "file", "path": str(tmp_path / "vector.pt")}))
    assert flat(model) == list(range(13))
    torch.save({"b": torch.tensor([[7.0, 8.0]]), "a": torch.tensor([9, 10])}, tmp_path / "dict.pt")
    initialize(model, cross({"type": "file", "path": str(tmp_path / "dict.pt")}))
    assert flat(model) == [7, 8, 9, 10] * 3 + [7]  # the dict's own order, not sorted keys
    safetensors = pytest.importorskip("safetensors.torch")
    safetensors.save_file({"w": torch.tensor([1.5, 2.5])}, str(tmp_path / "w.safetensors"))
    initialize(model, cross({"type": "file", "path": str(tmp_path / "w.safetensors")}, recycle=False))
    assert flat(model) == [1.5, 2.5] + [0] * 11


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_file_source_never_runs_code(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"w": _Payload(str(marker))}, f)
    with pytest.raises(InitializationError, match="weights_only=True"):
        initialize(tiny(), cross({"type": "file", "path": str(path)}))
    assert not marker.exists()


def test_huggingface_source_is_offline_only(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import fails as when it is not installed
    with pytest.raises(InitializationError, match="needs the optional transformers package"):
        initialize(tiny(), cross({"type": "huggingface", "model": "gpt2"}))
    calls = []

    class AutoModel:
        @staticmethod
        def from_pretrained(name, **kwargs):
            calls.append((name, kwargs))
            if name == "missing":
                raise OSError("not found in the local cache")
            foreign = nn.Linear(4, 2)
            with torch.no_grad():
                foreign.weight.copy_(torch.arange(8.0).view(2, 4))
                foreign.bias.copy_(torch.tensor([100.0, 101.0]))
            return foreign

    monkeypatch.setitem(sys.modules, "transformers", types.SimpleNamespace(AutoModel=AutoModel))
    model = tiny()
    initialize(model, cross({"type": "huggingface", "model": "/models/gpt2"}, recycle=False))
    assert calls == [("/models/gpt2", {"local_files_only": True})]
    assert flat(model) == [0, 1, 2, 3, 4, 5, 6, 7, 100, 101, 0, 0, 0]
    with pytest.raises(InitializationError, match="loads offline"):
        initialize(tiny(), cross({"type": "huggingface", "model": "missing"}))


def test_zeros_and_default():
    model = tiny()
    before = flat(model)
    assert initialize(model, None)["strategy"] == "default" and flat(model) == before
    assert initialize(model, {"strategy": "default"})["strategy"] == "default" and flat(model) == before
    initialize(model, {"strategy": "zeros"})
    assert flat(model) == [0] * 13


@pytest.mark.parametrize("raw, match", [
    ({"strategy": "xavier"}, "strategy = 'xavier': must be one of default, zeros, cross_domain_flat"),
    ({"stratgy": "zeros"}, "stratgy = 'zeros': unknown key; valid: strategy, scale, recycle, source"),
    ({"strategy": "zeros", "scale": 2.0}, "scale = 2.0: is only read with strategy 'cross_domain_flat'"),
    ({"strategy": "cross_domain_flat"}, "source = None: must be a mapping with a type"),
    (cross({"type": "gpt"}), "source.type = 'gpt': must be one of file, constant, random_normal, huggingface"),
    (cross({"type": "constant", "value": 1, "scale": 2}), "source.scale = 2: unknown key for a constant source"),
    (cross({"type": "constant", "value": 1, "values": [1]}), "either values or value"),
    (cross({"type": "constant", "values": [1, "a"], "length": 3}), "source.values .*finite numbers"),
    (cross({"type": "constant", "values": [1]}), "source.length = None: is required with values"),
    (cross({"type": "constant", "value": float("nan")}), "source.value = nan: must be a finite number"),
    (cross({"type": "random_normal", "length": 0}), "source.length = 0: must be an integer >= 1"),
    (cross({"type": "random_normal", "std": -1.0}), "source.std = -1.0: must be >= 0"),
    (cross({"type": "random_normal", "seed": 1.5}), "source.seed = 1.5: must be an integer >= 0"),
    (cross({"type": "file"}), "source.path = None: must be a non-empty string"),
    (cross({"type": "file", "path": "/nonexistent/w.pt"}), "source.path = '/nonexistent/w.pt': no such file"),
    (cross({"type": "constant", "value": 1}, scale=float("inf")), "scale = inf: must be a finite number"),
    (cross({"type": "constant", "value": 1}, recycle="yes"), "recycle = 'yes': must be true or false"),
])
def test_bad_sections_raise_one_line(raw, match):
    with pytest.raises(InitializationError, match=match) as info:
        initialize(tiny(), raw)
    assert "\n" not in str(info.value) and str(info.value).startswith("model.initialization.")


def test_bad_file_contents(tmp_path):
    torch.save({"w": torch.zeros(2), "n": 3}, tmp_path / "mixed.pt")
    torch.save(torch.tensor([1.0, float("inf")]), tmp_path / "inf.pt")
    torch.save(torch.zeros(2, dtype=torch.complex64), tmp_path / "complex.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a tensor")
    for name, match in (("mixed.pt", "a non-empty flat dict of tensors"), ("inf.pt", "all finite"),
                        ("complex.pt", "real floating-point"), ("junk.pt", "weights_only=True")):
        with pytest.raises(InitializationError, match=match):
            initialize(tiny(), cross({"type": "file", "path": os.fspath(tmp_path / name)}))


def test_check_fills_defaults():
    assert check_initialization({}) == {"strategy": "default"}
    assert check_initialization(cross({"type": "random_normal"})) == {
        "strategy": "cross_domain_flat", "scale": 1.0, "recycle": True,
        "source": {"type": "random_normal", "length": None, "mean": 0.0, "std": 1.0, "seed": 0}}
