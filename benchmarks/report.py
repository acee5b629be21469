"""Compare the measured figures with the targets, print them as a table and write them as JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its target; `met` is None when the run could not judge it."""

    name: str
    value: float | None
    unit: str
    target: str
    met: bool | None


def percentile(values: list[float], share: float) -> float | None:
    """Return the nearest-rank percentile (share in 0..1) of the values; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def judge(name: str, value: float | None, unit: str, target: str,
          limit: float, higher_is_better: bool) -> Figure:
    """Build a figure, met when the value is on the right side of `limit`."""
    if value is None:
        return Figure(name, None, unit, target, None)
    met = value >= limit if higher_is_better else value <= limit
    return Figure(name, value, unit, target, met)


def reference(name: str, value: float | None, unit: str) -> Figure:
    """Build a figure reported for context, with no target of its own."""
    return Figure(name, value, unit, "-", None)


def table(figures: list[Figure]) -> str:
    """Return the figures as an aligned text table with a verdict column."""
    rows = [("figure", "measured", "target", "")]
    for figure in figures:
        measured = "n/a" if figure.value is None else f"{figure.value:,.2f} {figure.unit}"
        verdict = {True: "met", False: "MISSED", None: "-"}[figure.met]
        rows.append((figure.name, measured, figure.target, verdict))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def write_json(path: Path, figures: list[Figure], details: dict[str, Any]) -> None:
    """Write the figures and the run's details (settings, counts, samples) as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "figures": [figure.__dict__ for figure in figures],
        "details": details,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
