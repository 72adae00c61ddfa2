"""How well a model trained on seed 002's 1-D data generates N(mean, std): one model on one replicate
(`evaluate_generation`, a workflow rule's job) and one model over its replicates (`summarise_replicates`).

Kept apart from `normal_1d` because `datasets` imports that module to draw the data: its code is part of
every dataset's code digest, so an edit there rebuilds every dataset and retrains every model."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_latent_study.datasets import read_dataset
from vae_latent_study.io import atomic_path, read_json
from vae_latent_study.kinds.normal_1d.data import (
    ANSWER_SAMPLE_MEAN,
    ANSWER_SAMPLE_SIZE,
    ANSWER_SAMPLE_STD,
    KS_RATIO_TARGET,
    MIN_REPLICATES,
    decode_mode_difference,
    distribution_scores,
    plot_decoder_curve,
    plot_qq,
    plot_real_vs_generated,
    reference_samples,
    replicate_summary,
)
from vae_latent_study.training.history import TRACE_COLUMN, read_history

if TYPE_CHECKING:
    from vae_latent_study.evaluation.runner import Context

log = logging.getLogger(__name__)

#: The answer's printed training codes: `encoded_train[0].mean()` and `.std()`, its z_mean.
ANSWER_CODE_MEAN = -43.1251
ANSWER_CODE_STD = 4.4563518
#: The stream of `evaluate_generation`'s randomness: numpy.random.default_rng([seed, GENERATION_STREAM]).
GENERATION_STREAM = 2_002_015
#: The figures `evaluate_generation` draws, the keys of its `figure_paths`.
FIGURE_KEYS = ("histogram", "qq", "decoder_curve")
#: The decoder curve: this many points over the mean +- DECODER_CURVE_SPAN sd of the training codes.
DECODER_CURVE_POINTS = 201
DECODER_CURVE_SPAN = 3.0
#: How `evaluate_generation` makes values from codes (a model's `generation` option): the decoder's mean (the
#: answer's protocol), or a draw of p(x|z) = N(mean, exp(log_var)) (a Gaussian likelihood only).
PROTOCOLS = ("decoded_mean", "likelihood_sample")
#: Batch of the training-mode decodes (BatchNorm uses each batch's statistics); `models.decode`'s default.
TRAINING_MODE_BATCH_SIZE = 256


def _mode_difference(training: np.ndarray, inference: np.ndarray) -> dict[str, float | None]:
    """`decode_mode_difference`, its relative difference None (JSON null) when the inference values are
    constant, where it does not apply (it would be infinite)."""
    out: dict[str, float | None] = dict(decode_mode_difference(training, inference))
    if not math.isfinite(out["relative_max_diff"]):
        out["relative_max_diff"] = None
    return out


def _per_dimension(values: np.ndarray) -> dict[str, float]:
    # Named z0, z1, ...: numeric leaves, so each dimension is a row of the tidy table (a list would not be).
    return {f"z{j}": float(v) for j, v in enumerate(np.asarray(values, dtype=np.float64).ravel())}


def evaluate_generation(ctx: Context) -> dict[str, Any]:
    """`generation_evaluation` of a run: its figures `ctx.outputs` (`histogram`, `qq`, `decoder_curve`),
    its protocol the model's `generation` (decoded_mean where unset)."""
    return generation_evaluation(
        ctx.input("model"),
        ctx.input("dataset"),
        ctx.outputs,
        dataset_name=ctx.dataset_name,
        model_name=ctx.model_name,
        seed=ctx.seed,
        protocol=ctx.settings.get("model", {}).get("generation") or "decoded_mean",
    )


def generation_evaluation(
    model_path: str | Path,
    dataset_path: str | Path,
    figure_paths: Mapping[str, str | Path],
    dataset_name: str,
    model_name: str,
    seed: int,
    n_samples: int = ANSWER_SAMPLE_SIZE,
    protocol: str = "decoded_mean",
) -> dict[str, Any]:
    """How well one trained model generates its replicate's N(mean, std), as the answer generated: three
    figures, and the numbers returned (`evaluation.runner` writes them, `generation.json`).

    The codes: `z_mean` of the training rows (the AE's code), encoded in inference mode as the answer's
    `encoder.predict`; their per-dimension mean and std (1/n, numpy's, as the answer's `.std()`). Then:

    - `generated`: `n_samples` codes drawn from N(mean, std) per dimension (the answer's
      `tf.random.normal((15000, latent_dim), mean, std)`; for the question's 42-d relu AE code the same
      per-dimension fit, which also draws negative values its decoder never saw: `codes.outside_range_share`
      counts draws outside the training codes' range), decoded in inference mode (the answer's
      `vae.sample`, a plain decoder call) and scored by `distribution_scores` against the truth, beside a
      fresh true sample and the ML-fitted Gaussian of the training rows of the same size.
    - `prior` (VAE only: an AE has no prior, so the key is absent): codes drawn from N(0, I), decoded and
      scored the same way.
    - `training_mode`: the `generated` codes decoded with BatchNorm on batch statistics (batches of
      TRAINING_MODE_BATCH_SIZE) and Dropout active, their scores and `decode_mode_difference` to the
      inference decodes; `encode_mode_difference` is the same comparison for the training rows' codes
      (seed 002's BatchNorm and Dropout are all in the encoder, so for its decoder the decodes agree), and
      `codes_encoded_in_training_mode` scores the inference decodes of codes fitted to the training-mode
      z_mean instead (the same standard normal draw, rescaled), with that fit's mean and std.
      In the seed's Keras 2 `train_step` the encoder and decoder were called without `training=True`,
      so BatchNorm ran in inference mode throughout (moving statistics never updated: a learned affine
      map) and Dropout never dropped; a model with `layers_while_training: inference` trains so here too,
      one without it as Keras 3's `fit` calls the model, with `training=True`.
    - `codes`: mean and std of z_mean per dimension (`z0`, ...), the answer's printed code mean and std
      being -43.13 and 4.46; for a VAE also the mean of the second head (`z_log_var` or `z_log_sigma`).
    - `decoder_curve`: the decoder over DECODER_CURVE_POINTS codes within mean +- 3 sd of z_mean in
      dimension 0, the other dimensions at their mean (a std of 0 spans +- 1 instead); its output range
      over the true std says how much spread the decoder can make at all (0 for a decoder that learned
      only the mean).
    - `answer`: the answer's printed mean 97.27 and std 10.10 of its 15,000 decodes, ours, and ours minus
      theirs.

    Figures (`figure_paths` keys FIGURE_KEYS): `histogram`, the data (train and test) against the
    `generated` decodes as densities (the answer's plot); `qq`, the generated decodes, the fresh sample
    and the fitted one against the truth; `decoder_curve`, the curve with the training codes as a rug and
    the true mean +- std.

    `protocol` (PROTOCOLS) says how codes become values in every section: `decoded_mean`, the decoder's
    mean (the answer's); `likelihood_sample`, mean + exp(log_var / 2) eps, a draw of the decoder's Gaussian
    p(x|z) (a model with a Gaussian likelihood only; the same eps in every section). For a model with a
    Gaussian likelihood, `protocols` scores the `generated` codes both ways, and `observation_sd` is the
    decoder's sd (data units) over them: median, min, max. For a VAE, `codes.kl_mean` is the mean KL (nats)
    of the training rows' posteriors to N(0, I): about 0 when the code is unused.

    All randomness comes from numpy.random.default_rng([seed, GENERATION_STREAM]) (its seed sequence
    spawns one stream for the codes, one for the prior, one for the references, which all three scores
    share, and one for the likelihood noise), so the same model and dataset give the same JSON, byte for
    byte.
    Every metric is a number; `relative_max_diff` is null where the inference decodes are constant.
    """
    from vae_latent_study.models import (  # Keras loads here only: summarise_replicates needs none of it
        autoencoders,
    )
    from vae_latent_study.models import inference as models_inference

    figure_paths = dict(figure_paths)
    if set(figure_paths) != set(FIGURE_KEYS):
        raise ValueError(f"figure_paths needs exactly the keys {FIGURE_KEYS}; got {sorted(figure_paths)}")
    if int(n_samples) < 1:
        raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}")
    n_samples = int(n_samples)
    dataset = read_dataset(dataset_path)
    if dataset.kind != "normal_1d":
        raise ValueError(f"{dataset_path} is a {dataset.kind!r} dataset, not normal_1d")
    true_mean, true_std = float(dataset.truth["mean"]), float(dataset.truth["std"])
    x_train = dataset.x[dataset.train].astype("float32")
    model = models_inference.load_model(model_path, compile=False)
    kind = autoencoders.model_kind(model)
    gaussian = model.likelihood["type"] == "gaussian"
    if protocol not in PROTOCOLS:
        raise ValueError(f"generation protocol must be one of {PROTOCOLS}; got {protocol!r}")
    if protocol == "likelihood_sample" and not gaussian:
        raise ValueError(
            f"{model_path}: likelihood_sample needs a gaussian likelihood, not {model.likelihood}"
        )

    encoded = models_inference.encode(model, x_train)
    encoded_training = models_inference.encode(model, x_train, training=True)
    code_key = "z_mean" if kind == "vae" else "code"
    z_mean = np.asarray(encoded[code_key], dtype=np.float64)
    latent_dim = z_mean.shape[1]
    code_mean, code_std = z_mean.mean(axis=0), z_mean.std(axis=0)

    root = np.random.SeedSequence([int(seed), GENERATION_STREAM])  # = default_rng([seed, STREAM])'s
    # spawn(4)'s first three children are spawn(3)'s: the streams of the models before `protocol` existed.
    code_stream, prior_stream, reference_stream, likelihood_stream = root.spawn(4)
    # One standard normal draw, scaled to each code fit, so that the two fits' samples are paired.
    noise = np.random.default_rng(code_stream).standard_normal((n_samples, latent_dim))
    codes = (code_mean + code_std * noise).astype("float32")
    z_mean_training = np.asarray(encoded_training[code_key], dtype=np.float64)
    training_mean, training_std = z_mean_training.mean(axis=0), z_mean_training.std(axis=0)
    codes_training = (training_mean + training_std * noise).astype("float32")

    def score(samples: np.ndarray) -> dict[str, float]:
        # One reference stream for every score: the fresh and fitted samples are the same in each section.
        return distribution_scores(
            samples, true_mean, true_std, x_train, np.random.default_rng(reference_stream)
        )

    def generate(
        codes: np.ndarray, batch_size: int = 256, training: bool = False, how: str = protocol
    ) -> np.ndarray:
        mean = models_inference.decode(model, codes, batch_size, training=training).ravel()
        if how == "decoded_mean":
            return mean
        log_var = models_inference.decode_log_variance(model, codes, batch_size, training=training).ravel()
        eps = np.random.default_rng(likelihood_stream).standard_normal(mean.shape)
        return (mean.astype(np.float64) + np.exp(0.5 * log_var.astype(np.float64)) * eps).astype("float32")

    generated = generate(codes)
    generated_training = generate(codes, TRAINING_MODE_BATCH_SIZE, training=True)
    generated_from_training_codes = generate(codes_training)
    low, high = z_mean.min(axis=0), z_mean.max(axis=0)
    outside = float(np.mean((codes < low.astype("float32")) | (codes > high.astype("float32"))))

    code_summary: dict[str, Any] = {
        "mean": _per_dimension(code_mean),
        "std": _per_dimension(code_std),
        "n_constant_dims": int(np.count_nonzero(code_std == 0)),
        "outside_range_share": outside,
    }
    if kind == "vae":
        code_summary[f"{model.scale_key}_mean"] = _per_dimension(np.mean(encoded[model.scale_key], axis=0))
        if model.sampler == "log_var":  # the standard KL; log_sigma models keep seed 000's formula
            h = np.asarray(encoded[model.scale_key], dtype=np.float64)
            kl = -0.5 * np.sum(1.0 + h - np.square(z_mean) - np.exp(h), axis=1)
            code_summary["kl_mean"] = float(np.mean(kl))

    half_width = DECODER_CURVE_SPAN * float(code_std[0]) or 1.0
    grid = np.linspace(code_mean[0] - half_width, code_mean[0] + half_width, DECODER_CURVE_POINTS)
    grid_codes = np.tile(code_mean, (DECODER_CURVE_POINTS, 1))
    grid_codes[:, 0] = grid
    curve = models_inference.decode(model, grid_codes.astype("float32")).ravel().astype(np.float64)
    curve_range = float(curve.max() - curve.min())

    generated_scores = score(generated)
    payload: dict[str, Any] = {
        "latent_dim": int(latent_dim),
        "n_train": int(len(dataset.train)),
        "n_test": int(len(dataset.test)),
        "generated": generated_scores,
        "training_mode": {
            **score(generated_training),
            "decode_mode_difference": _mode_difference(generated_training, generated),
            "encode_mode_difference": _mode_difference(z_mean_training, z_mean),
            "codes_encoded_in_training_mode": {
                **score(generated_from_training_codes),
                "code_mean": _per_dimension(training_mean),
                "code_std": _per_dimension(training_std),
            },
        },
        "codes": code_summary,
        "decoder_curve": {
            "code_low": float(grid[0]),
            "code_high": float(grid[-1]),
            "output_min": float(curve.min()),
            "output_max": float(curve.max()),
            "output_range": curve_range,
            "output_range_over_true_std": curve_range / true_std,
        },
        "answer": {
            "mean": ANSWER_SAMPLE_MEAN,
            "std": ANSWER_SAMPLE_STD,
            "n_samples": ANSWER_SAMPLE_SIZE,
            "code_mean": ANSWER_CODE_MEAN,
            "code_std": ANSWER_CODE_STD,
            "generated_mean": generated_scores["model_mean"],
            "generated_std": generated_scores["model_std"],
            "mean_difference": generated_scores["model_mean"] - ANSWER_SAMPLE_MEAN,
            "std_difference": generated_scores["model_std"] - ANSWER_SAMPLE_STD,
        },
        "settings": {
            "n_samples": n_samples,
            "rng": f"numpy.random.default_rng([{int(seed)}, {GENERATION_STREAM}]), spawned: codes, prior, "
            "references",
            "code_fit": f"N(mean, std) per dimension of the training rows' {code_key} (1/n std), "
            "encoded in inference mode",
            "training_mode_batch_size": TRAINING_MODE_BATCH_SIZE,
            "protocol": protocol,
            "decoder_curve": {
                "dimension": 0,
                "points": DECODER_CURVE_POINTS,
                "span_sd": DECODER_CURVE_SPAN,
                "other_dimensions": "at their mean",
            },
        },
        "notes": {
            "prior": "an AE has no prior: not scored"
            if kind == "ae"
            else "codes from N(0, I), decoded in inference mode",
            "training_mode": "BatchNorm on batch statistics and Dropout active; the seed's Keras 2 "
            "train_step ran them in inference mode throughout (option layers_while_training)",
            "references": "fresh_* and fitted_* are the same samples in every section",
        },
    }
    if kind == "vae":
        prior_codes = np.random.default_rng(prior_stream).standard_normal((n_samples, latent_dim))
        prior = generate(prior_codes.astype("float32"))
        payload["prior"] = score(prior)
    if gaussian:
        payload["protocols"] = {
            how: generated_scores if how == protocol else score(generate(codes, how=how)) for how in PROTOCOLS
        }
        sd = np.exp(0.5 * models_inference.decode_log_variance(model, codes).astype(np.float64).ravel())
        payload["observation_sd"] = {
            "median": float(np.median(sd)),
            "min": float(sd.min()),
            "max": float(sd.max()),
        }

    # A NaN or infinity anywhere is a bug here, not a value to write (as null).
    json.dumps(payload, allow_nan=False)

    fresh, fitted = reference_samples(
        n_samples, true_mean, true_std, x_train, np.random.default_rng(reference_stream)
    )
    figures = [
        plot_real_vs_generated(
            dataset.x.ravel(),
            generated,
            labels=("Data (train + test)", "Generated"),
            path=figure_paths["histogram"],
            density=True,
        ),
        plot_qq(
            {"generated": generated, "fresh true sample": fresh, "fitted Gaussian": fitted},
            true_mean,
            true_std,
            path=figure_paths["qq"],
        ),
        plot_decoder_curve(
            grid,
            curve,
            train_codes=z_mean[:, 0],
            true_mean=true_mean,
            true_std=true_std,
            path=figure_paths["decoder_curve"],
        ),
    ]
    import matplotlib.pyplot as plt

    for fig in figures:
        plt.close(fig)
    return payload


def _replicate_summary(
    rows: Sequence[Mapping[str, float]], ratio_target: float, min_replicates: int
) -> dict[str, Any]:
    """`replicate_summary`, plus per replicate: `replicates_within_target` counts the replicates whose
    model_ks is at most ratio_target x their own fitted normal's fitted_ks, `share_within_target` as a share.
    (Here, not in `normal_1d`: an edit there changes every dataset's code digest.)"""
    out: dict[str, Any] = dict(replicate_summary(rows, ratio_target, min_replicates))
    within = sum(row["model_ks"] <= ratio_target * row["fitted_ks"] for row in rows)
    out["replicates_within_target"] = int(within)
    out["share_within_target"] = within / len(rows)
    return out


def _quartiles(values: Sequence[float]) -> dict[str, float]:
    q25, median, q75 = np.percentile(np.asarray(values, dtype=np.float64), [25, 50, 75])
    return {"median": float(median), "q25": float(q25), "q75": float(q75), "iqr": float(q75 - q25)}


#: The answer's printed last epoch ("Last Epoch 33/100", early stopping on the loss, patience 10).
ANSWER_LAST_EPOCH = 33


def trace_summary(histories: Sequence[Sequence[Mapping[str, Any]]]) -> dict[str, Any] | None:
    """The per-epoch generated sd (history column TRACE_COLUMN) over replicates: for each epoch its median,
    q25, q75 and the number of replicates still training (`epochs`, lists by epoch, 1-based), and each
    replicate's last epoch (`last_epochs`: where early stopping stopped it, or the configured end) with
    their median and quartiles. None when no history has the column."""
    traces = [
        [float(row[TRACE_COLUMN]) for row in rows]
        for rows in histories
        if rows and rows[0].get(TRACE_COLUMN) is not None
    ]
    if not traces:
        return None
    longest = max(len(trace) for trace in traces)
    out: dict[str, Any] = {"epoch": [], "median": [], "q25": [], "q75": [], "n_replicates": []}
    for epoch in range(1, longest + 1):
        values = [trace[epoch - 1] for trace in traces if len(trace) >= epoch]
        q25, median, q75 = np.percentile(values, [25, 50, 75])
        for key, value in (("epoch", epoch), ("median", median), ("q25", q25), ("q75", q75)):
            out[key].append(float(value) if key != "epoch" else value)
        out["n_replicates"].append(len(values))
    last = [len(trace) for trace in traces]
    finals = [trace[-1] for trace in traces]
    return {
        "epochs": out,
        "last_epochs": last,
        "last_epoch": _quartiles(last),
        "final_generated_std": _quartiles(finals),
        "peak_generated_std": _quartiles([max(trace) for trace in traces]),
        "peak_epoch": _quartiles([int(np.argmax(trace)) + 1 for trace in traces]),
        "answer_last_epoch": ANSWER_LAST_EPOCH,
        "n_replicates": len(traces),
    }


def plot_trace(summary: Mapping[str, Any] | None, model_name: str, path: str | Path) -> None:
    """The generated sd against the epoch: median and quartile band over replicates, the replicates' last
    epochs as ticks (early stopping) with their median as a dashed line, the answer's 10.10 and its last
    epoch 33 in grey. Without a trace, a figure that says so."""
    import matplotlib.pyplot as plt

    from vae_latent_study.plots import save_figure

    fig, ax = plt.subplots(figsize=(7, 4.5))
    if summary is None:
        ax.text(
            0.5,
            0.5,
            f"{model_name}: no per-epoch trace (trace_generated_std unset)",
            ha="center",
            va="center",
        )
        ax.set_axis_off()
    else:
        epochs = summary["epochs"]
        ax.fill_between(epochs["epoch"], epochs["q25"], epochs["q75"], alpha=0.3, label="quartiles")
        ax.plot(epochs["epoch"], epochs["median"], label=f"median over {summary['n_replicates']} replicates")
        ax.axhline(
            ANSWER_SAMPLE_STD, color="0.5", linestyle=":", label=f"the answer's {ANSWER_SAMPLE_STD:.2f}"
        )
        ax.axvline(
            ANSWER_LAST_EPOCH,
            color="0.5",
            linestyle="-.",
            linewidth=1,
            label=f"the answer's last epoch ({ANSWER_LAST_EPOCH})",
        )
        last = summary["last_epochs"]
        ax.plot(last, np.zeros(len(last)), "|", color="k", markersize=14, label="replicates' last epochs")
        ax.axvline(
            summary["last_epoch"]["median"], color="k", linestyle="--", linewidth=1, label="median last epoch"
        )
        ax.set_ylim(bottom=-0.3)
        ax.legend(fontsize=8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("generated sd (answer's protocol)")
    ax.set_title(f"{model_name}: the generated sd while training")
    save_figure(fig, path)
    plt.close(fig)


def summarise_replicates(
    paths: Sequence[str | Path],
    ratio_target: float = KS_RATIO_TARGET,
    min_replicates: int = MIN_REPLICATES,
    output_json: str | Path | None = None,
    histories: Sequence[str | Path] = (),
    trace_figure: str | Path | None = None,
) -> dict[str, Any]:
    """One model over its replicates: the `evaluate_generation` JSONs at `paths`, summarised for the report.

    Top level: `family`, `model`, `kind`, `n_replicates`, and the issue's verdict on the `generated`
    scores: `ks_ratio` = median KS(model) / median KS(ML-fitted Gaussian), `ks_ratio_target` (1.5),
    `meets_target` (a bool) and `enough_replicates` (at least `min_replicates`, 20). Nested:
    `generated` (all of `replicate_summary`), `generated_mean` and `generated_std` (median, q25, q75, iqr
    over replicates), `answer` (the answer's printed mean and std beside our medians), `training_mode`
    and, when every replicate has one, `prior` (`replicate_summary` each, their verdicts included), and
    `replicates` (a list of dataset, seed and path: details, not metrics). Refuses JSONs of more than one
    model, kind or family; written as JSON too when `output_json` is given.

    With `histories` (the runs' training history CSVs), `trace` is `trace_summary` of their per-epoch
    generated sd (absent without the column), drawn by `plot_trace` at `trace_figure` when given. Where every
    replicate scored both generation protocols, `protocols` has `replicate_summary` of each.
    """
    if not paths:
        raise ValueError("need at least one evaluation JSON")
    payloads = [read_json(path) for path in paths]
    identity = {}
    # The runs' identity blocks (`evaluation.runner`); the summary names the model's kind `kind`.
    for key, source in (("family", "family"), ("model", "model"), ("kind", "model_kind")):
        values = sorted({str(payload["identity"].get(source)) for payload in payloads})
        if len(values) != 1:
            raise ValueError(f"summarise one model's replicates at a time: {key} takes the values {values}")
        identity[key] = values[0]
    replicates = [
        (payload["identity"].get("dataset"), payload["identity"].get("seed")) for payload in payloads
    ]
    if len(set(replicates)) < len(replicates):
        log.warning("some (dataset, seed) pairs occur more than once: %s", replicates)

    generated = _replicate_summary([p["generated"] for p in payloads], ratio_target, min_replicates)
    means = _quartiles([p["generated"]["model_mean"] for p in payloads])
    stds = _quartiles([p["generated"]["model_std"] for p in payloads])
    out: dict[str, Any] = {
        **identity,
        "n_replicates": len(payloads),
        **{
            key: generated[key]
            for key in ("ks_ratio", "ks_ratio_target", "meets_target", "enough_replicates")
        },
        "generated": generated,
        "generated_mean": means,
        "generated_std": stds,
        "answer": {
            "mean": ANSWER_SAMPLE_MEAN,
            "std": ANSWER_SAMPLE_STD,
            "mean_difference_median": means["median"] - ANSWER_SAMPLE_MEAN,
            "std_difference_median": stds["median"] - ANSWER_SAMPLE_STD,
        },
        "training_mode": _replicate_summary(
            [p["training_mode"] for p in payloads], ratio_target, min_replicates
        ),
        "replicates": [
            {"dataset": dataset, "seed": seed, "path": str(path)}
            for (dataset, seed), path in zip(replicates, paths, strict=True)
        ],
    }
    out["training_mode"]["decode_max_abs_diff_max"] = max(
        p["training_mode"]["decode_mode_difference"]["max_abs_diff"] for p in payloads
    )
    if all("prior" in p for p in payloads):
        out["prior"] = _replicate_summary([p["prior"] for p in payloads], ratio_target, min_replicates)
    if all("protocols" in p for p in payloads):
        out["protocols"] = {
            how: _replicate_summary([p["protocols"][how] for p in payloads], ratio_target, min_replicates)
            for how in PROTOCOLS
        }
        out["observation_sd"] = _quartiles([p["observation_sd"]["median"] for p in payloads])
    if all("kl_mean" in p.get("codes", {}) for p in payloads):
        out["kl_mean"] = _quartiles([p["codes"]["kl_mean"] for p in payloads])
    if histories:
        trace = trace_summary([read_history(path) for path in histories])
        if trace is not None:
            out["trace"] = trace
        if trace_figure is not None:
            plot_trace(trace, identity["model"], trace_figure)
    if output_json is not None:
        with atomic_path(output_json) as tmp:
            tmp.write_text(json.dumps(out, indent=2, sort_keys=True, allow_nan=False) + "\n")
        log.info("wrote %s", output_json)
    return out
