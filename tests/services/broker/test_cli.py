"""The `koabus status` / `koabus wait-ready` commands and the `koabus broker` parser."""
from __future__ import annotations

import argparse
import json

from koabus.common.cli import status as status_cli
from tests.helpers import free_tcp_port


def test_status_and_wait_ready_against_a_running_broker(stack, capsys):
    stack.client().pump(0.3)  # let the Qt side push its state to the I/O thread
    router = stack.broker.router_endpoint
    status = status_cli.fetch_status(router, 3.0)
    assert status["connected"] and status["epoch"] == stack.broker.epoch
    args = argparse.Namespace(router=router, timeout=3.0, json=True)
    assert status_cli.cmd_status(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["epoch"] == stack.broker.epoch
    args = argparse.Namespace(router=router, timeout=3.0, json=False)
    assert status_cli.cmd_status(args) == 0
    assert "connected" in capsys.readouterr().out
    assert status_cli.cmd_wait_ready(argparse.Namespace(router=router, timeout=3.0, quiet=True)) == 0


def test_wait_ready_gives_up_in_time_when_nobody_answers():
    import time

    router = f"tcp://127.0.0.1:{free_tcp_port()}"
    start = time.monotonic()
    code = status_cli.cmd_wait_ready(argparse.Namespace(router=router, timeout=0.6, quiet=True))
    assert code == status_cli.EXIT_NOT_READY
    assert time.monotonic() - start < 3.0


def test_broker_command_registers():
    from koabus.common.cli.main import build_parser

    parser = build_parser(["broker"])
    args = parser.parse_args(["broker", "--backend", "sim", "--router", "tcp://127.0.0.1:1", "--speed", "5"])
    assert args.backend == "sim" and args.speed == 5.0 and callable(args.func)


def test_openapi_backend_refused_off_windows():
    import sys

    import pytest

    from koabus.services.control.qax import ControlUnavailable, create_openapi_control

    if sys.platform == "win32":
        pytest.skip("this checks the non-Windows refusal")
    with pytest.raises(ControlUnavailable, match="Windows"):
        create_openapi_control()


def test_broker_refuses_an_exposed_bind_without_curve_or_insecure(capsys, tmp_path):
    from koabus.common.cli.main import build_parser
    from koabus.services.broker.cli import EXIT_USAGE

    argv = ["broker", "--router", "tcp://0.0.0.0:1", "--log-file", str(tmp_path / "b.log")]
    args = build_parser(argv).parse_args(argv)
    assert args.func(args) == EXIT_USAGE
    assert "--insecure" in capsys.readouterr().err
    args = build_parser(argv).parse_args([*argv, "--insecure"])
    assert args.insecure is True
