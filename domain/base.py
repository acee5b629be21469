"""Shared building blocks of the domain models: the camelCase base model and field types."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    """A model whose JSON fields are camelCase while its Python attributes stay snake_case."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def to_document(self) -> dict:
        """Return the JSON-compatible dict with camelCase keys, as stored and sent."""
        return self.model_dump(mode="json", by_alias=True)


def _require_timezone(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp has no time zone; send it in RFC 3339 form, e.g. with 'Z'")
    return value


# Ids become Cosmos DB document ids and partition key values, which may not contain
# '/', '\\', '?' or '#'. The first character is a letter or digit so ids read cleanly in URLs.
Identifier = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"),
]

# A shipment id is `shp-` followed by an order id, so it may be four characters longer.
ShipmentIdentifier = Annotated[
    str,
    Field(min_length=1, max_length=68, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"),
]

# Prices and totals in USD. They are exact decimals in Python and JSON numbers on the wire,
# because Cosmos DB and the clients compare them as numbers.
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=12, decimal_places=2),
    PlainSerializer(float, return_type=float, when_used="json"),
]

# A fraction of the list price taken off, 0.20 for 20 percent.
Discount = Annotated[
    Decimal,
    Field(ge=0, le=1, max_digits=5, decimal_places=4),
    PlainSerializer(float, return_type=float, when_used="json"),
]

Quantity = Annotated[int, Field(gt=0, le=10_000)]

Timestamp = Annotated[datetime, AfterValidator(_require_timezone)]

Text = Annotated[str, Field(min_length=1, max_length=500)]


def field_path(location: tuple[int | str, ...]) -> str:
    """Format a pydantic error location as a camelCase path, e.g. `lines[0].quantity`."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(body)"
