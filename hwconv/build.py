"""``hwconv build``: a bitstream-ready ISE build plan for a board.

ISE 14.7 (the last toolchain for Virtex-6) is not available where hwconv is developed, so a
build stops at the complete plan Amaranth's XilinxPlatform writes with
``platform.build(top, do_build=False)``: top.v, top.ucf, top.xst, top.prj and the scripts
build_top.sh / build_top.bat that run xst, ngdbuild, map, par and bitgen. A README in the
folder says how to run them and what the board's LEDs will show.

The board top is the network under an on-chip self-test (`hwconv.boards.selftest`): one test
frame and its reference output held in ROM, checked beat by beat on the board, with the
result on the LEDs, until the Ethernet path gives the board a host.
"""
from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass, field

import numpy as np

from .boards import BOARDS, UnknownBoardError, board_platform
from .boards.clocking import ClockingError
from .errors import HwconvError

__all__ = ["BuildError", "BuildResult", "build_board", "load_design_folder"]

NAME = "top"            # file stem of the plan: top.v, top.ucf, ...


class BuildError(HwconvError):
    pass


@dataclass
class BuildResult:
    """What `build_board` wrote."""

    folder: pathlib.Path
    board: str
    part: str
    files: list[str]
    core_mhz: float
    mmcm: dict
    frame_source: str
    out_beats: int
    repeats: int
    info: dict = field(default_factory=dict)

    def summary(self) -> str:
        what = "PLL" if self.mmcm.get("primitive") == "PLL_BASE" else "MMCM"
        text = (f"wrote the ISE build plan for {self.board} ({self.part}) to {self.folder}: "
                f"{', '.join(self.files)}\n"
                f"  core clock {self.core_mhz:g} MHz from the {what} (VCO "
                f"{self.mmcm['vco_mhz']:g} MHz); self-test: {self.frame_source}, "
                f"{self.repeats} frames per run, {self.out_beats} output "
                f"beat{'s' if self.out_beats != 1 else ''} per frame\n"
                f"  next: run `sh build_top.sh` in {self.folder} with ISE 14.7 (see README.md)")
        if "synthesis" in self.info:
            text += "\n" + _fit_text(self.info["synthesis"]["fit"], "  ",
                                     self.info["synthesis"]["tool"])
        return text


def load_design_folder(folder):
    """`Design.load` with a clear error when ``folder`` is not a design folder."""
    from .design import Design
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise BuildError(f"{folder}: no such design folder; create one with "
                         f"`hwconv compile MODEL -o {folder}`")
    if not (folder / "graph.json").is_file():
        raise BuildError(f"{folder}: not a design folder (it has no graph.json); create one "
                         f"with `hwconv compile MODEL -o {folder}`")
    return Design.load(folder)


def _tops():
    from .boards import ml605_top, sp605_top
    return {"ml605": (ml605_top.ML605SelfTestTop, ml605_top.LEDS, ml605_top.BUTTONS),
            "sp605": (sp605_top.SP605SelfTestTop, sp605_top.LEDS, sp605_top.BUTTONS)}


def fit_table(res, capacity: dict) -> list[tuple[str, int, int]]:
    """(resource, used, available) rows of a Yosys `Resources` against a part (Virtex-6, or
    Spartan-6 when ``capacity`` counts ``dsp`` and ``ramb16_equivalent``)."""
    ios = sum(n for cell, n in res.cells.items()
              if cell.startswith(("IBUF", "OBUF", "IOBUF")))
    if "ramb16_equivalent" in capacity:                  # Spartan-6: DSP48A1, RAMB16BWER/8BWER
        cells = res.cells
        return [("LUT", res.lut, capacity["lut"]), ("FF", res.ff, capacity["ff"]),
                ("DSP48A1", cells.get("DSP48A1", 0), capacity["dsp"]),
                ("RAMB8BWER + 2 x RAMB16BWER",
                 cells.get("RAMB8BWER", 0) + 2 * cells.get("RAMB16BWER", 0),
                 2 * capacity["ramb16_equivalent"]),
                ("I/O buffers", ios, capacity["user_io"])]
    return [("LUT", res.lut, capacity["lut"]), ("FF", res.ff, capacity["ff"]),
            ("DSP48E1", res.dsp48e1, capacity["dsp48e1"]),
            ("RAMB18E1 + 2 x RAMB36E1", res.ramb18 + 2 * res.ramb36,
             capacity["ramb18_equivalent"]),
            ("I/O buffers", ios, capacity["user_io"])]


def _synthesize_top(verilog: str, capacity: dict, log,
                    family: str = "xc6v") -> tuple[dict, list, str]:
    """Yosys synth_xilinx -family ``family`` of the whole board top; the rows that overflow the
    part make a BuildError. Returns the resources, the fit table and the Yosys log."""
    import tempfile

    from .synth import synthesize
    if log:
        log(f"hwconv: synthesizing the whole board top with Yosys (synth_xilinx -family "
            f"{family})...")
    with tempfile.TemporaryDirectory(prefix="hwconv-build-") as tmp:
        res = synthesize(verilog, NAME, pathlib.Path(tmp), family=family)
        yosys_log = (pathlib.Path(tmp) / "yosys.log").read_text(errors="replace")
    table = fit_table(res, capacity)
    over = [f"{name} {used:,} of {avail:,}" for name, used, avail in table if used > avail]
    if over:
        raise BuildError(f"the board top does not fit the part: {'; '.join(over)} (Yosys "
                         f"synth_xilinx -family {family}); compile for this part's budgets "
                         f"(--dsp-budget, --ramb18-budget, --lut-budget) or lower --lanes")
    return res.as_dict(), table, yosys_log


def build_board(design, board: str, output, *, frames=None, core_mhz: float | None = None,
                repeats: int = 4, timeout: int = 1 << 24, synth: bool = False,
                log=None) -> BuildResult:
    """Write the ISE build plan of ``design`` (a Design or a design folder) on ``board``.

    ``frames``: float frames (N, C, H, W) or (C, H, W); the first is the self-test frame.
    Without them a fixed pseudo-random frame spanning the input range is used. ``core_mhz``:
    the network's clock (default: the board's, 200 MHz on the ML605, 100 on the SP605).
    Nothing is written unless the whole plan was generated. ``synth``: also synthesize the
    whole board top with Yosys (the board's family: xc6v, xc6s) and refuse it if it does not
    fit the part; the resources go into build.json and the README. ``log(message)`` hears
    about slow steps.
    """
    from . import reference
    from .boards.ml605_top import ETH_HZ
    from .boards.selftest import default_test_frame, selftest_vectors
    from .rtl.top import DataflowTop

    if board not in BOARDS:
        raise UnknownBoardError(f"--board {board}: unknown board; known boards: "
                                f"{', '.join(sorted(BOARDS))}")
    if repeats < 1:
        raise BuildError(f"--repeats {repeats}: must be at least 1")
    out = pathlib.Path(output)
    if out.exists() and not out.is_dir():
        raise BuildError(f"-o {out}: exists and is not a folder")
    if not hasattr(design, "graph"):
        design = load_design_folder(design)
    graph = design.graph

    if frames is not None:
        x_int = design.quantize_input(frames)[0]
        source = "the first frame of --input"
    else:
        x_int = default_test_frame(graph)
        source = "a fixed pseudo-random frame (pass --input X.npy for a real one)"
    in_beats, out_beats = selftest_vectors(graph, x_int)
    top_cls, leds, buttons = _tops()[board]
    platform = board_platform(board)
    if core_mhz is None:
        core_mhz = getattr(platform, "default_core_mhz", 200.0)
    try:                                      # an impossible clock fails here, not later
        cfg = top_cls.clock_config(core_mhz * 1e6)
    except ClockingError as e:
        raise BuildError(f"--clock-mhz {core_mhz:g}: {e}") from None

    if log:
        log(f"hwconv: generating the ISE build plan for {board} (Amaranth, Yosys)...")
    top = top_cls(DataflowTop(graph, design.lanes), in_beats, out_beats,
                  core_hz=core_mhz * 1e6, repeats=repeats, timeout=timeout)
    overrides = {}
    if getattr(platform, "add_constraints", None):
        overrides["add_constraints"] = platform.add_constraints
    plan = platform.build(top, name=NAME, do_build=False, emit_src=False, **overrides)
    primitive = getattr(getattr(top_cls, "CLOCKING", None), "primitive", "MMCM_BASE")
    mmcm = {"primitive": primitive, "in_mhz": cfg.in_hz / 1e6, "divclk_divide": cfg.divclk,
            "clkfbout_mult": cfg.mult, "vco_mhz": cfg.vco_hz / 1e6,
            "outputs": {name: {"divide": d, "mhz": cfg.vco_hz / d / 1e6}
                        for name, d in zip(top_cls.DOMAINS, cfg.dividers)}}
    expected = reference.run(graph, x_int[None])[0]
    clock_pins = platform.resources["clk200", 0].ios[0]
    info = {"board": board, "part": platform.part, "toolchain": "ISE 14.7",
            "top": NAME, "core_mhz": core_mhz,
            **({"mmcm": mmcm} if primitive == "MMCM_BASE" else {"pll": mmcm}),
            "sysclk_pins": [*clock_pins.p.names, *clock_pins.n.names],
            "phy_reset_ms": top.phy_reset_cycles / ETH_HZ * 1e3,
            "selftest": {"frame_source": source, "repeats": repeats,
                         "timeout_cycles": timeout, "in_beats": len(in_beats),
                         "out_beats": len(out_beats), "vectors": "selftest.npz"}}

    if synth:
        family = getattr(platform, "yosys_family", "xc6v")
        resources, table, yosys_log = _synthesize_top(plan.files[f"{NAME}.v"],
                                                      platform.part_resources, log, family)
        info["synthesis"] = {"tool": f"yosys synth_xilinx -family {family} -flatten",
                             "resources": resources,
                             "fit": [{"resource": n, "used": u, "available": a}
                                     for n, u, a in table]}

    out.mkdir(parents=True, exist_ok=True)
    plan.extract(out)
    if synth:
        (out / "yosys.log").write_text(yosys_log)
    with open(out / "selftest.npz", "wb") as f:
        np.savez(f, input_int=x_int, expected_output_int=expected)
    (out / "build.json").write_text(json.dumps(info, indent=1) + "\n")
    (out / "README.md").write_text(_readme(info, leds, buttons, sorted(plan.files)))
    files = sorted([*plan.files, "build.json", "selftest.npz", "README.md",
                    *(["yosys.log"] if synth else [])])
    return BuildResult(folder=out, board=board, part=platform.part, files=files,
                       core_mhz=core_mhz, mmcm=mmcm, frame_source=source,
                       out_beats=len(out_beats), repeats=repeats, info=info)


def _fit_text(fit: list[dict], indent: str = "",
              tool: str = "yosys synth_xilinx -family xc6v") -> str:
    rows = [f"{indent}whole board top, Yosys {tool.split(' ', 1)[1].replace(' -flatten', '')}:"]
    rows += [f"{indent}  {r['resource']:<26} {r['used']:>9,} of {r['available']:>9,} "
             f"({100 * r['used'] / r['available']:.1f}%)" for r in fit]
    return "\n".join(rows)


def _readme(info: dict, leds, buttons, plan_files: list[str]) -> str:
    mmcm = info.get("mmcm") or info["pll"]
    outs = ", ".join(f"{name} {o['mhz']:g} MHz (divide {o['divide']})"
                     for name, o in mmcm["outputs"].items())
    what = "MMCM" if mmcm["primitive"] == "MMCM_BASE" else "PLL"
    lower = "150`\n(or 125, 100)" if what == "MMCM" else "62.5`\n(or 50)"
    device_package, speed = info["part"].rsplit("-", 1)
    xst_part = device_package.replace("-", "") + "-" + speed       # xc6vlx240tff1156-1
    article = ("an " if what == "MMCM" else "a ") + mmcm["primitive"]
    mult_name = "CLKFBOUT_MULT_F" if what == "MMCM" else "CLKFBOUT_MULT"
    st = info["selftest"]
    led_rows = "\n".join(f"| {name} | {meaning} |" for name, meaning in leds)
    button_rows = "\n".join(f"| {name} | {meaning} |" for name, meaning in buttons)
    synthesis = ""
    if "synthesis" in info:
        rows = "\n".join(f"| {r['resource']} | {r['used']:,} | {r['available']:,} | "
                         f"{100 * r['used'] / r['available']:.1f}% |"
                         for r in info["synthesis"]["fit"])
        synthesis = f"""
## Resources (Yosys, not ISE)

`hwconv build --synth` synthesized the whole board top with Yosys
(`{info["synthesis"]["tool"].split(" ", 1)[1]}`; log in yosys.log). ISE's own figures will differ.

| resource | used | available | |
|---|---|---|---|
{rows}
"""
    return f"""# ISE build plan: hwconv design on the {info['board'].upper()} ({info['part']})

Written by `hwconv build`. Everything ISE 14.7 needs is here; running it is the only step
left. Nothing in this folder has been through ISE yet: hwconv is developed without it.

## Build the bitstream

Linux, with ISE 14.7 installed in the default place:

```
cd {'<this folder>'}
source /opt/Xilinx/14.7/ISE_DS/settings64.sh
sh build_top.sh
```

(or `AMARANTH_ENV_ISE=/opt/Xilinx/14.7/ISE_DS/settings64.sh sh build_top.sh`, which sources
it for you). On Windows run `build_top.bat` from an ISE 14.7 command prompt. The script runs
`xst -ifn top.xst`, `ngdbuild -uc top.ucf top.ngc`, `map`, `par` and `bitgen`, and leaves
`top.bit` (and `top.bin`).

Timing: the core clock is {info['core_mhz']:g} MHz, derived by ISE from the TIMESPEC on
SYSCLK; `top_par.par` ends with the score of every PERIOD constraint. If the design does not
meet it, write the plan again with a lower clock: `hwconv build ... --clock-mhz {lower}.

Load `top.bit` with iMPACT (Boundary Scan, Initialize Chain, assign top.bit to the
{info['part'].split('-')[0]}, Program) over the {info['board'].upper()}'s USB JTAG port.

## Files

| file | what it is |
|---|---|
| top.v | the whole board top in Verilog: {what}, self-test, network |
| top.ucf | pins (LOC), I/O standards, TIMESPEC PERIOD for each clock input |
| top.xst | XST script (part {xst_part}, top module `top`) |
| top.prj | XST project: the Verilog files |
| build_top.sh, build_top.bat | the ISE flow: xst, ngdbuild, map, par, bitgen |
| build_top.json | the same commands as data |
| build.json | board, part, clocks, {what} settings, self-test parameters |
| selftest.npz | the test frame and its expected output (integers, numpy) |

All files of the plan: {', '.join(plan_files)}.

## Clocks

The 200 MHz LVDS system clock (SYSCLK, pins {'/'.join(info['sysclk_pins'])}) drives {article}
(DIVCLK_DIVIDE {mmcm['divclk_divide']}, {mult_name} {mmcm['clkfbout_mult']},
VCO {mmcm['vco_mhz']:g} MHz) with outputs {outs}. Each clock domain is held in reset until
the {what} locks and is released by a reset synchronizer.

## What the board shows

After configuration the board runs the self-test once: the network gets the test frame
({st['frame_source']}; {st['in_beats']} input beats) {st['repeats']} times back to back
from block RAM, and each of its {st['out_beats']} output beat(s) per frame is compared with
the bit-exact reference held in a second ROM (selftest.npz holds both, as integers).

| LED | meaning |
|---|---|
{led_rows}

| control | effect |
|---|---|
{button_rows}

A time-out is declared after {st['timeout_cycles']:,} core cycles without an output beat.
The Ethernet PHY is held in reset for {info['phy_reset_ms']:.0f} ms, then left idle (nothing is transmitted;
the link LEDs of the RJ45 come on when a cable is plugged in). The USB-UART is idle.
{synthesis}"""
