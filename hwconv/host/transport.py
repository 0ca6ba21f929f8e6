"""Datagram pipes between the host driver and a device.

The driver (:mod:`hwconv.host.driver`) only calls :class:`Transport`'s ``send`` and
``recv``, so the same code talks to a board over UDP (:class:`UDPTransport`, also how it
reaches ``hwconv serve-sim``), to a simulated board in the same process
(:class:`LoopbackTransport`), or through an impaired link that drops, duplicates and
reorders datagrams (:class:`LossyTransport`).
"""
from __future__ import annotations

import abc
import collections
import random
import select
import socket
import time

__all__ = ["Transport", "UDPTransport", "LoopbackTransport", "LossyTransport", "Impairment",
           "parse_address", "SOCKET_BUFFER"]

#: Socket buffer size asked for (the kernel may cap it at net.core.rmem_max / wmem_max):
#: several frames in flight arrive faster than one thread drains them.
SOCKET_BUFFER = 4 << 20


class Transport(abc.ABC):
    """A pipe carrying whole datagrams to and from one device."""

    #: How to name the device in messages (``udp://127.0.0.1:9000``).
    name: str = "device"

    @abc.abstractmethod
    def send(self, datagram: bytes) -> None:
        """Send one datagram; may be lost on the way (UDP gives no guarantee)."""

    @abc.abstractmethod
    def recv(self, timeout: float) -> bytes | None:
        """The next datagram from the device, or None if none came within ``timeout`` s."""

    def close(self) -> None:
        pass

    def notes(self) -> list[str]:
        """What the transport saw that explains a silent device (for error messages)."""
        return []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` to (host, port); ValueError saying what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"device address {text!r} is not HOST:PORT (e.g. 127.0.0.1:9000)")
    return host.strip("[]"), int(port)


class UDPTransport(Transport):
    """A connected UDP socket: datagrams from any other address are filtered by the kernel.

    A closed port on the device's host answers with ICMP port unreachable; Linux reports
    it on the next call, which is counted in ``unreachable`` (the device may come up later)
    and named when the driver gives up."""

    def __init__(self, host: str, port: int, *, bind: tuple[str, int] | None = None):
        self.address = (host, port)
        self.name = f"udp://{host}:{port}"
        self.unreachable = 0
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except socket.gaierror as e:
            raise OSError(f"cannot resolve {host!r}: {e.strerror}") from None
        self.sock = socket.socket(info[0], socket.SOCK_DGRAM)
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            self.sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
        if bind:
            self.sock.bind(bind)
        self.sock.connect(info[4])
        # Blocking, without a timeout: Python would poll before every recv otherwise.
        # A UDP send waits only while the receiver's queue holds our datagrams, which
        # it drops when full, so it cannot wait for ever.
        self.sock.setblocking(True)
        self.send_failed = 0

    def send(self, datagram: bytes) -> None:
        for _ in range(2):     # a pending ICMP error fails one send; the next one goes out
            try:
                self.sock.send(datagram)     # blocks while the send buffer is full
                return
            except ConnectionRefusedError:
                self.unreachable += 1
            except OSError:                  # e.g. no route: lost, as on a wire
                self.send_failed += 1
                return

    def recv(self, timeout: float) -> bytes | None:
        # The socket stays blocking (for send); receiving waits in select() instead.
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                return self.sock.recv(65535, socket.MSG_DONTWAIT)
            except BlockingIOError:
                pass
            except ConnectionRefusedError:
                self.unreachable += 1
                continue
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return None

    def close(self) -> None:
        self.sock.close()

    def notes(self) -> list[str]:
        notes = []
        if self.unreachable:
            notes.append(f"{self.address[0]} answered {self.unreachable} time(s) that "
                         f"nothing listens on UDP port {self.address[1]}")
        if self.send_failed:
            notes.append(f"{self.send_failed} datagrams could not be sent")
        return notes


class LoopbackTransport(Transport):
    """A simulated board (:class:`hwconv.host.board.SimulatedBoard`) in this process: each
    datagram sent is handled at once, and complete frames are computed before the next
    receive."""

    name = "simulated board (in-process)"

    def __init__(self, board):
        self.board = board
        self.queue: collections.deque[bytes] = collections.deque()

    def send(self, datagram: bytes) -> None:
        self.queue.extend(d for d, _ in self.board.receive(datagram, None))

    def recv(self, timeout: float) -> bytes | None:
        if not self.queue:
            self.queue.extend(d for d, _ in self.board.compute())
        if self.queue:
            return self.queue.popleft()
        time.sleep(max(timeout, 0.0))     # nothing can come until the host sends again
        return None


class Impairment:
    """A seeded lossy link in one direction: each datagram is dropped with probability
    ``drop``, sent twice with ``duplicate``, or held back and sent after the next one with
    ``reorder``. ``apply(d)`` gives what goes out now; ``flush()`` releases a held one.
    Items are passed through untouched (a server passes (datagram, peer) pairs)."""

    def __init__(self, drop=0.0, duplicate=0.0, reorder=0.0, seed=0):
        for name, v in (("drop", drop), ("duplicate", duplicate), ("reorder", reorder)):
            if not 0.0 <= v < 1.0:
                raise ValueError(f"{name} probability must be in [0, 1), not {v!r}")
        self.drop, self.duplicate, self.reorder = drop, duplicate, reorder
        self.rng = random.Random(seed)
        self.held = None
        self.counts = {"dropped": 0, "duplicated": 0, "reordered": 0}

    def apply(self, datagram):
        r = self.rng.random()
        if r < self.drop:
            self.counts["dropped"] += 1
            return []
        out = [datagram]
        r -= self.drop
        if r < self.duplicate:
            self.counts["duplicated"] += 1
            out = [datagram, datagram]
        elif r < self.duplicate + self.reorder and self.held is None:
            self.counts["reordered"] += 1
            self.held = datagram
            return []
        return out + self.flush()

    def flush(self) -> list:
        held, self.held = self.held, None
        return [] if held is None else [held]


class LossyTransport(Transport):
    """Another transport behind an impaired link, both directions (seeded, reproducible)."""

    def __init__(self, inner: Transport, drop=0.0, duplicate=0.0, reorder=0.0, seed=0):
        self.inner = inner
        self.name = f"{inner.name} (lossy: drop {drop:.0%}, duplicate {duplicate:.0%}, " \
                    f"reorder {reorder:.0%})"
        self.out = Impairment(drop, duplicate, reorder, seed)
        self.into = Impairment(drop, duplicate, reorder, seed + 1)
        self.queue: collections.deque[bytes] = collections.deque()

    def send(self, datagram: bytes) -> None:
        for d in self.out.apply(datagram):
            self.inner.send(d)

    def recv(self, timeout: float) -> bytes | None:
        if not self.queue:
            d = self.inner.recv(timeout)
            if d is None:
                # The link is idle: whatever was held back goes now.
                for held in self.out.flush():
                    self.inner.send(held)
                self.queue.extend(self.into.flush())
            else:
                self.queue.extend(self.into.apply(d))
        return self.queue.popleft() if self.queue else None

    def close(self) -> None:
        self.inner.close()

    def notes(self) -> list[str]:
        return self.inner.notes()

    @property
    def counts(self) -> dict[str, int]:
        return {f"{k}_{way}": v for way, imp in (("out", self.out), ("in", self.into))
                for k, v in imp.counts.items()}
