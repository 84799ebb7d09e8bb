"""Percentiles, one definition (interpolated between the nearest ranks; the device's summary uses the same)."""

from __future__ import annotations

import numpy as np


def pct(values: list[float], q: float) -> float:
    """The q-th percentile of ``values`` (NaN for none)."""
    return float(np.percentile(values, q)) if values else float("nan")
