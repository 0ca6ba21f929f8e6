"""Clock-enable form of Amaranth's Verilog, for simulation speed.

Amaranth (through Yosys ``proc -nomux; write_verilog``) writes each register as a
combinational block that computes its next value, starting from a copy of the register,
and a clocked block that assigns it every cycle::

    always @(posedge clk)
      window <= \\$59 ;
    always @* begin
      if (\\$auto$verilog_backend.cc:2355:dump_module$1 ) begin end
      \\$59  = window;
      if (\\$15 ) begin
        \\$59 [15:0] = window[31:16];
        ...
      end
    end

Verilator runs that copy and that assignment on every cycle, whether the register
changes or not: 50,176 bits twice a cycle for scene3's last window registers. The same
register written as one clocked block, ``always @(posedge clk) begin if (\\$15 ) begin
window[15:0] <= window[31:16]; ... end end``, costs nothing on the cycles its enable is
off. `enable_form` rewrites every register that has exactly this shape and leaves the
rest of the text alone; the two forms are the same circuit (tests/sim/test_enable_form.py
proves it with Yosys's equivalence checker and runs both in Verilator).
"""
from __future__ import annotations

import re
from collections import Counter

__all__ = ["enable_form"]

_ID = r"(?:\\\S+|[A-Za-z_][A-Za-z0-9_$]*)"   # a Verilog identifier, escaped or not
_CLOCKED = re.compile(
    rf"^(?P<indent>[ \t]*)always @\((?P<edge>posedge {_ID})\)\n"
    rf"[ \t]*(?P<reg>{_ID}) *<= (?P<next>{_ID}) *;\n", re.M)
_COMB = re.compile(
    rf"^(?P<indent>[ \t]*)always @\* begin\n"
    rf"[ \t]*if \(\\\$auto\$verilog_backend\S* \) begin end\n"
    rf"[ \t]*(?P<next>{_ID}) *= (?P<reg>{_ID}) *;\n"
    rf"(?P<body>(?:(?!\1end\n).*\n)*?)"
    rf"(?P=indent)end\n", re.M)
_MODULE = re.compile(r"^module\b.*?^endmodule\b[^\n]*\n", re.M | re.S)
# Identifiers as whole words: an escaped one runs to whitespace (as in _token).
_WORD = re.compile(r"\\\S+(?=\s)|(?<![A-Za-z0-9_$\\])[A-Za-z_][A-Za-z0-9_$]*(?![A-Za-z0-9_$])")
_DECLARED = re.compile(rf"^[ \t]*reg (?:\[\d+:0\] )?(?P<name>{_ID}) ?;\n", re.M)


def _token(name: str) -> str:
    """A pattern for ``name`` as a whole identifier (escaped names end at whitespace)."""
    if name.startswith("\\"):
        return re.escape(name) + r"(?=\s)"
    return r"(?<![A-Za-z0-9_$\\])" + re.escape(name) + r"(?![A-Za-z0-9_$])"


def _rewrite_body(body: str, nxt: str, reg: str) -> str | None:
    """The body with ``nxt[sel] = e;`` turned into ``reg[sel] <= e;``, or None when
    ``nxt`` is used in any other way (read, or written in another form)."""
    token = re.compile(_token(nxt))
    assign = re.compile(rf"^(\s*){_token(nxt)} ?((?:\[[^\]=]*\])?) ?= (.*;)$")
    out = []
    for line in body.splitlines(keepends=True):
        if token.search(line):
            m = assign.match(line.rstrip("\n"))
            if m is None or token.search(m.group(3)):
                return None
            sel = m.group(2)
            out.append(f"{m.group(1)}{reg}{' ' if reg.startswith(chr(92)) else ''}"
                       f"{sel} <= {m.group(3)}\n")
        else:
            out.append(line)
    return "".join(out)


def _uses(text: str) -> Counter:
    """How often each identifier occurs in ``text``, counted in one pass (per register
    it was a search of the whole module: 2.6 s on scene3's 7.8 MB)."""
    return Counter(_WORD.findall(text))


def _module(text: str) -> str:
    clocked = {}
    for m in _CLOCKED.finditer(text):
        clocked.setdefault(m.group("next"), []).append(m)
    uses = declared = None     # counted once, when a register is first a candidate
    edits = []   # (start, end, replacement)
    for m in _COMB.finditer(text):
        nxt, reg = m.group("next"), m.group("reg")
        pairs = clocked.get(nxt, [])
        if len(pairs) != 1 or pairs[0].group("reg") != reg:
            continue
        if uses is None:
            uses = _uses(text)
            declared = {d.group("name"): d for d in _DECLARED.finditer(text)}
        # Every use: the declaration, the default copy, the body, the clocked assignment.
        if nxt not in declared or uses[nxt] != 3 + _uses(m.group("body"))[nxt]:
            continue
        body = _rewrite_body(m.group("body"), nxt, reg)
        if body is None:
            continue
        ind = m.group("indent")
        edits.append((m.start(), m.end(),
                      f"{ind}always @({pairs[0].group('edge')}) begin\n{body}{ind}end\n"))
        edits.append((pairs[0].start(), pairs[0].end(), ""))
        edits.append((declared[nxt].start(), declared[nxt].end(), ""))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def enable_form(verilog: str) -> str:
    """``verilog`` (as Amaranth writes it) with every register that is computed by a
    next-value block written as a clocked block under its own conditions."""
    return _MODULE.sub(lambda m: _module(m.group(0)), verilog)
