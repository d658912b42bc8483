"""A self-contained HTML report (images embedded as base64) for one design run."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

from matdesign.atomic import write_text_atomic


def figure_png(fig) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<p>No designs.</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row.values()) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} .sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:1em 0;font-size:.92em} th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3} td:nth-child(2),td:nth-child(3),th:nth-child(2),th:nth-child(3){text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:1em} .grid figure{margin:0;text-align:center;font-size:.85em}
.legend{font-size:.85em;color:#444;display:grid;grid-template-columns:max-content auto;gap:.1em 1em}
.legend dt{font-weight:600} .legend dd{margin:0}
.grid img{max-width:520px;border:1px solid #ddd} pre{background:#f6f6f6;padding:.8em;overflow-x:auto}
"""


def write_report(
    path: str | os.PathLike,
    *,
    title: str,
    summary: str,
    rows: list[dict],
    designs: list[tuple[str, bytes]],
    figures: list[tuple[str, bytes]],
    command: str,
    versions: dict[str, str],
    legend: list[tuple[str, str]] = (),
) -> Path:
    """Write report.html atomically. ``designs`` and ``figures`` are (caption, PNG bytes) pairs; ``legend``
    (column, meaning with unit) pairs explain the table's columns below it."""
    design_html = "".join(f"<figure>{_img(png, cap)}<figcaption>{html.escape(cap)}</figcaption></figure>" for cap, png in designs)
    fig_html = "".join(f"<figure>{_img(png, cap)}<figcaption>{html.escape(cap)}</figcaption></figure>" for cap, png in figures)
    legend_html = ("<dl class=\"legend\">" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>"
                                                     for k, v in legend) + "</dl>") if legend else ""
    version_text = ", ".join(f"{k} {v}" for k, v in versions.items())
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1><p class="sub">{html.escape(summary)}</p>
<h2>Ranked designs</h2>{_table(rows)}{legend_html}
<h2>Microstructures</h2><div class="grid">{design_html}</div>
<h2>Verification</h2><div class="grid">{fig_html}</div>
<h2>Reproduce</h2><pre>{html.escape(command)}</pre><p class="sub">{html.escape(version_text)}</p>
</body></html>"""
    return write_text_atomic(path, page)
