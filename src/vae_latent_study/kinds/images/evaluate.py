"""The evaluation of one model on an `images` dataset (seed 001): its losses beside the seed's, the lowest
cross-entropy any model can reach, and how well its 2-d code separates the classes beside a 2-d PCA.

`evaluate_images` is the workflow's per-run job; it writes `results/evaluation/{dataset}/{model}/
seed{seed}/images.json`. Every number is in nats (Keras's binary cross-entropy uses the natural log).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_latent_study.evaluation.probes import knn_probe

if TYPE_CHECKING:
    from vae_latent_study.evaluation.runner import Context

logger = logging.getLogger(__name__)

#: Keras's binary cross-entropy clips predictions into [EPSILON, 1 - EPSILON] (keras.config.epsilon()).
EPSILON = 1e-7


def binary_entropy(x: np.ndarray) -> np.ndarray:
    """Per-pixel binary entropy -x log x - (1 - x) log(1 - x) in nats, 0 at 0 and 1: the cross-entropy of
    a pixel against itself, the lowest binary cross-entropy any reconstruction of it can reach."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = -(x * np.log(x) + (1 - x) * np.log1p(-x))
    return np.where((x <= 0) | (x >= 1), 0.0, terms)


def binary_cross_entropy(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per-pixel binary cross-entropy of targets `x` against predictions `p`, clipped as Keras clips."""
    x = np.asarray(x, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), EPSILON, 1 - EPSILON)
    return -(x * np.log(p) + (1 - x) * np.log1p(-p))


def entropy_limit(images: np.ndarray) -> float:
    """The mean per-pixel binary entropy of `images`: the floor of every model's mean per-pixel BCE."""
    return float(binary_entropy(images).mean())


def likelihood_bounds(
    model: Any, images: np.ndarray, k: int, seed: int, label: np.ndarray | None = None
) -> dict[str, float]:
    """Lower bounds on log p(x) of a VAE, in nats per image, averaged over `images` (n, h, w, 1).

    The likelihood is the one the model trains on: Bernoulli per pixel, applied to the gray levels in
    [0, 1] (so not a normalised density of continuous pixels), with Keras's clipping of the decoded
    probabilities. q(z|x) is the Gaussian the sampler draws from (sigma = exp(h / 2) for `log_var`,
    exp(h) for seed 000's `log_sigma`), the prior N(0, I). With `k` draws z_1..z_k ~ q per image, seeded:
    `elbo` = mean_j log p(x|z_j) - KL(q || p), the KL in closed form (beta = 1); `elbo_mc` the same from
    the draws' log weights; `iwae` = log (1/k) sum_j p(x|z_j) p(z_j) / q(z_j|x) (Burda et al.), which is
    at least `elbo_mc` by Jensen's inequality for every image. A conditional model takes each image's
    `label` (`models.label_indices`), with which it is encoded and decoded: the bounds are then on
    log p(x | y).
    """
    from scipy.special import logsumexp

    from vae_latent_study.models import inference

    codes = inference.encode(model, images, label=label)
    mu = np.asarray(codes["z_mean"], dtype=np.float64)
    h = np.asarray(codes[model.scale_key], dtype=np.float64)
    sigma = np.exp(0.5 * h) if model.sampler == "log_var" else np.exp(h)
    eps = np.random.default_rng(int(seed)).standard_normal((int(k), *mu.shape))
    z = mu + sigma * eps
    labels = None if label is None else np.tile(np.broadcast_to(np.asarray(label), (len(images),)), int(k))
    decoded = inference.decode(model, z.reshape(-1, mu.shape[1]).astype(np.float32), label=labels)
    decoded = decoded.reshape(int(k), len(images), -1)
    x = np.asarray(images, dtype=np.float64).reshape(1, len(images), -1)
    log_px_z = -binary_cross_entropy(x, decoded).sum(axis=-1)  # (k, n)
    log_pz = -0.5 * (z**2 + np.log(2 * np.pi)).sum(axis=-1)
    log_qz = -0.5 * (eps**2 + np.log(2 * np.pi)).sum(axis=-1) - np.log(sigma).sum(axis=-1)
    log_w = log_px_z + log_pz - log_qz
    kl = 0.5 * (mu**2 + sigma**2 - 1.0 - 2.0 * np.log(sigma)).sum(axis=-1)
    iwae = logsumexp(log_w, axis=0) - np.log(int(k))
    elbo_mc = log_w.mean(axis=0)
    return {
        "elbo": float((log_px_z.mean(axis=0) - kl).mean()),
        "elbo_mc": float(elbo_mc.mean()),
        "iwae": float(iwae.mean()),
        "kl": float(kl.mean()),
        "reconstruction_log_likelihood": float(log_px_z.mean()),
        "iwae_minus_elbo_mc_min": float((iwae - elbo_mc).min()),
        "k": int(k),
        "n_images": int(len(images)),
        "likelihood": "Bernoulli per pixel on gray levels in [0, 1] (the training loss's), nats per image",
    }


#: Codes whose bounding box the seed drew its AE samples from: the first 5,000 test images' codes.
BOX_CODES = 5000
#: Components of the Gaussian mixture fitted to the training codes (one per class, a natural choice).
GMM_COMPONENTS = 10
#: Side of the decoded grid over the code plane.
GRID_SIDE = 15


def sample_codes(
    codes_train: np.ndarray, codes_test: np.ndarray, n: int, seed: int, prior: bool
) -> dict[str, np.ndarray]:
    """Latent points to decode, by sampler: `box`, uniform in the bounding box of the first BOX_CODES test
    codes (seed 001's AE samples); `gmm`, from a scikit-learn GaussianMixture fitted to the training codes;
    and with `prior`, `prior` from N(0, I) (the VAE's)."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng([int(seed), 7_123])
    box = codes_test[:BOX_CODES]
    out = {"box": rng.uniform(box.min(axis=0), box.max(axis=0), size=(n, box.shape[1]))}
    gmm = GaussianMixture(n_components=GMM_COMPONENTS, random_state=int(seed)).fit(codes_train)
    out["gmm"] = gmm.sample(n)[0]
    if prior:
        out["prior"] = rng.standard_normal((n, codes_train.shape[1]))
    return out


def code_grid(codes: np.ndarray, side: int = GRID_SIDE) -> np.ndarray:
    """A side x side grid over the plane of the first two code axes, spanning the codes' 1st to 99th
    percentiles (the other axes at their medians), row by row from the top."""
    lo, hi = np.percentile(codes[:, :2], [1, 99], axis=0)
    xs, ys = np.linspace(lo[0], hi[0], side), np.linspace(hi[1], lo[1], side)
    grid = np.tile(np.median(codes, axis=0), (side * side, 1))
    grid[:, 0] = np.tile(xs, side)
    grid[:, 1] = np.repeat(ys, side)
    return grid


def _plot_figures(
    figures: Mapping[str, str | Path],
    codes: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    decode: Any,
    x_test: np.ndarray,
    reconstruction: np.ndarray,
    samples: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    title: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vae_latent_study.plots import save_figure

    shown = codes[:BOX_CODES]
    fig, ax = plt.subplots(figsize=(8, 8))
    for c, name in enumerate(class_names):
        rows = labels[:BOX_CODES] == c
        ax.scatter(shown[rows, 0], shown[rows, 1], s=3, alpha=0.6, color=plt.cm.tab10(c % 10), label=name)
    ax.legend(markerscale=4, fontsize=8, loc="best")
    ax.set_xlabel("z0")
    ax.set_ylabel("z1")
    ax.set_title(f"Codes of the first {len(shown)} test images, by class ({title})")
    save_figure(fig, figures["embedding"])
    plt.close(fig)

    grid = decode(code_grid(codes))[..., 0]
    fig, axes = plt.subplots(GRID_SIDE, GRID_SIDE, figsize=(10, 10))
    for image, ax in zip(grid, axes.flat, strict=True):
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=1)
        ax.axis("off")
    fig.suptitle(
        f"Decoded {GRID_SIDE}x{GRID_SIDE} grid over the code plane, 1st to 99th percentiles ({title})"
    )
    save_figure(fig, figures["grid"])
    plt.close(fig)

    rows = list(samples.items())
    cols = 12
    fig, axes = plt.subplots(len(rows), cols, figsize=(cols * 1.1, len(rows) * 1.5), squeeze=False)
    for r, (name, (images, predicted, confidence)) in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(images[c, ..., 0], cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(f"{class_names[predicted[c]][:8]} {confidence[c]:.2f}", fontsize=6)
            ax.axis("off")
        axes[r, 0].text(-0.3, 0.5, name, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=9)
    fig.suptitle(f"Decoded samples by sampler, with the classifier's label and confidence ({title})")
    save_figure(fig, figures["samples"])
    plt.close(fig)

    fig, axes = plt.subplots(2, 10, figsize=(11, 2.6))
    for c in range(10):
        axes[0, c].imshow(x_test[c, ..., 0], cmap="gray_r", vmin=0, vmax=1)
        axes[1, c].imshow(reconstruction[c, ..., 0], cmap="gray_r", vmin=0, vmax=1)
        axes[0, c].axis("off")
        axes[1, c].axis("off")
    fig.suptitle(f"Test images (top) and their reconstructions from the mean code ({title})")
    save_figure(fig, figures["reconstructions"])
    plt.close(fig)


def _pixel_probe(path: str | Path, knn_k: list[int], cv_folds: int) -> dict[str, Any]:
    """The dataset's pixel probe (`pixels.pixel_probe`, rule `probe_pixels`), checked to have the settings
    of this evaluation's own probe."""
    from vae_latent_study.io import ProjectFileError, read_json

    found = read_json(path)
    settings = found.get("settings", {})
    if settings.get("k_grid") != knn_k or settings.get("cv_folds") != cv_folds:
        raise ProjectFileError(path, f"made with other probe settings ({settings}); expected knn_k {knn_k}")
    return found["knn_class_pca2"]


def _last_row(history_path: str | Path) -> dict[str, float | None]:
    from vae_latent_study.training.history import read_history

    rows = read_history(history_path)
    return dict(rows[-1]) if rows else {}


def evaluate_images(ctx: Context) -> dict[str, Any]:
    """The images evaluation of one trained model (`images.json`, written by `evaluation.runner`), with its
    `evaluation` settings (`knn_k`, `cv_folds`, `iwae_k`, `iwae_images`, `samples`).

    - `final`: the last history row (the seed printed its last epoch's training losses; `val_*` are the
      test split's);
    - `entropy_limit`: the test images' mean per-pixel binary entropy, and each model's excess over it:
      `bce_mean_code` (decoding z_mean, or the AE's code) and, for a VAE, `bce_sampled_code` (one draw);
    - `knn_class`: `probes.knn_probe` of the class on the test codes (trained on the training codes), and
      `knn_class_pca2` the same probe on a 2-d PCA of the pixels (the dataset's, made once by rule
      `probe_pixels`: `kinds.images.pixels`, read from the `pixel_probe` input); `knn_gain_over_pca2` is
      the accuracy difference (`settings`: `knn_k` [lo, hi], `cv_folds`);
    - `bounds` (VAE): `likelihood_bounds` on the first `iwae_images` test images with `iwae_k` draws;
    - `sample_quality`: per sampler of `sample_codes` (`samples` points each), the share of decoded samples
      the classifier (`classifier.train_classifier`) labels with confidence >= 0.8;
    - `figures`: `embedding`, `grid`, `samples`, `reconstructions` (PNGs).
    """
    from vae_latent_study.models import autoencoders, inference
    from vae_latent_study.training.inputs import model_inputs

    settings, figures, seed = ctx.settings, ctx.outputs, ctx.seed
    dataset_name, model_name = ctx.dataset_name, ctx.model_name
    classifier_path, history_path = ctx.input("classifier"), ctx.input("history")
    model = inference.load_model(ctx.input("model"), compile=False)
    dataset = ctx.dataset
    labels = dataset.factors[:, dataset.factor_names.index(dataset.label or "class")]
    x_train, x_test = model_inputs(dataset.x[dataset.train]), model_inputs(dataset.x[dataset.test])
    codes_train = inference.encode(model, x_train)
    codes_test = inference.encode(model, x_test)
    key = "z_mean" if isinstance(model, autoencoders.VAE) else "code"
    limit = entropy_limit(x_test)
    reconstruction = {"bce_mean_code": inference.decode(model, codes_test[key])}
    if isinstance(model, autoencoders.VAE):
        reconstruction["bce_sampled_code"] = inference.decode(model, codes_test["z"])
    bce = {
        name: float(binary_cross_entropy(x_test, images).mean()) for name, images in reconstruction.items()
    }

    lo, hi = settings["knn_k"]
    grid = range(int(lo), int(hi) + 1)
    folds = int(settings["cv_folds"])
    train_labels, test_labels = labels[dataset.train], labels[dataset.test]
    knn = knn_probe(codes_train[key], train_labels, codes_test[key], test_labels, k_grid=grid, cv=folds)
    knn_pca = _pixel_probe(ctx.input("pixel_probe"), [int(lo), int(hi)], folds)

    bounds = None
    if isinstance(model, autoencoders.VAE):
        n_bound = min(int(settings["iwae_images"]), len(x_test))
        bounds = likelihood_bounds(model, x_test[:n_bound], int(settings["iwae_k"]), seed=int(seed))

    import keras

    from vae_latent_study.io import reading
    from vae_latent_study.kinds.images.classifier import confident_share

    with reading(classifier_path):
        classifier = keras.models.load_model(classifier_path, compile=False)
    is_vae = isinstance(model, autoencoders.VAE)
    points = sample_codes(
        codes_train[key], codes_test[key], int(settings["samples"]), int(seed), prior=is_vae
    )
    quality, shown = {}, {}
    for name, latent in points.items():
        decoded = inference.decode(model, latent.astype(np.float32))
        probabilities = classifier.predict(decoded, batch_size=512, verbose=0)
        quality[name] = confident_share(probabilities)
        shown[name] = (decoded[:12], probabilities[:12].argmax(axis=1), probabilities[:12].max(axis=1))
    class_names = list(dataset.manifest.get("class_names") or [str(c) for c in range(int(labels.max()) + 1)])
    _plot_figures(
        figures,
        codes_test[key],
        test_labels.astype(np.int64),
        class_names,
        lambda c: inference.decode(model, c.astype(np.float32)),
        x_test,
        reconstruction["bce_mean_code"],
        shown,
        f"{model_name} on {dataset_name}, seed {seed}",
    )

    result = {
        "final": _last_row(history_path),
        "entropy_limit": {
            "nats_per_pixel": limit,
            **{name: value for name, value in bce.items()},
            **{f"excess_{name[4:]}": value - limit for name, value in bce.items()},
        },
        "knn_class": {k: v for k, v in knn.items() if not isinstance(v, list | dict)},
        "knn_class_pca2": {k: v for k, v in knn_pca.items() if not isinstance(v, list | dict)},
        "knn_gain_over_pca2": float(knn["test_accuracy"] - knn_pca["test_accuracy"]),
        **({"bounds": bounds} if bounds is not None else {}),
        "sample_quality": quality,
        "settings": {
            "knn_k": [int(lo), int(hi)],
            "cv_folds": folds,
            "codes": f"test {key}",
            "iwae_k": int(settings["iwae_k"]),
            "iwae_images": int(settings["iwae_images"]),
            "samples": int(settings["samples"]),
            "classifier": str(classifier_path),
        },
        "source": {k: dataset.manifest.get(k) for k in ("source", "origin", "arrays_sha256")},
    }
    logger.info(
        "%s on %s, seed %d: KNN class accuracy %.3f (PCA-2 %.3f); BCE excess %.4f nats per pixel",
        model_name,
        dataset_name,
        seed,
        knn["test_accuracy"],
        knn_pca["test_accuracy"],
        bce["bce_mean_code"] - limit,
    )
    return result
