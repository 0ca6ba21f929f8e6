"""UDPTx: a payload with its destination in, a UDP datagram (8-byte header first) out to
IPv4Tx; the length the header states is the length sent."""
from __future__ import annotations

from .common import refuse
from .header_tx import HeaderTx
from .headers import IP_PROTO_UDP, UDP_HEADER, UDP_MAX_PAYLOAD

__all__ = ["UDPTx"]


class UDPTx(HeaderTx):
    """Sends from ``port`` to ``dst_port`` of ``dst_ip`` (``dst_mac`` on this link)
    ``length`` payload bytes, 1 to 1472 (an unfragmented datagram in a 1500-byte MTU):
    a shorter input frame is padded with zeros (``pad_short``), a longer one cut
    (``trim_long``); another length drops the frame (``drop_length``).  The UDP checksum
    is 0 (none, allowed over IPv4): it would need the whole payload before the header."""

    HEADER = UDP_HEADER
    IN_META = {"dst_mac": 48, "dst_ip": 32, "dst_port": 16, "length": 16}
    OUT_META = {"dst_mac": 48, "dst_ip": 32, "protocol": 8, "length": 16}

    def __init__(self, port: int, max_payload: int = UDP_MAX_PAYLOAD):
        if not 0 < port < 1 << 16:
            refuse(self, f"UDP port must be from 1 to 65535, not {port!r}")
        if not 1 <= max_payload <= UDP_MAX_PAYLOAD:
            refuse(self, f"max_payload must be from 1 to {UDP_MAX_PAYLOAD}, "
                         f"not {max_payload!r}")
        self.port, self.max_payload = port, max_payload
        super().__init__()

    def header_fields(self, m, meta):
        return {"src_port": self.port, "dst_port": meta.dst_port,
                "length": meta.length + 8, "checksum": 0}

    def out_fields(self, meta):
        return {"dst_mac": meta.dst_mac, "dst_ip": meta.dst_ip, "protocol": IP_PROTO_UDP,
                "length": meta.length + 8}

    def payload_length(self, meta):
        return meta.length, (meta.length != 0) & (meta.length <= self.max_payload)
