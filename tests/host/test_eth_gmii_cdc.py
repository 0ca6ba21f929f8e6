"""hwconv.rtl.eth.gmii_cdc.GMIIRxCDC in Amaranth's simulator, two clocks: GMII frames on
a receive clock handed to a local clock 1000 ppm faster or slower (five times what two
100 ppm oscillators can differ by) come out byte for byte, RX_DV unbroken within a frame,
RX_ER where it went in; with clocks too far apart, the cut frames end marked RX_ER and are
counted, and the others stay exact."""
import random

from amaranth import ClockDomain, Module
from amaranth.sim import Simulator

from hwconv.rtl.eth.gmii_cdc import GMIIRxCDC

W_PERIOD = 8e-9


def run(frames, r_period, *, gap=8, depth=32):
    """Send ``frames`` ([(bytes, index of a byte with RX_ER or None)]) with ``gap`` idle
    cycles between them; (frames out as [(bytes, [rx_er per byte])], overflow, underrun)."""
    dut = GMIIRxCDC(w_domain="eth_rx", r_domain="eth", depth=depth)
    m = Module()
    m.domains.eth_rx = ClockDomain()
    m.domains.eth = ClockDomain()
    m.submodules.dut = dut
    sim = Simulator(m)
    sim.add_clock(W_PERIOD, domain="eth_rx")
    sim.add_clock(r_period, domain="eth")
    out, counters = [], {}
    total = sum(len(f) + gap for f, _ in frames) + 200

    async def source(ctx):
        await ctx.tick("eth_rx").repeat(5)
        for frame, er_at in frames:
            for k, byte in enumerate(frame):
                ctx.set(dut.rxd, byte)
                ctx.set(dut.rx_dv, 1)
                ctx.set(dut.rx_er, k == er_at)
                await ctx.tick("eth_rx")
            ctx.set(dut.rx_dv, 0)
            ctx.set(dut.rx_er, 1)               # carrier extension: not frame data
            await ctx.tick("eth_rx")
            ctx.set(dut.rx_er, 0)
            await ctx.tick("eth_rx").repeat(gap - 1)
        await ctx.tick("eth_rx").repeat(100)
        counters["overflow"] = ctx.get(dut.overflow)

    async def sink(ctx):
        cur, ers = bytearray(), []
        async for _, _, dv, d, er, under in ctx.tick("eth").sample(
                dut.o_rx_dv, dut.o_rxd, dut.o_rx_er, dut.underrun):
            counters["underrun"] = under
            if dv:
                cur.append(d)
                ers.append(er)
            elif cur:
                out.append((bytes(cur), ers))
                cur, ers = bytearray(), []
            else:
                assert not er, "RX_ER outside a frame"

    sim.add_testbench(source)
    sim.add_process(sink)
    sim.run_until(total * max(W_PERIOD, r_period) * 1.1 + 2e-6)
    return out, counters["overflow"], counters["underrun"]


def random_frames(rng, n, *, longest=1526):
    sizes = [longest, 72, longest] + [rng.randrange(8, longest) for _ in range(n - 3)]
    return [(bytes(rng.getrandbits(8) for _ in range(s)), None) for s in sizes]


def test_frames_cross_exactly_between_clocks_1000_ppm_apart():
    rng = random.Random(5)
    frames = random_frames(rng, 6)
    frames[3] = (frames[3][0], 17)                  # one byte received with RX_ER
    for r_period in (W_PERIOD * (1 - 1e-3), W_PERIOD * (1 + 1e-3)):
        out, overflow, underrun = run(frames, r_period)
        assert (overflow, underrun) == (0, 0)
        assert [f for f, _ in out] == [f for f, _ in frames]
        for (_, er_at), (got, ers) in zip(frames, out):
            assert [k for k, e in enumerate(ers) if e] == ([] if er_at is None else [er_at])


def test_clocks_too_far_apart_cut_frames_marked_and_counted():
    rng = random.Random(6)
    frames = [(bytes(rng.getrandbits(8) for _ in range(s)), None) for s in (1526, 72, 1526, 100)]
    # reader 2% faster: a 1526-byte frame drifts 30 bytes, more than the FIFO holds ahead
    out, overflow, underrun = run(frames, W_PERIOD * 0.98)
    assert overflow == 0 and underrun == 2
    for (sent, _), (got, ers) in zip(frames, out):
        if len(sent) == 1526:
            assert ers[-1] and len(got) < len(sent)
        else:
            assert got == sent and not any(ers)
    # reader 10% slower, frames back to back: the FIFO fills within a long frame
    out, overflow, underrun = run(frames, W_PERIOD * 1.1, gap=8)
    # (a frame cut on the write side may also run the FIFO dry: counted in both)
    assert overflow >= 1
    assert len(out) == len(frames)                  # every frame still ends
    for (sent, _), (got, ers) in zip(frames, out):
        assert got == sent and not any(ers) or ers[-1], (len(sent), len(got))
    assert any(ers[-1] for _, ers in out)
