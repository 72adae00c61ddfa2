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
        gpu=GPU_JOB,
        mem_mb=6000,
        runtime=240,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/train_model.py"


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
        gpu=GPU_JOB,
        mem_mb=4000,
    conda:
        "../../envs/study.yaml"
    script:
        "../scripts/encode_dataset.py"
