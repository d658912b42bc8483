"""Which effective property a design is verified by: the composite's, the paper's cell's or the release's.

``"composite"`` (the product's default): the property of the bulk composite — random periodic
representative volume elements (RVEs) of ``cells`` design cells per axis, equilibrated hard-disk/sphere
placement (no walls; in 2D a one-voxel matrix gap so that no two particles merge on the grid), periodic
boundary conditions. Its size and resolution were chosen by the convergence study in docs/physics.md
("Composite K: the protocol"). ``"composite-fine"``: the same composites at twice the resolution (4×
the cost in 2D, 8× in 3D), for checking the discretisation error of high-contrast designs.
``"cell"``: the paper's cell as its text describes it — one design cell, push-apart placement inside
walls, affine boundary displacements u = ε·x, K = tr⟨σ⟩/(d tr ε) (an upper estimate of the composite's
K; what our shipped models were trained on; named "paper" before 2026-12-07).
``"paper"``: the quantity of the paper's official release — the same walled cell, but the release's
load (only u_z = 0.1·z prescribed on the surface, a uniaxial tension along z with free sides) and
K = tr⟨σ⟩/(3 tr⟨ε⟩) with measured strains (:func:`matdesign.fem.release_modulus`; 2D as a one-element
thick hex plate). Not a bulk modulus of a composite: it can exceed the Voigt bound
(docs/official_release.md). Only K is defined in it.
"""

from __future__ import annotations

from dataclasses import dataclass

from matdesign.errors import InputError


@dataclass(frozen=True)
class Definition:
    """How arrangements of a design are built and solved.

    ``bc``: FEM boundary condition (:func:`matdesign.fem.bulk_modulus`); ``placement``: particle
    placement (:func:`matdesign.microstructure.generate_rve`); by dimension: ``cells`` the RVE side in
    design cells, ``voxels`` voxels per design cell per axis (None: the model's grid), ``gap`` the
    smallest matrix gap between particle surfaces [design cells]; ``rounding`` of the expected particle
    count per arrangement: "stochastic" (each independently, the paper's protocol) or "systematic"
    (stratified over the arrangements of one batch, so their mean volume fraction is the design's);
    ``fem``: the FEM quantity, :func:`matdesign.fem.bulk_modulus`'s ``definition`` ("bulk" or "paper").
    """

    name: str
    bc: str
    placement: str
    cells: dict
    voxels: dict
    gap: dict
    rounding: str = "systematic"
    fem: str = "bulk"

    def grid(self, dim: int, size: int) -> tuple[int, int]:
        """``(cells, voxels per cell)`` for ``dim`` and the model's grid ``size``."""
        return self.cells[dim], self.voxels[dim] or size


DEFINITIONS = {
    "composite": Definition("composite", "periodic", "equilibrated", {2: 2, 3: 1}, {2: 64, 3: 32},
                            {2: 1 / 64, 3: 0.0}),
    "composite-fine": Definition("composite-fine", "periodic", "equilibrated", {2: 2, 3: 1}, {2: 128, 3: 64},
                                 {2: 1 / 64, 3: 0.0}),
    "cell": Definition("cell", "affine", "paper", {2: 1, 3: 1}, {2: None, 3: None}, {2: 0.0, 3: 0.0},
                       "stochastic"),
    "paper": Definition("paper", "affine", "paper", {2: 1, 3: 1}, {2: None, 3: None}, {2: 0.0, 3: 0.0},
                        "stochastic", fem="paper"),
}
"""The definitions of a design's effective property, by name (placement "paper": the paper's push-apart
placement inside walls)."""

DEFAULT_DEFINITION = "composite"


def get_definition(name: str | Definition) -> Definition:
    """The :class:`Definition` named ``name`` (or ``name`` itself), else InputError."""
    if isinstance(name, Definition):
        return name
    if name not in DEFINITIONS:
        raise InputError(f"definition={name!r}: must be one of {', '.join(DEFINITIONS)}")
    return DEFINITIONS[name]
