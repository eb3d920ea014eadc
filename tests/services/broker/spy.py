"""ControlSpy: wraps a control's dynamicCall (the edge the broker drives) to record and, per member, override.

Installed on the control before the broker is built, so everything the broker sends to the control
is seen here with its exact signature, arguments, result and the virtual time it ran.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple


@dataclass(frozen=True)
class SpiedCall:
    name: str
    signature: str
    args: Tuple[Any, ...]
    result: Any
    at: float  # the control's clock when the call ran


class ControlSpy:
    def __init__(self, control, clock):
        self.control = control
        self.clock = clock
        self.original = control.dynamicCall
        self.calls: List[SpiedCall] = []
        #: member name -> fn(signature, args) returning the result instead of the control
        self.overrides: Dict[str, Callable[[str, Tuple[Any, ...]], Any]] = {}
        #: member name -> fn(signature, args) run before the control sees the call
        self.before: Dict[str, Callable[[str, Tuple[Any, ...]], None]] = {}
        control.dynamicCall = self._call

    def _call(self, signature: str, *args: Any) -> Any:
        name = signature.split("(", 1)[0].strip()
        if len(args) == 1 and isinstance(args[0], (list, tuple)):
            args = tuple(args[0])
        hook = self.before.get(name)
        if hook is not None:
            hook(signature, args)
        override = self.overrides.get(name)
        result = override(signature, args) if override is not None else self.original(signature, *args)
        self.calls.append(SpiedCall(name, signature, tuple(args), result, self.clock.time()))
        return result

    def of(self, name: str) -> List[SpiedCall]:
        return [c for c in self.calls if c.name == name]
