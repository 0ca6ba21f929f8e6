"""GMIIRx: the receive half of a Gigabit Ethernet MAC on a GMII PHY port.

GMII in (``rxd``, ``rx_dv``, ``rx_er``, one byte per cycle of the PHY's 125 MHz receive
clock), the frame out from the destination MAC address to the end of the payload: the
preamble and SFD stripped, the FCS checked and stripped.  A frame's last byte carries
``error`` when its FCS is wrong, the PHY signalled an error, or it is shorter than 64
bytes or longer than ``max_frame``; it is then to be dropped downstream (its bytes have
already gone by, as in verilog-ethernet's axis_gmii_rx).  Frames under 5 bytes produce no
output at all.
"""

from amaranth import Array, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .common import CRC32_RESIDUE, crc32_update, frame_stream, refuse
from .headers import ETH_MAX_FRAME, ETH_MIN_FRAME

__all__ = ["GMIIRx"]

_PREAMBLE, _SFD = 0x55, 0xD5


class GMIIRx(wiring.Component):
    """Counters (32-bit): ``frames_ok``, ``drop_fcs``, ``drop_error`` (rx_er during the
    frame), ``drop_runt`` (under 64 bytes with the FCS), ``drop_oversize``,
    ``drop_preamble`` (a byte other than 0x55 before the SFD).  The inputs are registered
    first (in the I/O blocks, on a board)."""

    rxd: In(8)
    rx_dv: In(1)
    rx_er: In(1)
    o: Out(frame_stream())
    frames_ok: Out(32)
    drop_fcs: Out(32)
    drop_error: Out(32)
    drop_runt: Out(32)
    drop_oversize: Out(32)
    drop_preamble: Out(32)

    def __init__(self, max_frame: int = ETH_MAX_FRAME):
        if not ETH_MIN_FRAME <= max_frame <= 16383:
            refuse(self, f"max_frame must be from {ETH_MIN_FRAME} to 16383 bytes, "
                         f"not {max_frame!r}")
        self.max_frame = max_frame
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        rxd, dv, er = Signal(8), Signal(), Signal()
        m.d.sync += [rxd.eq(self.rxd), dv.eq(self.rx_dv), er.eq(self.rx_er)]

        # The last 5 bytes: when the frame ends, the oldest is its last payload byte and
        # the other four its FCS.
        delay = Array(Signal(8, name=f"delay{k}") for k in range(5))
        count = Signal(range(self.max_frame + 2))      # bytes so far, saturating
        crc = Signal(32)
        error = Signal()
        o = self.o

        def bump(counter):
            m.d.sync += counter.eq(counter + 1)

        m.d.sync += o.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(dv & (rxd == _PREAMBLE)):
                    m.next = "PREAMBLE"
                with m.Elif(dv & (rxd == _SFD)):
                    m.next = "DATA"
                with m.Elif(dv):
                    bump(self.drop_preamble)
                    m.next = "SKIP"
                m.d.sync += [count.eq(0), crc.eq(0xFFFFFFFF), error.eq(0)]
            with m.State("PREAMBLE"):
                with m.If(~dv):
                    m.next = "IDLE"
                with m.Elif(rxd == _SFD):
                    m.next = "DATA"
                with m.Elif(rxd != _PREAMBLE):
                    bump(self.drop_preamble)
                    m.next = "SKIP"
            with m.State("DATA"):
                with m.If(dv):
                    m.d.sync += delay[0].eq(rxd)
                    for k in range(1, 5):
                        m.d.sync += delay[k].eq(delay[k - 1])
                    m.d.sync += crc.eq(crc32_update(crc, rxd))
                    with m.If(count <= self.max_frame):
                        m.d.sync += count.eq(count + 1)
                    with m.If(er):
                        m.d.sync += error.eq(1)
                    with m.If(count >= 5):
                        m.d.sync += [o.valid.eq(1), o.payload.data.eq(delay[4]),
                                     o.payload.last.eq(0), o.payload.error.eq(0)]
                with m.Else():
                    runt = count < ETH_MIN_FRAME
                    oversize = count > self.max_frame
                    bad_fcs = crc != CRC32_RESIDUE
                    with m.If(count >= 5):
                        m.d.sync += [o.valid.eq(1), o.payload.data.eq(delay[4]),
                                     o.payload.last.eq(1),
                                     o.payload.error.eq(error | runt | oversize | bad_fcs)]
                    with m.If(error):
                        bump(self.drop_error)
                    with m.Elif(runt):
                        bump(self.drop_runt)
                    with m.Elif(oversize):
                        bump(self.drop_oversize)
                    with m.Elif(bad_fcs):
                        bump(self.drop_fcs)
                    with m.Else():
                        bump(self.frames_ok)
                    m.next = "IDLE"
            with m.State("SKIP"):
                with m.If(~dv):
                    m.next = "IDLE"
        return m
