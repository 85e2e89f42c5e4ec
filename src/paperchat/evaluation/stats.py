"""Uncertainty of eval metrics: bootstrap confidence intervals and a paired bootstrap test.

Every interval is a percentile bootstrap over the items (RESAMPLES resamples drawn with a
fixed SEED, so the same per-item scores always give the same interval). Two configs run on
the same items are compared item by item: the paired test resamples the per-item
differences, and a difference is significant when its interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000  # enough for stable 2.5% / 97.5% percentiles at a few hundred items
SEED = 0
CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class Estimate:
    """A mean over items with its bootstrap interval."""

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}


@dataclass(frozen=True, slots=True)
class Difference:
    """Mean of b - a over paired items, its interval, and a two-sided bootstrap p-value."""

    delta: float
    low: float
    high: float
    p_value: float
    n: int

    @property
    def significant(self) -> bool:
        return self.n > 1 and (self.low > 0 or self.high < 0)

    def to_dict(self) -> dict[str, float | int | bool]:
        return {
            "delta": self.delta,
            "low": self.low,
            "high": self.high,
            "p_value": self.p_value,
            "n": self.n,
            "significant": self.significant,
        }


def _resampled_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(resamples, len(values)))
    return values[picks].mean(axis=1)


def _bounds(means: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap(
    values: Sequence[float],
    resamples: int = RESAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> Estimate | None:
    """The mean of `values` with a percentile-bootstrap interval; None without values."""
    if not values:
        return None
    array = np.asarray(values, dtype=float)
    value = float(array.mean())
    if len(array) == 1:
        return Estimate(value, value, value, 1)
    low, high = _bounds(_resampled_means(array, resamples, seed), confidence)
    return Estimate(value, low, high, len(array))


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    resamples: int = RESAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> Difference | None:
    """How much b's per-item scores exceed a's on the same items (paired bootstrap)."""
    if len(a) != len(b):
        raise ValueError(f"paired scores need the same items: {len(a)} vs {len(b)}")
    if not a:
        return None
    diffs = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    delta = float(diffs.mean())
    if len(diffs) == 1 or not diffs.any():
        return Difference(delta, delta, delta, 1.0, len(diffs))
    means = _resampled_means(diffs, resamples, seed)
    low, high = _bounds(means, confidence)
    # Two-sided: how often a resample lands on the other side of zero from the observed delta.
    p_value = min(1.0, 2 * min(float((means <= 0).mean()), float((means >= 0).mean())))
    return Difference(delta, low, high, p_value, len(diffs))
