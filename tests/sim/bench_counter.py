"""cocotb bench for the 8-bit counter of test_verilator_runner.py.

Run through hwconv.sim.verilator.run_cocotb; params (via load_params()):
  cycles: how many enabled clock cycles test_count counts (default 5).
Tests with skip=True only run when selected by name (run_cocotb(testcase=...)).
"""

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, Timer

from hwconv.sim.verilator import load_params


async def _reset(dut):
    """Start the clock, hold the (synchronous) reset for two cycles.
    Returns at a falling edge with rst=0, en=0, count=0."""
    Clock(dut.clk, 10, unit="ns").start()  # cocotb 2: start() launches the task
    dut.en.value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    assert dut.count.value.to_unsigned() == 0


async def _count(dut, n):
    """Enable for n rising edges; drives and samples on falling edges."""
    dut.en.value = 1
    await ClockCycles(dut.clk, n)
    await FallingEdge(dut.clk)
    dut.en.value = 0
    return dut.count.value.to_unsigned()


@cocotb.test()
async def test_count(dut):
    n = int(load_params().get("cycles", 5))
    await _reset(dut)
    got = await _count(dut, n)
    assert got == n % 256, f"count is {got}, expected {n % 256}"
    # disabled: holds its value
    await ClockCycles(dut.clk, 3)
    await FallingEdge(dut.clk)
    assert dut.count.value.to_unsigned() == n % 256


@cocotb.test()
async def test_wrap(dut):
    await _reset(dut)
    got = await _count(dut, 256 + 3)
    assert got == 3, f"count is {got}, expected 3 after wrapping"


@cocotb.test(skip=True)
async def test_wrong_count(dut):
    """Must fail: expects one more than the counter can have counted."""
    n = int(load_params().get("cycles", 5))
    await _reset(dut)
    got = await _count(dut, n)
    assert got == n + 1, f"count is {got}, expected {n + 1}"


@cocotb.test(skip=True)
async def test_hang(dut):
    """Never ends in wall-clock terms: for the timeout_s test."""
    await _reset(dut)
    while True:
        await Timer(1, unit="us")
