# Stage 3: every per-run evaluation that a kind's spec declares (`kinds/<kind>/spec.py`), one rule each
# from one template, then tables over seeds and the comparison with each study's source's printed numbers.

# One rule per declared evaluation: `evaluate_<name>` writes `<name>.json` (and its figures) by running
# `<module>.evaluate_<name>` through `evaluation.runner`. Its code digest covers the script and its own
# module's closure, and its params only the settings it reads, so an edit of one evaluation reruns it alone.
for _evaluation in EVALUATIONS:

    rule:
        input:
            **evaluation_inputs(_evaluation),
        output:
            **evaluation_outputs(_evaluation),
        params:
            code=code_digest(EVALUATE_SCRIPT, _evaluation.module),
            evaluation=_evaluation.name,
            module=_evaluation.module,
            identity=get_run_identity,
            settings=evaluation_settings(_evaluation),
        log:
            f"logs/{_evaluation.rule}/{{dataset}}/{{model}}/seed{{seed}}.log",
        benchmark:
            f"benchmarks/{_evaluation.rule}/{{dataset}}/{{model}}/seed{{seed}}.tsv"
        threads: _evaluation.threads
        resources:
            **job_resources(_evaluation.resources, get_gpu),
        conda:
            "../../envs/study.yaml"
        name:
            _evaluation.rule
        # The kinds with `batch_seeds` evaluate in `evaluate_<name>_<dataset>` below.
        wildcard_constraints:
            dataset=UNBATCHED_DATASETS,
        script:
            "../scripts/evaluate.py"


# The kinds with `batch_seeds`: one job per dataset and model runs the evaluation for every training seed in
# one process (`evaluation.runner.run_batch_job`), with the same per-run files, code digest and settings as
# `evaluate_<name>`.
for _evaluation, _rule, _dataset, _models, _seeds in batched_evaluations(BATCH_GROUPS):

    rule:
        input:
            unpack(batch_evaluation_inputs(_evaluation)),
        output:
            **batch_evaluation_outputs(_evaluation, _seeds),
        params:
            code=code_digest(EVALUATE_SCRIPT, _evaluation.module),
            evaluation=_evaluation.name,
            module=_evaluation.module,
            runs=batch_evaluation_runs(_evaluation),
            settings=evaluation_settings(_evaluation),
        log:
            f"logs/{_evaluation.rule}/{{dataset}}/{{model}}.log",
        benchmark:
            f"benchmarks/{_evaluation.rule}/{{dataset}}/{{model}}.tsv"
        threads: _evaluation.threads
        resources:
            **job_resources(_evaluation.resources, get_gpu),
        conda:
            "../../envs/study.yaml"
        name:
            _rule
        wildcard_constraints:
            dataset=_dataset,
            model=one_of(_models),
        script:
            "../scripts/evaluate.py"


rule summarise_replicates:
    input:
        generations=get_replicate_generations,
        histories=get_replicate_histories,
    output:
        summary="results/evaluation/{dataset}/{model}/replicates.json",
        trace=report(
            "results/figures/{dataset}/{model}/generated_std_trace.png",
            caption="../report/generated_std_trace.rst",
            category="Generation",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "generated sd by epoch"},
        ),
    params:
        code=package_code("summarise_replicates.py"),
    log:
        "logs/summarise_replicates/{dataset}/{model}.log",
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/summarise_replicates.py"


rule train_classifier:
    input:
        "results/data/{dataset}.h5",
    output:
        model="results/classifiers/{dataset}/classifier.keras",
        metrics="results/classifiers/{dataset}/classifier.json",
    params:
        code=package_code("train_classifier.py"),
        settings=lambda wildcards: config["evaluation"]["classifier"],
        compute_threads=2,
    log:
        "logs/train_classifier/{dataset}.log",
    threads: 2
    resources:
        gpu=get_gpu,
        mem_mb=4000,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/train_classifier.py"


rule plot_reconstruction_errors:
    input:
        get_reconstruction_tables,
    output:
        report(
            "results/figures/{dataset}/reconstruction_errors_seed{seed}.png",
            caption="../report/reconstruction_errors.rst",
            category="Evaluation",
            subcategory="{dataset}",
        ),
    params:
        code=package_code("plot_reconstruction_errors.py"),
        models=get_model_names,
    log:
        "logs/plot_reconstruction_errors/{dataset}/seed{seed}.log",
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/plot_reconstruction_errors.py"


rule probe_pixels:
    input:
        "results/data/{dataset}.h5",
    output:
        "results/evaluation/{dataset}/pixels_pca2_knn.json",
    params:
        code=package_code("probe_pixels.py"),
        settings=lambda wildcards: {key: config["evaluation"][key] for key in ("knn_k", "cv_folds")},
    log:
        "logs/probe_pixels/{dataset}.log",
    benchmark:
        "benchmarks/probe_pixels/{dataset}.tsv"
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/probe_pixels.py"


rule aggregate_metrics:
    input:
        metrics=get_metric_files,
        # Their empty share joins the metrics: the paired claims test it.
        explorations=get_exploration_summaries,
    output:
        tidy="results/metrics/metrics.tsv",
        summary="results/metrics/summary.tsv",
        paired="results/metrics/paired_vae_vs_ae.tsv",
    params:
        code=package_code("aggregate_metrics.py"),
        evaluation=evaluation_params("aggregate_metrics"),
        # The sources' claims, judged on the paired table (config/expected/<name>.yaml's `claims`).
        claims=get_claims,
    log:
        "logs/aggregate_metrics.log",
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/aggregate_metrics.py"


rule compare_with_sources:
    input:
        metrics="results/metrics/metrics.tsv",
        # One file per study of `get_study_members`, in its order; an edited file reruns the comparison.
        expected=get_expected_files,
    output:
        "results/metrics/comparison_with_sources.tsv",
    params:
        code=package_code("compare_with_sources.py"),
        studies=get_study_members,
    log:
        "logs/compare_with_sources.log",
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/compare_with_sources.py"


# For a study's target (`snakemake <study>`): its own figure of a dataset's models (`scoped_figure`) and its
# own tables, by the same rules over that study's runs only (the input functions read the `{study}` wildcard).
use rule plot_reconstruction_errors as plot_study_reconstruction_errors with:
    output:
        "results/figures/studies/{study}/{dataset}/reconstruction_errors_seed{seed}.png",
    log:
        "logs/plot_study_reconstruction_errors/{study}/{dataset}/seed{seed}.log",


use rule aggregate_metrics as aggregate_study_metrics with:
    output:
        tidy="results/metrics/studies/{study}/metrics.tsv",
        summary="results/metrics/studies/{study}/summary.tsv",
        paired="results/metrics/studies/{study}/paired_vae_vs_ae.tsv",
    log:
        "logs/aggregate_study_metrics/{study}.log",


use rule compare_with_sources as compare_study_with_sources with:
    input:
        metrics="results/metrics/studies/{study}/metrics.tsv",
        expected=get_expected_files,
    output:
        "results/metrics/studies/{study}/comparison_with_sources.tsv",
    log:
        "logs/compare_study_with_sources/{study}.log",
