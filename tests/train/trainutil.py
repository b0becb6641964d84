import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_alias_bomb(path) -> None:
    """A "billion laughs" YAML file: 9 levels of 9 aliases describe 9**9 strings in a few hundred bytes."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def smoke(name: str) -> str:
    """Path of the smoke config of model ``name`` (a few seconds of training)."""
    return os.path.join(ROOT, "configs", "smoke", f"{name}.yaml")


class Interrupt(BaseException):
    """Stands for a process killed mid-run (not an Exception, so nothing in the trainer catches it)."""


def train_interrupted_at(step: int, monkeypatch, config, output_dir: str, run_id: str) -> None:
    """Trains ``config`` as run ``run_id`` and interrupts it inside step ``step`` (its loss call), as a kill would."""
    import pytest

    import specdiff.diffusion
    from specdiff.train import train

    real = specdiff.diffusion.diffusion_loss
    calls = {"n": 0}

    def dies(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == step:
            raise Interrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(specdiff.diffusion, "diffusion_loss", dies)
    with pytest.raises(Interrupt):
        train(config, output_dir=output_dir, run_id=run_id, progress=False)
    monkeypatch.setattr(specdiff.diffusion, "diffusion_loss", real)
