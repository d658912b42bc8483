"""The classifier-free-guidance baseline on a tiny random-weight conditional model (16×16): seeds, the
guidance weight, the unconditional branch, real materials in verified designs (composite K by default, the
paper cell's beside it), input errors and the CLI."""

import json

import numpy as np
import pytest
import torch

from matdesign.pipeline import candidates as candidates_module
from matdesign.baselines.cfg import GUIDANCE_SCALE, classifier_free_guidance, condition_range, load_conditional_model
from matdesign.cli.main import main
from matdesign.diffusion import Config, DiffusionModel, build_unet, cfg_denoiser, load_config, sample
from matdesign.errors import InputError
from matdesign.verification import sample_K, verify
from matdesign.materials import MaterialTable
from matdesign.microstructure import Design
from matdesign.pipeline.checks import reachable_range



@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread for every test and module fixture: conv round-off depends on the thread count."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


TARGET = 60.0  # GPa, inside the tiny model's condition range [10, 110]
TINY = dict(samples=3, steps=4, verify_n=2, progress=False)


@pytest.fixture(scope="module")
def table():
    return MaterialTable.builtin()


def _tiny_net(table, conditional=True) -> DiffusionModel:
    cfg = load_config("configs/tiny-2d.yaml").to_dict()
    cfg["model"]["conditional"] = conditional
    cfg = Config.from_dict(cfg)
    unet = build_unet(cfg.model, seed=0)
    info = {"material_sha256": table.sha256(), "step": 3}
    if conditional:
        with torch.no_grad():  # a null embedding ≠ 0, so v(∅) differs clearly from v(K)
            unet.null_cond.normal_(generator=torch.Generator().manual_seed(1))
        info["condition"] = {"K_min": 10.0, "K_max": 110.0}
    return DiffusionModel(unet, cfg, grid=(16, 16), normalization=table.normalization, info=info).eval()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, table):
    return _tiny_net(table).save(tmp_path_factory.mktemp("cond"))


@pytest.fixture(scope="module")
def base(one_thread, tiny):
    return classifier_free_guidance(TARGET, model=tiny, seed=3, **TINY)


def _reference(tiny, K, w, seed=3, n=3, steps=4):
    """Fields (physical units) of sampling.sample with the same generator, for comparison."""
    net = load_conditional_model(tiny)
    x = sample(net, n, steps=steps, generator=torch.Generator().manual_seed(seed), K=K, guidance_scale=w)
    return net.normalization.denormalize(x.double(), axis=1).numpy()


def test_same_seed_same_result_other_seed_differs(tiny, base):
    again = classifier_free_guidance(TARGET, model=tiny, seed=3, **TINY)
    np.testing.assert_array_equal(again.fields, base.fields)
    def key(r):
        return [(c.sample, c.design.matrix.name, c.design.particle.name, c.verification.K) for c in r.candidates]

    assert key(again) == key(base)
    other = classifier_free_guidance(TARGET, model=tiny, seed=4, **TINY)
    assert np.abs(other.fields - base.fields).max() > 1.0  # GPa


def test_samples_are_the_papers_cfg_at_w(tiny, base):
    assert base.settings["guidance_scale"] == GUIDANCE_SCALE == 0.5
    np.testing.assert_allclose(base.fields, _reference(tiny, TARGET, 0.5), rtol=0, atol=1e-9)
    # the combination itself: (1 + w)·v(K*) − w·v(∅)
    net = load_conditional_model(tiny)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([700, 700])
    with torch.no_grad():
        v_c, v_u = net(x, t, net.normalize_K(torch.full((2,), TARGET))), net(x, t)
        torch.testing.assert_close(cfg_denoiser(net, TARGET, 0.5)(x, t), 1.5 * v_c - 0.5 * v_u)


def test_guidance_scale_and_target_change_the_samples(tiny, base):
    E = {w: classifier_free_guidance(TARGET, model=tiny, seed=3, guidance_scale=w, **TINY).fields[:, 0]
         for w in (0.0, 2.0)}
    E[0.5] = base.fields[:, 0]
    for a, b in ((0.0, 0.5), (0.5, 2.0), (0.0, 2.0)):
        assert np.abs(E[a] - E[b]).max() > 1.0, (a, b)  # GPa
    other_K = classifier_free_guidance(100.0, model=tiny, seed=3, **TINY)
    assert np.abs(other_K.fields - base.fields).max() > 1.0


def test_unconditional_branch_equals_sampling_without_K(tiny):
    """w = −1 leaves only v(∅): the samples are the unconditional model's, whatever K*."""
    unc = _reference(tiny, None, 0.0)
    for K in (20.0, 100.0):
        res = classifier_free_guidance(K, model=tiny, seed=3, guidance_scale=-1.0, **TINY)
        np.testing.assert_allclose(res.fields, unc, rtol=0, atol=1e-4)  # GPa; batch-size round-off only
    assert np.abs(_reference(tiny, 20.0, 0.0) - unc).max() > 1.0  # while the conditional model does depend on K


def test_designs_use_real_materials_and_are_verified(tiny, base, table):
    assert len(base.candidates) == 3 and base.fields.shape == (3, 3, 16, 16)
    K_s = sample_K(base.fields, dim=2)
    for c in base.candidates:
        for m in (c.design.matrix, c.design.particle):
            assert table[table.index(m.name)] == m
        assert c.value_s == pytest.approx(K_s[c.sample], rel=1e-12)
        assert c.verification.n == 2 and c.refinement is None
        again = verify(c.design, size=16, dim=2, n=2, rng=np.random.default_rng([3, c.sample]), definition="composite")
        assert again.K == pytest.approx(c.verification.K, rel=1e-12)  # the default: the composite's K
        cell = verify(c.design, size=16, dim=2, n=2, rng=np.random.default_rng([3, c.sample, 2]), definition="cell")
        assert c.cell.n == 2 and c.cell.mean == pytest.approx(cell.mean, rel=1e-12)
    assert [c.p_within for c in base.candidates] == sorted((c.p_within for c in base.candidates), reverse=True)
    s = base.settings
    assert (s["method"], s["steps"], s["condition_K"], s["model_step"]) == ("cfg", 4, [10.0, 110.0], 3)
    assert s["definition"] == "composite"


def test_paper_definition_verifies_in_the_walled_cell(tiny, base):
    res = classifier_free_guidance(TARGET, model=tiny, seed=3, definition="cell", **TINY)
    for c in res.candidates:
        again = verify(c.design, size=16, dim=2, n=2, rng=np.random.default_rng([3, c.sample]))
        assert c.verification.definition == "cell" and c.cell is None
        assert again.K == pytest.approx(c.verification.K, rel=1e-12)
    def key(r):  # the samples and designs do not depend on the definition
        return sorted((c.sample, c.design.matrix.name, c.design.particle.name, c.design.volume_fraction)
                      for c in r.candidates)

    np.testing.assert_array_equal(res.fields, base.fields)
    assert key(res) == key(base)


def test_rubber_with_steel_is_far_softer_as_a_composite_than_in_the_walled_cell(tiny, table, monkeypatch):
    """Backprojection replaced by two hand-made designs: rubber with 40 % steel disks (the walled affine cell
    pins the disks: tens of times stiffer than the composite) and steel with steel (the same in both)."""
    def pair(m, p):
        return Design(table[table.index(m)], table[table.index(p)], 0.2, 0.4, diagnostics={"valid": True})

    designs = [pair("Polyurethane elastomer", "AISI 1018 steel (cold drawn)"),
               pair("AISI 1018 steel (cold drawn)", "AISI 1018 steel (cold drawn)")]
    monkeypatch.setattr(candidates_module, "backproject_batch", lambda *a, **k: designs)
    res = classifier_free_guidance(TARGET, model=tiny, seed=3, **{**TINY, "samples": 2, "verify_n": 4})
    rubber, steel = sorted(res.candidates, key=lambda c: c.sample)
    assert rubber.verification.definition == "composite" and rubber.cell.definition == "cell"
    assert rubber.cell.mean > 10 * rubber.verification.mean
    assert rubber.cell.samples.min() > rubber.verification.samples.max()
    assert steel.cell.mean == pytest.approx(steel.verification.mean, rel=1e-8)


def test_own_materials_restrict_the_designs(tiny, table, tmp_path):
    names = ["Epoxy (cast unfilled)", "Aluminium 6061-T6", "Alumina 99.5% (AD-995)"]
    csv = tmp_path / "mine.csv"
    csv.write_text("name,E,nu,rho\n" + "".join(f'"{n}",{table[table.index(n)].E},{table[table.index(n)].nu},'
                                               f'{table[table.index(n)].rho}\n' for n in names))
    res = classifier_free_guidance(TARGET, model=tiny, seed=3, materials=csv, **TINY)
    used = {m.name for c in res.candidates for m in (c.design.matrix, c.design.particle)}
    assert used <= set(names)


def test_shipped_model_is_conditional_over_the_dataset_range(table):
    lo, hi = condition_range(load_conditional_model())
    assert 0 < lo < 0.02 and 250 < hi < 300  # covers the five 2D targets (0.020 … 251.7 GPa)
    reach_lo = reachable_range(table, 2)[0]
    assert reach_lo < lo
    with pytest.raises(InputError, match="outside the K range the conditional model was trained on"):
        classifier_free_guidance(0.5 * (reach_lo + lo), progress=False)  # reachable by the table, not by the model


@pytest.mark.parametrize("kwargs, message", [
    (dict(target_K=120.0), "outside the K range the conditional model"), (dict(target_K=5.0), "trained on"),
    (dict(target_K=-5.0), "positive"), (dict(target_K=1e4), "material table can reach"),
    (dict(samples=0), "samples"), (dict(steps=0), "steps"), (dict(verify_n=0), "verify_n"),
    (dict(guidance_scale=-2.0), "guidance_scale"), (dict(guidance_scale=float("nan")), "guidance_scale"),
    (dict(rank="best"), "rank"), (dict(tolerance=5.0), "tolerance"),
])
def test_bad_input_is_an_input_error(tiny, kwargs, message):
    with pytest.raises(InputError, match=message):
        classifier_free_guidance(**{"target_K": TARGET, "model": tiny, **TINY, **kwargs})


def test_unconditional_or_missing_model_is_an_input_error(tmp_path, table):
    plain = _tiny_net(table, conditional=False).save(tmp_path / "plain")
    with pytest.raises(InputError, match="not K-conditional"):
        classifier_free_guidance(TARGET, model=plain, **TINY)
    with pytest.raises(InputError, match="not found"):
        classifier_free_guidance(TARGET, model=tmp_path / "nope", **TINY)


def test_cli_writes_design_outputs(tiny, tmp_path, capsys, table):
    out = tmp_path / "cfg"
    code = main(["baseline", "cfg", "--target-K", "60", "--model", str(tiny), "--samples", "2", "--steps", "3",
                 "--verify-n", "2", "--seed", "1", "--out", str(out)])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    s = results["settings"]
    assert (s["method"], s["guidance_scale"], s["samples"], s["seed"]) == ("cfg", 0.5, 2, 1)
    assert len(results["designs"]) == 2 and all(d["raw"]["matrix"] in table.names for d in results["designs"])
    assert (out / "results.csv").exists() and (out / "report.html").exists()
    assert "Classifier-free guidance baseline" in (out / "report.html").read_text()
    assert s["definition"] == "composite" and all(d["K_cell"]["n_arrangements"] == 2 for d in results["designs"])
    capsys.readouterr()
    assert main(["baseline", "cfg", "--target-K", "200", "--model", str(tiny), "--out", str(out), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "outside the K range" in err
    assert main(["baseline", "cfg", "--target-K", "60", "--model", str(tiny), "--definition", "walls",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--definition 'walls'" in err
