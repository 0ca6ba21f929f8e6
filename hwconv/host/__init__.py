"""The host side of the Ethernet link: wire format, transports, driver, simulated board.

``Accelerator(UDPTransport("127.0.0.1", 9000)).run(frames)`` runs frames on a board or on
``hwconv serve-sim``; docs/protocol.md describes the wire format.
"""
from .driver import Accelerator, DeviceError, DeviceTimeout, HostCounters
from .transport import LoopbackTransport, LossyTransport, Transport, UDPTransport

__all__ = ["Accelerator", "DeviceError", "DeviceTimeout", "HostCounters", "Transport",
           "UDPTransport", "LoopbackTransport", "LossyTransport"]
