"""The host driver: ``Accelerator(transport).run(frames) -> outputs``.

It speaks docs/protocol.md over any :class:`hwconv.host.transport.Transport`: HELLO to
learn the device's formats, then a sliding window of frames in flight (as many as the
device has slots), each frame's DATA chunks sent at once, RESULT chunks collected, and for
a frame whose result is late a QUERY, whose STATUS answer says which DATA chunks to send
again (the device resends missing RESULT chunks by itself).  Every wait is bounded: a
device that stops answering raises :class:`DeviceTimeout` naming the frame, what was
sent and for how long.
"""
from __future__ import annotations

import dataclasses
import os
import time

import numpy as np

from ..errors import HwconvError
from ..fixed import dequantize, quantize
from . import protocol as p
from .transport import Transport

__all__ = ["Accelerator", "DeviceError", "DeviceTimeout", "HostCounters"]


class DeviceError(HwconvError):
    """The device cannot be used: it does not answer, or it answers nonsense."""


class DeviceTimeout(DeviceError):
    """The device stopped answering."""


@dataclasses.dataclass
class HostCounters:
    """What the driver sent and got (cumulative over the Accelerator's life)."""

    sent: int = 0          # datagrams sent, first copies and resends
    resent: int = 0        # DATA chunks sent again (after STATUS said they were missing)
    queries: int = 0       # QUERY datagrams (a result was late)
    received: int = 0      # datagrams received
    dropped: int = 0       # well-formed but not wanted: duplicates, stale frames, others' sessions
    malformed: int = 0     # datagrams that break the format
    frames: int = 0        # frames whose results came back

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class _InFlight:
    index: int                      # position in the caller's batch
    frame: int                      # frame id on the wire
    chunks: list[bytes]             # DATA datagrams, ready to (re)send
    results: list[bytes | None]
    started: float
    last_heard: float               # last datagram about this frame (RESULT or STATUS)
    last_asked: float               # last time DATA or QUERY went out for it
    queries: int = 0                # QUERYs since the device was last heard about it
    resends: int = 0                # DATA chunks sent again
    queried: bool = False           # ever: then its time is no latency sample (Karn)
    got: int = 0                    # RESULT chunks in

    @property
    def have(self) -> np.ndarray:
        return np.array([r is not None for r in self.results], dtype=bool)


class Accelerator:
    """Runs frames on a device behind ``transport``.

    ``window``: frames in flight at most (default and ceiling: the device's slots).
    ``retry``: the least time before a late frame is queried.  The query timer works
    like TCP's retransmission timer (RFC 6298): it follows the smoothed time from a
    frame's DATA to its first RESULT (mean + 4 deviations, from frames not queried by
    then: Karn's rule) within [retry, max_retry], starts at 5 * retry, and doubles when
    a query proves premature (STATUS COMPUTING, or a RESULT chunk twice), not when one
    finds a loss; it runs from the last datagram heard about the frame or the last
    query, and a frame queried again without an answer waits twice as long each time.  Most losses are found sooner: a RESULT chunk flagged LAST
    with chunks missing, or the first RESULT of a frame sent later, queries at once.  So a busy device is not queried (and made to resend) merely for
    being slow.  ``timeout``: seconds a frame may go without any answer about it before
    DeviceTimeout; ``frame_timeout``: seconds any one frame may take.
    """

    def __init__(self, transport: Transport, *, window: int | None = None,
                 retry: float = 0.05, max_retry: float = 1.0, timeout: float = 5.0,
                 frame_timeout: float = 120.0, session: int | None = None):
        if window is not None and window < 1:
            raise ValueError(f"window must be at least 1, not {window!r}")
        self.transport = transport
        self.retry, self.max_retry = retry, max_retry
        self.timeout, self.frame_timeout = timeout, frame_timeout
        self.session = session or (int.from_bytes(os.urandom(2), "big") % 0xFFFF) + 1
        self.counters = HostCounters()
        self._window = window
        self._next_frame = 0
        self._info: p.DeviceInfo | None = None
        self._rto = min(5 * retry, max_retry)  # the query timer, seconds, until sampled
        self._srtt: float | None = None        # smoothed seconds from DATA to result
        self._rttvar = 0.0
        self._backed_off = 0.0                 # when the timer was last doubled

    # -- session ---------------------------------------------------------------------

    @property
    def info(self) -> p.DeviceInfo:
        """The device's formats (sends HELLO the first time)."""
        if self._info is None:
            self._info = self.connect()
        return self._info

    @property
    def window(self) -> int:
        slots = self.info.slots
        return slots if self._window is None else min(self._window, slots)

    def connect(self) -> p.DeviceInfo:
        """HELLO until INFO comes back, retrying every ``retry`` s for ``timeout`` s."""
        hello = p.encode(p.Header(p.MsgType.HELLO, self.session))
        start = time.monotonic()
        tries = 0
        while time.monotonic() - start < self.timeout:
            self._send(hello)
            tries += 1
            wait_until = time.monotonic() + min(self.retry * 2 ** (tries - 1), self.max_retry)
            while (left := wait_until - time.monotonic()) > 0:
                got = self._recv(left)
                if got is None:
                    continue
                h, payload = got
                if h.type == p.MsgType.INFO and h.session == self.session:
                    try:
                        self._info = p.DeviceInfo.from_bytes(payload)
                    except p.Malformed as e:
                        raise DeviceError(f"{self.transport.name} sent an INFO the driver "
                                          f"cannot read: {e}") from None
                    return self._info
                self.counters.dropped += 1
        raise DeviceTimeout(self._silence(f"no answer to HELLO after {tries} tries in "
                                          f"{self.timeout:g} s"))

    def device_counters(self) -> dict[str, int]:
        """The device's own counters (STATS), e.g. malformed datagrams it dropped."""
        req = p.encode(p.Header(p.MsgType.STATS_REQ, self.session))
        start = time.monotonic()
        while time.monotonic() - start < self.timeout:
            self._send(req)
            wait_until = time.monotonic() + self.max_retry
            while (left := wait_until - time.monotonic()) > 0:
                got = self._recv(left)
                if got and got[0].type == p.MsgType.STATS:
                    try:
                        return p.decode_counters(got[1])
                    except p.Malformed:
                        self.counters.malformed += 1
                elif got:
                    self.counters.dropped += 1
        raise DeviceTimeout(self._silence(f"no answer to STATS_REQ in {self.timeout:g} s"))

    # -- frames ----------------------------------------------------------------------

    def run(self, frames) -> np.ndarray:
        """Float frames (N, *input shape) or one frame in; float outputs (N, *output
        shape) out, dequantized exactly as ``Design.reference`` does."""
        fmt = self.info.input
        x = np.asarray(frames, dtype=np.float64)
        if x.shape == fmt.shape:
            x = x[None]
        if x.shape[1:] != fmt.shape:
            raise DeviceError(f"frames have shape {x.shape}, but the device takes "
                              f"(N, {', '.join(map(str, fmt.shape))})")
        if not np.all(np.isfinite(x)):
            raise DeviceError("frames hold NaN or infinite values")
        return dequantize(self.run_int(quantize(x, fmt.fixed)), self.info.output.fixed)

    def run_int(self, frames) -> np.ndarray:
        """Integer frames in the device's input format in, integer outputs out."""
        info = self.info
        x = np.asarray(frames, dtype=np.int64)
        if x.ndim != len(info.input.shape) + 1 or x.shape[1:] != info.input.shape:
            raise DeviceError(f"integer frames have shape {x.shape}, but the device takes "
                              f"(N, {', '.join(map(str, info.input.shape))})")
        f = info.input.fixed
        if len(x) and (x.min() < f.min_int or x.max() > f.max_int):
            raise DeviceError(f"integer frames hold values outside {f} "
                              f"[{f.min_int}, {f.max_int}]")
        outputs: list[np.ndarray | None] = [None] * len(x)
        inflight: dict[int, _InFlight] = {}
        base = self._next_frame            # frame id of x[0]
        started = 0                        # frames of x whose DATA went out
        oldest = 0                         # first frame of x without its result
        window = self.window
        check = 0.0                        # when a frame may next be due for a QUERY
        while oldest < len(x):
            # Frame ids must stay within `window` of the oldest unfinished one: the
            # device keeps frame f in slot f % slots.
            while started < len(x) and started < oldest + window:
                inflight[(base + started) & 0xFFFFFFFF] = self._start(x[started], started,
                                                                      base + started)
                started += 1
                check = min(check, time.monotonic() + self._rto)
            now = time.monotonic()
            if now >= check:
                check = self._chase(inflight, now)
            got = self._recv(max(check - now, 0.0))
            if got is not None:
                self._handle(*got, inflight, outputs)
            while oldest < len(x) and outputs[oldest] is not None:
                oldest += 1
        self._next_frame = (base + len(x)) & 0xFFFFFFFF
        return np.stack(outputs) if len(x) else \
            np.zeros((0, *info.output.shape), dtype=np.int64)

    def _start(self, frame: np.ndarray, index: int, frame_id: int) -> _InFlight:
        fmt = self.info.input
        data = fmt.split(fmt.pack(frame))
        n = len(data)
        chunks = [p.encode(p.Header(p.MsgType.DATA, self.session, frame_id, k, n,
                                    p.Flags.LAST if k == n - 1 else 0), d)
                  for k, d in enumerate(data)]
        for c in chunks:
            self._send(c)
        now = time.monotonic()
        return _InFlight(index, frame_id & 0xFFFFFFFF, chunks,
                         [None] * self.info.output.chunks, now, now, now)

    def _interval(self, fr: _InFlight) -> float:
        return min(self._rto * 2 ** fr.queries, self.max_retry)

    def _too_soon(self, fr: _InFlight, now: float) -> None:
        """A query of ``fr`` proved premature (the board was still computing, or a RESULT
        came twice): double the timer, once for all the queries sent before now."""
        if fr.last_asked > self._backed_off:
            self._rto = min(2 * self._rto, self.max_retry)
            self._backed_off = now

    def _sample(self, took: float) -> None:
        """A frame's time from DATA to its first RESULT (RFC 6298's RTT sample)."""
        if self._srtt is None:
            self._srtt, self._rttvar = took, took / 2
        else:
            self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - took)
            self._srtt = 0.875 * self._srtt + 0.125 * took
        self._rto = min(max(self.retry, self._srtt + 4 * self._rttvar), self.max_retry)

    def _chase(self, inflight: dict[int, _InFlight], now: float) -> float:
        """Query frames whose result is late; give up on frames the device forgot.
        Returns when the next frame can be due, at the earliest (timers only move later)."""
        out = self.info.output
        check = now + self.max_retry
        for fr in inflight.values():
            if now - fr.last_heard > self.timeout:
                raise DeviceTimeout(self._silence(
                    f"no answer about frame {fr.frame} (batch index {fr.index}) for "
                    f"{now - fr.last_heard:.1f} s after {fr.queries} queries"))
            if now - fr.started > self.frame_timeout:
                raise DeviceTimeout(f"{self.transport.name} answers but frame {fr.frame} "
                                    f"(batch index {fr.index}) has not finished in "
                                    f"{self.frame_timeout:g} s; its result is "
                                    f"{int(fr.have.sum())}/{out.chunks} chunks in")
            if now - max(fr.last_asked, fr.last_heard) >= self._interval(fr):
                self._query(fr, now)
            check = min(check, max(fr.last_asked, fr.last_heard) + self._interval(fr))
        return check

    def _query(self, fr: _InFlight, now: float) -> None:
        out = self.info.output
        self._send(p.encode(p.Header(p.MsgType.QUERY, self.session, fr.frame, 0, out.chunks),
                            p.encode_bitmap(fr.have, out.chunks)))
        self.counters.queries += 1
        fr.queries += 1
        fr.queried = True
        fr.last_asked = now

    def _handle(self, h: p.Header, payload: bytes, inflight: dict[int, _InFlight],
                outputs: list) -> None:
        fr = inflight.get(h.frame)
        if h.session != self.session or fr is None or \
                h.type not in (p.MsgType.RESULT, p.MsgType.STATUS):
            self.counters.dropped += 1        # another session, a finished frame, a stray
            return
        now = time.monotonic()
        out, inp = self.info.output, self.info.input
        if h.type == p.MsgType.RESULT:
            if h.count != out.chunks or h.index >= out.chunks or \
                    len(payload) != out.chunk_length(h.index):
                self.counters.malformed += 1
                return
            if fr.results[h.index] is not None:
                self.counters.dropped += 1
                if fr.queried:
                    self._too_soon(fr, now)
                return
            if fr.got == 0:
                if not fr.queried:
                    # Time to the first RESULT of a frame never queried: an unambiguous
                    # sample (Karn's rule) of how long the board takes to answer.
                    self._sample(now - fr.started)
                # The board answers frames in the order their DATA completed, each frame's
                # chunks together, so a frame sent before this one and still without all
                # of its result has lost something (DATA or RESULT): ask about it now,
                # once, rather than when its timer expires.
                for other in inflight.values():
                    if other.started < fr.started and other.last_asked < fr.started:
                        self._query(other, now)
            fr.results[h.index] = payload
            fr.got += 1
            fr.last_heard, fr.queries = now, 0
            if fr.got < len(fr.results):
                if h.flags & p.Flags.LAST:
                    # The last chunk came but not all before it: ask now, not at the timer.
                    self._query(fr, now)
                return
            outputs[fr.index] = out.unpack(b"".join(fr.results))
            del inflight[h.frame]
            self.counters.frames += 1
            return
        # STATUS
        try:
            if len(payload) < 4:
                raise p.Malformed("field", "STATUS without its state")
            state = p.FrameState(payload[0])
            n = h.count if state != p.FrameState.UNKNOWN else 0
            if n not in (0, inp.chunks):
                raise p.Malformed("field", "STATUS bitmap size")
            held = p.decode_bitmap(payload[4:], n) if n else np.zeros(inp.chunks, bool)
        except (p.Malformed, ValueError):
            self.counters.malformed += 1
            return
        fr.last_heard, fr.queries = now, 0
        if state == p.FrameState.COMPUTING and fr.queried:
            self._too_soon(fr, now)
        if state in (p.FrameState.UNKNOWN, p.FrameState.RECEIVING):
            for k in np.flatnonzero(~held):
                self._send(fr.chunks[k])
                self.counters.resent += 1
                fr.resends += 1
            fr.last_asked = now

    # -- plumbing --------------------------------------------------------------------

    def _send(self, datagram: bytes) -> None:
        self.transport.send(datagram)
        self.counters.sent += 1

    def _recv(self, timeout: float) -> tuple[p.Header, bytes] | None:
        d = self.transport.recv(timeout)
        if d is None:
            return None
        self.counters.received += 1
        try:
            h, payload = p.decode(d)
        except p.Malformed:
            self.counters.malformed += 1
            return None
        if h.type not in p.DEVICE_TYPES:
            self.counters.dropped += 1
            return None
        return h, payload

    def _silence(self, what: str) -> str:
        notes = "; ".join(self.transport.notes())
        return (f"{self.transport.name}: {what}" + (f" ({notes})" if notes else "") +
                "; is the board (or `hwconv serve-sim`) running at that address?")
