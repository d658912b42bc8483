"""matdesign: inverse design of particle-reinforced composites by FEM-guided diffusion."""

from matdesign.errors import InputError

__version__ = "0.1.0"
__all__ = ["InputError", "__version__"]
