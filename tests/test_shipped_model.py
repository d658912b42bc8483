"""The shipped default models: they load offline, match the built-in table, sample structure (2D and
3D), and the 2D one designs end to end."""

import json

import numpy as np
import pytest
import torch

from matdesign.cli.main import main
from matdesign.diffusion import sample
from matdesign.materials import MaterialTable
from matdesign.pipeline.models import shipped_model_path, load_model


@pytest.mark.parametrize("dim, grid", [(2, (64, 64)), (3, (32, 32, 32))])
def test_shipped_model_loads_and_matches_the_builtin_table(dim, grid):
    model = load_model(None, dim, "cpu")
    table = MaterialTable.builtin()
    assert model.grid == grid
    assert model.info["material_sha256"] == table.sha256()
    np.testing.assert_allclose(model.normalization.bounds, table.normalization.bounds)
    assert (shipped_model_path(dim) / "config.json").exists()


@pytest.mark.parametrize("dim", [2, 3])
def test_shipped_model_samples_stay_in_range(dim):
    model = load_model(None, dim, "cpu")
    x = sample(model, 2, steps=10, generator=torch.Generator().manual_seed(0), progress=False)
    assert x.shape == (2, 3, *model.grid) and torch.isfinite(x).all() and x.abs().max() <= 1.0
    # a trained prior produces structure, not noise (≈ 0): in every channel neighbouring voxels are
    # strongly correlated
    corr = [torch.corrcoef(torch.stack([x[:, c, :-1].flatten(), x[:, c, 1:].flatten()]))[0, 1] for c in range(3)]
    assert float(torch.stack(corr).min()) > 0.5


@pytest.mark.slow
def test_design_with_shipped_model(tmp_path):
    assert main(["design", "--target-K", "120", "--samples", "4", "--steps", "30", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    best = res["designs"][0]
    stage = best.get("refined", best["raw"])
    assert stage["relative_error"] < 0.05
