"""Reading user material CSVs: accepted variants and one clear error per malformed case."""

import numpy as np
import pytest

from matdesign.errors import InputError
from matdesign.materials import MaterialTable

GOOD = "name,E,nu,rho,category,source\nSteel,200,0.29,7.85,metal,ASM\nPMMA,3.0,0.37,1.18,polymer,Ashby\n"


def _write(tmp_path, content, name="m.csv"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_good_file_and_tolerated_variants(tmp_path):
    t = MaterialTable.from_csv(_write(tmp_path, GOOD))
    assert t.names == ["Steel", "PMMA"] and t.categories == ["metal", "polymer"] and t.sources == ["ASM", "Ashby"]
    np.testing.assert_array_equal(t.properties, [[200.0, 0.29, 7.85], [3.0, 0.37, 1.18]])
    # BOM, CRLF, reordered/capitalised columns, spaces, quoted commas, blank lines, no optional columns
    variant = '\ufeffRHO, Nu ,E,Name\r\n\r\n7.85,0.29,200,"Steel, AISI 1020"\r\n 1.18 ,0.37,3e0,PMMA\r\n\r\n'
    v = MaterialTable.from_csv(_write(tmp_path, variant, "v.csv"))
    assert v.names == ["Steel, AISI 1020", "PMMA"] and v.categories == ["", ""] and v.sources == ["", ""]
    np.testing.assert_array_equal(v.properties, t.properties)


HEADER = "name,E,nu,rho\n"
BAD_CASES = {
    "empty file": ("", ["empty file", "name,E,nu,rho"]),
    "only whitespace": ("  \n\n", ["empty file"]),
    "header only": (HEADER, ["no material rows after the header on line 1"]),
    "missing column": ("name,E,nu\nA,1,0.3\n", ["line 1", "missing column(s) 'rho'"]),
    "duplicate column": ("name,E,nu,rho,E\nA,1,0.3,1,2\n", ["line 1", "column 'E' appears twice"]),
    "semicolon delimiter": ("name;E;nu;rho\nA;1;0.3;1\n", ["line 1", "not comma-separated", "';'"]),
    "tab delimiter": ("name\tE\tnu\trho\nA\t1\t0.3\t1\n", ["line 1", "tab"]),
    "semicolon rows": (HEADER + "A;1;0.3;1\n", ["line 2", "expected 4 comma-separated fields", "found 1", "';'"]),
    "decimal comma": (HEADER + "A,7,85,0.3,1\n", ["line 2", "expected 4", "found 5"]),
    "too few fields": (HEADER + "A,1,0.3,1\nB,2,0.3\n", ["line 3", "found 3"]),
    "non-numeric": (HEADER + "A,1,0.3,1\nB,abc,0.3,1\n", ["line 3", "column 'E'", "material 'B'", "'abc' is not a number"]),
    "empty number": (HEADER + "A,1,,1\n", ["line 2", "column 'nu'", "'' is not a number"]),
    "nan": (HEADER + "A,1,nan,1\n", ["line 2", "column 'nu'", "not a finite number"]),
    "inf": (HEADER + "A,inf,0.3,1\n", ["line 2", "column 'E'", "not a finite number"]),
    "E zero": (HEADER + "A,0,0.3,1\n", ["column 'E'", "must be > 0 GPa, got 0"]),
    "E negative": (HEADER + "A,-5,0.3,1\n", ["column 'E'", "got -5"]),
    "E in Pa": (HEADER + "A,2e11,0.3,7.85\n", ["column 'E'", "must be given in GPa"]),
    "nu 0.5": (HEADER + "A,1,0.5,1\n", ["column 'nu'", "(-1, 0.5), got 0.5"]),
    "nu -1": (HEADER + "A,1,-1,1\n", ["column 'nu'", "got -1"]),
    "nu 0.7": (HEADER + "A,1,0.7,1\n", ["column 'nu'", "got 0.7"]),
    "rho zero": (HEADER + "A,1,0.3,0\n", ["column 'rho'", "must be > 0 g/cm³, got 0"]),
    "rho in kg/m3": (HEADER + "A,200,0.3,7850\n", ["column 'rho'", "not kg/m³"]),
    "duplicate names": (HEADER + "A,1,0.3,1\nB,2,0.3,1\nA,3,0.3,1\n",
                        ["line 4", "duplicate material name 'A'", "first on line 2"]),
    "empty name": (HEADER + " ,1,0.3,1\n", ["line 2", "column 'name'", "empty material name"]),
    "latin-1 encoding": (HEADER.encode() + "Stahl \u00e4,1,0.3,1\n".encode("latin-1"),
                         ["line 2", "not UTF-8", "byte 0xe4", "save the file as UTF-8"]),
    "utf-16 encoding": (("\ufeff" + HEADER + "A,1,0.3,1\n").encode("utf-16"), ["line 1", "not UTF-8"]),
}


def test_extra_columns_are_ignored_with_a_note(tmp_path):
    """An Excel export's extra column (``notes``) is read past, never refused; the note names it."""
    from matdesign.errors import InputNote

    path = _write(tmp_path, "name,E,notes,nu,rho\nA,1,soft; cheap,0.3,1\nB,2,,0.25,2\n")
    with pytest.warns(InputNote, match="ignoring column\\(s\\) 'notes'"):
        t = MaterialTable.from_csv(path)
    assert t.names == ["A", "B"]
    np.testing.assert_array_equal(t.properties, [[1.0, 0.3, 1.0], [2.0, 0.25, 2.0]])


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_malformed_file_gives_a_clear_error(tmp_path, case):
    content, expected = BAD_CASES[case]
    path = _write(tmp_path, content)
    with pytest.raises(InputError) as err:
        MaterialTable.from_csv(path)
    message = str(err.value)
    assert message.startswith(str(path)), message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert "\n" not in message


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match=r"nope\.csv: no such file"):
        MaterialTable.from_csv(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a directory"):
        MaterialTable.from_csv(tmp_path)
