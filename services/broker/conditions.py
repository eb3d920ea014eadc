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

LOAD_TIMEOUT_S = 30.0


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


@dataclass(eq=False)
class Watch:
    """A realtime condition and the clients holding it."""

    name: str
    index: int
    screen: str
    holders: Set[Hashable] = field(default_factory=set)
    members: Set[str] = field(default_factory=set)
    active: bool = False


class ConditionDesk:
    def __init__(self, core):
        self.core = core
        self.loaded = False
        self.names: Dict[int, str] = {}
        self._load_waiters: List[Tuple[Any, str]] = []
        self._load_timer = None
        self.searches: Dict[str, Search] = {}  # by screen
        self.watches: Dict[Tuple[str, int], Watch] = {}

    # -- load / list ---------------------------------------------------------------------------
    def load(self, stream, then: str = "load") -> None:
        """Reply when the list is loaded; `then` is 'load' ({loaded}) or 'list' ([{index, name}])."""
        self.core.require_connected()
        if self.loaded and then == "list":
            stream.reply(self.listing())
            return
        self._load_waiters.append((stream, then))
        if len(self._load_waiters) > 1:
            return
        ret = self.core.adapter.get_condition_load()
        if ret != 1:
            self._answer_waiters(KiwoomError(ret, "GetConditionLoad was refused"))
            return
        self._load_timer = self.core.wall_timer(
            LOAD_TIMEOUT_S, lambda: self._answer_waiters(Timeout("no OnReceiveConditionVer")))

    def listing(self) -> List[Dict[str, Any]]:
        return [{"index": i, "name": n} for i, n in sorted(self.names.items())]

    def on_condition_ver(self, ret: int, message: str) -> None:
        if self._load_timer is not None:
            self._load_timer.cancel()
            self._load_timer = None
        if ret != 1:
            self._answer_waiters(KiwoomError(ret, message or "loading conditions failed"))
            return
        self.names = _parse_names(self.core.adapter.get_condition_name_list())
        self.loaded = True
        self._answer_waiters(None)

    def _answer_waiters(self, error: Optional[KoabusError]) -> None:
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
        if not self.loaded:  # load first, then come back
            self._load_waiters.append((stream, lambda: self.search(stream, client, name, index, realtime)))
            if len(self._load_waiters) == 1:
                ret = self.core.adapter.get_condition_load()
                if ret != 1:
                    self._answer_waiters(KiwoomError(ret, "GetConditionLoad was refused"))
            return
        if self.names.get(index) != name:
            raise NotFound(f"no condition {index} {name!r}", details={"conditions": self.listing()})
        key = (name, index)
        watch = self.watches.get(key)
        if realtime and watch is not None:
            watch.holders.add(client)
            if watch.active:
                stream.reply({"codes": sorted(watch.members), "topic": condition_topic(index)})
                return
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
        if ret != 1:
            self._finish(job, KiwoomError(-13 if ret == 0 else ret,
                                          "SendCondition was refused (unknown condition or over the limit)"))
            return
        job.timeout = self.core.wall_timer(self.core.settings.tr_timeout_s,
                                           lambda: self._finish(job, Timeout("no OnReceiveTrCondition")))

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
        if self.core.connected:
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
        for job in list(self.searches.values()):
            if job.realtime:
                self._fail_search_keep_watch(job, error)
            else:
                self._finish(job, error)
        for stream, _ in self._load_waiters:
            stream.fail(error)
        self._load_waiters = []
        for watch in self.watches.values():
            watch.active = False

    def _fail_search_keep_watch(self, job: Search, error: KoabusError) -> None:
        job.done = True
        self.searches.pop(job.screen, None)
        self.core.pacer.remove(lambda c: c.owner is job)
        for stream in job.streams:
            stream.fail(error)

    def restore(self) -> int:
        """Re-issue every realtime condition after a re-login (through the pacer)."""
        if not self.watches:
            return 0
        self.loaded = False

        def reissue() -> None:
            for watch in list(self.watches.values()):
                if self.names.get(watch.index) != watch.name:
                    log.warning("condition %s %s is gone after re-login", watch.index, watch.name)
                    continue
                job = Search(watch.name, watch.index, watch.screen, True, [], client="restore")
                self.searches[watch.screen] = job
                self._queue(job, search=1)

        self._load_waiters.append((_NullStream(), reissue))
        if len(self._load_waiters) == 1:
            ret = self.core.adapter.get_condition_load()
            if ret != 1:
                self._answer_waiters(KiwoomError(ret, "GetConditionLoad was refused"))
        return len(self.watches)

    def state(self) -> Dict[str, Any]:
        return {"loaded": self.loaded, "count": len(self.names),
                "watches": [{"index": w.index, "name": w.name, "holders": len(w.holders),
                             "members": len(w.members)} for w in self.watches.values()]}


class _NullStream:
    """Stands in for a client stream when the broker itself waits (restore after re-login)."""

    def reply(self, result: Any) -> None:
        pass

    def fail(self, error: Any) -> None:
        log.warning("restoring conditions failed: %s", error)


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
