"""GMIIRxCDC: the GMII receive signals from the PHY's receive clock to the local 125 MHz
clock, through amaranth.lib.fifo.AsyncFIFO.

A GMII PHY (the 88E1111 on the ML605 and SP605) sends received bytes on its own RX_CLK,
recovered from the link partner: 125 MHz like the FPGA's transmit clock (GTX_CLK) but not
the same clock (each within 100 ppm of nominal, so they drift apart by up to 200 ppm, about
0.3 byte over the longest frame). The board top captures RXD/RX_DV/RX_ER in I/O flip-flops
on RX_CLK and this elastic buffer hands them to the Ethernet endpoint, which runs on the
local clock:

* write side (``w_domain``, RX_CLK): every byte under RX_DV goes into the FIFO with its
  RX_ER and a ``last`` flag (a byte is held one cycle so its ``last`` is known when it is
  written). RX_ER outside RX_DV (carrier extension, false carrier) carries no frame and is
  not passed on.
* read side (``r_domain``, the local clock): idle (RX_DV low) until a frame's first byte
  has been in the FIFO for ``start_delay`` cycles, then the frame's bytes one per cycle
  without a gap, RX_DV high, until its last byte; then at least one idle cycle. The delay
  is the margin against the writer being slower: a frame starts with ``start_delay`` bytes
  (plus the FIFO's synchronizer latency) in hand and loses at most a fraction of one.

Both faults are counted and never pass silently: a byte that finds the FIFO full
(``overflow``, ``w_domain``: the writer faster than the reader beyond what the gaps between
frames absorb) loses the rest of its frame, whose last byte goes through marked RX_ER; a
frame that runs the FIFO dry (``underrun``, ``r_domain``) is ended at once with RX_ER and
its remaining bytes discarded. Either way the MAC downstream (GMIIRx) drops the frame and
counts it in ``drop_error``. Neither happens between two clocks within 200 ppm.
"""
from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import data, fifo, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["GMIIRxCDC"]

_ENTRY = data.StructLayout({"data": 8, "er": 1, "last": 1})


class GMIIRxCDC(wiring.Component):
    """``rxd``, ``rx_dv``, ``rx_er`` in ``w_domain`` (already registered) to ``o_rxd``,
    ``o_rx_dv``, ``o_rx_er`` in ``r_domain`` (registered), through an AsyncFIFO of
    ``depth`` bytes. Counters: ``overflow`` (frames cut for a full FIFO, ``w_domain``),
    ``underrun`` (frames cut for an empty one, ``r_domain``)."""

    def __init__(self, *, w_domain: str = "eth_rx", r_domain: str = "eth", depth: int = 32,
                 start_delay: int = 4):
        if depth < 2 * (start_delay + 4):
            raise ValueError(f"depth {depth} leaves no room beyond the start delay of "
                             f"{start_delay} and the synchronizers (at least "
                             f"{2 * (start_delay + 4)})")
        self.w_domain, self.r_domain = w_domain, r_domain
        self.depth, self.start_delay = depth, start_delay
        super().__init__({"rxd": In(8), "rx_dv": In(1), "rx_er": In(1),
                          "o_rxd": Out(8), "o_rx_dv": Out(1), "o_rx_er": Out(1),
                          "overflow": Out(32), "underrun": Out(32)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = q = fifo.AsyncFIFO(width=_ENTRY.size, depth=self.depth,
                                               w_domain=self.w_domain,
                                               r_domain=self.r_domain)
        w, r = m.d[self.w_domain], m.d[self.r_domain]

        # -- write side: each byte one cycle late, so its ``last`` is known ---------------
        held = Signal(_ENTRY)
        held_valid = Signal()
        lost = Signal()         # a byte of this frame found the FIFO full
        owe = Signal()          # its closing (error-marked) byte is still to be written
        owed = Signal(_ENTRY)
        w += held_valid.eq(self.rx_dv)
        with m.If(self.rx_dv):
            w += [held.data.eq(self.rxd), held.er.eq(self.rx_er)]
        entry = Signal(_ENTRY)
        m.d.comb += [entry.data.eq(held.data), entry.er.eq(held.er | lost),
                     entry.last.eq(~self.rx_dv)]
        with m.If(owe):
            # A frame cut short still ends (with an error) before the next one starts; the
            # gap between frames is at least 8 bytes long.
            with m.If(q.w_rdy):
                m.d.comb += [q.w_en.eq(1), q.w_data.eq(owed)]
                w += owe.eq(0)
            with m.If(held_valid):              # the next frame began: it is lost too
                with m.If(~lost):
                    w += self.overflow.eq(self.overflow + 1)
                w += lost.eq(~entry.last)
        with m.Elif(held_valid):
            with m.If(q.w_rdy & (~lost | entry.last)):
                m.d.comb += [q.w_en.eq(1), q.w_data.eq(entry)]
            with m.Else():
                with m.If(~lost):
                    w += self.overflow.eq(self.overflow + 1)
                w += lost.eq(1)
                with m.If(entry.last):
                    w += [owe.eq(1), owed.eq(entry), owed.er.eq(1)]
            with m.If(entry.last):
                w += lost.eq(0)

        # -- read side: a frame starts once start_delay cycles of it are in hand -----------
        head = Signal(_ENTRY)
        m.d.comb += head.eq(q.r_data)
        wait = Signal(range(self.start_delay + 1))
        with m.FSM(domain=self.r_domain):
            with m.State("IDLE"):
                r += [self.o_rx_dv.eq(0), self.o_rx_er.eq(0)]
                with m.If(q.r_rdy):
                    r += wait.eq(wait + 1)
                    with m.If(wait == self.start_delay):
                        r += wait.eq(0)
                        m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += q.r_en.eq(1)
                r += [self.o_rxd.eq(head.data), self.o_rx_dv.eq(1),
                      self.o_rx_er.eq(head.er | ~q.r_rdy)]
                with m.If(~q.r_rdy):
                    r += self.underrun.eq(self.underrun + 1)
                    m.next = "DRAIN"
                with m.Elif(head.last):
                    m.next = "IDLE"
            with m.State("DRAIN"):
                # the rest of a frame that ran dry: discarded up to its last byte
                m.d.comb += q.r_en.eq(1)
                r += [self.o_rx_dv.eq(0), self.o_rx_er.eq(0)]
                with m.If(q.r_rdy & head.last):
                    m.next = "IDLE"
        return m
