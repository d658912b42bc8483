"""matdesign.materials"""
from matdesign.materials.material import Material

__all__ = ["Material"]
