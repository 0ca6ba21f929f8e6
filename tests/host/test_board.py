"""The simulated board's protocol state machine, in-process: every drop counted, nothing
answered to a bad datagram, nothing written outside a frame's buffer."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwconv import reference
from hwconv.host import protocol as p
from hwconv.host.board import SimulatedBoard

S = 77     # the session the tests open


@pytest.fixture
def board(lenet):
    b = SimulatedBoard(lenet.graph, slots=4)
    (info, _), = b.receive(p.encode(p.Header(p.MsgType.HELLO, S)), "peer")
    assert p.decode(info)[0].type == p.MsgType.INFO
    return b


def chunks(board, x_int, frame, session=S):
    fmt = board.info.input
    data = fmt.split(fmt.pack(x_int))
    return [p.encode(p.Header(p.MsgType.DATA, session, frame, k, len(data)), d)
            for k, d in enumerate(data)]


def decoded(replies):
    return [p.decode(d) for d, _ in replies]


def only_counters(board, **expected):
    """The counters that are not zero (besides rx/tx totals) are exactly ``expected``."""
    got = {k: v for k, v in board.counters.items() if v and k not in
           ("rx_datagrams", "tx_datagrams")}
    assert got == expected


def test_a_frame_in_results_out(board, lenet, digits):
    x = lenet.quantize_input(digits["test_x"][:1])
    for c in chunks(board, x[0], 0):
        assert board.receive(c, "peer") == []
    assert board.pending == 1
    out = board.compute()
    (h, payload), = decoded(out)
    assert (h.type, h.frame, h.index, h.count, h.flags) == (p.MsgType.RESULT, 0, 0, 1,
                                                             p.Flags.LAST)
    assert np.array_equal(board.info.output.unpack(payload), reference.run(lenet.graph, x)[0])
    assert out[0][1] == "peer"
    only_counters(board, frames_received=1, frames_computed=1)


def test_missing_chunk_status_and_resend(board, lenet, digits):
    x = lenet.quantize_input(digits["test_x"][:1])[0]
    first, last = chunks(board, x, 5)
    (h, payload), = decoded(board.receive(last, "peer"))      # the last came, the first did not
    assert h.type == p.MsgType.STATUS and h.frame == 5 and h.count == 2
    assert payload[0] == p.FrameState.RECEIVING
    assert p.decode_bitmap(payload[4:], 2).tolist() == [False, True]
    board.receive(first, "peer")
    assert len(board.compute()) == 1
    # QUERY with the result held: STATUS DONE and nothing resent
    q = p.encode(p.Header(p.MsgType.QUERY, S, 5, 0, 1), p.encode_bitmap([True], 1))
    (h, payload), = decoded(board.receive(q, "peer"))
    assert payload[0] == p.FrameState.DONE
    # QUERY without it: STATUS and the RESULT chunk again
    q = p.encode(p.Header(p.MsgType.QUERY, S, 5, 0, 1), p.encode_bitmap([False], 1))
    assert [h.type for h, _ in decoded(board.receive(q, "peer"))] == [p.MsgType.STATUS,
                                                                      p.MsgType.RESULT]
    assert board.counters["results_resent"] == 1


def test_unknown_frame_status(board):
    q = p.encode(p.Header(p.MsgType.QUERY, S, 9, 0, 1), b"\x00")
    (h, payload), = decoded(board.receive(q, "peer"))
    assert h.count == 0 and payload == bytes([p.FrameState.UNKNOWN, 0, 0, 0])


def test_duplicates_and_stale_are_dropped(board, lenet, digits):
    x = lenet.quantize_input(digits["test_x"][:1])[0]
    a, b = chunks(board, x, 1)
    board.receive(a, "peer")
    assert board.receive(a, "peer") == []                      # duplicate
    board.receive(b, "peer")
    board.receive(b, "peer")                                   # frame complete: duplicate
    board.compute()
    board.receive(chunks(board, x, 5)[0], "peer")              # frame 5 takes slot 1
    assert board.receive(chunks(board, x, 1)[0], "peer") == []  # frame 1 is stale now
    only_counters(board, duplicates=2, stale=1, frames_received=1, frames_computed=1)


def test_new_session_forgets_frames_but_a_repeated_hello_does_not(board, lenet, digits):
    x = lenet.quantize_input(digits["test_x"][:1])[0]
    a, b = chunks(board, x, 0)
    board.receive(a, "peer")
    board.receive(p.encode(p.Header(p.MsgType.HELLO, S)), "peer")    # same session again
    board.receive(b, "peer")
    assert board.pending == 1
    board.receive(p.encode(p.Header(p.MsgType.HELLO, S + 1)), "peer")
    assert board.pending == 0 and board.compute() == []
    assert board.receive(a, "peer") == []                      # old session: foreign
    only_counters(board, foreign_session=1, frames_received=1)


def test_data_before_any_hello_is_foreign(lenet, digits):
    b = SimulatedBoard(lenet.graph)
    x = lenet.quantize_input(digits["test_x"][:1])[0]
    assert b.receive(chunks(b, x, 0, session=0)[0]) == []
    only_counters(b, foreign_session=1)


def bad_data(board, x):
    """DATA chunks whose fields the input format forbids, one per way of being wrong."""
    fmt = board.info.input
    good = fmt.split(fmt.pack(x))
    H = p.Header
    return {
        "count too big": p.encode(H(p.MsgType.DATA, S, 0, 0, 3), good[0]),
        "count zero": p.encode(H(p.MsgType.DATA, S, 0, 0, 0), good[0]),
        "index past count": p.encode(H(p.MsgType.DATA, S, 0, 2, 2), good[1]),
        "index huge": p.encode(H(p.MsgType.DATA, S, 0, 2**32 - 1, 2), good[1]),
        "first chunk short": p.encode(H(p.MsgType.DATA, S, 0, 0, 2), good[0][:-1]),
        "last chunk long": p.encode(H(p.MsgType.DATA, S, 0, 1, 2), good[1] + b"\x00"),
        "last chunk full size": p.encode(H(p.MsgType.DATA, S, 0, 1, 2), good[0]),
        "query bitmap long": p.encode(H(p.MsgType.QUERY, S, 0, 0, 1), b"\x00\x00"),
        "query count wrong": p.encode(H(p.MsgType.QUERY, S, 0, 0, 9), b"\x00\x00"),
        "query padding set": p.encode(H(p.MsgType.QUERY, S, 0, 0, 1), b"\x02"),
        "query index": p.encode(H(p.MsgType.QUERY, S, 0, 1, 1), b"\x00"),
        "hello payload": p.encode(H(p.MsgType.HELLO, S), b"x"),
        "hello session 0": p.encode(H(p.MsgType.HELLO, 0)),
        "stats_req payload": p.encode(H(p.MsgType.STATS_REQ, S), b"x"),
    }


def test_each_bad_field_is_dropped_and_counted(board, lenet, digits):
    x = lenet.quantize_input(digits["test_x"][:1])[0]
    cases = bad_data(board, x)
    for name, d in cases.items():
        assert board.receive(d, "peer") == [], name
    only_counters(board, malformed_field=len(cases))
    assert all(s is None for s in board.slots)                 # nothing was written


def test_each_bad_header_is_dropped_and_counted(board):
    good = p.encode(p.Header(p.MsgType.STATS_REQ, S))
    cases = {
        "malformed_short": [b"", good[:23], bytes(2000)],
        "malformed_magic": [b"CH" + good[2:], b"\x00" * 24],
        "malformed_version": [good[:2] + b"\x00" + good[3:], good[:2] + b"\x02" + good[3:]],
        "malformed_type": [good[:3] + b"\x00" + good[4:], good[:3] + b"\xff" + good[4:]],
        "malformed_length": [good + b"x", good[:21] + b"\x05" + good[22:]],
        "unexpected": [p.encode(p.Header(t, S)) for t in p.DEVICE_TYPES],
    }
    for counter, datagrams in cases.items():
        for d in datagrams:
            assert board.receive(d, "peer") == []
    only_counters(board, **{k: len(v) for k, v in cases.items()})


def test_stats_reports_the_counters(board):
    board.receive(b"junk", "peer")
    (h, payload), = decoded(board.receive(p.encode(p.Header(p.MsgType.STATS_REQ, 0)), "x"))
    got = p.decode_counters(payload)
    assert h.count == len(p.COUNTER_NAMES) and got["malformed_short"] == 1
    assert got["rx_datagrams"] == 3      # HELLO, junk, STATS_REQ


def mutate(datagram: bytes, draw) -> bytes:
    """Flip, cut, extend or rewrite a header field of a good datagram."""
    how = draw(st.sampled_from(["flip", "cut", "extend", "field"]))
    d = bytearray(datagram)
    if how == "flip":
        i = draw(st.integers(0, len(d) - 1))
        d[i] ^= 1 << draw(st.integers(0, 7))
    elif how == "cut":
        d = d[:draw(st.integers(0, len(d) - 1))]
    elif how == "extend":
        d += draw(st.binary(min_size=1, max_size=64))
    else:
        f = draw(st.sampled_from(p.HEADER_FIELDS))
        v = draw(st.integers(0, 2 ** (8 * f.size) - 1))
        d[f.offset:f.offset + f.size] = v.to_bytes(f.size, "big")
    return bytes(d)


class Rig:
    """The board under fuzzing, one good frame and its expected output (a short repr keeps
    hypothesis's reports readable)."""

    def __init__(self, board, graph, x):
        self.board, self.x = board, x
        self.expected = reference.run(graph, x[None])[0]
        self.good = chunks(board, x, 3) + [
            p.encode(p.Header(p.MsgType.QUERY, S, 3, 0, 1), b"\x00"),
            p.encode(p.Header(p.MsgType.HELLO, S)), p.encode(p.Header(p.MsgType.STATS_REQ, S))]

    def __repr__(self):
        return "Rig(LeNet board)"


@pytest.fixture
def rig(board, lenet, digits):
    return Rig(board, lenet.graph, lenet.quantize_input(digits["test_x"][:1])[0])


@given(data=st.data())
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzzed_datagrams_never_break_the_board(rig, data):
    """Random bytes and mutated good datagrams: never an exception, every datagram
    counted, never a reply to a malformed one; then a good frame still comes out exact."""
    board = rig.board
    n = data.draw(st.integers(0, 20), label="datagrams")
    before = board.counters["rx_datagrams"]
    for _ in range(n):
        kind = data.draw(st.sampled_from(["random", "good", "mutated"]))
        if kind == "random":
            d = data.draw(st.binary(max_size=1600))
        else:
            d = data.draw(st.sampled_from(rig.good))
            if kind == "mutated":
                d = mutate(d, data.draw)
        malformed = sum(v for k, v in board.counters.items() if k.startswith("malformed"))
        replies = board.receive(d, "peer")
        if sum(v for k, v in board.counters.items() if k.startswith("malformed")) > malformed:
            assert replies == []
        for r, _ in replies:
            assert len(r) <= p.MAX_DATAGRAM and p.decode(r)[0].type in p.DEVICE_TYPES
        board.compute()
    assert board.counters["rx_datagrams"] == before + n
    # The next good frame, in a fresh session, still comes out bit-exact.
    session = (board.session % 0xFFFF) + 1
    board.receive(p.encode(p.Header(p.MsgType.HELLO, session)), "peer")
    for c in chunks(board, rig.x, 0, session=session):
        board.receive(c, "peer")
    (h, payload), = decoded(board.compute())
    assert np.array_equal(board.info.output.unpack(payload), rig.expected)
