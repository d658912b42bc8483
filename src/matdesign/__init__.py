"""matdesign: inverse design of particle-reinforced composites by FEM-guided diffusion."""

from matdesign.errors import InputError

__version__ = "0.1.0"
__all__ = ["InputError", "__version__", "design"]


def design(target: float | None = None, *, target_K: float | None = None, **kwargs):
    """Designs for a target effective property: ``design(120)`` or ``design(target_K=120)`` for the bulk
    modulus K [GPa], ``design(80, property="G")`` for G, E [GPa] or ν; see :func:`matdesign.pipeline.design.design`."""
    from matdesign.pipeline.design import design as _design

    if (target is None) == (target_K is None):
        raise InputError("give the target once: design(value, property=...) or design(target_K=value)")
    if target_K is not None and kwargs.get("property", "K") != "K":
        raise InputError(f"target_K is a bulk-modulus target; for property={kwargs['property']!r} pass design(value, ...)")
    return _design(target if target is not None else target_K, **kwargs)
