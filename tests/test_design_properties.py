"""``matdesign design`` on G, E and ν: verification of the chosen property, refinement, ranking,
outputs and input errors (the K path is tests/test_pipeline.py)."""

import csv
import io
import json
import math

import numpy as np
import pytest

from matdesign.cli.main import main
from matdesign.errors import InputError
from matdesign.verification import Verification, verify
from matdesign.fem import bulk_from_young, effective_stiffness
from matdesign.materials import Material, MaterialTable
from matdesign.microstructure import Design, generate
from matdesign.pipeline.checks import check_target, reachable_range
from matdesign.pipeline.inverse_design import design
from matdesign.pipeline.results import probability_within
from matdesign.pipeline.refine import refine_volume_fraction

STEEL = Material("steel", 205.0, 0.29, 7.85)
TINY = dict(samples=3, steps=2, verify_n=3, seed=0, progress=False)


def _f32(x):
    return float(np.float32(x))  # generate() writes float32 fields


def _moduli_2d(C):
    """Isotropic K, G, E, ν of 2D plane-stress Voigt stiffnesses (..., 3, 3), written out by hand."""
    K = (C[..., 0, 0] + C[..., 1, 1] + 2 * C[..., 0, 1]) / 4
    G = ((C[..., 0, 0] + C[..., 1, 1]) / 2 - C[..., 0, 1] + 2 * C[..., 2, 2]) / 4
    return {"K": K, "G": G, "E": 4 * K * G / (K + G), "nu": (K - G) / (K + G)}


def _recompute(v: Verification, d: Design, size: int):
    """The verification's arrangements rebuilt from its seeds, solved for C, projected by hand."""
    fields = np.stack([generate(d.matrix, d.particle, diameter=d.diameter, volume_fraction=d.volume_fraction,
                                size=size, dim=2, rng=np.random.default_rng(s), n_particles=k).fields
                       for s, k in zip(v.seeds, v.n_particles)]).astype(np.float64)
    return _moduli_2d(effective_stiffness(fields[:, 0], fields[:, 1], dim=2))


@pytest.mark.parametrize("dim,size", [(2, 12), (3, 4)])
def test_homogeneous_design_gives_the_analytic_G_E_nu(dim, size):
    E, nu = _f32(STEEL.E), _f32(STEEL.nu)
    expected = {"G": E / (2 * (1 + nu)), "E": E, "nu": nu}
    for prop, value in expected.items():
        v = verify(Design(STEEL, STEEL, 0.3, 0.2, {}), size=size, dim=dim, n=2, rng=np.random.default_rng(0),
                   prop=prop)
        assert v.prop == prop and v.mean == pytest.approx(value, rel=1e-9) and v.std < 1e-9
        with pytest.raises(AttributeError, match="not of K"):
            v.K  # noqa: B018


@pytest.fixture(scope="module")
def g_result(tiny_model):
    return design(30.0, property="G", model=tiny_model, **TINY)


def test_design_on_G_reports_the_G_of_its_arrangements(g_result):
    res = g_result
    assert res.prop == "G" and res.target == 30.0 and res.settings["target_G"] == 30.0
    assert res.settings["objective"] == "absolute" and res.settings["refine"]
    checked = 0
    for c in res.candidates:
        for d, v in ((c.design, c.verification), (c.final_design, c.final_verification)):
            if not v.ok:
                continue
            moduli = _recompute(v, d, res.size)
            assert v.prop == "G" and v.n == 3
            assert v.mean == pytest.approx(moduli["G"].mean(), rel=1e-9)
            assert v.std == pytest.approx(moduli["G"].std(ddof=1), rel=1e-6, abs=1e-12)
            # G, not K: a composite with a real spread of arrangements has K ≠ G
            assert not np.allclose(moduli["K"], moduli["G"], rtol=1e-3)
            checked += 1
        if c.final_verification.ok:
            assert res.error(c) == pytest.approx(abs(c.final_verification.mean - 30.0) / 30.0)
    assert checked >= 2
    keys = [(-c.p_within, res.error(c)) for c in res.candidates if c.final_verification.ok]
    assert keys == sorted(keys)
    with pytest.raises(AttributeError, match="targets G"):
        res.target_K  # noqa: B018


def test_refinement_on_G_hits_a_bracketed_target():
    table = MaterialTable.builtin()
    matrix, particle = table[table.index("Epoxy (cast unfilled)")], table[table.index("Alumina 99.5% (AD-995)")]
    G_m = _f32(matrix.E) / (2 * (1 + _f32(matrix.nu)))
    r = refine_volume_fraction(Design(matrix, particle, 0.15, 0.1), 2.0 * G_m, size=24, dim=2, n=4, seed=1,
                               prop="G", vf_min=0.0)
    assert r.bracketed and r.verification.prop == "G"
    assert r.trace[0] == (0.0, pytest.approx(G_m, rel=1e-8))  # vf = 0: the matrix's analytic G
    assert abs(r.verification.mean / (2.0 * G_m) - 1) < 0.03
    with pytest.raises(InputError, match="monotone"):
        refine_volume_fraction(Design(matrix, particle, 0.25, 0.1), 0.3, size=24, dim=2, prop="nu")


def test_design_on_nu_skips_refinement_and_uses_absolute_errors(tiny_model):
    with pytest.warns(UserWarning, match="not monotone"):
        res = design(0.3, property="nu", model=tiny_model, **TINY)
    assert not res.settings["refine"] and "Poisson ratio" in res.settings["refine_note"]
    assert res.settings["objective"] == "relative"
    assert all(c.refinement is None for c in res.candidates)
    ok = [c for c in res.candidates if c.verification.ok]
    assert ok
    for c in ok:
        assert res.error(c) == pytest.approx(abs(c.verification.mean - 0.3))
        assert c.verification.mean == pytest.approx(_recompute(c.verification, c.design, res.size)["nu"].mean(),
                                                     rel=1e-9)


def test_absolute_tolerance_band():
    ver = Verification(0.30, 0.01, 0.003, (0.29, 0.31), np.zeros(10), [], [], True, prop="nu")
    assert probability_within(ver, 0.30, 0.005, scale=1.0) == pytest.approx(0.3829, abs=1e-3)  # P(|Z| < 0.5)


def test_reachable_ranges():
    table = MaterialTable.builtin()
    E, nu = np.asarray(table.E), np.asarray(table.nu)
    G = E / (2 * (1 + nu))
    assert reachable_range(table, 2, "G") == (G.min(), G.max())
    assert reachable_range(table, 3, "nu") == (nu.min(), nu.max())
    for dim in (2, 3):
        lo, hi = reachable_range(table, dim, "E")
        assert lo <= E.min() and E.max() <= hi
        assert reachable_range(table, dim, "K") == pytest.approx(
            (bulk_from_young(E, nu, dim).min(), bulk_from_young(E, nu, dim).max()))
        # one phase: K(E, ν) and G(E, ν) give back that phase's E
        one = table.select([int(np.argmax(E))])
        assert reachable_range(one, dim, "E") == pytest.approx((E.max(), E.max()), rel=1e-12)


@pytest.mark.parametrize("prop,bad,message", [
    ("G", 0.0, "positive"), ("G", -3.0, "positive"), ("G", 500.0, "outside the range"),
    ("E", float("nan"), "positive"), ("E", 1e4, "outside the range"), ("G", "abc", "not a number"),
    ("nu", 0.5, r"\(-1, 0.5\)"), ("nu", -1.0, r"\(-1, 0.5\)"), ("nu", 0.7, r"\(-1, 0.5\)"),
    ("nu", -0.2, "outside the range"), ("nu", 0.01, "outside the range"), ("shear", 30.0, "property"),
])
def test_bad_targets(prop, bad, message):
    with pytest.raises(InputError, match=message):
        check_target(bad, MaterialTable.builtin(), 2, prop)


def test_design_rejects_bad_property_before_compute(tmp_path):
    with pytest.raises(InputError, match="property='shear'"):
        design(30.0, property="shear", model=tmp_path / "no-model-needed")


def test_design_cli_on_G(tiny_model, tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["design", "--property", "G", "--target", "30", "--model", str(tiny_model), "--samples", "3",
                 "--steps", "2", "--verify-n", "3", "--top", "2", "--no-refine", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "found 0 of 2 designs within ±1 % of G* = 30 GPa" in printed and "G [GPa]" in printed
    assert "misses — not designs" in printed  # the tiny model's designs are misses, shown below the line
    res = json.loads((out / "results.json").read_text())
    assert res["property"] == "G" and res["unit"] == "GPa" and res["target_G"] == 30.0
    rows = list(csv.DictReader(io.StringIO((out / "results.csv").read_text())))
    shown = [rec for rec in res["designs"] if "duplicate" not in rec["validity_flags"]][:3]
    assert [int(r["rank"]) for r in rows] == list(range(1, len(shown) + 1))
    assert all(r["within_tolerance"] == "False" for r in rows)  # every miss says so
    for r, rec in zip(rows, shown):  # one plain row per design shown, its values those of the JSON
        stage = rec.get("refined", rec["raw"])
        assert r["matrix"] == stage["matrix"] and float(r["E_matrix"]) == MaterialTable.builtin()[
            MaterialTable.builtin().index(r["matrix"])].E
        assert float(r["G"]) == pytest.approx(stage["G_mean"], nan_ok=True)
        assert float(r["G_cell"]) == pytest.approx(rec["G_cell"]["G_mean"], nan_ok=True)
        assert r["within_tolerance"] == str(rec["within_tolerance"]) and r["definition"] == "composite"
    html = (out / "report.html").read_text()
    assert "Target G* = 30 GPa (shear modulus)" in html
    best = res["designs"][0]
    assert "G_s" in best and "K_mean" not in best["raw"]
    stage = best["raw"]
    if stage["n_arrangements"]:
        table = MaterialTable.builtin()
        d = Design(table[table.index(stage["matrix"])], table[table.index(stage["particle"])],
                   stage["diameter"], stage["volume_fraction"])
        again = verify(d, size=16, dim=2, n=3, rng=np.random.default_rng([0, best["sample"]]), prop="G",
                       definition="composite")
        assert again.mean == pytest.approx(stage["G_mean"], rel=1e-10)
        assert math.isclose(stage["relative_error"], abs(again.mean - 30) / 30, rel_tol=1e-9)


@pytest.mark.parametrize("args,message", [
    (["--property", "G", "--target-K", "50"], "use --target"),
    (["--property", "G"], "give the target once"),
    (["--target-K", "50", "--target", "50"], "give the target once"),
    (["--property", "nu", "--target", "0.7"], "(-1, 0.5)"),
    (["--property", "Q", "--target", "1"], "--property 'Q'"),
])
def test_design_cli_property_errors_are_one_line(tiny_model, args, message, capsys):
    assert main(["design", "--model", str(tiny_model), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_top_level_design_is_the_pipeline_function_and_takes_the_target_once():
    import inspect

    import matdesign
    from matdesign.pipeline.inverse_design import design as pipeline_design

    assert matdesign.design is pipeline_design
    options = inspect.signature(matdesign.design).parameters
    for name in ("target", "target_K", "property", "dim", "samples", "steps", "materials", "step_clip", "definition",
                 "closure", "search", "top", "time_limit", "seed", "device"):
        assert name in options and name in (matdesign.design.__doc__ or "")
    for kwargs, message in ((dict(), "once"), (dict(target=1, target_K=2), "once"),
                            (dict(target_K=3, property="G"), "bulk-modulus target")):
        with pytest.raises(InputError, match=message):
            matdesign.design(**kwargs)
