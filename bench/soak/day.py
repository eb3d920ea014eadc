"""The soak day: start the stack, drive the virtual day, inject the faults, gather what happened."""
from __future__ import annotations

import os
import random
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import yaml

from .accounting import burst_figures, loss_accounting, order_accounting, read_lake, write_report
from .config import (
    ACCOUNT,
    ORDER_CODE,
    POSITIONAL_CONSUMER,
    REFERENCE_CONSUMERS,
    REPO,
    RESULTS_DIR,
    SERVICES,
    Layout,
    SoakConfig,
)
from .processes import Consumer, Heartbeats, Requests, RssSampler, Stack

#: wall seconds the recorder gets, after the consumers stop, to read what they saw before the stack stops
RECORDER_CATCH_UP_S = 2.0


class Soak:
    """Drives one run; `report` accumulates what the checks read."""

    def __init__(self, cfg: SoakConfig, root: Path):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.lay = Layout.make(root)
        self.stack = Stack(cfg, self.lay)
        self.hb = Heartbeats(self.lay.heartbeat_endpoints())
        self.rss = RssSampler(self.stack_pids)
        self.req: Optional[Requests] = None
        self.consumers: List[Consumer] = []
        self.events: List[Dict[str, Any]] = []  # the fault log
        self.recoveries: Dict[str, Dict[str, Any]] = {}
        self.orders: List[Dict[str, Any]] = []
        self.codes: List[str] = []
        self.subscribed_by = ""  # the virtual time (at most) by which the codes were registered
        self.t0 = time.monotonic()
        self.broker_pid = 0
        self.status_peaks = {"outbox_dropped": 0}
        self.last_price = 70000
        self.workers: List[threading.Thread] = []
        #: the broker's faults (kill, storm, disconnect) one at a time: each is measured on a settled broker
        self.broker_faults = threading.Lock()
        self.counters_before: Dict[str, int] = {}
        self.counters_after: Dict[str, int] = {}

    def stack_pids(self) -> Dict[str, int]:
        return self.stack.pids()

    def log(self, what: str, **more: Any) -> None:
        entry = {"t_s": round(time.monotonic() - self.t0, 3), "event": what, **more}
        self.events.append(entry)
        print(f"[soak {entry['t_s']:8.2f}] {what} {more if more else ''}", file=sys.stderr, flush=True)

    # -- phases -------------------------------------------------------------------------------
    def start(self) -> None:
        self.stack.start()
        self.hb.start()
        self.rss.start()
        deadline = time.monotonic() + self.cfg.ready_timeout_s
        missing = list(SERVICES)
        while missing and time.monotonic() < deadline:
            missing = [s for s in SERVICES if self.hb.latest(s) is None
                       or (s == "broker" and self.hb.latest(s).state != "connected")]
            time.sleep(0.2)
        if missing:
            raise RuntimeError(f"not ready within {self.cfg.ready_timeout_s} s: {missing}; supervisor "
                               f"{self.stack.states()}\n" + "\n".join(f"--- {m}\n{self.stack.log_tail(m)}"
                                                                     for m in missing))
        self.broker_pid = self.hb.latest("broker").pid
        self.req = Requests(self.lay.router)
        self.log("ready", pids={s: self.hb.latest(s).pid for s in SERVICES})

    def pick_codes(self) -> None:
        """The recorder's watchlist first, then KOSPI's, KOSDAQ's and the rest of the listing, up to `codes`."""
        codes: List[str] = []
        for market in ("0", "10", ""):
            kind, listing = self.req.call("call", {"method": "GetCodeListByMarket", "args": [market]}, 15)
            if kind != "ok":
                raise RuntimeError(f"no code list of market {market}: {kind} {listing}")
            codes += [c for c in listing.split(";") if c]
        watch = list(yaml.safe_load((REPO / "deploy" / "recorder.yaml").read_text())["realtime"]["codes"])
        ordered = list(dict.fromkeys(watch + [c for c in codes if len(c) == 6 and c.isdigit()]))
        self.codes = ordered[:self.cfg.codes]
        self.log("codes", count=len(self.codes))

    def subscribe(self) -> bool:
        kind, result = self.req.call("subscribe", {"codes": self.codes, "types": ["trade", "quote"]}, 30)
        if not self.subscribed_by:  # the first registration (later ones follow a broker restart)
            # the virtual time by then: the day's start when the simulator held its clock for it, else at most
            # the day's start plus the time since t0 (the broker's clock ran from its start, after t0)
            held = self.cfg.hold_until_codes and len(self.codes) >= self.cfg.hold_until_codes
            elapsed = 0.0 if held else (time.monotonic() - self.t0) * self.cfg.speed
            by = datetime.fromisoformat(self.cfg.day_start) + timedelta(seconds=elapsed)
            self.subscribed_by = by.strftime("%H:%M:%S")
        self.log("subscribe", codes=len(self.codes), outcome=kind, first_by_virtual=self.subscribed_by)
        return kind == "ok"

    def start_consumers(self) -> None:
        max_s = self.cfg.day_wall_s + self.cfg.ready_timeout_s + 120
        for i in range(self.cfg.consumers):
            self.consumers.append(Consumer(self.lay.pub, self.lay.root / f"consumer{i}", i < REFERENCE_CONSUMERS,
                                           max_s, self.lay.root / "log" / f"consumer{i}.log",
                                           positional=i == POSITIONAL_CONSUMER))

    def schedule(self, day_started_s: float) -> List[Tuple[float, str]]:
        """(monotonic time, fault) pairs, one fault per slot of the fault window, order and offset seeded."""
        faults = [f"kill:{s}" for s in self.cfg.kill]
        faults += ["disconnect"] * self.cfg.disconnect + ["storm"] * self.cfg.storm + ["stall"]
        self.rng.shuffle(faults)
        lo, hi = self.cfg.fault_window
        slot = (hi - lo) * self.cfg.day_wall_s / len(faults)
        return [(day_started_s + lo * self.cfg.day_wall_s + (i + self.rng.uniform(0.0, 0.6)) * slot, f)
                for i, f in enumerate(faults)]

    # -- faults -------------------------------------------------------------------------------
    def kill(self, service: str) -> None:
        pid = self.stack.pids().get(service, 0)
        if not pid:
            self.log("kill skipped", service=service, reason="not running")
            self.recoveries[service] = {"killed": False}
            return
        killed_s = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        self.log("kill -9", service=service, pid=pid)
        self.recoveries[service] = {"killed": True, "pid": pid, "killed_s": killed_s}
        if service != "broker":  # kill_broker waits itself, holding the broker's fault lock
            threading.Thread(target=self._await_recovery, args=(service, pid, killed_s), daemon=True).start()

    def kill_broker(self, req: Optional[Requests] = None) -> None:
        """The broker's kill, after any other broker fault finished and once it is logged in."""
        with self.broker_faults:
            self.broker_connected(self.cfg.recovery_timeout_s, req)
            self.kill("broker")
            self._await_recovery("broker", self.recoveries["broker"].get("pid", 0),
                                 self.recoveries["broker"].get("killed_s", time.monotonic()))

    def kill_recorder(self, req: Optional[Requests] = None) -> None:
        """The recorder's kill while no broker fault runs; broker faults wait until it beats again."""
        with self.broker_faults:
            self.kill("recorder")
            rec = self.recoveries["recorder"]
            if rec.get("killed"):
                self.hb.wait("recorder", rec["killed_s"], lambda b: b.pid != rec["pid"], self.cfg.recovery_timeout_s)

    def _await_recovery(self, service: str, pid: int, killed_s: float) -> None:
        rec = self.recoveries[service]
        if not rec.get("killed"):
            return
        beat = self.hb.wait(service, killed_s, lambda b: b.pid != pid, self.cfg.recovery_timeout_s)
        if beat is None:
            rec["recovered"] = False
            self.log("not recovered", service=service)
            return
        rec.update(recovered=True, new_pid=beat.pid, recovery_s=round(beat.at_s - killed_s, 3))
        if service == "broker":
            ready = self.hb.wait(service, killed_s, lambda b: b.pid != pid and b.state == "connected",
                                 self.cfg.recovery_timeout_s)
            rec["logged_in_s"] = round(ready.at_s - killed_s, 3) if ready else None
            rec["recovered"] = ready is not None
        self.log("recovered", service=service,
                 **{k: v for k, v in rec.items() if k in ("new_pid", "recovery_s", "logged_in_s")})

    def broker_connected(self, timeout_s: float, req: Optional[Requests] = None) -> bool:
        req = req or self.req
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            kind, status = req.call("status", None, 2)
            if kind == "ok" and status.get("connected"):
                return True
            time.sleep(0.2)
        return False

    def _tr_burst(self, count: int, req: Optional[Requests] = None) -> List[int]:
        req = req or self.req
        codes = self.codes or [ORDER_CODE]
        return [req.send("tr", {"code": "opt10001", "inputs": {"종목코드": codes[i % len(codes)]}})
                for i in range(count)]

    def storm(self, req: Optional[Requests] = None) -> None:
        """`storm_calls` quote TRs at once: the simulated server answers -200 beyond its first window."""
        req = req or self.req
        with self.broker_faults:
            self._storm(req)

    def _storm(self, req: Requests) -> None:
        if not self.broker_connected(self.cfg.recovery_timeout_s, req):
            self.log("storm skipped", reason="broker not connected")
            return
        before = self._counters(req)
        ids = set(self._tr_burst(self.cfg.storm_calls, req))
        outcome: Dict[str, int] = {"ok": 0}
        deadline = time.monotonic() + 30
        while ids and time.monotonic() < deadline:
            for msg in req.drain(100):
                rid = getattr(msg, "request_id", None)
                if rid in ids and msg.TYPE in ("END", "ERROR", "REPLY"):
                    ids.discard(rid)
                    key = "ok" if msg.TYPE != "ERROR" else f"error:{getattr(msg, 'kind', '')}"
                    outcome[key] = outcome.get(key, 0) + 1
        after = self._counters(req)
        overloads = after.get("overload.-200", 0) - before.get("overload.-200", 0)
        self.log("-200 storm", calls=self.cfg.storm_calls, answered=outcome, unanswered=len(ids),
                 overload_200=overloads)
        self.storm_result = {"calls": self.cfg.storm_calls, "answered": outcome, "unanswered": len(ids),
                             "overload_200": overloads}

    def disconnect(self, req: Optional[Requests] = None) -> None:
        """Quote TRs paced just under window 0, a few in flight, until the strict window drops the control's
        connection (the broker's status says so); then time until it is logged in again."""
        req = req or self.req
        with self.broker_faults:
            self._disconnect(req)

    def _disconnect(self, req: Requests) -> None:
        if not self.broker_connected(self.cfg.recovery_timeout_s, req):
            self.log("disconnect skipped", reason="broker not connected")
            return
        n0, w0 = self.cfg.storm_window
        gap_s = w0 / n0 * 1.1  # just under window 0: no -200 (and no backoff) on the way
        started = time.monotonic()
        dropped_s = None
        in_flight: set = set()
        next_status = next_send = 0.0
        for _ in range(5000):  # bounded by the 45 s below as well
            now = time.monotonic()
            if now - started > 45.0:
                break
            if len(in_flight) < 10 and now >= next_send:
                in_flight.update(self._tr_burst(1, req))
                next_send = now + gap_s
            for msg in req.drain(max(1, int((next_send - time.monotonic()) * 1000))):
                if msg.TYPE in ("END", "ERROR", "REPLY"):
                    in_flight.discard(getattr(msg, "request_id", None))
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + 0.5
                beat = self.hb.latest("broker")
                if beat is not None and beat.state not in ("connected", ""):
                    dropped_s = time.monotonic()
                    break
                kind, status = req.call("status", None, 2)
                if kind == "ok" and not status.get("connected"):
                    dropped_s = time.monotonic()
                    break
        if dropped_s is None:
            calls = self._counters(req).get("control_calls", {})
            self.log("disconnect not caused", after_s=round(time.monotonic() - started, 2),
                     comm_rq_data=calls.get("CommRqData") if isinstance(calls, dict) else None)
            self.recoveries["control"] = {"killed": False, "recovered": None, "reason": "no disconnect within 45 s"}
            return
        self.log("control disconnected", after_s=round(dropped_s - started, 2), in_flight=len(in_flight))
        ok = self.broker_connected(self.cfg.recovery_timeout_s, req)
        self.recoveries["control"] = {"killed": True, "recovered": ok,
                                      "recovery_s": round(time.monotonic() - dropped_s, 3) if ok else None}
        self.log("control re-logged in" if ok else "control not back", **self.recoveries["control"])
        # the simulated server still counts those queries: the next broker fault (a storm) waits until its
        # strict window is clear, or it would drop the connection again instead of answering -200
        time.sleep(self.cfg.disconnect_window[1])

    def stall(self) -> None:
        victim = self.consumers[-1]
        victim.stall(self.cfg.stall_s)
        self.log("consumer stalled", consumer=len(self.consumers) - 1, seconds=round(self.cfg.stall_s, 1))

    def _counters(self, req: Optional[Requests] = None) -> Dict[str, int]:
        req = req or self.req
        kind, status = req.call("status", None, 5)
        return dict(status.get("counters", {})) if kind == "ok" else {}

    # -- orders -------------------------------------------------------------------------------
    def price(self, req: Optional[Requests] = None) -> Optional[int]:
        req = req or self.req
        kind, parts = req.call("tr", {"code": "opt10001", "inputs": {"종목코드": ORDER_CODE}}, 8)
        if kind != "ok" or not parts:
            return None
        try:
            return abs(int(parts[0]["single"]["현재가"]))
        except (KeyError, TypeError, ValueError, IndexError):
            return None

    def place_order(self, i: int, req: Optional[Requests] = None) -> None:
        """Order i (its own client_order_id and fingerprint qty); retried with the same id until answered."""
        req = req or self.req
        from koabus.metadata.ticks import tick_size

        price = self.price(req) or self.last_price  # a quote TR may time out under load: the last one then
        self.last_price = price
        limit = max(tick_size(price), price + (i % 3 - 1) * tick_size(price))
        order = {"account": ACCOUNT, "side": "buy", "code": ORDER_CODE, "qty": 100 + i, "price": limit,
                 "hoga": "00", "client_order_id": f"soak-{self.cfg.seed}-{i}"}
        record = {"order": order, "attempts": []}
        self.orders.append(record)
        deadline = time.monotonic() + self.cfg.recovery_timeout_s
        while time.monotonic() < deadline:
            kind, result = req.call("order", order, 20)
            record["attempts"].append(kind if kind != "error" else f"error:{getattr(result, 'kind', '')}")
            if kind == "ok" or (kind == "error" and getattr(result, "kind", "") in ("OrderInDoubt", "Rejected",
                                                                                     "KiwoomError", "RiskRejected")):
                break
            time.sleep(0.5)
        self.log("order", cid=order["client_order_id"], attempts=record["attempts"])

    # -- the day ------------------------------------------------------------------------------
    def run_day(self) -> None:
        self.pick_codes()
        self.start_consumers()
        time.sleep(1.0)  # the consumers' SUBs connect (ZeroMQ drops what a PUB sends before that)
        if not self.subscribe():
            raise RuntimeError("the broker refused the realtime registration")
        day_started = time.monotonic()
        self.counters_before = self._counters()
        faults = self.schedule(day_started)
        order_times = [day_started + (i + 0.5) * self.cfg.day_wall_s / self.cfg.orders
                       for i in range(self.cfg.orders)]
        self.log("schedule", faults=[(round(t - day_started, 2), f) for t, f in faults],
                 orders=[round(t - day_started, 2) for t in order_times])
        pending: List[Tuple[float, str, Any]] = sorted([(t, "fault", f) for t, f in faults]
                                                       + [(t, "order", i) for i, t in enumerate(order_times)])
        end = day_started + self.cfg.day_wall_s
        next_poll = 0.0
        for _ in range(1_000_000):
            now = time.monotonic()
            if now >= end and not pending:
                break
            if now > end + 3 * self.cfg.recovery_timeout_s:
                self.log("day overran", left=[p[2] for p in pending])
                break
            if pending and pending[0][0] <= now:
                _, kind, what = pending.pop(0)
                if kind == "order":
                    self.spawn(self.place_order, what)
                elif what == "kill:broker":
                    self.spawn(self.kill_broker)
                elif what == "kill:recorder" and self.cfg.serialize_recorder_kill:
                    self.spawn(self.kill_recorder)
                elif what.startswith("kill:"):
                    self.kill(what.split(":", 1)[1])
                elif what == "stall":
                    self.stall()
                else:
                    self.spawn(getattr(self, what))
                continue
            if now >= next_poll:  # keeps this client's lease (and its subscription) alive; re-subscribes after a restart
                next_poll = now + 2.0
                self.poll_broker()
            time.sleep(0.05)
        for worker in self.workers:  # each bounded by its own timeouts
            worker.join(3 * self.cfg.recovery_timeout_s)
        self.wait_recoveries()
        self.counters_after = self._counters()

    def spawn(self, action: Callable[..., None], *args: Any) -> None:
        """`action` in a thread with its own DEALER (a socket is not shared between threads), so a slow
        order or fault does not hold back the schedule."""

        def work() -> None:
            req = Requests(self.lay.router)
            try:
                action(*args, req=req)
            except Exception as exc:  # reported in the fault log, the checks judge the outcome
                self.log("action failed", action=getattr(action, "__name__", "?"), error=repr(exc))
            finally:
                req.close()

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        self.workers.append(worker)

    def poll_broker(self) -> None:
        beat = self.hb.latest("broker")
        if beat is not None and beat.pid != self.broker_pid and beat.state == "connected":
            self.broker_pid = beat.pid
            self.req._open()
            self.subscribe()
            return
        kind, status = self.req.call("status", None, 2)
        if kind == "ok":
            counters = status.get("counters", {})
            self.status_peaks["outbox_dropped"] = max(self.status_peaks["outbox_dropped"],
                                                      int(counters.get("outbox_dropped", 0)))

    def wait_recoveries(self) -> None:
        deadline = time.monotonic() + self.cfg.recovery_timeout_s
        while time.monotonic() < deadline:
            if all("recovered" in r for r in self.recoveries.values() if r.get("killed")):
                return
            time.sleep(0.2)

    # -- after the day ------------------------------------------------------------------------
    def order_statuses(self) -> Tuple[Dict[str, Any], Dict[str, Dict[str, Any]]]:
        """The broker's order_status per client_order_id, and the exchange's opw00007 rows by order number."""
        statuses = {}
        for rec in self.orders:
            cid = rec["order"]["client_order_id"]
            for _ in range(20):
                kind, status = self.req.call("order_status", {"client_order_id": cid}, 10)
                if kind == "ok":
                    statuses[cid] = status
                    break
                time.sleep(0.5)
        history: Dict[str, Dict[str, Any]] = {}
        for _ in range(10):
            kind, parts = self.req.call("tr", {"code": "opw00007", "inputs": {
                "계좌번호": ACCOUNT, "비밀번호": "", "비밀번호입력매체구분": "00", "조회구분": "1", "매도수구분": "0",
                "종목코드": "", "주문일자": "", "시작주문번호": ""}, "all_pages": True}, 30)
            if kind == "ok":
                for part in parts:
                    for row in (part.get("multi") or part.get("rows") or []) if isinstance(part, dict) else []:
                        history[str(row.get("주문번호", "")).strip().lstrip("0")] = row
                break
            time.sleep(1.0)
        return statuses, history


# -- one run ---------------------------------------------------------------------------------------


def run_soak(cfg: SoakConfig, results_dir: Path = RESULTS_DIR, keep_dir: bool = False) -> Dict[str, Any]:
    """One whole run; returns the report (also written under `results_dir`). Every process it started is
    stopped before it returns or raises."""
    import numpy as np

    from koabus.services.sim.store import SimStore

    root = Path(tempfile.mkdtemp(prefix=f"koabus-soak-{cfg.label}-"))
    soak = Soak(cfg, root)
    wall_started = time.monotonic()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report: Dict[str, Any] = {"config": {**asdict(cfg), "day_wall_s": round(cfg.day_wall_s, 1),
                                         "open_burst_window": list(cfg.open_burst_window)}, "run_dir": str(root),
                              "started_utc": stamp}
    consumer_results: List[Dict[str, Any]] = []
    try:
        soak.start()
        report["startup_s"] = round(time.monotonic() - wall_started, 2)
        soak.run_day()
        statuses, history = soak.order_statuses()
        final_status = soak.req.call("status", None, 5)[1]
        consumer_results = [c.finish() for c in soak.consumers]
        # the recorder reads the same stream, possibly a little behind the consumers: give it time to pass their
        # last event before the stack stops (one 500-code run's lake missed the last 3 events they saw, no gap row)
        time.sleep(RECORDER_CATCH_UP_S)
        peaks = dict(soak.rss.peak_mb)
        final_pids = soak.stack.pids()
    finally:
        soak.rss.stop()
        soak.hb.stop()
        for c in soak.consumers:
            if c.proc.poll() is None:
                c.resume()
                c.proc.kill()
                c.proc.wait(5)
        if soak.req is not None:
            soak.req.close()
        soak.stack.stop()
    # the checks, on what the stopped stack left (the recorder rolled its journal on SIGTERM)
    reference = []
    for i, summary in enumerate(consumer_results[:REFERENCE_CONSUMERS]):
        npz = Path(f"{soak.consumers[i].out}.npz")
        reference.append((summary, dict(np.load(npz, allow_pickle=False)) if npz.exists() else {}))
    lake = read_lake(soak.lay.lake)
    loss = loss_accounting(lake, reference)
    loss["gap_rows_list"] = lake["gaps"]
    inputs = SimStore(soak.lay.state / "sim").inputs()
    orders = order_accounting(soak.orders, statuses, history, inputs)
    recovery = {}
    for name in (*cfg.kill, *(["control"] if cfg.disconnect else [])):
        r = soak.recoveries.get(name, {"killed": False})
        recovery[name] = {k: v for k, v in r.items() if k not in ("killed_s",)}
        seconds = r.get("recovery_s")
        recovery[name]["within_target"] = seconds is not None and seconds < cfg.recovery_target_s
    rss = {s: {"peak_mb": round(peaks.get(s, 0.0), 1), "bound_mb": cfg.rss_bound_mb[s],
               "within_bound": 0 < peaks.get(s, 0.0) < cfg.rss_bound_mb[s]} for s in SERVICES}
    # the stalled consumer's catch-up after SIGCONT is no event rate of the bus: the others' peaks only
    rates = [c.get("peak_per_s", 0) for c in consumer_results[:-1] or consumer_results]
    report.update({
        "wall_s": round(time.monotonic() - wall_started, 1),
        "faults": soak.events,
        "storm": getattr(soak, "storm_result", None),
        "loss": {k: v for k, v in loss.items()},
        "orders": orders,
        "recovery": recovery,
        "rss": rss,
        "consumers": [{k: v for k, v in c.items() if k not in ("per_s", "topics", "epochs")} for c in consumer_results],
        # the simulated listing may hold fewer codes than asked for (336 real ones, plus `extra_listings` synthetic)
        "codes_registered": len(soak.codes),
        "codes_synthetic": sum(c.startswith("99") for c in soak.codes),
        "registered_by_virtual": soak.subscribed_by,
        "peak_events_per_s": max(rates, default=0),
        "open_burst": burst_figures(report["config"], consumer_results[:-1] or consumer_results),
        # the stall held back nobody else: the other consumers saw every topic_seq in order
        "others_gapless_during_stall": all(c.get("gaps", 1) == 0 for c in consumer_results[:-1]),
        "broker": {"final_state": (final_status or {}).get("state") if isinstance(final_status, dict) else None,
                   "counters_day": {k: int(v) - int(soak.counters_before.get(k, 0))
                                    for k, v in soak.counters_after.items() if isinstance(v, (int, float))},
                   "outbox_dropped_peak": soak.status_peaks["outbox_dropped"]},
        "final_pids": final_pids,
    })
    report["checks"] = {
        "no_silent_loss": loss["silent_loss"] == 0 and loss["seen"] > 0,
        "no_duplicates": loss["duplicates"] == 0,
        "exactly_one_send_order": orders["exactly_one_send_order"] and bool(orders["orders"]),
        "orders_match_exchange": orders["all_match_exchange"],
        "every_service_recovered": all(r.get("recovered") for r in recovery.values()),
        "recovery_within_target": all(r["within_target"] for r in recovery.values()),
        "rss_within_bound": all(r["within_bound"] for r in rss.values()),
    }
    name = f"soak-{cfg.label}-{stamp}"
    report["files"] = [str(results_dir / f"{name}.json"), str(results_dir / f"{name}.md")]
    write_report(report, results_dir, name)
    if not keep_dir:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return report
