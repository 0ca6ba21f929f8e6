"""The simulated board: the device side of docs/protocol.md, with a design as its engine.

:class:`SimulatedBoard` is a plain state machine, ``receive(datagram, peer) -> replies``
and ``compute() -> replies``, with no sockets: :mod:`hwconv.host.server` puts it on a UDP
socket (``hwconv serve-sim``) and :class:`hwconv.host.transport.LoopbackTransport` calls it
in-process.  It behaves as the gateware is meant to: a fixed number of frame slots (frame
``f`` lives in slot ``f % slots``), every header field checked before anything is written,
nothing sent in answer to a malformed datagram, and every drop counted.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from . import protocol as p

__all__ = ["SimulatedBoard", "reference_engine", "verilator_engine", "Engine"]

#: Integer frames (N, *input shape) in, integer outputs (N, *output shape) out.
Engine = Callable[[np.ndarray], np.ndarray]


def reference_engine(graph) -> Engine:
    """The numpy reference: the bit-exact specification of the hardware."""
    from .. import reference
    return lambda x: reference.run(graph, x)


def verilator_engine(design) -> Engine:
    """The design's RTL in Verilator's fast frame harness (built here, or reused from the
    build cache), one run per batch of frames; outputs as the hardware produced them."""
    from ..design import TOP_NAME
    from ..sim.harness import build_harness, run_stream_fast
    from ..sim.packing import beats_to_frame, frame_to_beats
    from ..sim.stalls import STALL_PATTERNS

    graph = design.graph
    bits_in, bits_out = graph.input.fixed.width, graph.output.fixed.width
    frame_in = int(np.prod(graph.input.shape[1:]))
    frame_out = design.out_beats_per_frame
    out_shape = graph.shape(graph.output.name)
    build_harness(design.verilog(), TOP_NAME)

    def run(x: np.ndarray) -> np.ndarray:
        beats = [b for frame in x for b in frame_to_beats(frame, bits_in)]
        res = run_stream_fast(design.verilog(), TOP_NAME, beats, frame_in, frame_out,
                              STALL_PATTERNS["none"])
        out = res["outputs"]
        if res["extra"] or len(out) != len(x) * frame_out:
            raise RuntimeError(f"the simulated hardware produced {len(out)} beats "
                               f"(+{res['extra']} extra) for {len(x)} frames")
        return np.stack([beats_to_frame(out[k * frame_out:(k + 1) * frame_out], out_shape,
                                        bits_out) for k in range(len(x))])
    return run


@dataclasses.dataclass
class _Slot:
    frame: int
    peer: Any
    held: np.ndarray                  # bool per DATA chunk
    data: bytearray
    state: p.FrameState = p.FrameState.RECEIVING
    result: list[bytes] | None = None


def _newer(a: int, b: int) -> bool:
    """Serial-number order of 32-bit frame ids (RFC 1982): is ``a`` after ``b``?"""
    return 0 < (a - b) & 0xFFFFFFFF < 0x80000000


class SimulatedBoard:
    """The device end of the protocol computing with ``engine`` (default: the reference).

    ``receive`` answers at once (INFO, STATUS, STATS, resent RESULT chunks); frames whose
    chunks have all arrived wait until ``compute()``, which runs them through the engine as
    one batch and returns their RESULT datagrams, so a server can drain its socket first.
    """

    def __init__(self, graph, *, engine: Engine | None = None, slots: int = 16,
                 chunk_bytes: int = p.CHUNK_BYTES, info: p.DeviceInfo | None = None):
        if not 1 <= slots <= 0xFFFF:
            raise ValueError(f"slots must be from 1 to 65535, not {slots!r}")
        self.graph = graph
        self.info = info or p.DeviceInfo.of_graph(graph, slots, chunk_bytes)
        self.engine = engine or reference_engine(graph)
        self.counters = dict.fromkeys(p.COUNTER_NAMES, 0)
        self.session = 0                     # none yet: DATA is foreign until a HELLO
        self.slots: list[_Slot | None] = [None] * slots
        self._ready: list[_Slot] = []        # complete, not yet computed

    # -- one datagram in -------------------------------------------------------------

    def receive(self, datagram: bytes, peer=None) -> list[tuple[bytes, Any]]:
        """Handle one datagram from ``peer``; returns the (datagram, peer) pairs to send."""
        self.counters["rx_datagrams"] += 1
        try:
            header, payload = p.decode(datagram)
            replies = self._dispatch(header, payload, peer)
        except p.Malformed as e:
            self.counters[f"malformed_{e.reason}"] += 1
            return []
        self.counters["tx_datagrams"] += len(replies)
        return replies

    def _dispatch(self, h: p.Header, payload: bytes, peer) -> list:
        if h.type not in p.HOST_TYPES:
            self.counters["unexpected"] += 1
            return []
        if h.type == p.MsgType.HELLO:
            if payload or h.session == 0:
                raise p.Malformed("field", "HELLO carries no payload and a session from 1")
            if h.session != self.session:       # a repeated HELLO must not drop frames
                self.session = h.session
                self.slots = [None] * len(self.slots)
                self._ready = []
            return [(self._msg(p.MsgType.INFO, payload=self.info.to_bytes()), peer)]
        if h.type == p.MsgType.STATS_REQ:
            if payload:
                raise p.Malformed("field", "STATS_REQ carries no payload")
            values = [self.counters[n] for n in p.COUNTER_NAMES]
            return [(self._msg(p.MsgType.STATS, count=len(values),
                               payload=p.encode_counters(values)), peer)]
        if h.session != self.session or self.session == 0:
            self.counters["foreign_session"] += 1
            return []
        if h.type == p.MsgType.DATA:
            return self._data(h, payload, peer)
        return self._query(h, payload, peer)

    def _data(self, h: p.Header, payload: bytes, peer) -> list:
        fmt = self.info.input
        if h.count != fmt.chunks or h.index >= fmt.chunks or \
                len(payload) != fmt.chunk_length(h.index):
            raise p.Malformed("field", f"DATA chunk {h.index}/{h.count} of {len(payload)} "
                              f"bytes; frames have {fmt.chunks} chunks")
        k = h.frame % len(self.slots)
        slot = self.slots[k]
        if slot is None or (slot.frame != h.frame and _newer(h.frame, slot.frame)):
            slot = self.slots[k] = _Slot(h.frame, peer, np.zeros(fmt.chunks, bool),
                                         bytearray(fmt.frame_bytes))
        elif slot.frame != h.frame:
            self.counters["stale"] += 1
            return []
        if slot.state != p.FrameState.RECEIVING or slot.held[h.index]:
            self.counters["duplicates"] += 1
            return []
        at = h.index * fmt.chunk_bytes
        slot.data[at:at + len(payload)] = payload
        slot.held[h.index] = True
        slot.peer = peer
        if slot.held.all():
            slot.state = p.FrameState.COMPUTING
            self.counters["frames_received"] += 1
            self._ready.append(slot)
            return []
        if h.index == fmt.chunks - 1:
            # The last chunk came but others did not: tell the host now (it resends
            # what the bitmap lacks) rather than after its timeout.
            return [self._status(slot, peer)]
        return []

    def _query(self, h: p.Header, payload: bytes, peer) -> list:
        fmt = self.info.output
        if h.index != 0 or h.count != fmt.chunks:
            raise p.Malformed("field", f"QUERY bitmap of {h.count} bits; results have "
                              f"{fmt.chunks} chunks")
        have = p.decode_bitmap(payload, fmt.chunks)
        slot = self.slots[h.frame % len(self.slots)]
        if slot is None or slot.frame != h.frame:
            self.counters["status_sent"] += 1
            return [(self._msg(p.MsgType.STATUS, h.frame,
                               payload=bytes([p.FrameState.UNKNOWN, 0, 0, 0])), peer)]
        out = [self._status(slot, peer)]
        if slot.state == p.FrameState.DONE:
            missing = [i for i in range(fmt.chunks) if not have[i]]
            self.counters["results_resent"] += len(missing)
            out += [(self._result(slot, i), peer) for i in missing]
        return out

    # -- compute ---------------------------------------------------------------------

    def compute(self) -> list[tuple[bytes, Any]]:
        """Run every complete frame through the engine; their RESULT datagrams."""
        batch = self.take_ready()
        return self.finish(batch, self.engine(batch[1])) if batch else []

    # compute() in two halves, for a server that runs the engine in another thread and
    # keeps answering (STATUS COMPUTING) meanwhile: take_ready and finish under its lock.

    def take_ready(self) -> tuple[list[_Slot], np.ndarray] | None:
        """The complete frames (now COMPUTING) and their integers, or None."""
        ready = [s for s in self._ready if self.slots[s.frame % len(self.slots)] is s]
        self._ready = []
        if not ready:
            return None
        return ready, np.stack([self.info.input.unpack(bytes(s.data)) for s in ready])

    def finish(self, batch, y) -> list[tuple[bytes, Any]]:
        """Store the engine's outputs ``y`` for a take_ready batch; their RESULT datagrams
        (none for a frame whose slot a newer frame took meanwhile)."""
        ready, _ = batch
        y = np.asarray(y)
        out = []
        for slot, frame in zip(ready, y):
            if self.slots[slot.frame % len(self.slots)] is not slot:
                continue
            slot.result = self.info.output.split(self.info.output.pack(frame))
            slot.state = p.FrameState.DONE
            slot.data = bytearray()          # the input is not needed any more
            out += [(self._result(slot, i), slot.peer) for i in range(len(slot.result))]
        self.counters["frames_computed"] += len(ready)
        self.counters["tx_datagrams"] += len(out)
        return out

    @classmethod
    def echo(cls, fmt: p.TensorFormat, slots: int = 16) -> "SimulatedBoard":
        """A board whose output is its input: the protocol alone, for throughput runs."""
        return cls(None, engine=lambda x: x, info=p.DeviceInfo(fmt, fmt, slots))

    @property
    def pending(self) -> int:
        """Frames complete and waiting for compute()."""
        return len(self._ready)

    # -- messages out ----------------------------------------------------------------

    def _msg(self, type_, frame=0, index=0, count=0, flags=0, payload=b"") -> bytes:
        return p.encode(p.Header(type_, self.session, frame, index, count, flags), payload)

    def _status(self, slot: _Slot, peer):
        self.counters["status_sent"] += 1
        n = len(slot.held)
        return (self._msg(p.MsgType.STATUS, slot.frame, count=n,
                          payload=bytes([int(slot.state), 0, 0, 0]) +
                          p.encode_bitmap(slot.held, n)), peer)

    def _result(self, slot: _Slot, index: int) -> bytes:
        n = len(slot.result)
        return self._msg(p.MsgType.RESULT, slot.frame, index, n,
                         p.Flags.LAST if index == n - 1 else 0, slot.result[index])
