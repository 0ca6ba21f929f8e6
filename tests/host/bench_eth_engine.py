"""cocotb bench for hwconv.rtl.eth.ProtocolBoard: the frame protocol over GMII, with
cocotbext-eth's GmiiSource and GmiiSink.  The bench is only the wire: it sends the UDP
payloads it is given (built with hwconv.host.protocol by test_eth_board.py) as Ethernet
frames built by packets.py, good or spoiled on the way, and writes every datagram that
comes back, decoded by decode.py, to the result file for the test to check.

Params: ``sends`` ([kind, payload hex or cycles]; kinds: good, bad_fcs, wrong_port,
wrong_mac, wrong_ip, arp, wait), ``expect`` (datagrams to wait for), ``counters``,
``two_clocks``, ``core_period_ps``, ``result``."""
import json

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.eth import GmiiFrame, GmiiSink, GmiiSource

from decode import arp_reply, arp_request, udp_datagram
from hwconv.sim.verilator import load_params
from packets import BOARD_PORT, HOST_IP, HOST_MAC, HOST_PORT, datagram, fcs


@cocotb.test()
async def test_protocol(dut):
    params = load_params()
    two = params.get("two_clocks", False)
    gclk, grst = (dut.eth_clk, dut.eth_rst) if two else (dut.clk, dut.rst)
    Clock(gclk, 8, unit="ns").start()
    if two:
        Clock(dut.clk, params.get("core_period_ps", 5000), unit="ps").start()
    src = GmiiSource(dut.rxd, dut.rx_er, dut.rx_dv, gclk, grst)
    sink = GmiiSink(dut.txd, dut.tx_er, dut.tx_en, gclk, grst)
    for r in {grst, dut.rst}:
        r.value = 1
    await ClockCycles(gclk, 8)
    for r in {grst, dut.rst}:
        r.value = 0
    await ClockCycles(gclk, 4)

    for kind, arg in params["sends"]:
        if kind == "wait":
            await src.wait()
            await ClockCycles(gclk, arg)
            continue
        if kind == "arp":
            frame = arp_request()
        else:
            payload = bytes.fromhex(arg)
            kw = {"wrong_port": {"dport": BOARD_PORT + 1},
                  "wrong_mac": {"dst_mac": bytes.fromhex("020000000002")},
                  "wrong_ip": {"dst": bytes([192, 168, 1, 129])}}.get(kind, {})
            frame = datagram(payload, **kw)
        body = frame + fcs(frame)
        if kind == "bad_fcs":
            body = body[:-1] + bytes([body[-1] ^ 0x5A])
        await src.send(GmiiFrame.from_raw_payload(body))

    await src.wait()
    replies, arps, cycles = [], 0, 0
    expect = params["expect"]
    while len(replies) < expect and cycles < params.get("timeout_cycles", 400000):
        await RisingEdge(gclk)
        cycles += 1
        while not sink.empty():
            f = sink.recv_nowait()
            assert f.check_fcs(), "bad FCS out"
            raw = bytes(f.get_payload())
            if raw[12:14] == b"\x08\x06":
                assert arp_reply(raw)["dst_mac"] == HOST_MAC
                arps += 1
                continue
            d = udp_datagram(raw)
            assert (d["dst_mac"], d["dst_ip"], d["src_port"], d["dst_port"]) == \
                (HOST_MAC, HOST_IP, BOARD_PORT, HOST_PORT), d
            replies.append(d["payload"].hex())
    await ClockCycles(gclk, 3000)            # nothing more may come
    extra = 0
    while not sink.empty():
        sink.recv_nowait()
        extra += 1
    counters = {c: int(getattr(dut, c).value) for c in params["counters"]}
    with open(params["result"], "w") as fh:
        json.dump({"replies": replies, "extra": extra, "arp_replies": arps,
                   "cycles": cycles, "counters": counters}, fh)
