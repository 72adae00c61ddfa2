"""Style transfer between tails (seed 003's idea on seed 000's data): a VAE conditioned on the Student-t
heatmaps' df encodes heavy-tailed images and decodes them with the light-tailed label, and the other way
round. Does the decoded density's tail mass move as asked?

The tail mass of a heatmap is the share of its density (the image read as a density on the grid) farther
than `TAIL_SDS` Mahalanobis units from the centre, under the image's own (var_x, var_y, cor): the same
figure of the true density at the target df, rendered on the same grid, is the answer the transfer should
reach. `transfer_metrics` is a plain function of arrays (tested on true densities, whose transfer is
exact); `evaluate_transfer` is the workflow's per-run job, writing `transfer.json` and its figure. Only
`evaluate_transfer` imports Keras.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_latent_study.kinds.heatmaps.data import _quadratic_form, heatmaps

if TYPE_CHECKING:
    from vae_latent_study.evaluation.runner import Context

logger = logging.getLogger(__name__)

#: Density farther than this many (Mahalanobis) sds from the centre is the tail.
TAIL_SDS = 2.0
#: Examples per direction in the figure.
FIGURE_EXAMPLES = 4


def tail_mass(images: np.ndarray, axis: np.ndarray, var_x: Any, var_y: Any, cor: Any) -> np.ndarray:
    """The share of each image's density (n, len(axis), len(axis), read as weights on the grid, negatives
    clipped) farther than TAIL_SDS sds from the centre under its factors' covariance: Q > TAIL_SDS^2, Q the
    Mahalanobis form. NaN for a blank image."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    weights = np.clip(images, 0.0, None)
    tail = _quadratic_form(np.asarray(axis, dtype=np.float64), var_x, var_y, cor) > TAIL_SDS**2
    total = weights.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (weights * tail).sum(axis=(1, 2)) / total, np.nan)


def _frobenius(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    return np.sqrt(((a - b) ** 2).sum(axis=1))


def transfer_metrics(
    sources: np.ndarray,
    reconstructions: np.ndarray,
    transfers: np.ndarray,
    targets: np.ndarray,
    axis: np.ndarray,
    factors: np.ndarray,
) -> dict[str, Any]:
    """How far one direction's transfers moved: `sources` (the images, true densities at the source df),
    their `reconstructions` (own label), `transfers` (the target label) and `targets` (the true densities
    at the target df), all (n, size, size), with `factors` (n, 3) = var_x, var_y, cor.

    Returns the mean tail mass of each, `moved_as_asked` (the share of transfers whose tail mass lies
    nearer the target's than the source's), the share of the way from the source's mean tail mass to the
    target's that the transfers' mean covers (`tail_shift_share`, 1 = all of it), and the mean Frobenius
    distance of the transfers (and, for scale, of the reconstructions) to the targets and to the sources."""
    vx, vy, cor = (factors[:, i] for i in range(3))
    mass = {
        name: tail_mass(images, axis, vx, vy, cor)
        for name, images in (
            ("source", sources),
            ("reconstruction", reconstructions),
            ("transfer", transfers),
            ("target", targets),
        )
    }
    moved = np.abs(mass["transfer"] - mass["target"]) < np.abs(mass["transfer"] - mass["source"])
    gap = float(np.nanmean(mass["target"]) - np.nanmean(mass["source"]))
    shift = float(np.nanmean(mass["transfer"]) - np.nanmean(mass["source"]))
    return {
        "n": int(len(sources)),
        "tail_mass": {name: float(np.nanmean(values)) for name, values in mass.items()},
        "moved_as_asked": float(np.mean(moved)) if len(moved) else float("nan"),
        "tail_shift_share": shift / gap if gap else float("nan"),
        "frobenius": {
            "transfer_to_target": float(_frobenius(transfers, targets).mean()),
            "transfer_to_source": float(_frobenius(transfers, sources).mean()),
            "reconstruction_to_source": float(_frobenius(reconstructions, sources).mean()),
            "source_to_target": float(_frobenius(sources, targets).mean()),
        },
    }


def plot_transfers(
    panels: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]], title: str, path: str | Path
) -> None:
    """One row per example: source, reconstruction, transfer, the true density at the target df;
    `panels` holds (direction, sources, reconstructions, transfers, targets) of FIGURE_EXAMPLES images."""
    import matplotlib.pyplot as plt

    from vae_latent_study.plots import save_figure

    rows = sum(len(p[1]) for p in panels)
    fig, axes = plt.subplots(rows, 4, figsize=(8, 2 * rows), squeeze=False)
    columns = ("source", "reconstruction (own df)", "transfer", "truth at the target df")
    r = 0
    for direction, *images in panels:
        for k in range(len(images[0])):
            for c, (name, stack) in enumerate(zip(columns, images, strict=True)):
                ax = axes[r, c]
                ax.imshow(stack[k].T, origin="lower", cmap="viridis", vmin=0.0, vmax=1.0)
                ax.set_xticks([])
                ax.set_yticks([])
                if k == 0:
                    ax.set_title(f"{direction}\n{name}" if c == 0 else name, fontsize=8)
            r += 1
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def evaluate_transfer(ctx: Context) -> dict[str, Any]:
    """The tail-transfer evaluation of one df-conditioned model on a Student-t heatmap dataset
    (`transfer.json`, written by `evaluation.runner`), and its figure (`ctx.outputs["figure"]`). Every
    test image of each df is encoded with its own label (the mean code) and decoded with the other df's:
    heavy to light and light to heavy."""
    from vae_latent_study.models import autoencoders, inference

    model_path, dataset_name, model_name, seed = (
        ctx.input("model"),
        ctx.dataset_name,
        ctx.model_name,
        ctx.seed,
    )
    dataset = ctx.dataset
    model = inference.load_model(model_path, compile=False)
    condition = model.condition
    if condition is None or condition["factor"] != "df" or len(condition["values"]) != 2:
        raise ValueError(f"{model_path} is not conditioned on the two df values of a Student-t dataset")
    heavy, light = sorted(condition["values"])
    rows = np.asarray(dataset.test)
    df = dataset.factor("df")[rows]
    factors = np.column_stack([dataset.factor(name)[rows] for name in ("var_x", "var_y", "cor")])
    axis = dataset.axis
    directions: dict[str, Any] = {}
    panels = []
    for name, source, target in (("heavy_to_light", heavy, light), ("light_to_heavy", light, heavy)):
        chosen = df == source
        if not chosen.any():
            directions[name] = {"source_df": float(source), "target_df": float(target), "n": 0}
            continue
        x = dataset.images[rows[chosen]][..., None].astype(np.float32)
        source_label, target_label = (
            int(autoencoders.label_indices(model, [v])[0]) for v in (source, target)
        )
        reconstructions = inference.reconstruct(model, x, label=source_label)[..., 0]
        transfers = inference.style_transfer(model, x, source_label, target_label)[..., 0]
        f = factors[chosen]
        targets = heatmaps(axis, f[:, 0], f[:, 1], f[:, 2], np.full(len(f), target))
        directions[name] = {
            "source_df": float(source),
            "target_df": float(target),
            **transfer_metrics(x[..., 0], reconstructions, transfers, targets, axis, f),
        }
        k = slice(0, FIGURE_EXAMPLES)
        panels.append(
            (f"df {source:g} to {target:g}", x[k, ..., 0], reconstructions[k], transfers[k], targets[k])
        )
    title = f"Style transfer between tails: {model_name} on {dataset_name}, seed {seed}"
    plot_transfers(panels, title, ctx.outputs["figure"])
    payload = {
        "conditional": "df",
        "transfer": directions,
        "settings": {
            "tail_sds": TAIL_SDS,
            "tail_mass": "share of the image's density with Mahalanobis form Q > tail_sds^2 under its own "
            "(var_x, var_y, cor)",
            "split": "test",
            "code": "z_mean under the source's own label",
        },
    }
    for name, numbers in directions.items():
        logger.info(
            "%s, %s: tail mass source %.3f, transfer %.3f, target %.3f; moved as asked %.2f",
            model_name,
            name,
            numbers["tail_mass"]["source"],
            numbers["tail_mass"]["transfer"],
            numbers["tail_mass"]["target"],
            numbers["moved_as_asked"],
        )
    return payload
