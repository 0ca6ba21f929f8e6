"""cocotb bench for the Ethernet board top (top.v of a `hwconv build` plan, with the primitives
of hwconv.boards.sim_primitives): the frame protocol over the board's own GMII pins.

The system clock runs into the MMCM/PLL stand-in (core clock = the input clock, the 125 MHz
output = half of it); the PHY's side is cocotbext-eth: a GmiiSource on the receive pins,
clocked by its own RX_CLK pin (a clock of its own, not quite the transmit clock's period), and
a GmiiSink on the transmit pins, clocked by the GTX_CLK pin the top forwards. Frames are built
by tests/host/packets.py; what comes back is checked by tests/host/decode.py (preamble, FCS,
every header field, as a host's network stack would) and written to the result file.

Params: ``mac``, ``ip`` (hex) and ``port``: the board's addresses, as built;
``sends`` ([kind, payload hex or cycles]; kinds: good, arp, wait), ``expect``
(datagrams to wait for), ``rx_clk_ps``, ``sys_clk_ps``, ``leds`` {name: port} read at the end,
``result``.
"""
import json
import sys
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, Timer
from cocotbext.eth import GmiiFrame, GmiiSink, GmiiSource

from hwconv.sim.verilator import load_params

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "host"))
from decode import arp_request  # noqa: E402
from packets import ethernet, fcs, ipv4, udp  # noqa: E402
from replies import collect_replies  # noqa: E402

PHY = "eth_gmii_0__"


def pin(dut, name):
    return getattr(dut, f"{PHY}{name}__io")


@cocotb.test()
async def test_protocol_on_the_board_pins(dut):
    params = load_params()
    Clock(dut.clk200_0__p, params["sys_clk_ps"], unit="ps").start()
    dut.clk200_0__n.value = 0
    dut.cpu_reset_0__io.value = 0
    await Timer(3, unit="ns")                   # RX_CLK in its own phase
    Clock(pin(dut, "rx_clk"), params["rx_clk_ps"], unit="ps").start()
    src = GmiiSource(pin(dut, "rxd"), pin(dut, "rx_er"), pin(dut, "rx_dv"), pin(dut, "rx_clk"))
    sink = GmiiSink(pin(dut, "txd"), pin(dut, "tx_er"), pin(dut, "tx_en"), pin(dut, "gtx_clk"))
    for name in ("crs", "col", "tx_clk", "int"):
        pin(dut, name).value = 0

    # the MMCM/PLL stand-in locks, the reset synchronizers let go
    for _ in range(200):
        await RisingEdge(dut.clk200_0__p)
    assert int(pin(dut, "rst").value) == 0, "PHY_RESET (active low) is not held after reset"
    if params.get("locked_led"):
        assert int(getattr(dut, params["locked_led"]).value) == 1, "the MMCM has not locked"

    mac, ip, port = bytes.fromhex(params["mac"]), bytes.fromhex(params["ip"]), params["port"]
    rx_clk = pin(dut, "rx_clk")
    for kind, arg in params["sends"]:
        if kind == "wait":
            await src.wait()
            await ClockCycles(rx_clk, arg)
            continue
        frame = (arp_request(tpa=ip) if kind == "arp" else
                 ethernet(ipv4(udp(bytes.fromhex(arg), dport=port, dst=ip), dst=ip), dst=mac))
        await src.send(GmiiFrame.from_raw_payload(frame + fcs(frame)))

    await src.wait()
    result = await collect_replies(sink, rx_clk, params["expect"], mac=mac, ip=ip, port=port,
                                   timeout=params.get("timeout_cycles", 400000), settle=2000)
    leds = {name: int(getattr(dut, port).value) for name, port in params["leds"].items()}
    with open(params["result"], "w") as fh:
        json.dump({**result, "leds": leds}, fh)
