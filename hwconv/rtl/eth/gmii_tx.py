"""GMIITx: the transmit half of a Gigabit Ethernet MAC on a GMII PHY port.

A frame in (from the destination MAC address to the end of the payload, one byte per
cycle once it has started), GMII out (``txd``, ``tx_en``, ``tx_er``, registered, one byte
per cycle of the 125 MHz transmit clock): preamble and SFD, the frame, zeros up to the
60-byte minimum, the FCS (CRC-32, amaranth.lib.crc), then the 12-byte inter-frame gap.
"""

from amaranth import Cat, Module, Signal
from amaranth.lib import crc, fifo, wiring
from amaranth.lib.crc import catalog
from amaranth.lib.wiring import In, Out

from .common import tx_stream
from .headers import ETH_MIN_FRAME

__all__ = ["GMIITx"]

_PREAMBLE, _SFD = 0x55, 0xD5
_MIN_DATA = ETH_MIN_FRAME - 4       # 60 bytes before the FCS
_GAP = 12


class GMIITx(wiring.Component):
    """GMII has no back-pressure: once a frame's first byte is taken, its next bytes must
    come one per cycle (through an 8-byte FIFO, which also puts registers between the
    transmit layers' header multiplexers and the CRC).  A byte missing mid-frame (an
    underrun) sends ``tx_er`` (the PHY
    turns it into an error symbol, so the receiver drops the frame), ends the frame there,
    drops the rest of it from the input, and counts ``underrun``.

    The input waits during the preamble, padding, FCS and gap: 8 + 4 + 12 cycles per
    frame (more for frames under 60 bytes), the whole overhead of Ethernet, so a source
    that always has the next frame ready fills the line.  Counters (32-bit): ``frames``
    sent, ``underrun``."""

    i: In(tx_stream())
    txd: Out(8)
    tx_en: Out(1)
    tx_er: Out(1)
    frames: Out(32)
    underrun: Out(32)

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = fcs = crc.Processor(catalog.CRC32_ETHERNET(8))
        m.submodules.fifo = q = fifo.SyncFIFOBuffered(width=9, depth=8)
        m.d.comb += [q.w_en.eq(self.i.valid), q.w_data.eq(Cat(self.i.payload.data,
                                                              self.i.payload.last)),
                     self.i.ready.eq(q.w_rdy)]
        valid, byte, last = q.r_rdy, q.r_data[:8], q.r_data[8]
        count = Signal(range(_MIN_DATA + 1))    # bytes of the frame so far, saturating
        step = Signal(range(max(_GAP, 8)))      # within the preamble, FCS or gap

        def send(byte, en=1, er=0):
            m.d.sync += [self.txd.eq(byte), self.tx_en.eq(en), self.tx_er.eq(er)]

        def data_byte(byte):
            send(byte)
            m.d.comb += [fcs.valid.eq(1), fcs.data.eq(byte)]
            with m.If(count < _MIN_DATA):
                m.d.sync += count.eq(count + 1)

        send(0, en=0)
        with m.FSM():
            with m.State("IDLE"):
                m.d.sync += [count.eq(0), step.eq(1)]
                with m.If(valid):
                    send(_PREAMBLE)
                    m.next = "PREAMBLE"
            with m.State("PREAMBLE"):
                m.d.comb += fcs.start.eq(1)
                m.d.sync += step.eq(step + 1)
                with m.If(step == 7):
                    send(_SFD)
                    m.next = "DATA"
                with m.Else():
                    send(_PREAMBLE)
            with m.State("DATA"):
                m.d.comb += q.r_en.eq(1)
                m.d.sync += step.eq(0)
                with m.If(valid):
                    data_byte(byte)
                    with m.If(last):
                        with m.If(count < _MIN_DATA - 1):
                            m.next = "PAD"
                        with m.Else():
                            m.next = "FCS"
                with m.Else():
                    send(0, er=1)
                    m.d.sync += self.underrun.eq(self.underrun + 1)
                    m.next = "DROP"
            with m.State("PAD"):
                data_byte(0)
                with m.If(count == _MIN_DATA - 1):
                    m.next = "FCS"
            with m.State("FCS"):
                # The CRC register took the frame's last byte in the cycle before.
                send(fcs.crc.word_select(step[:2], 8))
                m.d.sync += step.eq(step + 1)
                with m.If(step == 3):
                    m.d.sync += [step.eq(0), self.frames.eq(self.frames + 1)]
                    m.next = "GAP"
            with m.State("DROP"):
                m.d.comb += q.r_en.eq(1)
                with m.If(valid & last):
                    m.d.sync += step.eq(0)
                    m.next = "GAP"
            with m.State("GAP"):
                m.d.sync += step.eq(step + 1)
                with m.If(step == _GAP - 1):
                    m.next = "IDLE"
        return m
