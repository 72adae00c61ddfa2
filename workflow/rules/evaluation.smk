# Stage 3: reconstruction error, probes and disentanglement metrics of every latent store, then tables
# over seeds and the comparison with each study's source's printed numbers.


rule evaluate_reconstruction:
    input:
        latents="results/latents/{dataset}/{model}/seed{seed}.h5",
        dataset="results/data/{dataset}.h5",
    output:
        per_image="results/evaluation/{dataset}/{model}/seed{seed}/reconstruction.tsv",
        summary="results/evaluation/{dataset}/{model}/seed{seed}/reconstruction.json",
    params:
        code=package_code("evaluate_reconstruction.py"),
    log:
        "logs/evaluate_reconstruction/{dataset}/{model}/seed{seed}.log",
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/evaluate_reconstruction.py"


rule probe_latents:
    input:
        latents="results/latents/{dataset}/{model}/seed{seed}.h5",
        dataset="results/data/{dataset}.h5",
    output:
        "results/evaluation/{dataset}/{model}/seed{seed}/probes.json",
    params:
        code=package_code("probe_latents.py"),
        evaluation=evaluation_params("probe_latents"),
    log:
        "logs/probe_latents/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/probe_latents/{dataset}/{model}/seed{seed}.tsv"
    threads: 2
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/probe_latents.py"


rule score_latents:
    input:
        latents="results/latents/{dataset}/{model}/seed{seed}.h5",
        dataset="results/data/{dataset}.h5",
    output:
        "results/evaluation/{dataset}/{model}/seed{seed}/scores.json",
    params:
        code=package_code("score_latents.py"),
        evaluation=evaluation_params("score_latents"),
    log:
        "logs/score_latents/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/score_latents/{dataset}/{model}/seed{seed}.tsv"
    threads: 2
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/score_latents.py"


rule evaluate_generation:
    input:
        model="results/models/{dataset}/{model}/seed{seed}/model.keras",
        dataset=get_dataset_file,
    output:
        metrics="results/evaluation/{dataset}/{model}/seed{seed}/generation.json",
        histogram=report(
            "results/figures/{dataset}/{model}/seed{seed}/generated_histogram.png",
            caption="../report/generated_histogram.rst",
            category="Generation",
            subcategory="{dataset}",
            labels={"model": "{model}", "seed": "{seed}", "figure": "histogram"},
        ),
        qq="results/figures/{dataset}/{model}/seed{seed}/generated_qq.png",
        decoder_curve="results/figures/{dataset}/{model}/seed{seed}/decoder_curve.png",
    params:
        code=package_code("evaluate_generation.py"),
        protocol=get_generation_protocol,
    log:
        "logs/evaluate_generation/{dataset}/{model}/seed{seed}.log",
    resources:
        gpu=1,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/evaluate_generation.py"


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


rule evaluate_recovery:
    input:
        model="results/models/{dataset}/{model}/seed{seed}/model.keras",
        dataset=get_dataset_file,
    output:
        metrics="results/evaluation/{dataset}/{model}/seed{seed}/recovery.json",
        reconstruction=report(
            "results/figures/{dataset}/{model}/seed{seed}/factor_reconstruction.png",
            caption="../report/factor_reconstruction.rst",
            category="Factor model",
            subcategory="{dataset}",
            labels={"model": "{model}", "seed": "{seed}", "figure": "reconstruction"},
        ),
        codes="results/figures/{dataset}/{model}/seed{seed}/factor_codes.png",
        g_curves="results/figures/{dataset}/{model}/seed{seed}/factor_g_curves.png",
        noise_sd="results/figures/{dataset}/{model}/seed{seed}/factor_noise_sd.png",
    params:
        code=package_code("evaluate_recovery.py"),
    log:
        "logs/evaluate_recovery/{dataset}/{model}/seed{seed}.log",
    resources:
        gpu=1,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/evaluate_recovery.py"


rule evaluate_manifold:
    input:
        model="results/models/{dataset}/{model}/seed{seed}/model.keras",
        dataset=get_dataset_file,
    output:
        metrics="results/evaluation/{dataset}/{model}/seed{seed}/manifold.json",
        figure=report(
            "results/figures/{dataset}/{model}/seed{seed}/manifold_reconstructions.png",
            caption="../report/manifold_reconstructions.rst",
            category="Toy manifold",
            subcategory="{dataset}",
            labels={"model": "{model}", "seed": "{seed}", "figure": "reconstructions"},
        ),
    params:
        code=package_code("evaluate_manifold.py"),
    log:
        "logs/evaluate_manifold/{dataset}/{model}/seed{seed}.log",
    resources:
        gpu=1,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/evaluate_manifold.py"


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
        gpu=1,
        mem_mb=4000,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/train_classifier.py"


rule evaluate_images:
    input:
        model="results/models/{dataset}/{model}/seed{seed}/model.keras",
        dataset=get_dataset_file,
        history="results/models/{dataset}/{model}/seed{seed}/history.csv",
        classifier="results/classifiers/{dataset}/classifier.keras",
    output:
        metrics="results/evaluation/{dataset}/{model}/seed{seed}/images.json",
        embedding=report(
            "results/figures/{dataset}/{model}/seed{seed}/embedding.png",
            caption="../report/images_embedding.rst",
            category="Images",
            subcategory="{dataset}",
            labels={"model": "{model}", "seed": "{seed}", "figure": "embedding"},
        ),
        grid="results/figures/{dataset}/{model}/seed{seed}/code_grid.png",
        samples="results/figures/{dataset}/{model}/seed{seed}/samples.png",
        reconstructions="results/figures/{dataset}/{model}/seed{seed}/image_reconstructions.png",
    params:
        code=package_code("evaluate_images.py"),
        evaluation=evaluation_params("evaluate_images"),
    log:
        "logs/evaluate_images/{dataset}/{model}/seed{seed}.log",
    threads: 2
    resources:
        gpu=1,
        mem_mb=4000,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/evaluate_images.py"


rule evaluate_cvae:
    input:
        model="results/models/{dataset}/{model}/seed{seed}/model.keras",
        dataset=get_dataset_file,
        history="results/models/{dataset}/{model}/seed{seed}/history.csv",
        classifier="results/classifiers/{dataset}/classifier.keras",
        # The same VAE without the label, for the ELBO and probe comparison; none where the plan has none.
        twin=get_twin_model,
    output:
        metrics="results/evaluation/{dataset}/{model}/seed{seed}/cvae.json",
        style_transfer=report(
            "results/figures/{dataset}/{model}/seed{seed}/style_transfer.png",
            caption="../report/cvae_style_transfer.rst",
            category="Conditional VAE",
            subcategory="{dataset}",
            labels={"model": "{model}", "seed": "{seed}", "figure": "style transfer"},
        ),
        manifolds="results/figures/{dataset}/{model}/seed{seed}/label_manifolds.png",
        code_distribution="results/figures/{dataset}/{model}/seed{seed}/code_distribution.png",
        reconstructions="results/figures/{dataset}/{model}/seed{seed}/cvae_reconstructions.png",
    params:
        code=package_code("evaluate_cvae.py"),
        evaluation=evaluation_params("evaluate_cvae"),
    log:
        "logs/evaluate_cvae/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/evaluate_cvae/{dataset}/{model}/seed{seed}.tsv"
    threads: 2
    resources:
        gpu=1,
        mem_mb=4000,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/evaluate_cvae.py"


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


rule evaluate_transfer:
    input:
        model="results/models/{dataset}/{model}/seed{seed}/model.keras",
        dataset=get_dataset_file,
    output:
        metrics="results/evaluation/{dataset}/{model}/seed{seed}/transfer.json",
        figure=report(
            "results/figures/{dataset}/{model}/seed{seed}/tail_transfer.png",
            caption="../report/tail_transfer.rst",
            category="Style transfer between tails",
            subcategory="{dataset}",
            labels={"model": "{model}", "seed": "{seed}", "figure": "tail transfer"},
        ),
    params:
        code=package_code("evaluate_transfer.py"),
    log:
        "logs/evaluate_transfer/{dataset}/{model}/seed{seed}.log",
    resources:
        gpu=1,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/evaluate_transfer.py"
