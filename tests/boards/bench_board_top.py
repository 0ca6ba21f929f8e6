"""cocotb bench for a whole board top (top.v of a build plan with the primitives of
hwconv.boards.sim_primitives): the system clock runs, the MMCM/PLL stand-in locks, the reset
synchronizers release both domains, the self-test streams its frame through the network and
the checker lights the LEDs.

Params (load_params()): leds {"done": port, "pass": port, "fail": port, "locked": port or
null}, rerun (the button's port), expect ("pass" or "fail"), limit (cycles to wait).
"""
import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from hwconv.sim.verilator import load_params


def _bit(dut, port):
    return int(getattr(dut, port).value)


async def _wait_done(dut, leds, limit):
    for cycle in range(limit):
        await FallingEdge(dut.clk200_0__p)
        if _bit(dut, leds["done"]):
            return cycle
    raise AssertionError(f"the self-test did not finish within {limit} cycles")


@cocotb.test()
async def test_selftest_on_the_board_top(dut):
    p = load_params()
    leds, rerun, limit = p["leds"], p["rerun"], int(p["limit"])
    Clock(dut.clk200_0__p, 5, unit="ns").start()
    dut.clk200_0__n.value = 0
    dut.cpu_reset_0__io.value = 0
    for port in p["inputs_low"]:
        getattr(dut, port).value = 0
    cycles = await _wait_done(dut, leds, limit)
    dut._log.info(f"first run done after {cycles} cycles of the input clock")
    if leds.get("locked"):
        assert _bit(dut, leds["locked"]) == 1
    passed, failed = _bit(dut, leds["pass"]), _bit(dut, leds["fail"])
    if p["expect"] == "pass":
        assert (passed, failed) == (1, 0), f"PASS {passed}, FAIL {failed}"
        for port in p.get("also_pass", []):
            assert _bit(dut, port) == 1, port
        # the rerun button starts a new run (done falls), which passes again
        getattr(dut, rerun).value = 1
        await ClockCycles(dut.clk200_0__p, 8)
        await FallingEdge(dut.clk200_0__p)
        assert _bit(dut, leds["done"]) == 0, "the button did not start a run"
        getattr(dut, rerun).value = 0
        await _wait_done(dut, leds, limit)
        assert (_bit(dut, leds["pass"]), _bit(dut, leds["fail"])) == (1, 0)
        # CPU_RESET resets the MMCM/PLL and everything behind it, and the test runs once more
        dut.cpu_reset_0__io.value = 1
        await ClockCycles(dut.clk200_0__p, 4)
        dut.cpu_reset_0__io.value = 0
        await ClockCycles(dut.clk200_0__p, 4)
        await FallingEdge(dut.clk200_0__p)
        assert _bit(dut, leds["done"]) == 0, "CPU_RESET did not reset the checker"
        await _wait_done(dut, leds, limit)
        assert (_bit(dut, leds["pass"]), _bit(dut, leds["fail"])) == (1, 0)
    else:
        assert (passed, failed) == (0, 1), f"PASS {passed}, FAIL {failed}"
