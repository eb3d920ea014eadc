"""A KOAPY-style gRPC server over the same simulated control the broker hosts: the design koabus replaces.

    python -m bench.peers.grpc_server --port P --rate-eps R [--check]

It mirrors KOAPY's server: the control lives on the Qt main thread; every `Listen` stream (one per
subscriber) has its own event handler connected to the control's OnReceiveRealData, which builds a
string-typed `ListenResponse` (arguments code, realtype, the tab-joined data; single_data with the FIDs
and their values) and puts it on that stream's queue, which a gRPC worker thread drains. Control calls
(`Call`: SetRealReg, GetMasterCodeName, ...) and TRs (`TransactionCall`) are marshalled to the Qt thread,
waited on, and answered string-typed; `Call("meta", kind, key)` answers from the metadata catalog on the
gRPC thread (cached, as the broker's I/O thread answers `meta`).

Two liberties, both in the gRPC design's favour: the FID values come from splitting the tab-joined data
along the metadata (as the broker does) instead of one GetCommRealData call per FID, and only 주식체결
events are forwarded (what the koabus subscribers subscribe to). One addition for measuring: a fourth
argument, `long_value` = time.time_ns() when the event reached the handler (the broker's `recv_ns`).

Bench-only calls: `bench.stop` queues a `bench.stop` ListenResponse behind every event on every stream;
`bench.stats` answers {fed, crc} since `bench.reset`: the events forwarded and, with --check, the CRC-32
of every forwarded code, realtype and data, which the subscribers compute too. Binds 127.0.0.1 only;
prints `READY` when logged in and serving; stops on SIGTERM or stdin closing.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import queue
import signal
import sys
import threading
import time
import zlib
from datetime import datetime
from typing import Any, Callable, List, Tuple

REALTYPE = "주식체결"
SIM_START = "2024-03-06T10:00:00+09:00"
#: no TR pacing: round trips, not Kiwoom's limits, are measured (the broker is configured the same way)
OPEN_TR_WINDOWS = [[1_000_000, 1.0]]
STOP = "bench.stop"


def sim_config(rate_eps: float) -> Any:
    """The simulated control both designs host (BenchPeers gives the broker the same options)."""
    from koabus.services.sim.config import SimConfig

    return SimConfig(
        speed=1.0,
        start_mode="fixed",
        start=datetime.fromisoformat(SIM_START),
        synthetic_rate_eps=rate_eps,
        events_per_tick=20000,
        limits={"tr_windows": OPEN_TR_WINDOWS},
    )


def event_crc(crc: int, code: str, realtype: str, data: str) -> int:
    """The running CRC-32 both ends compute over what was forwarded / received, in order."""
    return zlib.crc32(f"{code}\x1f{realtype}\x1f{data}\x1e".encode(), crc)


class Peer:
    """The server's state: the control (Qt thread), the listeners, and the Qt-thread dispatcher."""

    def __init__(self, control: Any, check: bool):
        from PyQt5.QtCore import QObject, Qt, pyqtSignal

        from koabus.common.clock import VirtualClock
        from koabus.metadata import catalog
        from koabus.services.broker.decoding import RealtimeDecoder

        class Dispatcher(QObject):
            submit = pyqtSignal(object)

        self.control = control
        self.check = check
        self.catalog = catalog()
        self.fids = [
            str(f) for f in RealtimeDecoder(self.catalog, VirtualClock(speed=0)).table(REALTYPE)[1].fids
        ]
        self.fed = 0
        self.crc = 0
        self.listeners: List[Tuple[Callable[..., None], queue.SimpleQueue]] = []
        self.tr_waiters: dict = {}
        self.dispatcher = Dispatcher()
        self.dispatcher.submit.connect(self._run, Qt.QueuedConnection)
        control.OnReceiveRealData.connect(self._count)
        control.OnReceiveTrData.connect(self._on_tr_data)

    # -- the Qt thread -------------------------------------------------------------------------------
    @staticmethod
    def _run(job: Any) -> None:
        fn, future = job
        try:
            future.set_result(fn())
        except Exception as exc:  # handed to the waiting gRPC thread
            future.set_exception(exc)

    def on_qt(self, fn: Callable[[], Any], timeout_s: float = 30.0) -> Any:
        """Run `fn` on the Qt thread and wait for its result (KOAPY marshalled every control call so)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.dispatcher.submit.emit((fn, future))
        return future.result(timeout_s)

    def _count(self, code: str, realtype: str, data: str) -> None:
        if realtype == REALTYPE:
            self.fed += 1
            if self.check:
                self.crc = event_crc(self.crc, code, realtype, data)

    def _on_tr_data(self, screen: str, rqname: str, trcode: str, *rest: Any) -> None:
        waiter = self.tr_waiters.pop((screen, rqname), None)
        if waiter is not None:
            waiter(trcode)

    def handler_for(self, out: queue.SimpleQueue) -> Callable[[str, str, str], None]:
        """One stream's OnReceiveRealData handler, as KOAPY's KiwoomOpenApiPlusRealEventHandler."""
        from .messages import ListenResponse

        fids = self.fids

        def on_real(code: str, realtype: str, data: str) -> None:
            recv_ns = time.time_ns()
            if realtype != REALTYPE:
                return
            response = ListenResponse(name="OnReceiveRealData")
            response.arguments.add().string_value = code
            response.arguments.add().string_value = realtype
            response.arguments.add().string_value = data
            response.arguments.add().long_value = recv_ns
            response.single_data.names.extend(fids)
            response.single_data.values.extend(data.split("\t"))
            out.put(response)

        return on_real

    # -- gRPC threads ----------------------------------------------------------------------------------
    def listen(self, request: Any, context: Any):
        out: queue.SimpleQueue = queue.SimpleQueue()
        handler = self.handler_for(out)
        self.on_qt(lambda: self._attach(handler, out))
        context.send_initial_metadata(())  # tells the subscriber it is attached
        try:
            while context.is_active():
                try:
                    response = out.get(timeout=0.5)
                except queue.Empty:
                    continue
                yield response
                if response.name == STOP:
                    return
        finally:
            try:  # bounded: at shutdown the Qt loop may already have stopped
                self.on_qt(lambda: self._detach(handler), timeout_s=2.0)
            except concurrent.futures.TimeoutError:
                pass

    def _attach(self, handler: Callable[..., None], out: queue.SimpleQueue) -> None:
        self.control.OnReceiveRealData.connect(handler)
        self.listeners.append((handler, out))

    def _detach(self, handler: Callable[..., None]) -> None:
        for entry in [e for e in self.listeners if e[0] is handler]:
            self.control.OnReceiveRealData.disconnect(handler)
            self.listeners.remove(entry)

    def _reset(self) -> int:
        self.fed = self.crc = 0
        return 0

    def _stop_marker(self) -> int:
        """Queue the stop marker behind every event already handed to each stream."""
        from .messages import ListenResponse

        for _, out in self.listeners:
            out.put(ListenResponse(name=STOP))
        return len(self.listeners)

    def call(self, request: Any, context: Any) -> Any:
        from .messages import Argument, CallResponse, argument_value

        args = [argument_value(a) for a in request.arguments]
        name = request.name
        if name == "meta":  # cached metadata, answered on this thread
            from koabus.services.broker.server import _plain

            kind, key = args
            lookups = {
                "tr": self.catalog.tr,
                "realtype": self.catalog.realtype,
                "fid": self.catalog.fid,
                "error": self.catalog.error,
                "method": self.catalog.method,
            }
            value = json.dumps(_plain(lookups[kind](key)), ensure_ascii=False)
            return CallResponse(return_value=Argument(string_value=value))
        if name == STOP:
            return CallResponse(return_value=Argument(long_value=self.on_qt(self._stop_marker)))
        if name == "bench.reset":
            return CallResponse(return_value=Argument(long_value=self.on_qt(self._reset)))
        if name == "bench.stats":
            stats = self.on_qt(lambda: {"fed": self.fed, "crc": self.crc})
            return CallResponse(return_value=Argument(string_value=json.dumps(stats)))
        method = self.catalog.method(name)  # a control method: marshalled to the Qt thread
        signature = f"{method.name}({', '.join('int' if isinstance(a, int) else 'QString' for a in args)})"
        result = self.on_qt(lambda: self.control.dynamicCall(signature, *args))
        if isinstance(result, int) and not isinstance(result, bool):
            return CallResponse(return_value=Argument(long_value=result))
        return CallResponse(return_value=Argument(string_value="" if result is None else str(result)))

    def transaction_call(self, request: Any, context: Any):
        """One TR page as KOAPY answered it: OnReceiveTrData with single_data and multi_data, strings."""
        from .messages import ListenResponse

        spec = self.catalog.tr(request.transaction_code)
        done: queue.SimpleQueue = queue.SimpleQueue()
        rqname, screen, trcode = request.request_name, request.screen_no, request.transaction_code
        inputs = dict(request.inputs)

        def send() -> int:
            self.tr_waiters[(screen, rqname)] = lambda code: done.put(self._read_tr(spec, rqname, code))
            for key, value in inputs.items():
                self.control.dynamicCall("SetInputValue(QString, QString)", key, value)
            ret = self.control.dynamicCall(
                "CommRqData(QString, QString, int, QString)", rqname, trcode, 0, screen
            )
            if ret != 0:
                self.tr_waiters.pop((screen, rqname), None)
            return ret

        ret = self.on_qt(send)
        if ret != 0:
            yield ListenResponse(name="OnReceiveMsg", arguments=[_string(str(ret))])
            return
        single, multi = done.get(timeout=30)
        response = ListenResponse(name="OnReceiveTrData")
        for value in (screen, rqname, trcode):
            response.arguments.add().string_value = value
        response.single_data.names.extend(f.name for f in spec.single_outputs)
        response.single_data.values.extend(single)
        response.multi_data.names.extend(f.name for f in spec.multi_outputs)
        for row in multi:
            response.multi_data.values.add().values.extend(row)
        yield response

    def _read_tr(self, spec: Any, rqname: str, trcode: str) -> Any:
        """(single values, multi rows) read field by field with GetCommData, on the Qt thread."""
        get = self.control.dynamicCall
        single = [
            str(get("GetCommData(QString, QString, int, QString)", trcode, rqname, 0, f.name)).strip()
            for f in spec.single_outputs
        ]
        rows = []
        if spec.multi_outputs:
            count = int(get("GetRepeatCnt(QString, QString)", trcode, rqname) or 0)
            for i in range(count):
                rows.append(
                    [
                        str(
                            get("GetCommData(QString, QString, int, QString)", trcode, rqname, i, f.name)
                        ).strip()
                        for f in spec.multi_outputs
                    ]
                )
        return single, rows


def _string(value: str) -> Any:
    from .messages import Argument

    return Argument(string_value=value)


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate-eps", type=float, default=0.0)
    parser.add_argument("--check", action="store_true", help="keep a CRC of every forwarded event")
    parser.add_argument("--workers", type=int, default=10)
    opts = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    import grpc
    from PyQt5.QtCore import QCoreApplication, QEventLoop, QTimer

    from koabus.services.sim.control import SimulatedControl

    from .messages import service_handler

    app = QCoreApplication.instance() or QCoreApplication(["koabus-bench-grpc"])
    control = SimulatedControl(sim_config(opts.rate_eps))
    peer = Peer(control, opts.check)
    connected: List[int] = []
    control.OnEventConnect.connect(connected.append)
    control.dynamicCall("CommConnect()")
    deadline = time.monotonic() + 30
    while not connected and time.monotonic() < deadline:
        app.processEvents(QEventLoop.AllEvents, 20)
    if connected != [0]:
        print(f"login failed: {connected}", file=sys.stderr, flush=True)
        return 1
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=opts.workers))
    server.add_generic_rpc_handlers((service_handler(peer.listen, peer.call, peer.transaction_call),))
    if server.add_insecure_port(f"127.0.0.1:{opts.port}") == 0:
        print(f"cannot bind 127.0.0.1:{opts.port}", file=sys.stderr, flush=True)
        return 1
    server.start()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stopping.set()), daemon=True).start()
    timer = QTimer()  # Python runs (and sees SIGTERM) at least this often; exec_ sleeps in between
    timer.timeout.connect(lambda: app.quit() if stopping.is_set() else None)
    timer.start(100)
    print("READY", flush=True)
    app.exec_()
    server.stop(1).wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
