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
