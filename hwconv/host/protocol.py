"""The hwconv frame protocol over UDP: the one place that says what every byte means.

docs/protocol.md is the prose around these tables (a test checks that its header table
equals :data:`HEADER_FIELDS`).  In short: every datagram is a 24-byte header in network
byte order followed by a payload; a frame's bytes (beats in raster order, each beat's lanes
little-endian, lane 0 in the low bits) travel as DATA chunks of at most
:data:`MAX_PAYLOAD` bytes, and results come back as RESULT chunks.  The host recovers
losses: it sends QUERY for a frame whose result is late, the device answers STATUS with a
bitmap of the input chunks it holds (and resends the RESULT chunks the host lacks), and the
host resends the missing DATA chunks.  Anything malformed is dropped and counted.
"""
from __future__ import annotations

import enum
import functools
import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from ..fixed import OVERFLOWS, ROUNDINGS, FixedType
from ..sim.packing import beats_to_frame, frame_to_beats

__all__ = [
    "MAGIC", "VERSION", "HEADER_FIELDS", "HEADER_SIZE", "MTU", "MAX_DATAGRAM", "MAX_PAYLOAD",
    "CHUNK_BYTES", "MAX_CHUNKS", "MsgType", "Flags", "FrameState", "Header", "Malformed",
    "MALFORMED_REASONS", "COUNTER_NAMES", "TensorFormat", "DeviceInfo", "encode", "decode",
    "encode_bitmap", "decode_bitmap", "encode_counters", "decode_counters", "design_id",
    "HOST_TYPES", "DEVICE_TYPES",
]

MAGIC = 0x4843          # "HC" on the wire
VERSION = 1
MTU = 1500              # Ethernet payload; every datagram fits one unfragmented IPv4 packet
MAX_DATAGRAM = MTU - 20 - 8     # minus the IPv4 (no options) and UDP headers: 1472


@dataclass(frozen=True)
class Field:
    """One header field: ``offset`` bytes into the datagram, struct ``fmt`` (big-endian)."""

    name: str
    offset: int
    fmt: str
    meaning: str

    @property
    def size(self) -> int:
        return struct.calcsize(">" + self.fmt)


#: The header, in the order it is on the wire. Every multi-byte field is big-endian.
HEADER_FIELDS = (
    Field("magic", 0, "H", "0x4843 (\"HC\"); anything else is dropped"),
    Field("version", 2, "B", "1; anything else is dropped"),
    Field("type", 3, "B", "message type (MsgType)"),
    Field("flags", 4, "H", "bit 0 LAST: the frame's last chunk; other bits 0, ignored"),
    Field("session", 6, "H", "chosen by the host in HELLO; other sessions are dropped"),
    Field("frame", 8, "I", "frame id, counting up from 0 in a session, modulo 2**32"),
    Field("index", 12, "I", "chunk index (DATA, RESULT); 0 otherwise"),
    Field("count", 16, "I", "chunks in the frame (DATA, RESULT), bits in the bitmap "
          "(QUERY, STATUS), counters (STATS); 0 otherwise"),
    Field("length", 20, "H", "payload bytes after the header; must equal the datagram's rest"),
    Field("reserved", 22, "H", "0 when sent, ignored when received"),
)
_HEADER = struct.Struct(">" + "".join(f.fmt for f in HEADER_FIELDS))
HEADER_SIZE = _HEADER.size                          # 24
MAX_PAYLOAD = MAX_DATAGRAM - HEADER_SIZE            # 1448
#: DATA and RESULT payload size the simulated board announces: a multiple of every beat
#: size up to 6 bytes and of 32, so chunks hold whole beats and split on word boundaries.
CHUNK_BYTES = 1440
#: Chunks a frame may have, so that a bitmap of all of them fits one datagram (1024 bytes).
MAX_CHUNKS = 8192

assert HEADER_SIZE == 24 and all(
    a.offset + a.size == b.offset for a, b in zip(HEADER_FIELDS, HEADER_FIELDS[1:]))


class MsgType(enum.IntEnum):
    """Message types. Host to device: HELLO, DATA, QUERY, STATS_REQ; the others back."""

    HELLO = 1       # start (or rejoin) a session; answered by INFO
    INFO = 2        # the device's input and output formats, slots, design id
    DATA = 3        # one chunk of an input frame
    QUERY = 4       # "where is frame F?": payload = bitmap of RESULT chunks the host holds
    STATUS = 5      # the frame's state; payload = bitmap of DATA chunks the device holds
    RESULT = 6      # one chunk of an output frame
    STATS_REQ = 7   # ask for the counters
    STATS = 8       # the device's counters, u32 each, in COUNTER_NAMES order


HOST_TYPES = frozenset({MsgType.HELLO, MsgType.DATA, MsgType.QUERY, MsgType.STATS_REQ})
DEVICE_TYPES = frozenset({MsgType.INFO, MsgType.STATUS, MsgType.RESULT, MsgType.STATS})


class Flags(enum.IntFlag):
    LAST = 1        # DATA / RESULT: this is chunk count - 1


class FrameState(enum.IntEnum):
    """First payload byte of STATUS."""

    UNKNOWN = 0     # the device holds no such frame (never seen, or its slot was reused)
    RECEIVING = 1   # some DATA chunks are missing: the bitmap says which are held
    COMPUTING = 2   # all DATA chunks held, result not ready
    DONE = 3        # result ready; RESULT chunks the QUERY lacked were resent


#: Why a datagram is malformed; each has a device counter ``malformed_<reason>``.
MALFORMED_REASONS = ("short", "magic", "version", "type", "length", "field")

#: The device's counters, in the order of the STATS payload.
COUNTER_NAMES = (
    "rx_datagrams",        # every datagram received, good or bad
    "tx_datagrams",
    "malformed_short",     # shorter than the header, or longer than MAX_DATAGRAM
    "malformed_magic",
    "malformed_version",
    "malformed_type",      # a type code that does not exist
    "malformed_length",    # header length differs from the bytes that came
    "malformed_field",     # an index, count, length or bitmap the frame formats forbid
    "unexpected",          # a well-formed message the device never receives (INFO, ...)
    "foreign_session",     # session other than the current one
    "duplicates",          # a DATA chunk already held
    "stale",               # a DATA chunk of a frame older than its slot's
    "frames_received",     # frames whose chunks all arrived
    "frames_computed",
    "results_resent",      # RESULT chunks sent again on QUERY
    "status_sent",
)


class Malformed(ValueError):
    """A datagram that breaks the format; ``reason`` is one of MALFORMED_REASONS."""

    def __init__(self, reason: str, message: str):
        assert reason in MALFORMED_REASONS, reason
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Header:
    type: MsgType
    session: int
    frame: int = 0
    index: int = 0
    count: int = 0
    flags: int = 0
    length: int = 0             # filled in by encode()


def encode(header: Header, payload: bytes = b"") -> bytes:
    """One datagram: the header (its length set from the payload) and the payload."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return _HEADER.pack(MAGIC, VERSION, int(header.type), header.flags, header.session,
                        header.frame & 0xFFFFFFFF, header.index, header.count,
                        len(payload), 0) + bytes(payload)


def decode(datagram: bytes) -> tuple[Header, bytes]:
    """Header and payload of a datagram, or :class:`Malformed` saying what is wrong.

    Checks the header only; whether index, count and payload fit the frame formats is
    the receiver's business (it knows them)."""
    n = len(datagram)
    if n < HEADER_SIZE or n > MAX_DATAGRAM:
        raise Malformed("short", f"datagram of {n} bytes; a message has {HEADER_SIZE} to "
                        f"{MAX_DATAGRAM}")
    magic, version, type_, flags, session, frame, index, count, length, _ = \
        _HEADER.unpack_from(datagram)
    if magic != MAGIC:
        raise Malformed("magic", f"magic 0x{magic:04x}, not 0x{MAGIC:04x}")
    if version != VERSION:
        raise Malformed("version", f"version {version}, not {VERSION}")
    try:
        type_ = MsgType(type_)
    except ValueError:
        raise Malformed("type", f"unknown message type {type_}") from None
    if length != n - HEADER_SIZE:
        raise Malformed("length", f"header says {length} payload bytes, {n - HEADER_SIZE} came")
    return (Header(type_, session, frame, index, count, flags, length),
            bytes(datagram[HEADER_SIZE:]))


# -- bitmaps ----------------------------------------------------------------------------

def encode_bitmap(held, n: int) -> bytes:
    """``n`` booleans as ceil(n/8) bytes, bit i of byte j = chunk 8j + i (LSB first)."""
    bits = np.zeros(8 * math.ceil(n / 8), dtype=np.uint8)
    bits[:n] = np.asarray(held, dtype=bool)[:n]
    return np.packbits(bits, bitorder="little").tobytes()


def decode_bitmap(data: bytes, n: int) -> np.ndarray:
    """The inverse of encode_bitmap; Malformed unless ``data`` is exactly ceil(n/8) bytes
    with the padding bits zero."""
    if n > MAX_CHUNKS or len(data) != math.ceil(n / 8):
        raise Malformed("field", f"bitmap of {len(data)} bytes for {n} chunks")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    if bits[n:].any():
        raise Malformed("field", "bitmap has bits set beyond its chunk count")
    return bits[:n].astype(bool)


def encode_counters(values) -> bytes:
    return struct.pack(f">{len(values)}I", *(int(v) & 0xFFFFFFFF for v in values))


def decode_counters(data: bytes) -> dict[str, int]:
    """STATS payload to {name: value}; counters past COUNTER_NAMES are named by position."""
    if len(data) % 4:
        raise Malformed("field", f"STATS payload of {len(data)} bytes is not whole u32s")
    values = struct.unpack(f">{len(data) // 4}I", data)
    names = list(COUNTER_NAMES) + [f"counter_{k}" for k in range(len(COUNTER_NAMES),
                                                                  len(values))]
    return dict(zip(names, values))


# -- frame formats ----------------------------------------------------------------------

_TENSOR = struct.Struct(">BBhBBBxIIIHH")       # 24 bytes, see docs/protocol.md
_INFO = struct.Struct(">IHH")                   # design id, slots, reserved


@dataclass(frozen=True)
class TensorFormat:
    """How one frame (input or output) travels: its shape, its fixed-point type, and the
    chunk size.  A (C, H, W) map is H*W beats of C lanes; a (K,) vector is one beat of K
    lanes (as hwconv.rtl.top.stream_shapes has it).  A beat of ``lanes * width`` bits takes
    ``beat_bytes`` bytes, little-endian, the unused high bits of its last byte zero."""

    shape: tuple[int, ...]
    fixed: FixedType
    chunk_bytes: int = CHUNK_BYTES

    def __post_init__(self):
        if len(self.shape) not in (1, 3) or any(not isinstance(d, int) or d < 1
                                                for d in self.shape):
            raise ValueError(f"a frame shape is (C, H, W) or (K,) of positive integers, "
                             f"not {self.shape!r}")
        if not 1 <= self.chunk_bytes <= MAX_PAYLOAD:
            raise ValueError(f"chunk_bytes must be from 1 to {MAX_PAYLOAD}, not "
                             f"{self.chunk_bytes!r}")
        if self.chunks > MAX_CHUNKS:
            raise ValueError(f"a frame of {self.frame_bytes:,} bytes needs {self.chunks:,} "
                             f"chunks of {self.chunk_bytes}; the protocol allows "
                             f"{MAX_CHUNKS:,} ({MAX_CHUNKS * self.chunk_bytes:,} bytes)")

    @functools.cached_property
    def lanes(self) -> int:
        return self.shape[0]

    @functools.cached_property
    def beats(self) -> int:
        return self.shape[1] * self.shape[2] if len(self.shape) == 3 else 1

    @functools.cached_property
    def beat_bytes(self) -> int:
        return math.ceil(self.lanes * self.fixed.width / 8)

    @functools.cached_property
    def frame_bytes(self) -> int:
        return self.beats * self.beat_bytes

    @functools.cached_property
    def chunks(self) -> int:
        return math.ceil(self.frame_bytes / self.chunk_bytes)

    def chunk_length(self, index: int) -> int:
        """Payload bytes of chunk ``index``: chunk_bytes, except the last."""
        if not 0 <= index < self.chunks:
            raise ValueError(f"chunk {index} of a {self.chunks}-chunk frame")
        return min(self.chunk_bytes, self.frame_bytes - index * self.chunk_bytes)

    def split(self, data: bytes) -> list[bytes]:
        """A frame's bytes cut into its chunks."""
        assert len(data) == self.frame_bytes
        c = self.chunk_bytes
        return [bytes(data[k * c:(k + 1) * c]) for k in range(self.chunks)]

    # Packing follows hwconv.sim.packing (the definition of a beat); a numpy fast path
    # for byte-multiple widths is checked against it by tests/host/test_protocol.py.
    def pack(self, frame) -> bytes:
        """One frame of integers (of ``shape``) to its bytes on the wire."""
        frame = np.asarray(frame, dtype=np.int64)
        if frame.shape != self.shape:
            raise ValueError(f"frame of shape {frame.shape}, format is {self.shape}")
        w = self.fixed.width
        if w in (8, 16, 32):
            lanes = frame.reshape(self.lanes, -1).T        # (beats, lanes)
            return np.ascontiguousarray(lanes).astype(f"<u{w // 8}", casting="unsafe").tobytes()
        n = self.beat_bytes
        return b"".join(b.to_bytes(n, "little") for b in frame_to_beats(frame, w))

    def unpack(self, data: bytes) -> np.ndarray:
        """A frame's bytes to its integers (sign-extended when the type is signed)."""
        if len(data) != self.frame_bytes:
            raise ValueError(f"{len(data)} bytes, a frame has {self.frame_bytes}")
        w = self.fixed.width
        if w in (8, 16, 32):
            kind = "i" if self.fixed.signed else "u"
            lanes = np.frombuffer(data, dtype=f"<{kind}{w // 8}").astype(np.int64)
            return lanes.reshape(self.beats, self.lanes).T.reshape(self.shape).copy()
        n, mask = self.beat_bytes, (1 << (self.lanes * w)) - 1
        beats = [int.from_bytes(data[k * n:(k + 1) * n], "little") & mask
                 for k in range(self.beats)]
        out = beats_to_frame(beats, self.shape, w)           # sign-extends every lane
        return out if self.fixed.signed else out & ((1 << w) - 1)

    # -- on the wire (INFO) --

    def to_bytes(self) -> bytes:
        dims = tuple(self.shape) + (1,) * (3 - len(self.shape))
        f = self.fixed
        return _TENSOR.pack(len(self.shape), f.width, f.frac, int(f.signed),
                            ROUNDINGS.index(f.rounding), OVERFLOWS.index(f.overflow),
                            *dims, self.chunk_bytes, 0)

    @classmethod
    def from_bytes(cls, data: bytes) -> "TensorFormat":
        rank, width, frac, signed, rnd, ovf, d0, d1, d2, chunk, _ = _TENSOR.unpack(data)
        if rank not in (1, 3) or (rank == 1 and (d1, d2) != (1, 1)) or signed > 1 \
                or rnd >= len(ROUNDINGS) or ovf >= len(OVERFLOWS):
            raise Malformed("field", "INFO holds an impossible frame format")
        try:
            fixed = FixedType(width, frac, bool(signed), ROUNDINGS[rnd], OVERFLOWS[ovf])
            return cls((d0, d1, d2)[:rank], fixed, chunk)
        except ValueError as e:
            raise Malformed("field", f"INFO holds an impossible frame format: {e}") from None


@dataclass(frozen=True)
class DeviceInfo:
    """The INFO payload: what the device computes and how many frames it holds at once."""

    input: TensorFormat
    output: TensorFormat
    slots: int
    design_id: int = 0

    def to_bytes(self) -> bytes:
        return _INFO.pack(self.design_id, self.slots, 0) + self.input.to_bytes() + \
            self.output.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> "DeviceInfo":
        if len(data) != _INFO.size + 2 * _TENSOR.size:
            raise Malformed("field", f"INFO payload of {len(data)} bytes, not "
                            f"{_INFO.size + 2 * _TENSOR.size}")
        design, slots, _ = _INFO.unpack_from(data)
        if slots < 1:
            raise Malformed("field", "INFO says the device holds no frames")
        t = _INFO.size
        return cls(TensorFormat.from_bytes(data[t:t + _TENSOR.size]),
                   TensorFormat.from_bytes(data[t + _TENSOR.size:]), slots, design)

    @classmethod
    def of_graph(cls, graph, slots: int, chunk_bytes: int = CHUNK_BYTES) -> "DeviceInfo":
        out = graph.shape(graph.output.name)
        return cls(TensorFormat(tuple(graph.input.shape), graph.input.fixed, chunk_bytes),
                   TensorFormat(tuple(out), graph.output.fixed, chunk_bytes), slots,
                   design_id(graph))


def design_id(graph) -> int:
    """CRC-32 of a quantized graph's structure, types and weights: tells designs apart."""
    crc = zlib.crc32(repr(sorted(graph.to_json().items())).encode())
    for node in graph.nodes:
        for name, arr in sorted(node.params().items()):
            crc = zlib.crc32(np.ascontiguousarray(arr).tobytes(), crc)
    return crc
