"""Built-in material table, normalization, nearest-material lookup, chunks."""

import gzip
import hashlib
import json
import re
import runpy
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from matdesign.errors import InputError
from matdesign.materials import (
    PAPER_FILTER,
    Material,
    MaterialTable,
    Normalization,
    PropertyFilter,
    chunk_index,
    validate_properties,
)
from matdesign.materials.chunks import chunk_segments

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "matdesign" / "materials" / "data" / "materials.csv"


def _pymatgen_elements():
    pytest.importorskip("pymatgen.core")
    with resources.as_file(resources.files("pymatgen.core") / "periodic_table.json.gz") as path:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
    keys = ("Youngs modulus", "Poissons ratio", "Density of solid")
    rows = {s: v for s, v in data.items() if not s.startswith("_") and all(isinstance(v.get(k), (int, float)) for k in keys)}
    return data["_unit"], rows


def _table(rows):
    """Small table from (name, E, nu, rho) tuples."""
    names, E, nu, rho = zip(*rows)
    return MaterialTable(names, E, nu, rho)


# --- the built-in table ---------------------------------------------------------------------
def test_builtin_rows_lie_in_the_paper_box_and_cite_a_source():
    t = MaterialTable.builtin()
    assert len(t) >= 150
    assert np.all((t.E > 0) & (t.E <= 500)) and np.all((t.nu > 0) & (t.nu < 0.5)) and np.all((t.rho > 0) & (t.rho < 10))
    assert all(s.strip() for s in t.sources) and all(c.strip() for c in t.categories)
    assert len(set(t.names)) == len(t)
    assert {"metal", "ceramic", "polymer", "glass", "elastomer", "wood", "element", "foam"} <= set(t.categories)


def test_default_filter_drops_exactly_the_rows_outside_the_box():
    full = MaterialTable.builtin(filter=None)
    inside = (full.E > 0) & (full.E <= 500) & (full.nu > 0) & (full.nu < 0.5) & (full.rho > 0) & (full.rho < 10)
    assert 0 < inside.sum() < len(full)
    assert MaterialTable.builtin().names == [n for n, keep in zip(full.names, inside) if keep]
    assert "W (element)" in full.names and "W (element)" not in MaterialTable.builtin().names  # ρ = 19.25
    light = MaterialTable.builtin(filter=PropertyFilter(rho_max=3.0))
    assert light.rho.max() < 3.0 and len(light) == int((inside & (full.rho < 3.0)).sum())


def test_element_rows_equal_pymatgen_values():
    units, elements = _pymatgen_elements()
    assert units["Youngs modulus"] == "GPa" and units["Density of solid"] == "kg m^-3"
    full = MaterialTable.builtin(filter=None)
    assert sum(c == "element" for c in full.categories) == len(elements) >= 50
    for symbol, v in elements.items():
        m = full[full.index(f"{symbol} (element)")]
        assert m.category == "element" and "pymatgen" in m.source
        assert m.E == pytest.approx(v["Youngs modulus"], rel=1e-12)
        assert m.nu == pytest.approx(v["Poissons ratio"], rel=1e-12)
        assert m.rho == pytest.approx(v["Density of solid"] / 1000.0, rel=1e-12)  # kg/m³ -> g/cm³


def test_element_values_are_physically_consistent():
    """Independent checks of the units: ρ = M / V_molar, and G = E / (2(1+ν)) vs pymatgen's shear modulus."""
    _, elements = _pymatgen_elements()
    full = MaterialTable.builtin(filter=None)
    rho_err, g_err = [], []
    for symbol, v in elements.items():
        m = full[full.index(f"{symbol} (element)")]
        rho_err.append(abs(m.rho / (v["Atomic mass"] / v["Molar volume"]) - 1))  # g/mol / (cm³/mol)
        if isinstance(v.get("Rigidity modulus"), (int, float)):
            g_err.append(abs(m.E / (2 * (1 + m.nu)) / v["Rigidity modulus"] - 1))
    assert max(rho_err) < 0.07
    assert np.median(g_err) < 0.03 and np.mean(np.array(g_err) < 0.1) > 0.85


def test_engineering_rows_have_plausible_magnitudes_per_category():
    t = MaterialTable.builtin()
    cat = np.array(t.categories)
    assert np.all(t.E[cat == "elastomer"] < 0.1) and np.all(t.nu[cat == "elastomer"] >= 0.45)
    assert np.all(t.rho[cat == "foam"] < 0.5) and np.all(t.rho[cat == "wood"] < 1.0)
    assert np.all(t.E[cat == "polymer"] < 10) and np.all(t.E[cat == "ceramic"] > 50)
    steel = t[t.index("AISI 304 stainless steel")]
    assert 190 <= steel.E <= 210 and 7.8 <= steel.rho <= 8.1  # GPa and g/cm³, not MPa or kg/m³


def test_shipped_csv_is_what_the_build_script_produces():
    pytest.importorskip("pymatgen.core")
    built = runpy.run_path(str(ROOT / "scripts" / "build_materials_table.py"))["build_table"]()
    shipped = MaterialTable.builtin(filter=None)
    assert built.names == shipped.names and built.categories == shipped.categories
    for a in ("E", "nu", "rho"):
        np.testing.assert_array_equal(getattr(built, a), getattr(shipped, a))
    def strip_version(sources):  # a newer pymatgen-core with the same values is fine
        return [re.sub(r"pymatgen-core [^:]+:", "pymatgen-core:", s) for s in sources]

    assert strip_version(built.sources) == strip_version(shipped.sources)


def test_sha256_and_csv_round_trip(tmp_path):
    full = MaterialTable.builtin(filter=None)
    assert full.sha256() == hashlib.sha256(SHIPPED.read_bytes()).hexdigest()
    t = MaterialTable.builtin()
    t.to_csv(tmp_path / "t.csv")
    back = MaterialTable.from_csv(tmp_path / "t.csv")
    assert back.sha256() == t.sha256() and back.names == t.names and back.sources == t.sources
    np.testing.assert_array_equal(back.properties, t.properties)
    changed = MaterialTable(t.names, t.E * (1 + 1e-15 * (np.arange(len(t)) == 3)), t.nu, t.rho, t.categories, t.sources)
    assert changed.E[3] != t.E[3] and changed.sha256() != t.sha256()


def test_rows_lookup_and_selection():
    t = _table([("A", 1.0, 0.2, 1.0), ("B", 2.0, 0.3, 2.0), ("C", 3.0, 0.4, 3.0)])
    assert t[1] == Material("B", 2.0, 0.3, 2.0) and t[-1].name == "C" and t.index("C") == 2
    with pytest.raises(InputError, match="unknown material 'b'"):
        t.index("b")
    with pytest.raises(IndexError):
        t[3]
    assert t.select([2, 0]).names == ["C", "A"]
    assert t.select(np.array([True, False, True])).names == ["A", "C"]
    assert t.select(PropertyFilter(E_max=2.0)).names == ["A", "B"]  # E ≤ E_max is inclusive
    assert t.select(PropertyFilter(rho_max=2.0)).names == ["A"]  # ρ < rho_max is strict
    with pytest.raises(InputError, match="no material satisfies"):
        t.select(PropertyFilter(E_min=10.0, E_max=20.0))
    with pytest.raises(InputError, match="duplicate material name 'A'"):
        _table([("A", 1.0, 0.2, 1.0), ("A", 2.0, 0.3, 2.0)])


# --- validation of arrays -------------------------------------------------------------------
def test_validate_properties_broadcasts_and_names_the_bad_entry():
    E, nu, rho = validate_properties([1.0, 2.0], 0.3, torch.tensor([1.0, 2.0]), where="design")
    assert E.dtype == np.float64 and nu.tolist() == [0.3, 0.3] and rho.tolist() == [1.0, 2.0]
    with pytest.raises(InputError, match=r"design: nu\[1\]: Poisson ratio must lie in \(-1, 0.5\), got 0.5 \(1 bad"):
        validate_properties([1.0, 2.0], [0.3, 0.5], 1.0, where="design")
    with pytest.raises(InputError, match=r"matrix: E\[0, 1\]: Young's modulus must be > 0 GPa, got -1"):
        validate_properties([[1.0, -1.0]], 0.3, 1.0, where="matrix")
    with pytest.raises(InputError, match=r"rho: .*not a finite"):
        validate_properties(1.0, 0.3, float("nan"))
    with pytest.raises(InputError, match=r"kg/m³"):
        validate_properties(200.0, 0.3, 7850.0)
    with pytest.raises(InputError, match="incompatible shapes"):
        validate_properties([1.0, 2.0], [0.3, 0.3, 0.3], 1.0)


# --- normalization --------------------------------------------------------------------------
BOUNDS = [[0.0, 10.0], [0.0, 0.5], [1.0, 3.0]]


def test_normalize_hand_values_and_table_extremes():
    n = Normalization(BOUNDS)
    np.testing.assert_allclose(n.normalize(np.array([5.0, 0.125, 2.5])), [0.0, -0.5, 0.5])
    np.testing.assert_allclose(n.denormalize(np.array([-1.0, 1.0, 0.0])), [0.0, 0.5, 2.0])
    t = MaterialTable.builtin()
    y = t.normalize(t.properties)
    np.testing.assert_allclose(y.min(axis=0), -1.0)
    np.testing.assert_allclose(y.max(axis=0), 1.0)
    np.testing.assert_allclose(t.normalization.bounds[:, 0], [t.E.min(), t.nu.min(), t.rho.min()])


@pytest.mark.parametrize("shape,axis", [((7, 3), -1), ((3,), 0), ((2, 3, 4, 5), 1), ((2, 3, 4, 5), -3), ((4, 5, 3), 2)])
def test_normalization_round_trip_numpy_and_torch(shape, axis):
    n = Normalization(BOUNDS)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, shape)
    y = n.normalize(x, axis=axis)
    np.testing.assert_allclose(n.denormalize(y, axis=axis), x, rtol=1e-12, atol=1e-14)
    # the property axis really is `axis`: the ν channel is scaled by 2 / 0.5 = 4
    nu_x, nu_y = np.take(x, 1, axis=axis), np.take(y, 1, axis=axis)
    np.testing.assert_allclose(nu_y, 4 * nu_x - 1)
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        xt = torch.as_tensor(x, dtype=dtype)
        yt = n.normalize(xt, axis=axis)
        assert isinstance(yt, torch.Tensor) and yt.dtype == dtype
        np.testing.assert_allclose(yt.numpy(), y, rtol=tol, atol=tol)
        np.testing.assert_allclose(n.denormalize(yt, axis=axis).numpy(), x, rtol=tol, atol=tol)


def test_normalization_is_differentiable_and_serializable():
    n = Normalization(BOUNDS)
    x = torch.tensor([[4.0, 0.2, 2.0]], requires_grad=True)
    n.normalize(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[2 / 10, 2 / 0.5, 2 / 2]], rtol=1e-6)
    d = json.loads(json.dumps(n.to_dict()))
    assert d == {"E": [0.0, 10.0], "nu": [0.0, 0.5], "rho": [1.0, 3.0]} and Normalization.from_dict(d) == n


def test_normalization_rejects_bad_input():
    with pytest.raises(InputError, match="shape"):
        Normalization([[0, 1], [0, 1]])
    with pytest.raises(InputError, match="rho: need min < max"):
        Normalization([[0, 1], [0, 0.5], [2, 2]])
    with pytest.raises(InputError, match="lacks rho"):
        Normalization.from_dict({"E": [0, 1], "nu": [0, 1]})
    with pytest.raises(InputError, match="must have length 3"):
        Normalization(BOUNDS).normalize(np.zeros((2, 4)))
    with pytest.raises(InputError, match="must have length 3"):
        Normalization(BOUNDS).normalize(np.zeros((2, 3)), axis=0)


# --- nearest --------------------------------------------------------------------------------
def test_nearest_finds_every_row_exactly():
    t = MaterialTable.builtin()
    rows = t.nearest(t.E, t.nu, t.rho)
    assert rows.shape == (len(t),)
    np.testing.assert_array_equal(t.properties[rows], t.properties)  # identical rows may share an index
    assert t.names[int(t.nearest(113.8, 0.342, 4.43))] == "Ti-6Al-4V (grade 5)"


def test_nearest_matches_brute_force_and_keeps_query_shape():
    t = MaterialTable.builtin()
    rng = np.random.default_rng(3)
    q = t.denormalize(rng.uniform(-1.1, 1.1, (4, 5, 3)))
    rows = t.nearest(q[..., 0], q[..., 1], torch.as_tensor(q[..., 2]))
    assert rows.shape == (4, 5) and rows.dtype == np.int64
    d = np.linalg.norm(t.normalize(q)[..., None, :] - t.normalize(t.properties), axis=-1)
    np.testing.assert_array_equal(rows, d.argmin(axis=-1))
    assert t.nearest(200.0, 0.3, 7.8).shape == ()


def test_nearest_uses_the_given_normalization():
    t = _table([("stiff", 100.0, 0.30, 5.0), ("dense", 60.0, 0.30, 9.0), ("soft", 1.0, 0.1, 1.0)])
    query = (100.0, 0.30, 8.0)  # ΔE = 0, Δρ = 3 to "stiff"; ΔE = 40, Δρ = 1 to "dense"
    # table scale (E span 99, ρ span 8): stiff 2·3/8 = 0.75 < dense hypot(2·40/99, 2·1/8) = 0.85
    assert t.names[int(t.nearest(*query))] == "stiff"
    rho_dominated = Normalization([[0.0, 1000.0], [0.0, 0.5], [0.0, 1.0]])
    assert t.names[int(t.nearest(*query, normalization=rho_dominated))] == "dense"
    E_dominated = Normalization([[0.0, 1.0], [0.0, 0.5], [0.0, 100.0]])
    assert t.names[int(t.nearest(*query, normalization=E_dominated))] == "stiff"
    with pytest.raises(InputError, match="finite"):
        t.nearest(float("nan"), 0.3, 1.0)


# --- chunks ---------------------------------------------------------------------------------
def test_chunk_index_on_hand_made_values():
    E = np.array([10.0, 499.0, 500.0, 60.0, 50.0, 0.0])
    nu = np.array([0.01, 0.49, 0.25, 0.12, 0.05, 0.0])
    rho = np.array([0.5, 9.9, 5.0, 3.2, 1.0, 0.0])
    # (i_E, i_ν, i_ρ): (0,0,0) (9,9,9) (9 edge-clipped,5,5) (1,2,3) (1,1,1) (0,0,0)
    np.testing.assert_array_equal(chunk_index(E, nu, rho), [0, 999, 955, 123, 111, 0])
    np.testing.assert_array_equal(chunk_segments([955, 123]), [[9, 5, 5], [1, 2, 3]])
    t = _table([("a", 10.0, 0.01, 0.5), ("b", 499.0, 0.49, 9.9), ("c", 12.0, 0.02, 0.9), ("d", 60.0, 0.12, 3.2)])
    np.testing.assert_array_equal(t.chunk_index(), [0, 999, 0, 123])
    np.testing.assert_array_equal(t.nonempty_chunks(), [0, 123, 999])


def test_builtin_chunk_coverage():
    t = MaterialTable.builtin()
    idx = t.chunk_index()
    assert idx.min() >= 0 and idx.max() < 1000
    seg = chunk_segments(idx)
    np.testing.assert_array_equal(seg[:, 0], np.minimum(np.floor(t.E / 50), 9))
    np.testing.assert_array_equal(seg[:, 2], np.floor(t.rho))
    assert 50 <= len(t.nonempty_chunks()) <= len(t)
    assert PAPER_FILTER.describe() == "0 < E ≤ 500 GPa, 0 < ν < 0.5, 0 < ρ < 10 g/cm³"
