"""Per-unit profile counters: busy, stall and starve cycles, beats and FIFO occupancy.

``DataflowTop(graph, lanes, profile=True)`` adds, in hardware, a bank of counters behind
an extra output port ``prof`` (the default build has neither).  For every unit, each cycle
after reset falls into exactly one of:

* **stall**: its output holds a beat its consumer does not take (``o.valid & ~o.ready``):
  blocked by what comes after it;
* **starve**: no output pending, nothing moves at its inputs, and it waits for a beat:
  its input is empty and it is ready for one (a join, whose ready waits for all of its
  inputs: any input empty): starved by what comes before it;
* **busy**: everything else: a beat moves at its input or output, or it computes (not
  ready for input, no output yet).

so busy + stall + starve = cycles.  It also counts the beats taken at each of its inputs
and given at its output, and keeps the maximum level of the FIFO in front of each input
(SyncFIFOBuffered: ``depth`` entries, its output register included).  One more counter
holds the cycles since reset.  Counters are 48 bits (16 days at 200 MHz).

The harness (:mod:`hwconv.sim.harness`) reads ``prof`` in the cycle after the last
expected output beat, :func:`ProfileLayout.decode` turns the bits into numbers and
:func:`summarize` into per-unit fractions.
"""
from __future__ import annotations

import dataclasses

__all__ = ["COUNTER_BITS", "Field", "ProfileLayout", "summarize", "format_table"]

COUNTER_BITS = 48


@dataclasses.dataclass(frozen=True)
class Field:
    unit: str          # node name, or "" for the global cycle counter
    name: str          # cycles, busy, stall, starve, out_beats, in_beats<k>, fifo_max<k>
    width: int
    offset: int        # bit offset in ``prof`` (least significant bit first)


@dataclasses.dataclass(frozen=True)
class UnitInfo:
    name: str
    op: str
    inputs: int                  # number of input streams (each with a FIFO in front)
    fifo_depths: tuple[int, ...]


class ProfileLayout:
    """Where every counter sits in the ``prof`` port of a profiled DataflowTop."""

    def __init__(self, units: list[UnitInfo], counter_bits: int = COUNTER_BITS):
        self.units, self.counter_bits = list(units), counter_bits
        self.fields: list[Field] = []
        self._add("", "cycles", counter_bits)
        for u in self.units:
            for name in ("busy", "stall", "starve", "out_beats"):
                self._add(u.name, name, counter_bits)
            for k in range(u.inputs):
                self._add(u.name, f"in_beats{k}", counter_bits)
            for k, depth in enumerate(u.fifo_depths):
                self._add(u.name, f"fifo_max{k}", max(1, depth.bit_length()))

    def _add(self, unit, name, width):
        self.fields.append(Field(unit, name, width, self.width))

    @property
    def width(self) -> int:
        return sum(f.width for f in self.fields)

    @classmethod
    def of(cls, top) -> "ProfileLayout":
        """The layout for a DataflowTop (built in its ``__init__``, before elaboration)."""
        units = []
        for node in top.graph.nodes:
            unit = top.units.get(node.name)
            if unit is None:
                continue
            n = min(len(node.inputs), len(getattr(unit, "input_names", ("i",))))
            depths = tuple(top.fifo_depths.get((node.name, k), top.fifo_depth)
                           for k in range(n))
            units.append(UnitInfo(node.name, node.op, n, depths))
        return cls(units)

    # -- hardware ---------------------------------------------------------------------

    def elaborate(self, m, prof, probes: dict) -> None:
        """Add the counters to module ``m`` and drive ``prof``.  ``probes`` maps each unit's
        name to ([(stream, fifo) per input], output stream); streams have valid and ready,
        FIFOs a ``level``."""
        from amaranth import Cat, Signal

        regs: dict[tuple[str, str], Signal] = {}

        def reg(f: Field):
            s = Signal(f.width, name=f"prof_{_safe(f.unit) + '_' if f.unit else ''}{f.name}")
            regs[(f.unit, f.name)] = s
            return s

        sigs = [reg(f) for f in self.fields]
        m.d.sync += regs[("", "cycles")].eq(regs[("", "cycles")] + 1)
        for u in self.units:
            ins, out = probes[u.name]
            stall = out.valid & ~out.ready
            moved = out.valid & out.ready
            for s, _ in ins:
                moved = moved | (s.valid & s.ready)
            if len(ins) == 1:   # computing (not ready) with an empty FIFO is not starving
                waiting = ins[0][0].ready & ~ins[0][0].valid
            else:               # a join takes from none of its inputs until all have a beat
                waiting = 0
                for s, _ in ins:
                    waiting = waiting | ~s.valid
            starve = ~out.valid & ~moved & waiting
            busy, st, sv, ob = (regs[(u.name, n)] for n in ("busy", "stall", "starve",
                                                              "out_beats"))
            with m.If(stall):
                m.d.sync += st.eq(st + 1)
            with m.Elif(starve):
                m.d.sync += sv.eq(sv + 1)
            with m.Else():
                m.d.sync += busy.eq(busy + 1)
            with m.If(out.valid & out.ready):
                m.d.sync += ob.eq(ob + 1)
            for k, (s, fifo) in enumerate(ins):
                ib, fm = regs[(u.name, f"in_beats{k}")], regs[(u.name, f"fifo_max{k}")]
                with m.If(s.valid & s.ready):
                    m.d.sync += ib.eq(ib + 1)
                with m.If(fifo.level > fm):
                    m.d.sync += fm.eq(fifo.level)
        m.d.comb += prof.eq(Cat(*sigs))

    # -- reading it -------------------------------------------------------------------

    def decode(self, value) -> dict:
        """``prof`` as an int, or as 32-bit words least significant first, to
        {"cycles": N, "units": [{"name", "op", "busy", "stall", "starve", "out_beats",
        "in_beats": [...], "fifos": [{"depth", "max_level"}, ...]}, ...]}."""
        if not isinstance(value, int):
            value = sum(int(w) << (32 * i) for i, w in enumerate(value))
        raw = {(f.unit, f.name): (value >> f.offset) & ((1 << f.width) - 1)
               for f in self.fields}
        units = []
        for u in self.units:
            units.append({
                "name": u.name, "op": u.op,
                **{n: raw[(u.name, n)] for n in ("busy", "stall", "starve", "out_beats")},
                "in_beats": [raw[(u.name, f"in_beats{k}")] for k in range(u.inputs)],
                "fifos": [{"depth": d, "max_level": raw[(u.name, f"fifo_max{k}")]}
                          for k, d in enumerate(u.fifo_depths)]})
        return {"cycles": raw[("", "cycles")], "units": units}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.strip("/")) or "node"


def summarize(decoded: dict, frames: int | None = None) -> dict:
    """Fractions of the decoded counters: per unit busy, stall and starve as fractions of
    the cycles, beats per frame, FIFO maximum level against its depth; plus the busiest
    unit (the measured bottleneck)."""
    cycles = max(1, decoded["cycles"])
    rows = []
    for u in decoded["units"]:
        row = {"name": u["name"], "op": u["op"],
               "busy": u["busy"] / cycles, "stall": u["stall"] / cycles,
               "starve": u["starve"] / cycles,
               "busy_cycles": u["busy"], "stall_cycles": u["stall"],
               "starve_cycles": u["starve"],
               "in_beats": u["in_beats"], "out_beats": u["out_beats"],
               "fifo_depth": [f["depth"] for f in u["fifos"]],
               "fifo_max": [f["max_level"] for f in u["fifos"]]}
        if frames:
            row["out_beats_per_frame"] = u["out_beats"] / frames
        rows.append(row)
    busiest = max(rows, key=lambda r: r["busy"])["name"] if rows else None
    return {"cycles": decoded["cycles"], "frames": frames, "busiest": busiest, "units": rows}


def format_table(summary: dict) -> str:
    """A short per-unit text table (what ``hwconv sim --profile`` prints)."""
    lines = [f"  {'unit':<20} {'op':<12} {'busy':>6} {'stall':>6} {'starve':>6} "
             f"{'beats in':>10} {'beats out':>10}  fifo max/depth"]
    for r in summary["units"]:
        fifo = " ".join(f"{m}/{d}" for m, d in zip(r["fifo_max"], r["fifo_depth"]))
        mark = " *" if r["name"] == summary["busiest"] else ""
        lines.append(f"  {r['name'][:20]:<20} {r['op'][:12]:<12} {r['busy']:>6.1%} "
                     f"{r['stall']:>6.1%} {r['starve']:>6.1%} "
                     f"{'+'.join(str(b) for b in r['in_beats']):>10} {r['out_beats']:>10}  "
                     f"{fifo}{mark}")
    lines.append(f"  ({summary['cycles']:,} cycles from reset to the last output beat; "
                 f"* busiest unit)")
    return "\n".join(lines)
