"""The `hwconv` command as users run it: a real subprocess, exit codes, one-line errors."""
import subprocess
import sys

import numpy as np
import pytest
from onnx import helper

from hwconv.demo import bundled_digits, bundled_model
from tests.compiler.onnx_models import make_model

HWCONV = [sys.executable, "-m", "hwconv.cli"]


def hwconv(*args, ok=True):
    p = subprocess.run([*HWCONV, *map(str, args)], capture_output=True, text=True, timeout=600)
    if ok:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def assert_one_line_error(p, *fragments):
    assert p.returncode == 2, p.stdout + p.stderr
    assert "Traceback" not in p.stderr
    lines = [line for line in p.stderr.splitlines() if line.startswith("hwconv: error:")]
    assert len(lines) == 1, p.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.fixture(scope="module")
def lenet_design(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    digits = bundled_digits()
    np.save(tmp / "cal.npy", digits["calibration"])
    np.save(tmp / "x.npy", digits["test_x"][:2])
    hwconv("compile", bundled_model(), "--bits", 16, "--calibration", tmp / "cal.npy",
           "-o", tmp / "d")
    return tmp


def test_compile_writes_the_design_folder(lenet_design):
    d = lenet_design / "d"
    for f in ("graph.json", "weights.npz", "rtl/hwconv_top.v", "report.json", "report.html"):
        assert (d / f).is_file(), f


def test_reference_writes_dequantized_outputs(lenet_design):
    t = lenet_design
    hwconv("reference", t / "d", "--input", t / "x.npy", "--output", t / "y.npy")
    y = np.load(t / "y.npy")
    assert y.shape == (2, 10)
    assert (y.argmax(1) == bundled_digits()["test_y"][:2]).all()


def test_sim_pysim_is_bit_exact_and_prints_cycles(lenet_design):
    t = lenet_design
    np.save(t / "x1.npy", bundled_digits()["test_x"][0])   # one (C, H, W) frame
    p = hwconv("sim", t / "d", "--input", t / "x1.npy", "--simulator", "pysim",
               "--output", t / "ys.npy")
    assert "bit-exact: all 1 frames equal the reference" in p.stdout
    assert "cycles/frame" in p.stdout
    hwconv("reference", t / "d", "--input", t / "x1.npy", "--output", t / "yr.npy")
    np.testing.assert_array_equal(np.load(t / "ys.npy"), np.load(t / "yr.npy"))


@pytest.mark.verilator
def test_sim_reports_the_first_mismatch(lenet_design, tmp_path):
    """Change one bias of the saved graph but not the saved Verilog: sim must catch it."""
    import shutil
    d = tmp_path / "d"
    shutil.copytree(lenet_design / "d", d)
    w = dict(np.load(d / "weights.npz"))
    w["/9/Gemm/bias"] = w["/9/Gemm/bias"] + np.array([0, 0, 0, 5.0, 0, 0, 0, 0, 0, 0])
    np.savez(d / "weights.npz", **w)
    np.save(tmp_path / "x1.npy", bundled_digits()["test_x"][:1])
    p = hwconv("sim", d, "--input", tmp_path / "x1.npy", ok=False)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "MISMATCH: first difference in frame 0 at index (3,)" in p.stdout


def test_unsupported_op_is_one_line(tmp_path):
    import onnx
    m = make_model([helper.make_node("Softsign", ["x"], ["y"], name="act7")], {})
    onnx.save(m, tmp_path / "m.onnx")
    assert_one_line_error(hwconv("compile", tmp_path / "m.onnx", "-o", tmp_path / "o", ok=False),
                          "act7 (Softsign): op Softsign is not supported")
    assert not (tmp_path / "o").exists()


def test_not_onnx_is_one_line(tmp_path):
    (tmp_path / "m.onnx").write_text("hello")
    assert_one_line_error(hwconv("compile", tmp_path / "m.onnx", "-o", tmp_path / "o", ok=False),
                          "m.onnx: not an ONNX model")


def test_wrong_input_shape_is_one_line(lenet_design):
    t = lenet_design
    np.save(t / "bad.npy", np.zeros((2, 1, 32, 32)))
    for cmd in (["reference", t / "d", "--input", t / "bad.npy", "--output", t / "o.npy"],
                ["sim", t / "d", "--input", t / "bad.npy", "--simulator", "pysim"]):
        assert_one_line_error(hwconv(*cmd, ok=False), "input frames have shape (2, 1, 32, 32)",
                              "(N, 1, 28, 28)")


def test_missing_design_and_unreadable_frames(tmp_path, lenet_design):
    assert_one_line_error(hwconv("reference", tmp_path / "nope", "--input", "x.npy", "--output",
                                 "y.npy", ok=False), "is not a hwconv design folder")
    (tmp_path / "x.npy").write_text("junk")
    assert_one_line_error(hwconv("reference", lenet_design / "d", "--input", tmp_path / "x.npy",
                                 "--output", tmp_path / "y.npy", ok=False), "cannot read frames")


def test_dsp_budget_refuses_designs_that_do_not_fit(tmp_path):
    p = hwconv("compile", bundled_model(), "--lanes", 32, "--dsp-budget", 50, "-o",
               tmp_path / "o", ok=False)
    assert_one_line_error(p, "needs 121 DSP48E1", "--dsp-budget is 50")
    p = hwconv("compile", bundled_model(), "--dsp-budget", 3, "-o", tmp_path / "o", ok=False)
    assert_one_line_error(p, "budget of 3 cannot give each of the 4 weighted layers")


def test_dsp_budget_balances_the_layers(tmp_path):
    p = hwconv("compile", bundled_model(), "--dsp-budget", 60, "-o", tmp_path / "o")
    assert "58 multipliers" in p.stdout and "~4,608 cycles/frame" in p.stdout
