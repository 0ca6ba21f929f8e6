"""UDPEcho: answers every datagram with its own payload, to its sender: the smallest
protocol stage between UDPReceivePath and UDPTransmitPath, for loopback tests and
for measuring both paths together."""

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import fifo, memory, wiring
from amaranth.lib.wiring import In, Out

from .common import frame_stream, refuse, tx_stream
from .udp_rx import UDPRx
from .udp_tx import UDPTx

__all__ = ["UDPEcho"]


class UDPEcho(wiring.Component):
    """``i``: UDPReceivePath's output; ``o``: UDPTransmitPath's input.

    Store and forward: a datagram's bytes go into a buffer of ``depth`` bytes (block
    RAM) as they come, and are sent only once its last byte has come without ``error``;
    a bad datagram, or one that finds the buffer or the queue of ``frames`` datagrams
    full, is dropped (its bytes given back) and counted: ``drop_error``, ``drop_full``.
    ``echoed`` counts datagrams queued for sending.  With room for two full datagrams
    (the default 4096 bytes), one is received while the other is sent: line rate both
    ways."""

    i: In(frame_stream({**UDPRx.IN_META, **UDPRx.OUT_META}))
    o: Out(tx_stream(UDPTx.IN_META))
    echoed: Out(32)
    drop_error: Out(32)
    drop_full: Out(32)

    def __init__(self, depth: int = 4096, frames: int = 8):
        if depth < 2 or depth & (depth - 1):
            refuse(self, f"depth must be a power of 2, not {depth!r}")
        self.depth, self.frames = depth, frames
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        i, o = self.i, self.o
        k = self.depth.bit_length() - 1
        m.submodules.mem = mem = memory.Memory(shape=8, depth=self.depth, init=[])
        wr = mem.write_port()
        rd = mem.read_port(transparent_for=(wr,))
        # A queued datagram: where it goes and how long it is.
        meta_bits = 48 + 32 + 16 + 16
        m.submodules.queue = queue = fifo.SyncFIFOBuffered(width=meta_bits, depth=self.frames)

        # Pointers one bit wider than the address: equal means empty, depth apart full.
        wp, start, rp = Signal(k + 1), Signal(k + 1), Signal(k + 1)
        overflow = Signal()
        beat = i.payload
        room = (wp - rp)[:k + 1] != self.depth
        with m.If(i.valid):
            with m.If(room & ~overflow):
                m.d.comb += [wr.en.eq(1), wr.addr.eq(wp[:k]), wr.data.eq(beat.data)]
            with m.Else():
                m.d.sync += overflow.eq(1)
            end = Mux(room & ~overflow, wp + 1, wp)
            m.d.sync += wp.eq(end)
            with m.If(beat.last):
                m.d.sync += overflow.eq(0)
                length = (end - start)[:k + 1]     # modulo the pointers
                with m.If(beat.error):
                    m.d.sync += [wp.eq(start), self.drop_error.eq(self.drop_error + 1)]
                with m.Elif(overflow | ~room | ~queue.w_rdy):
                    m.d.sync += [wp.eq(start), self.drop_full.eq(self.drop_full + 1)]
                with m.Else():
                    m.d.comb += [queue.w_en.eq(1), queue.w_data.eq(
                        Cat(beat.src_mac, beat.src_ip, beat.src_port, length))]
                    m.d.sync += [start.eq(end), self.echoed.eq(self.echoed + 1)]

        # Send: the read port always shows the byte at rp (the next one on a transfer).
        head = Signal(meta_bits)
        remaining = Signal(16)
        sending = Signal()
        take = o.valid & o.ready
        m.d.comb += [rd.addr.eq(Mux(take, rp + 1, rp)[:k]),
                     o.valid.eq(sending), o.payload.data.eq(rd.data),
                     o.payload.last.eq(remaining == 1),
                     o.payload.dst_mac.eq(head[:48]), o.payload.dst_ip.eq(head[48:80]),
                     o.payload.dst_port.eq(head[80:96]), o.payload.length.eq(head[96:])]
        with m.If(~sending & queue.r_rdy):
            m.d.comb += queue.r_en.eq(1)
            m.d.sync += [head.eq(queue.r_data), remaining.eq(queue.r_data[96:]),
                         sending.eq(1)]
        with m.If(take):
            m.d.sync += [rp.eq(rp + 1), remaining.eq(remaining - 1)]
            with m.If(remaining == 1):
                m.d.sync += sending.eq(0)
        return m
