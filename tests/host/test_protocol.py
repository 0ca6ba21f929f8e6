"""The wire format: header table, round trips, frame packing against hwconv.sim.packing."""
import math
import pathlib
import re
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwconv.fixed import FixedType
from hwconv.host import protocol as p
from hwconv.sim.packing import beats_to_frame, frame_to_beats

DOC = pathlib.Path(__file__).parents[2] / "docs" / "protocol.md"


def test_doc_header_table_is_the_code():
    rows = re.findall(r"^\| (\d+) \| (\d+) \| (\w+) \| (.+) \|$", DOC.read_text(), re.M)
    header = [r for r in rows if r[2] in {f.name for f in p.HEADER_FIELDS}][:len(p.HEADER_FIELDS)]
    assert [(int(o), int(s), n, m) for o, s, n, m in header] == \
        [(f.offset, f.size, f.name, f.meaning) for f in p.HEADER_FIELDS]
    assert p.HEADER_SIZE == 24 and p.MAX_DATAGRAM == 1472 and p.MAX_PAYLOAD == 1448


def test_doc_names_every_counter_in_order():
    text = " ".join(DOC.read_text().split())
    assert ", ".join(f"`{n}`" for n in p.COUNTER_NAMES) in text


def test_header_bytes_are_big_endian():
    d = p.encode(p.Header(p.MsgType.DATA, 0x1234, 0x01020304, 5, 6, p.Flags.LAST), b"ab")
    assert d == bytes.fromhex("4843 01 03 0001 1234 01020304 00000005 00000006 0002 0000") \
        + b"ab"


@given(type_=st.sampled_from(list(p.MsgType)), session=st.integers(0, 0xFFFF),
       frame=st.integers(0, 2**32 - 1), index=st.integers(0, 2**32 - 1),
       count=st.integers(0, 2**32 - 1), flags=st.integers(0, 0xFFFF),
       payload=st.binary(max_size=p.MAX_PAYLOAD))
@settings(max_examples=200, deadline=None)
def test_encode_decode_round_trip(type_, session, frame, index, count, flags, payload):
    h = p.Header(type_, session, frame, index, count, flags)
    got, body = p.decode(p.encode(h, payload))
    assert got == p.Header(type_, session, frame, index, count, flags, len(payload))
    assert body == payload


@pytest.mark.parametrize("datagram,reason", [
    (b"", "short"),
    (b"HC\x01\x03" + bytes(19), "short"),                    # 23 bytes
    (bytes(p.MAX_DATAGRAM + 1), "short"),
    (b"\x00\x00" + bytes(22), "magic"),
    (b"HC\x02\x01" + bytes(20), "version"),
    (b"HC\x01\x00" + bytes(20), "type"),
    (b"HC\x01\x09" + bytes(20), "type"),
    (b"HC\x01\x01" + bytes(16) + b"\x00\x01\x00\x00", "length"),  # says 1, has 0
    (b"HC\x01\x01" + bytes(20) + b"x", "length"),                 # says 0, has 1
])
def test_decode_names_what_is_wrong(datagram, reason):
    with pytest.raises(p.Malformed) as e:
        p.decode(datagram)
    assert e.value.reason == reason


@given(st.lists(st.booleans(), max_size=100))
def test_bitmap_round_trip(bits):
    data = p.encode_bitmap(bits, len(bits))
    assert len(data) == math.ceil(len(bits) / 8)
    assert p.decode_bitmap(data, len(bits)).tolist() == bits


def test_bitmap_is_lsb_first_and_strict():
    assert p.encode_bitmap([1, 0, 0, 0, 0, 0, 0, 0, 0, 1], 10) == b"\x01\x02"
    with pytest.raises(p.Malformed):
        p.decode_bitmap(b"\x01\x04", 10)          # a padding bit set
    with pytest.raises(p.Malformed):
        p.decode_bitmap(b"\x01", 10)              # too short


formats = st.builds(
    lambda rank, dims, width, frac, signed, chunk: p.TensorFormat(
        tuple(dims[:rank]), FixedType(width, frac, signed), chunk),
    st.sampled_from([1, 3]), st.lists(st.integers(1, 7), min_size=3, max_size=3),
    st.sampled_from([1, 3, 8, 12, 16, 17, 24, 32, 48]), st.integers(-4, 20), st.booleans(),
    st.integers(1, p.MAX_PAYLOAD))


@given(fmt=formats, seed=st.integers(0, 2**32 - 1))
@settings(max_examples=300, deadline=None)
def test_pack_is_the_stream_packing(fmt, seed):
    """Frame bytes are hwconv.sim.packing's beats, little-endian, beat_bytes each; the
    numpy fast path and the general path give the same bytes."""
    f = fmt.fixed
    x = np.random.default_rng(seed).integers(f.min_int, f.max_int + 1, fmt.shape)
    data = fmt.pack(x)
    assert len(data) == fmt.frame_bytes == fmt.beats * math.ceil(fmt.lanes * f.width / 8)
    beats = frame_to_beats(x, f.width)
    assert data == b"".join(b.to_bytes(fmt.beat_bytes, "little") for b in beats)
    back = fmt.unpack(data)
    assert back.shape == fmt.shape and np.array_equal(back, x)
    if f.signed:
        assert np.array_equal(back, beats_to_frame(beats, fmt.shape, f.width))
    chunks = fmt.split(data)
    assert len(chunks) == fmt.chunks and b"".join(chunks) == data
    assert [len(c) for c in chunks] == [fmt.chunk_length(k) for k in range(fmt.chunks)]
    assert all(len(c) <= p.MAX_PAYLOAD for c in chunks)


def test_pack_lane_zero_in_low_bits():
    fmt = p.TensorFormat((2, 1, 2), FixedType(12, 0))
    # pixel 0: lanes (1, -1) -> 0xFFF001 in 3 bytes; pixel 1: (0x123, 0) -> 0x000123
    x = np.array([[[1, 0x123]], [[-1, 0]]])
    assert fmt.pack(x) == bytes([0x01, 0xF0, 0xFF, 0x23, 0x01, 0x00])


def test_unpack_ignores_unused_high_bits():
    fmt = p.TensorFormat((1, 1, 1), FixedType(12, 0))
    assert fmt.unpack(b"\xff\xf7").tolist() == [[[0x7FF]]]


def test_info_round_trip_and_checks(lenet):
    info = p.DeviceInfo.of_graph(lenet.graph, slots=16)
    assert p.DeviceInfo.from_bytes(info.to_bytes()) == info
    assert info.input.shape == (1, 28, 28) and info.input.chunks == 2
    assert info.output.shape == (10,) and info.output.chunks == 1
    assert info.output.frame_bytes == 20
    bad = bytearray(info.to_bytes())
    bad[8] = 2                                    # input rank 2
    with pytest.raises(p.Malformed):
        p.DeviceInfo.from_bytes(bytes(bad))
    with pytest.raises(p.Malformed):
        p.DeviceInfo.from_bytes(info.to_bytes()[:-1])


def test_formats_refuse_frames_beyond_the_bitmap():
    with pytest.raises(ValueError, match="8,192"):
        p.TensorFormat((3, 2000, 2000), FixedType(16, 8))


def test_counters_round_trip():
    values = list(range(len(p.COUNTER_NAMES))) + [7]
    got = p.decode_counters(p.encode_counters(values))
    assert list(got.values()) == values
    assert got["rx_datagrams"] == 0 and got[f"counter_{len(p.COUNTER_NAMES)}"] == 7
    assert struct.unpack(">I", p.encode_counters([2**32 + 5])) == (5,)
