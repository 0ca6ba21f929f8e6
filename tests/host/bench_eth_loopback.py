"""cocotb bench for hwconv.rtl.eth.UDPLoopback: datagrams in through cocotbext-eth's
GmiiSource, their echoes out through GmiiSink (and bench_eth_tx's cycle monitor),
decoded by decode.py.

Run through hwconv.sim.verilator.run_cocotb from test_eth_loopback.py; params:
``counters``, ``result`` (a JSON file for figures), ``frames``, ``size``."""
import json
import random

import cocotb
from cocotb.triggers import ClockCycles

from bench_eth_tx import TB
from decode import arp_reply, arp_request, gmii_frame, udp_datagram
from packets import BOARD_PORT, HOST_IP, HOST_MAC, HOST_PORT, datagram, ethernet, ipv4, udp


def echo_of(tb, raw):
    d = udp_datagram(gmii_frame(raw))
    assert (d["dst_mac"], d["dst_ip"], d["src_port"]) == (HOST_MAC, HOST_IP, BOARD_PORT), d
    return d["payload"], d["dst_port"]


@cocotb.test()
async def test_echo(dut):
    """Every good datagram comes back to its sender's port; bad ones (dropped by the
    receive path, or marked at their end) get no answer; ARP is answered on the side."""
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(1)
    sizes = [1, 18, 19, 100, 1472, 7]
    payloads = [bytes(rng.getrandbits(8) for _ in range(n)) for n in sizes]
    p = b"not to be echoed"
    bad = [lambda: tb.send_frame(datagram(p), good_fcs=False),
           lambda: tb.send_frame(datagram(p, dport=9001)),
           lambda: tb.send_frame(ethernet(ipv4(udp(p), checksum=1))),
           lambda: tb.send_frame(datagram(p, length=100))]       # UDP longer than IP
    for k, payload in enumerate(payloads):
        await tb.send_frame(datagram(payload, sport=HOST_PORT + k))
        if k < len(bad):
            await bad[k]()
    await tb.send_frame(arp_request())
    out = await tb.frames(len(payloads) + 1)
    arps = [raw for raw, _, _ in out if raw[8 + 12:8 + 14] == b"\x08\x06"]
    assert len(arps) == 1 and arp_reply(gmii_frame(arps[0]))["dst_mac"] == HOST_MAC
    got = [echo_of(tb, raw) for raw, _, _ in out if raw not in arps]
    assert got == [(pl, HOST_PORT + k) for k, pl in enumerate(payloads)]
    await tb.quiet(400)
    c = tb.counters()
    assert (c["echo_echoed"], c["echo_drop_error"], c["echo_drop_full"]) == \
        (len(payloads), 2, 0), c
    assert (c["rx_mac_drop_fcs"], c["rx_udp_drop_port"], c["rx_ip_drop_checksum"],
            c["rx_udp_drop_truncated"], c["arp_replies"]) == (1, 1, 1, 1, 1), c
    # IPv4 traffic passes the ARP responder unremarked
    assert not any(v for k, v in c.items() if k.startswith("arp_drop")), c


@cocotb.test()
async def test_line_rate(dut):
    """Datagrams back to back at the minimum gap come back back to back: the figures
    (receive and transmit of the whole loop) go to the result file."""
    tb = TB(dut)
    await tb.reset()
    n, size = int(tb.params.get("frames", 10)), int(tb.params.get("size", 1472))
    rng = random.Random(2)
    payloads = [bytes(rng.getrandbits(8) for _ in range(size)) for _ in range(n)]
    for p in payloads:
        await tb.send_frame(datagram(p))
    out = await tb.frames(n)
    assert [echo_of(tb, raw)[0] for raw, _, _ in out] == payloads
    gaps = [b[1] - a[2] for a, b in zip(out, out[1:])]
    assert gaps == [12] * (n - 1), gaps
    await ClockCycles(tb.dut.clk, 100)
    assert tb.counters()["echo_drop_full"] == 0
    result = tb.params.get("result")
    if result:
        with open(result, "w") as f:
            json.dump({"frames": n, "payload_bytes": n * size,
                       "first_cycles": [o[1] for o in out]}, f)
