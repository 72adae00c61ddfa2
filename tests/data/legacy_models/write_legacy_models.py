"""Writes the legacy model files that `tests/test_legacy_models.py` loads: two tiny dense models trained for
two epochs, and what they predicted when written (see README.md for the commit that wrote them).

Run from the repository root: `python tests/data/legacy_models/write_legacy_models.py`.
"""

from pathlib import Path

import keras
import numpy as np

from vae_latent_study.models import autoencoders, build, inference

HERE = Path(__file__).resolve().parent

#: A dense VAE with every custom layer a dense model can have: Standardise, SeededDropout, Sampling,
#: LogVariance (with a rate), batch norm, an activity regulariser and a leaky relu.
VAE_OPTIONS = {
    "kind": "vae",
    "latent_dim": 2,
    "architecture": "dense",
    "sampler": "log_var",
    "standardise": True,
    "likelihood": {"type": "gaussian", "variance": "per_feature", "log_var_rate": 2.0},
    "encoder": {
        "trunk": [
            {"type": "batch_norm"},
            {"type": "dense", "units": 8, "activation": "relu", "activity_l2": "l2"},
            {"type": "dropout", "rate": 0.2},
        ]
    },
    "decoder": {"trunk": [{"type": "dense", "units": 8}, {"type": "leaky_relu"}]},
}
#: A conditional dense AE whose layers run in inference mode while training.
AE_OPTIONS = {
    "kind": "ae",
    "latent_dim": 2,
    "architecture": "dense",
    "likelihood": {"type": "squared_error"},
    "conditional": "colour",
    "layers_while_training": "inference",
    "encoder": {
        "trunk": [{"type": "dense", "units": 8, "activation": "tanh"}, {"type": "dense", "units": 2}]
    },
    "decoder": {"trunk": [{"type": "dense", "units": 8, "activation": "tanh"}]},
}
CONDITION = {"factor": "colour", "values": [0.0, 1.0, 2.0]}
FEATURES = 4


def data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(1.0, 2.0, size=(n, FEATURES)).astype("float32"), rng.integers(0, 3, size=n)


def write(name: str, options: dict, condition: dict | None) -> None:
    keras.utils.set_random_seed(0)
    model = build.build_model_from_options(options, (FEATURES,), seed=5, condition=condition)
    x, labels = data(1, 48)
    if options.get("standardise"):
        autoencoders.set_standardisation(model, x)
    model.compile(optimizer=build.make_optimizer({"type": "exponential_decay", "decay_steps": 3}))
    inputs = x if condition is None else (x, autoencoders.one_hot(labels, 3, len(x)))
    model.fit(
        inputs if condition is None else list(inputs), batch_size=16, epochs=2, shuffle=False, verbose=0
    )
    path = HERE / f"{name}.keras"
    model.save(path)
    loaded = inference.load_model(path)
    probe, probe_labels = data(2, 6)
    label = None if condition is None else probe_labels
    codes = np.random.default_rng(3).normal(size=(6, 2)).astype("float32")
    expected = {f"encode_{k}": v for k, v in inference.encode(loaded, probe, label=label).items()}
    expected["decode"] = inference.decode(loaded, codes, label=label)
    if options["kind"] == "vae":
        expected["decode_log_variance"] = inference.decode_log_variance(loaded, codes)
    np.savez(HERE / f"{name}.npz", probe=probe, probe_labels=probe_labels, codes=codes, **expected)


if __name__ == "__main__":
    write("dense_vae", VAE_OPTIONS, None)
    write("conditional_dense_ae", AE_OPTIONS, CONDITION)
