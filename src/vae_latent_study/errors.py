"""The package's own error for a bad study config, in a module of its own: the data modules raise it
without importing the config layer, so that their code digests (what reruns a dataset) stay their own."""


class ConfigError(ValueError):
    """The configuration is invalid; the message names every offending key."""
