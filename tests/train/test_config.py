"""Config loading: every key and value checked before any work, one-line errors, overrides, resolved output."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest
import torch
import yaml
from trainutil import smoke, write_alias_bomb

from specdiff.config import Config, ConfigError, apply_overrides, from_dict, load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "**", "*.yaml"), recursive=True))


def error_of(raw) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        from_dict(raw)
    assert "\n" not in str(info.value)
    return info.value


@pytest.mark.parametrize("path", [p for p in CONFIGS if "/taguchi/" not in p], ids=os.path.basename)
def test_shipped_configs_load(path):
    config = load_config(path)
    with open(path) as f:
        raw = yaml.safe_load(f)
    # Everything the file sets is in the resolved config with the same value.
    for section, values in raw.items():
        for key, value in values.items():
            got = config.to_dict()[section][key]
            assert got == value or (isinstance(value, float) and got == pytest.approx(value)), (section, key)


def test_defaults_round_trip_through_yaml():
    config = from_dict({})
    again = from_dict(yaml.safe_load(config.to_yaml()))
    assert again == config
    assert again.sha256() == config.sha256()


def test_model_options_are_resolved_with_the_model_defaults():
    config = from_dict({"model": {"name": "spectral_unet", "base_channels": 8}})
    model = config.to_dict()["model"]
    assert model["base_channels"] == 8
    assert model["channel_mults"] == [1, 2] and model["image_size"] == 32
    assert model["mixer"] == "basis" and model["filter_padding"] == 4
    assert "in_channels" not in model


@pytest.mark.parametrize(
    "raw, key, needle",
    [
        ({"optim": {"lrr": 0.1}}, "optim.lrr", "did you mean 'lr'"),
        ({"optimm": {}}, "optimm", "did you mean 'optim'"),
        ({"model": {"name": "spectral_unet", "base_chanels": 3}}, "model.base_chanels", "did you mean 'base_channels'"),
        ({"model": {"name": "unet"}}, "model.name", "tiny_unet"),
        ({"training": {"steps": 0}}, "training.steps", ">= 1"),
        ({"training": {"steps": 2.5}}, "training.steps", "integer"),
        ({"training": {"bf16": "yes"}}, "training.bf16", "true or false"),
        ({"optim": {"lr": "fast"}}, "optim.lr", "number"),
        ({"optim": {"lr": -1.0}}, "optim.lr", "(0, 1]"),
        ({"diffusion": {"schedule": "quadratic"}}, "diffusion.schedule", "'linear', 'cosine'"),
        ({"diffusion": {"prediction": "eps2"}}, "diffusion.prediction", "'eps', 'v', 'x0'"),
        ({"data": {"channels": 2}}, "data.channels", "1 or 3"),
        ({"data": {"name": "random_field", "options": {"alpah": 1.0}}}, "data.options.alpah", "did you mean 'alpha'"),
        ({"sampling": {"sampler": "dpm"}}, "sampling.sampler", "ddim"),
        ({"sampling": {"sampler": "ddim", "order": 2}}, "sampling.order", "does not take"),
        ({"loss": {"inner": 0.3}}, "loss.inner", "only read when loss.spectral"),
        ({"loss": {"spectral": "bandpass", "inner": 0.5, "outer": 0.2}}, "loss.inner", "inner < outer"),
        ({"model": {"name": "tiny_unet", "adapters": {"input": {"weighting": "wavy"}}}}, "model", "weighting"),
        ({"model": {"name": "tiny_unet", "channel_mults": [1, "2"]}}, "model.channel_mults", "list of integers"),
        ({"model": {"initialization": {"strategy": "xavier"}}}, "model.initialization.strategy", "cross_domain_flat"),
        ({"model": {"initialization": {"strategy": "cross_domain_flat", "source": {"type": "constant", "valu": 1}}}},
         "model.initialization.source.valu", "valid: type, values, value, length"),
        ({"model": {"initialization": [1]}}, "model.initialization", "must be a mapping"),
        ({"training": {"loss_threshold": 0.0}}, "training.loss_threshold", "> 0 or null"),
    ],
)
def test_bad_values_name_key_value_and_what_is_allowed(raw, key, needle):
    err = error_of(raw)
    assert err.key == key
    assert needle in str(err)


def test_yaml_style_exponents_are_numbers():
    # PyYAML reads 1e-4 (no dot) as a string; a float field still takes it.
    config = from_dict(yaml.safe_load("optim:\n  lr: 1e-4\n"))
    assert config.optim.lr == pytest.approx(1e-4)


def test_overrides_set_nested_keys_and_parse_values():
    raw = apply_overrides({"optim": {"lr": 0.1}}, ["optim.lr=3e-4", "training.deterministic=true",
                                                   "model.channel_mults=[1, 2, 4]", "data.options.alpha=1.5"])
    assert raw["optim"]["lr"] == "3e-4"
    config = from_dict({**raw, "data": {"name": "random_field", **{k: v for k, v in raw["data"].items()}}})
    assert config.optim.lr == pytest.approx(3e-4)
    assert config.training.deterministic is True
    assert config.model.options["channel_mults"] == (1, 2, 4)
    assert config.data.options["alpha"] == 1.5
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides({}, ["lr=3"])


def test_configs_are_frozen():
    config = Config()
    with pytest.raises(AttributeError):
        config.optim.lr = 1.0  # type: ignore[misc]


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "specdiff", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_cli_config_errors_exit_2_with_one_line():
    proc = run_cli("config", "show", "configs/smoke/tiny_unet.yaml", "--set", "optim.lrr=0.1")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "specdiff: config error: optim.lrr = 0.1: unknown key (valid: lr, weight_decay, beta1, beta2, warmup_steps, "
        "min_lr_ratio, grad_clip, ema_decay); did you mean 'lr'?"
    ]
    missing = run_cli("train", "--config", "configs/nope.yaml")
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_cli_config_show_prints_the_resolved_config():
    proc = run_cli("config", "show", "configs/smoke/tiny_unet.yaml", "--set", "training.steps=17")
    assert proc.returncode == 0, proc.stderr
    shown = yaml.safe_load(proc.stdout)
    assert shown["training"]["steps"] == 17
    assert shown == load_config(os.path.join(ROOT, "configs/smoke/tiny_unet.yaml"), ["training.steps=17"]).to_dict()


@pytest.mark.parametrize(
    "raw, key, needle",
    [
        ({"data": {"name": "random_field", "options": {"alpha": "x"}}}, "data.options.alpha", "alpha='x' is invalid"),
        ({"data": {"name": "piecewise", "root": "/data"}}, "data.root", "takes no root"),
        ({"data": {"name": "noise", "image_size": 18}, "model": {"channel_mults": [1, 2, 2]}}, "data.image_size",
         "multiple of 4"),
    ],
)
def test_cross_section_checks(raw, key, needle):
    err = error_of(raw)
    assert err.key == key and needle in str(err)


def load_error(path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert "\n" not in str(info.value) and repr(str(path)) in str(info.value)
    return str(info.value)


def test_aliases_are_refused_so_an_alias_bomb_costs_nothing(tmp_path):
    # Refused at the first alias, while parsing: nothing is ever expanded.
    bomb = tmp_path / "bomb.yaml"
    write_alias_bomb(bomb)
    assert "may not use aliases" in load_error(bomb) and "(line 2, column" in load_error(bomb)
    # A single harmless alias (or a merge key) is refused as well: configs never need them.
    one = tmp_path / "one.yaml"
    one.write_text("optim: &o {lr: 0.001}\nsampling:\n  <<: *o\n")
    assert "found the alias *o" in load_error(one)
    # An alias in a --set value is not expanded either: the text is taken as it is and then rejected.
    with pytest.raises(ConfigError, match=r"optim.lr = '\*x'"):
        load_config(None, ["optim.lr=*x"])


def test_unreadable_config_files_are_one_line_errors(tmp_path):
    assert "is a directory; give the path of a YAML file" in load_error(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * 120_000)
    assert "larger than 1024 KiB" in load_error(big)
    deep = tmp_path / "deep.yaml"
    deep.write_text("model: " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert "nested too deeply" in load_error(deep)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00model")
    assert "not UTF-8" in load_error(binary)


def test_model_initialization_and_baseline_conv_resolve_and_round_trip():
    raw = {"model": {"name": "baseline_conv", "base_channels": 8,
                     "initialization": {"strategy": "cross_domain_flat", "scale": 0.5,
                                        "source": {"type": "random_normal", "seed": 3}}}}
    config = from_dict(raw)
    assert config.model.name == "baseline_conv" and config.model.options["base_channels"] == 8
    assert dict(config.model.initialization) == {
        "strategy": "cross_domain_flat", "scale": 0.5, "recycle": True,
        "source": {"type": "random_normal", "length": None, "mean": 0.0, "std": 1.0, "seed": 3}}
    again = from_dict(yaml.safe_load(config.to_yaml()))
    assert again == config and again.sha256() == config.sha256()
    assert from_dict({}).to_dict()["model"]["initialization"] == {"strategy": "default"}


def test_training_starts_from_the_initialization(tmp_path):
    from specdiff.train import train
    from specdiff.train.checkpoint import load_checkpoint

    sets = ["model.initialization={strategy: cross_domain_flat, source: {type: constant, value: 0.25}}",
            "training.steps=1", "optim.lr=1e-9", "training.checkpoint_every=1"]
    train(load_config(smoke("tiny_unet"), sets), output_dir=str(tmp_path), run_id="r", progress=False)
    state = load_checkpoint(str(tmp_path / "runs" / "r" / "checkpoints" / "step_1.pt"))
    values = torch.cat([v.flatten() for k, v in state["model"].items() if v.is_floating_point()
                        and "running" not in k])
    assert (values - 0.25).abs().max() < 1e-6  # one AdamW step of lr 1e-9 away from the filled value
