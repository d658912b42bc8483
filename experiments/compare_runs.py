"""Do two runs give the same numbers? Compares the JSON results of two ``matdesign design`` or
``matdesign evaluate`` output folders, leaving out what may differ between two runs of the same
computation (timings, paths, versions, the command line); prints each difference and exits 1 if any.

    python experiments/compare_runs.py before/design-out after/design-out
    python experiments/compare_runs.py before/eval after/eval

Used to check that a refactor changes no number (docs/architecture.md, "Same numbers before and after").
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

IGNORED = {"versions", "command", "model", "created", "machine", "materials", "materials_path", "files"}
"""Keys whose values name the run rather than its numbers (besides every key containing "second")."""


def _strip(x):
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k not in IGNORED and "second" not in k}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


def differences(a, b, path: str = "") -> list[str]:
    """Human-readable differences between two JSON values (after :func:`_strip`)."""
    if type(a) is not type(b):
        return [f"{path}: {a!r} vs {b!r}"]
    if isinstance(a, dict):
        out = [f"{path}/{k}: only in {'first' if k in a else 'second'}" for k in sorted(set(a) ^ set(b))]
        return out + [d for k in sorted(set(a) & set(b)) for d in differences(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} entries"]
        return [d for i, (u, v) in enumerate(zip(a, b)) for d in differences(u, v, f"{path}[{i}]")]
    same = a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))
    return [] if same else [f"{path}: {a!r} vs {b!r}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("first", type=Path)
    ap.add_argument("second", type=Path)
    args = ap.parse_args()
    names = sorted(p.relative_to(args.first) for p in args.first.rglob("*.json") if p.name != "manifest.json")
    if not names:
        sys.exit(f"error: no JSON results in {args.first}")
    found = 0
    for name in names:
        other = args.second / name
        if not other.exists():
            print(f"{name}: missing in {args.second}")
            found += 1
            continue
        diff = differences(_strip(json.loads((args.first / name).read_text())), _strip(json.loads(other.read_text())))
        print(f"{name}: {'same numbers' if not diff else f'{len(diff)} differences'}")
        for d in diff[:20]:
            print("   ", d)
        found += len(diff)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
