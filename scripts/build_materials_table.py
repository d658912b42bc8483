"""Build src/matdesign/materials/data/materials.csv.

Rows: the hand-written engineering list (scripts/engineering_materials.csv, one cited source per
row) followed by every element of pymatgen-core's periodic_table.json.gz that has a Young's
modulus, a Poisson ratio and a solid density (named "<symbol> (element)", atomic-number order).

    python scripts/build_materials_table.py [--out PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
from importlib import metadata, resources
from pathlib import Path

from matdesign.materials import PAPER_FILTER, MaterialTable

ROOT = Path(__file__).resolve().parents[1]
ENGINEERING_CSV = ROOT / "scripts" / "engineering_materials.csv"
DEFAULT_OUT = ROOT / "src" / "matdesign" / "materials" / "data" / "materials.csv"

#: pymatgen key -> (unit pymatgen must report, factor to our unit)
PYMATGEN_KEYS = {
    "Youngs modulus": ("GPa", 1.0),  # GPa -> GPa
    "Poissons ratio": (None, 1.0),  # dimensionless
    "Density of solid": ("kg m^-3", 1e-3),  # kg/m³ -> g/cm³
}


def load_periodic_table() -> dict:
    """pymatgen-core's elemental data (dict keyed by symbol, plus '_unit')."""
    with resources.as_file(resources.files("pymatgen.core") / "periodic_table.json.gz") as path:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)


def element_rows(table: dict) -> list[dict]:
    """One row per element with all three properties, in our units, atomic-number order."""
    units = table["_unit"]
    for key, (unit, _) in PYMATGEN_KEYS.items():
        if units.get(key) != unit:
            raise RuntimeError(f"pymatgen reports {key!r} in {units.get(key)!r}, expected {unit!r}")
    source = (f"pymatgen-core {metadata.version('pymatgen-core')}: periodic_table.json.gz "
              "(Youngs modulus, Poissons ratio, Density of solid)")
    rows = []
    for symbol, data in table.items():
        if symbol.startswith("_") or not all(isinstance(data.get(k), (int, float)) for k in PYMATGEN_KEYS):
            continue
        E, nu, rho = (data[k] * factor for k, (_, factor) in PYMATGEN_KEYS.items())
        rows.append({"Z": data["Atomic no"], "name": f"{symbol} (element)", "E": E, "nu": nu, "rho": rho,
                     "category": "element", "source": source})
    return sorted(rows, key=lambda r: r["Z"])


def build_table() -> MaterialTable:
    """Engineering rows followed by element rows, validated as one table."""
    rows = [dataclasses.asdict(m) for m in MaterialTable.from_csv(ENGINEERING_CSV)]
    rows += element_rows(load_periodic_table())
    columns = ([r[key] for r in rows] for key in ("name", "E", "nu", "rho", "category", "source"))
    return MaterialTable(*columns, where="built-in table")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output CSV (default: the package data file)")
    args = parser.parse_args(argv)
    table = build_table()
    table.to_csv(args.out)
    inside = table.select(PAPER_FILTER)
    print(f"wrote {args.out}: {len(table)} rows ({sum(c == 'element' for c in table.categories)} elements); "
          f"{len(inside)} inside {PAPER_FILTER.describe()}, {len(inside.nonempty_chunks())} non-empty chunks; "
          f"sha256 {table.sha256()}")


if __name__ == "__main__":
    main()
