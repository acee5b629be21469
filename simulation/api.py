"""Call the AJ Bikes HTTP API through the gateway, as a customer's client would."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

SUBSCRIPTION_KEY_HEADER = "Ocp-Apim-Subscription-Key"
MAX_ATTEMPTS = 8


class ApiError(RuntimeError):
    """The API returned a status the caller did not expect."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.status = status
        super().__init__(f"{method} {path} returned HTTP {status}: {body[:300]}")


@dataclass(frozen=True)
class StockLevel:
    """A product's quantities at a store, as GET /stores/{storeId}/stock/{productId} returns."""

    on_hand: int
    reserved: int
    shipped: int

    @property
    def received(self) -> int:
        """Return everything ever received: stock moves between the three, never out."""
        return self.on_hand + self.reserved + self.shipped


class ApiClient:
    """An HTTP client of the gateway that sends the subscription key and honours 429s.

    A 429 or 503 is retried after its Retry-After (or a short pause) up to MAX_ATTEMPTS
    times, as a well-behaved client of API Management does.
    """

    def __init__(self, base_url: str, subscription_key: str, concurrency: int = 32) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {SUBSCRIPTION_KEY_HEADER: subscription_key}
        self._session: aiohttp.ClientSession | None = None
        self._limit = asyncio.Semaphore(concurrency)
        self.throttled = 0
        """Count of 429 responses the client waited out."""

    async def __aenter__(self) -> ApiClient:
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=60)
        self._session = aiohttp.ClientSession(
            headers=self._headers, connector=connector, timeout=timeout
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def place_order(self, body: dict[str, Any], idempotency_key: str) -> str:
        """Place an order and return its id; a repeated key returns the same order."""
        status, answer = await self._request(
            "POST", "/orders", json=body, headers={"Idempotency-Key": idempotency_key}
        )
        if status != 202:
            raise ApiError("POST", "/orders", status, str(answer))
        return answer["orderId"]

    async def cancel_order(self, order_id: str, reason: str) -> int:
        """Ask to cancel an order; return 202 when the saga took it, 409 when too late."""
        path = f"/orders/{order_id}/cancel"
        status, answer = await self._request("POST", path, json={"reason": reason})
        if status not in (202, 409):
            raise ApiError("POST", path, status, str(answer))
        return status

    async def get_order(self, order_id: str) -> dict[str, Any]:
        """Return the order document with its saga status."""
        path = f"/orders/{order_id}"
        status, answer = await self._request("GET", path)
        if status != 200:
            raise ApiError("GET", path, status, str(answer))
        return answer

    async def get_stock(self, store_id: str, product_id: str) -> StockLevel:
        """Return a product's stock at a store; zero everywhere when the store never had it."""
        path = f"/stores/{store_id}/stock/{product_id}"
        status, answer = await self._request("GET", path)
        if status == 404:
            return StockLevel(0, 0, 0)
        if status != 200:
            raise ApiError("GET", path, status, str(answer))
        return StockLevel(answer["onHand"], answer["reserved"], answer["shipped"])

    async def _request(
        self, method: str, path: str, **kwargs: Any
    ) -> tuple[int, dict[str, Any] | str]:
        assert self._session is not None, "use ApiClient as an async context manager"
        url = self.base_url + path

        for attempt in range(1, MAX_ATTEMPTS + 1):
            async with self._limit, self._session.request(method, url, **kwargs) as response:
                if response.status not in (429, 503) or attempt == MAX_ATTEMPTS:
                    return response.status, await _body(response)
                pause = _retry_after(response.headers.get("Retry-After"), attempt)

            self.throttled += response.status == 429
            log.debug("%s %s returned %s; retrying in %.2f s", method, path, response.status, pause)
            await asyncio.sleep(pause)
        raise AssertionError("unreachable: the last attempt returns")


async def _body(response: aiohttp.ClientResponse) -> dict[str, Any] | str:
    if "json" in response.headers.get("Content-Type", ""):
        return await response.json(content_type=None)
    return await response.text()


def _retry_after(header: str | None, attempt: int) -> float:
    try:
        return max(0.05, float(header)) if header else 0.1 * attempt
    except ValueError:
        return 0.1 * attempt
