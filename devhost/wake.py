"""Wake-up sockets: Unix datagram sockets that other processes poke when they commit work."""

from __future__ import annotations

import contextlib
import socket


def bind_datagram(address: str) -> socket.socket | None:
    """Bind a non-blocking Unix datagram socket to `address`; return None when binding fails.

    An address that starts with a NUL byte is in Linux's abstract namespace and needs no file.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)
    return sock


def drain(sock: socket.socket) -> None:
    """Read every queued datagram; a wake-up's content carries nothing."""
    with contextlib.suppress(BlockingIOError):
        while True:
            sock.recv(64)
