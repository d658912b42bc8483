"""matdesign.microstructure: random matrix–particle microstructures (placement, voxelization),
the paper's design sampling, and .npz / VTK / PNG output."""

from matdesign.microstructure.design import Design
from matdesign.microstructure.generate import generate
from matdesign.microstructure.render import render_png
from matdesign.microstructure.rve import generate_rve
from matdesign.microstructure.sampling import DIAMETER_RANGE, VOLUME_FRACTION_RANGE, sample_design
from matdesign.microstructure.structure import Microstructure

__all__ = [
    "DIAMETER_RANGE",
    "Design",
    "Microstructure",
    "VOLUME_FRACTION_RANGE",
    "generate",
    "generate_rve",
    "render_png",
    "sample_design",
]
