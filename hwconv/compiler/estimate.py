"""Per-node figures known before simulation or synthesis: multiply-accumulates, cycles
per frame and resources.

Cycles follow from the units' structure: a window generator takes one pixel per cycle, a
MAC engine spends ``outputs * ceil(n / lanes)`` cycles on each window, and a pipeline runs
at the pace of its slowest unit. Simulation measures the real figure; the report shows both.

Resources follow the units' structure too, counted the way Yosys ``synth_xilinx -family
xc6v`` maps it (docs/estimates.md states the model and its measured agreement):

- multipliers: one DSP48E1 per product the RTL computes (constant products by 0 or a
  power of two become wiring); the adder tree of a MAC lane group folds into the DSP48E1
  post-adders, and the registers around the multiplier into its A/B/M/P registers;
- memories: Yosys ``memory_libmap`` picks, by its own cost figures, LUT-RAM (RAM32M /
  RAM64M, four LUTs each), block RAM (RAMB18E1 / RAMB36E1) or plain logic (ROMs become
  LUT trees, one LUT6 per 64 words per distinct data column); ``memory_mapping`` repeats
  that choice;
- registers: every register bit the RTL holds, less those that fold into DSP48E1s or
  that nothing reads;
- logic: adders one LUT per bit, compares against constants one per four bits, k-way
  multiplexers about 0.45 LUT per input and bit, requantizers, counters and handshakes.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .. import ir

__all__ = ["macs", "cycles", "lanes_used", "logic_lanes", "resources", "Resources", "parallelism",
           "RESOURCE_KEYS", "memory_mapping", "ramb18_equivalent", "memory_breakdown"]


def macs(node: ir.Node, graph: ir.Graph) -> int:
    """Multiply-accumulates per frame."""
    if isinstance(node, ir.WEIGHTED):
        out = graph.shape(node.name)
        pixels = out[1] * out[2] if len(out) == 3 else 1
        return int(pixels * node.weight.shape[0] * fan_in(node))
    return 0


def fan_in(node: ir.Node) -> int:
    """Products summed per output value."""
    return node.fan_in if isinstance(node, ir.Conv2d) else int(node.weight.shape[1])


def parallelism(par) -> tuple[int, int]:
    """(lanes, out_lanes) from a layer's setting: ``lanes`` (multipliers per output) or
    ``(lanes, out_lanes)`` (outputs computed side by side, each with ``lanes``)."""
    if isinstance(par, (tuple, list)):
        return int(par[0]), int(par[1])
    return int(par), 1


def logic_lanes(par) -> int:
    """Multipliers whose weights sit in a LUT ROM rather than block RAM: the third item
    of a ``(lanes, out_lanes, logic_lanes)`` setting, else none."""
    return int(par[2]) if isinstance(par, (tuple, list)) and len(par) > 2 else 0


def lanes_used(node: ir.Node, par) -> int:
    """Multipliers per output the MAC engine really instantiates."""
    lanes, _ = parallelism(par)
    return max(1, min(lanes, fan_in(node))) if isinstance(node, ir.WEIGHTED) else 0


def out_lanes_used(node: ir.Node, par) -> int:
    return max(1, min(parallelism(par)[1], node.weight.shape[0])) \
        if isinstance(node, ir.WEIGHTED) else 0


def cycles(node: ir.Node, graph: ir.Graph, in_stream_shape, lanes: int) -> int:
    """Cycles per frame this node's unit needs when never starved or blocked."""
    if isinstance(node, (ir.Input, ir.Output, ir.Flatten)) and not _relayout(node, graph):
        return 0
    c, h, w = in_stream_shape
    take = h * w
    if _relayout(node, graph):   # a beat in per cycle, a value out per cycle
        return max(take, math.prod(graph.shape(node.name)))
    if hasattr(node, "pads"):
        t, l, b, r = node.window_pads(in_stream_shape) if isinstance(node, ir.Pool2d) \
            else node.pads
        take = (h + t + b) * (w + l + r)
    if isinstance(node, ir.WEIGHTED):
        out = graph.shape(node.name)
        windows = out[1] * out[2] if len(out) == 3 else 1
        groups = math.ceil(node.weight.shape[0] / out_lanes_used(node, lanes))
        work = windows * groups * math.ceil(fan_in(node) / lanes_used(node, lanes))
        return max(take, work)
    if isinstance(node, ir.TABLED):   # ("serial", n): the channels n at a time
        from ..rtl.serial import serial_lanes
        return take * math.ceil(c / serial_lanes(lanes, c))
    return take


# -- resources ------------------------------------------------------------------------

# RAMB18E1 and RAMB36E1 as Yosys instantiates them (a RAMB36E1 is two RAMB18E1's worth of
# block RAM: compare totals with ``ramb18_equivalent``).
RESOURCE_KEYS = ("dsp48e1", "ramb18", "ramb36", "lut", "ff")
Resources = dict   # {"dsp48e1": n, "ramb18": n, "ramb36": n, "lut": n, "ff": n}


def ramb18_equivalent(res: dict) -> int:
    """Block RAM in RAMB18E1 units: RAMB18E1 + 2 x RAMB36E1."""
    return int(res.get("ramb18", 0)) + 2 * int(res.get("ramb36", 0))


def _relayout(node: ir.Node, graph: ir.Graph) -> bool:
    """The node is built as a RelayoutUnit (a Relayout, or a Flatten not before a Linear)."""
    from ..rtl.top import flatten_is_view
    return isinstance(node, ir.Relayout) or \
        (isinstance(node, ir.Flatten) and not flatten_is_view(graph, node))


def _relayout_unit(unit, bits: int) -> dict:
    """RelayoutUnit: two frame banks, the ROM of read addresses, the lane select of the
    word read, the beat being gathered and the output register, counters."""
    ci, hi, wi = unit.in_shape
    co, ho, wo = unit.out_shape
    n_in, n_out = hi * wi, co * ho * wo
    r = _add(_zero(), memory(2 * n_in, ci * bits),
             memory(n_out, _bits(n_in) + _bits(ci), rom=True))
    # Yosys on a (4, 16, 16) transpose: 1 RAMB18E1 + 1 RAMB36E1, ~37 LUT and 148 FF
    # beside its input FIFO.
    counters = _bits(n_in) + _bits(n_out) + 2 * _bits(co) + 4
    return _add(r, {"ff": 2 * co * bits + counters,
                    "lut": bits * _mux_luts(ci) + counters})


def _zero() -> dict:
    return dict.fromkeys(RESOURCE_KEYS, 0)


def _add(total: dict, *parts: dict) -> dict:
    for part in parts:
        for k, v in part.items():
            total[k] = total.get(k, 0) + v
    return total


def _bits(n: int) -> int:
    """Width of a counter over ``range(n)`` (Amaranth's Signal(range(n)))."""
    return max(1, (int(n) - 1).bit_length())


def _mux_luts(k: int) -> int:
    """LUTs per bit of a k-way multiplexer (a Switch over k cases): a LUT6 is a 4:1
    multiplexer, and the tree ABC makes of wider ones takes about 0.45 LUT per input
    (measured on registered 16-bit case multiplexers: 6.7 LUTs per bit at 16 inputs,
    14.2 at 36, 28.5 at 64, 114 at 256; MUXF7/MUXF8 are hardly used)."""
    if k <= 1:
        return 0
    return max(1, round(0.45 * (k - 1)))


def _rom_bit_luts(depth: int) -> int:
    """LUTs per data column of a ROM left to logic: one LUT6 per 64 words (a 6-input
    function), and about one more per four of them to combine them with MUXF7/MUXF8
    and LUTs (measured on 16-bit weights: 6.3 LUTs per column at 320 words, 7.7 on
    LeNet's, 17 to 22 at 1024, 32.7 at 1632)."""
    n = math.ceil(depth / 64)
    return n + math.ceil(n / 4) if n > 1 else 1


def _requant_luts(in_width: int, shift: int, out_width: int) -> int:
    """``requantize_hdl``: a rounding adder on the kept bits, the overflow test of the
    bits above the output, and the saturating select."""
    kept = max(1, in_width - max(0, shift))
    return kept + max(0, kept - out_width) // 2 + out_width // 2


# Yosys memory_libmap candidates for Virtex-6 (share/xilinx/lutrams_xc5v.txt and
# brams_xc4v.txt), with their cost figures: LUT-RAMs (name, cost, widthscale, options)
# and block RAMs (name, cell, cost, options); an option is (address bits, data widths).
_LUTRAMS = (
    ("LUTRAM_SDP", 8, 7, ((5, (6,)), (6, (3,)))),            # RAM32M / RAM64M, 1 W + 1 R
    ("LUTRAM_DP", 8, 8, ((5, (4,)), (6, (2,)), (7, (1,)))),  # 1 RW + 1 R
    ("LUTRAM_QP", 7, 7, ((5, (2,)), (6, (1,)))),             # 1 RW + 3 R
)
_BRAMS = (   # RAMB18E1 = HALF, RAMB36E1 = FULL (a CASCADE is two RAMB36E1)
    ("BRAM_TDP", "ramb18", 129, ((14, (1, 2, 4, 9, 18)),)),
    ("BRAM_TDP", "ramb36", 257, ((15, (1, 2, 4, 9, 18, 36)),)),
    ("BRAM_TDP", "cascade", 513, ((16, (1, 2, 4, 9)),)),
    ("BRAM_SDP", "ramb18", 129, ((14, (1, 2, 4, 9, 18, 36)),)),
    ("BRAM_SDP", "ramb36", 257, ((15, (1, 2, 4, 9, 18, 36, 72)),)),
)
_LOGIC_COST_ROM = 1 / 64   # synth_xilinx's -logic-cost-rom; RAMs cost 1 per bit in logic


def _port_replicas(name: str, rom: bool, read_ports: int) -> int:
    """Copies of the memory needed to give every read port its own port."""
    if name == "LUTRAM_QP":
        return math.ceil(read_ports / 3)
    if name == "BRAM_TDP" and rom:
        return math.ceil(read_ports / 2)   # both ports of a ROM read
    return read_ports


@lru_cache(maxsize=4096)
def memory_mapping(depth: int, width: int, rom: bool = False, read_ports: int = 1,
                   transparent: bool = False) -> tuple[str, str, int, int]:
    """What Yosys ``memory_libmap`` does with a memory of ``depth`` words of ``width``
    bits (synchronous read ports, one synchronous write port unless ``rom``), by its own
    cost model: (kind, cell, cells, address blocks) with kind "logic", "lutram" or "bram",
    cell "ramb18"/"ramb36"/"cascade"/"lutram", and address blocks the words split across
    cells (their outputs are multiplexed)."""
    best = int(width * depth * (_LOGIC_COST_ROM if rom else 1.0))
    choice = ("logic", "", 0, 1)
    emu = 2 * read_ports * (1 + (3 if transparent else 0))   # emulation score, x2

    def consider(name, cell, cost, widthscale, abits, dbits, byte):
        nonlocal best, choice
        repl_port = _port_replicas(name, rom, read_ports)
        for base, unit in enumerate(dbits):
            eff_byte = 1 if rom else (unit if not byte or byte > unit else byte)
            padded = -(-width // eff_byte) * eff_byte
            words = 1 << (abits - base)
            blocks = -(-depth // words)
            repl = -(-(blocks * padded) // unit)
            c = (cost - widthscale) * repl * repl_port
            c += widthscale * blocks * width / unit * repl_port
            c += 0.5 * (blocks - 1) * width * read_ports          # read multiplexers
            c += 0.5 * (blocks if blocks != 1 and not rom else 0)  # write enables
            c += emu
            if c < best:
                best = c
                kind = "lutram" if name.startswith("LUTRAM") else "bram"
                choice = (kind, cell, repl * repl_port, blocks)

    if not rom:
        for name, cost, ws, options in _LUTRAMS:
            for abits, dbits in options:
                consider(name, "lutram", cost, ws, abits, dbits, 0)
    for name, cell, cost, options in _BRAMS:
        for abits, dbits in options:
            consider(name, cell, cost, 0, abits, dbits, 9)
    return choice


def memory(depth: int, width: int, *, rom: bool = False, read_ports: int = 1,
           transparent: bool = False, columns: int | None = None,
           logic: bool = False, what: str = "memory") -> dict:
    """Resources of an Amaranth Memory with synchronous read ports, as Yosys maps it.

    ``columns``: distinct non-constant data columns of a ROM (all ``width`` by default):
    a ROM left to logic costs LUTs and read-register flip-flops per column only.
    ``logic``: the memory carries rom_style "logic", which memory_libmap obeys.
    ``what``: its name in ``memory_breakdown``."""
    r = _zero()
    if depth <= 1 and rom:
        return r   # a constant
    kind, cell, cells, blocks = ("logic", "", 0, 1) if logic else \
        memory_mapping(depth, width, rom, read_ports, transparent)
    if _BREAKDOWN is not None:
        _BREAKDOWN.append({"what": what, "depth": depth, "width": width, "rom": rom,
                           "read_ports": read_ports, "kind": kind, "cell": cell, "res": r})
    cols = width if columns is None else columns
    if kind == "logic":
        if rom:
            # Each distinct column a LUT tree of its words, per read port, and the read
            # data register (one flip-flop per distinct column).
            r["lut"] += read_ports * cols * _rom_bit_luts(depth)
            r["ff"] += read_ports * cols
        else:
            r["ff"] += depth * width + read_ports * width
            r["lut"] += read_ports * width * _mux_luts(depth) + depth
        return r
    if kind == "lutram":
        # Four LUT sites per RAM32M / RAM64M (or RAM64X1D pair, RAM128X1D); the read
        # data register in flip-flops; a multiplexer per extra address block; a bypass
        # multiplexer for a read transparent to the write.
        r["lut"] += 4 * cells + read_ports * width * (blocks - 1) \
            + (width + 2 if transparent else 0)
        r["ff"] += read_ports * width
        return r
    r["ramb36" if cell != "ramb18" else "ramb18"] += cells * (2 if cell == "cascade" else 1)
    r["lut"] += read_ports * width * (blocks - 1)
    if transparent:   # the written word held one cycle, and a bypass multiplexer
        r["lut"] += width + 4
        r["ff"] += width + 1
    return r


_BREAKDOWN: list | None = None   # memory() records into it while memory_breakdown runs


def memory_breakdown(node: ir.Node, graph: ir.Graph, in_shape, lanes, **kwargs) -> list[dict]:
    """Every memory of the node's unit (and its input FIFOs) as ``resources`` counts it:
    [{"what", "depth", "width", "rom", "read_ports", "kind" (logic / lutram / bram),
    "cell", "res"}], to see where the block RAM goes."""
    global _BREAKDOWN
    _BREAKDOWN = []
    try:
        resources(node, graph, in_shape, lanes, **kwargs)
        return _BREAKDOWN
    finally:
        _BREAKDOWN = None


def _distinct_columns(bits: np.ndarray) -> int:
    """Distinct non-constant data columns of a ROM given as a (words, width) 0/1 array:
    Yosys merges equal columns and folds constant ones."""
    if bits.shape[0] <= 1:
        return 0
    cols = np.unique(np.asarray(bits, np.uint8).T, axis=0)
    return int(np.count_nonzero(cols.min(axis=1) != cols.max(axis=1)))


def fifo(depth: int, width: int) -> dict:
    """amaranth.lib.fifo.SyncFIFOBuffered: a (depth - 1)-word memory with a registered
    read port, write/read pointers, a level counter and the output-valid flag."""
    r = _zero()
    if depth <= 1:
        return _add(r, {"ff": width + 1, "lut": 2})
    _add(r, memory(depth - 1, width, what="FIFO"))
    ptr = _bits(depth - 1)
    _add(r, {"ff": 2 * ptr + _bits(depth + 1) + 1,
             "lut": 2 * ptr + _bits(depth + 1) + 2})
    return r


def skid_buffer(width: int) -> dict:
    """rtl.stream.SkidBuffer between a FIFO and its unit: the output and spare
    registers, a select per bit between them and the input."""
    return {"ff": 2 * width + 2, "lut": width + 2}


def _dsps(a_bits: int, b_bits: int) -> int:
    """DSP48E1s for an a x b signed product (25 x 18 per DSP48E1; smaller ones in LUTs)."""
    if a_bits + b_bits < 9 or min(a_bits, b_bits) < 2:
        return 0
    a, b = max(a_bits, b_bits), min(a_bits, b_bits)
    if b <= 18 and a <= 25:
        return 1
    return math.ceil((a - 1) / 24) * math.ceil((b - 1) / 17)


# -- units ----------------------------------------------------------------------------

def _window(c: int, h: int, w: int, kernel, stride, bits: int, decoupled: bool,
            used=None, serial: bool = False) -> dict:
    """WindowGenerator over the padded map: raster counters, the line buffer (kh - 1
    rows of every column, read transparent to the write), the pixel stage register,
    the kh x kw window registers and, when decoupled, the held copy on the output.
    ``used``: window values (flat index (i*kw + j)*C + ch) anything reads; registers
    nothing reads are removed."""
    kh, kw = kernel
    sh, sw = stride
    r = _zero()
    if serial and kh > 1:
        # One pixel per word, the kh - 1 row slots one after another; the column read
        # into held registers a row per cycle; slot bases, read count, address adder.
        span = (kh - 1) * w
        _add(r, memory(span, c * bits, what="line buffer (serial)"))
        _add(r, {"ff": (kh - 1) * c * bits + 3 * _bits(span) + 2 * _bits(kh - 1) + 2,
                 "lut": 4 * _bits(span) + 2 * _bits(kh - 1) + 4})
    elif kh > 1:
        _add(r, memory(w, (kh - 1) * c * bits, transparent=True, what="line buffer"))
    # row, col, their phases, s1_col, s1_valid, s1_emit, o.valid
    _add(r, {"ff": _bits(h) + 2 * _bits(w) + _bits(sh) + _bits(sw) + 3 + c * bits,
             "lut": 2 * (_bits(h) + _bits(w)) + _bits(sh) + _bits(sw) + 8})
    n = kh * kw * c
    used = set(range(n)) if used is None else set(int(k) for k in used)
    if decoupled:
        # held[k] <= window[k + C] (next column) or the new column: window[j = 0] is read
        # by nobody; window[j] is needed when held[j - 1] or window[j - 1] is.
        held = len(used)
        window = 0
        for i in range(kh):
            for ch in range(c):
                js = [j for j in range(kw) if (i * kw + j) * c + ch in used]
                if js:
                    window += kw - 1 - min(js)
        return _add(r, {"ff": (held + window) * bits})
    window = 0
    for i in range(kh):
        for ch in range(c):
            js = [j for j in range(kw) if (i * kw + j) * c + ch in used]
            if js:
                window += kw - min(js)
    return _add(r, {"ff": window * bits})


def _pad(c: int, h: int, w: int, pads) -> dict:
    """ZeroPad: row and column counters and the inside test; the border value goes into
    the next stage register's set/reset, at no LUT cost."""
    t, l, b, rr = pads
    hp, wp = h + t + b, w + l + rr
    return {"ff": _bits(hp) + _bits(wp), "lut": 2 * (_bits(hp) + _bits(wp)) + 4}


def _mac(mac) -> dict:
    """MacEngine: weight and bias ROMs, the operand multiplexers, lanes x out_lanes
    DSP48E1s (operand, product and sum registers and the lane adder tree inside them),
    accumulators, requantizers and the output register."""
    r = _zero()
    L, P, G, nch = mac.lanes, mac.out_lanes, mac.groups, mac.chunks
    wb, xb, ab = mac.weight_bits, mac.in_bits, mac.acc.width
    depth = G * nch
    # More than SELECT_FANIN rows of operands: the select takes two stages (rtl/mac.py).
    from ..rtl.mac import SELECT_FANIN
    split = (nch if mac.shared_taps else depth) > SELECT_FANIN
    # Products: a constant weight of 0 or a power of two is wiring, not a DSP48E1.
    weights = mac._padded(mac.tap_weights, 0).reshape(G, P, nch, L)
    if depth == 1:
        w = weights.reshape(-1)
        r["dsp48e1"] += int(sum(1 for v in w if v != 0 and not (v > 0 and v & (v - 1) == 0))
                            * _dsps(xb, wb))
    else:
        r["dsp48e1"] += L * P * _dsps(xb, wb)
        # Word (g, c) holds lanes (p, l) side by side, wb bits each; the last
        # ``logic_lanes`` of them are a ROM of their own that Yosys must build from LUTs.
        Q, k = P * L, mac.logic_lanes

        def lane_bits(lo, hi):
            w = weights.transpose(0, 2, 1, 3).reshape(depth, Q)[:, lo:hi]
            return ((w[..., None] >> np.arange(wb)) & 1).reshape(depth, -1)

        def in_context(res):
            # A deep weight ROM in logic read at the address counter itself costs about
            # twice the LUTs it costs alone (measured: 640 columns of 392 words 5,383
            # LUTs alone, 12,102 in a 7x7 convolution; scene3's conv2 piece alike, mostly
            # LUT5s and no MUXF7/8). With a split operand select the ROM reads a plain
            # copy of the counter a cycle later, and costs what it costs alone (the
            # 7x7 case: 12,692 LUT by Yosys, 19,057 estimated with the factor).
            if depth > 64 and not split:   # memory_breakdown shows the same figure
                res["lut"] = round(_WEIGHT_ROM_IN_CONTEXT * res["lut"])
            return res

        if Q > k:
            kind = memory_mapping(depth, (Q - k) * wb, True)[0]
            cols = _distinct_columns(lane_bits(0, Q - k)) if kind == "logic" else None
            # Its read register stays in flip-flops (the DSP48E1 B register is not used).
            _add(r, in_context(memory(depth, (Q - k) * wb, rom=True, columns=cols,
                                      what="weights")))
        if k:
            _add(r, in_context(memory(depth, k * wb, rom=True, logic=True,
                                      what="weights (LUT ROM)",
                                      columns=_distinct_columns(lane_bits(Q - k, Q)))))
    # Operand multiplexers: each lane picks its window value per chunk (per group and
    # chunk when outputs read different taps); the operand register is the A register.
    # More than SELECT_FANIN rows: a stage of one register per block of rows in front
    # (each a mux over its block), then a mux over the blocks (rtl/mac.py).
    select = mac._padded(mac.taps, -1)      # (outputs incl. padding, chunks, lanes)
    sets = 1 if mac.shared_taps else P
    rows = [(0, c) for c in range(nch)] if mac.shared_taps else \
        [(g, c) for g in range(G) for c in range(nch)]
    for p in range(sets):
        for lane in range(L):
            sources = [int(select[g * P + p, c, lane]) for g, c in rows]
            if not split:
                r["lut"] += xb * _mux_luts(len(set(sources)))
                continue
            blocks = [set(sources[b:b + SELECT_FANIN]) - {-1}
                      for b in range(0, len(sources), SELECT_FANIN)]
            r["lut"] += xb * (sum(_mux_luts(len(b)) for b in blocks) + _mux_luts(len(blocks)))
            r["ff"] += xb * sum(1 for b in blocks if b)
    if split:   # its valid, first, last, group, address and block registers
        r["ff"] += 3 + _bits(G) + _bits(depth) + _bits(-(-len(rows) // SELECT_FANIN))
    # Bias: a constant for one group, else a ROM whose output is registered twice.
    if G > 1:
        bias = np.asarray(mac.bias, np.int64).reshape(G, P)
        bits = (bias[..., None] >> np.arange(ab)) & 1                 # (G, P, ab)
        kind = memory_mapping(G, P * ab, True)[0]
        cols = _distinct_columns(bits.reshape(G, -1)) if kind == "logic" else P * ab
        _add(r, memory(G, P * ab, rom=True, columns=cols if kind == "logic" else None,
                       what="bias"))
        r["ff"] += cols   # b3, the second register
    # Accumulators (bias or running sum, plus the new sum: one LUT per bit) and one
    # requantizer per output lane.
    r["ff"] += P * ab
    r["lut"] += P * (ab + _requant_luts(ab, mac.acc.frac - mac.out.frac, mac.out.width))
    # The output pixel register (every output), loaded group by group.
    r["ff"] += mac.outputs * mac.out.width
    # Counters: address, group, chunk; the group, valid, first and last pipelines.
    r["ff"] += _bits(depth) + 5 * _bits(G) + _bits(nch) + 11
    r["lut"] += 2 * (_bits(depth) + _bits(G) + _bits(nch)) + 8
    return r


_WEIGHT_ROM_IN_CONTEXT = 2.1


def _conv(unit) -> dict:
    """Conv2dUnit / LinearUnit: zero padding, window generator, MAC engine."""
    r = _zero()
    c, h, w = unit.in_shape
    mac = unit.mac
    if any(unit.pads):
        _add(r, _pad(c, h, w, unit.pads))
    used = set()
    for t in mac.taps[:mac.outputs]:
        used.update(int(k) for k in t)
    _add(r, _window(*unit.padded, unit.kernel, unit.stride, mac.in_bits,
                    mac.cycles_per_window > 1, used, getattr(unit, "serial", False)))
    return _add(r, _mac(mac))


def _registered(lanes: int, out_bits: int, lut_per_lane: int) -> dict:
    """RegisteredMap: one registered stage, ``lut_per_lane`` LUTs of logic per lane."""
    return {"ff": lanes * out_bits + 1, "lut": lanes * lut_per_lane + 2}


def _pool(node: ir.Pool2d, in_shape, t, out) -> dict:
    """Pool2dUnit: padding, window generator, per-channel reduction in one stage."""
    r = _zero()
    c, h, w = in_shape
    pads = node.window_pads(in_shape)
    if any(pads):
        _add(r, _pad(c, h, w, pads))
    hp, wp = h + pads[0] + pads[2], w + pads[1] + pads[3]
    _add(r, _window(c, hp, wp, node.extent, node.stride, t.width, False))
    n = node.kernel[0] * node.kernel[1]
    if isinstance(node, ir.MaxPool2d):
        # n - 1 compare-and-selects per channel, a pairwise level per pipeline stage
        # (rtl/pool.max_pipeline): the partial maxima between stages are registered.
        per = (n - 1) * (2 * t.width - 2)
        k = n
        while k > 2:
            k = (k + 1) // 2
            r["ff"] += c * t.width * k + 1
    else:
        total = t.width + _bits(n + 1)
        per = (n - 1) * total   # adder tree
        if isinstance(node, ir.AvgPool2d):
            rec, s = ir.mean_multiplier(node.count, t)
            if not node.uniform(in_shape):
                # VariableMean: a reciprocal per position (a DSP48E1 multiply) and the
                # position counters with their case table.
                r["dsp48e1"] += c * _dsps(total, rec.bit_length() + 1)
                ch_, cw_ = node.counts(in_shape)
                _add(r, {"ff": _bits(len(ch_)) + _bits(len(cw_)),
                         "lut": 2 * (_bits(len(ch_)) + _bits(len(cw_)))
                         + (rec.bit_length() + 1) * _mux_luts(len(ch_) * len(cw_))})
            elif rec & (rec - 1):
                r["dsp48e1"] += c * _dsps(total, rec.bit_length() + 1)
            per += _requant_luts(total + rec.bit_length(), t.frac + s - t.frac, t.width)
    return _add(r, _registered(c, out.width, per))


def _table(unit, in_bits: int, x_bits: int = 0) -> dict:
    """TableUnit and its normalized variants, per lane: the base/slope ROM read (a copy
    per pair of lanes, each a dual-port ROM), the clamp of the table index, the slope x remainder product
    (a DSP48E1, the remainder in its A register) and the rounding add; for
    NormalizedTableUnit / DivCore also the normalizing front end and the gain (and
    dividend) products, the rounding variable shift and the saturation of the back end.
    ``in_bits``: the width of the value that is looked up; ``x_bits``: of the dividend.
    A DivCore whose divisor is one channel looks the same value up for every lane:
    Yosys merges those read ports and front ends, one for all lanes."""
    from ..rtl.normalized import NormalizedTableUnit
    r = _zero()
    t, n = unit.table, unit.lanes
    looked_up = 1 if getattr(unit, "b_lanes", n) == 1 else n   # distinct lookups
    wb, ws = t.out_fixed.width + 1, t.slope_bits
    depth, width = len(t.base), wb + ws
    # One ROM per pair of lanes (two read ports, a true dual-port block RAM), or one for
    # all when every lane looks up the same value.
    for k in range(0, looked_up, 2):
        _add(r, memory(depth, width, rom=True, read_ports=min(2, looked_up - k),
                       what="table"))
    front = {"ff": 0, "lut": 0, "dsp48e1": 0}      # per distinct lookup
    back = {"ff": unit.out.width, "lut": 0, "dsp48e1": 0}   # per lane
    tin = t.in_fixed.width
    full = t.lo <= t.in_fixed.min_int and t.hi >= t.in_fixed.max_int
    front["lut"] += 0 if full else 2 * tin      # index clamp: two compares, offset, select
    if t.shift:
        front["dsp48e1"] += _dsps(ws, t.shift + 1)  # slope x remainder
        front["lut"] += wb + 1                      # base + rounded product
    if isinstance(unit, NormalizedTableUnit):
        s = unit.sqrt
        width_v = in_bits + s.pre_shift
        # Front: negative clamp and priority encoder (about two LUTs per input bit), the
        # normalizing shifter onto MANTISSA + 1 bits (three LUT levels of 4:1).
        front["lut"] += 2 * width_v + (s.MANTISSA + 1) * 3
        front["ff"] += 8 + 1                        # the exponent share k and the zero flag
        # Back: the gain product (wiring for a power-of-two gain), 2**phi or ln 2
        # products, the dividend product, then the rounding right shift (6 stages, three
        # LUT levels) or left shift, the select and the saturation.
        gain = s.gain_code
        pw = wb + 1 + s.GAIN_BITS + 2
        if s.function == "power":
            back["dsp48e1"] += _dsps(wb + 1, s.PHI_BITS + 2)
            back["ff"] += s.PHI_BITS + 2
        if s.function == "log":
            back["dsp48e1"] += _dsps(8, wb + 2 + s.LOG_EXTRA + 2)
            back["lut"] += 2 * (wb + s.LOG_EXTRA) + unit.out.width
        else:
            pow2 = gain & (gain - 1) == 0
            back["dsp48e1"] += 0 if pow2 else _dsps(wb + 1, s.GAIN_BITS + 2)
            if x_bits:                              # DivCore: times the dividend
                back["ff"] += x_bits
                # a power-of-two gain only shifts y: the product is y x dividend
                back["dsp48e1"] += _dsps(wb + 1 if pow2 else pw, x_bits)
            pw = min(64, pw + x_bits)
            back["lut"] += 4 * pw + _requant_luts(pw, 0, unit.out.width)
    else:
        back["lut"] += _requant_luts(wb + 1, 0, unit.out.width) // 2
    _add(r, {k: v * looked_up for k, v in front.items()}, {k: v * n for k, v in back.items()})
    return _add(r, {"ff": 2, "lut": 3})                # valid and clock-enable


def _elementwise_luts(node: ir.Node, in_bits: int, out_bits: int) -> int:
    """LUTs per lane of one registered element-wise stage: a LUT per output bit for the
    select (or negate), and a carry-chain compare against a constant, a LUT per 4 bits."""
    cmp = math.ceil(in_bits / 4)
    if isinstance(node, ir.ReLU):
        return in_bits - 1                       # x & ~sign
    if isinstance(node, ir.Threshold):
        return in_bits + cmp                     # compare, select
    if isinstance(node, ir.HardTanh):
        return in_bits + 2 * cmp                 # two compares, one select chain
    if isinstance(node, ir.Abs):
        return in_bits                           # negate and select
    if isinstance(node, ir.Shrink):
        return in_bits + 2 * cmp                 # two compares, add or subtract, select
    return in_bits


def _unit_resources(node: ir.Node, graph: ir.Graph, in_shape, unit) -> dict:
    """The unit's own resources (its input FIFOs excluded)."""
    from ..rtl.act import TableUnit
    from ..rtl.conv import Conv2dUnit
    from ..rtl.normalized import Divide
    from ..rtl.pool import ChannelReduceUnit, GlobalPoolUnit, Pool2dUnit
    from ..rtl.scale import ScaleUnit
    from ..rtl.serial import LaneSerial
    r = _zero()
    c = in_shape[0]
    in_t = graph.in_fixed(node)
    out_bits = node.fixed.width
    lanes_out = graph.shape(node.name)[0]
    if isinstance(unit, Conv2dUnit):
        return _conv(unit)
    if _relayout(node, graph):
        return _relayout_unit(unit, in_t.width)
    if isinstance(unit, Pool2dUnit):
        return _pool(node, in_shape, in_t, node.fixed)
    if isinstance(unit, Divide):
        # Zip is wiring; the core is a normalized table unit fed with both operands.
        return _table(unit.core, graph[node.inputs[1]].fixed.width, in_t.width)
    if isinstance(unit, TableUnit):
        return _table(unit, in_t.width)
    if isinstance(unit, LaneSerial):
        # The core's lanes, an n-way select of each core lane's operand in front, the
        # groups before the last held behind and the output register, a counter in
        # front and a one-hot one behind; a skid buffer on each side of the core.
        L, n = unit.lanes, unit.steps
        _add(r, _unit_resources(node, graph, in_shape, unit.core))
        _add(r, skid_buffer(L * in_t.width))
        _add(r, skid_buffer(L * out_bits))
        return _add(r, {"lut": L * in_t.width * _mux_luts(n) + 2 * _bits(n) + 4,
                        "ff": ((n - 1) * L + c) * out_bits + _bits(n) + n + 1})
    if isinstance(unit, ScaleUnit):
        # Position ROM (H*W codes) read at row * W + col, the operand stage, one
        # product per lane and its requantizer.
        _, h, w = unit.in_shape
        _add(r, memory(h * w, unit.ts.width, rom=True, what="scale ROM"))
        r["dsp48e1"] += c * _dsps(in_t.width, unit.ts.width)
        # The operand goes into the DSP48E1's A register and the rounding constant into
        # its post-adder: the fabric keeps the saturation, the output register, the
        # position counters and the address adder (row * W + col, W a constant).
        kept = in_t.width + unit.ts.width - (in_t.frac + unit.ts.frac - node.fixed.frac)
        r["ff"] += c * out_bits + 2 + _bits(h) + _bits(w)
        r["lut"] += c * (max(0, kept - out_bits) // 2 + out_bits // 2) \
            + 2 * (_bits(h) + _bits(w)) + _bits(h * w) + 2
        return r
    if isinstance(unit, GlobalPoolUnit):
        _, h, w = in_shape
        acc = in_t.width + _bits(h * w)
        per = 2 * acc if node.reduces_max else acc + _requant_luts(acc + 18, 0, out_bits)
        if not node.reduces_max:
            rec, _s = ir.mean_multiplier(h * w, in_t)
            r["dsp48e1"] += c * (_dsps(acc, rec.bit_length() + 1) if rec & (rec - 1) else 0)
        return _add(r, {"ff": c * (acc + out_bits) + _bits(h) + _bits(w) + 1,
                        "lut": c * per + 2 * (_bits(h) + _bits(w)) + 4})
    if isinstance(unit, ChannelReduceUnit):
        mode = node.mode
        per = (c - 1) * (2 * in_t.width - 2 if mode == "max" else out_bits if mode == "sum"
                         else 2 * in_t.width + _bits(c))
        return _registered(1, out_bits, per)
    name = type(unit).__name__
    if name == "AddUnit":
        # Align both operands, add or subtract (or compare and select), requantize.
        ta = in_t
        tb = graph[node.inputs[1]].fixed
        top = max(ta.frac, tb.frac)
        total = max(ta.width + top - ta.frac, tb.width + top - tb.frac) + 1
        per = total + _requant_luts(total, top - node.fixed.frac, out_bits)
        return _registered(c, out_bits, per)
    if name == "RepeatUnit":
        count = graph.shape(node.name)[1] * graph.shape(node.name)[2]
        return {"ff": c * in_t.width + _bits(count + 1), "lut": 2 * _bits(count + 1) + 2}
    if isinstance(node, ir.Square):
        # x * x on a DSP48E1 per lane; the output register is its P register.
        r["dsp48e1"] += c * _dsps(in_t.width, in_t.width)
        return _add(r, {"ff": 1, "lut": 2})
    if isinstance(node, ir.Requantize):
        shift = in_t.frac - node.fixed.frac
        return _registered(c, out_bits, _requant_luts(in_t.width, shift, out_bits))
    return _registered(lanes_out, out_bits, _elementwise_luts(node, in_t.width, out_bits))


def _broadcast(n: int) -> dict:
    """Broadcast: a taken flag per reader and the all-taken test."""
    return {"ff": n, "lut": n + 1}


def top_fifo_depths(graph: ir.Graph, fifo_depth: int = 4) -> dict[tuple[str, int], int]:
    """The depth of the FIFO in front of each unit input, sized as DataflowTop sizes them
    (branch FIFOs before joins, line-buffer fill before windowed units)."""
    from ..rtl import top
    shapes = top.stream_shapes(graph)
    depths = dict(top.branch_fifo_depths(graph, shapes, fifo_depth))
    window = getattr(top, "window_fifo_depths", None)
    if window is not None:
        for key, depth in window(graph, shapes).items():
            depths[key] = max(depth, depths.get(key, fifo_depth))
    return depths


def resources(node: ir.Node, graph: ir.Graph, in_shape, lanes, *, unit=None,
              fifo_depths: dict | None = None, fifo_depth: int = 4) -> dict:
    """Estimated resources of this node's unit, the FIFOs in front of its inputs included
    (and the Broadcast after it when several nodes read it).

    ``unit``: the node's RTL unit (``DataflowTop.units[name]``), built from ``lanes`` if
    not given; ``fifo_depths``: ``DataflowTop.fifo_depths`` (the FIFO in front of input k
    of node n is ``fifo_depths.get((n, k), fifo_depth)``), computed as the top does if
    not given."""
    r = _zero()
    if in_shape is None or (isinstance(node, (ir.Input, ir.Output, ir.Flatten)) and
                            not _relayout(node, graph)):
        readers = sum(n.inputs.count(node.name) for n in graph.nodes)
        if readers > 1 and not isinstance(node, ir.Output):
            _add(r, _broadcast(readers))
        return r
    from ..rtl.top import build_unit, stream_shapes
    if unit is None:
        unit = build_unit(graph, node, in_shape, lanes)
        unit._MustUse__silence = True   # built to be measured, not elaborated
    if fifo_depths is None:
        fifo_depths = top_fifo_depths(graph, fifo_depth)
    shapes = stream_shapes(graph)
    for k, src in enumerate(node.inputs):
        width = shapes[src][0] * graph[src].fixed.width
        _add(r, fifo(fifo_depths.get((node.name, k), fifo_depth), width))
        _add(r, skid_buffer(width))
    _add(r, _unit_resources(node, graph, in_shape, unit))
    readers = sum(n.inputs.count(node.name) for n in graph.nodes)
    if readers > 1:
        _add(r, _broadcast(readers))
    return {k: int(round(v)) for k, v in r.items()}
