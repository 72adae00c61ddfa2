"""Style transfer between tails: the tail mass and the transfer metrics on true densities (known answers)."""

import numpy as np
import pytest

from vae_latent_study.kinds.heatmaps.data import heatmaps
from vae_latent_study.kinds.heatmaps.transfer import TAIL_SDS, tail_mass, transfer_metrics

AXIS = np.arange(-3.0, 3.0, 0.17)
FACTORS = np.array([[0.3, 0.5, 0.2], [0.5, 0.3, -0.6], [0.4, 0.4, 0.0]])


def _images(df):
    return heatmaps(AXIS, *FACTORS.T, None if df is None else np.full(len(FACTORS), float(df)))


def test_a_normal_density_has_the_chi_square_tail_mass():
    # For a bivariate normal, P(Q > q) = exp(-q / 2): exp(-2) beyond 2 sds, up to the grid's discreteness.
    got = tail_mass(_images(None), AXIS, *FACTORS.T)
    assert got == pytest.approx(np.full(3, np.exp(-(TAIL_SDS**2) / 2)), abs=0.01)


def test_heavy_tails_have_more_mass_beyond_two_sds_and_a_blank_image_has_none():
    heavy, light = tail_mass(_images(2), AXIS, *FACTORS.T), tail_mass(_images(200), AXIS, *FACTORS.T)
    assert np.all(heavy > light + 0.1)
    assert np.isnan(tail_mass(np.zeros((1, len(AXIS), len(AXIS))), AXIS, 1.0, 1.0, 0.0)[0])


def test_a_perfect_transfer_moves_all_the_way_and_none_moves_nowhere():
    heavy, light = _images(2), _images(200)
    perfect = transfer_metrics(heavy, heavy, light, light, AXIS, FACTORS)
    assert perfect["moved_as_asked"] == 1.0 and perfect["tail_shift_share"] == pytest.approx(1.0)
    assert perfect["frobenius"]["transfer_to_target"] == 0.0
    assert perfect["frobenius"]["source_to_target"] > 0.5
    assert perfect["tail_mass"]["target"] < perfect["tail_mass"]["source"]
    none = transfer_metrics(heavy, heavy, heavy, light, AXIS, FACTORS)
    assert none["moved_as_asked"] == 0.0 and none["tail_shift_share"] == pytest.approx(0.0)
    assert none["frobenius"]["transfer_to_source"] == 0.0


def test_evaluate_transfer_writes_both_directions_and_the_figure(tmp_path):
    import json

    import matplotlib.image as mpimg

    from tests.conftest import SCHEMA, TINY_CONFIG, run_evaluation
    from vae_latent_study.config import validate_config
    from vae_latent_study.datasets import build_dataset, write_dataset
    from vae_latent_study.models import build

    config = validate_config(TINY_CONFIG, SCHEMA)
    data = tmp_path / "tiny_t.h5"
    write_dataset(build_dataset("tiny_t", config["datasets"]["tiny_t"]), data)
    model_path = tmp_path / "cvae.keras"
    build.build_model("vae", seed=1, condition={"factor": "df", "values": [2.0, 200.0]}).save(model_path)
    out, figure = tmp_path / "transfer.json", tmp_path / "transfer.png"
    run = {"outputs": {"figure": figure}, "dataset": "tiny_t", "seed": 7}
    run_evaluation("transfer", out, inputs={"model": model_path, "dataset": data}, model="cvae", **run)
    got = json.loads(out.read_text())
    assert got["identity"]["family"] == "student_t" and got["identity"]["dataset_kind"] == "heatmaps"
    assert set(got["transfer"]) == {"heavy_to_light", "light_to_heavy"}
    heavy = got["transfer"]["heavy_to_light"]
    assert heavy["source_df"] == 2.0 and heavy["target_df"] == 200.0 and heavy["n"] > 0
    # The true densities: heavy tails hold more mass beyond 2 sds than the light ones of the same factors.
    assert heavy["tail_mass"]["source"] > heavy["tail_mass"]["target"]
    assert 0.0 <= heavy["moved_as_asked"] <= 1.0
    assert mpimg.imread(figure)[..., :3].std() > 0.05
    unconditional = tmp_path / "vae.keras"
    build.build_model("vae", seed=1).save(unconditional)
    with pytest.raises(ValueError, match="not conditioned on the two df values"):
        run_evaluation("transfer", out, inputs={"model": unconditional, "dataset": data}, model="vae", **run)
