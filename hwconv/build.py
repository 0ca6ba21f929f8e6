"""``hwconv build``: a bitstream-ready ISE build plan for a board.

ISE 14.7 (the last toolchain for Virtex-6) is not available where hwconv is developed, so a
build stops at the complete plan Amaranth's XilinxPlatform writes with
``platform.build(top, do_build=False)``: top.v, top.ucf, top.xst, top.prj and the scripts
build_top.sh / build_top.bat that run xst, ngdbuild, map, par and bitgen. A README in the
folder says how to run them, how to reach the board and what its LEDs will show.

The board top is, by default, the network behind the Ethernet endpoint
(`hwconv.boards.ethernet.EthernetPanel`: the frame protocol of docs/protocol.md over UDP on the
board's GMII port; ``--mac``, ``--ip``, ``--port`` set its addresses), which `hwconv run`
drives. With ``selftest=True`` (``--selftest``) it is the network under an on-chip self-test
(`hwconv.boards.selftest`): one test frame and its reference output held in ROM, checked beat
by beat on the board, with the result on the LEDs, no host needed.
"""
from __future__ import annotations

import ipaddress
import json
import pathlib
from dataclasses import dataclass, field

import numpy as np

from .boards import BOARDS, UnknownBoardError, board_platform
from .boards.clocking import ClockingError
from .errors import HwconvError

__all__ = ["BuildError", "BuildResult", "build_board", "load_design_folder"]

NAME = "top"            # file stem of the plan: top.v, top.ucf, ...
# The Ethernet top's core clock at least GMII's: the received bytes cross into it through a
# 32-byte AsyncFIFO read every cycle, without back-pressure (hwconv.rtl.eth.ProtocolBoard).
MIN_ETHERNET_CORE_MHZ = 125.0


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
    frame_source: str | None
    out_beats: int | None
    repeats: int | None
    info: dict = field(default_factory=dict)

    @property
    def mode(self) -> str:
        """"ethernet" (the default top) or "selftest"."""
        return self.info.get("mode", "selftest")

    def summary(self) -> str:
        what = "PLL" if self.mmcm.get("primitive") == "PLL_BASE" else "MMCM"
        if self.mode == "selftest":
            runs = (f"self-test: {self.frame_source}, {self.repeats} frames per run, "
                    f"{self.out_beats} output beat{'s' if self.out_beats != 1 else ''} per "
                    f"frame")
        else:
            e = self.info["ethernet"]
            runs = (f"Ethernet: {e['ip']} port {e['port']}, MAC {e['mac']}, {e['slots']} "
                    f"frame slots; from a host: hwconv run --device {e['ip']}:{e['port']} ...")
        text = (f"wrote the ISE build plan for {self.board} ({self.part}) to {self.folder}: "
                f"{', '.join(self.files)}\n"
                f"  core clock {self.core_mhz:g} MHz from the {what} (VCO "
                f"{self.mmcm['vco_mhz']:g} MHz); {runs}\n"
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
    """{board: its top module}: ``Top`` (the class, with the clocking), ``SelfTestTop`` and
    ``EthernetTop`` (constructors), ``LEDS``/``BUTTONS`` and ``ETHERNET_LEDS``/
    ``ETHERNET_BUTTONS`` (what the README says)."""
    from .boards import ml605_top, sp605_top
    return {"ml605": ml605_top, "sp605": sp605_top}


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
                selftest: bool = False, repeats: int | None = None, timeout: int = 1 << 24,
                mac=None, ip=None, port=None, slots: int | None = None, synth: bool = False,
                log=None) -> BuildResult:
    """Write the ISE build plan of ``design`` (a Design or a design folder) on ``board``.

    By default the top is the network behind the Ethernet endpoint: ``mac`` (e.g.
    "02:00:00:00:00:01"), ``ip`` ("192.168.1.128"), ``port`` (9000) are its addresses (strings
    or integers; the defaults of `hwconv.boards.ethernet`), ``slots`` the frames it holds at
    once (a power of 2, default 4). ``selftest``: the network under the on-chip self-test instead;
    ``frames`` are float frames (N, C, H, W) or (C, H, W) whose first is the self-test frame
    (without them a fixed pseudo-random frame spanning the input range is used), ``repeats``
    frames per run (default 4), FAIL after ``timeout`` silent cycles.

    ``core_mhz``: the network's clock (default: the board's, 200 MHz on the ML605, 100 on the
    SP605). Nothing is written unless the whole plan was generated. ``synth``: also synthesize
    the whole board top with Yosys (the board's family: xc6v, xc6s) and refuse it if it does
    not fit the part; the resources go into build.json and the README. ``log(message)`` hears
    about slow steps.
    """
    from . import reference
    from .boards.board_top import ETH_HZ
    from .boards.selftest import default_test_frame, selftest_vectors
    from .rtl.top import DataflowTop

    if board not in BOARDS:
        raise UnknownBoardError(f"--board {board}: unknown board; known boards: "
                                f"{', '.join(sorted(BOARDS))}")
    if selftest:
        given = [f"--{name}" for name, v in (("mac", mac), ("ip", ip), ("port", port),
                                             ("slots", slots)) if v is not None]
        if given:
            raise BuildError(f"{', '.join(given)}: a --selftest build has no Ethernet "
                             f"endpoint; leave out --selftest to build one")
        repeats = 4 if repeats is None else repeats
        if repeats < 1:
            raise BuildError(f"--repeats {repeats}: must be at least 1")
    else:
        given = [name for name, v in (("--input", frames), ("--repeats", repeats))
                 if v is not None]
        if given:
            raise BuildError(f"{' and '.join(given)} set{'s' if len(given) == 1 else ''} "
                             f"the on-chip self-test; add --selftest to build it (the default "
                             f"build is the Ethernet top, which gets its frames from a host)")
        from .boards.ethernet import (DEFAULT_IP, DEFAULT_MAC, DEFAULT_PORT, parse_ip,
                                      parse_mac, parse_port)
        try:
            mac_int = parse_mac(DEFAULT_MAC if mac is None else mac)
            ip_int = parse_ip(DEFAULT_IP if ip is None else ip)
            port_int = parse_port(DEFAULT_PORT if port is None else port)
        except HwconvError as e:
            raise BuildError(str(e)) from None
    out = pathlib.Path(output)
    if out.exists() and not out.is_dir():
        raise BuildError(f"-o {out}: exists and is not a folder")
    if not hasattr(design, "graph"):
        design = load_design_folder(design)
    graph = design.graph

    tops = _tops()[board]
    top_cls = tops.Top
    platform = board_platform(board)
    if core_mhz is None:
        core_mhz = getattr(platform, "default_core_mhz", 200.0)
        if not selftest:
            core_mhz = max(core_mhz, MIN_ETHERNET_CORE_MHZ)
    elif not selftest and core_mhz < MIN_ETHERNET_CORE_MHZ:
        raise BuildError(f"--clock-mhz {core_mhz:g}: the Ethernet top needs a core clock of at "
                         f"least {MIN_ETHERNET_CORE_MHZ:g} MHz (received bytes cross from "
                         f"the 125 MHz GMII clock into it without back-pressure); give "
                         f"--clock-mhz {MIN_ETHERNET_CORE_MHZ:g} or more, or build the "
                         f"--selftest top")
    try:                                      # an impossible clock fails here, not later
        cfg = top_cls.clock_config(core_mhz * 1e6)
    except ClockingError as e:
        raise BuildError(f"--clock-mhz {core_mhz:g}: {e}") from None

    if selftest:
        if frames is not None:
            x_int = design.quantize_input(frames)[0]
            source = "the first frame of --input"
        else:
            x_int = default_test_frame(graph)
            source = "a fixed pseudo-random frame (pass --input X.npy for a real one)"
        in_beats, out_beats = selftest_vectors(graph, x_int)
        top = tops.SelfTestTop(DataflowTop(graph, design.lanes), in_beats, out_beats,
                               core_hz=core_mhz * 1e6, repeats=repeats, timeout=timeout)
        leds, buttons = tops.LEDS, tops.BUTTONS
    else:
        from .boards.ethernet import device_info
        slots = 4 if slots is None else slots
        try:
            dev = device_info(graph, slots)
        except ValueError as e:
            raise BuildError(f"the Ethernet top cannot carry this design: {e}") from None
        top = tops.EthernetTop(DataflowTop(graph, design.lanes), dev, mac=mac_int, ip=ip_int,
                               port=port_int, core_hz=core_mhz * 1e6)
        leds, buttons = tops.ETHERNET_LEDS, tops.ETHERNET_BUTTONS

    if log:
        log(f"hwconv: generating the ISE build plan for {board} (Amaranth, Yosys)...")
    overrides = {}
    if getattr(platform, "add_constraints", None):
        overrides["add_constraints"] = platform.add_constraints
    plan = platform.build(top, name=NAME, do_build=False, emit_src=False, **overrides)
    primitive = top_cls.CLOCKING.primitive
    mmcm = {"primitive": primitive, "in_mhz": cfg.in_hz / 1e6, "divclk_divide": cfg.divclk,
            "clkfbout_mult": cfg.mult, "vco_mhz": cfg.vco_hz / 1e6,
            "outputs": {name: {"divide": d, "mhz": cfg.vco_hz / d / 1e6}
                        for name, d in zip(top_cls.DOMAINS, cfg.dividers)}}
    clock_pins = platform.resources["clk200", 0].ios[0]
    info = {"board": board, "part": platform.part, "toolchain": "ISE 14.7",
            "top": NAME, "mode": "selftest" if selftest else "ethernet",
            "core_mhz": core_mhz,
            **({"mmcm": mmcm} if primitive == "MMCM_BASE" else {"pll": mmcm}),
            "sysclk_pins": [*clock_pins.p.names, *clock_pins.n.names],
            "phy_reset_ms": top.phy_reset_cycles / ETH_HZ * 1e3}
    if selftest:
        expected = reference.run(graph, x_int[None])[0]
        info["selftest"] = {"frame_source": source, "repeats": repeats,
                            "timeout_cycles": timeout, "in_beats": len(in_beats),
                            "out_beats": len(out_beats), "vectors": "selftest.npz"}
    else:
        info["ethernet"] = {
            "mac": ":".join(f"{b:02x}" for b in mac_int.to_bytes(6, "big")),
            "ip": str(ipaddress.IPv4Address(ip_int)), "port": port_int, "slots": slots,
            "chunk_bytes": dev.input.chunk_bytes, "design_id": f"{dev.design_id:#010x}",
            "frame_bytes_in": dev.input.frame_bytes, "frame_bytes_out": dev.output.frame_bytes,
            "input_chunks": dev.input.chunks, "output_chunks": dev.output.chunks}

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
    extra = ["build.json", "README.md"]
    if selftest:
        with open(out / "selftest.npz", "wb") as f:
            np.savez(f, input_int=x_int, expected_output_int=expected)
        extra.append("selftest.npz")
    (out / "build.json").write_text(json.dumps(info, indent=1) + "\n")
    (out / "README.md").write_text(_readme(info, leds, buttons, sorted(plan.files)))
    files = sorted([*plan.files, *extra, *(["yosys.log"] if synth else [])])
    return BuildResult(folder=out, board=board, part=platform.part, files=files,
                       core_mhz=core_mhz, mmcm=mmcm,
                       frame_source=source if selftest else None,
                       out_beats=len(out_beats) if selftest else None,
                       repeats=repeats if selftest else None, info=info)


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
    selftest = info["mode"] == "selftest"
    if selftest:
        lower = ("a lower clock: `hwconv build ... --clock-mhz 150` (or 125, 100)"
                 if what == "MMCM" else "a lower clock: `hwconv build ... --clock-mhz 62.5`\n"
                 "(or 50)")
    elif info["core_mhz"] > MIN_ETHERNET_CORE_MHZ:
        lower = ("a lower clock: `hwconv build ... --clock-mhz 150` (or 125; the Ethernet\n"
                 "top needs at least 125 MHz)")
    else:
        lower = ("fewer lanes (`hwconv compile --lanes`): the Ethernet top's core\n"
                 "clock cannot go below 125 MHz, the GMII clock")
    device_package, speed = info["part"].rsplit("-", 1)
    xst_part = device_package.replace("-", "") + "-" + speed       # xc6vlx240tff1156-1
    article = ("an " if what == "MMCM" else "a ") + mmcm["primitive"]
    mult_name = "CLKFBOUT_MULT_F" if what == "MMCM" else "CLKFBOUT_MULT"
    led_rows = "\n".join(f"| {name} | {meaning} |" for name, meaning in leds)
    button_rows = "\n".join(f"| {name} | {meaning} |" for name, meaning in buttons)
    controls = (f"| LED | meaning |\n|---|---|\n{led_rows}\n\n"
                f"| control | effect |\n|---|---|\n{button_rows}\n")   # both builds
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
    phy_reset = f"The Ethernet PHY is held in reset for {info['phy_reset_ms']:.0f} ms after configuration"
    if selftest:
        st = info["selftest"]
        top_what = "self-test, network"
        files_extra = ("| build.json | board, part, clocks, "
                       f"{what} settings, self-test parameters |\n"
                       "| selftest.npz | the test frame and its expected output (integers, "
                       "numpy) |")
        shows = f"""## What the board shows

This is the self-test build (`hwconv build --selftest`); without `--selftest`, hwconv builds
the network behind the Ethernet endpoint instead, for a host to send frames to.

After configuration the board runs the self-test once: the network gets the test frame
({st['frame_source']}; {st['in_beats']} input beats) {st['repeats']} times back to back
from block RAM, and each of its {st['out_beats']} output beat(s) per frame is compared with
the bit-exact reference held in a second ROM (selftest.npz holds both, as integers).

{controls}
A time-out is declared after {st['timeout_cycles']:,} core cycles without an output beat.
{phy_reset}, then left idle (nothing is transmitted;
the link LEDs of the RJ45 come on when a cable is plugged in). The USB-UART is idle.
"""
    else:
        e = info["ethernet"]
        top_what = "GMII port, Ethernet endpoint, protocol engine, network"
        files_extra = ("| build.json | board, part, clocks, "
                       f"{what} settings, the board's addresses and frame format |")
        shows = f"""## Talking to the board

The board answers the frame protocol of hwconv's docs/protocol.md over UDP, on Gigabit
Ethernet through the RJ45 jack (88E1111 PHY, GMII):

| | |
|---|---|
| IP address | {e['ip']} |
| UDP port | {e['port']} |
| MAC address | {e['mac']} |
| frames held at once | {e['slots']} |
| a frame | {e['frame_bytes_in']:,} bytes in ({e['input_chunks']} chunk(s) of up to {e['chunk_bytes']} bytes), {e['frame_bytes_out']:,} out ({e['output_chunks']} chunk(s)) |
| design id (INFO) | {e['design_id']} |

(`hwconv build --ip A.B.C.D --port N --mac XX:XX:XX:XX:XX:XX` writes the plan with other
addresses.) Connect the board to a host on the same IPv4 network, e.g. a host at
192.168.1.10/24 for the default address, directly or through a Gigabit switch; the board
answers ARP for its address. Then, from the host:

```
hwconv run --device {e['ip']}:{e['port']} --input X.npy --output Y.npy --design DESIGN_DIR
```

sends the frames of X.npy, takes the results back (lost datagrams are asked for again) and
checks with `--design` that the board runs that design. The link must come up at
1000 Mb/s: GMII carries only Gigabit (at 10 or 100 Mb/s the PHY would want MII).

Inside: the PHY's received bytes are captured on its receive clock (RX_CLK) and cross to the
125 MHz transmit clock through an AsyncFIFO (an elastic buffer: the two clocks are both
125 MHz but not the same); the UDP endpoint (Ethernet, IPv4, UDP, ARP) runs at 125 MHz, the
protocol engine and the network on the core clock, joined by two more AsyncFIFOs. Transmit
bytes leave through I/O flip-flops with GTX_CLK forwarded inverted (its rising edge mid-byte).

{controls}
{phy_reset} and then left to
negotiate the link with its strapped defaults (MDIO is not driven). The USB-UART is idle.
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
meet it, write the plan again with {lower}.

Load `top.bit` with iMPACT (Boundary Scan, Initialize Chain, assign top.bit to the
{info['part'].split('-')[0]}, Program) over the {info['board'].upper()}'s USB JTAG port.

## Files

| file | what it is |
|---|---|
| top.v | the whole board top in Verilog: {what}, {top_what} |
| top.ucf | pins (LOC), I/O standards, TIMESPEC PERIOD for each clock input |
| top.xst | XST script (part {xst_part}, top module `top`) |
| top.prj | XST project: the Verilog files |
| build_top.sh, build_top.bat | the ISE flow: xst, ngdbuild, map, par, bitgen |
| build_top.json | the same commands as data |
{files_extra}

All files of the plan: {', '.join(plan_files)}.

## Clocks

The 200 MHz LVDS system clock (SYSCLK, pins {'/'.join(info['sysclk_pins'])}) drives {article}
(DIVCLK_DIVIDE {mmcm['divclk_divide']}, {mult_name} {mmcm['clkfbout_mult']},
VCO {mmcm['vco_mhz']:g} MHz) with outputs {outs}. The PHY's receive clock (RX_CLK, 125 MHz
from the link partner) clocks the received bytes' I/O flip-flops through a BUFG. Each clock
domain is held in reset until the {what} locks and is released by a reset synchronizer.

{shows}{synthesis}"""
