"""A simulated board on a real UDP socket: ProtocolBoard (MAC, IP, UDP, ARP, the protocol
engine and the network, all of it) in Verilator under cocotb, with a UDP socket on the
host bridged to its GMII port through cocotbext-eth's GmiiSource and GmiiSink.

:func:`serve_gateware` builds the board and runs it until told to stop (or idle); the
cocotb test below is its simulator side: every datagram the socket receives becomes an
Ethernet/IPv4/UDP frame to the board (from a made-up host address, one UDP source port
per peer), every UDP frame the board sends goes back to its peer as a datagram.  So a
host driver talks to the gateware exactly as it would to a board, only slower (the
simulator runs some tens of thousands of 125 MHz cycles a second).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import struct
import tempfile
import time
import zlib
from pathlib import Path

__all__ = ["serve_gateware", "board_verilog", "BOARD_MAC", "BOARD_IP", "BOARD_PORT"]

BOARD_MAC = 0x020000000001
BOARD_IP = 0xC0A80180           # 192.168.1.128
BOARD_PORT = 9000
_HOST_MAC = bytes.fromhex("5a5152535455")
_HOST_IP = bytes([192, 168, 1, 10])
_POLL_CYCLES = 64


def board_verilog(graph, network, slots: int = 4,
                  chunk_bytes: int | None = None) -> tuple[list[str], str]:
    """The counter ports and Verilog of a one-clock ProtocolBoard computing ``graph``
    with ``network``."""
    from amaranth.back import verilog
    from amaranth.lib import wiring

    from ...host import protocol as p
    from .board import ProtocolBoard
    info = p.DeviceInfo.of_graph(graph, slots, chunk_bytes or p.CHUNK_BYTES)
    top = ProtocolBoard(BOARD_MAC, BOARD_IP, BOARD_PORT, info, network)
    counters = [name for name, member in top.signature.members.items()
                if member.flow == wiring.Out and member.shape == 32]
    return counters, verilog.convert(top, name="protocol_board", emit_src=False)


def serve_gateware(graph, network, *, host: str = "127.0.0.1", port: int = 9000,
                   slots: int = 4, chunk_bytes: int | None = None, ready_file=None,
                   stop_file=None, idle_timeout: float | None = None,
                   duration: float | None = None, workdir=None):
    """Run the board in Verilator behind udp://host:port until ``stop_file`` exists,
    ``idle_timeout`` seconds pass without a datagram, or ``duration`` seconds pass.
    ``ready_file`` gets the port bound (useful with port 0) once the board is up.
    Returns the board's counters at the end (``engine_<name>``, the Ethernet layers')."""
    from ...sim.verilator import run_cocotb
    counters, text = board_verilog(graph, network, slots, chunk_bytes)
    result = Path(workdir or tempfile.gettempdir()) / f"gmii_bridge_{os.getpid()}.json"
    run_cocotb(text, "protocol_board", "gmii_bridge", test_dir=Path(__file__).parent,
               params={"host": host, "port": port, "ready_file": str(ready_file or ""),
                       "stop_file": str(stop_file or ""), "idle_timeout": idle_timeout,
                       "duration": duration, "counters": counters, "result": str(result)},
               build_args=["-Wno-fatal", "-Wno-WIDTH"])
    out = json.loads(result.read_text())
    result.unlink()
    return out


# -- frames on the wire (struct and zlib) -----------------------------------------------

def _checksum(data: bytes) -> int:
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return 0xFFFF - s


def _frame_to_board(payload: bytes, sport: int, ident: int) -> bytes:
    """An Ethernet frame with FCS carrying ``payload`` to the board's port."""
    udp = struct.pack(">HHHH", sport, BOARD_PORT, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident & 0xFFFF, 0x4000, 64, 17,
                     0, _HOST_IP, BOARD_IP.to_bytes(4, "big"))
    ip = ip[:10] + struct.pack(">H", _checksum(ip)) + ip[12:]
    frame = BOARD_MAC.to_bytes(6, "big") + _HOST_MAC + b"\x08\x00" + ip + udp
    frame += bytes(max(0, 60 - len(frame)))
    return frame + struct.pack("<L", zlib.crc32(frame))


def _udp_from_board(frame: bytes):
    """(destination port, payload) of a UDP frame from the board (FCS stripped), or None."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
        return None
    total = struct.unpack(">H", frame[16:18])[0]
    dport = struct.unpack(">H", frame[36:38])[0]
    return dport, frame[42:14 + total]


# -- the simulator side (a cocotb test, run by serve_gateware) -------------------------

try:
    import cocotb
except ImportError:         # serve_gateware is importable without cocotb
    cocotb = None

if cocotb is not None:
    @cocotb.test()
    async def bridge(dut):
        from cocotb.clock import Clock
        from cocotb.triggers import ClockCycles
        from cocotbext.eth import GmiiFrame, GmiiSink, GmiiSource

        from hwconv.sim.verilator import load_params
        params = load_params()
        Clock(dut.clk, 8, unit="ns").start()
        src = GmiiSource(dut.rxd, dut.rx_er, dut.rx_dv, dut.clk, dut.rst)
        sink = GmiiSink(dut.txd, dut.tx_er, dut.tx_en, dut.clk, dut.rst)
        src.log.setLevel(logging.WARNING)          # not a line per frame
        sink.log.setLevel(logging.WARNING)
        dut.rst.value = 1
        await ClockCycles(dut.clk, 8)
        dut.rst.value = 0
        await ClockCycles(dut.clk, 4)

        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((params["host"], params["port"]))
        sock.setblocking(False)
        if params["ready_file"]:
            Path(params["ready_file"]).write_text(str(sock.getsockname()[1]))
        peers, ports = {}, {}            # peer address <-> made-up UDP source port
        ident, start = 0, time.monotonic()
        last_heard = start
        stop, idle, duration = params["stop_file"], params["idle_timeout"], params["duration"]
        rx = tx = 0
        while True:
            await ClockCycles(dut.clk, _POLL_CYCLES)
            now = time.monotonic()
            while True:
                try:
                    data, peer = sock.recvfrom(2048)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:         # e.g. ICMP port unreachable from a gone peer
                    continue
                if peer not in ports:
                    ports[peer] = 40000 + len(ports)
                    peers[ports[peer]] = peer
                ident += 1
                rx += 1
                last_heard = now
                src.send_nowait(GmiiFrame.from_raw_payload(
                    _frame_to_board(data, ports[peer], ident)))
            while not sink.empty():
                f = sink.recv_nowait()
                got = _udp_from_board(bytes(f.get_payload())) if f.check_fcs() else None
                if got and got[0] in peers:
                    tx += 1
                    try:
                        sock.sendto(got[1], peers[got[0]])
                    except OSError:
                        pass
            if (stop and os.path.exists(stop)) or \
                    (idle is not None and now - last_heard > idle) or \
                    (duration is not None and now - start > duration):
                break
        sock.close()
        counters = {c: int(getattr(dut, c).value) for c in params["counters"]}
        with open(params["result"], "w") as fh:
            json.dump({"bridge_rx": rx, "bridge_tx": tx, **counters}, fh)
