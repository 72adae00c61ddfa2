# Stage 1: parameter grids -> HDF5 heatmap datasets, and a look at a sample of them.


rule simulate_heatmaps:
    output:
        "results/data/{dataset}.h5",
    params:
        code=package_code("simulate_heatmaps.py"),
        dataset=get_dataset_config,
        # A new generator version (a change that can move a pixel) rebuilds every dataset.
        generator_version=GENERATOR_VERSION,
    log:
        "logs/simulate_heatmaps/{dataset}.log",
    benchmark:
        "benchmarks/simulate_heatmaps/{dataset}.tsv"
    threads: 2
    resources:
        mem_mb=2000,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/simulate_heatmaps.py"


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
