"""Coarse space of per-particle rigid-body modes for high-contrast fields (deflation of PCG).

With stiff particles in a soft matrix (E contrast 1e3 and more) the geometric multigrid V-cycle
misses the near-rigid motions of the individual particles: they have tiny energy (only the soft
matrix and thin particle necks deform) but are not smooth on the coarse grids, so PCG spends most
of its iterations on a few dozen small eigenvalues (32³ steel in rubber: 43 eigenvalues of M⁻¹A
below 0.3, the smallest 1e-3). This module finds the particles in the field and spans their rigid
motions explicitly:

1. stiff voxels: shear modulus μ above the geometric mean of the sample's extremes, when
   μ_max / μ_min ≥ ``min_contrast`` (else no coarse space for that sample);
2. particles: watershed of the distance transform of the stiff mask (scikit-image), which splits
   particles that touch through necks of a few voxel faces;
3. coarse vectors Z: for each particle its rigid motions (dim translations and 1 or 3 rotations
   about its centroid) on the nodes of its voxels (interior nodes only), zero elsewhere;
4. coarse matrix E = ZᵀAZ, assembled element by element over the elements whose corners do not all
   carry the same label (on the others the modes are rigid: zero energy), Cholesky-factored.

It is used as the "A-DEF2" two-level preconditioner of Tang, Nabben, Vuik & Erlangga (J. Sci.
Comput. 39, 2009): ``B r = Pᵀ M r + Q r`` with ``Q = Z E⁻¹ Zᵀ``, ``Pᵀ = I − QA`` and the start
``x₀ ← x₀ + Q(b − A x₀)``; one extra matvec per iteration. The result is still the exact solution
to the PCG tolerance: the coarse space only changes the iteration count.

Periodic grids (:class:`~matdesign.fem.periodic_grid.PeriodicVoxelGrid`, nodes (n,)*dim): the
watershed runs on the torus (a particle cut by faces is one label), a node takes the labels of the
voxels around it modulo n, rotations use the minimum-image positions about the particle's own
centroid, and Q is projected against the translations (``Π Z E⁻¹ Zᵀ Π``, Π = zero mean per
component), so the deflated PCG stays in the range of the singular periodic operator; no particle's
translations are dropped (Σ_k translations_k is not a constant unless the particles cover every node,
where E's tiny diagonal shift and Π take care of it).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from scipy import ndimage, sparse
from scipy.sparse.csgraph import connected_components
from skimage.feature import peak_local_max
from skimage.segmentation import watershed

from matdesign.fem.elements import corner_offsets
from matdesign.fem.grid import VoxelGrid


def particle_labels(mu: np.ndarray, *, periodic: bool = False, min_contrast: float = 20.0,
                    max_particles: int = 256, min_voxels: int = 2) -> np.ndarray:
    """Particle labels (*grid) int64 (0 = matrix, 1..k particles) of one shear-modulus field (*grid).

    Stiff = μ above √(μ_min μ_max); particles = watershed regions of the stiff set's distance
    transform. ``periodic``: the field is a torus cell (:func:`_periodic_watershed`: a particle cut by
    the faces is one label). At most ``max_particles`` (the largest), each with ≥ ``min_voxels``
    voxels; all zeros when the contrast is below ``min_contrast``.
    """
    lo, hi = float(mu.min()), float(mu.max())
    if not lo > 0 or hi / lo < min_contrast:
        return np.zeros(mu.shape, np.int64)
    stiff = mu > np.sqrt(lo * hi)
    labels = _periodic_watershed(stiff) if periodic else _watershed(stiff)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    keep = np.argsort(-sizes, kind="stable")[:max_particles]
    keep = keep[sizes[keep] >= min_voxels]
    relabel = np.zeros(len(sizes), np.int64)
    relabel[keep] = np.arange(1, len(keep) + 1)
    return relabel[labels]


def _watershed(stiff: np.ndarray) -> np.ndarray:
    """Watershed regions (int64, same shape, 0 outside) of the distance transform of a boolean mask."""
    dist = ndimage.distance_transform_edt(stiff)
    components, _ = ndimage.label(stiff)
    peaks = peak_local_max(dist, min_distance=2, labels=components, exclude_border=False)
    markers = np.zeros(stiff.shape, np.int64)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-dist, markers, mask=stiff).astype(np.int64)


def _periodic_watershed(stiff: np.ndarray) -> np.ndarray:
    """:func:`_watershed` of a periodic mask (n,)*dim: run on the cell padded by M wrapped layers
    (M = 2·max non-periodic distance + 2 ≥ a particle diameter + 2, at most n), so the regions at
    and just outside the cell are those of the torus; then the label of each voxel of the one-layer
    shell around the cell is merged with the label of its periodic image inside (connected
    components of those pairs), which joins the pieces of a particle cut by a face, edge or corner."""
    n = stiff.shape[0]
    M = int(min(n, 2 * np.ceil(ndimage.distance_transform_edt(stiff).max()) + 2))
    pad = _watershed(np.pad(stiff, M, mode="wrap"))
    inner = pad[(slice(M, M + n),) * stiff.ndim]
    shell = pad[(slice(M - 1, M + n + 1),) * stiff.ndim].ravel()
    image = np.pad(inner, 1, mode="wrap").ravel()
    pair = (shell > 0) & (image > 0)
    k = int(pad.max()) + 1
    graph = sparse.coo_matrix((np.ones(int(pair.sum())), (shell[pair], image[pair])), shape=(k, k))
    _, comp = connected_components(graph, directed=False)
    comp = comp + 1
    comp[0] = 0  # comp's ids are ≥ 1 for labels and unique per merged particle (ids are not compact)
    return np.where(inner > 0, comp[inner], 0)


class RigidModeDeflation:
    """Coarse space of particle rigid-body modes for a batch of Lamé fields on one grid.

    ``grid``: a :class:`VoxelGrid` (modes on interior nodes) or a periodic grid (modes on the torus).
    ``lam``, ``mu``: (B, n_el) on the grid's device (the coarse space is built in float64). ``Q(r)``
    applies ``Z E⁻¹ Zᵀ`` to nodal (B, ..., dim, *nodes) residuals (leading dims after B broadcast: load
    cases); ``particles`` (B,) holds the number of particles found per sample.
    """

    def __init__(self, grid: VoxelGrid, lam: torch.Tensor, mu: torch.Tensor, **segment_kw):
        self.dtype = grid.dtype  # of the residuals Q is applied to
        if grid.dtype != torch.float64:  # E = ZᵀAZ spans the whole contrast: assemble and factor in float64
            grid = type(grid)(grid.dim, grid.n, grid.device, torch.float64)
        lam, mu = lam.to(torch.float64), mu.to(torch.float64)
        self.grid = grid
        dim, n = grid.dim, grid.n
        mu_np = mu.detach().to("cpu", torch.float64).numpy().reshape(-1, *(n,) * dim)
        vox = np.stack([particle_labels(m, periodic=grid.periodic, **segment_kw) for m in mu_np])  # (B, *grid)
        self.particles = vox.reshape(len(vox), -1).max(1)
        self.cmax = int(self.particles.max(initial=0))
        node = np.zeros((len(vox),) + grid.node_shape, np.int64)
        for off in np.ndindex(*(2,) * dim):  # a node takes the label of the particle voxels around it
            if grid.periodic:  # node i is a corner of voxels i − off (mod n)
                node = np.maximum(node, np.roll(vox, off, tuple(range(1, dim + 1))))
            else:
                sl = (slice(None),) + tuple(slice(o, o + n) for o in off)
                node[sl] = np.maximum(node[sl], vox)
        self.labels = torch.as_tensor(node, device=grid.device) * grid.interior.to(torch.int64)
        self.modes, self.chol = None, None
        if self.cmax:
            self.modes, positions = self._rigid_modes()
            self.chol = self._coarse_factor(lam, mu, positions)
            self._index()

    @property
    def active(self) -> bool:
        return self.cmax > 0

    def _rigid_modes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, m, dim, *nodes): the m = dim(dim+1)/2 rigid modes of each node's own particle, and
        (B, dim, *nodes) each labelled node's position relative to its particle's centroid (0 elsewhere).

        Periodic grid: positions are unwrapped by the minimum image about the particle's circular-mean
        centre (exact for particles spanning less than half the cell per axis; larger ones only change
        which vectors span the coarse space, and E = ZᵀAZ stays exact, see :meth:`_coarse_factor`)."""
        g, lab = self.grid, self.labels
        B, c1 = lab.shape[0], self.cmax + 1
        axes = [torch.arange(s, device=g.device, dtype=g.dtype) / g.n for s in g.node_shape]
        X = torch.stack(torch.meshgrid(*axes, indexing="ij"), 0).reshape(g.dim, -1).T.repeat(B, 1)  # (B·nodes, dim)
        flat = self._global_labels()
        inside = (lab.reshape(-1) > 0).to(g.dtype)[:, None]
        count = torch.zeros(B * c1, device=g.device, dtype=g.dtype).index_add_(0, flat, inside[:, 0]).clamp(min=1)

        def particle_mean(v):  # (B·nodes, dim) → (B·c1, dim): mean over each particle's nodes
            s = torch.zeros(B * c1, g.dim, device=g.device, dtype=g.dtype).index_add_(0, flat, v * inside)
            return s / count[:, None]

        if g.periodic:
            angle = 2 * torch.pi * X
            centre = torch.atan2(particle_mean(torch.sin(angle)), particle_mean(torch.cos(angle))) / (2 * torch.pi)
            X = X - centre[flat]
            X = X - torch.round(X)
        X = (X - particle_mean(X)[flat]) * inside  # position relative to the centroid
        Xr = X.T.reshape(g.dim, B, -1)
        modes = []
        for d in range(g.dim):
            t = torch.zeros_like(Xr)
            t[d] = 1.0
            modes.append(t)
        for k in ([2] if g.dim == 2 else range(3)):  # rotations about axis k (k = 2: the 2D in-plane one)
            i, j = [a for a in range(3) if a != k][:2]
            r = torch.zeros_like(Xr)
            r[i], r[j] = -Xr[j], Xr[i]
            modes.append(r)
        Phi = torch.stack(modes, 1) * inside.reshape(B, -1)  # (dim, m, B, nodes) → masked
        Phi = Phi.permute(2, 1, 0, 3).reshape(B, len(modes), g.dim, *g.node_shape)
        return Phi, Xr.permute(1, 0, 2).reshape(B, g.dim, *g.node_shape)

    def _coarse_factor(self, lam: torch.Tensor, mu: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Cholesky factor (B, c·m, c·m) of E = ZᵀAZ (c = max particles; padding → identity);
        ``positions`` (B, dim, *nodes) from :meth:`_rigid_modes`."""
        g, B, c1 = self.grid, self.labels.shape[0], self.cmax + 1
        m, nc = self.modes.shape[1], 2**g.dim
        corner = g.gather(self.labels[:, None].expand(B, g.dim, *g.node_shape).to(g.dtype))
        corner = corner.reshape(B, nc, g.dim, -1)[:, :, 0].long()  # (B, nc, n_el) corner labels
        # Z is one rigid motion on an element whose corners share one label and whose corner positions
        # are the element's own (not so where a periodic particle's unwrapping jumps through it)
        pos = g.gather(positions).reshape(B, nc, g.dim, -1)
        offsets = torch.tensor(corner_offsets(g.dim), device=g.device, dtype=g.dtype)[None, :, :, None] / g.n
        torn = ((pos - pos[:, :1] - offsets).abs() > 0.25 / g.n).flatten(1, 2).any(1) & (corner[:, 0] > 0)
        mixed = (corner.amin(1) != corner.amax(1)) | torn  # (B, n_el): elements where Z is not one rigid motion
        b_idx, e_idx = torch.nonzero(mixed, as_tuple=True)
        lab = corner.permute(0, 2, 1)[b_idx, e_idx]  # (k, nc) labels of the corners
        Pe = g.gather(self.modes).permute(0, 3, 2, 1)[b_idx, e_idx]  # (k, ne, m) modes at the dofs
        lk, mk = lam[b_idx, e_idx], mu[b_idx, e_idx]
        # the distinct nonzero labels of an element's corners in descending order ("slots")
        vals, order = lab.sort(1, descending=True)
        slot = torch.cat([torch.zeros_like(vals[:, :1]), (vals[:, 1:] != vals[:, :-1]).long().cumsum(1)], 1)
        slot = torch.empty_like(slot).scatter_(1, order, slot)
        E = torch.zeros(B * c1 * c1, m * m, device=g.device, dtype=g.dtype)
        slots = []  # per slot: rows (elements having it), its label, its modes and K_e times them
        for s in range(int(slot.max()) + 1):
            ls = (lab * (slot == s)).amax(1)
            rows = torch.nonzero(ls > 0).squeeze(1)
            if len(rows) == 0:
                continue
            on = (slot[rows] == s).repeat_interleave(g.dim, 1).to(g.dtype)  # (r, ne) dofs of slot s
            P = Pe[rows] * on[..., None]  # (r, ne, m)
            flat = P.permute(1, 0, 2).reshape(P.shape[1], -1)  # K_λ, K_μ applied as two GEMMs
            KP = [(K @ flat).reshape(P.shape[1], len(rows), m).permute(1, 0, 2) for K in (g.K_lam, g.K_mu)]
            KP = lk[rows, None, None] * KP[0] + mk[rows, None, None] * KP[1]
            slots.append((rows, ls[rows], P, KP))
        pos = torch.full((len(lab),), -1, dtype=torch.long, device=g.device)
        for rows_s, ls, Ps, _ in slots:
            for rows_t, lt, _, KPt in slots:
                pos[rows_t] = torch.arange(len(rows_t), device=g.device)
                both = pos[rows_s] >= 0  # elements having both slots
                i_s, i_t = torch.nonzero(both).squeeze(1), pos[rows_s][both]
                G = Ps[i_s].transpose(1, 2) @ KPt[i_t]  # (r, m, m) block (label_s, label_t)
                idx = b_idx[rows_s[i_s]] * c1 * c1 + ls[i_s] * c1 + lt[i_t]
                E.index_add_(0, idx, G.reshape(-1, m * m))
                pos[rows_t] = -1
        E = E.reshape(B, c1, c1, m, m)[:, 1:, 1:].permute(0, 1, 3, 2, 4).reshape(B, (c1 - 1) * m, (c1 - 1) * m)
        E = 0.5 * (E + E.transpose(1, 2))
        diag = torch.diagonal(E, dim1=1, dim2=2)
        scale = diag.amax(1, keepdim=True).clamp(min=torch.finfo(g.dtype).tiny)
        # padding (unused labels) → identity; a tiny shift keeps E definite where Z's columns are
        # dependent (clusters cut by the boundary; periodic: particles whose nodes cover the whole cell,
        # Zy = a translation): there Zᵀr has no component (periodic: Π removes Zy), so E⁻¹'s value is moot
        E = E + torch.diag_embed(torch.where(diag > 0, 1e-12 * scale, torch.ones_like(diag)))
        return torch.linalg.cholesky(E)

    def _global_labels(self) -> torch.Tensor:
        """(B·nodes,) each node's label made unique over the batch: label + (cmax + 1) · sample."""
        B = self.labels.shape[0]
        offset = (self.cmax + 1) * torch.arange(B, device=self.labels.device)[:, None]
        return (self.labels.reshape(B, -1) + offset).reshape(-1)

    def _index(self) -> None:
        """Labelled nodes of the batch (flat indices into B·nodes), their global labels, and the modes
        there and the Cholesky factor in the residuals' dtype (converted once, not per application)."""
        self._nodes = torch.nonzero(self.labels.reshape(-1)).squeeze(1)
        self._global = self._global_labels()[self._nodes]
        m, dim = self.modes.shape[1:3]
        modes = self.modes.permute(1, 2, 0, *range(3, self.modes.ndim)).reshape(m, dim, -1)[:, :, self._nodes]
        self._modes, self._chol = modes.to(self.dtype), self.chol.to(self.dtype)

    def _zero_mean(self, v: torch.Tensor) -> torch.Tensor:
        """Periodic grid: ``Π v``, v minus its mean per component (nodal (..., dim, *nodes)); else v."""
        return v - v.mean(tuple(range(-self.grid.dim, 0)), keepdim=True) if self.grid.periodic else v

    def Q(self, r: torch.Tensor) -> torch.Tensor:
        """``Z E⁻¹ Zᵀ r`` for nodal ``r`` (B, *extra, dim, *nodes) in the grid's dtype → same shape.

        Periodic grid: ``Π Z E⁻¹ Zᵀ Π r``, i.e. Z projected against the constants (the translations,
        A's null space); E = (ΠZ)ᵀA(ΠZ) = ZᵀAZ since AΠ = A."""
        r = self._zero_mean(r)
        g, B, c1 = self.grid, r.shape[0], self.cmax + 1
        m, N = self.modes.shape[1], int(np.prod(g.node_shape))
        rr = r.reshape(B, -1, g.dim, N).permute(1, 2, 0, 3).reshape(-1, g.dim, B * N)  # (R, dim, B·N)
        R = rr.shape[0]
        s = torch.einsum("mdl,rdl->lrm", self._modes, rr[..., self._nodes])  # (labelled nodes, R, m)
        zt = torch.zeros(B * c1, R * m, device=r.device, dtype=r.dtype).index_add_(0, self._global, s.reshape(-1, R * m))
        zt = zt.reshape(B, c1, R, m)[:, 1:].permute(0, 1, 3, 2).reshape(B, (c1 - 1) * m, R)
        y = torch.cholesky_solve(zt, self._chol)  # (B, c·m, R)
        y = torch.cat([y.new_zeros(B, 1, m, R), y.reshape(B, c1 - 1, m, R)], 1).reshape(B * c1, m, R)
        out = torch.zeros_like(rr)
        out[..., self._nodes] = torch.einsum("mdl,lmr->rdl", self._modes, y[self._global])
        return self._zero_mean(out.reshape(R, g.dim, B, N).permute(2, 0, 1, 3).reshape(r.shape))

    def select(self, keep: torch.Tensor) -> None:
        """Keep only the samples ``keep`` (indices into the batch axis)."""
        self.labels, self.modes, self.chol = self.labels[keep], self.modes[keep], self.chol[keep]
        self._index()


def adef2(precond: Callable, apply_A: Callable, deflation: RigidModeDeflation) -> Callable:
    """The A-DEF2 preconditioner ``r ↦ Pᵀ M r + Q r = z − Q(A z) + Q r`` with ``z = M r``."""
    def apply(r):
        z = precond(r)
        return z + deflation.Q(r - apply_A(z))
    return apply
