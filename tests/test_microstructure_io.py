"""Microstructure files: .npz round trip, VTK cell data and ordering, PNG, and the CLI."""

import os

import meshio
import numpy as np
import pytest

from matdesign.cli.main import main
from matdesign.errors import InputError
from matdesign.materials import Material
from matdesign.microstructure import Microstructure, generate, render_png

MATRIX = Material("epoxy", 3.5, 0.35, 1.2, "polymer", "test")
PARTICLE = Material("alumina", 370.0, 0.22, 3.95, "ceramic", "test")


def gen(dim, size, seed=0):
    return generate(MATRIX, PARTICLE, diameter=0.3, volume_fraction=0.3, size=size, dim=dim,
                    rng=np.random.default_rng(seed))


@pytest.mark.parametrize("dim,size", [(2, 32), (3, 12)])
def test_npz_round_trip_is_exact(tmp_path, dim, size):
    ms = gen(dim, size)
    path = ms.save(tmp_path / "ms.npz")
    assert os.listdir(tmp_path) == ["ms.npz"]  # no temporary file left behind
    back = Microstructure.load(path)
    for name in ("fields", "particle_mask", "centers"):
        a, b = getattr(ms, name), getattr(back, name)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    assert (back.radius, back.volume_fraction) == (ms.radius, ms.volume_fraction)
    assert (back.matrix, back.particle) == (MATRIX, PARTICLE)
    with np.load(path, allow_pickle=False) as data:  # plain arrays, nothing pickled
        assert sorted(data.files) == ["centers", "fields", "metadata", "particle_mask"]


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(InputError, match="missing.npz"):
        Microstructure.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", fields=np.zeros(3))
    with pytest.raises(InputError, match="other.npz"):
        Microstructure.load(tmp_path / "other.npz")


@pytest.mark.parametrize("dim,size,cell", [(2, 16, "quad"), (3, 8, "hexahedron")])
def test_vtk_cells_carry_the_voxel_at_their_centroid(tmp_path, dim, size, cell):
    ms = gen(dim, size, seed=1)
    mesh = meshio.read(ms.to_vtk(tmp_path / "ms.vtu"))
    assert [b.type for b in mesh.cells] == [cell] and len(mesh.cells[0].data) == size**dim
    centroid = mesh.points[mesh.cells[0].data].mean(axis=1)[:, :dim]  # (cells, dim)
    voxel = np.floor(centroid * size).astype(int)
    for c, name in enumerate(("E", "nu", "rho")):
        np.testing.assert_array_equal(mesh.cell_data[name][0], ms.fields[c][tuple(voxel.T)])
    np.testing.assert_array_equal(mesh.cell_data["particle"][0], ms.particle_mask[tuple(voxel.T)])
    # independent of the array: a cell is particle iff its centroid is closer than r to a centre
    dist = np.linalg.norm(centroid[:, None] - ms.centers[None], axis=-1).min(axis=1)
    np.testing.assert_array_equal(mesh.cell_data["particle"][0] == 1, dist < ms.radius)
    # positive cell volumes: corners ordered as VTK expects
    p = mesh.points[mesh.cells[0].data]
    if dim == 2:
        a, b = p[:, 1] - p[:, 0], p[:, 3] - p[:, 0]
        np.testing.assert_allclose(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0], 1 / size**2)
    else:
        vol = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 3] - p[:, 0]), p[:, 4] - p[:, 0])
        np.testing.assert_allclose(vol, 1 / size**3)


def test_vtk_needs_a_vtk_suffix(tmp_path):
    with pytest.raises(InputError, match="suffix"):
        gen(2, 8).to_vtk(tmp_path / "ms.png")


@pytest.mark.parametrize("dim,size", [(2, 32), (3, 16)])
def test_png_written(tmp_path, dim, size):
    import matplotlib.image

    path = render_png(gen(dim, size), tmp_path / "ms.png")
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 2 * img.shape[0]
    assert img[..., :3].std() > 0.05  # not a blank canvas


def test_cli_show_writes_all_files(tmp_path, capsys):
    from matdesign.materials import MaterialTable

    table = MaterialTable.builtin()
    m, p = table.names[0], table.names[-1]
    out, vtu, npz = tmp_path / "ms.png", tmp_path / "ms.vtu", tmp_path / "ms.npz"
    argv = ["microstructure", "show", "--matrix", m, "--particle", p, "--diameter", "0.2", "--vf", "0.3",
            "--size", "32", "--seed", "3", "--out", str(out), "--vtk", str(vtu), "--npz", str(npz)]
    assert main(argv) == 0
    assert out.stat().st_size > 0 and vtu.stat().st_size > 0
    ms = Microstructure.load(npz)
    assert ms.matrix == table[0] and ms.particle == table[len(table) - 1] and ms.n_particles == 10
    assert "10 particles" in capsys.readouterr().out


def test_cli_unknown_material_suggests_close_names(tmp_path, capsys):
    from matdesign.materials import MaterialTable

    name = MaterialTable.builtin().names[0]
    argv = ["microstructure", "show", "--matrix", name[:-1] + "x", "--particle", name, "--diameter", "0.2",
            "--vf", "0.3", "--out", str(tmp_path / "ms.png")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown material" in err and repr(name) in err
    assert not (tmp_path / "ms.png").exists()
