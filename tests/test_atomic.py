"""Atomic writes: a finished write replaces the file; a failed one leaves the earlier file untouched."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from matdesign.atomic import save_figure, write_text_atomic  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_write_text_atomic_replaces_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "a" / "x.json"
    write_text_atomic(path, "old")
    write_text_atomic(path, "new")
    assert path.read_text() == "new"
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.json"]


def test_save_figure_format_follows_suffix_and_failure_keeps_old_file(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    assert save_figure(fig, tmp_path / "plot.png").read_bytes().startswith(PNG_MAGIC)
    assert save_figure(fig, tmp_path / "plot").read_bytes().startswith(PNG_MAGIC)  # no suffix: PNG
    assert save_figure(fig, tmp_path / "plot.svg").read_text().lstrip().startswith("<?xml")
    before = (tmp_path / "plot.png").read_bytes()
    with pytest.raises(ValueError):
        save_figure(fig, tmp_path / "plot.png", format="not-a-format")
    assert (tmp_path / "plot.png").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot", "plot.png", "plot.svg"]
    plt.close(fig)
