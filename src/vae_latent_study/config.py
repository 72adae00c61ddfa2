"""Validation of the study configuration: JSON schema with defaults, then the checks a schema cannot say."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators

from vae_latent_study.errors import ConfigError
from vae_latent_study.kinds.registry import KIND_MODULES, condition_messages, kind, kinds

_VAE_ONLY = {"kl_reduction", "beta", "sampler"}
#: The keys each likelihood type reads (see models.check_likelihood).
_LIKELIHOOD_KEYS = {
    "bernoulli": ("type", "scale"),
    "binary_crossentropy": ("type",),
    "squared_error": ("type", "variant"),
    "gaussian": ("type", "variance", "log_var", "log_var_rate", "sd"),
}
_DECAY_ONLY = {"decay_steps", "decay_rate", "staircase"}


def _with_defaults(validator_class):
    """A validator that fills each missing property with its schema default while it validates."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if validator.is_type(instance, "object"):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


_DefaultFillingValidator = _with_defaults(Draft202012Validator)


def load_schema(path: str | Path) -> dict:
    """Read the YAML JSON schema of the configuration, and stitch in each dataset kind's: the kinds of
    `kinds.registry.KIND_MODULES` are the enum of a dataset's `kind`, and each kind's
    `kinds/<kind>/schema.yaml` is `$defs/<kind>_dataset`."""
    with open(path) as fh:
        schema = yaml.safe_load(fh)
    names = list(KIND_MODULES)
    kind = schema["properties"]["datasets"]["additionalProperties"]["properties"]["kind"]
    kind["enum"] = names
    for name in names:
        fragment = resources.files("vae_latent_study.kinds").joinpath(name, "schema.yaml")
        schema["$defs"][f"{name}_dataset"] = yaml.safe_load(fragment.read_text(encoding="utf-8"))
    return schema


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _schema_messages(config: dict, schema: Mapping) -> list[str]:
    messages = _errors(config, schema, [])
    if not messages:
        # Each dataset against its kind's schema, now that the kind is known (and its default filled in).
        for name, dataset in config["datasets"].items():
            kind_schema = {"$ref": f"#/$defs/{dataset['kind']}_dataset", "$defs": schema["$defs"]}
            messages += _errors(dataset, kind_schema, ["datasets", name])
    return sorted(set(messages))


def _errors(instance: Any, schema: Mapping, prefix: list[str]) -> list[str]:
    messages = []
    for error in _DefaultFillingValidator(schema).iter_errors(instance):
        if "propertyNames" in error.schema_path:
            messages.append(
                f"config key '{_key([*prefix, *error.absolute_path, error.instance])}': a name must be a "
                "plain identifier (a letter, then letters, digits or underscores)"
            )
        else:
            messages.append(f"config key '{_key([*prefix, *error.absolute_path])}': {error.message}")
    return messages


def _semantic_messages(config: dict, given: Mapping[str, Any]) -> list[str]:
    messages = _kind_messages(config, given)
    messages += _study_messages(config)
    for name, model in config["models"].items():
        given_model = given.get("models", {}).get(name, {})
        if model["kind"] == "ae":
            for key in _VAE_ONLY & set(given_model):
                messages.append(f"config key 'models.{name}.{key}': applies to kind vae only")
        if model["architecture"] in ("conv36", "conv32"):
            for key in ("encoder", "decoder"):
                if model[key]:
                    messages.append(f"config key 'models.{name}.{key}': applies to architecture dense only")
        if model["architecture"] == "conv36":
            if model["sampler"] not in (None, "log_sigma"):
                messages.append(f"config key 'models.{name}.sampler': conv36 is seed 000's, with log_sigma")
            if model["likelihood"]["type"] != "bernoulli":
                messages.append(f"config key 'models.{name}.likelihood.type': conv36 has the bernoulli only")
        if model["architecture"] == "conv32" and model["likelihood"]["type"] not in (
            "bernoulli",
            "binary_crossentropy",
        ):
            messages.append(
                f"config key 'models.{name}.likelihood.type': conv32 decodes pixels in [0, 1]: bernoulli "
                "or binary_crossentropy"
            )
        if model["likelihood"]["type"] == "gaussian" and model["kind"] != "vae":
            messages.append(f"config key 'models.{name}.likelihood.type': gaussian needs kind vae")
        likelihood = model["likelihood"]
        if likelihood.get("log_var_rate") is not None and (
            likelihood["type"] != "gaussian" or likelihood["variance"] not in ("per_feature", "shared")
        ):
            messages.append(
                f"config key 'models.{name}.likelihood.log_var_rate': applies to a gaussian likelihood with "
                "a learned log-variance (variance per_feature or shared)"
            )
        messages += _normal_1d_option_messages(name, model, given_model)
        for dataset in given_model.get("epochs_per_dataset", {}):
            if dataset not in config["datasets"]:
                messages.append(f"config key 'models.{name}.epochs_per_dataset.{dataset}': no such dataset")
        if model["schedule"]["type"] == "constant":
            for key in _DECAY_ONLY & set(given_model.get("schedule", {})):
                messages.append(
                    f"config key 'models.{name}.schedule.{key}': applies to exponential_decay only"
                )
    return messages


def _normal_1d_option_messages(name: str, model: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """The options seed 002's study added: likelihood.sd, standardise, generation."""
    messages = []
    likelihood = model["likelihood"]
    given_likelihood = given.get("likelihood", {})
    if likelihood.get("sd") is not None:
        key = f"config key 'models.{name}.likelihood.sd'"
        if likelihood["type"] != "gaussian":
            messages.append(f"{key}: applies to likelihood type gaussian only")
        elif likelihood["variance"] in ("decoder", "decoder_mean"):
            messages.append(
                f"{key}: sets a per_feature, shared or fixed variance, not variance {likelihood['variance']}"
            )
        if "log_var" in given_likelihood:
            messages.append(f"{key}: give sd or log_var, not both")
    if model.get("standardise") and model["architecture"] != "dense":
        messages.append(f"config key 'models.{name}.standardise': applies to architecture dense only")
    if model.get("generation") == "likelihood_sample" and likelihood["type"] != "gaussian":
        messages.append(
            f"config key 'models.{name}.generation': likelihood_sample draws from a gaussian likelihood; "
            f"this model's is {likelihood['type']}"
        )
    if model.get("trace_generated_std") and model.get("conditional"):
        messages.append(f"config key 'models.{name}.trace_generated_std': not for conditional models")
    return messages


def _kind_messages(config: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """The checks of a kind's dataset configs a schema cannot say (a split that leaves too few rows, a
    reversed range), from its data module (the spec's `config_messages`), imported only when a dataset of
    the kind exists: every Snakemake start, dry runs too, pays for it."""
    messages = []
    for name, ds in config["datasets"].items():
        spec = kind(ds["kind"])
        check = spec.data_hook(spec.config_messages)
        if check is not None:
            settings = {k: v for k, v in ds.items() if k != "kind"}
            given_settings = given.get("datasets", {}).get(name, {})
            messages += check(settings, prefix=f"datasets.{name}.", given=given_settings)
    return messages


def _study_messages(config: Mapping[str, Any]) -> list[str]:
    messages = []
    for name, study in config["studies"].items():
        for part in ("datasets", "models"):
            for i, member in enumerate(study[part]):
                if member not in config[part]:
                    key = f"studies.{name}.{part}.{i}"
                    messages.append(f"config key '{key}': no {part[:-1]} named {member!r}")
        for i, (dataset, model) in enumerate(_pairs(study)):
            if dataset in config["datasets"] and model in config["models"]:
                spec = kind(config["datasets"][dataset]["kind"])
                architecture = config["models"][model]["architecture"]
                if architecture not in spec.architectures:
                    where = f"pairs.{i}" if study["pairs"] else f"models.{study['models'].index(model)}"
                    messages.append(
                        f"config key 'studies.{name}.{where}': {model} ({architecture}) cannot train on "
                        f"{dataset}, of kind {spec.name} (its models are {', '.join(spec.architectures)})"
                    )
        messages += _conditional_messages(name, study, config)
        for i, (dataset, model) in enumerate(study["pairs"]):
            if dataset not in study["datasets"] or model not in study["models"]:
                messages.append(
                    f"config key 'studies.{name}.pairs.{i}': [{dataset}, {model}] is not a pair of the "
                    "study's datasets and models"
                )
    return messages


def _conditional_messages(name: str, study: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """A conditional model must find its factor, categorical, in every dataset it trains on, of a kind
    whose evaluations feed it its label."""
    messages = []
    for i, (dataset, model) in enumerate(_pairs(study)):
        if dataset not in config["datasets"] or model not in config["models"]:
            continue
        conditional = config["models"][model].get("conditional")
        if not conditional:
            continue
        settings = config["datasets"][dataset]
        found = condition_messages(model, conditional, dataset, settings)
        spec = kind(settings["kind"])
        if not found and not spec.conditional:
            where = f"pairs.{i}" if study["pairs"] else f"models.{study['models'].index(model)}"
            able = ", ".join(k.name for k in kinds() if k.conditional) or "none yet"
            found = [
                f"config key 'studies.{name}.{where}': {model} is conditional, and the evaluations of "
                f"{dataset}'s kind {spec.name} do not feed a model its label yet (the kinds whose do: {able})"
            ]
        messages += found
    return list(dict.fromkeys(messages))


def _resolve_studies(config: dict, given: Mapping[str, Any]) -> None:
    """No studies given: one study `heatmaps` of every dataset and every model (the workflow before
    studies existed), judged against seed 000's numbers."""
    if not given.get("studies"):
        config["studies"] = {
            "heatmaps": {
                "datasets": sorted(config["datasets"]),
                "models": sorted(config["models"]),
                "pairs": [],
                "seeds": [],
                "expected": "heatmaps",
            }
        }


def _drop_unused_keys(config: dict) -> None:
    """Remove defaults that do not apply (so they neither reach rule params nor trigger reruns)."""
    for ds in config["datasets"].values():
        # The kind's own (the spec's `drop_unused`): a heatmaps dataset's df_rule where there is no df.
        spec = kind(ds["kind"])
        drop = spec.data_hook(spec.drop_unused)
        if drop is not None:
            drop(ds)
    for model in config["models"].values():
        # Defaults may name datasets this config does not have (the default VAE's student_t entry).
        model["epochs_per_dataset"] = {
            k: v for k, v in model["epochs_per_dataset"].items() if k in config["datasets"]
        }
        if model["kind"] != "vae":
            for key in _VAE_ONLY:
                model.pop(key, None)
        if model["schedule"]["type"] != "exponential_decay":
            for key in _DECAY_ONLY:
                model["schedule"].pop(key, None)
        likelihood = model["likelihood"]
        if likelihood.get("sd") is not None:
            likelihood.pop("log_var", None)  # the schema's default: sd sets it instead
        keys = _LIKELIHOOD_KEYS[likelihood["type"]]
        model["likelihood"] = {key: likelihood[key] for key in keys if likelihood.get(key) is not None}
        for key in (
            "encoder",
            "decoder",
            "sampler",
            "early_stopping",
            "conditional",
            "restarts",
            "layers_while_training",
            "standardise",
            "trace_generated_std",
            "generation",
        ):
            if not model.get(key) or (key == "sampler" and model["kind"] != "vae"):
                model.pop(key, None)
        # float32 is what every model trained in before the option existed: left out, finished models
        # stay finished.
        if model.get("precision") == "float32":
            model.pop("precision")


def by_value(value: Any) -> Any:
    """`value` with the keys of every mapping in it sorted, recursively (lists keep their order).

    YAML mappings have no order, and an editor or `yaml.safe_dump` may reorder them; Snakemake compares a
    rule's params by their repr, in which a dict's key order shows. A config in this form gives every
    param the same repr whatever order its file listed the keys in, so only a changed value reruns a job.
    """
    if isinstance(value, Mapping):
        return {key: by_value(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [by_value(item) for item in value]
    return value


def validate_config(config: Mapping[str, Any], schema: Mapping | str | Path) -> dict:
    """Return a validated copy of `config` with every default filled in and every mapping's keys sorted
    (`by_value`); raise ConfigError naming each offending key otherwise. Nothing is planned or run before
    this passes."""
    if not isinstance(schema, Mapping):
        schema = load_schema(schema)
    resolved = copy.deepcopy(dict(config))
    messages = _schema_messages(resolved, schema)
    if not messages:
        _resolve_studies(resolved, config)
        messages = _semantic_messages(resolved, config)
    if messages:
        # Two studies may train the same pair, and so find the same fault.
        messages = list(dict.fromkeys(messages))
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(messages))
    _drop_unused_keys(resolved)
    return by_value(resolved)


def training_hparams(model: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """The settings one training job gets: the model's, with its epochs for `dataset` resolved."""
    # `generation` is the evaluation's: changing it does not retrain.
    hparams = {k: copy.deepcopy(v) for k, v in model.items() if k not in ("epochs_per_dataset", "generation")}
    hparams["epochs"] = model["epochs_per_dataset"].get(dataset, model["epochs"])
    return hparams


@dataclass(frozen=True)
class Run:
    """One training run of the plan: a model trained on a dataset with a training seed."""

    dataset: str
    model: str
    seed: int


def _pairs(study: Mapping[str, Any]) -> list[list[str]]:
    """A study's [dataset, model] pairs: those it lists, or every dataset with every model."""
    return study["pairs"] or [[d, m] for d in study["datasets"] for m in study["models"]]


def study_runs(config: Mapping[str, Any], study: str) -> list[Run]:
    """The runs of one study of a validated config: its pairs (every dataset x model when it lists none)
    times its seeds (`training.seeds` when it lists none), in dataset, model, seed order."""
    spec = config["studies"][study]
    pairs = _pairs(spec)
    seeds = spec["seeds"] or config["training"]["seeds"]
    chosen = {tuple(pair) for pair in pairs}
    return [
        Run(dataset, model, int(seed))
        for dataset in sorted(spec["datasets"])
        for model in sorted(spec["models"])
        if (dataset, model) in chosen
        for seed in seeds
    ]


def plan(config: Mapping[str, Any]) -> list[Run]:
    """Every run of every study of a validated config, each once (studies may share runs), in dataset,
    model, seed order: what the workflow trains, encodes and evaluates."""
    runs = {run: None for study in config["studies"] for run in study_runs(config, study)}
    return sorted(runs, key=lambda r: (r.dataset, r.model, r.seed))


def unconditional_twin(config: Mapping[str, Any], run: Run) -> Run | None:
    """The run that a conditional model's run is compared with (seed 003's CVAE against the same VAE
    without the label): a run of the plan on the same dataset and seed whose model has the same settings
    but no `conditional`, the first by name; None where the plan has none (or the model is not
    conditional)."""
    models = config["models"]
    settings = dict(models[run.model])
    if not settings.pop("conditional", None):
        return None
    for other in plan(config):
        if (other.dataset, other.seed) == (run.dataset, run.seed) and other.model != run.model:
            candidate = dict(models[other.model])
            if not candidate.get("conditional") and candidate == settings:
                return other
    return None
