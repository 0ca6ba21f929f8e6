"""Shared by the host tests: the bundled LeNet compiled once, and a board on a real socket."""
import contextlib

import numpy as np
import pytest

import hwconv
from hwconv.demo import bundled_digits, bundled_model
from hwconv.host.board import SimulatedBoard
from hwconv.host.server import BoardServer


@pytest.fixture(scope="session")
def digits():
    return bundled_digits()


@pytest.fixture(scope="session")
def lenet(digits):
    return hwconv.compile(bundled_model(), digits["calibration"], bits=16)


@pytest.fixture(scope="session")
def lenet_folder(lenet, tmp_path_factory):
    return lenet.save(tmp_path_factory.mktemp("host") / "lenet")


@contextlib.contextmanager
def serving(graph, **kw):
    """A SimulatedBoard on 127.0.0.1 (ephemeral port) in a thread; yields the server.
    The thread ends on leaving, and must not have met an internal error."""
    server = BoardServer(SimulatedBoard(graph, slots=kw.pop("slots", 16)), "127.0.0.1", 0,
                         **kw)
    thread = server.serve_in_thread(duration=120)
    try:
        yield server
    finally:
        server.stop()
        thread.join(timeout=10)
        assert not thread.is_alive()
    assert server.internal_errors == 0


@pytest.fixture
def board_server(lenet):
    with serving(lenet.graph) as server:
        yield server


def frames(digits, n, start=0):
    return np.asarray(digits["test_x"][start:start + n])
