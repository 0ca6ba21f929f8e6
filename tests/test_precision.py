"""Per-layer precision: the report's figures, per-layer formats from a config file, and the
bundled model's top-1 agreement with float at 8, 12 and 16 bits on 500 real digits."""
import numpy as np
import pytest
from numpy.testing import assert_array_equal

import hwconv
from hwconv import ir, reference
from hwconv.config import load_config
from hwconv.demo import bundled_digits, bundled_model
from hwconv.errors import CompileError
from hwconv.fixed import FixedType, counting_saturations, quantize, saturate
from hwconv.precision import format_precision, precision_report
from tests.test_cli import assert_one_line_error, hwconv as run_hwconv


def test_saturations_are_counted_and_can_be_paused():
    t = FixedType(8, 0)
    with counting_saturations() as outer:
        saturate(np.array([-129, -128, 0, 127, 128, 1000]), t)
        with counting_saturations(False):
            saturate(np.array([500, 600]), t)
        quantize(np.array([200.0, -0.4]), t)
    assert outer[0] == 4   # -129, 128, 1000 and 200


@pytest.mark.parametrize("bits", [8, 12, 16])
def test_bundled_model_agrees_with_float_on_500_digits(bits):
    digits = bundled_digits()
    design = hwconv.compile(bundled_model(), digits["calibration"], bits=bits, lanes=1)
    rep = precision_report(design.graph, digits["test_x"], digits["test_y"])
    assert rep["frames"] == 500
    # Issue 4's bar: hardware and float pick the same class on at least 99% of the digits.
    assert rep["top1_agreement"] >= 0.99, format_precision(rep)
    hw = design.reference(digits["test_x"]).argmax(1)
    assert rep["hw_top1_accuracy"] == np.mean(hw == digits["test_y"])
    assert all(r["type"].startswith(f"s{bits}.") for r in rep["layers"])
    # Rounding the input is the only error at the input: at most half an LSB.
    assert rep["layers"][0]["max_error_lsb"] <= 0.5


def small_graph():
    rng = np.random.default_rng(3)
    return ir.Graph((
        ir.Input("x", shape=(1, 8, 8)),
        ir.Conv2d("conv", ("x",), weight=rng.normal(0, 0.6, (3, 1, 3, 3)),
                  bias=rng.normal(0, 0.3, 3)),
        ir.Tanh("tanh", ("conv",)),
        ir.MaxPool2d("pool", ("tanh",), kernel=(2, 2), stride=(2, 2)),
        ir.Flatten("flat", ("pool",)),
        ir.Linear("fc", ("flat",), weight=rng.normal(0, 0.4, (4, 27)),
                  bias=rng.normal(0, 0.2, 4)),
        ir.Output("y", ("fc",))))


CONFIG = {"bits": 12, "layers": {
    # conv's outputs reach ~3; 5 fractional bits of 8 hold only [-4, 4): some saturate.
    "conv": {"bits": 8, "frac": 5, "weight_bits": 8, "lanes": 3, "out_lanes": 1},
    "tanh": {"bits": 10},
    "fc": {"weight_bits": 6, "weight_frac": 5}}}


def test_config_sets_each_layers_format_and_parallelism():
    frames = np.random.default_rng(0).normal(0, 1.5, (16, 1, 8, 8))
    design = hwconv.compile(small_graph(), frames, config=CONFIG)
    g = design.graph
    assert g["x"].fixed.width == 12 and g["fc"].fixed.width == 12
    assert g["conv"].fixed == FixedType(8, 5) and g["conv"].weight_fixed.width == 8
    assert g["tanh"].fixed == FixedType(10, 9)
    assert g["fc"].weight_fixed == FixedType(6, 5)
    assert tuple(design.lanes["conv"]) == (3, 1)
    assert "tanh" in design.lanes          # the pass's own settings for the rest remain
    assert design.precision["frames"] == 16


def test_pinned_lanes_count_in_the_dsp_budget():
    frames = np.random.default_rng(0).normal(0, 1.5, (16, 1, 8, 8))
    config = {"layers": {"conv": {"lanes": 9, "out_lanes": 3}}}
    design = hwconv.compile(small_graph(), frames, config=config, dsp_budget=30)
    assert tuple(design.lanes["conv"]) == (9, 3)
    dsps = sum(r.get("lanes", 0) * r.get("out_lanes", 0) for r in design.report["layers"])
    assert dsps <= 30 and tuple(design.lanes["fc"]) != (9, 3)


def test_saturation_count_equals_the_values_beyond_the_range():
    frames = np.random.default_rng(0).normal(0, 1.5, (16, 1, 8, 8))
    design = hwconv.compile(small_graph(), frames, config=CONFIG)
    rep = precision_report(design.graph, frames)
    conv = next(r for r in rep["layers"] if r["name"] == "conv")
    # The same layer 40 bits wide at the same scale saturates nothing: count its codes that
    # fall outside the 8-bit range, independently of the counter.
    wide = ir.Graph(tuple(ir.replace(n, fixed=FixedType(40, 5)) if n.name == "conv" else n
                          for n in design.graph.nodes))
    codes = reference.run_all(wide, design.quantize_input(frames))["conv"]
    beyond = int(np.count_nonzero((codes < -128) | (codes > 127)))
    assert beyond > 0 and conv["saturated"] == beyond
    assert rep["saturated"] == sum(r["saturated"] for r in rep["layers"])
    # A narrow weight format that clips the fc weights is reported apart from the outputs.
    fc = next(r for r in rep["layers"] if r["name"] == "fc")
    scaled = design.graph["fc"].weight * 32   # s6.5 codes run from -32 to 31, half up
    assert fc["weights_saturated"] == int(np.count_nonzero((scaled >= 31.5) |
                                                           (scaled < -32.5)))


def test_mixed_precision_design_is_bit_exact_in_simulation():
    frames = np.random.default_rng(0).normal(0, 1.5, (16, 1, 8, 8))
    design = hwconv.compile(small_graph(), frames, config=CONFIG)
    result = design.simulate(frames[:3], simulator="pysim", stalls="both")
    assert_array_equal(result.outputs, result.expected)
    assert result.extra_beats == 0


@pytest.mark.parametrize("config, fragments", [
    ({"layers": {"nope": {"bits": 8}}}, ["[layers.nope]", "no node of that name", "'conv'"]),
    ({"layers": {"pool": {"bits": 8}}}, ["[layers.pool] (MaxPool2d)", "set bits/frac on 'tanh'"]),
    ({"layers": {"tanh": {"frac": 3}}}, ["[layers.tanh] (Tanh)", "frac", "bits only"]),
    ({"layers": {"tanh": {"weight_bits": 8}}}, ["weight_bits", "only Conv2d and Linear"]),
    ({"layers": {"pool": {"lanes": 2}}}, ["lanes", "only Conv2d and Linear"]),
    ({"layers": {"conv": {"bits": 30}}}, ["[layers.conv]", "bits = 30", "2 to 24"]),
    ({"layers": {"conv": {"bits": "8"}}}, ["bits = '8'", "integer"]),
    ({"layers": {"conv": {"width": 8}}}, ["unknown setting 'width'", "weight_frac"]),
    ({"bitz": 8}, ["unknown setting 'bitz'"]),
])
def test_config_mistakes_name_the_layer_and_the_setting(config, fragments):
    frames = np.random.default_rng(0).normal(0, 1, (4, 1, 8, 8))
    with pytest.raises(CompileError) as e:
        hwconv.compile(small_graph(), frames, config=config)
    for f in fragments:
        assert f in str(e.value), str(e.value)


def test_config_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[layers.conv\nbits = 8\n")
    with pytest.raises(CompileError, match="bad.toml: not valid TOML"):
        load_config(bad)
    with pytest.raises(CompileError, match="missing.toml: cannot read"):
        load_config(tmp_path / "missing.toml")


def test_command_line_config_and_precision_report(tmp_path):
    digits = bundled_digits()
    np.save(tmp_path / "cal.npy", digits["calibration"])
    np.save(tmp_path / "x.npy", digits["test_x"][:50])
    np.save(tmp_path / "y.npy", digits["test_y"][:50])
    (tmp_path / "cfg.toml").write_text('bits = 12\n[layers."/0/Conv"]\nbits = 8\n')
    p = run_hwconv("compile", bundled_model(), "--calibration", tmp_path / "cal.npy",
                   "--config", tmp_path / "cfg.toml", "-o", tmp_path / "d")
    assert "precision on the 100 calibration frames" in p.stdout
    assert "/0/Conv          Conv     (6, 24, 24)    s8." in p.stdout
    p = run_hwconv("precision", tmp_path / "d", "--input", tmp_path / "x.npy",
                   "--labels", tmp_path / "y.npy", "--json", tmp_path / "p.json")
    assert "top-1 agreement, hardware vs float" in p.stdout
    assert "/0/Conv" in p.stdout and "s8." in p.stdout
    import json
    rep = json.loads((tmp_path / "p.json").read_text())
    assert rep["frames"] == 50 and len(rep["layers"]) == 12
    report = json.loads((tmp_path / "d" / "report.json").read_text())
    assert report["precision"]["frames"] == 100
    assert "<h2>Precision</h2>" in (tmp_path / "d" / "report.html").read_text()
    (tmp_path / "typo.toml").write_text('[layers."/0/Conv"]\nbits = 40\n')
    p = run_hwconv("compile", bundled_model(), "--calibration", tmp_path / "cal.npy",
                   "--config", tmp_path / "typo.toml", "-o", tmp_path / "e", ok=False)
    assert_one_line_error(p, "typo.toml", '[layers."/0/Conv"]', "bits = 40")
    p = run_hwconv("precision", tmp_path / "d", "--input", tmp_path / "x.npy",
                   "--labels", tmp_path / "nope.npy", ok=False)
    assert_one_line_error(p, "nope.npy", "cannot read")
