"""Frames over real UDP sockets on 127.0.0.1: the driver against a simulated board served
in a thread, with and without loss, and datagrams that break every rule."""
import socket
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwconv.host import (Accelerator, DeviceTimeout, LoopbackTransport, LossyTransport,
                         UDPTransport)
from hwconv.host import protocol as p
from hwconv.host.board import SimulatedBoard
from hwconv.host.server import BoardServer
from hwconv.host.transport import Impairment

from .conftest import frames, serving


def test_lenet_frames_bit_exact(board_server, lenet, digits):
    x = frames(digits, 40)
    with UDPTransport("127.0.0.1", board_server.port) as link:
        acc = Accelerator(link)
        y = acc.run(x)
        assert acc.info.design_id == p.design_id(lenet.graph)
        assert np.array_equal(y, lenet.reference(x))
        assert y.dtype == np.float64 and y.shape == (40, 10)
        # One frame as (C, H, W), then an empty batch: the frame ids go on.
        assert np.array_equal(acc.run(x[0]), lenet.reference(x[:1]))
        assert acc.run(x[:0]).shape == (0, 10)
        c = acc.counters
        # No loss: nothing resent. (A QUERY may still go out while the board computes a
        # batch longer than the retry interval; its answers are then dropped as late.)
        assert (c.resent, c.malformed, c.frames) == (0, 0, 41)
        assert c.sent == 1 + 2 * 41 + c.queries and c.dropped <= 2 * c.queries
        dev = acc.device_counters()
    assert dev["frames_computed"] == 41
    assert dev["rx_datagrams"] == 1 + 2 * 41 + c.queries + 1
    assert sum(v for k, v in dev.items() if k.startswith("malformed")) == 0


def test_window_one_is_frame_by_frame(board_server, lenet, digits):
    x = frames(digits, 5, start=100)
    with UDPTransport("127.0.0.1", board_server.port) as link:
        acc = Accelerator(link, window=1)
        assert np.array_equal(acc.run(x), lenet.reference(x))


@pytest.mark.parametrize("drop,duplicate,reorder,seed", [
    (0.05, 0.0, 0.0, 1), (0.10, 0.05, 0.05, 2), (0.03, 0.02, 0.10, 3)])
def test_host_side_loss_is_recovered(board_server, lenet, digits, drop, duplicate, reorder,
                                     seed):
    x = frames(digits, 30, start=10 * seed)
    with LossyTransport(UDPTransport("127.0.0.1", board_server.port), drop, duplicate,
                        reorder, seed) as link:
        acc = Accelerator(link, retry=0.02)
        y = acc.run(x)
        dev = acc.device_counters()
    assert np.array_equal(y, lenet.reference(x))
    lost = link.counts
    assert lost["dropped_out"] + lost["dropped_in"] > 0
    c = acc.counters
    assert c.resent + c.queries > 0 and c.frames == 30 and c.malformed == 0
    if duplicate:
        assert c.dropped + dev["duplicates"] > 0
    assert sum(v for k, v in dev.items() if k.startswith("malformed")) == 0


def test_board_side_loss_is_recovered(lenet, digits):
    x = frames(digits, 30, start=200)
    with serving(lenet.graph, impair_in=Impairment(0.05, 0.03, 0.03, seed=7),
                 impair_out=Impairment(0.05, 0.03, 0.03, seed=8)) as server:
        with UDPTransport("127.0.0.1", server.port) as link:
            acc = Accelerator(link, retry=0.02)
            assert np.array_equal(acc.run(x), lenet.reference(x))
    assert server.impair_in.counts["dropped"] + server.impair_out.counts["dropped"] > 0
    assert acc.counters.resent + acc.counters.queries > 0


def test_two_hosts_one_after_the_other(board_server, lenet, digits):
    """A second host (new session) restarts the board; the first one's late datagrams
    are foreign to it."""
    x = frames(digits, 4)
    with UDPTransport("127.0.0.1", board_server.port) as a, \
            UDPTransport("127.0.0.1", board_server.port) as b:
        first = Accelerator(a, session=1)
        first.run(x)
        second = Accelerator(b, session=2)
        assert np.array_equal(second.run(x), lenet.reference(x))
        a.send(p.encode(p.Header(p.MsgType.QUERY, 1, 0, 0, 1), b"\x00"))   # session 1: gone
        assert a.recv(0.2) is None
        assert second.device_counters()["foreign_session"] == 1


def raw_socket(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    s.settimeout(0.2)
    return s


MALFORMED = {
    "malformed_short": [b"", b"HC", bytes(23)],
    "malformed_magic": [b"\x00\x00\x01\x03" + bytes(20), b"HD\x01\x01" + bytes(20)],
    "malformed_version": [b"HC\x00\x01" + bytes(20), b"HC\x07\x01" + bytes(20)],
    "malformed_type": [b"HC\x01\x00" + bytes(20), b"HC\x01\x63" + bytes(20)],
    "malformed_length": [b"HC\x01\x01" + bytes(16) + b"\x00\x10\x00\x00",
                         b"HC\x01\x07" + bytes(20) + b"extra"],
}


def test_malformed_datagrams_over_udp_are_counted_and_unanswered(board_server, lenet,
                                                                 digits):
    with raw_socket(board_server.port) as s:
        for datagrams in MALFORMED.values():
            for d in datagrams:
                s.send(d)
        with pytest.raises(TimeoutError):
            s.recv(2000)                  # no answer to any of them
    x = frames(digits, 3)
    with UDPTransport("127.0.0.1", board_server.port) as link:
        acc = Accelerator(link)
        assert np.array_equal(acc.run(x), lenet.reference(x))     # and the board still works
        dev = acc.device_counters()
    for counter, datagrams in MALFORMED.items():
        assert dev[counter] == len(datagrams), counter


@given(junk=st.lists(st.binary(max_size=1600), min_size=1, max_size=30))
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_bytes_over_udp_never_stop_the_board(board_server, junk):
    with raw_socket(board_server.port) as s:
        for d in junk:
            s.send(d)
        # HELLO of session 9 answers: the board is alive and still speaks the protocol.
        s.send(p.encode(p.Header(p.MsgType.HELLO, 9)))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            h, _ = p.decode(s.recv(2000))
            if h.type == p.MsgType.INFO and h.session == 9:
                break
        else:
            pytest.fail("no INFO")
    assert board_server.internal_errors == 0


def test_silent_port_gives_a_clear_error():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()                               # nothing listens there now
    with UDPTransport("127.0.0.1", port) as link:
        t0 = time.monotonic()
        with pytest.raises(DeviceTimeout) as e:
            Accelerator(link, timeout=0.5).run(np.zeros((1, 1, 28, 28)))
    assert time.monotonic() - t0 < 5
    message = str(e.value)
    assert f"udp://127.0.0.1:{port}: no answer to HELLO" in message
    assert f"nothing listens on UDP port {port}" in message
    assert "serve-sim" in message


def test_board_that_goes_silent_mid_run(lenet, digits):
    """Frames in flight when the board stops: DeviceTimeout names the frame, in bounded
    time."""
    with serving(lenet.graph) as server:
        link = UDPTransport("127.0.0.1", server.port)
        acc = Accelerator(link, timeout=0.5)
        acc.connect()
    with link, pytest.raises(DeviceTimeout, match=r"no answer about frame 0 \(batch index 0\)"):
        acc.run(frames(digits, 2))


def test_board_that_never_finishes(lenet, digits):
    class Stuck(SimulatedBoard):
        def compute(self):
            return []
    acc = Accelerator(LoopbackTransport(Stuck(lenet.graph)), retry=0.01, frame_timeout=0.3)
    with pytest.raises(DeviceTimeout, match="answers but frame 0 .* has not finished"):
        acc.run(frames(digits, 1))
    assert acc.counters.queries > 0


def test_loopback_transport_is_the_same_driver(lenet, digits):
    x = frames(digits, 20, start=300)
    board = SimulatedBoard(lenet.graph, slots=3)
    acc = Accelerator(LossyTransport(LoopbackTransport(board), 0.1, 0.05, 0.05, seed=5),
                      retry=0.005)
    assert np.array_equal(acc.run(x), lenet.reference(x))
    assert acc.window == 3


def test_frames_of_the_wrong_shape(board_server):
    from hwconv.host import DeviceError
    with UDPTransport("127.0.0.1", board_server.port) as link:
        acc = Accelerator(link)
        with pytest.raises(DeviceError, match=r"shape \(2, 3, 28, 28\).*\(N, 1, 28, 28\)"):
            acc.run(np.zeros((2, 3, 28, 28)))
        with pytest.raises(DeviceError, match="NaN"):
            acc.run(np.full((1, 1, 28, 28), np.nan))
        with pytest.raises(DeviceError, match="outside s16.14"):
            acc.run_int(np.full((1, 1, 28, 28), 40000))


def test_a_slow_board_is_not_made_to_resend(lenet, digits):
    """A board that takes 0.3 s per batch: the driver's queries find it COMPUTING and its
    timer backs off, so results are (almost) never sent twice."""
    import time as _time
    from hwconv import reference

    def slow(x):
        _time.sleep(0.3)
        return reference.run(lenet.graph, x)

    x = frames(digits, 24, start=400)
    board = SimulatedBoard(lenet.graph, engine=slow, slots=8)
    server = BoardServer(board)
    thread = server.serve_in_thread(duration=120)
    try:
        with UDPTransport("127.0.0.1", server.port) as link:
            acc = Accelerator(link)
            assert np.array_equal(acc.run(x), lenet.reference(x))
    finally:
        server.stop()
        thread.join(timeout=30)
    assert board.counters["results_resent"] <= 4, board.counters
    assert acc.counters.resent == 0


def test_bench_echo_board_round_trip():
    from hwconv.fixed import FixedType
    from hwconv.host.bench import measure
    fmt = p.TensorFormat((3, 20, 30), FixedType(12, 4))
    x = np.random.default_rng(1).integers(-2048, 2048, (6, *fmt.shape))
    r = measure(SimulatedBoard.echo(fmt, slots=2), x, drop=0.05, seed=3)
    assert np.array_equal(r["outputs"], x) and r["window"] == 2
