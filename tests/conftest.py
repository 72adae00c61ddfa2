"""Shared fixtures: the repository's paths and a tiny, seconds-long study config."""

from pathlib import Path

import pytest
import yaml

from vae_latent_study.config import validate_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "config.schema.yaml"

TINY_CONFIG = {
    "seed": 3,
    "datasets": {
        "tiny_gauss": {
            "family": "gaussian",
            "grid": {
                "var_x": {"start": 0.5, "stop": 2.0, "step": 0.5},
                "var_y": {"start": 0.5, "stop": 2.0, "step": 0.5},
                "cor": {"start": -0.5, "stop": 0.6, "step": 0.5},
            },
            "split": {"test_size": 0.25, "seed": 1},
        },
        "tiny_t": {
            "family": "student_t",
            "grid": {
                "var_x": {"start": 0.5, "stop": 3.0, "step": 0.5},
                "var_y": {"start": 0.5, "stop": 3.0, "step": 0.5},
                "cor": {"start": -0.5, "stop": 0.6, "step": 0.5},
            },
            "df_rule": {"threshold": 10.0, "seed": 4},
        },
    },
    "models": {
        "vae": {"kind": "vae", "epochs": 2, "batch_size": 16},
        "ae": {"kind": "ae", "epochs": 2, "batch_size": 16, "schedule": {"type": "constant"}},
    },
    "training": {"seeds": [7]},
    "figures": {"sample_heatmaps": {"rows": 2, "cols": 2, "seed": 0}},
}


@pytest.fixture
def tiny_config():
    """The tiny study config, validated (defaults filled)."""
    return validate_config(TINY_CONFIG, SCHEMA)


@pytest.fixture
def tiny_config_file(tmp_path):
    """The tiny study config as a YAML file in a fresh working directory."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_CONFIG))
    return path
