"""`hwconv serve-sim` and `hwconv run` as users run them: real subprocesses, real sockets
on 127.0.0.1, outputs compared with `hwconv reference`."""
import contextlib
import re
import select
import signal
import socket
import subprocess
import sys

import numpy as np
from tests.test_cli import assert_one_line_error

HWCONV = [sys.executable, "-m", "hwconv.cli"]


def hwconv(*args, timeout=120):
    return subprocess.run([*HWCONV, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@contextlib.contextmanager
def serve_sim(folder, *args):
    """`hwconv serve-sim` on an ephemeral port; yields (process, port). Stopped with
    Ctrl-C (SIGINT) on leaving, and it must then exit cleanly."""
    proc = subprocess.Popen([*HWCONV, "serve-sim", str(folder), "--port", "0",
                             "--idle-timeout", "60", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 300)   # a loaded machine starts slowly
        line = proc.stdout.readline() if ready else ""
        m = re.search(r"on udp://127\.0\.0\.1:(\d+) ", line)
        assert m, line + proc.stderr.read() if proc.poll() is not None else line
        proc.banner = line
        yield proc, int(m.group(1))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.out, proc.err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise


def test_serve_sim_and_run_bit_exact_with_5_percent_loss(lenet_folder, digits, tmp_path):
    """Issue 8's criterion: 10 frames of the demo model, 5% injected loss, outputs equal
    to `hwconv reference`."""
    x = tmp_path / "x.npy"
    np.save(x, digits["test_x"][:10])
    ref = hwconv("reference", lenet_folder, "--input", x, "--output", tmp_path / "ref.npy")
    assert ref.returncode == 0, ref.stderr
    with serve_sim(lenet_folder, "--drop", 0.05, "--seed", 4) as (server, port):
        assert "input (1, 28, 28) s16.14 in 2 chunks" in server.banner
        run = hwconv("run", "--device", f"127.0.0.1:{port}", "--input", x, "--output",
                     tmp_path / "y.npy", "--drop", 0.05, "--seed", 5, "--design", lenet_folder)
        assert run.returncode == 0, run.stdout + run.stderr
    assert server.returncode == 0, server.err
    assert "10 frames computed" in server.out and "0 internal errors" in server.out
    y, expected = np.load(tmp_path / "y.npy"), np.load(tmp_path / "ref.npy")
    assert y.shape == (10, 10) and np.array_equal(y, expected)
    assert re.search(r"ran 10 frames on udp://127\.0\.0\.1:\d+ .* frames/s", run.stdout)
    resent = re.search(r"host: sent (\d+), resent (\d+), queries (\d+)", run.stdout)
    assert int(resent.group(2)) + int(resent.group(3)) > 0, run.stdout


def test_run_many_frames_no_loss(lenet_folder, digits, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, digits["test_x"][:100])
    with serve_sim(lenet_folder) as (server, port):
        run = hwconv("run", "--device", f"127.0.0.1:{port}", "--input", x, "--output",
                     tmp_path / "y.npy")
        assert run.returncode == 0, run.stderr
    assert "resent 0" in run.stdout and "malformed 0" in run.stdout
    from hwconv.design import Design
    assert np.array_equal(np.load(tmp_path / "y.npy"),
                          Design.load(lenet_folder).reference(np.load(x)))


def test_run_errors(lenet_folder, digits, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, digits["test_x"][:1])
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    dead = probe.getsockname()[1]
    probe.close()
    assert_one_line_error(hwconv("run", "--device", "localhost", "--input", x, "--output",
                                 tmp_path / "y.npy"), "is not HOST:PORT")
    assert_one_line_error(hwconv("run", "--device", f"127.0.0.1:{dead}", "--input", x,
                                 "--output", tmp_path / "y.npy", "--timeout", 0.5),
                          "no answer to HELLO", f"nothing listens on UDP port {dead}")
    assert not (tmp_path / "y.npy").exists()
    np.save(tmp_path / "bad.npy", np.zeros((2, 3, 5, 5)))
    with serve_sim(lenet_folder) as (server, port):
        assert_one_line_error(hwconv("run", "--device", f"127.0.0.1:{port}", "--input",
                                     tmp_path / "bad.npy", "--output", tmp_path / "y.npy"),
                              "shape (2, 3, 5, 5)", "(N, 1, 28, 28)")
        assert_one_line_error(hwconv("run", "--device", f"127.0.0.1:{port}", "--input", x,
                                     "--output", tmp_path / "y.npy", "--drop", 1.5),
                              "drop probability")
    assert_one_line_error(hwconv("serve-sim", tmp_path / "nothing"), "not a hwconv design")


def test_serve_sim_port_in_use(lenet_folder):
    with serve_sim(lenet_folder) as (server, port):
        assert_one_line_error(hwconv("serve-sim", lenet_folder, "--port", port),
                              f"cannot listen on udp://127.0.0.1:{port}")
