"""The three models on the GPU: the same weights give the same output and gradients with the CUDA kernels
(backend auto; complex convolutions have no CUDA kernel and run on cuDNN) as with the reference ops, and a
training step's time under both. ``python scripts/gpu_models.py``; run by scripts/gpu_check.sh."""

import statistics

import torch

from specdiff import extension
from specdiff.bench.ops import timer
from specdiff.nn import build_model


def main() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 3, 32, 32, device="cuda")
    t = torch.randint(0, 1000, (64,), device="cuda")
    run = timer(torch.device("cuda"))
    for name in ("tiny_unet", "spectral_unet", "spectral_unet_deep"):
        model = build_model(name, in_channels=3, base_channels=32).cuda()
        outputs = {}
        for backend in ("reference", "auto"):  # same weights: no optimizer step in between
            with extension.use_backend(backend):
                model.zero_grad()
                y = model(x, t)
                y.square().mean().backward()
                outputs[backend] = (y.detach(), [p.grad.clone() for p in model.parameters()])
        (y_ref, g_ref), (y_ker, g_ker) = outputs["reference"], outputs["auto"]
        out_err = ((y_ker - y_ref).norm() / y_ref.norm()).item()
        grad_err = max(((a - b).norm() / b.norm().clamp_min(1e-30)).item()
                       for a, b in zip(g_ker, g_ref, strict=True))
        times = {backend: step_ms(model, x, t, backend, run) for backend in ("reference", "auto")}
        print(f"{name:<20} output rel. err {out_err:.1e}  max grad rel. err {grad_err:.1e}  step ms: reference "
              f"{times['reference']:.2f}, kernels {times['auto']:.2f} ({times['reference'] / times['auto']:.2f}x)")
        assert out_err < 1e-4 and grad_err < 1e-3, f"{name}: kernel and reference backends disagree"


def step_ms(model, x, t, backend, run) -> float:
    """Median milliseconds of an AdamW training step under ``backend``."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        model(x, t).square().mean().backward()
        opt.step()

    with extension.use_backend(backend):
        for _ in range(3):
            step()
        return statistics.median(run(step) for _ in range(5))


if __name__ == "__main__":
    main()
