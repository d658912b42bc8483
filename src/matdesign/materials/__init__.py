"""matdesign.materials: the table of real isotropic materials (E [GPa], ν, ρ [g/cm³]),
CSV import/validation, [−1, 1] normalization, nearest-material lookup and property chunks."""
from matdesign.materials.chunks import N_SEGMENTS, PAPER_FILTER, PropertyFilter, chunk_index
from matdesign.materials.material import Material
from matdesign.materials.normalization import Normalization
from matdesign.materials.table import MaterialTable
from matdesign.materials.validation import validate_properties

__all__ = [
    "Material",
    "MaterialTable",
    "N_SEGMENTS",
    "Normalization",
    "PAPER_FILTER",
    "PropertyFilter",
    "chunk_index",
    "validate_properties",
]
