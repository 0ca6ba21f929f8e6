"""``hwconv serve-sim``: a simulated board on a UDP socket.

Two threads, as the board has two engines: the network thread receives datagrams, hands
them to the :class:`~hwconv.host.board.SimulatedBoard` and sends its answers at once
(STATUS, STATS, resent RESULT chunks); the compute thread takes every complete frame as one
batch, runs the design on it and sends the results.  So a board busy computing (a big
batch, a Verilator run) still answers QUERY with STATUS COMPUTING, as the gateware would,
and the host does not take it for dead or make it resend.

Nothing a datagram holds can stop the server: the board drops and counts bad ones, and an
exception inside it (a bug) is counted as ``internal_errors``, printed, and serving goes on.
"""
from __future__ import annotations

import select
import socket
import sys
import threading
import time
import traceback

from .board import SimulatedBoard
from .transport import SOCKET_BUFFER, Impairment

__all__ = ["BoardServer"]


class BoardServer:
    """``board`` on UDP ``host:port`` (port 0: the kernel picks one; see ``.port``).

    ``impair_in`` / ``impair_out``: :class:`~hwconv.host.transport.Impairment` of every
    datagram received / sent (board-side loss, for tests and demos).  ``serve()`` runs
    until ``stop()`` (from another thread), ``idle_timeout`` seconds without a datagram, or
    ``duration`` seconds in all."""

    def __init__(self, board: SimulatedBoard, host: str = "127.0.0.1", port: int = 0, *,
                 impair_in: Impairment | None = None, impair_out: Impairment | None = None,
                 log=None):
        self.board = board
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            self.sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
        self.sock.bind((host, port))
        self.sock.setblocking(True)        # see UDPTransport: recv waits in select()
        self.host, self.port = self.sock.getsockname()[:2]
        self.impair_in, self.impair_out = impair_in, impair_out
        self.internal_errors = 0
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self._stop = threading.Event()
        self._work = threading.Event()       # set when complete frames wait
        self._lock = threading.Lock()        # the board's state
        self._send_lock = threading.Lock()   # the outgoing impairment's state

    def stop(self) -> None:
        self._stop.set()

    def serve(self, idle_timeout: float | None = None, duration: float | None = None) -> None:
        worker = threading.Thread(target=self._compute_loop, daemon=True,
                                  name="serve-sim compute")
        worker.start()
        start = last = time.monotonic()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if idle_timeout is not None and now - last > idle_timeout:
                    self.log(f"hwconv serve-sim: no datagram for {idle_timeout:g} s; exiting")
                    return
                if duration is not None and now - start > duration:
                    return
                got = self._recv(0.1)
                if got is None:
                    self._flush_held()
                    continue
                last = time.monotonic()
                self._handle(*got)
        finally:
            self._stop.set()
            self._work.set()
            worker.join(timeout=60)
            self.sock.close()

    # -- network thread ----------------------------------------------------------------

    def _recv(self, timeout: float):
        # The socket stays blocking (sends wait for room, from both threads); receiving
        # waits in select() instead.
        for _ in range(2):
            try:
                return self.sock.recvfrom(65535, socket.MSG_DONTWAIT)
            except BlockingIOError:
                pass
            except OSError:
                # ICMP errors from a peer that went away surface here; they say nothing
                # about the next datagram.
                pass
            if not select.select([self.sock], [], [], timeout)[0]:
                return None
        return None

    def _handle(self, datagram: bytes, peer) -> None:
        pairs = self.impair_in.apply((datagram, peer)) if self.impair_in else \
            [(datagram, peer)]
        for d, frm in pairs:
            self._deliver(d, frm)

    def _deliver(self, datagram: bytes, peer) -> None:
        try:
            with self._lock:
                replies = self.board.receive(datagram, peer)
                pending = self.board.pending
        except Exception:      # a bug, not the datagram's fault: say so, keep serving
            self.internal_errors += 1
            self.log("hwconv serve-sim: internal error on a datagram (dropped):\n" +
                     traceback.format_exc())
            return
        self._send(replies)
        if pending:
            self._work.set()

    def _flush_held(self) -> None:
        """The link went idle: datagrams the impairment held back go now."""
        if self.impair_in:
            for d, peer in self.impair_in.flush():
                self._deliver(d, peer)
        if self.impair_out:
            with self._send_lock:
                held = self.impair_out.flush()
            for d, peer in held:
                self._sendto(d, peer)

    # -- compute thread ----------------------------------------------------------------

    def _compute_loop(self) -> None:
        while not self._stop.is_set():
            if not self._work.wait(timeout=0.2):
                continue
            self._work.clear()
            try:
                with self._lock:
                    batch = self.board.take_ready()
                if batch is None:
                    continue
                y = self.board.engine(batch[1])       # the slow part, unlocked
                with self._lock:
                    replies = self.board.finish(batch, y)
            except Exception:
                self.internal_errors += 1
                self.log("hwconv serve-sim: internal error computing frames (dropped):\n" +
                         traceback.format_exc())
                continue
            self._send(replies)

    # -- both --------------------------------------------------------------------------

    def _send(self, replies) -> None:
        for pair in replies:
            if self.impair_out:
                with self._send_lock:
                    out = self.impair_out.apply(pair)
            else:
                out = [pair]
            for d, peer in out:
                self._sendto(d, peer)

    def _sendto(self, datagram: bytes, peer) -> None:
        try:
            self.sock.sendto(datagram, peer)
        except OSError:
            pass            # a full buffer or a gone peer: lost, as on a wire

    def serve_in_thread(self, **kw) -> threading.Thread:
        """Start ``serve(**kw)`` in a daemon thread (tests); ``stop()`` ends it."""
        t = threading.Thread(target=self.serve, kwargs=kw, daemon=True, name="serve-sim")
        t.start()
        return t
