"""``hwconv serve-sim``: a simulated board on a UDP socket.

One thread: wait for a datagram, hand it to the :class:`~hwconv.host.board.SimulatedBoard`,
send its answers, drain whatever else is already queued on the socket (so frames that
arrived together are computed as one batch), then compute the complete frames and send
their results.  Nothing a datagram holds can stop the loop: the board drops and counts
bad ones, and an exception inside it (a bug) is counted as ``internal_errors``, printed,
and the loop goes on.
"""
from __future__ import annotations

import socket
import sys
import threading
import time
import traceback

from .board import SimulatedBoard
from .transport import SOCKET_BUFFER, Impairment

__all__ = ["BoardServer"]

#: Datagrams handled before the complete frames are computed, at most.
DRAIN = 256


class BoardServer:
    """``board`` on UDP ``host:port`` (port 0: the kernel picks one; see ``.port``).

    ``impair``: an :class:`~hwconv.host.transport.Impairment` applied to every datagram
    received and sent (device-side loss for tests and demos).  ``serve()`` runs until
    ``stop()`` (from another thread), ``idle_timeout`` seconds without a datagram, or
    ``duration`` seconds in all."""

    def __init__(self, board: SimulatedBoard, host: str = "127.0.0.1", port: int = 0, *,
                 impair_in: Impairment | None = None, impair_out: Impairment | None = None,
                 log=None):
        self.board = board
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            self.sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        self.impair_in, self.impair_out = impair_in, impair_out
        self.internal_errors = 0
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.sock.close()

    def serve(self, idle_timeout: float | None = None, duration: float | None = None) -> None:
        start = last = time.monotonic()
        poll = 0.1
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if idle_timeout is not None and now - last > idle_timeout:
                    self.log(f"hwconv serve-sim: no datagram for {idle_timeout:g} s; exiting")
                    return
                if duration is not None and now - start > duration:
                    return
                got = self._recv(poll)
                if got is None:
                    self._flush_held()
                    continue
                last = time.monotonic()
                self._handle(*got)
                for _ in range(DRAIN):
                    got = self._recv(0.0)
                    if got is None:
                        break
                    self._handle(*got)
                self._compute()
        finally:
            self.sock.close()

    def _recv(self, timeout: float):
        try:
            self.sock.settimeout(timeout)
            return self.sock.recvfrom(65535)
        except (socket.timeout, BlockingIOError):
            return None
        except OSError:
            # ICMP errors from a peer that went away surface here; they say nothing
            # about the next datagram.
            return None

    def _handle(self, datagram: bytes, peer) -> None:
        pairs = self.impair_in.apply((datagram, peer)) if self.impair_in else \
            [(datagram, peer)]
        for d, frm in pairs:
            self._deliver(d, frm)

    def _deliver(self, datagram: bytes, peer) -> None:
        try:
            replies = self.board.receive(datagram, peer)
        except Exception:      # a bug, not the datagram's fault: say so, keep serving
            self.internal_errors += 1
            self.log("hwconv serve-sim: internal error on a datagram (dropped):\n" +
                     traceback.format_exc())
            return
        self._send(replies)

    def _compute(self) -> None:
        try:
            replies = self.board.compute()
        except Exception:
            self.internal_errors += 1
            self.log("hwconv serve-sim: internal error computing frames (dropped):\n" +
                     traceback.format_exc())
            return
        self._send(replies)

    def _send(self, replies) -> None:
        for pair in replies:
            for d, peer in (self.impair_out.apply(pair) if self.impair_out else [pair]):
                self._sendto(d, peer)

    def _sendto(self, datagram: bytes, peer) -> None:
        try:
            self.sock.sendto(datagram, peer)
        except OSError:
            pass            # a full buffer or a gone peer: lost, as on a wire

    def _flush_held(self) -> None:
        """The link went idle: datagrams the impairment held back go now."""
        if self.impair_in:
            for d, peer in self.impair_in.flush():
                self._deliver(d, peer)
            self._compute()
        if self.impair_out:
            for d, peer in self.impair_out.flush():
                self._sendto(d, peer)

    def serve_in_thread(self, **kw) -> threading.Thread:
        """Start ``serve(**kw)`` in a daemon thread (tests); ``stop()`` ends it."""
        t = threading.Thread(target=self.serve, kwargs=kw, daemon=True, name="serve-sim")
        t.start()
        return t
