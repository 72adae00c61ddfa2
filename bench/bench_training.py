"""Training throughput of seed 000's VAE and AE in float32 and mixed bfloat16, side by side, in one run.

Run: `python bench/bench_training.py [--epochs 3] [--models vae ae]` (about 8 minutes on 2 idle cores).
Run it on a machine at rest: every figure is a wall-clock rate.

For each model, on the real Gaussian heatmaps (9,500 training / 2,375 test images, batch 64):

(a) naive: the seed's cell, `model.fit(x_train, x_train, batch_size=64, validation_data=(x_test, x_test))`
    on NumPy arrays, float32;
(b) project float32: `training.train_model` (tf.data without autotuning, per-epoch seeded shuffle,
    validation, backups, op determinism), the same model, seed, batch size and epochs;
(c) project bfloat16: the same with `precision: mixed_bfloat16`.

Throughput is training images per second of wall-clock epoch time, validation included, in steady state
(epochs after the first, which traces the step functions). Each steady epoch is split into its training
steps, its validation pass and the epoch-end callbacks (history, console line, backup), from callback
timestamps. Also printed: the float32 and bfloat16 matmul rates of the machine (2048 x 2048), each
training's analytic GFLOP/s and its share of the matmul rate of its own precision, the TensorFlow start
(import, first build and first epoch's tracing), the compute-only ceiling of a step on a resident batch,
and a per-layer profile of one step (forward + backward of each layer alone) in both precisions.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from vae_latent_study.config import validate_config
from vae_latent_study.datasets import build_dataset, write_dataset
from vae_latent_study.models import build
from vae_latent_study.training import train

REPO = Path(__file__).resolve().parents[1]
SEED = 19
BATCH = 64
PRECISIONS = ("float32", "mixed_bfloat16")


def _best_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_rates(n: int = 2048, repeats: int = 10) -> dict[str, float]:
    """Best GFLOP/s of an n x n TensorFlow matmul in float32 and in bfloat16."""
    rng = np.random.default_rng(0)
    a, b = (tf.constant(rng.standard_normal((n, n), dtype=np.float32)) for _ in range(2))
    out = {}
    for dtype in ("float32", "bfloat16"):
        x, y = tf.cast(a, dtype), tf.cast(b, dtype)
        out[dtype] = 2.0 * n**3 / _best_seconds(lambda x=x, y=y: tf.matmul(x, y).numpy(), repeats) / 1e9
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


class EpochParts(keras.callbacks.Callback):
    """Per epoch: seconds of the training steps, of the validation pass and of the epoch-end callbacks
    that run before this one (pass it last)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, float]] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._begin = time.perf_counter()
        self._last_batch = self._test_begin = self._test_end = None

    def on_train_batch_end(self, batch, logs=None):
        self._last_batch = time.perf_counter()

    def on_test_begin(self, logs=None):
        self._test_begin = time.perf_counter()

    def on_test_end(self, logs=None):
        self._test_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        end = time.perf_counter()
        test_begin = self._test_begin or self._last_batch
        test_end = self._test_end or self._last_batch
        self.rows.append(
            {
                "total": end - self._begin,
                "train": test_begin - self._begin,
                "validation": test_end - test_begin,
                "epoch_end": end - test_end,
            }
        )


def hparams_for(config: dict, kind: str, epochs: int, precision: str) -> dict:
    hparams = {**config["models"][kind], "epochs": epochs, "batch_size": BATCH}
    hparams.pop("epochs_per_dataset", None)
    if precision != "float32":
        hparams["precision"] = precision
    return hparams


def run_naive(kind: str, x_train: np.ndarray, x_test: np.ndarray, epochs: int) -> list[dict[str, float]]:
    keras.utils.set_random_seed(SEED)
    model = build.build_model(kind, seed=SEED)
    model.compile(
        optimizer=build.make_optimizer({"type": "exponential_decay" if kind == "vae" else "constant"})
    )
    parts = EpochParts()
    model.fit(
        x_train,
        x_train,
        batch_size=BATCH,
        epochs=epochs,
        validation_data=(x_test, x_test),
        verbose=0,
        callbacks=[parts],
    )
    return parts.rows


def run_project(dataset_path: Path, hparams: dict, tmp: Path) -> tuple[list[dict[str, float]], float]:
    parts = EpochParts()
    out = tmp / f"{hparams['kind']}_{hparams.get('precision', 'float32')}"
    start = time.perf_counter()
    train.train_model(
        dataset_path,
        hparams,
        SEED,
        out / "m.keras",
        out / "h.csv",
        out / "backup",
        callbacks=[parts],
        console=open("/dev/null", "w"),  # noqa: SIM115 - the bench prints its own lines
    )
    return parts.rows, time.perf_counter() - start


def step_ceilings(kind: str, precision: str, x: np.ndarray, steps: int = 30) -> tuple[float, float]:
    """Images/s of `train_on_batch` and `test_on_batch` on one resident batch: the compute-only ceilings
    of a training and a validation step (no input pipeline, no epoch boundaries)."""
    model = build.build_model_from_options({"kind": kind, "precision": precision}, x.shape[1:], seed=SEED)
    model.compile(
        optimizer=build.make_optimizer({"type": "exponential_decay" if kind == "vae" else "constant"}),
        jit_compile=False,
    )
    batch = tf.constant(x[:BATCH])
    rates = []
    for step in (model.train_on_batch, model.test_on_batch):
        seconds = _best_seconds(lambda step=step: [step(batch) for _ in range(steps)], 2)
        rates.append(steps * BATCH / seconds)
    return rates[0], rates[1]


def layer_profile(kind: str, precision: str, x: np.ndarray, repeats: int = 20) -> list[tuple[str, float]]:
    """Milliseconds of forward + backward (gradients w.r.t. the layer's input and weights) of each layer of
    one training step, alone, at batch 64, in a compiled `tf.function`: where a step's time goes."""
    model = build.build_model_from_options({"kind": kind, "precision": precision}, x.shape[1:], seed=SEED)
    out = []
    for net in (model.encoder, model.decoder):
        for layer in net.layers:
            if isinstance(layer, keras.layers.InputLayer) or isinstance(layer.input, list):
                continue
            shape = (BATCH, *layer.input.shape[1:])
            inputs = tf.cast(tf.random.stateless_uniform(shape, seed=(1, 2)), layer.compute_dtype)

            @tf.function
            def step(inputs=inputs, layer=layer):
                with tf.GradientTape() as tape:
                    tape.watch(inputs)
                    loss = tf.reduce_sum(tf.cast(layer(inputs, training=True), "float32"))
                return tape.gradient(loss, [inputs, *layer.trainable_variables])

            seconds = _best_seconds(lambda step=step: [g.numpy() for g in step() if g is not None], repeats)
            out.append((f"{net.name}/{layer.name}", 1e3 * seconds))
    return out


def tensorflow_import_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tensorflow"], check=True, capture_output=True)
    return time.perf_counter() - start


def steady(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    return rows[1:] or rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (the first is tracing)")
    parser.add_argument("--models", nargs="+", default=["vae", "ae"], choices=["vae", "ae"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)

    config = validate_config({}, REPO / "config" / "config.schema.yaml")
    dataset = build_dataset("gaussian", config["datasets"]["gaussian"])
    x_train = dataset.images[dataset.train][..., None].astype("float32")
    x_test = dataset.images[dataset.test][..., None].astype("float32")
    n_train, n_test = len(x_train), len(x_test)
    print(
        f"gaussian dataset: {n_train} train / {n_test} test images of 36x36, batch {BATCH}, {args.epochs} "
        f"epochs per run (steady state: epochs 2-{args.epochs}); TensorFlow {tf.__version__}, Keras "
        f"{keras.__version__}"
    )
    rates = matmul_rates()
    print(
        f"matmul 2048x2048: float32 {rates['float32']:.0f} GFLOP/s, bfloat16 {rates['bfloat16']:.0f} GFLOP/s "
        f"({rates['bfloat16'] / rates['float32']:.1f}x)"
    )
    print(
        f"TensorFlow start: `import tensorflow` in a fresh process takes {tensorflow_import_seconds():.1f} s"
    )

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_dataset(dataset, tmp / "gaussian.h5")
        for kind in args.models:
            per_layer = layer_flops(build.build_model(kind, seed=SEED))
            forward = sum(f for _, f in per_layer)
            # training: forward + gradients w.r.t. inputs and weights (~3x forward); validation: forward.
            epoch_flops = 3 * forward * n_train + forward * n_test
            print(f"\n== {kind.upper()}: forward {forward / 1e6:.1f} MFLOP per image, training step ~3x that")
            runs = {
                "(a) naive fit, float32": (run_naive(kind, x_train, x_test, args.epochs), None, "float32")
            }
            for precision in PRECISIONS:
                hparams = hparams_for(config, kind, args.epochs, precision)
                rows, total = run_project(tmp / "gaussian.h5", hparams, tmp)
                runs[f"({'b' if precision == 'float32' else 'c'}) project, {precision}"] = (
                    rows,
                    total,
                    precision,
                )
            for name, (rows, total, precision) in runs.items():
                rest = steady(rows)
                mean = {k: statistics.mean(r[k] for r in rest) for k in rest[0]}
                rate = n_train / mean["total"]
                matmul = rates["bfloat16" if precision == "mixed_bfloat16" else "float32"]
                gflops = epoch_flops / mean["total"] / 1e9
                first = rows[0]["total"]
                print(
                    f"{name:28s} {rate:5.0f} images/s steady ({mean['total']:.1f} s per epoch: steps "
                    f"{mean['train']:.1f}, validation {mean['validation']:.1f}, "
                    f"epoch end {mean['epoch_end']:.2f}); "
                    f"first epoch {first:.1f} s{f', call {total:.1f} s' if total else ''}; "
                    f"{gflops:.0f} GFLOP/s = {gflops / matmul:.0%} of the {precision.replace('mixed_', '')} "
                    "matmul rate"
                )
                results[(kind, name)] = rate
            naive, f32, bf16 = (results[(kind, name)] for name in runs)
            print(
                f"{kind}: bfloat16 / float32 pipeline {bf16 / f32:.2f}x (target >= 2x, aim 3x); "
                f"float32 pipeline / naive {f32 / naive:.2f}x"
            )
            ceilings = {p: step_ceilings(kind, p, x_train) for p in PRECISIONS}
            for precision in PRECISIONS:
                train_rate, test_rate = ceilings[precision]
                print(
                    f"  compute-only ceiling, {precision}: train_on_batch {train_rate:.0f} images/s, "
                    f"test_on_batch {test_rate:.0f} images/s (an epoch cannot take less than "
                    f"{n_train / train_rate + n_test / test_rate:.1f} s)"
                )
            profiles = {p: layer_profile(kind, p, x_train) for p in PRECISIONS}
            print("  per-layer forward + backward at batch 64, ms (float32 / bfloat16), largest first:")
            by_name = {name: ms for name, ms in profiles["float32"]}
            for name, ms in sorted(profiles["mixed_bfloat16"], key=lambda item: -by_name[item[0]]):
                print(f"    {name:22s} {by_name[name]:7.2f} / {ms:7.2f}  ({by_name[name] / ms:.1f}x)")
            for p in PRECISIONS:
                total = sum(ms for _, ms in profiles[p])
                print(
                    f"  sum of layers, {p}: {total:.1f} ms per step; the rest of a step (loss, optimizer "
                    f"update, casts, dispatch) is {1e3 * BATCH / ceilings[p][0] - total:.1f} ms"
                )

    print("\nsteady-state images/s, side by side:")
    print(f"  {'model':6s} {'naive fit':>10s} {'float32':>10s} {'bfloat16':>10s} {'bf16/f32':>9s}")
    for kind in args.models:
        naive, f32, bf16 = (results[(k, name)] for k, name in results if k == kind)
        print(f"  {kind:6s} {naive:10.0f} {f32:10.0f} {bf16:10.0f} {bf16 / f32:8.2f}x")


if __name__ == "__main__":
    main()
