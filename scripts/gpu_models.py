"""The three models on the GPU: the same weights give the same output and gradients with the CUDA kernels
(backend auto; complex convolutions have no CUDA kernel and run on cuDNN) as with the reference ops, and a
training step's time under both (``specdiff.bench.models``). ``python scripts/gpu_models.py [DEVICE]``
(default cuda); run by scripts/gpu_check.sh."""

import sys

import torch

from specdiff import extension
from specdiff.bench.models import STANDARD, bench_models
from specdiff.nn import build_model

MODELS = ("tiny_unet", "spectral_unet", "spectral_unet_deep")
BACKENDS = ("reference", "auto")


def backend_errors(name: str, device: str) -> tuple[float, float]:
    """Relative errors of the output and of the gradient of ``auto`` against ``reference``."""
    torch.manual_seed(0)
    model = build_model(name, in_channels=STANDARD["channels"], base_channels=STANDARD["base_channels"]).to(device)
    x = torch.randn(STANDARD["batch"], STANDARD["channels"], STANDARD["size"], STANDARD["size"], device=device)
    t = torch.randint(0, 1000, (STANDARD["batch"],), device=device)
    outputs = {}
    for backend in BACKENDS:  # same weights: no optimizer step in between
        with extension.use_backend(backend):
            model.zero_grad()
            y = model(x, t)
            y.square().mean().backward()
            outputs[backend] = (y.detach(), [p.grad.clone() for p in model.parameters()])
    (y_ref, g_ref), (y_ker, g_ker) = (outputs[b] for b in BACKENDS)
    out_err = ((y_ker - y_ref).norm() / y_ref.norm()).item()
    # All gradients as one vector: biases in front of a batch norm have a true gradient of zero, and their
    # rounding noise (~1e-8) differs between backends, so per-parameter relative errors would mean nothing.
    g_ker, g_ref = torch.cat([g.flatten() for g in g_ker]), torch.cat([g.flatten() for g in g_ref])
    return out_err, ((g_ker - g_ref).norm() / g_ref.norm()).item()


def main(device: str = "cuda") -> None:
    records = bench_models(MODELS, BACKENDS, device=device, steps=5, warmup=3)
    ms = {(r["model"], r["backend"]): r["ms_per_step"] for r in records}
    for name in MODELS:
        out_err, grad_err = backend_errors(name, device)
        ref, ker = ms[(name, "reference")], ms[(name, "auto")]
        print(f"{name:<20} output rel. err {out_err:.1e}  grad rel. err {grad_err:.1e}  step ms: reference "
              f"{ref:.2f}, kernels {ker:.2f} ({ref / ker:.2f}x)")
        assert out_err < 1e-4 and grad_err < 1e-4, f"{name}: kernel and reference backends disagree"


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "cuda")
