"""The `servicebus` command: inspect the embedded broker, send messages, resubmit dead letters.

python -m devhost servicebus entities
python -m devhost servicebus peek carrier-events --count 5
python -m devhost servicebus send carrier-events body.json --properties props.json
python -m devhost servicebus dead-letters carrier-events
python -m devhost servicebus resubmit carrier-events --all
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from devhost.servicebus.client import OutgoingMessage, ReceivedMessage, ServiceBusClient
from devhost.servicebus.config import ConfigError, find_config, parse_duration
from devhost.servicebus.store import DATABASE_NAME, DEAD_LETTER_SUFFIX, EntityNotFoundError

# Keys of a `send --properties` file and the OutgoingMessage field each one sets.
PROPERTY_KEYS = {
    "MessageId": "message_id",
    "CorrelationId": "correlation_id",
    "Subject": "subject",
    "Label": "subject",
    "ContentType": "content_type",
    "ReplyTo": "reply_to",
    "ReplyToSessionId": "reply_to_session_id",
    "To": "to",
    "SessionId": "session_id",
    "PartitionKey": "partition_key",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "servicebus", help="inspect and operate the embedded Service Bus broker"
    )
    parser.add_argument("--app", default=".", help="app folder (default .)")
    parser.add_argument("--state", default=None, help="state folder (default <app>/.devhost)")
    commands = parser.add_subparsers(dest="servicebus_command", required=True, metavar="action")

    entities = commands.add_parser("entities", help="list entities with message counts")
    entities.set_defaults(handler=list_entities)

    peek = commands.add_parser("peek", help="show messages without locking them")
    peek.add_argument("entity", help="queue, topic/Subscriptions/name, or .../$DeadLetterQueue")
    peek.add_argument(
        "--count", type=int, default=10, help="maximum number of messages to show (default 10)"
    )
    peek.add_argument("--from-sequence", type=int, default=0, help="first sequence number")
    peek.set_defaults(handler=peek_messages)

    send = commands.add_parser("send", help="send a message whose body is read from a file")
    send.add_argument("entity", help="queue or topic")
    send.add_argument("body", type=Path, help="file holding the message body, sent byte for byte")
    send.add_argument(
        "--properties",
        type=Path,
        help="JSON file: MessageId, CorrelationId, Subject, ContentType, ReplyTo, To, SessionId, "
        "PartitionKey, TimeToLive (ISO 8601), ScheduledEnqueueTimeUtc, ApplicationProperties",
    )
    send.add_argument("--message-id", help="message id (overrides the properties file)")
    send.add_argument("--subject", help="subject (overrides the properties file)")
    send.add_argument("--correlation-id", help="correlation id (overrides the properties file)")
    send.add_argument("--content-type", help="content type (overrides the properties file)")
    send.set_defaults(handler=send_message)

    dead = commands.add_parser("dead-letters", help="list dead letters with reason and description")
    dead.add_argument("entity", nargs="?", help="queue or subscription (default: every entity)")
    dead.add_argument(
        "--count", type=int, default=100, help="maximum number per entity (default 100)"
    )
    dead.set_defaults(handler=list_dead_letters)

    resubmit = commands.add_parser("resubmit", help="move dead letters back to their entity")
    resubmit.add_argument("entity", help="queue or topic/Subscriptions/name")
    selection = resubmit.add_mutually_exclusive_group(required=True)
    selection.add_argument("--message-id", help="resubmit the dead letters with this message id")
    selection.add_argument("--all", action="store_true", help="resubmit every dead letter")
    resubmit.set_defaults(handler=resubmit_dead_letters)


def open_client(args: argparse.Namespace) -> ServiceBusClient:
    """Open the broker in the state folder; define entities from the app's Config.json if any."""
    app_dir = Path(args.app).resolve()
    state_dir = Path(args.state) if args.state else app_dir / ".devhost"
    config = find_config(app_dir, {}, dict(os.environ))
    if config is None and not (state_dir / DATABASE_NAME).exists():
        raise ConfigError(
            f"No broker at {state_dir / DATABASE_NAME} and no entity definition in {app_dir}. "
            "Start the app with devhost first, or pass --app and --state."
        )
    return ServiceBusClient(state_dir, config=config)


def run(handler: Any, args: argparse.Namespace) -> int:
    try:
        with open_client(args) as client:
            return handler(client, args)
    except BrokenPipeError:
        raise  # The reader of the output went away; `python -m devhost` exits quietly.
    except (ConfigError, EntityNotFoundError, OSError, ValueError, TypeError) as error:
        print(f"devhost servicebus: {error}", file=sys.stderr)
        return 1


def list_entities(args: argparse.Namespace) -> int:
    return run(_list_entities, args)


def _list_entities(client: ServiceBusClient, args: argparse.Namespace) -> int:
    rows = [("Entity", "Kind", "Active", "Scheduled", "Dead letters")]
    for counts in client.counts():
        rows.append(
            (
                counts.path,
                counts.kind,
                *(
                    ("-", "-", "-")
                    if counts.kind == "topic"
                    else (str(counts.active), str(counts.scheduled), str(counts.dead_letter))
                ),
            )
        )
    print_table(rows)
    return 0


def peek_messages(args: argparse.Namespace) -> int:
    return run(_peek, args)


def _peek(client: ServiceBusClient, args: argparse.Namespace) -> int:
    messages = client.peek(args.entity, args.count, args.from_sequence)
    for message in messages:
        print(json.dumps(describe(message), ensure_ascii=False))
    print(f"{len(messages)} message(s) in {args.entity}")
    return 0


def send_message(args: argparse.Namespace) -> int:
    return run(_send, args)


def _send(client: ServiceBusClient, args: argparse.Namespace) -> int:
    properties = json.loads(args.properties.read_text(encoding="utf-8")) if args.properties else {}
    message = build_message(args.body.read_bytes(), properties)
    for flag in ("message_id", "subject", "correlation_id", "content_type"):
        if getattr(args, flag):
            setattr(message, flag, getattr(args, flag))
    message.message_id = message.system_properties()["message_id"]

    sequence_number = client.send(args.entity, message)[0]
    if sequence_number is None:
        print(f"Message {message.message_id} is a duplicate; {args.entity} dropped it.")
    else:
        print(f"Sent message {message.message_id} to {args.entity} (sequence {sequence_number}).")
    return 0


def build_message(body: bytes, properties: dict[str, Any]) -> OutgoingMessage:
    """Build a message from a body and a properties object in Service Bus naming."""
    message = OutgoingMessage(body=body)
    for key, value in properties.items():
        if key in PROPERTY_KEYS:
            setattr(message, PROPERTY_KEYS[key], value)
        elif key == "TimeToLive":
            seconds = value if isinstance(value, int | float) else parse_duration(value, key)
            message.time_to_live = timedelta(seconds=seconds)
        elif key == "ScheduledEnqueueTimeUtc":
            message.scheduled_enqueue_time = datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif key in ("ApplicationProperties", "UserProperties"):
            message.application_properties = dict(value)
        else:
            raise ValueError(
                f"Unknown message property {key!r} in the properties file; use one of "
                f"{', '.join([*PROPERTY_KEYS, 'TimeToLive', 'ScheduledEnqueueTimeUtc'])} "
                "or ApplicationProperties."
            )
    return message


def list_dead_letters(args: argparse.Namespace) -> int:
    return run(_dead_letters, args)


def _dead_letters(client: ServiceBusClient, args: argparse.Namespace) -> int:
    if args.entity:
        paths = [args.entity]
    else:
        paths = [c.path for c in client.counts() if c.kind != "topic" and c.dead_letter]

    rows = [("Entity", "Sequence", "Message id", "Reason", "Description", "Deliveries")]
    for path in paths:
        for message in client.peek(path + DEAD_LETTER_SUFFIX, args.count):
            rows.append(
                (
                    path,
                    str(message.sequence_number),
                    message.message_id,
                    message.dead_letter_reason or "",
                    message.dead_letter_error_description or "",
                    str(message.delivery_count),
                )
            )
    print_table(rows)
    print(f"{len(rows) - 1} dead letter(s)")
    return 0


def resubmit_dead_letters(args: argparse.Namespace) -> int:
    return run(_resubmit, args)


def _resubmit(client: ServiceBusClient, args: argparse.Namespace) -> int:
    moved = client.resubmit(args.entity, None if args.all else args.message_id)
    print(f"Resubmitted {moved} dead letter(s) to {args.entity}.")
    return 0 if moved or args.all else 1


def describe(message: ReceivedMessage) -> dict[str, Any]:
    """Return a JSON-ready view of a message: the body as text when it is UTF-8, every property."""
    try:
        body: Any = message.body.decode("utf-8")
    except UnicodeDecodeError:
        body = message.body.hex()
    view = {key: value for key, value in vars(message).items() if value is not None}
    view["body"] = body
    for key, value in view.items():
        if isinstance(value, datetime):
            view[key] = value.isoformat()
        elif isinstance(value, timedelta):
            view[key] = value.total_seconds()
    return view


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(f"{cell:<{widths[i]}}" for i, cell in enumerate(row)).rstrip())


def main(argv: list[str] | None = None) -> int:
    """Run the command on its own: `python -m devhost.servicebus.cli ...`."""
    parser = argparse.ArgumentParser(prog="python -m devhost")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["servicebus", *(sys.argv[1:] if argv is None else argv)])
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
