"""ARPResponder: answers ARP requests for the endpoint's IPv4 address with its MAC
address (RFC 826), so that a host can reach the board without a static ARP entry."""

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .common import frame_stream, refuse, tx_stream
from .headers import (ARP_HEADER, ARP_REPLY, ARP_REQUEST, ETHERTYPE_ARP, ETHERTYPE_IPV4,
                      header_bytes)

__all__ = ["ARPResponder"]

_N = header_bytes(ARP_HEADER)       # 28


class ARPResponder(wiring.Component):
    """``i``: EthernetRx's output (frames to our MAC or broadcast, with ``src_mac`` and
    ``ethertype``); every frame of EtherType 0x0806 is read, the rest ignored.  ``o``: the
    reply's 28 bytes, with ``dst_mac`` and ``ethertype`` for EthernetTx (GMIITx pads it).

    A request is answered when it is a whole, error-free Ethernet/IPv4 ARP request for
    ``ip``; otherwise it is ignored and counted, the first failing check of:
    ``drop_short`` (the frame ends inside the 28 bytes), ``drop_format`` (hardware or
    protocol type or address lengths are not Ethernet and IPv4), ``drop_opcode`` (not a
    request: replies, RARP), ``drop_ip`` (another target address), ``drop_busy`` (the
    previous reply has not left yet).  Frames marked ``error`` are ignored, as they are
    counted where found.  ``replies`` counts answered requests."""

    i: In(frame_stream({"src_mac": 48, "ethertype": 16}))
    o: Out(tx_stream({"dst_mac": 48, "ethertype": 16}))
    replies: Out(32)
    drop_short: Out(32)
    drop_format: Out(32)
    drop_opcode: Out(32)
    drop_ip: Out(32)
    drop_busy: Out(32)

    def __init__(self, mac: int, ip: int):
        if not 0 <= mac < 1 << 48:
            refuse(self, f"MAC address must be a 48-bit integer, not {mac!r}")
        if not 0 <= ip < 1 << 32:
            refuse(self, f"IPv4 address must be a 32-bit integer, not {ip!r}")
        self.mac, self.ip = mac, ip
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        i, o = self.i, self.o
        beat = i.payload
        # The first 28 bytes, shifted in: byte 0 ends up most significant.
        pkt = Signal(8 * _N)
        f = {fl.name: pkt[8 * (_N - fl.offset - fl.width):8 * (_N - fl.offset)]
             for fl in ARP_HEADER}
        count = Signal(range(_N + 1))
        ended, is_arp, error = Signal(), Signal(), Signal()
        with m.If(i.valid):
            with m.If(count < _N):
                m.d.sync += [pkt.eq(Cat(beat.data, pkt[:-8])), count.eq(count + 1)]
            with m.If(beat.last):
                m.d.sync += [ended.eq(1), is_arp.eq(beat.ethertype == ETHERTYPE_ARP),
                             error.eq(beat.error)]

        pending = Signal()
        sha, spa = Signal(48), Signal(32)

        def bump(counter):
            m.d.sync += counter.eq(counter + 1)

        # Decided in the cycle after a frame's last byte, from registers only (the next
        # frame's first byte is at least a preamble and the MAC's delay away).
        with m.If(ended):
            m.d.sync += [ended.eq(0), count.eq(0)]
            with m.If(~is_arp):
                pass
            with m.Elif(count < _N):
                bump(self.drop_short)
            with m.Elif(error):
                pass
            with m.Elif((f["htype"] != 1) | (f["ptype"] != ETHERTYPE_IPV4) |
                        (f["hlen"] != 6) | (f["plen"] != 4)):
                bump(self.drop_format)
            with m.Elif(f["oper"] != ARP_REQUEST):
                bump(self.drop_opcode)
            with m.Elif(f["tpa"] != self.ip):
                bump(self.drop_ip)
            with m.Elif(pending):
                bump(self.drop_busy)
            with m.Else():
                m.d.sync += [pending.eq(1), sha.eq(f["sha"]), spa.eq(f["spa"])]
                bump(self.replies)

        # The reply, byte 0 first: ours as the sender, the requester as the target.
        fields = {"htype": Const(1, 16), "ptype": Const(ETHERTYPE_IPV4, 16),
                  "hlen": Const(6, 8), "plen": Const(4, 8), "oper": Const(ARP_REPLY, 16),
                  "sha": Const(self.mac, 48), "spa": Const(self.ip, 32), "tha": sha,
                  "tpa": spa}
        wire = []
        for fl in ARP_HEADER:
            v = fields[fl.name]
            wire += [v[8 * (fl.width - 1 - j):8 * (fl.width - j)] for j in range(fl.width)]
        reply = Cat(*wire)
        index = Signal(range(_N))
        m.d.comb += [o.valid.eq(pending), o.payload.data.eq(reply.word_select(index, 8)),
                     o.payload.last.eq(index == _N - 1), o.payload.dst_mac.eq(sha),
                     o.payload.ethertype.eq(ETHERTYPE_ARP)]
        with m.If(o.valid & o.ready):
            m.d.sync += index.eq(index + 1)
            with m.If(o.payload.last):
                m.d.sync += [index.eq(0), pending.eq(0)]
        return m
