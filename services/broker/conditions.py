"""Condition search (Qt thread): load and list conditions, one-off searches, realtime watches.

SendCondition counts against the TR budget and the same condition may run once a minute, so every
search goes through the pacer keyed by (name, index). A realtime watch is shared by all clients
asking for it (refcounted like realtime subscriptions), published on `cond.<index>`, stopped when
the last holder leaves, and re-issued after a re-login.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Dict, Hashable, List, Optional, Set, Tuple

from koabus.common.errors import Cancelled, KiwoomError, KoabusError, NotFound, Timeout, Unavailable
from koabus.common.protocol import PubType, condition_topic

from .pacing import QUOTE, PacedCall

log = logging.getLogger(__name__)

#: wall seconds to wait for OnReceiveConditionVer after GetConditionLoad
LOAD_TIMEOUT_S = 30.0
#: conditions in realtime mode at once (facts §7)
MAX_REALTIME_CONDITIONS = 10
#: a SendCondition refused only by the shared query budget is retried this often after a backoff
MAX_BUDGET_RETRIES = 3
ERR_NO_CONDITION = -11  # 조건번호 없음
ERR_CONDITION_MISMATCH = -12  # 조건번호와 조건식 불일치
ERR_CONDITION_OVERFLOW = -13  # 조건검색 조회요청 초과
ERR_QUERY_OVERLOAD = -200  # 시세조회 과부하
#: after a re-login, a failed list load (refused, timed out) is tried again this often, this far apart
MAX_RESTORE_ATTEMPTS = 3
RESTORE_RETRY_S = 10.0


@dataclass(eq=False)
class Search:
    """A SendCondition in progress (one-off or the first answer of a watch)."""

    name: str
    index: int
    screen: str
    realtime: bool
    streams: List[Any] = field(default_factory=list)
    codes: List[str] = field(default_factory=list)
    client: Hashable = None
    timeout: Any = None
    done: bool = False
    #: SendCondition returned 1 (the answer is awaited; the 60 s rule started)
    sent: bool = False


@dataclass(eq=False)
class Watch:
    """A realtime condition and the clients holding it."""

    name: str
    index: int
    screen: str
    holders: Set[Hashable] = field(default_factory=set)
    members: Set[str] = field(default_factory=set)
    active: bool = False
    #: the control accepted its SendCondition(…, 1) in this session (SendConditionStop is due)
    started: bool = False


class ConditionDesk:
    def __init__(self, core):
        self.core = core
        self.loaded = False
        self.names: Dict[int, str] = {}
        self.load_timeout_s = LOAD_TIMEOUT_S
        self._load_waiters: List[Tuple[Any, Any]] = []
        self._load_timer = None
        self.searches: Dict[str, Search] = {}  # by screen
        self.watches: Dict[Tuple[str, int], Watch] = {}
        #: (name, index) -> clock time the control last accepted a search of it
        self._sent_at: Dict[Tuple[str, int], float] = {}
        self._restore_timer = None

    # -- load / list ---------------------------------------------------------------------------
    def load(self, stream, then: str = "load") -> None:
        """Reply when the list is loaded; `then` is 'load' ({loaded}) or 'list' ([{index, name}])."""
        self.core.require_connected()
        if self.loaded and then == "list":
            stream.reply(self.listing())
            return
        self._load_waiters.append((stream, then))
        stream.on_cancel = lambda: self._drop_load_waiter(stream)
        self._request_load()

    def _request_load(self) -> None:
        """GetConditionLoad unless a load is under way; the answer (or a timeout) serves every waiter."""
        if self._load_timer is not None:
            return
        ret = self.core.adapter.get_condition_load()
        if ret != 1:
            self._answer_waiters(KiwoomError(ret, "GetConditionLoad was refused"))
            return
        self._load_timer = self.core.wall_timer(self.load_timeout_s, self._load_timed_out)

    def _load_timed_out(self) -> None:
        self._load_timer = None
        self.core.counters["condition_load_timeouts"] += 1
        self._answer_waiters(Timeout(f"no OnReceiveConditionVer within {self.load_timeout_s:g} s"))

    def _drop_load_waiter(self, stream) -> None:
        self._load_waiters = [(s, then) for s, then in self._load_waiters if s is not stream]

    def listing(self) -> List[Dict[str, Any]]:
        return [{"index": i, "name": n} for i, n in sorted(self.names.items())]

    def on_condition_ver(self, ret: int, message: str) -> None:
        if ret != 1:
            self._answer_waiters(KiwoomError(ret, message or "loading conditions failed"))
            return
        self.names = _parse_names(self.core.adapter.get_condition_name_list())
        self.loaded = True
        self._answer_waiters(None)

    def _answer_waiters(self, error: Optional[KoabusError]) -> None:
        if self._load_timer is not None:
            self._load_timer.cancel()
            self._load_timer = None
        waiters, self._load_waiters = self._load_waiters, []
        for stream, then in waiters:
            if error is not None:
                stream.fail(error)
            elif then == "list":
                stream.reply(self.listing())
            elif callable(then):
                try:
                    then()
                except KoabusError as exc:
                    stream.fail(exc)
            else:
                stream.reply({"loaded": True, "count": len(self.names)})

    # -- searches ------------------------------------------------------------------------------
    def search(self, stream, client, name: str, index: int, realtime: bool) -> None:
        self.core.require_connected()
        stream.on_cancel = lambda: self._cancel(stream, client, name, index, realtime)
        if not self.loaded:  # load first, then come back
            self._load_waiters.append((stream, lambda: self._search_loaded(stream, client, name, index, realtime)))
            self._request_load()
            return
        self._search_loaded(stream, client, name, index, realtime)

    def _search_loaded(self, stream, client, name: str, index: int, realtime: bool) -> None:
        self.core.require_connected()
        if self.names.get(index) != name:
            raise NotFound(f"no condition {index} {name!r}", details={"conditions": self.listing()})
        key = (name, index)
        watch = self.watches.get(key)
        if realtime and watch is not None:
            watch.holders.add(client)
            if watch.active:
                stream.reply({"codes": sorted(watch.members), "topic": condition_topic(index)})
                return
        elif realtime and len(self.watches) >= MAX_REALTIME_CONDITIONS:
            raise KiwoomError(ERR_CONDITION_OVERFLOW,
                              f"at most {MAX_REALTIME_CONDITIONS} conditions can be watched at once",
                              details={"watches": [w.index for w in self.watches.values()]})
        screen = watch.screen if (realtime and watch is not None) else self.core.screens.allocate("condition")
        if realtime and watch is None:
            watch = self.watches[key] = Watch(name, index, screen, {client})
        pending = self.searches.get(screen)
        if pending is not None and not pending.done:
            pending.streams.append(stream)
            return
        job = Search(name, index, screen, realtime, [stream], client=client)
        self.searches[screen] = job
        self._queue(job, search=1 if realtime else 0)

    def _queue(self, job: Search, search: int) -> None:
        interval = self.core.settings.pacing.condition_repeat_s
        call = PacedCall(QUOTE, job.client, lambda: None, key=("condition", job.name, job.index) if search != 2 else None,
                         key_interval_s=interval, label=f"condition {job.index}", owner=job)
        call.run = lambda: self._send(job, call, search)
        self.core.submit_paced(call)

    def _send(self, job: Search, call: PacedCall, search: int) -> None:
        if job.done:
            return
        if not self.core.connected:
            self._finish(job, Unavailable("the control is not connected"))
            return
        ret = self.core.adapter.send_condition(job.screen, job.name, job.index, search)
        if ret == 1:
            self._accepted(job, call, search)
            return
        error = self._refusal(job, search)
        if error is None:  # nothing but the shared query budget explains it: like a TR's -200
            if call.overloads < MAX_BUDGET_RETRIES:
                call.overloads += 1
                self.core.paced_overload(call, ret)
                return
            error = KiwoomError(ERR_QUERY_OVERLOAD,
                                f"SendCondition was refused {call.overloads + 1} times (query limit)",
                                details={"index": job.index, "name": job.name})
        self._finish(job, error)

    def _accepted(self, job: Search, call: PacedCall, search: int) -> None:
        if call.key is not None:  # the control counts the once-a-minute rule from now
            self.core.pacer.note_key_sent(call.key)
        if search != 2:
            self._sent_at[(job.name, job.index)] = self.core.clock.time()
        job.sent = True
        if job.realtime:
            watch = self.watches.get((job.name, job.index))
            if watch is not None:
                watch.started = True
        job.timeout = self.core.wall_timer(self.core.settings.tr_timeout_s,
                                           lambda: self._finish(job, Timeout("no OnReceiveTrCondition")))

    def _refusal(self, job: Search, search: int) -> Optional[KoabusError]:
        """Why SendCondition returned 0, when something other than the shared budget explains it."""
        if self.names.get(job.index) != job.name:
            code = ERR_CONDITION_MISMATCH if job.index in self.names else ERR_NO_CONDITION
            return KiwoomError(code, f"SendCondition refused: no condition {job.index} {job.name!r}",
                               details={"conditions": self.listing()})
        if search != 2:
            last = self._sent_at.get((job.name, job.index))
            repeat_s = self.core.settings.pacing.condition_repeat_s
            if last is not None and self.core.clock.time() - last < repeat_s:
                return KiwoomError(ERR_CONDITION_OVERFLOW,
                                   f"the same condition may be searched once every {repeat_s:g} s")
        if search == 1:
            started = [w for w in self.watches.values() if w.started and w.screen != job.screen]
            if len(started) >= MAX_REALTIME_CONDITIONS:
                return KiwoomError(ERR_CONDITION_OVERFLOW,
                                   f"at most {MAX_REALTIME_CONDITIONS} conditions can be watched at once")
        return None

    def on_tr_condition(self, screen: str, code_list: str, name: str, index: int, next_: int) -> None:
        job = self.searches.get(screen)
        if job is None or job.done:
            return
        if job.timeout is not None:
            job.timeout.cancel()
            job.timeout = None
        job.codes += [c.split("^", 1)[0] for c in code_list.split(";") if c.strip()]
        if int(next_) == 2:
            self._queue(job, search=2)
            return
        if job.realtime:
            watch = self.watches.get((job.name, job.index))
            if watch is not None:
                watch.members = set(job.codes)
                watch.active = True
        self._finish(job, None)

    def on_real_condition(self, code: str, kind: str, name: str, index_text: str) -> None:
        try:
            index = int(str(index_text).strip())
        except ValueError:
            return
        watch = self.watches.get((name, index))
        if watch is not None:
            if kind == "I":
                watch.members.add(code)
            elif kind == "D":
                watch.members.discard(code)
        self.core.publish(condition_topic(index), PubType.CONDITION,
                          {"index": index, "name": name, "code": code, "kind": kind}, None)

    def _finish(self, job: Search, error: Optional[KoabusError]) -> None:
        if job.done:
            return
        job.done = True
        if job.timeout is not None:
            job.timeout.cancel()
        if self.searches.get(job.screen) is job:
            self.searches.pop(job.screen, None)
        self.core.pacer.remove(lambda c: c.owner is job)
        result: Dict[str, Any] = {"codes": job.codes}
        if job.realtime:
            result["topic"] = condition_topic(job.index)
            if error is not None:
                watch = self.watches.pop((job.name, job.index), None)
                if watch is not None:
                    self.core.screens.release(watch.screen)
        else:
            self.core.screens.release(job.screen)
        for stream in job.streams:
            if error is None:
                stream.reply(result)
            else:
                stream.fail(error)

    def _cancel(self, stream, client, name: str, index: int, realtime: bool) -> None:
        """CANCEL of a search/watch request not answered yet: withdraw what only it was waiting for."""
        self._drop_load_waiter(stream)
        jobs = [j for j in self.searches.values() if stream in j.streams]
        for job in jobs:
            job.streams.remove(stream)
        if realtime:
            watch = self.watches.get((name, index))
            if watch is not None and not watch.active and client in watch.holders:
                self.stop(client, name, index)  # the client gave up its hold before the first answer
            return
        for job in jobs:  # a one-off search nobody waits for: its queued SendCondition goes too
            if not job.realtime and not job.streams:
                self._finish(job, Cancelled("the search was cancelled"))
                self.core.counters["condition_cancelled"] += 1

    # -- stopping ------------------------------------------------------------------------------
    def stop(self, client, name: str, index: int) -> bool:
        watch = self.watches.get((name, index))
        if watch is None or client not in watch.holders:
            return False
        watch.holders.discard(client)
        if not watch.holders:
            self._stop_watch(watch)
        return True

    def _stop_watch(self, watch: Watch) -> None:
        self.watches.pop((watch.name, watch.index), None)
        pending = self.searches.get(watch.screen)
        if pending is not None:
            self._finish(pending, Cancelled("the condition watch was stopped"))
        if self.core.connected and watch.started:
            self.core.adapter.send_condition_stop(watch.screen, watch.name, watch.index)
        self.core.screens.release(watch.screen)

    def release_client(self, client) -> None:
        for job in [j for j in self.searches.values() if j.client == client and not j.realtime]:
            self._finish(job, Cancelled("client gone"))
        for watch in list(self.watches.values()):
            if client in watch.holders:
                watch.holders.discard(client)
                if not watch.holders:
                    self._stop_watch(watch)

    # -- supervision -----------------------------------------------------------------------------
    def fail_all(self, error: KoabusError) -> None:
        """The link is gone (or the broker stops): the control forgets its list and realtime conditions."""
        for job in list(self.searches.values()):
            if job.realtime:
                self._fail_search_keep_watch(job, error)
            else:
                self._finish(job, error)
        self.loaded = False
        if self._restore_timer is not None:
            self._restore_timer.cancel()
            self._restore_timer = None
        self._answer_waiters(error)
        for watch in self.watches.values():
            watch.active = False
            watch.started = False

    def _fail_search_keep_watch(self, job: Search, error: KoabusError) -> None:
        job.done = True
        if job.timeout is not None:
            job.timeout.cancel()
        self.searches.pop(job.screen, None)
        self.core.pacer.remove(lambda c: c.owner is job)
        for stream in job.streams:
            stream.fail(error)

    def restore(self, attempt: int = 0) -> int:
        """Re-issue every realtime condition after a re-login (load the list again, then the pacer).

        If the load fails (refused, or no OnReceiveConditionVer in time) it is tried again after
        RESTORE_RETRY_S virtual seconds, MAX_RESTORE_ATTEMPTS times in all.
        """
        self._restore_timer = None
        self.loaded = False
        if not self.watches:
            return 0

        def reissue() -> None:
            for watch in list(self.watches.values()):
                if self.names.get(watch.index) != watch.name:
                    log.warning("condition %s %s is gone after re-login", watch.index, watch.name)
                    continue
                pending = self.searches.get(watch.screen)
                if pending is not None and not pending.done:
                    continue  # a client's watch request is already on its way
                job = Search(watch.name, watch.index, watch.screen, True, [], client="restore")
                self.searches[watch.screen] = job
                self._queue(job, search=1)

        self._load_waiters.append((_RestoreWaiter(self, attempt), reissue))
        self._request_load()
        return len(self.watches)

    def _restore_failed(self, attempt: int, error: Any) -> None:
        self.core.counters["condition_restore_failures"] += 1
        log.warning("restoring conditions failed (attempt %d): %s", attempt + 1, error)
        if attempt + 1 >= MAX_RESTORE_ATTEMPTS or not self.core.connected or not self.watches:
            return
        self._restore_timer = self.core.clock_timer(
            RESTORE_RETRY_S, lambda: self.restore(attempt + 1) if self.core.connected else None)

    def state(self) -> Dict[str, Any]:
        return {"loaded": self.loaded, "loading": self._load_timer is not None, "count": len(self.names),
                "watches": [{"index": w.index, "name": w.name, "holders": len(w.holders),
                             "members": len(w.members), "active": w.active} for w in self.watches.values()]}


class _RestoreWaiter:
    """Stands in for a client stream when the broker itself waits for the list (restore after re-login)."""

    def __init__(self, desk: ConditionDesk, attempt: int):
        self.desk = desk
        self.attempt = attempt

    def reply(self, result: Any) -> None:
        pass

    def fail(self, error: Any) -> None:
        self.desk._restore_failed(self.attempt, error)


def _parse_names(text: str) -> Dict[int, str]:
    """`'000^name;001^other;'` -> {0: 'name', 1: 'other'}."""
    out: Dict[int, str] = {}
    for item in (text or "").split(";"):
        if "^" not in item:
            continue
        idx, _, name = item.partition("^")
        try:
            out[int(idx.strip())] = name.strip()
        except ValueError:
            continue
    return out
