"""The parallelism pass: layers balanced under a DSP48E1 budget, and the cycles it
predicts are what simulation measures."""
import numpy as np
import pytest

import hwconv
from hwconv import ir
from hwconv.compiler import estimate
from hwconv.compiler.frontends.onnx import load_onnx
from hwconv.compiler.passes.parallelism import choose_parallelism
from hwconv.demo import bundled_digits, bundled_model
from hwconv.errors import CompileError
from hwconv.rtl.top import stream_shapes


def frame_cycles(graph, choice):
    shapes = stream_shapes(graph)
    return max(estimate.cycles(n, graph, shapes[n.inputs[0]], choice.get(n.name, 1))
               for n in graph.nodes if n.inputs)


def test_more_budget_is_never_slower_and_never_overspent():
    g = load_onnx(bundled_model())
    last = None
    for budget in (4, 10, 30, 60, 121, 250, 691):
        choice = choose_parallelism(g, budget)
        assert sum(a * b for a, b in choice.values()) <= budget
        cycles = frame_cycles(g, choice)
        assert last is None or cycles <= last
        last = cycles
    # With the whole part, the pipeline runs at the pace of its input: 28 x 28 pixels.
    assert last == 28 * 28


def test_the_chosen_pace_is_the_fastest_that_fits():
    g = load_onnx(bundled_model())
    choice = choose_parallelism(g, 60)
    cycles = frame_cycles(g, choice)
    # Any faster target needs more than the budget for some layer combination.
    from hwconv.compiler.passes.parallelism import cheapest
    faster = [cheapest(n, g, cycles - 1) for n in g.nodes if isinstance(n, ir.WEIGHTED)]
    assert any(c is None for c in faster) or sum(a * b for a, b in faster) > 60


def test_too_small_a_budget_is_refused():
    with pytest.raises(CompileError, match="budget of 2 cannot give each of the 4"):
        choose_parallelism(load_onnx(bundled_model()), 2)


def test_simulated_cycles_follow_the_estimate():
    """A small two-convolution net, balanced under 24 DSP48E1, in Amaranth's simulator."""
    rng = np.random.default_rng(0)
    g = ir.Graph((ir.Input("x", shape=(2, 10, 10)),
                  ir.Conv2d("c1", ("x",), weight=rng.normal(0, 0.5, (4, 2, 3, 3)),
                            bias=np.zeros(4)),
                  ir.ReLU("r", ("c1",)),
                  ir.Conv2d("c2", ("r",), weight=rng.normal(0, 0.5, (6, 4, 3, 3)),
                            bias=np.zeros(6)),
                  ir.Output("y", ("c2",))))
    design = hwconv.compile(g, rng.normal(0, 1, (4, 2, 10, 10)), dsp_budget=24)
    predicted = design.report["cycles_per_frame_estimate"]
    result = design.simulate(rng.normal(0, 1, (3, 2, 10, 10)), simulator="pysim")
    assert result.bit_exact
    # Steady state, frames back to back: within 5% of the slowest unit's pace (seen: 2.4%;
    # 13% before the FIFOs in front of windowed units held their fill).
    assert predicted <= result.cycles_per_frame <= 1.05 * predicted


def two_convs_and_a_tanh():
    """conv 3x3 4->32, tanh, conv 3x3 32->64 on 16x16: the second layer's weights fill
    block RAM, the tanh follows a slow layer."""
    from hwconv.compiler.passes.lower import lower
    from hwconv.compiler.passes.quantize import quantize_graph
    rng = np.random.default_rng(0)
    g = ir.Graph((
        ir.Input("x", shape=(4, 16, 16)),
        ir.Conv2d("c1", ("x",), weight=rng.normal(0, 0.2, (32, 4, 3, 3)),
                  bias=rng.normal(0, 0.1, 32)),
        ir.Tanh("t1", ("c1",)),
        ir.Conv2d("c2", ("t1",), weight=rng.normal(0, 0.05, (64, 32, 3, 3)),
                  bias=rng.normal(0, 0.1, 64)),
        ir.Output("y", ("c2",))))
    return quantize_graph(lower(g), rng.normal(0, 1, (4, 4, 16, 16)))


def test_every_budget_holds_for_the_whole_design():
    """DSP48E1 of every unit (the tanh's interpolation too), block RAM and LUTs, as the
    estimate of the built design counts them; over the block RAM budget, weights move
    into LUT ROMs; the tanh takes its 32 channels in turn."""
    from hwconv.compiler.passes.parallelism import plan_report
    g = two_convs_and_a_tanh()
    plan = plan_report(g, 64, ramb18_budget=4)
    design = hwconv.Design(g, plan["plan"])
    total = design.report["resources_estimate"]
    assert total["dsp48e1"] <= 64
    assert estimate.ramb18_equivalent(total) <= 4
    assert total["lut"] <= plan["budgets"]["lut"]
    assert plan["plan"]["t1"] == ("serial", 1)
    assert estimate.logic_lanes(plan["plan"]["c2"]) > 0
    assert plan["bottleneck"] == "c2" and plan["limited_by"] == ["DSP48E1"]
    assert plan["target_cycles"] == design.report["cycles_per_frame_estimate"]


def test_a_part_too_small_is_refused_naming_the_resource():
    from hwconv.compiler.passes.parallelism import choose_parallelism as choose
    with pytest.raises(CompileError, match="no plan fits the budgets: .*LUT .* over the budget of 5,000"
                                           ".*narrow the weights \\(weight_bits in --config"):
        choose(two_convs_and_a_tanh(), 200, ramb18_budget=2, lut_budget=5000)
