"""Render a design report in headless Chromium and save a PNG screenshot (checks that report.html opens).

    python scripts/screenshot_report.py design-out/report.html docs/report.png [--width 1200 --height 1800]

Needs a Chromium binary (Debian: `apt install chromium`); exits with a clear message if there is none.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", type=Path)
    ap.add_argument("png", type=Path)
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=1800)
    args = ap.parse_args()
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        sys.exit("error: no chromium / chromium-browser / google-chrome on PATH")
    if not args.report.is_file():
        sys.exit(f"error: {args.report} does not exist")
    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "shot.png"
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={tmp}/profile", f"--window-size={args.width},{args.height}",
                        f"--screenshot={shot}", args.report.resolve().as_uri()],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        if not shot.is_file() or shot.stat().st_size == 0:
            sys.exit("error: chromium wrote no screenshot")
        args.png.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(shot), args.png)  # moved in one step from a finished file
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
