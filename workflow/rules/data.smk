# Stage 1: each dataset built by its kind into the one HDF5 layout, and a look at a sample of the heatmaps.


rule build_dataset:
    output:
        "results/data/{dataset}.h5",
    params:
        code=get_build_code,
        # The build's code digest covers the built kind's modules only (GENERATOR_VERSION included, a
        # constant of kinds/heatmaps/data.py): a heatmap generator change rebuilds no other kind's data.
        dataset=get_dataset_config,
    log:
        "logs/build_dataset/{dataset}.log",
    benchmark:
        "benchmarks/build_dataset/{dataset}.tsv"
    threads: 2
    resources:
        mem_mb=2000,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/build_dataset.py"


rule build_dataset_replicate:
    output:
        "results/data/{dataset}/seed{seed}.h5",
    params:
        code=get_build_code,
        # The dataset's config with the replicate's own seed: a fresh sample per training seed.
        dataset=get_replicate_config,
    log:
        "logs/build_dataset/{dataset}/seed{seed}.log",
    benchmark:
        "benchmarks/build_dataset/{dataset}/seed{seed}.tsv"
    resources:
        mem_mb=2000,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/build_dataset.py"


rule plot_sample_heatmaps:
    input:
        "results/data/{dataset}.h5",
    output:
        report(
            "results/figures/{dataset}/sample_heatmaps.png",
            caption="../report/sample_heatmaps.rst",
            category="Data",
            subcategory="{dataset}",
        ),
    params:
        code=package_code("plot_sample_heatmaps.py"),
        figure=get_sample_figure_params,
    log:
        "logs/plot_sample_heatmaps/{dataset}.log",
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/plot_sample_heatmaps.py"
