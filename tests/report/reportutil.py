"""Writers of synthetic results folders in the layout ``specdiff train / bench / taguchi`` use."""

import csv
import json
import os

import yaml

LEDGER_HEADER = [
    "run_id", "status", "started", "model", "dataset", "steps", "batch_size", "seed", "final_loss",
    "loss_drop_per_second", "images_per_second", "images_per_second_wall", "spectral_op_time_s", "runtime_s",
    "backend", "device", "run_dir", "config_sha256",
]


def make_config(model="tiny_unet", seed=0, lr=1e-3):
    return {
        "model": {"name": model, "base_channels": 8},
        "data": {"name": "noise", "image_size": 8},
        "diffusion": {"schedule": "linear", "timesteps": 100},
        "loss": {"weighting": "none"},
        "optim": {"lr": lr},
        "training": {"steps": 4, "batch_size": 2, "seed": seed},
        "sampling": {"sampler": "ddim"},
    }


def write_run(root, run_id, config, log, metrics=None):
    """Writes runs/<run_id>/{config.yaml, logs/train.jsonl, metrics/<run_id>.json}; returns run_dir (relative)."""
    run_dir = os.path.join(root, "runs", run_id)
    os.makedirs(os.path.join(run_dir, "logs"))
    os.makedirs(os.path.join(run_dir, "metrics"))
    with open(os.path.join(run_dir, "config.yaml"), "w") as f:
        yaml.safe_dump(config, f)
    with open(os.path.join(run_dir, "logs", "train.jsonl"), "w") as f:
        for record in log:
            f.write(json.dumps(record) + "\n")
    metrics = dict(metrics or {}, run_id=run_id, loss_history=[[r["step"], r["loss"]] for r in log],
                   unknown_key={"ignored": True})
    with open(os.path.join(run_dir, "metrics", f"{run_id}.json"), "w") as f:
        json.dump(metrics, f)
    return f"runs/{run_id}"


def make_log(losses, ips=100.0):
    return [{"step": 10 * (i + 1), "loss": loss, "loss_smooth": loss * 1.1, "lr": 1e-3, "grad_norm": 1.0,
             "images_per_second": ips, "elapsed_s": 0.5 * (i + 1)} for i, loss in enumerate(losses)]


def write_ledger(root, rows):
    with open(os.path.join(root, "summary.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, LEDGER_HEADER)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in LEDGER_HEADER})


# run_id, model, seed, final_loss, loss_drop_per_second, images_per_second, images_per_second_wall
RUNS = [
    ("tiny-s0", "tiny_unet", 0, 0.21, 0.05, 900.0, 700.0),
    ("tiny-s1", "tiny_unet", 1, 0.25, 0.04, 880.0, 690.0),
    ("spec-s0", "spectral_unet", 0, 0.15, 0.02, 300.0, 250.0),
    ("spec-s1", "spectral_unet", 1, 0.17, 0.03, 310.0, 240.0),
]
OP_RECORDS = [
    {"op": op, "shape": shape, "dtype": "float32", "device": "cpu", "pass": p,
     "reference_ms": ref, "kernel_ms": ref / s, "speedup": s}
    for op, shape, p, ref, s in [
        ("spectral_filter2d", [8, 3, 32, 32], "fwd", 2.0, 2.5),
        ("spectral_filter2d", [8, 3, 32, 32], "fwdbwd", 5.0, 3.0),
        ("complex_conv2d", [8, 6, 16, 16], "fwd", 1.0, 0.8),
        ("complex_conv2d", [8, 6, 16, 16], "fwdbwd", 4.0, 1.6),
    ]
]
MODEL_RECORDS = [
    {"model": m, "backend": b, "images_per_second": ips, "ms_per_step": 64e3 / ips, "params": 1234, "batch": 64,
     "size": 32, "channels": 3, "base_channels": 32, "threads": 2, "device": "cpu"}
    for m, b, ips in [("tiny_unet", "reference", 400.0), ("tiny_unet", "kernel", 600.0),
                      ("spectral_unet", "reference", 100.0), ("spectral_unet", "kernel", 250.0)]
]
ANOVA = [
    {"factor": "lr", "dof": 2, "ss": 6.0, "ms": 3.0, "f": 12.0, "contribution": 60.0, "pooled": False},
    {"factor": "base_channels", "dof": 2, "ss": 3.0, "ms": 1.5, "f": 6.0, "contribution": 30.0, "pooled": False},
    {"factor": "weighting", "dof": 2, "ss": 0.5, "ms": 0.25, "f": "", "contribution": 5.0, "pooled": True},
    {"factor": "error", "dof": 4, "ss": 0.5, "ms": 0.125, "f": "", "contribution": 5.0, "pooled": ""},
]


def write_taguchi(folder, anova=ANOVA, figures=("main_effects_snr", "contribution")):
    os.makedirs(os.path.join(folder, "figures"), exist_ok=True)
    with open(os.path.join(folder, "taguchi_report.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", "lr", "base_channels", "weighting", "sn_db"])
        writer.writerow([1, "1e-3", 8, "none", "-12.5"])
        writer.writerow([2, "1e-2", 16, "snr", "-10.25"])
    with open(os.path.join(folder, "anova.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, list(anova[0]))
        writer.writeheader()
        writer.writerows(anova)
    for name in figures:
        with open(os.path.join(folder, "figures", name + ".png"), "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n")


def make_results_dir(root):
    """Four finished runs (two seeds of two models), one failed, op and model bench files, one Taguchi study."""
    rows = []
    for run_id, model, seed, final, drop, ips, wall in RUNS:
        log = make_log([1.0, 0.5, final], ips)
        run_dir = write_run(root, run_id, make_config(model, seed), log,
                            {"model": model, "final_loss": final, "images_per_second": ips})
        rows.append({"run_id": run_id, "status": "finished", "model": model, "dataset": "noise", "steps": 30,
                     "batch_size": 2, "seed": seed, "final_loss": final, "loss_drop_per_second": drop,
                     "images_per_second": ips, "images_per_second_wall": wall, "runtime_s": 1.5,
                     "backend": "kernel", "device": "cpu", "run_dir": run_dir})
    rows.append({"run_id": "tiny-bad", "status": "diverged", "model": "tiny_unet", "seed": 7, "final_loss": "nan",
                 "images_per_second": 5000.0, "run_dir": "runs/tiny-bad"})
    write_ledger(root, rows)
    os.makedirs(os.path.join(root, "bench"))
    with open(os.path.join(root, "bench", "ops.json"), "w") as f:
        json.dump({"threads": 2, "records": OP_RECORDS}, f)
    with open(os.path.join(root, "models.json"), "w") as f:
        json.dump({"threads": 2, "records": MODEL_RECORDS}, f)
    with open(os.path.join(root, "other.json"), "w") as f:
        json.dump({"note": "not a bench file"}, f)
    write_taguchi(os.path.join(root, "taguchi", "lr_study"))
    return root
