"""Wires the broker together: control, Qt-thread core, I/O thread, channels; ordered start and shutdown.

`Broker` is what tests and the CLI hold. `create_control(settings)` builds the control for a backend
(the simulator is imported only for `--backend sim`, the replay and pyarrow only for `--backend replay`);
`run(settings)` is the process entry point that owns the QCoreApplication and stops in order on
SIGINT/SIGTERM or the `shutdown` op (within SHUTDOWN_GRACE_S of the first signal whatever the state:
`shutdown.py`).
"""
from __future__ import annotations

import gc
import itertools
import logging
import os
import sys
from typing import Any, Callable, Optional, Tuple

import zmq

from koabus.common.clock import Clock, SystemClock
from koabus.common.filelock import FileLock, FileLocked

from .channels import Inbox, Outbox
from .config import BrokerSettings
from .core import BrokerCore
from .ports import bind_error
from .server import IoServer
from .shutdown import SHUTDOWN_GRACE_S, ShutdownWatchdog

log = logging.getLogger(__name__)

_instances = itertools.count(1)
GIL_SWITCH_INTERVAL_S = 0.0005


def tune_interpreter() -> None:
    """Process-wide settings for a broker process (the entry point calls this; so does the benchmark).

    The Qt thread (control, event handlers) and the I/O thread share the GIL; a short switch
    interval keeps the I/O thread's latency low while the Qt thread is busy. The heap built at start
    (metadata, and with the simulator its whole market) is frozen out of the cyclic collector, so a
    full collection walks only what the broker allocated since, not millions of static objects.
    """
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    gc.collect()
    gc.freeze()


class Broker:
    """One broker: start() binds the sockets and logs in; stop() shuts down in order."""

    def __init__(self, settings: BrokerSettings, control, clock: Optional[Clock] = None, catalog=None,
                 context: Optional[zmq.Context] = None):
        if catalog is None:
            from koabus.metadata import catalog as load_catalog

            catalog = load_catalog(overlay_dir=settings.metadata_dir)  # None: $KOABUS_METADATA_DIR, if set
        self.settings = settings
        self.control = control
        self.clock = clock or SystemClock()
        self.context = context or zmq.Context.instance()
        self.doorbell = f"inproc://koabus-broker-{next(_instances)}"
        self.outbox = Outbox(self.context, self.doorbell, settings.max_outbound)
        self.core = BrokerCore(control, settings, self.clock, catalog, self.outbox)
        self.inbox = Inbox(self.core.on_inbox)
        self.server = IoServer(settings, self.context, self.outbox, self.inbox, self.doorbell, catalog,
                               clock=self.clock)
        self.core.on_shutdown = self.stop
        self.on_stopped: Optional[Callable[[], None]] = None
        self.running = False

    @property
    def router_endpoint(self) -> str:
        return self.server.router_endpoint

    @property
    def pub_endpoint(self) -> str:
        return self.server.pub_endpoint

    @property
    def epoch(self) -> int:
        return self.server.epoch

    def start(self, bind_timeout_s: float = 10.0) -> None:
        """Bind ROUTER and PUB (a failed bind raises `ports.BindError`), then connect to the control and log in."""
        self.server.start()
        if not self.server.ready.wait(bind_timeout_s):
            raise RuntimeError("the I/O thread did not bind its sockets in time")
        if self.server.error is not None:
            error = bind_error(self.server.error, self.settings.router, self.settings.pub)
            raise error from (None if error is self.server.error else self.server.error)
        self.outbox.open()
        self.core.start()
        self.running = True
        log.info("broker started: ROUTER %s PUB %s epoch %d", self.router_endpoint, self.pub_endpoint, self.epoch)
        warning = self.settings.insecure_warning()
        if warning:  # --insecure: said loudly at start, and in every status (security.insecure)
            log.warning("!" * 20 + " %s " + "!" * 20, warning)
        if self.server.allow is not None:
            log.info("CURVE on: %d client key(s) allowed by %s", len(self.server.allow), self.server.allow.path)

    def stop(self) -> None:
        """Ordered shutdown: stop intake, fail and flush pending work, close sockets, quit."""
        if not self.running:
            return
        self.running = False
        log.info("shutdown 1/4: stop intake")
        self.server.stop_intake()
        self.core.stop_intake()
        log.info("shutdown 2/4: fail pending requests and flush replies")
        self.core.stop()
        log.info("shutdown 3/4: close sockets (linger 0)")
        self.server.stop()
        self.outbox.close()
        log.info("shutdown 4/4: quit")
        if self.on_stopped is not None:
            self.on_stopped()


#: in `state_dir`: held by the broker process that owns the directory
STATE_LOCK_FILE = "broker.lock"


def use_metadata(settings: BrokerSettings) -> None:
    """Make `metadata_dir` this process's metadata, so the simulated control serves the TRs the broker
    accepts; a folder that is not there stops the start with one line."""
    if settings.metadata_dir is None:
        return
    from koabus.common.errors import KoabusError
    from koabus.metadata.catalog import catalog, set_default_overlay

    from .config import SettingsError

    try:
        catalog(overlay_dir=settings.metadata_dir)
    except (KoabusError, ValueError, KeyError, OSError) as exc:
        raise SettingsError(f"metadata_dir: {exc}") from None
    set_default_overlay(settings.metadata_dir)


def create_control(settings: BrokerSettings) -> Tuple[Any, Clock]:
    """The control for `settings.backend` and the clock the broker must share with it."""
    if settings.backend == "openapi":
        from koabus.services.control.qax import create_openapi_control

        return create_openapi_control(), SystemClock()
    if settings.backend == "replay":
        return create_replay_control(settings)
    from koabus.services.sim.config import SimConfig  # only for --backend sim
    from koabus.services.sim.control import SimulatedControl

    options = dict(settings.sim.config or {})
    options.setdefault("speed", settings.sim.speed)
    # the simulated server's accounts, orders and fills outlive the broker, as Kiwoom's do
    options.setdefault("state_dir", os.path.join(settings.state_dir, "sim"))
    if settings.sim.start is not None:
        from datetime import datetime

        from koabus.common.clock import KST

        text = settings.sim.start
        start = (datetime.fromtimestamp(float(text), KST) if text.replace(".", "", 1).isdigit()
                 else datetime.fromisoformat(text))
        if start.tzinfo is None:
            start = start.replace(tzinfo=KST)
        options.setdefault("start_mode", "fixed")
        options.setdefault("start", start)
    try:
        config = SimConfig(**options)
    except (TypeError, ValueError) as exc:  # an unknown or mistyped key under sim.config
        from .config import SettingsError

        raise SettingsError(f"sim.config: {exc}") from None
    control = SimulatedControl(config)
    return control, control.sim.clock


def create_replay_control(settings: BrokerSettings) -> Tuple[Any, Clock]:
    """A recorded day of the lake played as a simulated control (pyarrow is imported only here)."""
    from datetime import date

    from koabus.services.replay.control import ReplaySource, open_replay, parse_codes

    replay = settings.replay
    control = open_replay(ReplaySource(replay.lake, date.fromisoformat(replay.date), parse_codes(replay.codes),
                                       replay.speed, replay.hold))
    return control, control.sim.clock


def hold_state_dir(state_dir: str) -> FileLock:
    """Lock `state_dir` for this broker process: two brokers writing one order journal would each
    reconcile the other's orders as unknown. A second one stops with one line naming the holder."""
    os.makedirs(state_dir, exist_ok=True)
    try:
        return FileLock.acquire(os.path.join(state_dir, STATE_LOCK_FILE))
    except FileLocked as exc:
        from .config import SettingsError

        raise SettingsError(f"state_dir {state_dir} is in use by another broker"
                            f"{f' (pid {exc.pid})' if exc.pid else ''}: give this one its own state_dir "
                            "(state_dir: in its --config)") from None


def run(settings: BrokerSettings) -> int:
    """Process entry point: a QCoreApplication, the control, the broker; returns the exit code."""
    from PyQt5.QtCore import QCoreApplication, QTimer

    app = QCoreApplication.instance()
    if app is None:
        if settings.backend == "openapi":  # the ActiveX control is a widget: it needs a QApplication
            from PyQt5.QtWidgets import QApplication

            app = QApplication(["koabus-broker"])
        else:
            app = QCoreApplication(["koabus-broker"])
    state_lock = hold_state_dir(settings.state_dir)  # noqa: F841 (held until the process exits)
    use_metadata(settings)
    control, clock = create_control(settings)
    tune_interpreter()
    broker = Broker(settings, control, clock)
    broker.on_stopped = app.quit

    # SIGINT/SIGTERM: the ordered shutdown on the Qt loop, and a watchdog that ends the process if
    # that has not finished SHUTDOWN_GRACE_S later (a second signal: at once); see shutdown.py
    watchdog = ShutdownWatchdog(SHUTDOWN_GRACE_S)
    watchdog.install(lambda: QTimer.singleShot(0, broker.stop))
    # Python runs signal handlers only between bytecodes: wake the interpreter a few times a second.
    tick = QTimer()
    tick.timeout.connect(lambda: None)
    tick.start(200)
    broker.start()
    code = app.exec_()
    tick.stop()
    broker.stop()
    watchdog.finished()
    return int(code)
