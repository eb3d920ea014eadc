"""The alerting core, sans I/O: publications and an explicit clock in, `Alert`s out.

No sockets, no clock reads, no threads: the app feeds every publication with `on_publication(pub,
now_s)` and calls `on_tick(now_s)` for the timers (missing heartbeats). State is kept per (rule, code)
and capped per rule (the oldest code is forgotten first), so a rule on every code ("*") stays bounded.

Market-data rules are edge-triggered: they fire when their condition becomes true and re-arm when it
becomes false. Events outside a rule's `between`/`sessions` scope are not seen by that rule at all.
Cooldowns apply per rendered de-duplication key and run on `now_s`.
"""
from __future__ import annotations

import math
import string
from collections import OrderedDict, deque
from datetime import date, datetime, time, timedelta
from typing import Any, Callable, Deque, Dict, Iterable, List, Mapping, Optional, Tuple

from koabus.common.clock import KST
from koabus.common.heartbeat import service_of
from koabus.common.protocol.publication import Publication
from koabus.metadata.ticks import STOCK_TICKS, tick_size

from .alert import Alert, json_safe
from .rules import REALTIME_KINDS, SPREAD_FIELDS, Rule

MAX_CODES_PER_RULE = 10_000
MAX_DEDUP_KEYS = 100_000
MAX_SERVICES = 1_000
#: the `pre` session: this long before the open; `post`: this long after the close (after-hours trading)
PRE_SESSION = timedelta(hours=1)
POST_SESSION = timedelta(hours=2, minutes=30)
#: a service whose last beat said it was stopping is not missing, it left
STOPPED_STATES = frozenset({"stopping", "stopped"})
_CALENDAR_DAYS = 16

Hit = Tuple[str, Dict[str, Any]]  # (code, the kind's template values)


class _Bounded(OrderedDict):
    """An LRU map that forgets its oldest entries beyond `limit`; `evicted` counts them."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit
        self.evicted = 0

    def state(self, key: str, factory: Callable[[], Any]) -> Any:
        value = self.get(key)
        if value is None:
            value = self[key] = factory()
            while len(self) > self.limit:
                self.popitem(last=False)
                self.evicted += 1
        else:
            self.move_to_end(key)
        return value


class Engine:
    """Evaluates `rules` against the bus. `calendar`: a TradingCalendar (default: created on first need).

    `names` maps a code to its stock name for templates (`{name}`); events that carry a name use theirs.
    """

    def __init__(self, rules: Iterable[Rule], calendar: Any = None, names: Optional[Mapping[str, str]] = None,
                 max_codes: int = MAX_CODES_PER_RULE, max_keys: int = MAX_DEDUP_KEYS):
        self.calendar = calendar
        self.names: Mapping[str, str] = names if names is not None else {}
        self.max_codes = max_codes
        self._sent = _Bounded(max_keys)         # dedup key -> now_s of the last alert
        self._beats = _Bounded(MAX_SERVICES)    # service -> [now_s of its last beat, its last body]
        self._hours: Dict[date, Any] = {}
        self.counters: Dict[str, int] = {"publications": 0, "alerts": 0, "cooldown": 0, "out_of_scope": 0}
        self._rules: Tuple[Rule, ...] = ()
        self._state: Dict[str, _Bounded] = {}
        self.replace_rules(rules)

    # -- rules ---------------------------------------------------------------------------------------
    @property
    def rules(self) -> Tuple[Rule, ...]:
        return self._rules

    def replace_rules(self, rules: Iterable[Rule]) -> None:
        """Use `rules` from now on; a rule with the same id and trigger keeps its state (edges, history)."""
        old = {rule.id: rule for rule in self._rules}
        rules = tuple(rules)
        state: Dict[str, _Bounded] = {}
        for rule in rules:
            previous = old.get(rule.id)
            if previous is not None and previous.trigger() == rule.trigger() and rule.id in self._state:
                state[rule.id] = self._state[rule.id]
            else:
                state[rule.id] = _Bounded(self.max_codes)
        self._rules, self._state = rules, state
        self._by_slug: Dict[str, List[Rule]] = {}
        self._by_kind: Dict[str, List[Rule]] = {}
        for rule in rules:
            if rule.kind in REALTIME_KINDS:
                self._by_slug.setdefault(rule.type, []).append(rule)
            self._by_kind.setdefault(rule.kind, []).append(rule)

    @property
    def evicted(self) -> int:
        """Per-code states forgotten because a rule tracked more than `max_codes` codes."""
        return sum(state.evicted for state in self._state.values())

    # -- input ---------------------------------------------------------------------------------------
    def on_publication(self, pub: Publication, now_s: float) -> List[Alert]:
        """The alerts `pub` raises (possibly none)."""
        self.counters["publications"] += 1
        body = pub.body if isinstance(pub.body, dict) else {}
        event_ns = pub.event_ns if isinstance(pub.event_ns, int) else pub.recv_ns
        parts = pub.topic.split(".")
        family = parts[0]
        alerts: List[Alert] = []
        if family == "rt" and len(parts) == 3:
            values = body.get("values")
            if isinstance(values, dict):
                code = parts[2] if parts[2] != "_" else str(values.get("code") or "")
                for rule in self._by_slug.get(parts[1], ()):
                    if self._code_matches(rule, code):
                        alerts += self._evaluate(rule, event_ns, now_s,
                                                 lambda r, c=code: self._realtime(r, c, values, event_ns))
        elif family == "cond":
            for rule in self._by_kind.get("condition", ()):
                alerts += self._evaluate(rule, event_ns, now_s, lambda r: self._condition(r, body))
        elif family == "ch" and len(parts) == 3 and parts[2] == "order":
            for rule in self._by_kind.get("order", ()):
                alerts += self._evaluate(rule, event_ns, now_s, lambda r: self._order(r, body))
        elif pub.topic == "sys.reject":  # an order the server refused (no order number, no chejan)
            for rule in self._by_kind.get("order", ()):
                alerts += self._evaluate(rule, event_ns, now_s, lambda r: self._refusal(r, body))
        elif family == "sys":
            service = service_of(pub.topic)
            if service is not None:
                self._beat(service, body, now_s)
            for rule in self._by_kind.get("system", ()):
                alerts += self._evaluate(rule, event_ns, now_s, lambda r: self._system(r, pub.topic, service, body))
        return alerts

    def on_tick(self, now_s: float) -> List[Alert]:
        """Timer alerts: services seen before whose last heartbeat is older than a rule's `missing_for`."""
        alerts: List[Alert] = []
        for rule in self._by_kind.get("heartbeat", ()):
            alerts += self._evaluate(rule, int(now_s * 1e9), now_s, lambda r: self._missing(r, now_s))
        return alerts

    # -- the common path -----------------------------------------------------------------------------
    def _evaluate(self, rule: Rule, event_ns: int, now_s: float, detect: Callable[[Rule], List[Hit]]) -> List[Alert]:
        if not self._in_scope(rule, event_ns):
            self.counters["out_of_scope"] += 1
            return []
        alerts = []
        for code, computed in detect(rule):
            alert = self._alert(rule, code, computed, event_ns, now_s)
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _alert(self, rule: Rule, code: str, computed: Dict[str, Any], event_ns: int, now_s: float) -> Optional[Alert]:
        at = datetime.fromtimestamp(event_ns / 1e9, KST)
        event_values = computed.pop("_values", None) or {}
        values: Dict[str, Any] = {"code": code, "name": self.names.get(code) or code}
        values.update(rule.params())
        values.update(event_values)
        values.update(computed)
        if not values.get("name"):
            values["name"] = self.names.get(code) or code
        values.update(rule=rule.id, kind=rule.kind, severity=rule.severity, code=code,
                      time=at.strftime("%H:%M:%S"), date=at.strftime("%Y-%m-%d"))
        key = render(rule.dedup, values)
        last = self._sent.get(key)
        if last is not None and now_s - last < rule.cooldown_s:
            self.counters["cooldown"] += 1
            return None
        self._sent.state(key, lambda: now_s)
        self._sent[key] = now_s
        self.counters["alerts"] += 1
        return Alert(rule=rule.id, kind=rule.kind, severity=rule.severity, title=render(rule.title, values),
                     text=render(rule.message, values), code=code, time_ns=event_ns, dedup_key=key,
                     values=json_safe(values), notify=rule.notify)

    def _code_matches(self, rule: Rule, code: str) -> bool:
        return bool(code) and (rule.all_codes or code in rule.codes)

    def _codes_filter(self, rule: Rule, code: str) -> bool:
        """For kinds where `codes` is optional: no codes means every code."""
        return not rule.codes or rule.all_codes or code in rule.codes

    def _per_code(self, rule: Rule, code: str, factory: Callable[[], Any]) -> Any:
        return self._state[rule.id].state(code, factory)

    # -- scope ---------------------------------------------------------------------------------------
    def _in_scope(self, rule: Rule, event_ns: int) -> bool:
        if rule.between is None and rule.sessions == "any":
            return True
        at = datetime.fromtimestamp(event_ns / 1e9, KST)
        if rule.between is not None and not _within(at.time(), *rule.between):
            return False
        if rule.sessions == "any":
            return True
        hours = self._session_hours(at.date())
        if hours is None:
            return False
        open_at, close_at = hours
        if rule.sessions == "regular":
            return open_at <= at < close_at
        if rule.sessions == "pre":
            return open_at - PRE_SESSION <= at < open_at
        return close_at <= at < close_at + POST_SESSION

    def _session_hours(self, day: date) -> Any:
        if day not in self._hours:
            if self.calendar is None:
                from koabus.common.client.calendar import TradingCalendar  # pandas: only when a rule needs it
                self.calendar = TradingCalendar()
            if len(self._hours) >= _CALENDAR_DAYS:
                self._hours.clear()
            self._hours[day] = self.calendar.session_hours(day)
        return self._hours[day]

    # -- market data ---------------------------------------------------------------------------------
    def _realtime(self, rule: Rule, code: str, values: Dict[str, Any], event_ns: int) -> List[Hit]:
        if rule.kind == "price":
            hit = self._price(rule, code, values)
        elif rule.kind == "change":
            hit = self._change(rule, code, values)
        elif rule.kind == "volume_spike":
            hit = self._volume_spike(rule, code, values, event_ns / 1e9)
        elif rule.kind == "spread":
            hit = self._spread(rule, code, values)
        else:
            hit = self._vi(rule, values)
        if hit is None:
            return []
        hit["_values"] = values
        return [(code, hit)]

    def _edge(self, rule: Rule, code: str, condition: bool) -> bool:
        """True when `condition` became true for (rule, code): the first time, or after being false."""
        state = self._per_code(rule, code, dict)
        was = state.get("on")
        state["on"] = condition
        return condition and was is not True

    def _price(self, rule: Rule, code: str, values: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        value = _number(values.get(rule.field))
        if value is None:
            return None
        if rule.crosses is not None:
            level = rule.crosses
            state = self._per_code(rule, code, dict)
            side, previous = value >= level, state.get("value")
            was = state.get("side")
            state["side"], state["value"] = side, value
            if was is None or was == side:
                return None
            return {"value": value, "level": level, "direction": "up" if side else "down", "previous": previous}
        if rule.above is not None:
            level, direction, condition = rule.above, "above", value >= rule.above
        else:
            level, direction, condition = rule.below, "below", value <= rule.below
        if not self._edge(rule, code, condition):
            return None
        return {"value": value, "level": level, "direction": direction, "previous": None}

    def _change(self, rule: Rule, code: str, values: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        value = _number(values.get(rule.field))
        if value is None and rule.field == "change_rate":
            value = _change_rate(values)
        if value is None:
            return None
        if not self._edge(rule, code, abs(value) >= rule.over_pct):
            return None
        return {"value": value}

    def _volume_spike(self, rule: Rule, code: str, values: Dict[str, Any], t_s: float) -> Optional[Dict[str, Any]]:
        """This minute's traded volume against the average of the `window` minutes before it."""
        volume = _number(values.get("volume"))
        if volume is None:
            return None
        minutes = int(rule.window_s // 60)
        minute = int(t_s // 60)
        state = self._per_code(rule, code, lambda: {"since": t_s, "last": t_s, "buckets": deque(), "fired": None})
        buckets: Deque[List[float]] = state["buckets"]
        if t_s - state["last"] > rule.window_s:  # silent for a whole window: start the history again
            buckets.clear()
            state["since"] = t_s
        state["last"] = max(state["last"], t_s)
        if buckets and minute < buckets[-1][0]:
            for bucket in buckets:  # a late event: into its minute if that minute is still kept
                if bucket[0] == minute:
                    bucket[1] += abs(volume)
            return None
        if buckets and buckets[-1][0] == minute:
            buckets[-1][1] += abs(volume)
        else:
            buckets.append([minute, abs(volume)])
        while buckets and buckets[0][0] < minute - minutes:
            buckets.popleft()
        if int(state["since"] // 60) > minute - minutes or state["fired"] == minute:
            return None  # not a whole window of history yet, or already told this minute
        current = buckets[-1][1]
        average = sum(b[1] for b in buckets if b[0] < minute) / minutes
        if average <= 0 or current <= rule.times * average:
            return None
        state["fired"] = minute
        return {"minute_volume": _int_if_whole(current), "average_volume": round(average, 1),
                "ratio": round(current / average, 1), "window_minutes": minutes}

    def _spread(self, rule: Rule, code: str, values: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        ask_name, bid_name = SPREAD_FIELDS[rule.type]
        ask, bid = _number(values.get(ask_name)), _number(values.get(bid_name))
        if ask is None or bid is None or ask <= 0 or bid <= 0:
            return None  # one side empty: no spread to speak of
        ticks = ticks_between(int(bid), int(ask))
        if not self._edge(rule, code, ticks > rule.over_ticks):
            return None
        return {"ask": ask, "bid": bid, "spread": ask - bid, "spread_ticks": ticks, "tick": tick_size(int(bid))}

    def _vi(self, rule: Rule, values: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        event = vi_event(values)
        return {"event": event} if event in rule.on else None

    # -- condition search, orders --------------------------------------------------------------------
    def _condition(self, rule: Rule, body: Dict[str, Any]) -> List[Hit]:
        name, index, code = body.get("name"), body.get("index"), str(body.get("code") or "")
        if rule.condition not in (str(name), str(index)) or not code:
            return []
        event = {"I": "added", "D": "removed"}.get(str(body.get("kind")))
        if event not in rule.on or not self._codes_filter(rule, code):
            return []
        return [(code, {"event": event, "index": index, "condition_name": name})]

    def _order(self, rule: Rule, body: Dict[str, Any]) -> List[Hit]:
        values = body.get("values") if isinstance(body.get("values"), dict) else {}
        raw = body.get("raw") if isinstance(body.get("raw"), dict) else {}
        code = str(body.get("code") or values.get("code") or "")
        account = str(body.get("account") or values.get("account") or "")
        if not self._codes_filter(rule, code) or (rule.accounts and account not in rule.accounts):
            return []
        event, status, reason = order_event(values, raw)
        if event is None or event not in rule.on:
            return []
        return [(code, {"_values": values, "event": event, "account": account,
                        "order_no": str(body.get("order_no") or values.get("order_no") or ""),
                        "client_order_id": body.get("client_order_id") or "", "status": status,
                        "reason": reason})]

    def _refusal(self, rule: Rule, body: Dict[str, Any]) -> List[Hit]:
        """`sys.reject`: the broker's report of a refusal; `reason` is the server's message."""
        code, account = str(body.get("code") or ""), str(body.get("account") or "")
        if ("rejected" not in rule.on or not self._codes_filter(rule, code)
                or (rule.accounts and account not in rule.accounts)):
            return []
        message = str(body.get("message") or "")
        values = {"side": body.get("side"), "order_qty": body.get("qty"), "order_price": body.get("price"),
                  "code_msg": str(body.get("code_msg") or ""), "message": message, "reject_reason": message}
        return [(code, {"_values": values, "event": "rejected", "account": account, "order_no": "",
                        "client_order_id": str(body.get("client_order_id") or ""), "status": "거부",
                        "reason": message})]

    # -- system --------------------------------------------------------------------------------------
    def _system(self, rule: Rule, topic: str, service: Optional[str], body: Dict[str, Any]) -> List[Hit]:
        event: Optional[str] = None
        computed: Dict[str, Any] = {}
        if topic == "sys.conn":
            state = str(body.get("state"))
            event = {"disconnected": "disconnected", "restored": "restored", "login_failed": "login_failed"}.get(state)
            computed = {"state": state, "message": str(body.get("message") or ""), "conn_code": body.get("code")}
        elif topic == "sys.throttle":
            if body.get("state") == "start":
                event = "throttled"
            computed = {"state": str(body.get("state")), "throttle_kind": body.get("kind"),
                        "queue_depth": body.get("queue_depth"), "wait_s": body.get("wait_s"),
                        "message": f"{body.get('kind')} requests queued: {body.get('queue_depth')}"}
        elif service == "recorder":
            return self._recorder(rule, body)
        if event is None or event not in rule.on:
            return []
        computed["event"] = event
        return [("", computed)]

    def _recorder(self, rule: Rule, body: Dict[str, Any]) -> List[Hit]:
        hits: List[Hit] = []
        state = self._per_code(rule, "", dict)
        gaps, lag_s = _number(body.get("gaps")), _number(body.get("lag_s"))
        base = {"service": "recorder", "state": str(body.get("state")), "gaps": gaps, "lag_s": lag_s}
        if gaps is not None:
            before = state.get("gaps")
            state["gaps"] = gaps
            if "recorder_gap" in rule.on and before is not None and gaps > before:
                new = _int_if_whole(gaps - before)
                hits.append(("", dict(base, event="recorder_gap", new_gaps=new,
                                      message=f"the recorder saw {new} new gap(s), {_int_if_whole(gaps)} in all")))
        if lag_s is not None and "recorder_lag" in rule.on:
            if self._edge(rule, "lag", lag_s > rule.lag_over_s):
                hits.append(("", dict(base, event="recorder_lag",
                                      message=f"the recorder is {lag_s}s behind (over {rule.lag_over_s}s)")))
        return hits

    # -- heartbeats ----------------------------------------------------------------------------------
    def _beat(self, service: str, body: Dict[str, Any], now_s: float) -> None:
        entry = self._beats.state(service, lambda: [now_s, body])
        entry[0], entry[1] = now_s, body
        for rule in self._by_kind.get("heartbeat", ()):
            state = self._state[rule.id].get(service)
            if state is not None:
                state["missing"] = False

    def _missing(self, rule: Rule, now_s: float) -> List[Hit]:
        hits: List[Hit] = []
        for service, (last_s, body) in list(self._beats.items()):
            if ALL not in rule.services and service not in rule.services:
                continue
            silent_s = now_s - last_s
            state = self._per_code(rule, service, dict)
            if silent_s <= rule.missing_for_s or str(body.get("state")) in STOPPED_STATES:
                state["missing"] = False
                continue
            if state.get("missing"):
                continue
            state["missing"] = True
            hits.append(("", {"service": service, "silent_s": round(silent_s, 1), "host": body.get("host"),
                              "pid": body.get("pid"), "last_state": body.get("state")}))
        return hits


ALL = "*"


# -- helpers (pure) ------------------------------------------------------------------------------------------
def vi_event(values: Dict[str, Any]) -> str:
    """`triggered` or `released`: FID 9068 says 1/2 when present, else a set VI해제시각 means released."""
    flag = str(values.get("fid_9068") or "").strip()
    if flag in ("1", "2"):
        return "triggered" if flag == "1" else "released"
    return "released" if values.get("vi_release_time") else "triggered"


def order_event(values: Dict[str, Any], raw: Dict[str, Any]) -> Tuple[Optional[str], str, str]:
    """(filled | partial | rejected | None, 주문상태, 거부사유) of a chejan order event."""
    status = str(values.get("order_status") or raw.get("913") or "").strip()
    reason = str(values.get("reject_reason") or raw.get("919") or "").strip()
    if reason == "0":
        reason = ""
    if "거부" in status:
        return "rejected", status, reason
    if status == "체결":
        unfilled = _number(values.get("unfilled_qty"))
        if unfilled is None:
            unfilled = _number(str(raw.get("902", "")).strip() or None)
        return ("partial" if unfilled else "filled"), status, reason
    return None, status, reason


def ticks_between(low: int, high: int) -> int:
    """How many KRX stock ticks from `low` up to `high` (across price bands); 0 when high <= low."""
    count, price = 0, low
    bounds = [bound for bound, _ in STOCK_TICKS]
    while price < high:
        step = tick_size(price)
        band_end = next((b for b in bounds if b > price), high)
        target = min(high, band_end)
        n = max(1, math.ceil((target - price) / step))
        count += n
        price += n * step
    return count


def render(template: str, values: Dict[str, Any]) -> str:
    """`template` filled from `values`; a missing field renders empty and a format that does not fit
    the value (`{price:,}` on text) falls back to the plain value, so an alert is never lost to its text."""
    try:
        return template.format_map(_Blank(values))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        pass
    out = []
    for literal, name, spec, _conversion in string.Formatter().parse(template):
        out.append(literal)
        if name is None:
            continue
        value = values.get(name, "")
        try:
            out.append(format(value, spec or ""))
        except (ValueError, TypeError):
            out.append(str(value))
    return "".join(out)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _within(at: time, start: time, end: time) -> bool:
    if start < end:
        return start <= at < end
    return at >= start or at < end  # a window over midnight


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                return float(value.replace(",", ""))
            except ValueError:
                return None
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _int_if_whole(value: float) -> Any:
    return int(value) if float(value).is_integer() else value


def _change_rate(values: Dict[str, Any]) -> Optional[float]:
    """Change % against the previous close, from the price and its change (when FID 12 is absent)."""
    price, change = _number(values.get("current_price")), _number(values.get("change"))
    if price is None or change is None or price - change <= 0:
        return None
    return round(change / (price - change) * 100, 2)
