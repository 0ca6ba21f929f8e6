"""The bundled trained LeNet, compiled and simulated whole in Verilator (the fast C++ frame
harness, the default path): every output of every frame equal to the reference, under all
four stall patterns."""
import numpy as np
import pytest
from numpy.testing import assert_array_equal

import hwconv
from hwconv.demo import bundled_digits, bundled_model
from hwconv.sim.packing import beats_to_frame, frame_to_beats
from hwconv.sim.run import run_stream_fast
from hwconv.sim.stalls import STALL_PATTERNS
from hwconv.sim.verilator import verilator_toolchain_available

pytestmark = [pytest.mark.verilator,
              pytest.mark.skipif(not verilator_toolchain_available(),
                                 reason="Verilator is not installed")]


@pytest.fixture(scope="module")
def lenet():
    return hwconv.compile(bundled_model(), bundled_digits()["calibration"])


def test_lenet_bit_exact_under_every_stall_pattern(lenet):
    x = bundled_digits()["test_x"][:3]
    xi = lenet.quantize_input(x)
    expected = hwconv.reference.run(lenet.graph, xi)
    beats = [b for f in xi for b in frame_to_beats(f, 16)]
    runs = [run_stream_fast(lenet.verilog(), "hwconv_top", beats, 28 * 28, 1, pattern)
            for pattern in STALL_PATTERNS.values()]
    for run in runs:
        got = np.stack([beats_to_frame([b], (10,), 16) for b in run["outputs"]])
        assert_array_equal(got, expected, err_msg=run["pattern"])
        assert run["extra"] == 0


def test_lenet_simulate_api_reports_cycles_and_accuracy(lenet):
    digits = bundled_digits()
    x, y = digits["test_x"][:8], digits["test_y"][:8]
    result = lenet.simulate(x)
    assert result.simulator == "verilator" and result.sim_seconds > 0
    assert result.bit_exact, result.first_mismatch()
    # The estimate is the slowest unit's pace; the pipeline cannot beat it.
    assert result.cycles_per_frame >= lenet.report["cycles_per_frame_estimate"]
    # The balanced pipeline keeps its pace (seen: 809 cycles against 784 estimated).
    assert result.cycles_per_frame <= 1.10 * lenet.report["cycles_per_frame_estimate"]
    hw_top1 = result.outputs.argmax(1)
    assert (hw_top1 == lenet.reference_float(x).argmax(1)).mean() >= 7 / 8
    assert (hw_top1 == y).mean() >= 7 / 8
