# Stage 2: train each run of the studies (a model on a dataset, once per training seed), then encode the
# heatmap runs' data into latent stores.


rule train_model:
    input:
        get_dataset_file,
    output:
        model="results/models/{dataset}/{model}/seed{seed}/model.keras",
        metadata="results/models/{dataset}/{model}/seed{seed}/model.json",
        history="results/models/{dataset}/{model}/seed{seed}/history.csv",
    params:
        code=package_code("train_model.py"),
        hparams=get_model_hparams,
        backup_dir=get_backup_dir,
        compute_threads=get_train_threads,
    log:
        "logs/train_model/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/train_model/{dataset}/{model}/seed{seed}.tsv"
    threads: get_train_threads
    resources:
        gpu=get_gpu,
        mem_mb=6000,
        runtime=240,
    conda:
        "../../envs/study.yaml"
    # The kinds with `batch_seeds` train in `train_models_<dataset>` below.
    wildcard_constraints:
        dataset=UNBATCHED_DATASETS,
    script:
        "../scripts/train_model.py"


# The kinds with `batch_seeds` (runs of seconds): one job per dataset and model trains every seed of the
# plan in one process (`training.batch.train_seeds`), writing the same per-run files as `train_model`. A
# rule per dataset (and seed list), since a rule's outputs are fixed; its wildcards match its pairs only.
for _name, _dataset, _models, _seeds in BATCH_GROUPS:

    rule:
        input:
            datasets=get_batch_dataset_files,
        output:
            **batch_training_outputs(_seeds),
        params:
            code=package_code("train_models.py"),
            hparams=get_model_hparams,
            seeds=batch_seeds,
            backup_dirs=get_batch_backup_dirs,
            # As train_model's: the weights' bits depend on TensorFlow's thread count.
            compute_threads=get_train_threads,
        log:
            "logs/train_models/{dataset}/{model}.log",
        benchmark:
            "benchmarks/train_models/{dataset}/{model}.tsv"
        threads: get_train_threads
        resources:
            gpu=get_gpu,
            mem_mb=6000,
            runtime=240,
        conda:
            "../../envs/study.yaml"
        name:
            f"train_models_{_name}"
        wildcard_constraints:
            dataset=_dataset,
            model=one_of(_models),
        script:
            "../scripts/train_models.py"


rule encode_dataset:
    input:
        model="results/models/{dataset}/{model}/seed{seed}/model.keras",
        dataset=get_dataset_file,
    output:
        "results/latents/{dataset}/{model}/seed{seed}.h5",
    params:
        code=package_code("encode_dataset.py"),
    log:
        "logs/encode_dataset/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/encode_dataset/{dataset}/{model}/seed{seed}.tsv"
    threads: 2
    resources:
        gpu=get_gpu,
        mem_mb=4000,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/encode_dataset.py"
