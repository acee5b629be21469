"""Summarise a simulation run: final statuses, saga durations, dead letters and the stock check."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

FINAL_STATUSES = ("Completed", "Rejected", "Cancelled", "Returned")
UNCONSUMED_SUBSCRIPTIONS = frozenset({
    "order-events/Subscriptions/audit",
    "order-events/Subscriptions/completed-orders",
})
"""Subscriptions that nothing consumes offline. Their messages expire after an hour and are
dead-lettered once something receives from the subscription, so those dead letters are
expected and reported apart."""


@dataclass(frozen=True)
class Durations:
    """Percentiles of saga durations in seconds (nearest-rank method)."""

    count: int
    p50: float
    p95: float
    max: float


def percentile(values: Sequence[float], share: float) -> float:
    """Return the nearest-rank percentile of `values`, e.g. `share=0.95` for p95.

    Raises ValueError for an empty sequence or a share outside 0..1.
    """
    if not values:
        raise ValueError("percentile of no values is undefined; pass at least one value")
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"percentile share {share} is invalid; use a value in 0..1")

    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def durations(values: Sequence[float]) -> Durations | None:
    """Return p50, p95 and max of the durations, or None when there are none."""
    if not values:
        return None
    return Durations(len(values), percentile(values, 0.50), percentile(values, 0.95), max(values))


@dataclass(frozen=True)
class StockMismatch:
    """A store and product whose received quantity differs from on hand + reserved + shipped."""

    store_id: str
    product_id: str
    received: int
    on_hand: int
    reserved: int
    shipped: int


@dataclass(frozen=True)
class StockCheck:
    """The conservation check over every store and product the run touched."""

    pairs: int
    mismatches: tuple[StockMismatch, ...]
    reserved_left: int
    """Units still reserved; zero once every order is final."""

    @property
    def passed(self) -> bool:
        return not self.mismatches


def check_stock(
    received: dict[tuple[str, str], int], levels: dict[tuple[str, str], tuple[int, int, int]]
) -> StockCheck:
    """Compare received quantities with (on hand, reserved, shipped) read per store and product."""
    mismatches = []
    for pair in sorted(set(received) | set(levels)):
        on_hand, reserved, shipped = levels.get(pair, (0, 0, 0))
        expected = received.get(pair, 0)
        if on_hand + reserved + shipped != expected:
            mismatches.append(StockMismatch(*pair, expected, on_hand, reserved, shipped))

    reserved_left = sum(level[1] for level in levels.values())
    return StockCheck(len(set(received) | set(levels)), tuple(mismatches), reserved_left)


@dataclass
class RunSummary:
    """Everything the run reports at its end."""

    orders: int
    elapsed_seconds: float
    statuses: Counter[str]
    by_group: dict[str, Counter[str]] = field(default_factory=dict)
    """Final statuses per store, or per status of the source data, keyed by a label."""
    durations: Durations | None = None
    dead_letters: dict[str, int] = field(default_factory=dict)
    stock: StockCheck | None = None
    cancel_requests: Counter[str] = field(default_factory=Counter)
    """Customer cancellation requests by HTTP response (accepted, refused)."""
    placing_seconds: float = 0.0
    """Seconds from the start until every order was placed and its cancellation sent."""
    throttled: int = 0
    """429 responses from the gateway that the driver waited out."""

    @property
    def unfinished(self) -> int:
        return sum(count for status, count in self.statuses.items() if status not in FINAL_STATUSES)

    @property
    def ok(self) -> bool:
        """Whether every order is final and the stock check passed."""
        stock_ok = self.stock is not None and self.stock.passed
        return self.unfinished == 0 and stock_ok

    def to_json(self) -> dict:
        """Return the summary as a JSON-compatible dict, for scripts and tests."""
        return {
            "orders": self.orders,
            "elapsedSeconds": round(self.elapsed_seconds, 3),
            "placingSeconds": round(self.placing_seconds, 3),
            "throttled": self.throttled,
            "statuses": dict(self.statuses),
            "byGroup": {label: dict(counts) for label, counts in self.by_group.items()},
            "unfinished": self.unfinished,
            "durations": None if self.durations is None else vars(self.durations),
            "deadLetters": self.dead_letters,
            "stockCheck": None if self.stock is None else {
                "pairs": self.stock.pairs,
                "passed": self.stock.passed,
                "mismatches": len(self.stock.mismatches),
                "reservedLeft": self.stock.reserved_left,
            },
            "cancelRequests": dict(self.cancel_requests),
            "ok": self.ok,
        }

    def lines(self) -> list[str]:
        """Format the summary as text lines for the terminal."""
        out = [
            f"Orders: {self.orders} in {self.elapsed_seconds:.1f} s "
            f"(placed within {self.placing_seconds:.1f} s, "
            f"{self.throttled} gateway 429 responses waited out)"
        ]
        out.append("  " + _statuses(self.statuses))
        for label, statuses in self.by_group.items():
            out.append(f"  {label}: {_statuses(statuses)}")
        if self.cancel_requests:
            out.append("  cancel requests: " + _statuses(self.cancel_requests))
        out.append(_durations_line(self.durations))
        out.append(_dead_letters_line(self.dead_letters))
        out.extend(_stock_lines(self.stock))
        out.append("Result: " + ("passed" if self.ok else "FAILED"))
        return out


def _statuses(statuses: Counter[str]) -> str:
    ordered = [status for status in FINAL_STATUSES if statuses.get(status)]
    ordered += sorted(status for status in statuses if status not in FINAL_STATUSES)
    return ", ".join(f"{status} {statuses[status]}" for status in ordered) or "none"


def _durations_line(stats: Durations | None) -> str:
    if stats is None:
        return "Saga duration (Pending to final status): no finished orders"
    return (
        f"Saga duration (Pending to final status): p50 {stats.p50:.2f} s, "
        f"p95 {stats.p95:.2f} s, max {stats.max:.2f} s over {stats.count} orders"
    )


def _dead_letters_line(dead_letters: dict[str, int]) -> str:
    unexpected: dict[str, int] = {}
    expected: dict[str, int] = {}
    for entity, count in dead_letters.items():
        kind = expected if entity in UNCONSUMED_SUBSCRIPTIONS else unexpected
        kind[entity] = count

    total = sum(unexpected.values())
    line = f"Dead letters: {total}" + (f" ({_entity_counts(unexpected)})" if total else "")
    if expected:
        line += (
            f"; not counted, on subscriptions with no consumer offline: {_entity_counts(expected)}"
        )
    return line


def _entity_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{entity} {count}" for entity, count in sorted(counts.items()))


def _stock_lines(stock: StockCheck | None) -> list[str]:
    if stock is None:
        return ["Stock check: not run"]

    verdict = "passed" if stock.passed else f"FAILED for {len(stock.mismatches)} pairs"
    out = [
        f"Stock check (received = on hand + reserved + shipped) over {stock.pairs} store/product "
        f"pairs: {verdict}; {stock.reserved_left} units still reserved"
    ]
    out.extend(
        f"  store {m.store_id} product {m.product_id}: received {m.received}, on hand "
        f"{m.on_hand}, reserved {m.reserved}, shipped {m.shipped}"
        for m in stock.mismatches[:10]
    )
    return out

