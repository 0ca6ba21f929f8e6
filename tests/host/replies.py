"""What a board sends back on its GMII transmit pins, as a host would take it: shared by
the cocotb benches of the protocol engine (bench_eth_engine.py) and of the whole board top
(tests/boards/bench_board_eth.py)."""
from cocotb.triggers import ClockCycles, RisingEdge

from decode import arp_reply, udp_datagram
from packets import HOST_IP, HOST_MAC, HOST_PORT


async def collect_replies(sink, clk, expect: int, *, mac: bytes, ip: bytes, port: int,
                          timeout: int = 400000, settle: int = 2000) -> dict:
    """Read ``sink`` (a cocotbext-eth GmiiSink) on ``clk`` until ``expect`` UDP datagrams
    came or ``timeout`` cycles passed, checking each frame's FCS and headers (from the
    board at ``mac``/``ip``/``port`` to the host); ARP replies are checked and counted.
    Then ``settle`` cycles in which nothing more may come: what does is counted as extra.
    Returns replies (payloads, hex), extra, arp_replies and cycles."""
    replies, arps, cycles = [], 0, 0
    while len(replies) < expect and cycles < timeout:
        await RisingEdge(clk)
        cycles += 1
        while not sink.empty():
            f = sink.recv_nowait()
            assert f.check_fcs(), "bad FCS out"
            raw = bytes(f.get_payload())
            if raw[12:14] == b"\x08\x06":
                a = arp_reply(raw)
                assert (a["dst_mac"], a["sha"], a["spa"]) == (HOST_MAC, mac, ip), a
                arps += 1
                continue
            d = udp_datagram(raw, src_mac=mac, src_ip=ip)
            assert (d["dst_mac"], d["dst_ip"], d["src_port"], d["dst_port"]) == \
                (HOST_MAC, HOST_IP, port, HOST_PORT), d
            replies.append(d["payload"].hex())
    await ClockCycles(clk, settle)
    extra = 0
    while not sink.empty():
        sink.recv_nowait()
        extra += 1
    return {"replies": replies, "extra": extra, "arp_replies": arps, "cycles": cycles}
