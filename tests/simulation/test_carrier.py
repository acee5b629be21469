"""The carrier's seeded plans and its responses to shipment requests."""

from __future__ import annotations

import asyncio

import pytest

from domain.messages import CloudEvent, parse_envelope
from simulation.carrier import PROFILES, Carrier, CarrierProfile, Outcome, Script, draw_plan

FAST = CarrierProfile("test", (0.01, 0.02), (0.01, 0.02))


class Outbox:
    """Collects what the carrier sends, as the carrier-events queue would."""

    def __init__(self) -> None:
        self.sent: list[CloudEvent] = []

    async def send(self, envelope: CloudEvent) -> None:
        self.sent.append(envelope)

    def types(self, order_id: str) -> list[str]:
        return [envelope.type for envelope in self.sent if envelope.subject == order_id]


def test_same_seed_draws_the_same_plan():
    profile = PROFILES["demo"]

    assert draw_plan(profile, 7, "order-1") == draw_plan(profile, 7, "order-1")


def test_other_seed_draws_another_plan():
    profile = PROFILES["demo"]

    assert draw_plan(profile, 7, "order-1") != draw_plan(profile, 8, "order-1")


def test_drawn_delays_stay_within_the_profile():
    profile = PROFILES["demo"]
    plans = [draw_plan(profile, 1, f"order-{index}") for index in range(500)]

    assert all(0.5 <= plan.dispatch_after <= 3.0 for plan in plans)
    assert all(1.0 <= plan.deliver_after <= 5.0 for plan in plans)


def test_drawn_outcomes_follow_the_rates():
    profile = CarrierProfile("rates", (0, 0), (0, 0), failure_rate=0.2, no_show_rate=0.1)
    outcomes = [draw_plan(profile, 3, f"order-{index}").outcome for index in range(5000)]

    assert 0.08 < outcomes.count(Outcome.NO_SHOW) / 5000 < 0.12
    assert 0.17 < outcomes.count(Outcome.DELIVERY_FAILED) / 5000 < 0.23


def test_instant_profile_never_waits():
    plan = draw_plan(PROFILES["instant"], 1, "order-1")

    assert plan.dispatch_after == 0.0
    assert plan.deliver_after == 0.0


def test_profile_rejects_a_rate_above_one():
    with pytest.raises(ValueError, match="failure_rate"):
        CarrierProfile("bad", (0, 0), (0, 0), failure_rate=1.5)


async def test_delivered_shipment_sends_dispatch_then_delivery(shipment_request):
    outbox = Outbox()
    carrier = Carrier(FAST, outbox.send, seed=1)

    await carrier.handle(shipment_request("o1"))
    await asyncio.sleep(0.2)

    assert outbox.types("o1") == ["ShipmentDispatched", "ShipmentDelivered"]


async def test_carrier_events_are_valid_envelopes(shipment_request):
    outbox = Outbox()
    carrier = Carrier(FAST, outbox.send, seed=1)

    await carrier.handle(shipment_request("o1"))
    await asyncio.sleep(0.2)

    parsed = [parse_envelope(envelope.to_bytes()) for envelope in outbox.sent]
    assert [envelope.subject for envelope in parsed] == ["o1", "o1"]
    assert parsed[0].data.tracking_number == parsed[1].data.tracking_number


async def test_failed_delivery_sends_delivery_failed(shipment_request):
    outbox = Outbox()
    profile = CarrierProfile("fails", (0.01, 0.01), (0.01, 0.01), failure_rate=1.0)
    carrier = Carrier(profile, outbox.send, seed=1)

    await carrier.handle(shipment_request("o1"))
    await asyncio.sleep(0.2)

    assert outbox.types("o1") == ["ShipmentDispatched", "ShipmentDeliveryFailed"]


async def test_no_show_sends_nothing(shipment_request):
    outbox = Outbox()
    profile = CarrierProfile("absent", (0.01, 0.01), (0.01, 0.01), no_show_rate=1.0)
    carrier = Carrier(profile, outbox.send, seed=1)

    await carrier.handle(shipment_request("o1"))
    await asyncio.sleep(0.1)

    assert outbox.sent == []


async def test_skipped_dispatch_sends_only_the_delivery(shipment_request):
    outbox = Outbox()
    profile = CarrierProfile("direct", (0.01, 0.01), (0.01, 0.01), skip_dispatch_rate=1.0)
    carrier = Carrier(profile, outbox.send, seed=1)

    await carrier.handle(shipment_request("o1"))
    await asyncio.sleep(0.2)

    assert outbox.types("o1") == ["ShipmentDelivered"]


async def test_cancellation_before_collection_stops_shipment(
    shipment_request, shipment_cancellation
):
    outbox = Outbox()
    profile = CarrierProfile("slow", (0.2, 0.2), (0.01, 0.01))
    carrier = Carrier(profile, outbox.send, seed=1)

    await carrier.handle(shipment_request("o1"))
    await carrier.handle(shipment_cancellation("o1"))
    await asyncio.sleep(0.4)

    assert outbox.sent == []


async def test_repeated_request_is_carried_out_once(shipment_request):
    outbox = Outbox()
    carrier = Carrier(FAST, outbox.send, seed=1)

    await carrier.handle(shipment_request("o1"))
    await carrier.handle(shipment_request("o1"))
    await asyncio.sleep(0.2)

    assert outbox.types("o1") == ["ShipmentDispatched", "ShipmentDelivered"]


async def test_restarted_carrier_reuses_event_ids(shipment_request):
    first, second = Outbox(), Outbox()

    for outbox in (first, second):
        carrier = Carrier(FAST, outbox.send, seed=5)
        await carrier.handle(shipment_request("o1"))
        await asyncio.sleep(0.2)

    assert [e.id for e in first.sent] == [e.id for e in second.sent]


async def test_script_fixes_a_later_outcome(shipment_request):
    outbox = Outbox()
    script = Script(wait_seconds=2.0)
    carrier = Carrier(FAST, outbox.send, seed=1, script=script)

    handling = asyncio.create_task(carrier.handle(shipment_request("o1")))
    await asyncio.sleep(0.05)
    script.set("o1", Outcome.DELIVERY_FAILED)
    await handling
    await asyncio.sleep(0.2)

    assert outbox.types("o1") == ["ShipmentDispatched", "ShipmentDeliveryFailed"]


async def test_close_stops_shipments_in_progress(shipment_request):
    outbox = Outbox()
    carrier = Carrier(CarrierProfile("slow", (5, 5), (5, 5)), outbox.send, seed=1)

    await carrier.handle(shipment_request("o1"))
    await carrier.close()

    assert carrier.in_progress == 0


async def test_script_wait_does_not_block_other_orders(shipment_request):
    outbox = Outbox()
    script = Script(wait_seconds=5.0)
    carrier = Carrier(FAST, outbox.send, seed=1, script=script)

    await asyncio.wait_for(carrier.handle(shipment_request("waits")), timeout=0.5)
    await carrier.handle(shipment_request("o2"))
    script.set("o2", Outcome.DELIVERED)
    await asyncio.sleep(0.2)
    await carrier.close()

    assert outbox.types("o2") == ["ShipmentDispatched", "ShipmentDelivered"]
    assert outbox.types("waits") == []
