"""Training throughput of the VAE on the real Gaussian heatmaps: naive `fit` on NumPy arrays vs the project.

Run: `python bench/bench_training.py [--epochs 3]` (about 3-6 minutes on 2 cores).

(a) naive: the seed's cell, `model.fit(x_train, x_train, batch_size=64, epochs=E,
    validation_data=(x_test, x_test))` on NumPy arrays;
(b) project: `training.train_model` (tf.data without autotuning, per-epoch seeded shuffle, backups, op
    determinism), same model, seed, batch size and epochs.

Throughput counts training images per second of wall-clock epoch time, validation included (as in both
runs). Also measured: the machine's float32 matmul rate (2048 x 2048), the analytic FLOPs of a training step
per image, the fraction of the matmul rate the training reaches, and the layers that dominate a step.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from vae_latent_study import models, training
from vae_latent_study.config import validate_config
from vae_latent_study.datasets import build_dataset, write_dataset

REPO = Path(__file__).resolve().parents[1]
SEED = 19
BATCH = 64


def matmul_rate(n: int = 2048, repeats: int = 10) -> dict[str, float]:
    """Best GFLOP/s of an n x n float32 matmul, with TensorFlow and with NumPy."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    flops = 2.0 * n**3
    out = {}
    ta, tb = tf.constant(a), tf.constant(b)
    tf.matmul(ta, tb).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tf.matmul(ta, tb).numpy()
        times.append(time.perf_counter() - start)
    out["tensorflow"] = flops / min(times) / 1e9
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    out["numpy"] = flops / min(times) / 1e9
    return out


def layer_flops(model: keras.Model) -> list[tuple[str, float]]:
    """Forward FLOPs per image of each convolution / dense layer (2 x multiply-adds; bias, activations
    and pooling left out, they are under 1%)."""
    out = []
    for sub in (model.encoder, model.decoder):
        for layer in sub.layers:
            cfg = layer.get_config()
            if isinstance(layer, keras.layers.Conv2DTranspose):
                _, h, w, c_in = layer.input.shape
                k = np.prod(cfg["kernel_size"])
                out.append((f"{sub.name}/{layer.name}", 2.0 * h * w * c_in * k * cfg["filters"]))
            elif isinstance(layer, keras.layers.Conv2D):
                _, h, w, c_out = layer.output.shape
                c_in = layer.input.shape[-1]
                out.append(
                    (f"{sub.name}/{layer.name}", 2.0 * h * w * c_out * np.prod(cfg["kernel_size"]) * c_in)
                )
            elif isinstance(layer, keras.layers.Dense):
                out.append((f"{sub.name}/{layer.name}", 2.0 * layer.input.shape[-1] * cfg["units"]))
    return out


class EpochTimer(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        print(f"    naive epoch {epoch + 1}: {self.seconds[-1]:.1f} s, loss {logs['loss']:.2f}", flush=True)


def ceiling_rates(x: np.ndarray, steps: int = 20) -> tuple[float, float]:
    """Images/s of `train_on_batch` and `test_on_batch` on one resident batch: the compute-only ceilings
    of a training step and of a validation step (no input pipeline, no epoch boundaries)."""
    model = models.build_model("vae", seed=SEED)
    model.compile(optimizer=models.make_optimizer(models.seed_schedule("vae")), jit_compile=False)
    batch = tf.constant(x[:BATCH])
    rates = []
    for step in (model.train_on_batch, model.test_on_batch):
        for _ in range(3):
            step(batch)
        start = time.perf_counter()
        for _ in range(steps):
            step(batch)
        rates.append(steps * BATCH / (time.perf_counter() - start))
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
    epochs = args.epochs

    config = validate_config({}, REPO / "config" / "config.schema.yaml")
    dataset = build_dataset("gaussian", config["datasets"]["gaussian"])
    x_train = dataset.images[dataset.train][..., None].astype("float32")
    x_test = dataset.images[dataset.test][..., None].astype("float32")
    n_train, n_test = len(x_train), len(x_test)
    print(
        f"gaussian dataset: {n_train} train / {n_test} test images of 36x36; VAE, batch {BATCH}, "
        f"{epochs} epochs per run; TensorFlow {tf.__version__}, Keras {keras.__version__}, "
        f"intra-op threads {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}"
    )

    rates = matmul_rate()
    peak = max(rates.values())
    print(
        f"matmul 2048x2048 float32: TensorFlow {rates['tensorflow']:.1f} GFLOP/s, "
        f"NumPy {rates['numpy']:.1f} GFLOP/s (peak used below: {peak:.1f})"
    )

    model = models.build_model("vae", seed=SEED)
    per_layer = layer_flops(model)
    forward = sum(f for _, f in per_layer)
    train_per_image = 3 * forward  # forward + gradients w.r.t. inputs and weights
    print(
        f"analytic FLOPs per image: forward {forward / 1e6:.1f} M, "
        f"training step ~{train_per_image / 1e6:.1f} M (3 x forward)"
    )
    top = sorted(per_layer, key=lambda item: -item[1])[:4]
    print("  largest layers: " + ", ".join(f"{name} {f / forward:.0%}" for name, f in top))
    epoch_flops = train_per_image * n_train + forward * n_test  # training + validation pass

    step_rate, eval_rate = ceiling_rates(x_train)
    ceiling_epoch = n_train / step_rate + n_test / eval_rate
    print(
        f"compute-only ceiling (train_on_batch / test_on_batch on a resident batch): {step_rate:.0f} / "
        f"{eval_rate:.0f} images/s; training at {step_rate * train_per_image / 1e9:.1f} GFLOP/s = "
        f"{step_rate * train_per_image / 1e9 / peak:.0%} of the matmul rate; "
        f"an epoch with validation cannot take less than ~{ceiling_epoch:.1f} s"
    )

    # (a) naive: the seed's cell on NumPy arrays.
    print("(a) naive fit on NumPy arrays ...", flush=True)
    keras.utils.set_random_seed(SEED)
    naive_model = models.build_model("vae", seed=SEED)
    naive_model.compile(optimizer=models.make_optimizer(models.seed_schedule("vae")))
    timer = EpochTimer()
    start = time.perf_counter()
    naive_model.fit(
        x_train,
        x_train,
        batch_size=BATCH,
        epochs=epochs,
        validation_data=(x_test, x_test),
        verbose=0,
        callbacks=[timer],
    )
    naive_total = time.perf_counter() - start
    naive = timer.seconds

    # (b) the project's pipeline.
    print("(b) training.train_model ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_dataset(dataset, tmp / "gaussian.h5")
        hparams = (
            {**config["models"]["vae"], "epochs": epochs}
            if "models" in config
            else {
                "kind": "vae",
                "latent_dim": 3,
                "kl_reduction": "mean",
                "beta": 1.0,
                "epochs": epochs,
                "batch_size": BATCH,
                "schedule": models.seed_schedule("vae"),
            }
        )
        hparams["batch_size"] = BATCH
        start = time.perf_counter()
        training.train_model(
            tmp / "gaussian.h5", hparams, SEED, tmp / "m.keras", tmp / "h.csv", tmp / "backup"
        )
        project_total = time.perf_counter() - start
        project = [row["seconds"] for row in training.read_history(tmp / "h.csv")]
    for i, s in enumerate(project):
        print(f"    project epoch {i + 1}: {s:.1f} s")

    def summary(name: str, seconds: list[float], total: float) -> float:
        rate = n_train * len(seconds) / sum(seconds)
        steady = seconds[1:] or seconds
        steady_rate = n_train * len(steady) / sum(steady)
        overhead = statistics.mean(steady) - ceiling_epoch
        print(
            f"{name}: epochs {', '.join(f'{s:.1f}' for s in seconds)} s; "
            f"{rate:.0f} images/s over all epochs, "
            f"{steady_rate:.0f} images/s after the first (median epoch {statistics.median(seconds):.1f} s); "
            f"call total {total:.1f} s; {steady_rate / n_train * epoch_flops / 1e9:.1f} GFLOP/s = "
            f"{steady_rate / n_train * epoch_flops / 1e9 / peak:.0%} of the matmul rate; "
            f"{overhead:+.1f} s per epoch over the compute-only ceiling"
        )
        return rate

    naive_rate = summary("(a) naive  ", naive, naive_total)
    project_rate = summary("(b) project", project, project_total)
    print(f"speed-up of the project over naive: {project_rate / naive_rate:.2f}x (target >= 1.3x)")
    big = dict(per_layer)["encoder/conv1"] + dict(per_layer)["encoder/conv2"]
    print(
        "what dominates a step: the 3x3 convolutions on the 36x36 and 18x18 maps (conv1, conv2: "
        f"{big / forward:.0%} of the FLOPs), "
        "forward and backward; the input pipeline is a gather of 64 resident images. Time that is neither "
        "compute nor input is the epoch-end overhead (iterator teardown, validation set-up, backup save)."
    )


if __name__ == "__main__":
    main()
