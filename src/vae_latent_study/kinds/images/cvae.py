"""The evaluation of a conditional VAE on an `images` dataset (seed 003's CVAE on MNIST): does a decode show
the digit it was asked for, does the code keep the style and not the label, and what the label is worth in
nats beside the same VAE without it.

`evaluate_cvae` is the workflow's per-run job for a conditional model; it writes `results/evaluation/
{dataset}/{model}/seed{seed}/cvae.json` and the seed's figures. The measures are plain functions of arrays
(image moments, requested-label shares, a linear probe), tested on known answers without a trained model.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from vae_latent_study.evaluation.runner import Context

logger = logging.getLogger(__name__)

#: The issue's targets for the requested-label accuracy (style transfers and prior samples alike).
TARGET_OVERALL = 0.95
TARGET_PER_LABEL = 0.85
#: The seed's style-transfer figure: the first ten test images of this digit, re-decoded as every digit.
STYLE_SOURCE_LABEL = 7
STYLE_SOURCES = 10
#: The seed's manifolds: a 15 x 15 grid over the first two code axes at norm.ppf(linspace(0.05, 0.95, 15)).
GRID_SIDE = 15


# ------------------------------------------------------------------------------------------ measures


def image_moments(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per image (n, h, w) or (n, h, w, 1) of intensities: `ink`, the sum of the pixels, and `slant`,
    mu11 / mu02 of the intensity moments with x the column and y the row (downwards): the columns a stroke
    moves per row down, so an upright bar has 0 and a stroke whose top leans right a negative slant. An
    image without ink, or whose ink lies in one row, has slant NaN."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"images must be (n, h, w) or (n, h, w, 1); got {images.shape}")
    rows = np.arange(images.shape[1], dtype=np.float64)[None, :, None]
    cols = np.arange(images.shape[2], dtype=np.float64)[None, None, :]
    ink = images.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        y_bar = (images * rows).sum(axis=(1, 2)) / ink
        x_bar = (images * cols).sum(axis=(1, 2)) / ink
        dy = rows - y_bar[:, None, None]
        dx = cols - x_bar[:, None, None]
        mu11 = (images * dx * dy).sum(axis=(1, 2))
        mu02 = (images * dy**2).sum(axis=(1, 2))
        slant = np.where(mu02 > 0, mu11 / mu02, np.nan)
    return {"ink": ink, "slant": slant}


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson's r of two samples over the pairs where both are finite (scipy); None with fewer than three
    pairs or a constant side."""
    from scipy.stats import pearsonr

    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return None
    return float(pearsonr(a[keep], b[keep]).statistic)


def requested_label_shares(predicted: np.ndarray, requested: np.ndarray, classes: int) -> dict[str, Any]:
    """How often the classifier's label `predicted` is the `requested` one: `overall`, `per_label` (by
    requested label, as strings "0".."K-1"), the lowest label's share `min_label`, and the issue's
    targets (`overall_target_met`: >= 95%; `per_label_target_met`: no label below 85%)."""
    predicted, requested = np.asarray(predicted).ravel(), np.asarray(requested).ravel()
    if predicted.shape != requested.shape:
        raise ValueError(f"{predicted.shape} predictions for {requested.shape} requests")
    hit = predicted == requested
    per_label = {str(c): float(hit[requested == c].mean()) for c in range(classes) if (requested == c).any()}
    lowest = min(per_label.values()) if per_label else None
    overall = float(hit.mean()) if len(hit) else None
    return {
        "n": int(len(hit)),
        "overall": overall,
        "per_label": per_label,
        "min_label": lowest,
        "overall_target_met": overall is not None and overall >= TARGET_OVERALL,
        "per_label_target_met": lowest is not None and lowest >= TARGET_PER_LABEL,
    }


def predicted_labels(classifier: Any, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """The classifier's most probable class of each image (anything with Keras's `predict`)."""
    probabilities = classifier.predict(images, batch_size=batch_size, verbose=0)
    return np.asarray(probabilities).argmax(axis=1)


def transfers(model: Any, x: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """Every source row of `x` (with its own `labels`) re-decoded as every label: (classes, n, ...), entry
    [t, i] the style transfer of source i to label t (`models.style_transfer`, from the mean code)."""
    from vae_latent_study.models import inference

    codes = inference.mean_code(model, x, label=labels)
    return np.stack([inference.decode(model, codes, label=t) for t in range(classes)])


def transfer_accuracy(classifier: Any, decoded: np.ndarray, source_labels: np.ndarray) -> dict[str, Any]:
    """`requested_label_shares` of style transfers `decoded` (classes, n, ...) (`transfers`), over every
    (source, target) pair, plus `other_labels`: the share over the pairs whose target is not the source's
    own label (the transfers proper, reconstructions left out)."""
    classes, n = decoded.shape[:2]
    predicted = predicted_labels(classifier, decoded.reshape(classes * n, *decoded.shape[2:]))
    requested = np.repeat(np.arange(classes), n)
    shares = requested_label_shares(predicted, requested, classes)
    other = requested != np.tile(np.asarray(source_labels), classes)
    shares["other_labels"] = float((predicted == requested)[other].mean()) if other.any() else None
    return shares


def prior_accuracy(
    model: Any, classifier: Any, n_per_label: int, latent_dim: int, classes: int, seed: int
) -> tuple[dict[str, Any], np.ndarray]:
    """`requested_label_shares` of `n_per_label` prior draws z ~ N(0, I) decoded with each label (the same
    draws for every label, seeded), and the decoded images (classes, n, ...)."""
    from vae_latent_study.models import inference

    z = np.random.default_rng([int(seed), 3_003]).standard_normal((n_per_label, latent_dim)).astype("float32")
    decoded = np.stack([inference.decode(model, z, label=t) for t in range(classes)])
    predicted = predicted_labels(classifier, decoded.reshape(classes * n_per_label, *decoded.shape[2:]))
    requested = np.repeat(np.arange(classes), n_per_label)
    return requested_label_shares(predicted, requested, classes), decoded


def linear_probe(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
) -> dict[str, float]:
    """A linear probe of the label from codes: scikit-learn's LogisticRegression (on standardised codes)
    fitted on the training codes, its accuracy on the test codes; `chance`, the test share of the most
    common training label (what a constant guess scores)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(np.asarray(train_codes, dtype=np.float64), np.asarray(train_labels))
    accuracy = float(probe.score(np.asarray(test_codes, dtype=np.float64), np.asarray(test_labels)))
    values, counts = np.unique(train_labels, return_counts=True)
    chance = float(np.mean(np.asarray(test_labels) == values[counts.argmax()]))
    return {
        "test_accuracy": accuracy,
        "train_accuracy": float(probe.score(train_codes, train_labels)),
        "chance": chance,
    }


def style_correlations(sources: np.ndarray, decoded: np.ndarray) -> dict[str, Any]:
    """Pearson's r between each source's moments (`image_moments`) and those of its transfers `decoded`
    (classes, n, ...): per moment, `per_target` (by target label) and `overall` (every pair pooled)."""
    source = image_moments(sources)
    moments = [image_moments(images) for images in decoded]
    out: dict[str, Any] = {}
    for name in ("ink", "slant"):
        per_target = {str(t): pearson(source[name], m[name]) for t, m in enumerate(moments)}
        pooled = pearson(np.tile(source[name], len(moments)), np.concatenate([m[name] for m in moments]))
        out[name] = {"overall": pooled, "per_target": per_target}
    return out


def label_information_bound(train_labels: np.ndarray, labels: np.ndarray) -> float:
    """The mean over `labels` of -log p(y), p(y) the label's share of the training split: the most a
    label can add to log p(x) on average, log p(x | y) - log p(x) = log p(y | x) - log p(y) <= -log p(y)
    (log 10 = 2.303 nats for ten balanced classes)."""
    values, counts = np.unique(np.asarray(train_labels), return_counts=True)
    share = dict(zip(values.tolist(), (counts / counts.sum()).tolist(), strict=True))
    return float(np.mean([-math.log(share[v]) for v in np.asarray(labels).tolist()]))


# ------------------------------------------------------------------------------------------- figures


def manifold_codes(latent_dim: int, side: int = GRID_SIDE) -> np.ndarray:
    """The seed's grid: side x side codes over the first two axes at norm.ppf(linspace(0.05, 0.95, side)),
    row i at grid_x[i] on axis 1 and column j at grid_y[j] on axis 0 (the seed's `draw_manifold`), the
    other axes 0."""
    from scipy.stats import norm

    grid = norm.ppf(np.linspace(0.05, 0.95, side))
    codes = np.zeros((side * side, latent_dim), dtype=np.float32)
    codes[:, 0] = np.tile(grid, side)
    codes[:, 1] = np.repeat(grid, side)
    return codes


def _tile(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(rows * cols, h, w[, 1]) images as one (rows h, cols w) array, row by row."""
    images = np.asarray(images)[..., 0] if np.asarray(images).ndim == 4 else np.asarray(images)
    h, w = images.shape[1:]
    return images.reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w)


def _plot_figures(
    figures: Mapping[str, str | Path],
    model: Any,
    x_test: np.ndarray,
    test_labels: np.ndarray,
    z_test: np.ndarray,
    class_names: Sequence[str],
    title: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vae_latent_study.models import inference
    from vae_latent_study.plots import save_figure

    classes = len(class_names)
    # Style transfer: the first ten test 7s (left), re-decoded as every digit.
    rows = np.flatnonzero(test_labels == STYLE_SOURCE_LABEL)[:STYLE_SOURCES]
    decoded = transfers(model, x_test[rows], test_labels[rows], classes)  # (classes, n, ...)
    fig, axes = plt.subplots(len(rows), classes + 1, figsize=(1.1 * (classes + 1), 1.1 * len(rows) + 0.6))
    axes = np.atleast_2d(axes)
    for i in range(len(rows)):
        for j, image in enumerate([x_test[rows[i]], *decoded[:, i]]):
            ax = axes[i, j]
            ax.imshow(np.asarray(image)[..., 0], cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title("source" if j == 0 else class_names[j - 1], fontsize=9)
    fig.suptitle(f"Style transfer: the first {len(rows)} test {STYLE_SOURCE_LABEL}s as every digit ({title})")
    save_figure(fig, figures["style_transfer"])
    plt.close(fig)

    # Per-label manifolds over the first two code axes, the other axes 0.
    codes = manifold_codes(z_test.shape[1])
    fig, axes = plt.subplots(2, math.ceil(classes / 2), figsize=(4 * math.ceil(classes / 2), 8.4))
    for c, ax in zip(range(classes), axes.flat, strict=False):
        ax.imshow(
            _tile(inference.decode(model, codes, label=c), GRID_SIDE, GRID_SIDE),
            cmap="gray_r",
            vmin=0,
            vmax=1,
        )
        ax.set_title(f"label {class_names[c]}")
        ax.axis("off")
    fig.suptitle(
        f"Decoded {GRID_SIDE}x{GRID_SIDE} grids over z0, z1 at norm.ppf(linspace(0.05, 0.95)), other axes 0 "
        f"({title})"
    )
    save_figure(fig, figures["manifolds"])
    plt.close(fig)

    # The code of each label's test images, z_mean axes 0 and 1, on the seed's (-5, 5) square.
    fig, axes = plt.subplots(2, math.ceil(classes / 2), figsize=(3.2 * math.ceil(classes / 2), 6.8))
    circle = np.linspace(0, 2 * np.pi, 200)
    for c, ax in zip(range(classes), axes.flat, strict=False):
        own = z_test[test_labels == c]
        ax.scatter(z_test[:, 0], z_test[:, 1], s=2, color="0.85", linewidths=0)
        ax.scatter(own[:, 0], own[:, 1], s=4, color=plt.cm.tab10(c % 10), linewidths=0)
        ax.plot(2 * np.cos(circle), 2 * np.sin(circle), color="0.4", linewidth=0.6, linestyle="--")
        ax.set(xlim=(-5, 5), ylim=(-5, 5), aspect="equal", title=f"label {class_names[c]}")
        ax.tick_params(labelsize=7)
    fig.suptitle(f"z_mean axes 0, 1 of the test images by label, all in grey, 2 sd dashed ({title})")
    save_figure(fig, figures["code_distribution"])
    plt.close(fig)

    # Reconstructions from the mean code with the own label (the seed's comparison of ten test images).
    shown = np.arange(min(10, len(x_test)))
    reconstruction = inference.reconstruct(model, x_test[shown], label=test_labels[shown])
    fig, axes = plt.subplots(2, len(shown), figsize=(1.1 * len(shown), 2.6), squeeze=False)
    for c in shown:
        for r, image in enumerate((x_test[c], reconstruction[c])):
            axes[r, c].imshow(np.asarray(image)[..., 0], cmap="gray_r", vmin=0, vmax=1)
            axes[r, c].axis("off")
    fig.suptitle(f"Test images (top) and their reconstructions from z_mean, own label ({title})")
    save_figure(fig, figures["reconstructions"])
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- job


def _bounds(model: Any, x: np.ndarray, labels: np.ndarray | None, k: int, seed: int) -> dict[str, Any]:
    from vae_latent_study.kinds.images.evaluate import likelihood_bounds

    return likelihood_bounds(model, x, k, seed, label=labels)


def evaluate_cvae(ctx: Context) -> dict[str, Any]:
    """Seed 003's evaluation of one trained conditional VAE (`cvae.json`, written by `evaluation.runner`)
    and its figures, with its `evaluation` settings (`iwae_k`, `iwae_images`, `samples`).

    - `requested_label`: the share of decodes the classifier (`classifier.train_classifier`) labels as the
      label they were decoded with: `transfer`, every test image re-decoded (from z_mean) as every label;
      `prior`, `samples` draws of N(0, I) decoded with each label; with the targets;
    - `probe`: a linear probe (`linear_probe`) of the label from z_mean, the CVAE's and its unconditional
      twin's (input `twin`, the model with the same settings but no label; none: null);
    - `style`: Pearson's r of each test source's ink and slant (`image_moments`) with its transfers';
    - `elbo`: the beta = 1 ELBO and the IWAE bound (`images_evaluation.likelihood_bounds`, nats per image,
      `iwae_k` draws on the first `iwae_images` test images) of the CVAE's log p(x | y) and of the twin's
      log p(x), their gaps, and the check gap <= `label_information` (-log p(y), log 10 for ten balanced
      labels), with the CVAE's bound on log p(x) as a mixture over the labels, ELBO + log p(y);
    - `final`: the last history row; `classifier`: its test accuracy.
    """
    import keras

    from vae_latent_study.io import reading
    from vae_latent_study.kinds.images.evaluate import _last_row
    from vae_latent_study.models import autoencoders, inference
    from vae_latent_study.training.inputs import model_inputs

    settings, figures, seed = ctx.settings, ctx.outputs, ctx.seed
    dataset_name, model_name = ctx.dataset_name, ctx.model_name
    model_path, history_path = ctx.input("model"), ctx.input("history")
    classifier_path, twin_path = ctx.input("classifier"), ctx.input("twin")
    model = inference.load_model(model_path, compile=False)
    if not isinstance(model, autoencoders.VAE) or model.condition is None:
        raise ValueError(f"{model_path}: evaluate_cvae takes a conditional VAE")
    dataset = ctx.dataset
    values = dataset.factor(model.condition["factor"])
    labels = autoencoders.label_indices(model, values)
    classes = len(model.condition["values"])
    x_train, x_test = model_inputs(dataset.x[dataset.train]), model_inputs(dataset.x[dataset.test])
    train_labels, test_labels = labels[dataset.train], labels[dataset.test]
    with reading(classifier_path):
        classifier = keras.models.load_model(classifier_path, compile=False)
    classifier_json = Path(classifier_path).with_suffix(".json")
    classifier_accuracy = (
        json.loads(classifier_json.read_text())["test_accuracy"] if classifier_json.exists() else None
    )

    decoded = transfers(model, x_test, test_labels, classes)
    transfer = transfer_accuracy(classifier, decoded, test_labels)
    n_prior = max(1, int(settings["samples"]))
    prior, _ = prior_accuracy(
        model, classifier, n_prior, model.encoder.output[0].shape[-1], classes, int(seed)
    )
    style = style_correlations(x_test, decoded)
    del decoded

    z_train = inference.mean_code(model, x_train, label=train_labels)
    z_test = inference.mean_code(model, x_test, label=test_labels)
    probe = {"cvae": linear_probe(z_train, train_labels, z_test, test_labels), "twin": None}

    n_bound = min(int(settings["iwae_images"]), len(x_test))
    k = int(settings["iwae_k"])
    cvae_bounds = _bounds(model, x_test[:n_bound], test_labels[:n_bound], k, int(seed))
    information = label_information_bound(train_labels, test_labels[:n_bound])
    elbo: dict[str, Any] = {
        "cvae": cvae_bounds,
        "label_information": information,
        "cvae_marginal_elbo": cvae_bounds["elbo"] - information,
        "cvae_marginal_iwae": cvae_bounds["iwae"] - information,
        "twin": None,
    }
    if twin_path is not None:
        twin = inference.load_model(twin_path, compile=False)
        if twin.condition is not None:
            raise ValueError(f"{twin_path}: the twin must not be conditional")
        probe["twin"] = linear_probe(
            inference.mean_code(twin, x_train), train_labels, inference.mean_code(twin, x_test), test_labels
        )
        twin_bounds = _bounds(twin, x_test[:n_bound], None, k, int(seed))
        gap_elbo = cvae_bounds["elbo"] - twin_bounds["elbo"]
        gap_iwae = cvae_bounds["iwae"] - twin_bounds["iwae"]
        elbo |= {
            "twin": twin_bounds,
            "gap_elbo": gap_elbo,
            "gap_iwae": gap_iwae,
            "gap_elbo_within_bound": gap_elbo <= information,
            "gap_iwae_within_bound": gap_iwae <= information,
            "marginal_elbo_minus_twin_elbo": cvae_bounds["elbo"] - information - twin_bounds["elbo"],
        }

    class_names = list(dataset.manifest.get("class_names") or [str(v) for v in model.condition["values"]])
    _plot_figures(
        figures,
        model,
        x_test,
        test_labels,
        z_test,
        class_names,
        f"{model_name} on {dataset_name}, seed {seed}",
    )
    result = {
        "conditional": model.condition["factor"],
        "n_train": int(len(x_train)),
        "n_test": int(len(x_test)),
        "final": _last_row(history_path),
        "classifier": {"test_accuracy": classifier_accuracy},
        "requested_label": {"transfer": transfer, "prior": prior},
        "probe": probe,
        "style": style,
        "elbo": elbo,
        "settings": {
            "samples_per_label": n_prior,
            "iwae_k": k,
            "iwae_images": n_bound,
            "targets": {"overall": TARGET_OVERALL, "per_label": TARGET_PER_LABEL},
            "classifier": str(classifier_path),
            "twin": None if twin_path is None else str(twin_path),
        },
        "notes": {
            "transfer": "every test image's z_mean (own label) decoded with every label; `other_labels` "
            "leaves out the decodes with the own label (the reconstructions)",
            "slant": "mu11 / mu02 of the intensity moments, columns per row downwards",
            "elbo": "nats per image, Bernoulli per pixel on gray levels, beta = 1, closed-form KL; "
            "the CVAE's bounds are on log p(x | y), the twin's on log p(x); "
            "log p(x | y) - log p(x) <= -log p(y)",
        },
        "source": {k: dataset.manifest.get(k) for k in ("source", "origin", "arrays_sha256")},
    }
    logger.info(
        "%s on %s, seed %d: requested label %.3f (transfers), %.3f (prior); probe %.3f; ELBO gap %s",
        model_name,
        dataset_name,
        seed,
        transfer["overall"],
        prior["overall"],
        probe["cvae"]["test_accuracy"],
        elbo.get("gap_elbo"),
    )
    return result
