# Validates the config before anything is planned, and holds the small helpers the rules share.
from pathlib import Path

from vae_latent_study.aggregate.claims import claims_by_dataset
from vae_latent_study.aggregate.expected import read_expected
from vae_latent_study.config import (
    ConfigError,
    Run,
    plan,
    study_runs,
    training_hparams,
    unconditional_twin,
    validate_config,
)
from vae_latent_study.datasets import kind_module
from vae_latent_study.kinds.interface import RUN_EVALUATION, RUN_FIGURES
from vae_latent_study.kinds.registry import (
    KIND_MODULES,
    dataset_file,
    evaluations,
    kind,
    kinds,
    replicate_seed,
)
from vae_latent_study.provenance import code_digest
from vae_latent_study.report.chapter import chapter_modules
from vae_latent_study.report.page import describe_config_files, figure_list
from vae_latent_study.resources import gpu_per_job, job_resources

# A wrong config stops here, before any job is planned, with a message naming the key. The validated config
# replaces the given one whole: its mappings are key-sorted, so that params compare by value, and every
# order the workflow uses (datasets, models) is by name, whatever order the file listed them in.
_validated = validate_config(config, Path(workflow.basedir) / "config" / "config.schema.yaml")
# The one order kept from the file: the studies', for the report's cards and chapters.
STUDY_ORDER = [name for name in config.get("studies") or {} if name in _validated["studies"]]
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
    study="|".join(config["studies"]),


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
    """The dataset kind's spec (`kinds/<kind>/spec.py`) of a dataset of the config."""
    return kind(config["datasets"][dataset]["kind"])


def study_of(wildcards):
    """The study a job is scoped to (the `{study}` wildcard of a one-study target's aggregation and report),
    or None for the whole plan."""
    return wildcards.get("study") if wildcards is not None and hasattr(wildcards, "get") else None


def runs_in(wildcards=None):
    """The runs a job covers: its study's (`study_runs`) where it is scoped to one, else the whole plan."""
    study = study_of(wildcards)
    return RUNS if study is None else study_runs(config, study)


def studies_in(wildcards=None):
    """{name: spec} of the studies a job covers: its study only where it is scoped to one, else all."""
    study = study_of(wildcards)
    return dict(config["studies"]) if study is None else {study: config["studies"][study]}


def runs_of_kind(*names, conditional=None, runs=None):
    """The runs of the plan (or of `runs`) whose dataset is of one of the kinds `names` (and, where
    `conditional` is given, whose model is conditional or not)."""
    return [
        r
        for r in (RUNS if runs is None else runs)
        if kind_of(r.dataset).name in names
        and (conditional is None or is_conditional(r.model) == conditional)
    ]


def is_conditional(model):
    """Whether a model of the config is conditional (seed 003)."""
    return bool(config["models"][model].get("conditional"))


def run_evaluations(run):
    """The evaluations of one run: its kind's, for a conditional model or not."""
    return kind_of(run.dataset).evaluations_of_run(is_conditional(run.model))


def get_twin_model(wildcards):
    """The model file of a conditional run's unconditional twin (`config.unconditional_twin`), or none."""
    run = Run(wildcards.dataset, wildcards.model, int(wildcards.seed))
    twin = unconditional_twin(config, run)
    if twin is None:
        return []
    return [f"results/models/{twin.dataset}/{twin.model}/seed{twin.seed}/model.keras"]


def get_dataset_config(wildcards):
    """The validated config of one dataset: a rule param, so editing it reruns that dataset only. A kind
    may add to it (its spec's `build_params`: an images dataset's files and their SHA-256), so that a
    changed file rebuilds it."""
    settings = config["datasets"][wildcards.dataset]
    spec = kind(settings["kind"])
    extra = spec.data_hook(spec.build_params)
    return settings if extra is None else {**settings, **extra(settings)}


def get_replicate_config(wildcards):
    """The config of one replicate of a dataset drawn afresh per training seed: its own seed."""
    settings = dict(config["datasets"][wildcards.dataset])
    settings["seed"] = replicate_seed(settings["seed"], int(wildcards.seed))
    return settings


def get_dataset_file(wildcards):
    """The dataset file a run reads: one per dataset, or one per training seed for replicate kinds."""
    return dataset_file(wildcards.dataset, config["datasets"][wildcards.dataset]["kind"], int(wildcards.seed))


def get_gpu(wildcards):
    """The `gpu` a job that loads a Keras model declares (`resources.gpu_per_job`): 1 on a cluster or a
    machine with a GPU, 0 on one without, where such jobs are then scheduled by cores alone. Asked per job,
    once Snakemake knows its executor (it does not yet while it reads the Snakefile)."""
    return gpu_per_job(workflow.local_exec)


def get_train_threads(wildcards):
    """A training's TensorFlow threads and Snakemake `threads`: its dataset kind's (`train_threads`). A param
    too, fixed by the kind instead of taken from the cores Snakemake grants (`--cores 1` would scale it
    down), since another thread count may change the weights' last bits."""
    return kind_of(wildcards.dataset).train_threads


def get_model_hparams(wildcards):
    """One model's settings for one dataset: a rule param, so editing them retrains that model only."""
    return training_hparams(config["models"][wildcards.model], wildcards.dataset)


def get_backup_dir(wildcards):
    """Where an interrupted training keeps its last backup, to resume from it."""
    return f"results/models/{wildcards.dataset}/{wildcards.model}/seed{wildcards.seed}/backup"


# Which `evaluation` settings each rule that is not a declared evaluation reads (the evaluations declare
# theirs in their kind's spec). Each rule gets only its own as a param, with the study's global seed for its
# random draws, so editing one setting reruns only the rule that reads it.
EVALUATION_SETTINGS = {
    "aggregate_metrics": ("bootstrap_samples",),
}


def evaluation_params(rule_name):
    """A param function: the `evaluation` settings `rule_name` reads, plus the global seed."""

    def params(wildcards):
        settings = {key: config["evaluation"][key] for key in EVALUATION_SETTINGS[rule_name]}
        return {**settings, "seed": config["seed"]}

    return params


# --- the per-run evaluations, one rule each from the template in evaluation.smk -------------------------

#: Every evaluation the kinds declare.
EVALUATIONS = evaluations()

#: The one script of every evaluation rule.
EVALUATE_SCRIPT = Path(workflow.basedir) / "workflow" / "scripts" / "evaluate.py"

#: The inputs an evaluation may read, by role (`kinds.interface.INPUT_ROLES`).
INPUT_PATHS = {
    "model": "results/models/{dataset}/{model}/seed{seed}/model.keras",
    "dataset": get_dataset_file,
    "latents": "results/latents/{dataset}/{model}/seed{seed}.h5",
    "history": "results/models/{dataset}/{model}/seed{seed}/history.csv",
    "classifier": "results/classifiers/{dataset}/classifier.keras",
    "pixel_probe": "results/evaluation/{dataset}/pixels_pca2_knn.json",
    "twin": get_twin_model,
}


def evaluation_inputs(evaluation):
    """The rule's inputs of `evaluation`, by role."""
    return {role: INPUT_PATHS[role] for role in evaluation.inputs}


def evaluation_outputs(evaluation):
    """The rule's outputs of `evaluation`: its JSON (`metrics`), its extra outputs, and its figures with
    their `snakemake --report` captions."""
    outputs = {"metrics": evaluation.json}
    outputs.update({key: f"{RUN_EVALUATION}/{file}" for key, file in evaluation.extra_outputs.items()})
    for figure in evaluation.figures:
        outputs[figure.key] = report(
            figure.pattern,
            caption=f"../report/{figure.caption}",
            category=figure.category,
            subcategory="{dataset}",
            labels={"model": "{model}", "seed": "{seed}", "figure": figure.label},
        )
    return outputs


def evaluation_settings(evaluation):
    """A param function: the `evaluation` settings `evaluation` reads, the global seed where it reads it,
    and the model settings it reads (`model`): editing one reruns only the evaluations that read it."""

    def params(wildcards):
        settings = {key: config["evaluation"][key] for key in evaluation.settings}
        if evaluation.seeded:
            settings["seed"] = config["seed"]
        if evaluation.model_settings:
            model = config["models"][wildcards.model]
            settings["model"] = {key: model.get(key) for key in evaluation.model_settings}
        return settings

    return params


def get_run_identity(wildcards):
    """The identity block of a run's evaluation JSONs (`evaluation.runner`)."""
    dataset = config["datasets"][wildcards.dataset]
    return {
        "dataset": wildcards.dataset,
        "dataset_kind": dataset["kind"],
        "model": wildcards.model,
        "model_kind": config["models"][wildcards.model]["kind"],
        "seed": int(wildcards.seed),
        "family": kind(dataset["kind"]).family(dataset),
    }


def get_model_names(wildcards):
    """The models trained on one dataset with one seed (by the job's study, where it is scoped to one), by
    name."""
    return [
        r.model
        for r in runs_in(wildcards)
        if r.dataset == wildcards.dataset and r.seed == int(wildcards.seed)
    ]


def scoped_figure(pattern, study):
    """Where a one-study target puts a figure of the report. A figure of one dataset and seed that draws
    every model trained on them (a pattern with `{seed}` but no `{model}`: training curves, reconstruction
    errors) would draw other studies' models too, so a study target draws its own, under
    results/figures/studies/<study>/; every other figure is the run's own and stays where it is."""
    if study is None or "{model}" in pattern or "{seed}" not in pattern:
        return pattern
    return pattern.replace("results/figures/", f"results/figures/studies/{study}/", 1)


def get_reconstruction_tables(wildcards):
    """Per-image error tables of every model on one dataset and seed, in `get_model_names` order."""
    return expand(
        "results/evaluation/{dataset}/{model}/seed{seed}/reconstruction.tsv",
        dataset=wildcards.dataset,
        model=get_model_names(wildcards),
        seed=wildcards.seed,
    )


def get_metric_files(wildcards):
    """Every metrics JSON of every run (of the job's study, where it is scoped to one): the evaluations of
    its dataset's kind."""
    return [
        evaluation.json.format(dataset=r.dataset, model=r.model, seed=r.seed)
        for evaluation in EVALUATIONS
        if evaluation.metrics
        for r in runs_in(wildcards)
        if evaluation in run_evaluations(r)
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


def get_replicate_summaries(wildcards=None):
    """One replicate summary per (dataset, model) of the normal_1d runs (of the job's study, where it is
    scoped to one)."""
    pairs = sorted({(r.dataset, r.model) for r in runs_of_kind("normal_1d", runs=runs_in(wildcards))})
    return [f"results/evaluation/{dataset}/{model}/replicates.json" for dataset, model in pairs]


def get_expected_files(wildcards):
    """The expected-numbers file of every study of `get_study_members`, in its order."""
    return [expected_file(spec["expected"]) for spec in studies_in(wildcards).values() if spec["expected"]]


def get_claims(wildcards):
    """{dataset: the claims its study's source makes} (`claims:` of the expected files), for the datasets on
    which a VAE and an AE train (the pairs a claim judges): a param of the aggregation, so that editing a
    claim reruns it (and the comparison and report after it) and editing a printed number does not."""
    kinds = {}
    for r in runs_in(wildcards):
        kinds.setdefault(r.dataset, set()).add(config["models"][r.model]["kind"])
    return claims_by_dataset(
        (
            study,
            [d for d in spec["datasets"] if {"vae", "ae"} <= kinds.get(d, set())],
            expected_file(spec["expected"]),
        )
        for study, spec in studies_in(wildcards).items()
        if spec["expected"]
    )


def get_study_members(wildcards):
    """{study: {datasets, models}} of the studies with expected numbers: the runs each comparison covers."""
    return {
        study: {"datasets": spec["datasets"], "models": spec["models"]}
        for study, spec in studies_in(wildcards).items()
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
        for r in runs_of_kind("heatmaps", runs=runs_in(wildcards))
    ]


def get_report_figures(wildcards):
    """(path, caption, section, mode) of every figure of the HTML report: the figures each kind's spec
    declares (its per-dataset rules' and its evaluations'), drawn for the first training seed of each
    dataset and model and linked for the others (figure_list)."""
    captions = Path(workflow.basedir) / "workflow" / "report"
    return [
        figure
        for patterns, runs in _report_groups(runs_in(wildcards))
        for figure in figure_list(
            [
                (section, scoped_figure(pattern, study_of(wildcards)), captions / caption)
                for section, pattern, caption in patterns
            ],
            runs,
        )
    ]


def _report_groups(planned):
    """([(section, pattern, caption)], runs) per kind and evaluation set, in the kinds' order: the kind's
    figures and its evaluations' for the runs that get those evaluations. Where a conditional run gets every
    evaluation of the others and more (heatmaps), the first group draws it too and a second adds the
    extras."""
    groups = []
    for spec in kinds():
        before = [(f.section, f.pattern, f.caption) for f in spec.report_figures if not f.last]
        after = [(f.section, f.pattern, f.caption) for f in spec.report_figures if f.last]

        def figures(evaluations):
            return [(f.section, f.pattern, f.caption) for e in evaluations for f in e.figures]

        plain = spec.evaluations_of_run(False)
        if spec.conditional_evaluations is None:
            groups.append((before + figures(plain) + after, runs_of_kind(spec.name, runs=planned)))
            continue
        conditional = spec.evaluations_of_run(True)
        if set(spec.run_evaluations) <= set(spec.conditional_evaluations):
            extras = [e for e in conditional if e.name not in spec.run_evaluations]
            groups.append((before + figures(plain) + after, runs_of_kind(spec.name, runs=planned)))
            groups.append((figures(extras), runs_of_kind(spec.name, conditional=True, runs=planned)))
        else:
            groups.append(
                (before + figures(plain) + after, runs_of_kind(spec.name, conditional=False, runs=planned))
            )
            groups.append(
                (
                    before + figures(conditional) + after,
                    runs_of_kind(spec.name, conditional=True, runs=planned),
                )
            )
    return groups


def get_report_figure_files(wildcards):
    return [figure[0] for figure in get_report_figures(wildcards)]


def get_report_config(wildcards):
    """The resolved study config, shown in the report (a param: editing the config rebuilds the report); a
    one-study report's holds that study only."""
    study = study_of(wildcards)
    return config if study is None else {**config, "studies": studies_in(wildcards)}


def get_config_files(wildcards, output):
    """The config files Snakemake read, as the report's provenance names them: relative to the working
    directory, and which each is (the quick config, the default one or another file). It takes `output`, so
    Snakemake counts it as derived from the job's files and keeps it out of the params whose change reruns
    a job: the same config read from another file reruns nothing (the report then names the file of the
    run that built it), while a changed config reruns the report through `get_report_config`."""
    return describe_config_files(workflow.configfiles, workflow.basedir)


def get_final_outputs(study=None):
    """What `all` asks for (every study, the report), or, given a study's name, what its target asks for:
    its runs' figures and summaries, its own metric tables and its own report
    (`results/report/studies/<study>.html`)."""
    scope = None if study is None else {"study": study}
    heatmap_runs = sorted({(r.dataset, r.seed) for r in runs_of_kind("heatmaps", runs=runs_in(scope))})
    tables = "results/metrics" if study is None else f"results/metrics/studies/{study}"
    page = "results/report/report.html" if study is None else f"results/report/studies/{study}.html"
    return (
        sorted({f"results/figures/{dataset}/sample_heatmaps.png" for dataset, _ in heatmap_runs})
        + [
            scoped_figure("results/figures/{dataset}/reconstruction_errors_seed{seed}.png", study).format(
                dataset=d, seed=seed
            )
            for d, seed in heatmap_runs
        ]
        + get_replicate_summaries(scope)
        + [f"{tables}/summary.tsv", f"{tables}/comparison_with_sources.tsv", page]
    )


# --- batched kinds (`KindSpec.batch_seeds`): one job per (dataset, model) trains, and one per evaluation
# evaluates, every training seed of the plan in one process (`vae_latent_study.batch`) --------------------


class _Seed:
    """The wildcards of one run of a batch (what the per-run input functions read)."""

    def __init__(self, dataset, model, seed):
        self.dataset, self.model, self.seed = dataset, model, str(seed)


#: {(dataset, model): its training seeds, in order} of the runs whose kind has `batch_seeds`.
BATCHES = {}
for _run in RUNS:
    if kind_of(_run.dataset).batch_seeds:
        BATCHES.setdefault((_run.dataset, _run.model), []).append(_run.seed)
BATCHES = {pair: tuple(seeds) for pair, seeds in BATCHES.items()}


def batch_groups():
    """(name, dataset, models, seeds) of each batch group: one per dataset and seed list, since the outputs of
    a Snakemake rule are fixed (a dataset whose models train with other seed lists gets a group per list,
    `<dataset>_<k>`). The wildcards of each group's rules match exactly its (dataset, model) pairs."""
    by_dataset = {}
    for (dataset, model), seeds in BATCHES.items():
        by_dataset.setdefault(dataset, {}).setdefault(seeds, []).append(model)
    groups = []
    for dataset, lists in sorted(by_dataset.items()):
        for k, seeds in enumerate(sorted(lists), start=1):
            name = dataset if len(lists) == 1 else f"{dataset}_{k}"
            groups.append((name, dataset, tuple(sorted(lists[seeds])), seeds))
    return groups


BATCH_GROUPS = batch_groups()


def one_of(names):
    """A wildcard constraint matching exactly `names` (nothing when there are none)."""
    names = list(names)
    return "|".join(names) if names else "(?!)"


#: The datasets whose runs train and evaluate one job per run (`train_model`, `evaluate_<name>`).
UNBATCHED_DATASETS = one_of(
    d for d in config["datasets"] if not kind(config["datasets"][d]["kind"]).batch_seeds
)


def batch_seeds(wildcards):
    """The training seeds of one batch (a dataset and model)."""
    return list(BATCHES[(wildcards.dataset, wildcards.model)])


def batch_runs(wildcards):
    """The wildcards of each run of one batch, in seed order."""
    return [_Seed(wildcards.dataset, wildcards.model, seed) for seed in batch_seeds(wildcards)]


def get_batch_dataset_files(wildcards):
    """The dataset file of each seed of a batch (one file for all, or one per seed), in seed order."""
    return [get_dataset_file(run) for run in batch_runs(wildcards)]


def get_batch_backup_dirs(wildcards):
    """Each seed's training backup (`get_backup_dir`), in seed order."""
    return [get_backup_dir(run) for run in batch_runs(wildcards)]


def batch_training_outputs(seeds):
    """The per-run training files of every seed of a batch rule, by kind of file."""
    run = "results/models/{{dataset}}/{{model}}/seed{seed}"
    return {
        name: expand(f"{run}/{file}", seed=seeds)
        for name, file in (
            ("models", "model.keras"),
            ("metadata", "model.json"),
            ("histories", "history.csv"),
        )
    }


def batch_evaluation_inputs(evaluation):
    """An input function: every input of `evaluation` for every seed of a batch (by role, in seed order)."""

    def inputs(wildcards):
        found = {}
        for run in batch_runs(wildcards):
            for role, path in evaluation_inputs(evaluation).items():
                paths = path(run) if callable(path) else expand(path, **vars(run))
                found.setdefault(role, []).extend([paths] if isinstance(paths, str) else paths)
        return found

    return inputs


def batch_evaluation_outputs(evaluation, seeds):
    """The outputs of `evaluation` (`evaluation_outputs`) for each of `seeds`, by key: lists in seed order,
    the figures with their `snakemake --report` captions and the seed as label."""
    outputs = {
        "metrics": expand(evaluation.json, seed=seeds, allow_missing=True),
        **{
            key: expand(f"{RUN_EVALUATION}/{file}", seed=seeds, allow_missing=True)
            for key, file in evaluation.extra_outputs.items()
        },
    }
    for figure in evaluation.figures:
        outputs[figure.key] = [_seed_figure(figure, seed) for seed in seeds]
    return outputs


def _seed_figure(figure, seed):
    """One seed's file of a figure, as a `snakemake --report` output."""
    return report(
        figure.pattern.replace("{seed}", str(seed)),
        caption=f"../report/{figure.caption}",
        category=figure.category,
        subcategory="{dataset}",
        labels={"model": "{model}", "seed": str(seed), "figure": figure.label},
    )


def batch_evaluation_runs(evaluation):
    """A param function: each run of a batch of `evaluation` (`evaluation.runner.run_batch_job`): its
    identity, its inputs by role, its outputs by key and its JSON."""

    def runs(wildcards):
        found = []
        for run in batch_runs(wildcards):
            inputs = {}
            for role, path in evaluation_inputs(evaluation).items():
                paths = path(run) if callable(path) else path.format(**vars(run))
                inputs[role] = paths if isinstance(paths, str) else list(paths)
            fill = dict(vars(run))
            found.append(
                {
                    "identity": get_run_identity(run),
                    "inputs": inputs,
                    "outputs": {
                        **{
                            key: f"{RUN_EVALUATION}/{file}".format(**fill)
                            for key, file in evaluation.extra_outputs.items()
                        },
                        **{figure.key: figure.pattern.format(**fill) for figure in evaluation.figures},
                    },
                    "metrics": evaluation.json.format(**fill),
                }
            )
        return found

    return runs


def batched_evaluations(groups):
    """(evaluation, rule name, dataset, models, seeds) for each evaluation of each batch group's kind, with
    the group's models whose runs get it (a conditional model's may differ)."""
    found = []
    for name, dataset, models, seeds in groups:
        for evaluation in kind_of(dataset).evaluations:
            getting = [
                m for m in models if evaluation in kind_of(dataset).evaluations_of_run(is_conditional(m))
            ]
            if getting:
                found.append((evaluation, f"{evaluation.rule}_{name}", dataset, tuple(getting), seeds))
    return found
