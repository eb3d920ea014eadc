"""`koabus relay` as a real process: it beats with its own pid, stops in order on SIGTERM."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys

import zmq

from koabus.common.protocol import Publication


def _free_ports(n: int):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def test_the_relay_process_beats_and_stops_on_sigterm():
    router, pub, status = _free_ports(3)
    proc = subprocess.Popen(
        [sys.executable, "-m", "koabus.common.cli.main", "relay", "--name", "edge-cli",
         "--router", f"tcp://127.0.0.1:{router}", "--pub", f"tcp://127.0.0.1:{pub}",
         "--status", f"tcp://127.0.0.1:{status}", "--upstream-router", "tcp://127.0.0.1:9",
         "--upstream-pub", "tcp://127.0.0.1:9"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    try:
        sub.setsockopt(zmq.SUBSCRIBE, b"sys.hb.relay")
        sub.connect(f"tcp://127.0.0.1:{status}")
        beat = None
        for _ in range(150):  # bounded: ~15 s for a cold start on a loaded machine
            if sub.poll(100):
                beat = Publication.from_frames(sub.recv_multipart())
                break
            assert proc.poll() is None, proc.stderr.read().decode()
        assert beat is not None, "no heartbeat from the relay process"
        assert (beat.body["pid"], beat.body["name"], beat.body["service"]) == (proc.pid, "edge-cli", "relay")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        sub.close(0)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stderr.close()
