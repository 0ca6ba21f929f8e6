"""cocotb bench for any hwconv stream design (a unit or a whole DataflowTop).

Run through ``hwconv.sim.verilator.run_cocotb`` with params (``load_params()``):
  beats: input beats as hex strings; frame_in / frame_out: beats per frame in and out;
  patterns: list of StallPattern fields; result: path of the JSON file to write;
  max_idle: cycles without any handshake after which the design is declared stuck;
  profile: read the ``prof`` port (a profiled DataflowTop) in the cycle after the last
  expected output beat, as the fast harness does (hex string).
For each pattern, from reset: streams every beat in, collects the expected number of beats
out, then keeps the sink ready for ``settle`` cycles to catch beats that should not exist.
Inputs are driven on falling edges and handshakes sampled just before the rising edge.
"""
import json
import random
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

from hwconv.sim.verilator import load_params


async def _run_pattern(dut, p, pattern):
    beats = [int(b, 16) for b in p["beats"]]
    n_out = len(beats) // p["frame_in"] * p["frame_out"]
    src_rng, snk_rng = random.Random(pattern["seed"]), random.Random(pattern["seed"] + 1)
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    await FallingEdge(dut.clk)
    dut.rst.value = 0

    k, out, cycle, idle_run = 0, [], 0, 0
    first_in, first_out, last_out = [], [], []
    profile = None
    presenting = False
    settle = p.get("settle", 64)
    extra = 0
    t0 = time.monotonic()
    while len(out) < n_out or settle > 0:
        done = len(out) >= n_out
        if not presenting and k < len(beats) and src_rng.random() >= pattern["idle"]:
            presenting = True
            dut.i__payload.value = beats[k]
        dut.i__valid.value = int(presenting)
        ready = done or snk_rng.random() >= pattern["backpressure"]
        dut.o__ready.value = int(ready)
        await ReadOnly()
        if done and profile is None and p.get("profile"):
            profile = f"{dut.prof.value.to_unsigned():x}"
        progressed = False
        if presenting and int(dut.i__ready.value):
            if k % p["frame_in"] == 0:
                first_in.append(cycle)
            k += 1
            presenting, progressed = False, True
        if ready and int(dut.o__valid.value):
            if done:
                extra += 1
            else:
                if len(out) % p["frame_out"] == 0:
                    first_out.append(cycle)
                out.append(dut.o__payload.value.to_unsigned())
                if len(out) % p["frame_out"] == 0:
                    last_out.append(cycle)
            progressed = True
        if done:
            settle -= 1
        idle_run = 0 if progressed else idle_run + 1
        assert idle_run < p["max_idle"], (
            f"pattern {pattern['name']}: stuck for {idle_run} cycles after {k} of "
            f"{len(beats)} input beats and {len(out)} of {n_out} output beats")
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
        cycle += 1
    result = {"pattern": pattern["name"], "outputs": [f"{v:x}" for v in out], "extra": extra,
              "first_in": first_in, "first_out": first_out, "last_out": last_out,
              "cycles": cycle, "sim_seconds": time.monotonic() - t0}
    if profile is not None:
        result["profile"] = profile
    return result


@cocotb.test()
async def stream_frames(dut):
    p = load_params()
    Clock(dut.clk, 10, unit="ns").start()
    results = [await _run_pattern(dut, p, pattern) for pattern in p["patterns"]]
    with open(p["result"], "w") as f:
        json.dump(results, f)
