"""One alert: what a rule produced, handed to the notifiers and published on the bus as `alert.<rule>`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Tuple

from koabus.common.errors import ProtocolError

SEVERITIES = ("info", "warning", "critical")


def json_safe(value: Any) -> Any:
    """`value` reduced to what JSON and msgpack both carry (bytes become text, tuples lists, keys str)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(item) for item in value]
    return str(value)


@dataclass(frozen=True)
class Alert:
    """An alert raised by rule `rule` for the event that happened at `time_ns`.

    `values` are the fields the message template saw (JSON-safe); `dedup_key` is the rendered
    de-duplication key the cooldown was applied to; `notify` names the notifiers to deliver it to.
    """

    rule: str
    kind: str
    severity: str
    title: str
    text: str
    code: str = ""
    time_ns: int = 0
    dedup_key: str = ""
    values: Dict[str, Any] = field(default_factory=dict)
    notify: Tuple[str, ...] = ()

    def to_body(self) -> Dict[str, Any]:
        """The body of the `ALERT` publication (docs/protocol.md §4.2)."""
        return {"rule": self.rule, "kind": self.kind, "severity": self.severity, "title": self.title,
                "text": self.text, "code": self.code, "time_ns": self.time_ns, "dedup_key": self.dedup_key,
                "values": json_safe(self.values), "notify": list(self.notify)}

    @classmethod
    def from_body(cls, body: Any) -> Alert:
        """The alert an `ALERT` publication carries; ProtocolError when the body is not one."""
        if not isinstance(body, dict):
            raise ProtocolError("an alert body must be a map")
        try:
            rule, kind, severity = body["rule"], body["kind"], body["severity"]
            title, text = body["title"], body["text"]
        except KeyError as exc:
            raise ProtocolError(f"alert body misses {exc.args[0]!r}") from None
        for name, value in (("rule", rule), ("kind", kind), ("severity", severity), ("title", title),
                            ("text", text), ("code", body.get("code", "")),
                            ("dedup_key", body.get("dedup_key", ""))):
            if not isinstance(value, str):
                raise ProtocolError(f"alert {name} must be a string")
        time_ns = body.get("time_ns", 0)
        if not isinstance(time_ns, int) or isinstance(time_ns, bool):
            raise ProtocolError("alert time_ns must be an integer")
        values = body.get("values") or {}
        notify = body.get("notify") or []
        if not isinstance(values, dict):
            raise ProtocolError("alert values must be a map")
        if not isinstance(notify, (list, tuple)) or not all(isinstance(name, str) for name in notify):
            raise ProtocolError("alert notify must be a list of names")
        return cls(rule=rule, kind=kind, severity=severity, title=title, text=text,
                   code=body.get("code", ""), time_ns=time_ns, dedup_key=body.get("dedup_key", ""),
                   values=dict(values), notify=tuple(notify))
