"""``matdesign materials list|check|plot`` through the real entry point."""

import numpy as np
from matplotlib.image import imread

from matdesign.cli.main import main
from matdesign.materials import MaterialTable

SMALL = "name,E,nu,rho,category\nSteel,200,0.29,7.85,metal\nPMMA,1.2,0.37,1.18,polymer\nAlumina,400,0.22,3.9,ceramic\n"


def _csv(tmp_path, text=SMALL, name="small.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_list_builtin_is_aligned_and_counted(capsys):
    assert main(["materials", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    n = len(MaterialTable.builtin())
    assert lines[0].startswith("name") and len(lines) == n + 2
    assert lines[-1].startswith(f"{n} materials, E ") and f"{len(MaterialTable.builtin(filter=None)) - n} outside" in lines[-1]
    end = lines[0].index("rho [g/cm3]") + len("rho [g/cm3]")  # numbers are right-aligned under their header
    ti = next(line for line in lines if line.startswith("Ti-6Al-4V (grade 5)"))
    assert ti[:end].split()[-3:] == ["113.8", "0.342", "4.43"] and ti[end] == " "
    assert all(line[end - 1] != " " for line in lines[:-1])
    assert not any(line.startswith("W (element)") for line in lines)


def test_list_all_and_csv(capsys, tmp_path):
    assert main(["materials", "list", "--all"]) == 0
    out = capsys.readouterr().out
    assert "W (element)" in out and out.splitlines()[-1].startswith(f"{len(MaterialTable.builtin(filter=None))} materials")
    assert main(["materials", "list", "--csv", str(_csv(tmp_path))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:4]] == ["Steel", "PMMA", "Alumina"]
    assert lines[-1] == "3 materials, E 1.2–400 GPa, ν 0.22–0.37, ρ 1.18–7.85 g/cm³; 3 of 1000 chunks non-empty"


def test_list_csv_outside_the_box_needs_all(capsys, tmp_path):
    path = _csv(tmp_path, "name,E,nu,rho\nOsmium-ish,550,0.25,22\n", "heavy.csv")
    assert main(["materials", "list", "--csv", str(path)]) == 2
    assert "--all" in capsys.readouterr().err
    assert main(["materials", "list", "--csv", str(path), "--all"]) == 0


def test_check_valid_and_invalid(capsys, tmp_path):
    assert main(["materials", "check", str(_csv(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert out == ("ok: 3 materials, E 1.2–400 GPa, ν 0.22–0.37, ρ 1.18–7.85 g/cm³; "
                   "0 outside the paper's box; 3 of 1000 chunks non-empty\n")
    bad = _csv(tmp_path, "name,E,nu,rho\nA,1,0.3,1\nB,2,0.55,1\n", "bad.csv")
    assert main(["materials", "check", str(bad)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and len(err.splitlines()) == 1
    assert err.startswith("error: ") and str(bad) in err and "line 3" in err and "column 'nu'" in err
    assert main(["materials", "check", str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_plot_writes_a_png(capsys, tmp_path):
    out = tmp_path / "figs" / "m.png"
    assert main(["materials", "plot", "--out", str(out), "--csv", str(_csv(tmp_path))]) == 0
    assert f"wrote {out} (3 materials, 3 non-empty chunks)" in capsys.readouterr().out
    image = imread(out)
    assert image.ndim == 3 and image.shape[1] > image.shape[0] > 200
    assert np.ptp(image[..., :3]) > 0.5  # not blank
    assert [p.name for p in out.parent.iterdir()] == ["m.png"]  # no temp file left behind
