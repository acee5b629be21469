"""Simulate the carrier: an outside system that responds to shipment requests with shipment events.

For each ShipmentRequested the carrier draws a plan from its profile: how long until it
collects the parcel, how long until it delivers, and whether it delivers, fails to deliver or
never shows up. It then sends ShipmentDispatched and ShipmentDelivered (or
ShipmentDeliveryFailed) to carrier-events at the times the plan sets. A no-show sends nothing,
so the saga's dispatch deadline cancels the order. A ShipmentCancellationRequested that arrives
before the collection stops the plan.

Each order's plan comes from a random generator seeded with the run's seed and the order id,
so a run with the same seed draws the same plans whatever order the requests arrive in.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from domain.messages import (
    CloudEvent,
    EventData,
    ShipmentCancellationRequested,
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentDispatched,
    ShipmentRequested,
    event_type,
)

log = logging.getLogger(__name__)

CARRIER_SOURCE = "/carriers/simulated"
CARRIER_NAME = "Simulated Parcel Co."

Send = Callable[[CloudEvent], Awaitable[None]]
"""Sends one envelope to the carrier-events queue."""


class Outcome(StrEnum):
    """The end of a shipment on the carrier's side."""

    DELIVERED = "Delivered"
    """Collected, then delivered."""
    DELIVERY_FAILED = "DeliveryFailed"
    """Collected, then the delivery failed and the parcel goes back to the store."""
    NO_SHOW = "NoShow"
    """Never collected: the carrier sends nothing."""


@dataclass(frozen=True)
class CarrierProfile:
    """Delays in seconds (uniform between the two bounds) and the rates of each mishap."""

    name: str
    dispatch_delay: tuple[float, float]
    delivery_delay: tuple[float, float]
    failure_rate: float = 0.0
    no_show_rate: float = 0.0
    skip_dispatch_rate: float = 0.0
    """Share of deliveries sent without a ShipmentDispatched first."""

    def __post_init__(self) -> None:
        for rate_name in ("failure_rate", "no_show_rate", "skip_dispatch_rate"):
            rate = getattr(self, rate_name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"carrier {rate_name}={rate} is invalid; use a value in 0..1")
        for delay_name in ("dispatch_delay", "delivery_delay"):
            low, high = getattr(self, delay_name)
            if not 0.0 <= low <= high:
                raise ValueError(
                    f"carrier {delay_name}=({low}, {high}) is invalid; "
                    "use two seconds values with 0 <= low <= high"
                )


PROFILES = {
    "instant": CarrierProfile("instant", (0.0, 0.0), (0.0, 0.0)),
    "fast": CarrierProfile("fast", (0.05, 0.3), (0.05, 0.3)),
    "demo": CarrierProfile("demo", (0.5, 3.0), (1.0, 5.0), failure_rate=0.03, no_show_rate=0.02),
    "realistic": CarrierProfile("realistic", (2 * 3600, 24 * 3600), (24 * 3600, 4 * 24 * 3600)),
}
"""Named profiles. `instant` responds at once and `realistic` takes hours to days. `demo` also
fails 3% of deliveries and misses 2% of collections, so a demo run shows every saga ending."""


@dataclass(frozen=True)
class ShipmentPlan:
    """The carrier's plan for one shipment: delays, outcome, tracking number and event ids."""

    outcome: Outcome
    dispatch_after: float
    deliver_after: float
    skip_dispatch: bool
    tracking_number: str
    event_ids: tuple[str, str]
    """Ids of the collection event and of the delivery (or failure) event."""


def draw_plan(profile: CarrierProfile, seed: int, order_id: str, outcome: Outcome | None = None):
    """Draw the plan for one order from the profile; `outcome` overrides the drawn outcome."""
    rng = random.Random(f"{seed}:{order_id}")

    dispatch_after = rng.uniform(*profile.dispatch_delay)
    deliver_after = rng.uniform(*profile.delivery_delay)
    roll = rng.random()
    skip_dispatch = rng.random() < profile.skip_dispatch_rate
    tracking_number = f"SPC{rng.randrange(10**10):010d}"
    event_ids = (_uuid(rng), _uuid(rng))

    if outcome is None:
        if roll < profile.no_show_rate:
            outcome = Outcome.NO_SHOW
        elif roll < profile.no_show_rate + profile.failure_rate:
            outcome = Outcome.DELIVERY_FAILED
        else:
            outcome = Outcome.DELIVERED

    return ShipmentPlan(
        outcome, dispatch_after, deliver_after, skip_dispatch, tracking_number, event_ids
    )


class Script:
    """Outcomes fixed per order id by the workload, for replays that follow a data set.

    The carrier waits up to `wait_seconds` for an order's outcome, because the shipment
    request can reach it before the workload has read the order id from its HTTP response.
    """

    def __init__(self, wait_seconds: float = 30.0) -> None:
        self.wait_seconds = wait_seconds
        self._outcomes: dict[str, Outcome] = {}
        self._arrived: dict[str, asyncio.Event] = {}

    def set(self, order_id: str, outcome: Outcome) -> None:
        """Fix the outcome of an order's shipment."""
        self._outcomes[order_id] = outcome
        self._event(order_id).set()

    async def outcome_for(self, order_id: str) -> Outcome | None:
        """Return the fixed outcome, waiting for it; None when none arrives in time."""
        try:
            await asyncio.wait_for(self._event(order_id).wait(), self.wait_seconds)
        except TimeoutError:
            log.warning(
                "no scripted outcome for order %s after %.0f s; drawing one from the profile",
                order_id,
                self.wait_seconds,
            )
            return None
        return self._outcomes[order_id]

    def _event(self, order_id: str) -> asyncio.Event:
        return self._arrived.setdefault(order_id, asyncio.Event())


class Carrier:
    """The carrier's behaviour: plans shipments on request and sends their events on time."""

    def __init__(
        self,
        profile: CarrierProfile,
        send: Send,
        *,
        seed: int = 0,
        script: Script | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.profile = profile
        self.seed = seed
        self.script = script
        self._send = send
        self._clock = clock
        self._tasks: dict[str, asyncio.Task] = {}
        self._collected: set[str] = set()
        self._cancelled: set[str] = set()
        self.sent: dict[str, int] = {}
        """Count of events sent per event type."""

    async def handle(self, envelope: CloudEvent) -> None:
        """Act on one carrier request; repeats of a request change nothing."""
        data = envelope.data
        if isinstance(data, ShipmentRequested):
            await self._plan(data)
        elif isinstance(data, ShipmentCancellationRequested):
            self._cancel(data)
        else:
            raise ValueError(
                f"carrier cannot handle event type {envelope.type!r} (id {envelope.id}); "
                "it takes ShipmentRequested and ShipmentCancellationRequested"
            )

    async def close(self) -> None:
        """Stop every shipment still in progress."""
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    @property
    def in_progress(self) -> int:
        return sum(1 for task in self._tasks.values() if not task.done())

    async def _plan(self, request: ShipmentRequested) -> None:
        order_id = request.order_id
        if order_id in self._tasks or order_id in self._cancelled:
            log.info("ignoring repeated shipment request for order %s", order_id)
            return

        # The shipment runs in its own task, so a wait for a scripted outcome never holds up
        # the requests behind it or the settlement of this request's message.
        self._tasks[order_id] = asyncio.create_task(self._ship(request))

    async def _ship(self, request: ShipmentRequested) -> None:
        order_id = request.order_id
        outcome = await self.script.outcome_for(order_id) if self.script else None
        plan = draw_plan(self.profile, self.seed, order_id, outcome)
        log.info(
            "carrier planned shipment %s of order %s: %s, collection in %.2f s",
            request.shipment_id,
            order_id,
            plan.outcome,
            plan.dispatch_after,
        )
        await self._carry_out(request, plan)

    def _cancel(self, request: ShipmentCancellationRequested) -> None:
        order_id = request.order_id
        self._cancelled.add(order_id)
        if order_id in self._collected:
            log.warning(
                "carrier cannot cancel shipment %s of order %s: the parcel is already collected",
                request.shipment_id,
                order_id,
            )
            return

        task = self._tasks.get(order_id)
        if task is not None:
            task.cancel()
        log.info("carrier cancelled shipment %s of order %s", request.shipment_id, order_id)

    async def _carry_out(self, request: ShipmentRequested, plan: ShipmentPlan) -> None:
        if plan.outcome is Outcome.NO_SHOW:
            return

        await asyncio.sleep(plan.dispatch_after)
        if request.order_id in self._cancelled:
            return
        self._collected.add(request.order_id)
        if not plan.skip_dispatch:
            await self._emit(plan.event_ids[0], request.order_id, self._dispatched(request, plan))

        await asyncio.sleep(plan.deliver_after)
        if plan.outcome is Outcome.DELIVERY_FAILED:
            failed = ShipmentDeliveryFailed(
                shipment_id=request.shipment_id,
                order_id=request.order_id,
                reason="recipient not found at the address; parcel returned to the store",
            )
            await self._emit(plan.event_ids[1], request.order_id, failed)
            return
        await self._emit(plan.event_ids[1], request.order_id, self._delivered(request, plan))

    def _dispatched(self, request: ShipmentRequested, plan: ShipmentPlan) -> ShipmentDispatched:
        return ShipmentDispatched(
            shipment_id=request.shipment_id,
            order_id=request.order_id,
            carrier=CARRIER_NAME,
            tracking_number=plan.tracking_number,
            dispatched_at=self._clock(),
        )

    def _delivered(self, request: ShipmentRequested, plan: ShipmentPlan) -> ShipmentDelivered:
        return ShipmentDelivered(
            shipment_id=request.shipment_id,
            order_id=request.order_id,
            delivered_at=self._clock(),
            carrier=CARRIER_NAME,
            tracking_number=plan.tracking_number,
        )

    async def _emit(self, event_id: str, order_id: str, data: EventData) -> None:
        type_name = event_type(data)
        envelope = CloudEvent(
            id=event_id,
            source=CARRIER_SOURCE,
            type=type_name,
            subject=order_id,
            time=self._clock(),
            data=data,
        )
        await self._send(envelope)
        self.sent[type_name] = self.sent.get(type_name, 0) + 1


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
