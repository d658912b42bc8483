"""The shipped default 2D model: it loads offline, matches the built-in table, and designs end to end."""

import json

import numpy as np
import pytest
import torch

from matdesign.cli.main import main
from matdesign.diffusion import sample
from matdesign.materials import MaterialTable
from matdesign.pipeline.design import default_model_path, load_model


def test_shipped_model_loads_and_matches_the_builtin_table():
    model = load_model(None, 2, "cpu")
    table = MaterialTable.builtin()
    assert model.grid == (64, 64)
    assert model.info["material_sha256"] == table.sha256()
    np.testing.assert_allclose(model.normalization.bounds, table.normalization.bounds)
    assert (default_model_path(2) / "config.json").exists()


def test_shipped_model_samples_stay_in_range():
    model = load_model(None, 2, "cpu")
    x = sample(model, 2, steps=10, generator=torch.Generator().manual_seed(0))
    assert x.shape == (2, 3, 64, 64) and torch.isfinite(x).all() and x.abs().max() <= 1.0
    # a trained prior produces structure, not noise: neighbouring voxels are strongly correlated
    corr = torch.corrcoef(torch.stack([x[:, 0, :-1].flatten(), x[:, 0, 1:].flatten()]))[0, 1]
    assert corr > 0.5


@pytest.mark.slow
def test_design_with_shipped_model(tmp_path):
    assert main(["design", "--target-K", "120", "--samples", "4", "--steps", "30", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    best = res["designs"][0]
    stage = best.get("refined", best["raw"])
    assert stage["relative_error"] < 0.05
