"""hwconv.rtl.eth.StreamCDC in Amaranth's simulator, two clocks: the transmit stream from
the core clock (200 MHz) to GMII's (125 MHz) under random stalls on both sides; the
receive stream from GMII's clock into the core's at line rate, never overflowing; and,
into a clock too slow for it, overflowing: every frame still ends, the cut ones marked
``error`` and counted, the others exact."""
import random

from amaranth import ClockDomain, Module
from amaranth.sim import Simulator

from hwconv.rtl.eth.cdc import StreamCDC
from hwconv.rtl.eth.common import frame_stream, tx_stream


def simulate(dut, w_period, r_period, source, sink, until=None):
    """``source`` and ``sink`` testbenches; with ``until`` (seconds), ``sink`` is a
    process that never ends."""
    m = Module()
    m.domains.eth = ClockDomain()
    m.domains.sync = ClockDomain()
    m.submodules.dut = dut
    sim = Simulator(m)
    sim.add_clock(w_period, domain=dut.w_domain)
    sim.add_clock(r_period, domain=dut.r_domain)
    sim.add_testbench(source)
    if until is None:
        sim.add_testbench(sink)
        sim.run()
    else:
        sim.add_process(sink)
        sim.run_until(until)


def frames_of(rng, n):
    return [bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 60))) for _ in range(n)]


def test_tx_stream_core_to_gmii_under_stalls():
    rng = random.Random(1)
    sent = frames_of(rng, 30)
    dut = StreamCDC(tx_stream({"dst_port": 16}), depth=8, w_domain="sync", r_domain="eth")
    got = []

    async def source(ctx):
        for k, frame in enumerate(sent):
            for j, byte in enumerate(frame):
                while rng.random() < 0.3:
                    ctx.set(dut.i.valid, 0)
                    await ctx.tick("sync")
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, {"data": byte, "last": j == len(frame) - 1,
                                        "dst_port": k})
                while not (await ctx.tick("sync").sample(dut.i.ready))[2]:
                    pass
            ctx.set(dut.i.valid, 0)

    async def sink(ctx):
        cur = bytearray()
        for _ in range(6000):
            r = rng.random() < 0.6
            ctx.set(dut.o.ready, r)
            _, _, valid, p = await ctx.tick("eth").sample(dut.o.valid, dut.o.payload)
            if r and valid:
                cur.append(p.data)
                if p.last:
                    got.append((bytes(cur), p.dst_port))
                    cur = bytearray()

    simulate(dut, 5e-9, 8e-9, source, sink)
    assert got == [(f, k) for k, f in enumerate(sent)]


def run_rx(r_period, depth, n=20):
    rng = random.Random(2)
    sent = frames_of(rng, n)
    dut = StreamCDC(frame_stream({"src_port": 16}), depth=depth, w_domain="eth",
                    r_domain="sync")
    got, overflow = [], []

    async def source(ctx):
        for k, frame in enumerate(sent):
            for j, byte in enumerate(frame):         # one byte per GMII cycle
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, {"data": byte, "last": j == len(frame) - 1,
                                        "error": 0, "src_port": k})
                await ctx.tick("eth")
            ctx.set(dut.i.valid, 0)
            await ctx.tick("eth").repeat(20)          # preamble and gap
        await ctx.tick("eth").repeat(200)
        overflow.append(ctx.get(dut.overflow))

    async def sink(ctx):
        cur = bytearray()
        while True:
            _, _, valid, p = await ctx.tick("sync").sample(dut.o.valid, dut.o.payload)
            if valid:
                cur.append(p.data)
                if p.last:
                    got.append((bytes(cur), p.src_port, bool(p.error)))
                    cur = bytearray()

    simulate(dut, 8e-9, r_period, source, sink, until=15e-6)
    return sent, got, overflow[0]


def test_rx_stream_gmii_to_faster_core_never_overflows():
    sent, got, overflow = run_rx(5e-9, depth=8)
    assert got == [(f, k, False) for k, f in enumerate(sent)] and overflow == 0


def test_rx_stream_into_a_slow_clock_marks_what_it_cuts():
    sent, got, overflow = run_rx(25e-9, depth=8)
    assert [k for _, k, _ in got] == list(range(len(sent)))     # every frame ends
    cut = [k for data, k, error in got if error]
    assert len(cut) == overflow > 0
    for data, k, error in got:
        if not error:
            assert data == sent[k]
        else:
            assert data[-1] == sent[k][-1] and len(data) < len(sent[k])
