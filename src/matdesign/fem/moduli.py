"""Isotropic moduli conversions, Voigt–Reuss bounds and the isotropic projection of a stiffness.

Elementwise on numpy arrays or torch tensors. Moduli in GPa. ``dim=2`` means plane stress: the
in-plane Lamé parameter is ``λ* = Eν/(1−ν²)`` and the (area) bulk modulus is ``E/(2(1−ν))``.
"""

from __future__ import annotations


def lame(E, nu, dim: int):
    """Lamé parameters ``(lam, mu)`` used by the element matrices (plane-stress ``λ*`` in 2D)."""
    mu = E / (2.0 * (1.0 + nu))
    if dim == 2:
        return E * nu / (1.0 - nu * nu), mu
    return E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu)), mu


def lame_derivatives(E, nu, dim: int):
    """``(dlam/dE, dlam/dnu, dmu/dE, dmu/dnu)`` of :func:`lame`."""
    dmu_dE = 1.0 / (2.0 * (1.0 + nu))
    dmu_dnu = -E / (2.0 * (1.0 + nu) ** 2)
    if dim == 2:
        den = 1.0 - nu * nu
        return nu / den, E * (1.0 + nu * nu) / den**2, dmu_dE, dmu_dnu
    den = (1.0 + nu) * (1.0 - 2.0 * nu)
    return nu / den, E * (1.0 + 2.0 * nu * nu) / den**2, dmu_dE, dmu_dnu


def bulk_from_young(E, nu, dim: int):
    """Bulk modulus of an isotropic phase: 3D ``E/(3(1−2ν))``; 2D plane stress ``E/(2(1−ν))``."""
    if dim == 2:
        return E / (2.0 * (1.0 - nu))
    return E / (3.0 * (1.0 - 2.0 * nu))


def voigt_reuss_bounds(K_phases, fractions):
    """``(reuss, voigt)`` bounds of the effective bulk modulus.

    ``K_phases`` and ``fractions`` have shape (..., n_phases) (fractions sum to 1 along the last axis):
    Voigt ``Σ f_i K_i`` (upper), Reuss ``1 / Σ (f_i / K_i)`` (lower).
    """
    voigt = (fractions * K_phases).sum(-1)
    reuss = 1.0 / (fractions / K_phases).sum(-1)
    return reuss, voigt


def isotropic_projection(C, dim: int) -> dict:
    """Closest isotropic moduli (Frobenius projection of the 4th-order tensor) of a Voigt stiffness.

    ``C`` has shape (..., 3, 3) in 2D (plane stress) or (..., 6, 6) in 3D. Returns a dict of arrays of
    shape (...): ``K`` (bulk; 2D area bulk), ``G`` (shear), ``E`` (Young), ``nu`` (Poisson).
    """
    d = dim
    normal = sum(C[..., i, i] for i in range(d))
    off = sum(C[..., i, j] for i in range(d) for j in range(i + 1, d))
    shear = sum(C[..., i, i] for i in range(d, C.shape[-1]))
    if dim == 2:
        K = (normal + 2.0 * off) / 4.0
        G = (normal / 2.0 - off + 2.0 * shear) / 4.0
    else:
        K = (normal + 2.0 * off) / 9.0
        G = (normal - off + 3.0 * shear) / 15.0
    E, nu = young_poisson(K, G, dim)
    return {"K": K, "G": G, "E": E, "nu": nu}


def young_poisson(K, G, dim: int):
    """``(E, ν)`` of an isotropic material from its bulk and shear moduli (2D: plane-stress area K)."""
    if dim == 2:
        return 4.0 * K * G / (K + G), (K - G) / (K + G)
    return 9.0 * K * G / (3.0 * K + G), (3.0 * K - 2.0 * G) / (2.0 * (3.0 * K + G))


def isotropic_stiffness(E, nu, dim: int):
    """Voigt stiffness (numpy, (3, 3) plane stress or (6, 6)) of an isotropic material (floats)."""
    import numpy as np

    lam, mu = lame(float(E), float(nu), dim)
    n = 3 if dim == 2 else 6
    C = np.zeros((n, n))
    C[:dim, :dim] = lam
    C[range(dim), range(dim)] += 2.0 * mu
    C[range(dim, n), range(dim, n)] = mu
    return C
