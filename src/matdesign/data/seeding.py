"""Per-sample seeds: sample ``i`` of a dataset with seed ``s`` depends only on ``(s, i)``.

This is what makes a dataset bit-identical whatever the number of workers or blocks.
"""

from __future__ import annotations

import numpy as np


def sample_seed(seed: int, index: int) -> int:
    """The 64-bit seed of sample ``index`` of a dataset with seed ``seed`` (stored per sample)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint64)[0])


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator sample ``index`` is drawn with; equals ``default_rng(sample_seed(seed, index))``."""
    return np.random.default_rng(sample_seed(seed, index))
