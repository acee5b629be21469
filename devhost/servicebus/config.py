"""Read the entity definition (the Service Bus emulator's Config.json) into broker settings."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from devhost.servicebus.filters import FilterError, Rule, parse_rule

logger = logging.getLogger("devhost.servicebus")

CONFIG_SETTING = "DEVHOST_SERVICEBUS_CONFIG"
DEFAULT_CONFIG_PATH = "infra/servicebus/Config.json"

# The emulator's documented limits (Config-schema.json and the emulator overview page).
MIN_LOCK_SECONDS, MAX_LOCK_SECONDS = 5.0, 300.0
MIN_DELIVERY_COUNT, MAX_DELIVERY_COUNT = 1, 10
MIN_DUPLICATE_WINDOW_SECONDS, MAX_DUPLICATE_WINDOW_SECONDS = 5.0, 300.0
MAX_TTL_SECONDS = 3600.0

_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


class ConfigError(ValueError):
    """The entity definition is invalid; the message names the entity, the property and the fix."""


@dataclass(frozen=True)
class EntitySettings:
    """Settings of one receiving or sending entity, in seconds where they are durations.

    The defaults are those of the emulator's sample configuration, used for entities that the
    trigger bindings name but the file does not define.
    """

    lock_duration: float = 60.0
    max_delivery_count: int = 3
    default_message_ttl: float = 3600.0
    dead_lettering_on_message_expiration: bool = False
    requires_duplicate_detection: bool = False
    duplicate_detection_window: float = 20.0
    requires_session: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "lock_duration": self.lock_duration,
            "max_delivery_count": self.max_delivery_count,
            "default_message_ttl": self.default_message_ttl,
            "dead_lettering_on_message_expiration": self.dead_lettering_on_message_expiration,
            "requires_duplicate_detection": self.requires_duplicate_detection,
            "duplicate_detection_window": self.duplicate_detection_window,
            "requires_session": self.requires_session,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EntitySettings:
        return cls(**data)


@dataclass(frozen=True)
class Subscription:
    """A topic subscription: its settings and the rules that select the topic's messages."""

    name: str
    settings: EntitySettings
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Topic:
    """A topic: its sending-side settings and its subscriptions by name."""

    name: str
    settings: EntitySettings
    subscriptions: dict[str, Subscription] = field(default_factory=dict)


@dataclass(frozen=True)
class Namespace:
    """Every queue and topic the broker hosts."""

    queues: dict[str, EntitySettings] = field(default_factory=dict)
    topics: dict[str, Topic] = field(default_factory=dict)


def parse_duration(text: str, where: str) -> float:
    """Parse an ISO 8601 duration such as `PT30S` or `P1DT2H` into seconds."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or text.strip() in ("P", "PT"):
        raise ConfigError(
            f"{where}: {text!r} is not an ISO 8601 duration; write it like PT30S or PT5M."
        )

    parts = {name: float(value) for name, value in match.groupdict().items() if value}
    return (
        parts.get("days", 0.0) * 86400
        + parts.get("hours", 0.0) * 3600
        + parts.get("minutes", 0.0) * 60
        + parts.get("seconds", 0.0)
    )


def find_config(app_dir: Path, settings: dict[str, str], environ: dict[str, str]) -> Path | None:
    """Locate the entity definition: DEVHOST_SERVICEBUS_CONFIG, else the default path."""
    configured = settings.get(CONFIG_SETTING) or environ.get(CONFIG_SETTING)
    if configured:
        path = (app_dir / configured).resolve()
        if not path.is_file():
            raise ConfigError(
                f"{CONFIG_SETTING}={configured!r} names {path}, which does not exist. "
                "Point the setting at the Service Bus Config.json, relative to the app folder."
            )
        return path

    default = app_dir / DEFAULT_CONFIG_PATH
    return default if default.is_file() else None


def load_config(path: Path) -> Namespace:
    """Read a Config.json in the Service Bus emulator's format; raise ConfigError when invalid."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(
            f"Cannot read the Service Bus entity definition {path}: {error}"
        ) from error

    namespaces = document.get("UserConfig", {}).get("Namespaces", [])
    if len(namespaces) != 1:
        raise ConfigError(
            f"{path}: UserConfig.Namespaces must hold exactly one namespace (the emulator's "
            f"limit); found {len(namespaces)}."
        )
    return parse_namespace(namespaces[0], str(path))


def parse_namespace(data: dict[str, Any], where: str) -> Namespace:
    """Build a Namespace from one entry of UserConfig.Namespaces."""
    queues = {}
    for queue in data.get("Queues", []):
        name = _entity_name(queue, f"{where}: a queue")
        queues[name] = parse_settings(queue.get("Properties", {}), f"{where}: queue '{name}'")

    topics = {}
    for topic in data.get("Topics", []):
        name = _entity_name(topic, f"{where}: a topic")
        topic_where = f"{where}: topic '{name}'"
        settings = parse_settings(topic.get("Properties", {}), topic_where)
        subscriptions = {}
        for subscription in topic.get("Subscriptions", []):
            sub_name = _entity_name(subscription, f"{topic_where}: a subscription")
            subscriptions[sub_name] = parse_subscription(
                subscription, sub_name, f"{topic_where} subscription '{sub_name}'"
            )
        topics[name] = Topic(name, settings, subscriptions)

    clash = set(queues) & set(topics)
    if clash:
        raise ConfigError(f"{where}: {sorted(clash)} are both a queue and a topic; rename one.")
    return Namespace(queues, topics)


def parse_subscription(data: dict[str, Any], name: str, where: str) -> Subscription:
    settings = parse_settings(data.get("Properties", {}), where)
    rules = []
    for rule in data.get("Rules", []):
        try:
            rules.append(parse_rule(rule))
        except FilterError as error:
            raise ConfigError(f"{where}: {error}") from error
    return Subscription(name, settings, tuple(rules))


def parse_settings(props: dict[str, Any], where: str) -> EntitySettings:
    """Read the Properties of a queue, topic or subscription and check the emulator's limits."""
    defaults = EntitySettings()
    settings = replace(
        defaults,
        lock_duration=_duration(props, "LockDuration", defaults.lock_duration, where),
        max_delivery_count=int(props.get("MaxDeliveryCount", defaults.max_delivery_count)),
        default_message_ttl=_duration(
            props, "DefaultMessageTimeToLive", defaults.default_message_ttl, where
        ),
        dead_lettering_on_message_expiration=bool(
            props.get("DeadLetteringOnMessageExpiration", False)
        ),
        requires_duplicate_detection=bool(props.get("RequiresDuplicateDetection", False)),
        duplicate_detection_window=_duration(
            props, "DuplicateDetectionHistoryTimeWindow", defaults.duplicate_detection_window, where
        ),
        requires_session=bool(props.get("RequiresSession", False)),
    )

    _check_range(where, "LockDuration", settings.lock_duration, MIN_LOCK_SECONDS, MAX_LOCK_SECONDS)
    _check_range(
        where,
        "MaxDeliveryCount",
        settings.max_delivery_count,
        MIN_DELIVERY_COUNT,
        MAX_DELIVERY_COUNT,
    )
    _check_range(
        where,
        "DuplicateDetectionHistoryTimeWindow",
        settings.duplicate_detection_window,
        MIN_DUPLICATE_WINDOW_SECONDS,
        MAX_DUPLICATE_WINDOW_SECONDS,
    )
    _check_range(
        where, "DefaultMessageTimeToLive", settings.default_message_ttl, 1.0, MAX_TTL_SECONDS
    )
    if settings.requires_session:
        raise ConfigError(
            f"{where}: RequiresSession is not supported by the embedded broker; set it to false."
        )
    for forward in ("ForwardTo", "ForwardDeadLetteredMessagesTo"):
        if props.get(forward):
            raise ConfigError(
                f"{where}: {forward} is not supported by the embedded broker; leave it empty."
            )
    return settings


def with_implicit_entities(namespace: Namespace, triggers: list[dict[str, Any]]) -> Namespace:
    """Add the queues, topics and subscriptions that trigger bindings name but the file lacks."""
    queues = dict(namespace.queues)
    topics = dict(namespace.topics)
    for binding in triggers:
        queue = binding.get("queueName")
        topic_name = binding.get("topicName")
        subscription = binding.get("subscriptionName")
        if queue and queue not in queues:
            logger.warning(
                "Queue '%s' is named by a trigger but missing from the entity definition; "
                "creating it with the emulator's default settings.",
                queue,
            )
            queues[queue] = EntitySettings()
        if topic_name:
            topic = topics.get(topic_name) or Topic(topic_name, EntitySettings())
            if topic_name not in topics:
                logger.warning(
                    "Topic '%s' is named by a trigger but missing from the entity definition; "
                    "creating it with the emulator's default settings.",
                    topic_name,
                )
            if subscription and subscription not in topic.subscriptions:
                logger.warning(
                    "Subscription '%s/%s' is named by a trigger but missing from the entity "
                    "definition; creating it with the emulator's default settings and no filter.",
                    topic_name,
                    subscription,
                )
                subscriptions = {**topic.subscriptions}
                subscriptions[subscription] = Subscription(subscription, EntitySettings(), ())
                topic = Topic(topic_name, topic.settings, subscriptions)
            topics[topic_name] = topic
    return Namespace(queues, topics)


def _entity_name(data: dict[str, Any], where: str) -> str:
    name = data.get("Name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where} has no Name; give every entity a non-empty Name.")
    return name


def _duration(props: dict[str, Any], key: str, default: float, where: str) -> float:
    value = props.get(key)
    return default if value in (None, "") else parse_duration(value, f"{where} {key}")


def _check_range(where: str, key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(
            f"{where}: {key}={value:g} is outside the emulator's range {low:g}..{high:g} "
            "(durations in seconds); change it in the entity definition."
        )
