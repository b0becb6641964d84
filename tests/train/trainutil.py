import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def smoke(name: str) -> str:
    """Path of the smoke config of model ``name`` (a few seconds of training)."""
    return os.path.join(ROOT, "configs", "smoke", f"{name}.yaml")
