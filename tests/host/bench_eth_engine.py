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
from cocotb.triggers import ClockCycles
from cocotbext.eth import GmiiFrame, GmiiSink, GmiiSource

from decode import arp_request
from hwconv.sim.verilator import load_params
from packets import BOARD_IP, BOARD_MAC, BOARD_PORT, datagram, fcs
from replies import collect_replies


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
    result = await collect_replies(sink, gclk, params["expect"], mac=BOARD_MAC, ip=BOARD_IP,
                                   port=BOARD_PORT, timeout=params.get("timeout_cycles", 400000),
                                   settle=3000)
    counters = {c: int(getattr(dut, c).value) for c in params["counters"]}
    with open(params["result"], "w") as fh:
        json.dump({**result, "counters": counters}, fh)
