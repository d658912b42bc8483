"""matdesign: inverse design of particle-reinforced composites by FEM-guided diffusion."""

from matdesign.errors import InputError

__version__ = "0.1.0"
__all__ = ["InputError", "__version__", "design"]


def design(target: float | None = None, *, target_K: float | None = None, **kwargs):
    """Designs for a target effective property: ``design(120)`` or ``design(target_K=120)`` for the bulk
    modulus K [GPa], ``design(80, property="G")`` for G, E [GPa] or ν; see :func:`matdesign.pipeline.design.design`."""
    from matdesign.pipeline.design import choose_target, design as _design

    return _design(choose_target(target, target_K, kwargs.get("property", "K")), **kwargs)
