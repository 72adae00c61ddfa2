# Stage 4: the latent space of every trained model explored and drawn, the training curves, and the
# self-contained HTML report that answers the study's questions from all of it.


rule explore_latents:
    input:
        model="results/models/{dataset}/{model}/seed{seed}/model.keras",
        latents="results/latents/{dataset}/{model}/seed{seed}.h5",
        dataset=get_dataset_file,
    output:
        projections=report(
            "results/figures/{dataset}/{model}/seed{seed}/projections.png",
            caption="../report/projections.rst",
            category="Latent space",
            subcategory="{dataset}",
            labels={"model": "{model}", "seed": "{seed}", "figure": "projections"},
        ),
        latent_3d=report(
            "results/figures/{dataset}/{model}/seed{seed}/latent_3d.png",
            caption="../report/latent_3d.rst",
            category="Latent space",
            subcategory="{dataset}",
            labels={"model": "{model}", "seed": "{seed}", "figure": "3-D views"},
        ),
        interactive=report(
            "results/figures/{dataset}/{model}/seed{seed}/latent_3d.html",
            caption="../report/interactive_latent_3d.rst",
            category="Latent space",
            subcategory="{dataset}",
            labels={"model": "{model}", "seed": "{seed}", "figure": "interactive 3-D view"},
        ),
        # The same interactive figure as plotly JSON: the HTML report draws it without a second plotly.js.
        interactive_json="results/figures/{dataset}/{model}/seed{seed}/latent_3d.json",
        reconstructions=report(
            "results/figures/{dataset}/{model}/seed{seed}/reconstructions.png",
            caption="../report/reconstructions.rst",
            category="Evaluation",
            subcategory="{dataset}",
            labels={"model": "{model}", "seed": "{seed}", "figure": "reconstructions"},
        ),
        trajectories=report(
            "results/figures/{dataset}/{model}/seed{seed}/trajectories.png",
            caption="../report/trajectories.rst",
            category="Latent paths",
            subcategory="{dataset}",
            labels={"model": "{model}", "seed": "{seed}", "figure": "paths"},
        ),
        traversals=report(
            "results/figures/{dataset}/{model}/seed{seed}/traversals.png",
            caption="../report/traversals.rst",
            category="Latent paths",
            subcategory="{dataset}",
            labels={"model": "{model}", "seed": "{seed}", "figure": "axis traversals"},
        ),
        empty_regions=report(
            "results/figures/{dataset}/{model}/seed{seed}/empty_regions.png",
            caption="../report/empty_regions.rst",
            category="Latent paths",
            subcategory="{dataset}",
            labels={"model": "{model}", "seed": "{seed}", "figure": "empty regions"},
        ),
        summary="results/evaluation/{dataset}/{model}/seed{seed}/exploration.json",
    params:
        code=package_code("explore_latents.py"),
    log:
        "logs/explore_latents/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/explore_latents/{dataset}/{model}/seed{seed}.tsv"
    threads: 1
    # Loading the Keras model starts TensorFlow, which on a GPU reserves its memory: counted as a GPU job
    # so that it never runs beside a training job there (decoding a few hundred points takes seconds).
    resources:
        gpu=get_gpu,
        mem_mb=4000,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/explore_latents.py"


rule plot_training_curves:
    input:
        get_training_histories,
    output:
        report(
            "results/figures/{dataset}/training_curves_seed{seed}.png",
            caption="../report/training_curves.rst",
            category="Training",
            subcategory="{dataset}",
        ),
    params:
        code=package_code("plot_training_curves.py"),
        models=get_model_names,
    log:
        "logs/plot_training_curves/{dataset}/seed{seed}.log",
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/plot_training_curves.py"


rule build_report:
    input:
        figures=get_report_figure_files,
        explorations=get_exploration_summaries,
        replicates=get_replicate_summaries,
        summary="results/metrics/summary.tsv",
        comparison="results/metrics/comparison_with_sources.tsv",
        paired="results/metrics/paired_vae_vs_ae.tsv",
        # Per seed: the first section's spreads over seeds.
        metrics="results/metrics/metrics.tsv",
    output:
        "results/report/report.html",
    params:
        # The kinds' chapters too: the page imports them by name.
        code=package_code("build_report.py", *chapter_modules(KIND_MODULES)),
        figures=get_report_figures,
        config=get_report_config,
        # The studies in the config file's order (the resolved config's are sorted by name).
        study_order=STUDY_ORDER,
        # The checkout whose git commit the provenance names (the Snakefile's directory).
        source_dir=workflow.basedir,
        # The config file(s) the provenance names; not a rerun trigger (see get_config_files).
        config_files=get_config_files,
    log:
        "logs/build_report.log",
    benchmark:
        "benchmarks/build_report.tsv"
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/build_report.py"


use rule plot_training_curves as plot_study_training_curves with:
    output:
        "results/figures/studies/{study}/{dataset}/training_curves_seed{seed}.png",
    log:
        "logs/plot_study_training_curves/{study}/{dataset}/seed{seed}.log",


# One study's own report, for its target (`snakemake <study>`): the same page over that study's runs,
# tables and figures only.
use rule build_report as build_study_report with:
    input:
        figures=get_report_figure_files,
        explorations=get_exploration_summaries,
        replicates=get_replicate_summaries,
        summary="results/metrics/studies/{study}/summary.tsv",
        comparison="results/metrics/studies/{study}/comparison_with_sources.tsv",
        paired="results/metrics/studies/{study}/paired_vae_vs_ae.tsv",
        metrics="results/metrics/studies/{study}/metrics.tsv",
    output:
        "results/report/studies/{study}.html",
    log:
        "logs/build_study_report/{study}.log",
    benchmark:
        "benchmarks/build_study_report/{study}.tsv"
