"""Byte streams of the Ethernet path, the CRC-32 of Ethernet, and the header-stripping
receiver every receive layer is made of (the transmit layers' counterpart is
:mod:`.header_tx`)."""
from __future__ import annotations

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .headers import header_bytes

__all__ = ["frame_layout", "frame_stream", "tx_layout", "tx_stream", "crc32_update",
           "CRC32_RESIDUE", "HeaderRx", "refuse"]

#: The CRC register (not inverted) after a frame and its correct FCS have gone through.
CRC32_RESIDUE = 0xDEBB20E3
_CRC32_POLY = 0xEDB88320        # reflected 0x04C11DB7


def frame_layout(meta: dict | None = None) -> data.StructLayout:
    """One byte of a frame: ``data``; ``last`` on its final byte, where ``error`` says the
    frame is bad (FCS, truncated, ...) and must not be used; plus ``meta`` fields that
    stay constant through a frame (headers parsed upstream)."""
    return data.StructLayout({"data": 8, "last": 1, "error": 1, **(meta or {})})


def frame_stream(meta: dict | None = None) -> stream.Signature:
    """A byte stream without back-pressure (GMII has none): every valid beat is taken."""
    return stream.Signature(frame_layout(meta), always_ready=True)


def tx_layout(meta: dict | None = None) -> data.StructLayout:
    """One byte of a frame to send: ``data``, ``last`` on its final byte, and ``meta``
    fields (addresses, lengths) read from a frame's first beat only."""
    return data.StructLayout({"data": 8, "last": 1, **(meta or {})})


def tx_stream(meta: dict | None = None) -> stream.Signature:
    """A byte stream with back-pressure: the transmit layers hold their input while they
    send a header, the GMII transmitter while it sends a preamble, padding, FCS and gap."""
    return stream.Signature(tx_layout(meta))


def refuse(component, message: str):
    """Raise ValueError(message) from a constructor, without Amaranth's warning that the
    half-made component was never elaborated."""
    component._MustUse__silence = True
    raise ValueError(message)


def _crc32_matrix() -> list[tuple[set[int], set[int]]]:
    """For each bit of the next CRC register: which register bits and which data bits
    it is the XOR of, after one byte (LSB first, reflected polynomial)."""
    reg = [({i}, set()) for i in range(32)]
    reg = [(r, {i} if i < 8 else set()) for i, (r, _) in enumerate(reg)]
    for _ in range(8):
        lsb = reg[0]
        reg = reg[1:] + [(set(), set())]
        for i in range(32):
            if _CRC32_POLY >> i & 1:
                reg[i] = (reg[i][0] ^ lsb[0], reg[i][1] ^ lsb[1])
    return reg


_MATRIX = _crc32_matrix()


def crc32_update(crc, byte):
    """The CRC-32 register after one more byte: 32 XOR trees."""
    bits = []
    for regs, datas in _MATRIX:
        terms = [crc[i] for i in sorted(regs)] + [byte[i] for i in sorted(datas)]
        v = terms[0]
        for t in terms[1:]:
            v = v ^ t
        bits.append(v)
    return Cat(*bits)


class HeaderRx(wiring.Component):
    """A layer's receiver: strips a fixed header off each frame and passes the payload on,
    or drops the frame, counting why.

    A subclass gives ``HEADER`` (a field table), ``IN_META`` / ``OUT_META`` (fields of
    the input and output beats), and ``checks(fields, meta)``: (counter name, condition
    that must hold) in order, the first failing one counted; and ``payload_length(fields)``
    (None: the payload runs to the frame's end).  Bytes past the payload length (Ethernet
    padding) are dropped, and the payload's last byte is held until the frame's end so that
    an error found there (a bad FCS) still marks it.  A frame that ends before its payload
    does is passed on with ``error`` and counted as ``truncated`` (layers with a length
    field); one that ends inside
    the header, or has no payload at all, is counted as ``short``.

    Every counter is a 32-bit output ``drop_<name>``; ``frames_ok`` counts frames passed
    on.  One byte in, at most one out, per cycle: line rate, one cycle of latency."""

    HEADER: tuple = ()
    IN_META: dict = {}
    OUT_META: dict = {}
    COUNTERS: tuple = ()

    def __init__(self):
        members = {"i": In(frame_stream(self.IN_META)),
                   "o": Out(frame_stream({**self.IN_META, **self.OUT_META})),
                   "frames_ok": Out(32), "drop_short": Out(32)}
        if type(self).payload_length is not HeaderRx.payload_length:
            members["drop_truncated"] = Out(32)
        for name in self.COUNTERS:
            members[f"drop_{name}"] = Out(32)
        super().__init__(members)

    # -- for subclasses --

    def checks(self, f, meta) -> list:
        return []

    def payload_length(self, f):
        return None

    def on_header_byte(self, m, index, byte, first):
        """Called for each header byte as it arrives (e.g. a running checksum)."""

    def out_fields(self, f) -> dict:
        """Values of OUT_META, from the header fields."""
        return {name: f[name] for name in self.OUT_META}

    # -- the receiver --

    def elaborate(self, platform):
        m = Module()
        n = header_bytes(self.HEADER)
        hdr = Signal(8 * n)
        fields = {fl.name: hdr.word_select(0, 8 * n)[8 * (n - fl.offset - fl.width):
                                                      8 * (n - fl.offset)]
                  for fl in self.HEADER}
        index = Signal(range(n + 1))
        i, o = self.i, self.o
        beat = i.payload
        length = self.payload_length(fields)
        remaining = Signal(16)

        m.d.sync += o.valid.eq(0)

        def count(name):
            sig = getattr(self, f"drop_{name}")
            m.d.sync += sig.eq(sig + 1)

        def emit(last, error):
            m.d.sync += [o.valid.eq(1), o.payload.data.eq(beat.data),
                         o.payload.last.eq(last), o.payload.error.eq(error)]
            for name in self.IN_META:
                m.d.sync += getattr(o.payload, name).eq(getattr(beat, name))
            for name, value in self.out_fields(fields).items():
                m.d.sync += getattr(o.payload, name).eq(value)

        checks = self.checks(fields, beat)
        if length is not None:
            checks = checks + [("short", length != 0)]     # a header and nothing else
        with m.FSM():
            with m.State("HEADER"):
                with m.If(i.valid):
                    with m.Switch(index):
                        for k in range(n):
                            with m.Case(k):
                                m.d.sync += hdr.word_select(n - 1 - k, 8).eq(beat.data)
                    self.on_header_byte(m, index, beat.data, index == 0)
                    m.d.sync += index.eq(index + 1)
                    with m.If(beat.last):
                        m.d.sync += index.eq(0)
                        count("short")
                    with m.Elif(index == n - 1):
                        m.next = "FIRST"
            with m.State("FIRST"):
                # The whole header is in registers: decide on the first payload byte.
                with m.If(i.valid):
                    m.d.sync += index.eq(0)
                    passed = Const(1)
                    for name, ok in checks:
                        with m.If(passed & ~ok):
                            count(name)
                        passed = passed & ok
                    with m.If(passed):
                        self._payload_byte(m, emit, count, length, remaining, first=True)
                    with m.Elif(beat.last):
                        m.next = "HEADER"
                    with m.Else():
                        m.next = "DISCARD"
            with m.State("PAYLOAD"):
                with m.If(i.valid):
                    self._payload_byte(m, emit, count, length, remaining, first=False)
            with m.State("PAD"):
                # The payload's last byte waits in o.payload for the frame's end.
                with m.If(i.valid & beat.last):
                    m.d.sync += [o.valid.eq(1), o.payload.error.eq(beat.error)]
                    with m.If(~beat.error):
                        m.d.sync += self.frames_ok.eq(self.frames_ok + 1)
                    m.next = "HEADER"
            with m.State("DISCARD"):
                with m.If(i.valid & beat.last):
                    m.next = "HEADER"
        return m

    def _payload_byte(self, m, emit, count, length, remaining, first):
        i = self.i
        beat = i.payload
        if length is None:
            emit(beat.last, beat.error)
            with m.If(beat.last):
                with m.If(~beat.error):
                    m.d.sync += self.frames_ok.eq(self.frames_ok + 1)
                m.next = "HEADER"
            with m.Else():
                m.next = "PAYLOAD"
            return
        left = length if first else remaining      # bytes of payload still due, this one too
        m.d.sync += remaining.eq(left - 1)
        with m.If(left == 1):
            with m.If(beat.last):
                emit(1, beat.error)
                with m.If(~beat.error):
                    m.d.sync += self.frames_ok.eq(self.frames_ok + 1)
                m.next = "HEADER"
            with m.Else():
                emit(1, 0)
                m.d.sync += self.o.valid.eq(0)     # held until the frame ends (PAD)
                m.next = "PAD"
        with m.Elif(beat.last):
            emit(1, 1)
            count("truncated")
            m.next = "HEADER"
        with m.Else():
            emit(0, 0)
            m.next = "PAYLOAD"
