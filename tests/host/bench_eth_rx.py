"""cocotb bench for hwconv.rtl.eth.UDPReceivePath (GMII in, UDP payloads out), driven by
cocotbext-eth's GmiiSource with packets built by packets.py.

Run through hwconv.sim.verilator.run_cocotb from test_eth_rx.py; params: ``fields``
({name: [offset, width]} of o_payload), ``result`` (a JSON file for figures)."""
import json
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.eth import GmiiFrame, GmiiSource

from hwconv.sim.verilator import load_params
from packets import (BOARD_IP, BOARD_PORT, HOST_IP, HOST_MAC, HOST_PORT, datagram,
                     ethernet, fcs, ipv4, udp)

COUNTERS = ("mac_frames_ok", "mac_drop_fcs", "mac_drop_error", "mac_drop_runt",
            "mac_drop_oversize", "mac_drop_preamble", "eth_frames_ok", "eth_drop_mac",
            "eth_drop_short", "ip_frames_ok", "ip_drop_type", "ip_drop_header",
            "ip_drop_checksum", "ip_drop_ip", "ip_drop_short", "ip_drop_truncated",
            "udp_frames_ok", "udp_drop_protocol", "udp_drop_port", "udp_drop_length",
            "udp_drop_short", "udp_drop_truncated")


class TB:
    def __init__(self, dut):
        self.dut = dut
        self.fields = load_params()["fields"]
        Clock(dut.clk, 8, unit="ns").start()
        self.source = GmiiSource(dut.rxd, dut.rx_er, dut.rx_dv, dut.clk, dut.rst)
        self.frames = []          # (payload bytes, error, meta) per output frame
        self._bytes = bytearray()
        self.cycle = 0
        self.out_cycles = []      # cycle of every output byte
        cocotb.start_soon(self._monitor())

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)

    def field(self, word, name):
        offset, width = self.fields[name]
        return word >> offset & ((1 << width) - 1)

    async def _monitor(self):
        while True:
            await RisingEdge(self.dut.clk)
            self.cycle += 1
            if int(self.dut.o_valid.value):
                word = self.dut.o_payload.value.to_unsigned()
                self._bytes.append(self.field(word, "data"))
                self.out_cycles.append(self.cycle)
                if self.field(word, "last"):
                    meta = {k: self.field(word, k) for k in
                            ("src_mac", "ethertype", "src_ip", "protocol", "src_port",
                             "length")}
                    self.frames.append((bytes(self._bytes), bool(self.field(word, "error")),
                                        meta))
                    self._bytes = bytearray()

    async def send(self, frame: bytes, *, good_fcs=True, error_at=None, raw=False):
        if raw:
            g = GmiiFrame(frame)
        else:
            body = frame + (fcs(frame) if good_fcs else bytes(a ^ 0x5A for a in fcs(frame)))
            g = GmiiFrame.from_raw_payload(body)
        if error_at is not None:
            g.error = [0] * len(g.data)
            g.error[8 + error_at] = 1
        await self.source.send(g)

    async def settle(self):
        while not self.source.empty() or self.source.active:
            await RisingEdge(self.dut.clk)
        await ClockCycles(self.dut.clk, 40)
        assert not self._bytes, f"a frame without its last byte: {bytes(self._bytes)!r}"

    def counters(self):
        return {c: int(getattr(self.dut, c).value) for c in COUNTERS}

    def check_counters(self, **expected):
        got = {k: v for k, v in self.counters().items() if v}
        assert got == expected, f"counters {got}, expected {expected}"


def meta_of(payload, sport=HOST_PORT):
    return {"src_mac": int.from_bytes(HOST_MAC, "big"), "ethertype": 0x0800,
            "src_ip": int.from_bytes(HOST_IP, "big"), "protocol": 17, "src_port": sport,
            "length": len(payload)}


@cocotb.test()
async def test_good_datagrams(dut):
    """Payloads of 1 byte (a padded minimum frame) to 1472 (a full MTU) come out exactly,
    with the sender's MAC, IP and port; broadcast frames too."""
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(1)
    sizes = [1, 17, 18, 19, 46, 100, 1000, 1471, 1472]
    sent = []
    for n in sizes:
        payload = bytes(rng.getrandbits(8) for _ in range(n))
        sent.append(payload)
        await tb.send(datagram(payload, sport=HOST_PORT + n))
    payload = b"to everyone"
    await tb.send(datagram(payload, dst_mac=b"\xff" * 6))
    await tb.settle()
    expected = [(p, False, meta_of(p, HOST_PORT + len(p))) for p in sent] + \
        [(payload, False, meta_of(payload))]
    assert tb.frames == expected
    k = len(expected)
    tb.check_counters(mac_frames_ok=k, eth_frames_ok=k, ip_frames_ok=k, udp_frames_ok=k)


async def run_case(tb, send, outcome, counters):
    """Send a bad frame, then a good one: the bad one is dropped (``outcome`` "none")
    or comes out marked (``"error"``); the good one comes out exact."""
    await tb.reset()
    await send()
    good = b"the next good datagram"
    await tb.send(datagram(good))
    await tb.settle()
    frames = tb.frames
    tb.frames = []
    if outcome == "error":
        assert len(frames) == 2 and frames[0][1], frames
        frames = frames[1:]
    assert frames == [(good, False, meta_of(good))], frames
    ok = {"mac_frames_ok": 1, "eth_frames_ok": 1, "ip_frames_ok": 1, "udp_frames_ok": 1}
    for name, v in counters.items():
        ok[name] = ok.get(name, 0) + v
    tb.check_counters(**{k: v for k, v in ok.items() if v})


def bad_cases(tb):
    p = b"x" * 100
    two = b"ab"
    return {
        # A frame the MAC finds bad at its end has gone by: it comes out marked, and only
        # the MAC counts it.
        "bad FCS": (lambda: tb.send(datagram(p), good_fcs=False), "error",
                    {"mac_drop_fcs": 1}),
        # 14 + 20 + 8 + 2 = 44 bytes + FCS: a runt (no padding)
        "runt": (lambda: tb.send(ethernet(ipv4(udp(two)))[:44]), "error",
                 {"mac_drop_runt": 1}),
        "oversize": (lambda: tb.send(datagram(b"y" * 1473)), "error",
                     {"mac_drop_oversize": 1}),
        "rx_er": (lambda: tb.send(datagram(p), error_at=30), "error",
                  {"mac_drop_error": 1}),
        "no SFD": (lambda: tb.send(b"\x55\x55\x55\x12\x34" + datagram(p), raw=True), "none",
                   {"mac_drop_preamble": 1}),
        "tiny frame": (lambda: tb.send(b"\x55" * 7 + b"\xd5" + b"\x01\x02", raw=True),
                       "none", {"mac_drop_runt": 1}),
        "other MAC": (lambda: tb.send(datagram(p, dst_mac=bytes.fromhex("020000000002"))),
                      "none", {"mac_frames_ok": 1, "eth_drop_mac": 1}),
        "ARP": (lambda: tb.send(ethernet(bytes(28), ethertype=0x0806)), "none",
                {"mac_frames_ok": 1, "eth_frames_ok": 1, "ip_drop_type": 1}),
        "IPv6": (lambda: tb.send(ethernet(bytes(60), ethertype=0x86DD)), "none",
                 {"mac_frames_ok": 1, "eth_frames_ok": 1, "ip_drop_type": 1}),
        "bad IP checksum": (lambda: tb.send(ethernet(ipv4(udp(p), checksum=0x1234))), "none",
                            {"mac_frames_ok": 1, "eth_frames_ok": 1, "ip_drop_checksum": 1}),
        "other IP": (lambda: tb.send(ethernet(ipv4(udp(p), dst=bytes([192, 168, 1, 129])))),
                     "none", {"mac_frames_ok": 1, "eth_frames_ok": 1, "ip_drop_ip": 1}),
        "IP options": (lambda: tb.send(ethernet(ipv4(udp(p), version_ihl=0x46,
                                                     options=b"\x01\x01\x01\x00"))),
                       "none", {"mac_frames_ok": 1, "eth_frames_ok": 1, "ip_drop_header": 1}),
        "fragment": (lambda: tb.send(ethernet(ipv4(udp(p), flags_fragment=0x2000))), "none",
                     {"mac_frames_ok": 1, "eth_frames_ok": 1, "ip_drop_header": 1}),
        "fragment offset": (lambda: tb.send(ethernet(ipv4(udp(p), flags_fragment=0x0010))),
                            "none", {"mac_frames_ok": 1, "eth_frames_ok": 1,
                                     "ip_drop_header": 1}),
        "IP version 6": (lambda: tb.send(ethernet(ipv4(udp(p), version_ihl=0x65))), "none",
                         {"mac_frames_ok": 1, "eth_frames_ok": 1, "ip_drop_header": 1}),
        "IP length under 20": (lambda: tb.send(ethernet(ipv4(udp(p), total_length=19))),
                               "none", {"mac_frames_ok": 1, "eth_frames_ok": 1,
                                        "ip_drop_header": 1}),
        "IP header only": (lambda: tb.send(ethernet(ipv4(b"", total_length=20))), "none",
                           {"mac_frames_ok": 1, "eth_frames_ok": 1, "ip_drop_short": 1}),
        "IP longer than frame": (lambda: tb.send(ethernet(ipv4(udp(p), total_length=500))),
                                 "error", {"mac_frames_ok": 1, "eth_frames_ok": 1,
                                           "ip_drop_truncated": 1}),
        "UDP header cut": (lambda: tb.send(ethernet(ipv4(udp(p), total_length=24))), "none",
                           {"mac_frames_ok": 1, "eth_frames_ok": 1, "ip_frames_ok": 1,
                            "udp_drop_short": 1}),
        "TCP": (lambda: tb.send(ethernet(ipv4(udp(p), proto=6))), "none",
                {"mac_frames_ok": 1, "eth_frames_ok": 1, "ip_frames_ok": 1,
                 "udp_drop_protocol": 1}),
        "other port": (lambda: tb.send(datagram(p, dport=9001)), "none",
                       {"mac_frames_ok": 1, "eth_frames_ok": 1, "ip_frames_ok": 1,
                        "udp_drop_port": 1}),
        "UDP length under 8": (lambda: tb.send(datagram(p, length=7)), "none",
                               {"mac_frames_ok": 1, "eth_frames_ok": 1, "ip_frames_ok": 1,
                                "udp_drop_length": 1}),
        "UDP longer than IP": (lambda: tb.send(datagram(p, length=200)), "error",
                               {"mac_frames_ok": 1, "eth_frames_ok": 1, "ip_frames_ok": 1,
                                "udp_drop_truncated": 1}),
    }


@cocotb.test()
async def test_bad_frames_are_dropped_and_counted(dut):
    tb = TB(dut)
    for name, (send, outcome, counters) in bad_cases(tb).items():
        try:
            await run_case(tb, send, outcome, counters)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from None


@cocotb.test()
async def test_udp_shorter_than_ip_payload_is_trimmed(dut):
    tb = TB(dut)
    await tb.reset()
    # UDP says 8 + 10 bytes, the IP packet carries 30 more: only 10 are the payload.
    await tb.send(datagram(b"0123456789" + b"z" * 30, length=18))
    await tb.settle()
    assert [(f[0], f[1]) for f in tb.frames] == [(b"0123456789", False)]


@cocotb.test()
async def test_line_rate(dut):
    """Full-size datagrams back to back with the minimum gap: every one comes out, one
    byte per cycle; the figures go to the result file."""
    tb = TB(dut)
    await tb.reset()
    params = load_params()
    n, size = int(params.get("frames", 40)), int(params.get("size", 1472))
    rng = random.Random(2)
    payloads = [bytes(rng.getrandbits(8) for _ in range(size)) for _ in range(n)]
    for p in payloads:
        await tb.send(datagram(p))
    start = tb.cycle
    await tb.settle()
    assert [f[0] for f in tb.frames] == payloads and not any(f[1] for f in tb.frames)
    span = tb.out_cycles[-1] - tb.out_cycles[0] + 1
    # 8 preamble + 14 + 20 + 8 + payload (padded to 18) + 4 FCS + 12 gap
    wire = n * (8 + 14 + 20 + 8 + max(size, 18) + 4 + 12)
    firsts = [tb.out_cycles[k * size] for k in range(n)]     # each datagram's first byte
    result = params.get("result")
    if result:
        with open(result, "w") as f:
            json.dump({"frames": n, "payload_bytes": n * size, "cycles": span,
                       "wire_bytes": wire, "start": start, "first_cycles": firsts}, f)
