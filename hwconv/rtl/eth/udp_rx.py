"""UDPRx: an IP payload of protocol 17 in, the UDP payload out with the source port;
datagrams to other ports dropped and counted."""
from __future__ import annotations

from .common import HeaderRx, refuse
from .headers import IP_PROTO_UDP, UDP_HEADER

__all__ = ["UDPRx"]


class UDPRx(HeaderRx):
    """Accepts datagrams to ``port``.  Drops and counts: ``drop_protocol`` (not UDP),
    ``drop_port``, ``drop_length`` (UDP length under 8), ``drop_short``,
    ``drop_truncated`` (the IP payload ends before the UDP length: passed on with
    ``error``).  The UDP checksum is not checked: the Ethernet FCS covers the one hop."""

    HEADER = UDP_HEADER
    IN_META = {"src_mac": 48, "ethertype": 16, "src_ip": 32, "protocol": 8}
    OUT_META = {"src_port": 16, "length": 16}
    COUNTERS = ("protocol", "port", "length")

    def __init__(self, port: int):
        if not 0 < port < 1 << 16:
            refuse(self, f"UDP port must be from 1 to 65535, not {port!r}")
        self.port = port
        super().__init__()

    def checks(self, f, meta):
        return [
            ("protocol", meta.protocol == IP_PROTO_UDP),
            ("port", f["dst_port"] == self.port),
            ("length", f["length"] >= 8),
        ]

    def payload_length(self, f):
        return f["length"] - 8

    def out_fields(self, f):
        return {"src_port": f["src_port"], "length": f["length"] - 8}
