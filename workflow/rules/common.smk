# Validates the config before anything is planned, and holds the small helpers the rules share.
from pathlib import Path

from vae_latent_study.aggregate.claims import claims_by_dataset
from vae_latent_study.aggregate.expected import read_expected
from vae_latent_study.config import (
    ConfigError,
    Run,
    plan,
    training_hparams,
    unconditional_twin,
    validate_config,
)
from vae_latent_study.datasets import kind_module
from vae_latent_study.kinds.heatmaps.data import GENERATOR_VERSION
from vae_latent_study.kinds.registry import KINDS, dataset_file, replicate_seed
from vae_latent_study.provenance import code_digest
from vae_latent_study.report.chapter import chapter_modules
from vae_latent_study.report.page import figure_list

# A wrong config stops here, before any job is planned, with a message naming the key. The validated config
# replaces the given one whole: its mappings are key-sorted, so that params compare by value, and every
# order the workflow uses (datasets, models) is by name, whatever order the file listed them in.
_validated = validate_config(config, Path(workflow.basedir) / "config" / "config.schema.yaml")
config.clear()
config.update(_validated)

# Every (dataset, model, seed) that some study trains, each once: all the rules below expand these.
RUNS = plan(config)


def expected_file(name):
    """config/expected/<name>.yaml of the workflow: a study's source's printed numbers."""
    return str(Path(workflow.basedir) / "config" / "expected" / f"{name}.yaml")


for _study, _spec in config["studies"].items():
    if _spec["expected"] and not Path(expected_file(_spec["expected"])).exists():
        raise ConfigError(
            f"invalid configuration:\n  config key 'studies.{_study}.expected': no file "
            f"{expected_file(_spec['expected'])}"
        )
    if _spec["expected"]:
        try:  # a malformed expected file (its numbers, its claims) stops the workflow here, naming the key
            read_expected(expected_file(_spec["expected"]))
        except ValueError as error:
            raise ConfigError(
                f"invalid configuration:\n  config key 'studies.{_study}.expected': {error}"
            ) from None


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    model="|".join(config["models"]),
    seed=r"\d+",


def package_code(script, *modules):
    """Digest of the package code that `script` runs (every vae_latent_study module it imports, followed
    through their imports, and `modules` it runs without a static import). A param of every rule, so
    editing that code reruns the rule, as Snakemake does by itself for an edit of the script."""
    return code_digest(Path(workflow.basedir) / "workflow" / "scripts" / script, *modules)


def get_build_code(wildcards):
    """Digest of the code that builds one dataset: the build script's and its kind's module only, so that
    editing one kind rebuilds that kind's datasets and nothing else."""
    kind = config["datasets"][wildcards.dataset]["kind"]
    return code_digest(
        Path(workflow.basedir) / "workflow" / "scripts" / "build_dataset.py", kind_module(kind)
    )


def kind_of(dataset):
    """The dataset kind (`kinds.KINDS`) of a dataset of the config."""
    return KINDS[config["datasets"][dataset]["kind"]]


def runs_of_kind(*names, conditional=None):
    """The runs of the plan whose dataset is of one of the kinds `names` (and, where `conditional` is
    given, whose model is conditional or not)."""
    return [
        r
        for r in RUNS
        if kind_of(r.dataset).name in names
        and (conditional is None or is_conditional(r.model) == conditional)
    ]


def is_conditional(model):
    """Whether a model of the config is conditional (seed 003)."""
    return bool(config["models"][model].get("conditional"))


def run_evaluations(run):
    """The metric JSONs of one run: its kind's, for a conditional model or not."""
    return kind_of(run.dataset).run_evaluations(is_conditional(run.model))


def get_twin_model(wildcards):
    """The model file of a conditional run's unconditional twin (`config.unconditional_twin`), or none."""
    run = Run(wildcards.dataset, wildcards.model, int(wildcards.seed))
    twin = unconditional_twin(config, run)
    if twin is None:
        return []
    return [f"results/models/{twin.dataset}/{twin.model}/seed{twin.seed}/model.keras"]


def get_dataset_config(wildcards):
    """The validated config of one dataset: a rule param, so editing it reruns that dataset only. An images
    dataset adds where its files are and their SHA-256 (`images.source_fingerprint`): a changed file
    rebuilds it."""
    settings = config["datasets"][wildcards.dataset]
    if settings["kind"] == "images":
        from vae_latent_study.kinds.images.data import source_fingerprint

        return {**settings, "source_files": source_fingerprint(settings)}
    return settings


def get_replicate_config(wildcards):
    """The config of one replicate of a dataset drawn afresh per training seed: its own seed."""
    settings = dict(config["datasets"][wildcards.dataset])
    settings["seed"] = replicate_seed(settings["seed"], int(wildcards.seed))
    return settings


def get_dataset_file(wildcards):
    """The dataset file a run reads: one per dataset, or one per training seed for replicate kinds."""
    return dataset_file(wildcards.dataset, config["datasets"][wildcards.dataset]["kind"], int(wildcards.seed))


def get_model_hparams(wildcards):
    """One model's settings for one dataset: a rule param, so editing them retrains that model only."""
    return training_hparams(config["models"][wildcards.model], wildcards.dataset)


def get_backup_dir(wildcards):
    """Where an interrupted training keeps its last backup, to resume from it."""
    return f"results/models/{wildcards.dataset}/{wildcards.model}/seed{wildcards.seed}/backup"


# Which `evaluation` settings each rule reads. Each rule gets only its own as a param, with the study's global
# seed for its random draws, so editing one setting reruns only the rule that reads it.
EVALUATION_SETTINGS = {
    "probe_latents": ("knn_k", "cv_folds", "fixed_k", "learning_curve_sizes"),
    "score_latents": ("dci_num_train",),
    "aggregate_metrics": ("bootstrap_samples",),
    "evaluate_images": ("knn_k", "cv_folds", "iwae_k", "iwae_images", "samples"),
    "evaluate_cvae": ("iwae_k", "iwae_images", "samples"),
}


def evaluation_params(rule_name):
    """A param function: the `evaluation` settings `rule_name` reads, plus the global seed."""

    def params(wildcards):
        settings = {key: config["evaluation"][key] for key in EVALUATION_SETTINGS[rule_name]}
        return {**settings, "seed": config["seed"]}

    return params


def get_model_names(wildcards):
    """The models trained on one dataset with one seed, by name."""
    return [r.model for r in RUNS if r.dataset == wildcards.dataset and r.seed == int(wildcards.seed)]


def get_reconstruction_tables(wildcards):
    """Per-image error tables of every model on one dataset and seed, in `get_model_names` order."""
    return expand(
        "results/evaluation/{dataset}/{model}/seed{seed}/reconstruction.tsv",
        dataset=wildcards.dataset,
        model=get_model_names(wildcards),
        seed=wildcards.seed,
    )


def get_metric_files(wildcards):
    """Every metrics JSON of every run: the evaluations of its dataset's kind."""
    return [
        f"results/evaluation/{r.dataset}/{r.model}/seed{r.seed}/{name}.json"
        for name in dict.fromkeys(
            e for kind in KINDS.values() for e in (*kind.evaluations, *(kind.conditional_evaluations or ()))
        )
        for r in RUNS
        if name in run_evaluations(r)
    ]


def get_replicate_generations(wildcards):
    """The generation JSONs of one model on one replicate-kind dataset, every training seed of the plan."""
    return [
        f"results/evaluation/{r.dataset}/{r.model}/seed{r.seed}/generation.json"
        for r in RUNS
        if r.dataset == wildcards.dataset and r.model == wildcards.model
    ]


def get_replicate_histories(wildcards):
    """The training histories of the runs of `get_replicate_generations`, in its order (their per-epoch
    generated sd, where the model has `trace_generated_std`)."""
    return [
        f"results/models/{r.dataset}/{r.model}/seed{r.seed}/history.csv"
        for r in RUNS
        if r.dataset == wildcards.dataset and r.model == wildcards.model
    ]


def get_generation_protocol(wildcards):
    """How the normal_1d evaluation makes values from codes: the model's `generation`, else decoded_mean."""
    return config["models"][wildcards.model].get("generation") or "decoded_mean"


def get_replicate_summaries(wildcards=None):
    """One replicate summary per (dataset, model) of the normal_1d runs."""
    pairs = sorted({(r.dataset, r.model) for r in runs_of_kind("normal_1d")})
    return [f"results/evaluation/{dataset}/{model}/replicates.json" for dataset, model in pairs]


def get_expected_files(wildcards):
    """The expected-numbers file of every study of `get_study_members`, in its order."""
    return [expected_file(spec["expected"]) for spec in config["studies"].values() if spec["expected"]]


def get_claims(wildcards):
    """{dataset: the claims its study's source makes} (`claims:` of the expected files), for the datasets on
    which a VAE and an AE train (the pairs a claim judges): a param of the aggregation, so that editing a
    claim reruns it (and the comparison and report after it) and editing a printed number does not."""
    kinds = {}
    for r in RUNS:
        kinds.setdefault(r.dataset, set()).add(config["models"][r.model]["kind"])
    return claims_by_dataset(
        (
            study,
            [d for d in spec["datasets"] if {"vae", "ae"} <= kinds.get(d, set())],
            expected_file(spec["expected"]),
        )
        for study, spec in config["studies"].items()
        if spec["expected"]
    )


def get_study_members(wildcards):
    """{study: {datasets, models}} of the studies with expected numbers: the runs each comparison covers."""
    return {
        study: {"datasets": spec["datasets"], "models": spec["models"]}
        for study, spec in config["studies"].items()
        if spec["expected"]
    }


def get_sample_figure_params(wildcards):
    return config["figures"]["sample_heatmaps"]


def get_training_histories(wildcards):
    """Training histories of every model on one dataset and seed, in `get_model_names` order."""
    return expand(
        "results/models/{dataset}/{model}/seed{seed}/history.csv",
        dataset=wildcards.dataset,
        model=get_model_names(wildcards),
        seed=wildcards.seed,
    )


def get_exploration_summaries(wildcards):
    """The numbers of every latent-space exploration (heatmap runs), one JSON per run."""
    return [
        f"results/evaluation/{r.dataset}/{r.model}/seed{r.seed}/exploration.json"
        for r in runs_of_kind("heatmaps")
    ]


# The HTML report's figures by dataset kind, in its order: (section, path pattern, caption shared with
# `snakemake --report`).
_RUN = "results/figures/{dataset}/{model}/seed{seed}"
_TRAINING = ("Training", "results/figures/{dataset}/training_curves_seed{seed}.png", "training_curves.rst")
REPORT_FIGURES = {
    "heatmaps": [
        ("Data", "results/figures/{dataset}/sample_heatmaps.png", "sample_heatmaps.rst"),
        _TRAINING,
        (
            "Reconstruction",
            "results/figures/{dataset}/reconstruction_errors_seed{seed}.png",
            "reconstruction_errors.rst",
        ),
        ("Reconstruction", f"{_RUN}/reconstructions.png", "reconstructions.rst"),
        ("Latent space", f"{_RUN}/projections.png", "projections.rst"),
        ("Latent space", f"{_RUN}/latent_3d.png", "latent_3d.rst"),
        ("Latent space", f"{_RUN}/latent_3d.json", "interactive_latent_3d.rst"),
        ("Paths through the latent space", f"{_RUN}/trajectories.png", "trajectories.rst"),
        ("Paths through the latent space", f"{_RUN}/traversals.png", "traversals.rst"),
        ("Paths through the latent space", f"{_RUN}/empty_regions.png", "empty_regions.rst"),
    ],
    "normal_1d": [
        _TRAINING,
        (
            "A 1-D normal learned from 67 draws (seed 002)",
            f"{_RUN}/generated_histogram.png",
            "generated_histogram.rst",
        ),
        ("A 1-D normal learned from 67 draws (seed 002)", f"{_RUN}/generated_qq.png", "generated_qq.rst"),
        ("A 1-D normal learned from 67 draws (seed 002)", f"{_RUN}/decoder_curve.png", "decoder_curve.rst"),
        (
            "A 1-D normal learned from 67 draws (seed 002)",
            "results/figures/{dataset}/{model}/generated_std_trace.png",
            "generated_std_trace.rst",
        ),
    ],
    "images": [
        _TRAINING,
        ("Images (seed 001)", f"{_RUN}/embedding.png", "images_embedding.rst"),
        ("Images (seed 001)", f"{_RUN}/code_grid.png", "images_code_grid.rst"),
        ("Images (seed 001)", f"{_RUN}/samples.png", "images_samples.rst"),
        ("Images (seed 001)", f"{_RUN}/image_reconstructions.png", "images_reconstructions.rst"),
    ],
    # Drawn beside the heatmap figures of the same runs (see _report_runs).
    "heatmaps_conditional": [
        (
            "Style transfer between tails (seed 003 on seed 000's data)",
            f"{_RUN}/tail_transfer.png",
            "tail_transfer.rst",
        ),
    ],
    "images_conditional": [
        _TRAINING,
        ("A conditional VAE (seed 003)", f"{_RUN}/style_transfer.png", "cvae_style_transfer.rst"),
        ("A conditional VAE (seed 003)", f"{_RUN}/label_manifolds.png", "cvae_label_manifolds.rst"),
        ("A conditional VAE (seed 003)", f"{_RUN}/code_distribution.png", "cvae_code_distribution.rst"),
        ("A conditional VAE (seed 003)", f"{_RUN}/cvae_reconstructions.png", "cvae_reconstructions.rst"),
    ],
    "factor_model": [
        _TRAINING,
        (
            "A nonlinear factor model (seed 004)",
            f"{_RUN}/factor_reconstruction.png",
            "factor_reconstruction.rst",
        ),
        ("A nonlinear factor model (seed 004)", f"{_RUN}/factor_codes.png", "factor_codes.rst"),
        ("A nonlinear factor model (seed 004)", f"{_RUN}/factor_g_curves.png", "factor_g_curves.rst"),
        ("A nonlinear factor model (seed 004)", f"{_RUN}/factor_noise_sd.png", "factor_noise_sd.rst"),
    ],
    "toy_manifold": [
        _TRAINING,
        (
            "A disconnected manifold, plain and conditional (seed 003)",
            f"{_RUN}/manifold_reconstructions.png",
            "manifold_reconstructions.rst",
        ),
    ],
}


def get_report_figures(wildcards):
    """(path, caption, section, mode) of every figure of the HTML report: the figures of each run's kind,
    drawn for the first training seed of each dataset and model and linked for the others (figure_list)."""
    captions = Path(workflow.basedir) / "workflow" / "report"
    return [
        figure
        for key, patterns in REPORT_FIGURES.items()
        for figure in figure_list(
            [(section, pattern, captions / caption) for section, pattern, caption in patterns],
            _report_runs(key),
        )
    ]


def _report_runs(key):
    """The runs a REPORT_FIGURES entry draws: a kind's, its conditional models' (`<kind>_conditional`)
    apart where the kind evaluates them otherwise. Where a conditional run gets every evaluation of the
    others and more (heatmaps), the kind's entry draws it too and `<kind>_conditional` adds the extras."""
    kind = KINDS[key.removesuffix("_conditional")]
    if kind.conditional_evaluations is None:
        return runs_of_kind(kind.name) if key == kind.name else []
    if key != kind.name:
        return runs_of_kind(kind.name, conditional=True)
    extends = set(kind.evaluations) <= set(kind.conditional_evaluations)
    return runs_of_kind(kind.name, conditional=None if extends else False)


def get_report_figure_files(wildcards):
    return [figure[0] for figure in get_report_figures(wildcards)]


def get_report_config(wildcards):
    """The resolved study config, shown in the report (a param: editing the config rebuilds the report)."""
    return config


def get_final_outputs():
    heatmap_runs = sorted({(r.dataset, r.seed) for r in runs_of_kind("heatmaps")})
    return (
        sorted({f"results/figures/{dataset}/sample_heatmaps.png" for dataset, _ in heatmap_runs})
        + [f"results/figures/{d}/reconstruction_errors_seed{seed}.png" for d, seed in heatmap_runs]
        + get_replicate_summaries()
        + [
            "results/metrics/summary.tsv",
            "results/metrics/comparison_with_sources.tsv",
            "results/report/report.html",
        ]
    )
