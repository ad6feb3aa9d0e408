"""Krippendorff's alpha in its coincidence-matrix form (Krippendorff, *Computing
Krippendorff's Alpha-Reliability*, 2011).

Each unit with ``m_u >= 2`` values adds every ordered pair of its values to the coincidence
matrix ``o`` with weight ``1 / (m_u - 1)``; units with fewer values are not pairable and drop
out. With ``n_c`` the row sums of ``o`` and ``n`` their total,

    alpha = 1 - (n - 1) * sum(o_ck * d_ck) / sum(n_c * n_k * d_ck)

where ``d`` is the squared distance of the level of measurement: nominal ``c != k``, interval
``(c - k)^2``, ordinal ``(sum_{g=c..k} n_g - (n_c + n_k) / 2)^2``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

Level = Literal["nominal", "ordinal", "interval"]
LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval")
F64 = npt.NDArray[np.float64]
NO_PAIRABLE = "no item has ratings from two or more annotators"
K = TypeVar("K", bound=Hashable)
R = TypeVar("R", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Alpha:
    """An alpha, or ``value=None`` with the ``reason`` it cannot be computed.

    ``units`` and ``values`` count what entered the figure (units with two or more values, and
    their values); ``raters`` is known when the input named the raters.
    """

    value: float | None
    level: Level
    units: int
    values: int
    raters: int | None = None
    reason: str | None = None


def value_counts(reliability_data: npt.ArrayLike, domain: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Units x values: how many raters gave unit ``u`` the value ``domain[v]``.

    ``reliability_data`` is raters x units with ``nan`` for a missing value.
    """
    data = np.asarray(reliability_data, dtype=np.float64)
    values = np.asarray(domain, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError("reliability data is a raters x units matrix")
    counts: npt.NDArray[np.int64] = (
        (data.T[:, :, np.newaxis] == values[np.newaxis, np.newaxis, :]).sum(axis=1).astype(np.int64)
    )
    return counts


def coincidences(counts: npt.ArrayLike) -> F64:
    """The values x values coincidence matrix of a units x values count matrix."""
    n_uv = np.asarray(counts, dtype=np.float64)
    m_u = n_uv.sum(axis=1)
    pairable = m_u >= 2
    n_uv, m_u = n_uv[pairable], m_u[pairable]
    weighted = n_uv / (m_u - 1)[:, np.newaxis]
    matrix: F64 = weighted.T @ n_uv - np.diag(weighted.sum(axis=0))
    return matrix


def distances(domain: npt.ArrayLike, n_v: F64, level: Level) -> F64:
    """Squared distances between the values of ``domain`` (sorted for ordinal and interval)."""
    values = np.asarray(domain, dtype=np.float64)
    if level == "nominal":
        nominal: F64 = (values[:, np.newaxis] != values[np.newaxis, :]).astype(np.float64)
        return nominal
    if level == "interval":
        interval: F64 = (values[:, np.newaxis] - values[np.newaxis, :]) ** 2
        return interval
    if level != "ordinal":
        raise ValueError(f"level of measurement: use one of {', '.join(LEVELS)}")
    # sum_{g=c..k} n_g as a difference of cumulative sums, for c <= k and symmetrically.
    cumulative = np.concatenate(([0.0], np.cumsum(n_v)))
    index = np.arange(len(values))
    low = np.minimum(index[:, np.newaxis], index[np.newaxis, :])
    high = np.maximum(index[:, np.newaxis], index[np.newaxis, :])
    between = cumulative[high + 1] - cumulative[low]
    ordinal: F64 = (between - (n_v[:, np.newaxis] + n_v[np.newaxis, :]) / 2) ** 2
    return ordinal


def alpha_from_counts(
    counts: npt.ArrayLike, domain: npt.ArrayLike, level: Level = "ordinal"
) -> Alpha:
    """Alpha of a units x values count matrix over the sorted value ``domain``."""
    n_uv = np.asarray(counts, dtype=np.float64)
    values = np.asarray(domain, dtype=np.float64)
    if n_uv.ndim != 2 or n_uv.shape[1] != len(values):
        raise ValueError("counts are units x values, one column per value of the domain")
    if level != "nominal" and np.any(np.diff(values) <= 0):
        raise ValueError("the value domain must be sorted and without repeats")
    m_u = n_uv.sum(axis=1)
    units = int((m_u >= 2).sum())
    pairable_values = int(m_u[m_u >= 2].sum())
    if units == 0:
        return Alpha(None, level, 0, 0, reason=NO_PAIRABLE)
    o = coincidences(n_uv)
    n_v = o.sum(axis=0)
    n = float(n_v.sum())
    d = distances(values, n_v, level)
    expected = float((np.outer(n_v, n_v) * d).sum())
    if expected == 0.0:
        return Alpha(
            None,
            level,
            units,
            pairable_values,
            reason="every rating of the items rated twice or more is the same value, "
            "so agreement cannot be told apart from chance",
        )
    observed = float((o * d).sum())
    return Alpha(1.0 - (n - 1.0) * observed / expected, level, units, pairable_values)


def alpha(
    reliability_data: npt.ArrayLike,
    level: Level = "ordinal",
    domain: Sequence[float] | None = None,
) -> Alpha:
    """Alpha of a raters x units matrix (``nan`` = no value). The domain defaults to the
    values that occur."""
    data = np.asarray(reliability_data, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError("reliability data is a raters x units matrix")
    values = np.unique(data[~np.isnan(data)]) if domain is None else np.asarray(domain, float)
    counts = value_counts(data, values)
    result = alpha_from_counts(counts, values, level)
    pairable = (~np.isnan(data)).sum(axis=0) >= 2
    raters = int((~np.isnan(data[:, pairable])).any(axis=1).sum())
    return Alpha(result.value, level, result.units, result.values, raters, result.reason)


def reliability_data(units: Mapping[K, Mapping[R, float]]) -> tuple[F64, list[R], list[K]]:
    """``{unit: {rater: value}}`` as a raters x units matrix (``nan`` where a rater gave no
    value), with the raters and units in the order of first appearance."""
    items = list(units)
    raters = list(dict.fromkeys(r for values in units.values() for r in values))
    row = {r: i for i, r in enumerate(raters)}
    data = np.full((len(raters), len(items)), np.nan)
    for col, item in enumerate(items):
        for rater, value in units[item].items():
            data[row[rater], col] = value
    return data, raters, items


def alpha_for_units(units: Mapping[K, Mapping[R, float]], level: Level = "ordinal") -> Alpha:
    """Alpha of ``{unit: {rater: value}}``."""
    data, _, _ = reliability_data(units)
    if data.size == 0:
        return Alpha(None, level, 0, 0, 0, NO_PAIRABLE)
    return alpha(data, level)
