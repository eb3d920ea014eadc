"""The live-broker harness itself: the broker's stderr goes to a log file that nobody has to drain, so a
chatty broker never blocks on a full pipe (~64 KB), and its tail is there for failure reports."""
from __future__ import annotations

import zmq

from koabus.common.client import Client, ClientOptions
from koabus.common.protocol import Bye, Hello, encode_client
from koabus.common.protocol.constants import MAX_CLIENT_NAME_CHARS
from tests.common.client.live import BrokerProcess

PIPE_BUFFER_BYTES = 64 * 1024


def test_a_chatty_broker_keeps_serving_and_its_log_is_kept(tmp_path):
    broker = BrokerProcess(speed=20.0, log_path=tmp_path / "broker.log", log_level="INFO").start()
    ctx = zmq.Context.instance()
    try:
        assert broker.proc.stderr is None  # not a pipe
        log = tmp_path / "broker.log"
        for i in range(3000):  # each goodbye logs a line with the client's name (as long as HELLO allows)
            if i % 50 == 0 and log.stat().st_size > 2 * PIPE_BUFFER_BYTES:
                break
            dealer = ctx.socket(zmq.DEALER)
            dealer.setsockopt(zmq.LINGER, 0)
            try:
                dealer.connect(broker.router)
                dealer.send_multipart(encode_client(Hello(1, client="x" * MAX_CLIENT_NAME_CHARS)))
                assert dealer.poll(5000), f"the broker stopped answering after {i} clients"
                dealer.recv_multipart()
                dealer.send_multipart(encode_client(Bye(2)))
            finally:
                dealer.close(linger=100)
        with Client(broker.router, broker.pub, options=ClientOptions(timeout_s=5)) as client:
            assert client.status()["connected"] is True
        assert (tmp_path / "broker.log").stat().st_size > 2 * PIPE_BUFFER_BYTES  # more than a pipe holds
        tail = broker.log_tail(1000)
        assert "gone: bye" in tail and len(tail) <= 1000
        assert [b for b in BrokerProcess.running() if b is broker] == [broker]
    finally:
        broker.stop()
    assert broker not in list(BrokerProcess.running())
