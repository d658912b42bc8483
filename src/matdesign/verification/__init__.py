"""matdesign.verification: a design's property measured by FEM on fresh random arrangements (K_θ, or G,
E, ν) in one of the K definitions (:mod:`~matdesign.verification.definition`), and the property of a
generated sample itself (K_s)."""

from matdesign.verification.definition import DEFAULT_DEFINITION, DEFINITIONS, Definition, get_definition
from matdesign.verification.verify import (
    PROPERTIES,
    Verification,
    arrangement,
    check_property,
    density,
    sample_K,
    sample_property,
    stochastic_round,
    verify,
)

__all__ = ["DEFAULT_DEFINITION", "DEFINITIONS", "Definition", "PROPERTIES", "Verification", "arrangement",
           "check_property", "density", "get_definition", "sample_K", "sample_property", "stochastic_round",
           "verify"]
