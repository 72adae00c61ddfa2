# vae-latent-study: how VAEs and autoencoders organise their latent space.
# Run the whole study with `snakemake --cores N`; see README.md.
from snakemake.utils import min_version

min_version("9.0")


# The shipped study, unless a config is given with --configfile: that one is then the whole study (Snakemake
# would otherwise merge it into this one). `--config key=value` alone still edits the shipped study.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        get_final_outputs(),
    default_target: True


# One target per study, named after it: `snakemake --cores 2 fashion` runs that study's chain and its own
# report (results/report/studies/fashion.html), and nothing of the other studies.
_clashes = sorted(set(config["studies"]) & {r.name for r in workflow.rules})
if _clashes:
    raise ConfigError(
        "invalid configuration:\n"
        + "\n".join(
            f"  config key 'studies.{name}': a study may not share its name with a rule of the workflow "
            "(its target rule is named after it); rename the study"
            for name in _clashes
        )
    )

for _study in config["studies"]:

    rule:
        input:
            get_final_outputs(_study),
        name:
            _study
