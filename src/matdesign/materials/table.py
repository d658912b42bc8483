"""A table of real isotropic materials: lookup, normalization, nearest neighbours, chunks."""

from __future__ import annotations

import functools
import hashlib
from importlib import resources

import numpy as np

from matdesign.atomic import write_text_atomic
from matdesign.errors import InputError
from matdesign.materials.chunks import PAPER_FILTER, PropertyFilter, chunk_index
from matdesign.materials.csv_io import format_materials_csv, read_materials_csv
from matdesign.materials.material import Material
from matdesign.materials.normalization import Normalization
from matdesign.materials.validation import validate_properties


class MaterialTable:
    """Immutable rows of materials: ``names``, ``E`` [GPa], ``nu``, ``rho`` [g/cm³] (float64 (n,)),
    ``categories``, ``sources``. Names are unique."""

    def __init__(self, names, E, nu, rho, categories=None, sources=None, *, where: str = "material table"):
        names = [str(n) for n in names]
        E, nu, rho = validate_properties(E, nu, rho, where=where)
        n = len(names)
        if E.shape != (n,):
            raise InputError(f"{where}: E, nu, rho must be 1-D with one value per name ({n}), got shape {E.shape}")
        if n == 0:
            raise InputError(f"{where}: no materials")
        seen = set()
        for name in names:
            if not name.strip():
                raise InputError(f"{where}: empty material name")
            if name in seen:
                raise InputError(f"{where}: duplicate material name {name!r}")
            seen.add(name)
        categories = [""] * n if categories is None else [str(c) for c in categories]
        sources = [""] * n if sources is None else [str(s) for s in sources]
        if len(categories) != n or len(sources) != n:
            raise InputError(f"{where}: categories/sources need {n} entries, got {len(categories)}/{len(sources)}")
        for a in (E, nu, rho):
            a.setflags(write=False)
        self.names, self.E, self.nu, self.rho = names, E, nu, rho
        self.categories, self.sources = categories, sources
        self._row = {name: i for i, name in enumerate(names)}

    # --- constructors -------------------------------------------------------------------------
    @classmethod
    def builtin(cls, filter: PropertyFilter | None = PAPER_FILTER) -> "MaterialTable":
        """The shipped table (data/materials.csv); ``filter=None`` keeps every row."""
        full = _builtin_full()
        return full if filter is None else full.select(filter)

    @classmethod
    def from_csv(cls, path) -> "MaterialTable":
        """Read a material CSV (see :mod:`matdesign.materials.csv_io` for the format)."""
        cols = read_materials_csv(path)
        return cls(cols["name"], cols["E"], cols["nu"], cols["rho"], cols["category"], cols["source"], where=str(path))

    def select(self, which) -> "MaterialTable":
        """Sub-table of the rows inside a :class:`PropertyFilter`, or given by a bool mask / row indices."""
        if isinstance(which, PropertyFilter):
            rows = np.flatnonzero(which.mask(self.E, self.nu, self.rho))
            if rows.size == 0:
                raise InputError(f"no material satisfies {which.describe()}")
        else:
            which = np.asarray(which)
            if which.dtype == bool:
                if which.shape != (len(self),):
                    raise InputError(f"selection mask has shape {which.shape}, table has {len(self)} rows")
                rows = np.flatnonzero(which)
            else:
                rows = which.astype(np.int64).ravel()
                if rows.size and not (-len(self) <= rows.min() and rows.max() < len(self)):
                    raise InputError(f"row index out of range for a table of {len(self)} rows")
        return MaterialTable([self.names[i] for i in rows], self.E[rows], self.nu[rows], self.rho[rows],
                             [self.categories[i] for i in rows], [self.sources[i] for i in rows])

    # --- rows ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> Material:
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"row {i} out of range for a table of {len(self)} rows")
        return Material(self.names[i], float(self.E[i]), float(self.nu[i]), float(self.rho[i]),
                        self.categories[i], self.sources[i])

    def index(self, name: str) -> int:
        """Row of the material called ``name``."""
        try:
            return self._row[name]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(name, self.names, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise InputError(f"unknown material {name!r}{hint}") from None

    @property
    def properties(self) -> np.ndarray:
        """(n, 3) float64 array of (E, ν, ρ) per row."""
        return np.stack([self.E, self.nu, self.rho], axis=-1)

    def summary(self) -> str:
        """One line, e.g. '152 materials, E 0.0015–466 GPa, ν 0.032–0.49, ρ 0.053–9.84 g/cm³'."""
        return (f"{len(self)} materials, E {self.E.min():.3g}–{self.E.max():.3g} GPa, "
                f"ν {self.nu.min():.3g}–{self.nu.max():.3g}, ρ {self.rho.min():.3g}–{self.rho.max():.3g} g/cm³")

    def __repr__(self) -> str:
        return f"MaterialTable({self.summary()})"

    # --- normalized space ---------------------------------------------------------------------
    @functools.cached_property
    def normalization(self) -> Normalization:
        """Min–max bounds of this table's E, ν, ρ."""
        if len(self) < 2:
            raise InputError("a normalization needs at least two materials with distinct E, nu and rho")
        return Normalization(np.stack([self.properties.min(axis=0), self.properties.max(axis=0)], axis=-1))

    def normalize(self, x, axis: int = -1):
        """``self.normalization.normalize``."""
        return self.normalization.normalize(x, axis=axis)

    def denormalize(self, y, axis: int = -1):
        """``self.normalization.denormalize``."""
        return self.normalization.denormalize(y, axis=axis)

    def nearest(self, E, nu, rho, normalization: Normalization | None = None) -> np.ndarray:
        """Row index of the nearest material (Euclidean in normalized space) for each query.

        E [GPa], nu, rho [g/cm³]: scalars or arrays (numpy or torch) broadcast together; returns
        an int64 array of the broadcast shape. ``normalization`` defaults to the table's own.
        """
        queries = [np.asarray(a.detach().cpu() if hasattr(a, "detach") else a, dtype=np.float64) for a in (E, nu, rho)]
        try:
            q = np.stack(np.broadcast_arrays(*queries), axis=-1)
        except ValueError:
            raise InputError(f"nearest: E, nu, rho shapes {[a.shape for a in queries]} do not broadcast") from None
        if not np.isfinite(q).all():
            raise InputError("nearest: query values must be finite")
        norm = self.normalization if normalization is None else normalization
        from scipy.spatial import cKDTree  # here, not at import: scipy.spatial costs ≈ 0.25 s (a bad command answers sooner)

        tree = cKDTree(norm.normalize(self.properties))
        _, rows = tree.query(norm.normalize(q.reshape(-1, 3)))
        return rows.astype(np.int64).reshape(q.shape[:-1])

    # --- chunks ------------------------------------------------------------------------------
    def chunk_index(self) -> np.ndarray:
        """(n,) int64 chunk number in [0, 1000) of each row (10×10×10 grid over the paper's box)."""
        return chunk_index(self.E, self.nu, self.rho)

    def nonempty_chunks(self) -> np.ndarray:
        """Sorted unique chunk numbers holding at least one row."""
        return np.unique(self.chunk_index())

    # --- output ------------------------------------------------------------------------------
    def to_csv_text(self) -> str:
        """Canonical CSV content (name,E,nu,rho,category,source)."""
        return format_materials_csv({"name": self.names, "E": self.E, "nu": self.nu, "rho": self.rho,
                                     "category": self.categories, "source": self.sources})

    def sha256(self) -> str:
        """Hex SHA-256 of :meth:`to_csv_text` (identifies the table a model was trained on)."""
        return hashlib.sha256(self.to_csv_text().encode("utf-8")).hexdigest()

    def to_csv(self, path) -> None:
        """Write :meth:`to_csv_text` to ``path`` atomically."""
        write_text_atomic(path, self.to_csv_text())


@functools.lru_cache(maxsize=1)
def _builtin_full() -> MaterialTable:
    with resources.as_file(resources.files("matdesign.materials") / "data" / "materials.csv") as path:
        return MaterialTable.from_csv(path)
