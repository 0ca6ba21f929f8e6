"""The Ethernet endpoint in gateware: one component per layer and direction.

Receive path, GMII in, UDP payload out (each an amaranth.lib.stream of bytes with
``last`` and ``error`` on the last byte; no back-pressure, as GMII has none)::

    GMIIRx  ->  EthernetRx  ->  IPv4Rx  ->  UDPRx
                    `->  ARPResponder  (requests for our IP)

Transmit path, UDP payload in, GMII out (streams with back-pressure: each layer holds
its input while it sends its header)::

    UDPTx  ->  IPv4Tx  ->  FrameArbiter  ->  EthernetTx  ->  GMIITx
                   ARPResponder  -'

UDPEndpoint puts the three together; UDPLoopback adds UDPEcho (a store-and-forward
stage that answers each datagram with its payload) for end-to-end tests; ProtocolEngine
is the frame protocol's board end (slot buffers, the network, RESULT and STATUS out) and
ProtocolBoard the board top joining it to UDPEndpoint (gmii_bridge runs that top in
Verilator behind a UDP socket: ``hwconv serve-sim --engine gateware``).  StreamCDC
carries either stream across to the core clock (amaranth.lib.fifo.AsyncFIFO); GMIIRxCDC
carries the GMII receive signals from the PHY's RX_CLK to the local 125 MHz clock (an
elastic buffer on an AsyncFIFO; the board tops in hwconv.boards put it before the MAC).

Header field tables are in :mod:`.headers`; the frame protocol on top of UDP is
docs/protocol.md (:mod:`hwconv.host.protocol`).
"""
from .arbiter import FrameArbiter
from .arp import ARPResponder
from .board import ProtocolBoard
from .cdc import StreamCDC
from .echo import UDPEcho
from .endpoint import UDPEndpoint
from .engine import ProtocolEngine
from .eth_rx import EthernetRx
from .eth_tx import EthernetTx
from .gmii_cdc import GMIIRxCDC
from .gmii_rx import GMIIRx
from .gmii_tx import GMIITx
from .ipv4_rx import IPv4Rx
from .ipv4_tx import IPv4Tx
from .loopback import UDPLoopback
from .rx_path import UDPReceivePath
from .tx_path import UDPTransmitPath
from .udp_rx import UDPRx
from .udp_tx import UDPTx

__all__ = ["GMIIRx", "EthernetRx", "IPv4Rx", "UDPRx", "UDPReceivePath",
           "UDPTx", "IPv4Tx", "EthernetTx", "GMIITx", "FrameArbiter", "UDPTransmitPath",
           "ARPResponder", "UDPEndpoint", "UDPEcho", "UDPLoopback", "StreamCDC", "GMIIRxCDC",
           "ProtocolEngine", "ProtocolBoard"]
