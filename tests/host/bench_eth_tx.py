"""cocotb bench for hwconv.rtl.eth.UDPEndpoint's transmit side and ARP responder:
datagrams in through cocotbext-axi's AxiStreamSource (tx_tdata/tvalid/tready/tlast, the
destination in tx_tuser), GMII out into cocotbext-eth's GmiiSink; ARP requests in through
GmiiSource.  Every frame out is decoded by decode.py (struct, zlib).

Run through hwconv.sim.verilator.run_cocotb from test_eth_tx.py; params: ``counters``
(names of the counter ports), ``result`` (a JSON file for figures)."""
import json
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSource
from cocotbext.eth import GmiiFrame, GmiiSink, GmiiSource

from decode import arp, arp_reply, arp_request, gmii_frame, udp_datagram
from hwconv.sim.verilator import load_params
from packets import (BOARD_IP, BOARD_MAC, BOARD_PORT, HOST_IP, HOST_MAC, HOST_PORT,
                     ethernet, fcs)

PERIOD_NS = 8          # 125 MHz


def tuser(length, dport=HOST_PORT, dst_mac=HOST_MAC, dst_ip=HOST_IP):
    """tx_tuser: dst_mac, dst_ip, dst_port, length from the low bits up."""
    return (int.from_bytes(dst_mac, "big") | int.from_bytes(dst_ip, "big") << 48 |
            dport << 80 | length << 96)


class TB:
    def __init__(self, dut):
        self.dut = dut
        self.params = load_params()
        Clock(dut.clk, PERIOD_NS, unit="ns").start()
        self.gmii_in = GmiiSource(dut.rxd, dut.rx_er, dut.rx_dv, dut.clk, dut.rst)
        self.gmii_out = GmiiSink(dut.txd, dut.tx_er, dut.tx_en, dut.clk, dut.rst)
        if hasattr(dut, "tx_tdata"):      # (the loopback top has no input stream)
            self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "tx"), dut.clk,
                                          dut.rst)
        # GmiiSink starts a frame on its first byte without keeping it (it reads past the
        # preamble in any case): the exact bytes and cycles come from this monitor, and
        # GmiiSink's frames must agree with them.
        self.cycle = 0
        self.sent = []            # (raw bytes, first cycle, first cycle after, tx_er seen)
        cocotb.start_soon(self._monitor())

    async def _monitor(self):
        current, start, error = None, 0, False
        while True:
            await RisingEdge(self.dut.clk)
            self.cycle += 1
            if int(self.dut.tx_en.value):
                if current is None:
                    current, start, error = bytearray(), self.cycle, False
                current.append(int(self.dut.txd.value))
                error |= bool(int(self.dut.tx_er.value))
            elif current is not None:
                self.sent.append((bytes(current), start, self.cycle, error))
                current = None

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)

    async def send_datagram(self, payload, **kw):
        await self.source.send(AxiStreamFrame(payload, tuser=tuser(len(payload), **kw)))

    async def send_frame(self, frame, good_fcs=True):
        body = frame + (fcs(frame) if good_fcs else bytes(a ^ 0xA5 for a in fcs(frame)))
        await self.gmii_in.send(GmiiFrame.from_raw_payload(body))

    async def frames(self, n, timeout_cycles=200000):
        """The next ``n`` frames out: [(raw bytes, first cycle, first cycle after)], each
        also seen by GmiiSink with a good FCS and the same bytes."""
        for _ in range(timeout_cycles):
            if len(self.sent) >= n:
                break
            await RisingEdge(self.dut.clk)
        out, self.sent = self.sent[:n], self.sent[n:]
        assert len(out) == n, f"{len(out)} frames out of {n} came; counters " + \
            str({k: v for k, v in self.counters().items() if v})
        for raw, _, _, error in out:
            assert not error, f"tx_er in {raw.hex()}"
            assert not self.gmii_out.empty(), "GmiiSink missed a frame"
            f = self.gmii_out.recv_nowait()
            assert f.check_fcs() and bytes(f.get_payload()) == raw[8:-4], \
                f"GmiiSink saw {bytes(f.data).hex()}"
        return [(raw, start, end) for raw, start, end, _ in out]

    async def quiet(self, cycles=300):
        await ClockCycles(self.dut.clk, cycles)
        assert not self.sent and self.gmii_out.empty(), "an unexpected frame"

    def counters(self):
        return {c: int(getattr(self.dut, c).value) for c in self.params["counters"]}

    def check_counters(self, prefix, **expected):
        got = {k: v for k, v in self.counters().items() if v and k.startswith(prefix)}
        assert got == expected, f"counters {got}, expected {expected}"


@cocotb.test()
async def test_datagrams_back_to_back(dut):
    """Payloads of 1 to 1472 bytes, queued at once, leave back to back with the minimum
    gap, each exact, its IP checksum right and its identification counting."""
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(1)
    sizes = [1, 17, 18, 19, 46, 100, 1000, 1471, 1472, 3]
    sent = []
    for k, n in enumerate(sizes):
        payload = bytes(rng.getrandbits(8) for _ in range(n))
        sent.append(payload)
        await tb.send_datagram(payload, dport=HOST_PORT + k)
    out = await tb.frames(len(sizes))
    for k, (raw, _, _) in enumerate(out):
        d = udp_datagram(gmii_frame(raw))
        assert (d["payload"], d["dst_port"], d["src_port"], d["dst_mac"], d["dst_ip"],
                d["ident"]) == (sent[k], HOST_PORT + k, BOARD_PORT, HOST_MAC, HOST_IP, k)
    gaps = [b[1] - a[2] for a, b in zip(out, out[1:])]
    assert gaps == [12] * (len(out) - 1), gaps
    await tb.quiet()
    n = len(sizes)
    tb.check_counters("tx_", tx_udp_frames=n, tx_ip_frames=n, tx_eth_frames=n,
                      tx_mac_frames=n)


@cocotb.test()
async def test_arp(dut):
    """A request for our IP is answered, to the asker, from our MAC; malformed and
    foreign ARP is ignored and counted; after each, a good request is still answered."""
    tb = TB(dut)
    await tb.reset()
    other = bytes.fromhex("5a0000000099")
    await tb.send_frame(arp_request(sha=other, spa=bytes([192, 168, 1, 77])))
    (raw, _, _), = await tb.frames(1)
    r = arp_reply(gmii_frame(raw))
    assert r == {"dst_mac": other, "sha": BOARD_MAC, "spa": BOARD_IP, "tha": other,
                 "tpa": bytes([192, 168, 1, 77])}
    bcast = b"\xff" * 6
    bad = {
        "other IP": (arp_request(tpa=bytes([192, 168, 1, 129])), True, "arp_drop_ip"),
        "a reply": (ethernet(arp(2), dst=BOARD_MAC, ethertype=0x0806), True,
                    "arp_drop_opcode"),
        "RARP opcode": (ethernet(arp(3), dst=bcast, ethertype=0x0806), True,
                        "arp_drop_opcode"),
        "hardware type": (ethernet(arp(1, htype=6), dst=bcast, ethertype=0x0806), True,
                          "arp_drop_format"),
        "protocol type": (ethernet(arp(1, ptype=0x86DD), dst=bcast, ethertype=0x0806),
                          True, "arp_drop_format"),
        "address length": (ethernet(arp(1, plen=16), dst=bcast, ethertype=0x0806), True,
                           "arp_drop_format"),
        # 14 + 20 bytes + FCS: the MAC marks the runt, ARP counts it short
        "runt": ((bcast + HOST_MAC + b"\x08\x06" + arp(1))[:34], True, "arp_drop_short"),
        "bad FCS": (arp_request(), False, None),
        "other MAC": (ethernet(arp(1), dst=bytes.fromhex("020000000002"), ethertype=0x0806),
                      True, None),
    }
    counts = {"arp_replies": 1}
    for name, (frame, good_fcs, counter) in bad.items():
        await tb.send_frame(frame, good_fcs)
        try:
            await tb.quiet(200)
            if counter:
                counts[counter] = counts.get(counter, 0) + 1
            tb.check_counters("arp_", **counts)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from None
        await tb.send_frame(arp_request())
        (raw, _, _), = await tb.frames(1)
        assert arp_reply(gmii_frame(raw))["dst_mac"] == HOST_MAC
        counts["arp_replies"] += 1
    # UDP was never involved
    tb.check_counters("tx_udp", )


@cocotb.test()
async def test_arp_while_datagrams_stream(dut):
    """ARP requests arriving while full-size datagrams leave back to back: each reply
    waits for the datagram on the line and goes next (the arbiter alternates); a
    request arriving while the previous reply still waits is dropped and counted."""
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(3)
    n = 8
    payloads = [bytes(rng.getrandbits(8) for _ in range(1472)) for _ in range(n)]
    for p in payloads:
        await tb.send_datagram(p)
    await ClockCycles(tb.dut.clk, 400)
    await tb.send_frame(arp_request())                        # waits for datagram 0
    await ClockCycles(tb.dut.clk, 3000)
    await tb.send_frame(arp_request(sha=bytes.fromhex("5a0000000001")))
    await tb.send_frame(arp_request(sha=bytes.fromhex("5a0000000002")))   # busy: dropped
    out = await tb.frames(n + 2)
    kinds, got = [], []
    for raw, _, _ in out:
        frame = gmii_frame(raw)
        if frame[12:14] == b"\x08\x06":
            kinds.append(arp_reply(frame)["dst_mac"].hex())
        else:
            got.append(udp_datagram(frame)["payload"])
            kinds.append("udp")
    assert got == payloads
    assert kinds.count("udp") == n and kinds[0] == "udp" and kinds[1] == HOST_MAC.hex()
    assert "5a0000000001" in kinds and "5a0000000002" not in kinds
    assert all(a == "udp" or b == "udp" for a, b in zip(kinds, kinds[1:]))
    gaps = [b[1] - a[2] for a, b in zip(out, out[1:])]
    assert min(gaps) == 12, gaps
    await tb.quiet()
    tb.check_counters("arp_", arp_replies=2, arp_drop_busy=1)


@cocotb.test()
async def test_line_rate(dut):
    """Full-size datagrams queued back to back: the line is never idle longer than the
    gap; the figures go to the result file."""
    tb = TB(dut)
    await tb.reset()
    n, size = int(tb.params.get("frames", 20)), int(tb.params.get("size", 1472))
    rng = random.Random(2)
    payloads = [bytes(rng.getrandbits(8) for _ in range(size)) for _ in range(n)]
    for p in payloads:
        await tb.send_datagram(p)
    out = await tb.frames(n)
    assert [udp_datagram(gmii_frame(raw))["payload"] for raw, _, _ in out] == payloads
    # From the first preamble byte to the end of the last frame's gap.
    cycles = out[-1][2] + 12 - out[0][1]
    wire = n * (8 + 14 + 20 + 8 + max(size, 18) + 4 + 12)
    result = tb.params.get("result")
    if result:
        with open(result, "w") as f:
            json.dump({"frames": n, "payload_bytes": n * size, "cycles": cycles,
                       "wire_bytes": wire, "first_cycles": [o[1] for o in out]}, f)
