"""matdesign: inverse design of particle-reinforced composites by FEM-guided diffusion."""

from matdesign.errors import InputError

__version__ = "0.1.0"
__all__ = ["InputError", "__version__", "design"]


def design(target_K: float, **kwargs):
    """Designs for a target bulk modulus [GPa]; see :func:`matdesign.pipeline.design.design`."""
    from matdesign.pipeline.design import design as _design

    return _design(target_K, **kwargs)
