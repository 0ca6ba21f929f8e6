"""hwconv.rtl.eth.ProtocolEngine in Amaranth's simulator: protocol datagrams built with
hwconv.host.protocol go in as UDPReceivePath would give them, the engine's datagrams out
are decoded with it, and everything is compared with hwconv.host.board.SimulatedBoard
(replies and counters) and hwconv.reference (results, bit for bit)."""
import math

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwconv import reference
from hwconv.host import protocol as p
from hwconv.host.board import SimulatedBoard
from hwconv.rtl.eth.engine import ProtocolEngine
from hwconv.rtl.top import DEFAULT_LANES, DataflowTop

from ..graphs import random_frames, single_node_graph

PEER = {"src_mac": 0x5A5152535455, "src_ip": 0xC0A8010A, "src_port": 40000}
SESSION = 77


def tiny_graph():
    """A 3x3 conv, 2 channels in and 3 out on a 6x6 frame, 8 bits: 2-byte input beats,
    3-byte output beats, 72 bytes in and 48 out."""
    return single_node_graph("conv", (2, 6, 6), outputs=3, bits=8, seed=3)


def tiny_info(graph, chunk=12, slots=2):
    """Chunks of 12 bytes: 6 in, 4 out, so chunk bitmaps and the last-chunk cases show."""
    return p.DeviceInfo.of_graph(graph, slots, chunk)


def msg(type_, frame=0, index=0, count=0, flags=0, payload=b"", session=SESSION):
    return p.encode(p.Header(type_, session, frame, index, count, flags), payload)


def data_msgs(info, frame_id, x, session=SESSION):
    chunks = info.input.split(info.input.pack(x))
    n = len(chunks)
    return [msg(p.MsgType.DATA, frame_id, k, n, p.Flags.LAST if k == n - 1 else 0, c,
                session=session) for k, c in enumerate(chunks)]


WAIT = None        # in a list of datagrams: let the engine finish (WAIT_CYCLES idle)
WAIT_CYCLES = 1500


def run_engine(graph, info, datagrams, *, gap=60, tail=3000, errors=(), lanes=DEFAULT_LANES):
    """Feed ``datagrams`` (bytes, or WAIT; an index in ``errors`` marks that one's last
    byte with ``error``) to a ProtocolEngine; the datagrams it sends and its counters."""
    dut = ProtocolEngine(info, DataflowTop(graph, lanes=lanes))
    out, counters = [], {}

    async def source(ctx):
        await ctx.tick().repeat(5)
        for k, d in enumerate(datagrams):
            if d is WAIT:
                await ctx.tick().repeat(WAIT_CYCLES)
                continue
            for j, byte in enumerate(d):
                last = j == len(d) - 1
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, {"data": byte, "last": last,
                                        "error": last and k in errors,
                                        "length": len(d), "ethertype": 0x800,
                                        "protocol": 17, **PEER})
                await ctx.tick()
            ctx.set(dut.i.valid, 0)
            await ctx.tick().repeat(gap)
        await ctx.tick().repeat(tail)
        for name in p.COUNTER_NAMES + ("drop_error", "drop_busy"):
            counters[name] = ctx.get(getattr(dut, name))

    async def sink(ctx):
        ctx.set(dut.o.ready, 1)
        cur = bytearray()
        async for clk, rst, valid, payload in ctx.tick().sample(dut.o.valid, dut.o.payload):
            if valid:
                if not cur:
                    first = payload
                cur.append(payload.data)
                if payload.last:
                    assert first.length == len(cur), (first.length, len(cur))
                    assert (first.dst_mac, first.dst_ip, first.dst_port) == \
                        (PEER["src_mac"], PEER["src_ip"], PEER["src_port"])
                    out.append(bytes(cur))
                    cur = bytearray()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_process(sink)
    sim.run_until(1e-8 * (sum(WAIT_CYCLES if d is WAIT else len(d) + gap
                              for d in datagrams) + tail + 100))
    return out, counters


def software(graph, info, datagrams, errors=()):
    """What SimulatedBoard answers to the same datagrams (results computed at the end)."""
    board = SimulatedBoard(graph, slots=info.slots, chunk_bytes=info.input.chunk_bytes)
    out = []
    for k, d in enumerate(datagrams):
        if k in errors or d is WAIT:
            continue
        out += [r for r, _ in board.receive(d, "peer")]
        out += [r for r, _ in board.compute()]
    return out, board.counters


def results_of(info, datagrams):
    """{frame: output integers} from RESULT datagrams (every chunk exactly once)."""
    chunks = {}
    for d in datagrams:
        h, payload = p.decode(d)
        if h.type == p.MsgType.RESULT:
            chunks.setdefault(h.frame, {})[h.index] = payload
    return {f: info.output.unpack(b"".join(c[k] for k in sorted(c)))
            for f, c in chunks.items()}


def test_engine_frames_bit_exact_and_as_software():
    graph = tiny_graph()
    info = tiny_info(graph)
    x = random_frames(graph, 3, seed=5)
    want = reference.run(graph, x)
    dgs = [msg(p.MsgType.HELLO)]
    for f in range(3):
        dgs += data_msgs(info, f, x[f])
    dgs += [WAIT, msg(p.MsgType.STATS_REQ)]
    hw, hw_counters = run_engine(graph, info, dgs)
    sw, sw_counters = software(graph, info, dgs)
    hdrs = [p.decode(d)[0] for d in hw]
    assert hdrs[0].type == p.MsgType.INFO and p.DeviceInfo.from_bytes(p.decode(hw[0])[1]) \
        == info
    got = results_of(info, hw)
    assert sorted(got) == [0, 1, 2]
    for f in range(3):
        assert np.array_equal(got[f], want[f]), f
    assert sorted(hw[:-1]) == sorted(sw[:-1])          # every datagram, byte for byte
    hw_stats = p.decode_counters(p.decode(hw[-1])[1])
    sw_stats = p.decode_counters(p.decode(sw[-1])[1])
    assert hw_stats == sw_stats
    assert {k: v for k, v in hw_counters.items() if k in sw_counters} == sw_counters


def malformed_sequence(info, x):
    """Every kind of bad, foreign, duplicated, stale and reordered datagram, a QUERY of
    each kind, and good frames between and after them."""
    d0, d1, d2, d3 = (data_msgs(info, f, x[f]) for f in range(4))
    n_in, n_out = info.input.chunks, info.output.chunks
    good_chunk = info.input.split(info.input.pack(x[1]))[0]
    bad_magic = bytearray(d1[0])
    bad_magic[0] ^= 0xFF
    bad_version = bytearray(d1[0])
    bad_version[2] = 2
    return [
        msg(p.MsgType.DATA, 0, 0, n_in, payload=good_chunk),       # before any HELLO
        msg(p.MsgType.HELLO, session=0),                          # session 0: malformed
        msg(p.MsgType.HELLO, payload=b"x"),                       # HELLO with a payload
        msg(p.MsgType.HELLO),
        msg(p.MsgType.HELLO),                                     # again: INFO again
        bytes(bad_magic), bytes(bad_version),
        d1[0][:3] + bytes([9]) + d1[0][4:],                       # no such type
        d1[0][:3] + bytes([p.MsgType.INFO]) + d1[0][4:],          # a type the board sends
        d1[0][:20],                                               # shorter than a header
        d1[0][:-1],                                               # length says one more
        d1[0] + b"\0",                                            # and one less
        msg(p.MsgType.STATS_REQ, payload=b"\0\0\0\0"),
        msg(p.MsgType.DATA, 1, n_in, n_in, payload=good_chunk),   # index past the frame
        msg(p.MsgType.DATA, 1, 0xFFFFFFFF, n_in, payload=good_chunk),
        msg(p.MsgType.DATA, 1, 0, n_in + 1, payload=good_chunk),  # count is not the frame's
        msg(p.MsgType.DATA, 1, 0, n_in, payload=good_chunk[:-1]),  # a chunk too short
        msg(p.MsgType.DATA, 1, n_in - 1, n_in, payload=good_chunk),  # last chunk too long
        msg(p.MsgType.DATA, 1, 0, n_in, payload=good_chunk, session=SESSION + 1),
        # frame 0 in order, a chunk twice; frame 1 reordered, its LAST early (STATUS)
        d0[0], d0[0], *d0[1:],
        d1[-1], *reversed(d1[:-1]), d1[0],
        WAIT,
        msg(p.MsgType.QUERY, 0, 0, n_out, payload=p.encode_bitmap([True] + [False] *
                                                                  (n_out - 1), n_out)),
        msg(p.MsgType.QUERY, 1, 0, n_out, payload=p.encode_bitmap([True] * n_out, n_out)),
        msg(p.MsgType.QUERY, 5, 0, n_out, payload=p.encode_bitmap([False] * n_out, n_out)),
        msg(p.MsgType.QUERY, 0, 0, n_out, payload=b"\xff" * math.ceil(n_out / 8)),
        msg(p.MsgType.QUERY, 0, 0, n_out + 1, payload=b"\0"),
        # frame 2 takes slot 0 from frame 0; frame 0's chunks are stale then
        *d2, d0[1],
        WAIT,
        # frame 3 with its first chunk marked bad at its end (and sent again), a gap
        d3[0], d3[0], *d3[1:],
        WAIT,
        msg(p.MsgType.STATS_REQ),
    ]


def test_engine_drops_and_counts_as_software():
    """Each bad datagram dropped and counted as SimulatedBoard counts it, every answer
    the same bytes, and the good frames between them bit-exact."""
    graph = tiny_graph()
    info = tiny_info(graph, chunk=30)
    assert (info.input.chunks, info.output.chunks) == (3, 2)
    x = random_frames(graph, 4, seed=7)
    want = reference.run(graph, x)
    dgs = malformed_sequence(info, x)
    err = dgs.index(data_msgs(info, 3, x[3])[0])     # the first of the two
    hw, hw_counters = run_engine(graph, info, dgs, errors=(err,))
    sw, sw_counters = software(graph, info, dgs, errors=(err,))
    got = results_of(info, hw)
    assert sorted(got) == [0, 1, 2, 3]
    for f in range(4):
        assert np.array_equal(got[f], want[f]), f
    assert sorted(hw) == sorted(sw)
    assert {k: v for k, v in hw_counters.items() if k in sw_counters} == sw_counters
    assert (hw_counters["drop_error"], hw_counters["drop_busy"]) == (1, 0)
    c = sw_counters
    assert all(c[f"malformed_{r}"] for r in p.MALFORMED_REASONS), c
    assert all(c[k] for k in ("unexpected", "foreign_session", "duplicates", "stale",
                              "results_resent", "status_sent")), c


def test_engine_answers_requests_back_to_back():
    """Requests closer than their answers take to send wait in the answer queue (4) and
    all get their answer; beyond it they are dropped and counted (``drop_busy``), and the
    next frame is still bit-exact."""
    graph = tiny_graph()
    info = tiny_info(graph)
    x = random_frames(graph, 2, seed=9)
    want = reference.run(graph, x)
    n_out = info.output.chunks
    query = msg(p.MsgType.QUERY, 0, 0, n_out,
                payload=p.encode_bitmap([True] * n_out, n_out))
    dgs = [msg(p.MsgType.HELLO), *data_msgs(info, 0, x[0]), WAIT,
           *[msg(p.MsgType.STATS_REQ), query] * 5, WAIT, *data_msgs(info, 1, x[1])]
    hw, c = run_engine(graph, info, dgs, gap=2)
    kinds = [p.decode(d)[0].type for d in hw]
    answered = kinds.count(p.MsgType.STATS) + kinds.count(p.MsgType.STATUS)
    assert c["drop_busy"] > 0 and answered + c["drop_busy"] == 10, (answered, c)
    assert answered >= 5
    got = results_of(info, hw)
    assert all(np.array_equal(got[f], want[f]) for f in range(2))


def test_engine_new_session_mid_frame_forgets_it():
    """A HELLO of another session while one frame is being computed and the next waits
    its turn: neither is answered, and the new session's frame is bit-exact (the network
    and the queues are reset a cycle after the HELLO is decided, and nothing is taken
    from the queues in that cycle)."""
    graph = single_node_graph("conv", (2, 8, 8), outputs=3, bits=8, seed=4)
    info = tiny_info(graph, chunk=132)          # one chunk a frame, in and out
    x = random_frames(graph, 3, seed=11)
    want = reference.run(graph, x)
    new = SESSION + 1
    dgs = [msg(p.MsgType.HELLO), *data_msgs(info, 0, x[0]), *data_msgs(info, 1, x[1]),
           msg(p.MsgType.HELLO, session=new), *data_msgs(info, 0, x[2], session=new)]
    # One multiplier: about 2,000 cycles a frame, while the next datagrams take 160 each.
    hw, c = run_engine(graph, info, dgs, gap=5, tail=6000, lanes=1)
    sessions = [(p.decode(d)[0].type, p.decode(d)[0].session) for d in hw]
    assert sessions[:2] == [(p.MsgType.INFO, SESSION), (p.MsgType.INFO, new)], sessions
    assert all(s == new for _, s in sessions[1:]), f"an answer of the old session: {sessions}"
    # only the new session's frame went through the network (none of the old was taken)
    assert c["frames_received"] == 3 and c["frames_computed"] == 1, c
    got = results_of(info, hw)
    assert sorted(got) == [0] and np.array_equal(got[0], want[2])


def test_engine_rejected_chunks_leave_the_buffer_alone():
    """A chunk of another session and a duplicate, both carrying other bytes for a chunk
    already held, are dropped before their bytes reach the frame buffer: the frame's
    result is its own."""
    graph = tiny_graph()
    info = tiny_info(graph)
    x = random_frames(graph, 2, seed=13)
    want = reference.run(graph, x)
    good, other = data_msgs(info, 0, x[0]), data_msgs(info, 0, x[1])
    foreign = data_msgs(info, 0, x[1], session=SESSION + 1)
    dgs = [msg(p.MsgType.HELLO), good[0], foreign[0], other[0], *good[1:]]
    hw, c = run_engine(graph, info, dgs)
    assert (c["foreign_session"], c["duplicates"]) == (1, 1), c
    got = results_of(info, hw)
    assert sorted(got) == [0] and np.array_equal(got[0], want[0])
