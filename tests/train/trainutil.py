import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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
