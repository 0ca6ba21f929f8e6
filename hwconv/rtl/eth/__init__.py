"""The Ethernet endpoint in gateware: one component per layer and direction.

Receive path, GMII in, UDP payload out (each an amaranth.lib.stream of bytes with
``last`` and ``error`` on the last byte; no back-pressure, as GMII has none)::

    GMIIRx  ->  EthernetRx  ->  IPv4Rx  ->  UDPRx

Header field tables are in :mod:`.headers`; the frame protocol on top of UDP is
docs/protocol.md (:mod:`hwconv.host.protocol`).
"""
from .eth_rx import EthernetRx
from .gmii_rx import GMIIRx
from .ipv4_rx import IPv4Rx
from .rx_path import UDPReceivePath
from .udp_rx import UDPRx

__all__ = ["GMIIRx", "EthernetRx", "IPv4Rx", "UDPRx", "UDPReceivePath"]
